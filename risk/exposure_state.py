"""The exposure book's rows: one account, one position, one order's contribution.

Plain msgspec Structs, kept out of ``risk.exposure`` so that module can be compiled (mypyc drops a
Struct's class keywords such as ``gc=False``); ``risk.exposure`` re-exports every name.
"""

from __future__ import annotations

import msgspec


class PositionState(msgspec.Struct, gc=False):
    """One account's position in one symbol: filled, and working on each side."""

    position: int = 0
    """Filled position (negative = short), including the start-of-day position."""
    open_buy_qty: int = 0
    open_sell_qty: int = 0


class AccountState(msgspec.Struct):
    """One account's exposure and its run-time trading state."""

    open_orders: int = 0
    open_notional: int = 0
    """Sum over open orders of leaves x price (fixed-point, PRICE_SCALE units)."""
    traded_notional: int = 0
    """Gross traded notional since the start of the day (buys and sells)."""
    runtime_state: int = 0
    """State set by the kill switch / admin path (TradingState value); the file's state also applies."""
    positions: dict[str, PositionState] = msgspec.field(default_factory=dict)


class OrderRecord(msgspec.Struct, gc=False):
    """What one order currently contributes to its account's totals."""

    account: AccountState
    position: PositionState
    is_buy: bool
    leaves: int = 0
    notional: int = 0
    counted_open: bool = False
    valuation_price: int = 0
    """Price used for notional when the order has none (market orders: the reference at entry)."""
