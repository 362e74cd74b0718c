"""The records ``risk.engine`` returns: reload results, explanations, exposure and position views.

Plain msgspec Structs, kept out of ``risk.engine`` so that module can be compiled (mypyc drops a
Struct's class keywords such as ``frozen``); ``risk.engine`` re-exports every name.
"""

from __future__ import annotations

import msgspec

from risk.diff import Change
from risk.loader import Problem


class ReloadResult(msgspec.Struct, frozen=True):
    """What a reload did: applied (``ok``) with ``changes``, or refused with every error."""

    ok: bool
    trigger: str
    who: str
    sha256: str
    """Hash of the limits file that was read (empty if unreadable)."""
    previous_sha256: str
    changes: list[Change]
    errors: list[Problem]
    warnings: list[str]
    message: str
    """One line for whoever asked (admin socket reply, log line)."""
    copy_problem: str = ""
    """Applied, but the copy of the limits (or reference prices) in force kept in ``state_dir`` could not be
    written: why (the limits are in force; a restart with a held-back file would refuse to start)."""


class Verdict(msgspec.Struct, frozen=True):
    """One line of an explanation: a check, whether the order passes it, and why."""

    check: str
    passed: bool
    code: str
    text: str


class PositionView(msgspec.Struct, frozen=True):
    """An account's position in a symbol: filled (negative = short) and working on each side."""

    position: int
    open_buy_qty: int
    open_sell_qty: int


class ExposureView(msgspec.Struct, frozen=True):
    """An account's open orders, open notional and gross traded notional today (fixed-point money)."""

    open_orders: int
    open_notional: int
    traded_notional: int


class LimitSource(msgspec.Struct, frozen=True):
    """An effective limit for an explanation: its value and the scope it came from."""

    field: str
    value: str
    scope: str
    considered: list[tuple[str, str]]
