"""The exposure book's per-order row: one order's contribution.

A plain msgspec Struct (``gc=False``: one per order, never tracked by the garbage collector), kept out
of ``risk.exposure`` so that module can be compiled (mypyc drops a Struct's class keywords such as
``gc=False``); ``risk.exposure`` re-exports it. The per-key rows, ``AccountState`` and ``PositionState``,
are native classes in the compiled ``risk.exposure_rows``.
"""

from __future__ import annotations

import msgspec

from risk.exposure_rows import AccountState, PositionState


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
