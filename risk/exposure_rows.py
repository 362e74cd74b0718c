"""The exposure book's per-key rows: one account, one position in one symbol.

Plain classes in a compiled module (``obs.native.MODULES``): compiled, they are native classes, so the
risk checks' and the book's reads of their fields are native attribute reads instead of generic lookups
(a msgspec Struct's field is a descriptor to compiled code). One instance per account and per account and
symbol, never per order: they are tracked by the garbage collector, which costs nothing per order.
``risk.exposure`` re-exports both names; ``OrderRecord`` (one per order, untracked) stays a msgspec Struct
in ``risk.exposure_state``.
"""

from __future__ import annotations


class PositionState:
    """One account's position in one symbol: filled, and working on each side."""

    __slots__ = ("open_buy_qty", "open_sell_qty", "position")

    def __init__(self, position: int = 0, open_buy_qty: int = 0, open_sell_qty: int = 0) -> None:
        self.position: int = position
        """Filled position (negative = short), including the start-of-day position."""
        self.open_buy_qty: int = open_buy_qty
        self.open_sell_qty: int = open_sell_qty

    def __repr__(self) -> str:
        """Return the fields, as the msgspec Struct this replaced did."""
        return (
            f"PositionState(position={self.position}, open_buy_qty={self.open_buy_qty}, "
            f"open_sell_qty={self.open_sell_qty})"
        )


class AccountState:
    """One account's exposure and its run-time trading state."""

    __slots__ = ("open_notional", "open_orders", "positions", "runtime_state", "traded_notional")

    def __init__(
        self,
        open_orders: int = 0,
        open_notional: int = 0,
        traded_notional: int = 0,
        runtime_state: int = 0,
        positions: dict[str, PositionState] | None = None,
    ) -> None:
        self.open_orders: int = open_orders
        self.open_notional: int = open_notional
        """Sum over open orders of leaves x price (fixed-point, PRICE_SCALE units)."""
        self.traded_notional: int = traded_notional
        """Gross traded notional since the start of the day (buys and sells)."""
        self.runtime_state: int = runtime_state
        """State set by the kill switch / admin path (TradingState value); the file's state also applies."""
        self.positions: dict[str, PositionState] = {} if positions is None else positions

    def __repr__(self) -> str:
        """Return the fields, as the msgspec Struct this replaced did."""
        return (
            f"AccountState(open_orders={self.open_orders}, open_notional={self.open_notional}, "
            f"traded_notional={self.traded_notional}, runtime_state={self.runtime_state}, "
            f"positions={self.positions!r})"
        )
