"""The OUCH adapter's record of one order (kept out of the compiled ``adapter``).

mypyc drops the class keywords of a ``msgspec.Struct`` subclass (``gc=False``, ``frozen=True``, ...), so the
Structs of a compiled module live in an interpreted sibling like this one (see ``obs.native``).
"""

from __future__ import annotations

from venues.base import VenueOrder


class Chain(VenueOrder[int], gc=False):
    """One gateway order at OUCH: its UserRefNums (Enter, then one per Replace) and open quantity.

    ``working`` is the UserRefNum the venue knows the order by now, ``pending`` the new UserRefNum
    of a Replace not yet answered (0 = none).
    """

    open_qty: int
    """Shares still open at the venue as far as its messages tell."""
    candidates: tuple[int, ...] = ()
    """After ``restore`` of a replaced order: every number that may be the live one."""
    done: bool = False
    in_doubt: bool = False
    """A Replace of it is in doubt (answer lost): the core's open quantity may be wrong until a Replaced settles it."""
    unconfirmed: int = 0
    """The UserRefNum of its Enter while that Enter is in doubt (0 = none): the venue may never have had it.

    While this is set or ``candidates`` holds several numbers the venue may not know the order by ``working``,
    and a Replace naming a number that is not live is silently ignored (never answered): no Replace is sent
    until a message of the venue names the live number.
    """

    last_cancel_ns: int = 0
    """Timestamp of the last Canceled or AIQ Canceled applied to it (a renumbered venue's copy is no later)."""

    def cancel_targets(self) -> tuple[int, ...]:
        """Return the UserRefNums a Cancel must name."""
        return self.candidates or (self.working,)
