"""One recipe per reason code: a limits-file change plus an order that the risk checks must refuse with it.

Used by ``test_triggers.py`` against the engine, and meant for the end-to-end tests that assert
a refused order never reaches the venue simulator. Each recipe applies to ``support.BASE_LIMITS``
(accounts ACC1/ACC2, AAPL/MSFT with a fresh reference price of 100.00 from a trade or a file):
write the limits with ``support.write_limits(path, recipe.overrides)`` plus ``recipe.files``,
send ``recipe.order`` (``recipe.repeat`` times; the last one is refused), or for cancel-rate
codes open the order and cancel it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from risk import codes

_REFS = "as_of: 2020-01-02T21:00:00Z\nprices:\n  AAPL: 100.00\n  MSFT: 100.00\n"


class Recipe(msgspec.Struct, frozen=True):
    """How to make the risk checks refuse an order with one code."""

    overrides: dict[str, Any]
    order: dict[str, Any]
    """Order fields: side (B/S/T/E), qty, price (text), and optionally account, symbol, type."""
    repeat: int = 1
    cancel: bool = False
    """Open the order, then cancel it: the cancel is refused."""
    files: dict[str, str] = msgspec.field(default_factory=dict)
    """Extra files to write next to the limits file (name -> content)."""


BUY_10 = {"side": "B", "qty": 10, "price": "100.00"}

RECIPES: dict[str, Recipe] = {
    codes.UNKNOWN_ACCOUNT: Recipe({}, {**BUY_10, "account": "NOPE"}),
    codes.TRADING_HALTED: Recipe({"accounts": {"ACC1": {"trading_state": "HALTED"}}}, BUY_10),
    codes.REDUCE_ONLY: Recipe({"accounts": {"ACC1": {"trading_state": "REDUCING"}}}, BUY_10),
    codes.RESTRICTED_SYMBOL: Recipe({"restricted": {"no_trade": ["AAPL"]}}, BUY_10),
    codes.SELL_ONLY_SYMBOL: Recipe({"restricted": {"sell_only": ["AAPL"]}}, BUY_10),
    codes.INVALID_ORDER: Recipe({}, {**BUY_10, "price": "0"}),
    codes.MARKET_ORDER_NOT_ALLOWED: Recipe({}, {**BUY_10, "type": "MARKET"}),
    codes.LOT_SIZE: Recipe({"defaults": {"lot_size": 100}}, {**BUY_10, "qty": 150}),
    codes.TICK_SIZE: Recipe({}, {**BUY_10, "price": "100.005"}),
    codes.MAX_QTY: Recipe({}, {**BUY_10, "qty": 1001}),
    codes.REFERENCE_MISSING: Recipe({}, {**BUY_10, "symbol": "IBM"}),
    codes.REFERENCE_STALE: Recipe(
        {"reference_prices": {"file": "refs.yaml", "file_max_age_s": 60, "use_last_trade": False}},
        BUY_10,
        files={"refs.yaml": _REFS},
    ),
    codes.PRICE_COLLAR: Recipe({}, {**BUY_10, "price": "106.00"}),
    codes.MAX_NOTIONAL: Recipe({}, {**BUY_10, "qty": 501}),
    codes.SHORT_SALE_NOT_MARKED: Recipe({}, {**BUY_10, "side": "S"}),
    codes.SHORT_SALE_NOT_ALLOWED: Recipe({"defaults": {"allow_short_sales": False}}, {**BUY_10, "side": "T"}),
    codes.SHORT_EXEMPT_NOT_ALLOWED: Recipe({}, {**BUY_10, "side": "E"}),
    codes.MAX_OPEN_ORDERS: Recipe({"defaults": {"max_open_orders": 0}}, BUY_10),
    codes.MAX_OPEN_NOTIONAL: Recipe({"defaults": {"max_open_notional": 500}}, BUY_10),
    codes.CREDIT_LIMIT: Recipe({"defaults": {"credit_limit": 500}}, BUY_10),
    codes.MAX_LONG_POSITION: Recipe({"defaults": {"max_long_qty": 5}}, BUY_10),
    codes.MAX_SHORT_POSITION: Recipe({"defaults": {"max_short_qty": 5}}, {**BUY_10, "side": "T"}),
    codes.MAX_NET_POSITION: Recipe({"defaults": {"max_net_qty": 5}}, BUY_10),
    codes.DUPLICATE_ORDER: Recipe({"defaults": {"duplicate_window_ms": 60_000}}, BUY_10, repeat=2),
    codes.ORDER_RATE_STRATEGY: Recipe({"defaults": {"orders_per_s": {"per_strategy": 1}}}, BUY_10, repeat=2),
    codes.ORDER_RATE_ACCOUNT: Recipe({"defaults": {"orders_per_s": {"per_account": 1}}}, BUY_10, repeat=2),
    codes.ORDER_RATE_SYMBOL: Recipe({"defaults": {"orders_per_s": {"per_symbol": 1}}}, BUY_10, repeat=2),
    codes.CANCEL_RATE_STRATEGY: Recipe({"defaults": {"cancels_per_s": {"per_strategy": 0}}}, BUY_10, cancel=True),
    codes.CANCEL_RATE_ACCOUNT: Recipe({"defaults": {"cancels_per_s": {"per_account": 0}}}, BUY_10, cancel=True),
    codes.CANCEL_RATE_SYMBOL: Recipe({"defaults": {"cancels_per_s": {"per_symbol": 0}}}, BUY_10, cancel=True),
}
"""Every reason code a limits file can trigger (INTERNAL_ERROR cannot: it is a bug)."""
