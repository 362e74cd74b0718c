"""The limits file as typed, frozen structures (what ``deploy/risk/limits.yaml`` decodes into).

Every amount is already an exact fixed-point integer here: prices and money carry
``PRICE_SCALE`` (10,000) units per currency unit and percentages carry 10,000 units
per percent. The YAML loader (``risk.loader``) converts the officer's decimals
exactly and reports every problem with its line and column; the ``extra["unit"]``
of a field tells the loader how the officer writes it.

A limit left out of a scope (``None``) is not set there. ``defaults`` must set every
limit (the loader enforces it), so an order always finds a value: nothing is ever
unlimited by omission.
"""

from __future__ import annotations

import enum
from typing import Annotated, Final, Literal

import msgspec

from model.enums import PRICE_SCALE

PERCENT_SCALE: Final = 10_000
"""Fixed-point units per percent: ``collar_pct: 2.5`` is stored as 25,000."""

MAX_LIMIT_QTY: Final = 10**12
MAX_LIMIT_MONEY: Final = 10**14 * PRICE_SCALE
MAX_RATE: Final = 1_000_000
MAX_WINDOW_MS: Final = 3_600_000

_NAME_PATTERN: Final = r"^[A-Za-z0-9_.\-]{1,32}$"
_SYMBOL_PATTERN: Final = r"^[A-Z0-9][A-Z0-9._/\-]{0,31}$"

Name = Annotated[str, msgspec.Meta(pattern=_NAME_PATTERN, extra={"what": "name"})]
"""An account or strategy name as strategies send it (1 to 32 letters, digits, ``_ . -``)."""
Symbol = Annotated[str, msgspec.Meta(pattern=_SYMBOL_PATTERN, extra={"what": "symbol"})]
"""A symbol in upper case, as strategies send it (e.g. ``AAPL``, ``BRK.B``)."""

PositiveQty = Annotated[int, msgspec.Meta(gt=0, le=MAX_LIMIT_QTY)]
Qty = Annotated[int, msgspec.Meta(ge=0, le=MAX_LIMIT_QTY)]
Rate = Annotated[int, msgspec.Meta(ge=0, le=MAX_RATE)]
WindowMs = Annotated[int, msgspec.Meta(ge=0, le=MAX_WINDOW_MS)]
Seconds = Annotated[int, msgspec.Meta(gt=0, le=30 * 86_400)]
PositiveMoney = Annotated[int, msgspec.Meta(gt=0, le=MAX_LIMIT_MONEY, extra={"unit": "money"})]
Money = Annotated[int, msgspec.Meta(ge=0, le=MAX_LIMIT_MONEY, extra={"unit": "money"})]
PositivePrice = Annotated[int, msgspec.Meta(gt=0, le=2**53 - 1, extra={"unit": "price"})]
Percent = Annotated[int, msgspec.Meta(gt=0, le=100 * PERCENT_SCALE, extra={"unit": "percent"})]
StartPosition = Annotated[int, msgspec.Meta(ge=-MAX_LIMIT_QTY, le=MAX_LIMIT_QTY)]

TradingStateName = Literal["ACTIVE", "REDUCING", "HALTED"]


class TradingState(enum.IntEnum):
    """What may trade; a higher value is stricter, so the strictest of several is ``max``."""

    ACTIVE = 0
    """Everything the limits allow."""
    REDUCING = 1
    """Only orders that cannot increase the position (worst case), and cancels."""
    HALTED = 2
    """Only cancels."""


class _Doc(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every section: frozen, keyword-only, unknown fields refused."""


class Rates(_Doc, frozen=True):
    """Sliding one-second message-rate limits, one counter per strategy, account and symbol."""

    per_strategy: Rate | None = None
    per_account: Rate | None = None
    per_symbol: Rate | None = None


class Limits(_Doc, frozen=True):
    """The limits any scope may set; ``None`` means not set in this scope."""

    trading_state: TradingStateName | None = None
    max_qty: PositiveQty | None = None
    max_notional: PositiveMoney | None = None
    collar_pct: Percent | None = None
    collar_ticks: PositiveQty | None = None
    max_open_orders: Qty | None = None
    max_open_notional: Money | None = None
    max_long_qty: Qty | None = None
    max_short_qty: Qty | None = None
    max_net_qty: Qty | None = None
    credit_limit: Money | None = None
    orders_per_s: Rates | None = None
    cancels_per_s: Rates | None = None
    duplicate_window_ms: WindowMs | None = None
    allow_market_orders: bool | None = None
    allow_short_sales: bool | None = None
    allow_short_exempt: bool | None = None


class SymbolLimits(Limits, frozen=True):
    """Limits of a firm-wide symbol scope (or the defaults): also the instrument's tick and lot size."""

    tick_size: PositivePrice | None = None
    lot_size: PositiveQty | None = None


class AccountLimits(Limits, frozen=True):
    """An account's limits, with overrides for its strategies and symbols."""

    strategies: dict[Name, Limits] = msgspec.field(default_factory=dict)
    symbols: dict[Symbol, Limits] = msgspec.field(default_factory=dict)


class Restricted(_Doc, frozen=True):
    """The firm's restricted list."""

    no_trade: list[Symbol] = msgspec.field(default_factory=list)
    """Symbols that may not be traded at all (cancels still pass)."""
    sell_only: list[Symbol] = msgspec.field(default_factory=list)
    """Symbols that may only be sold out of a long position (no buys, no short sales)."""


class ReferencePrices(_Doc, frozen=True):
    """Where reference prices for the price collar (and market-order notional) come from."""

    max_age_s: Seconds
    """A last trade older than this is stale."""
    file: str | None = None
    """A reference-price file the officer maintains (path relative to the limits file)."""
    file_max_age_s: Seconds = 86_400
    """Prices in ``file`` are stale once its ``as_of`` time is older than this."""
    use_last_trade: bool = True
    """Use the last trade the gateway saw in the symbol (it wins over the file while fresh)."""
    allow_missing: list[Symbol] = msgspec.field(default_factory=list)
    """Symbols whose limit orders skip the collar (instead of a reject) when no fresh reference exists."""


class LimitsDocument(_Doc, frozen=True):
    """A whole limits file."""

    version: Literal[1]
    defaults: SymbolLimits
    reference_prices: ReferencePrices
    accounts: dict[Name, AccountLimits]
    strategies: dict[Name, Limits] = msgspec.field(default_factory=dict)
    symbols: dict[Symbol, SymbolLimits] = msgspec.field(default_factory=dict)
    restricted: Restricted = msgspec.field(default_factory=Restricted)
    start_positions_file: str | None = None
    """Start-of-day positions (path relative to the limits file); read at start-up only."""


AS_OF_LOADED: Final = "loaded"
"""``as_of: loaded``: the prices count as taken when the gateway (re)reads the file (demos, tests)."""


class ReferencePriceDocument(_Doc, frozen=True):
    """A reference-price file: prices valid as of one UTC time."""

    as_of: Annotated[str, msgspec.Meta(extra={"format": "datetime", "or": AS_OF_LOADED})]
    """When the prices were taken (e.g. ``2025-06-13T20:00:00Z``), or ``loaded``."""
    prices: dict[Symbol, PositivePrice]


class StartPositionsDocument(_Doc, frozen=True):
    """Start-of-day positions per account and symbol (negative = short)."""

    as_of: Annotated[str, msgspec.Meta(extra={"format": "datetime"})]
    accounts: dict[Name, dict[Symbol, StartPosition]]


REQUIRED_DEFAULTS: Final = (
    "max_qty",
    "max_notional",
    "max_open_orders",
    "max_open_notional",
    "max_long_qty",
    "max_short_qty",
    "max_net_qty",
    "credit_limit",
    "orders_per_s",
    "cancels_per_s",
    "duplicate_window_ms",
    "tick_size",
    "lot_size",
)
"""Limits ``defaults`` must set (plus ``collar_pct`` or ``collar_ticks``, and every rate of each kind)."""
