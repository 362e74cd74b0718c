"""``RiskEngine.check_new`` fills the reused request itself (perf51): the same as ``_prepare(..., NEW)`` and
``ReferenceBook.lookup`` would, for every side, type, reference source and freshness, and account state.

The two copies must stay alike (``_prepare`` serves replaces and ``explain``, ``lookup`` valuations and texts):
any field the inline copy fills differently fails here, whatever the checks then decide.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from model.enums import OrderType, Side
from risk.checks import NEW
from risk.engine import RiskEngine
from tests.risk.support import make_engine, order, px, submit

FIELDS = (
    "kind",
    "limits",
    "now_ns",
    "account",
    "strategy",
    "symbol",
    "side",
    "is_buy",
    "state",
    "is_market",
    "reference",
    "qty",
    "price",
    "value_price",
    "leaves",
    "old_leaves",
    "add_qty",
    "add_notional",
)
"""Every field ``_prepare`` fills for a new order (``account_state`` and ``position`` are compared by identity)."""

SECOND = 1_000_000_000


def _prepared(engine: RiskEngine, new: Any, now_ns: int) -> tuple[dict[str, Any], object, object]:
    """Return what ``_prepare(..., NEW)`` fills for ``new`` at ``now_ns`` (nothing counted: it only fills)."""
    limits = engine._resolver.get(new.account, new.strategy_id, new.symbol)
    assert limits is not None
    request = engine._prepare(
        new.account, new.strategy_id, new.symbol, new.side, new.ord_type, new.qty, new.price, new.cum_qty, limits,
        now_ns, NEW,
    )  # fmt: skip
    return {name: getattr(request, name) for name in FIELDS}, request.account_state, request.position


def _reference_setups() -> list[tuple[str, bool, str]]:
    """(name, use_last_trade, which references exist and how old)."""
    return [
        (f"{use}-{kind}", use, kind)
        for use, kind in itertools.product(
            (True, False), ("none", "trade", "stale-trade", "file", "stale-file", "trade+file", "stale-trade+file")
        )
    ]


@pytest.mark.parametrize(("name", "use_last_trade", "kind"), _reference_setups())
def test_check_new_when_request_filled_inline_then_as_prepare_and_lookup_fill_it(
    tmp_path: Path, name: str, use_last_trade: bool, kind: str
) -> None:
    del name
    overrides = {
        "reference_prices": {"max_age_s": 60, "use_last_trade": use_last_trade},
        "defaults": {"allow_market_orders": True},
    }
    engine, clock = make_engine(tmp_path, overrides, reference=None)
    start = clock()
    references = engine._references
    if "trade" in kind:
        engine.set_reference_price("AAPL", px("101.00"), start)
    if "file" in kind:
        references._file_prices = {"AAPL": px("99.00")}
        references._file_expiry_ns = start + (30 * SECOND if kind != "stale-file" else SECOND)
    clock.advance(2 * SECOND if "stale" not in kind else 90 * SECOND)
    if kind == "stale-trade+file":
        references._file_expiry_ns = clock() + SECOND  # the file still fresh, the trade not
    cases = itertools.product(
        (Side.BUY, Side.SELL, Side.SELL_SHORT), (OrderType.LIMIT, OrderType.MARKET), ("ACC1", "ACC2")
    )
    for side, ord_type, account in cases:
        if account == "ACC2" and side is Side.SELL:  # an account with an order counted: its rows exist
            submit(engine, order(Side.BUY, 10, "100.00", account="ACC2"), clock)
        new = order(side, 10, "100.00", account=account, ord_type=ord_type)
        now = clock()
        expected, account_state, position = _prepared(engine, new, now)
        assert expected["reference"] == references.lookup("AAPL", now)
        engine.check_new(
            new, new.order_id, new.account, new.strategy_id, new.symbol, new.side, new.ord_type, new.qty, new.price,
            new.cum_qty, now,
        )  # fmt: skip
        request = engine._request
        assert {name: getattr(request, name) for name in FIELDS} == expected, (side, ord_type, account)
        assert request.account_state is account_state and request.position is position
