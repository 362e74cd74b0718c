"""What ``FixVenue`` keeps per open order and per question to the venue (msgspec Structs).

They live here, interpreted, because ``venues.fix.adapter`` is compiled with mypyc, which drops a
Struct's class keywords (``gc=False``) silently (docs/development.md, "Compiled hot modules").
"""

from __future__ import annotations

from typing import Final

import msgspec

from model.exactly_once import RequestKind
from venues.base import VenueOrder

REFUSED_KEPT: Final = 8
"""How many refused replace ClOrdIDs an order keeps (``Tracked.refused``)."""


class Tracked(VenueOrder[bytes], gc=False):
    """One open order at the FIX venue: ``working`` is the ClOrdID the venue knows it by (the
    OrigClOrdID of the next cancel/replace), ``pending`` the ClOrdID of the cancel/replace in flight
    (b"" = none). A fill repeating an ExecID the order already applied is the core's to discard
    (``gateway.venue_apply.executed``), for every venue alike; one whose CumQty the order has already
    reached is reported with no quantity (``FixVenue._not_yet_counted``), which the core discards too."""

    requests: int = 0
    """Cancels/replaces (and asking cancels) this process sent for the order: the ``n`` of their ClOrdIDs."""
    refused: tuple[bytes, ...] = ()
    """The ClOrdIDs of the order's replaces the venue refused (OrderCancelReject, ExecType 8), oldest first, the last
    ``REFUSED_KEPT``: a Replaced for one of them after that is the venue applying it anyway
    (``FixVenue._replaced_after_reject``). Not kept over a restart: a Replaced whose OrigClOrdID is the ClOrdID the
    order is known by (``working``) is taken as such too."""


class Probe(msgspec.Struct, gc=False):
    """A question to the venue about an order request whose outcome is unknown (it was gap-filled, not replayed)."""

    about: RequestKind
    """What the request in doubt asked for: NEW or REPLACE."""
    ref: bytes
    """The ClOrdID of the request in doubt."""
    probe_ref: bytes
    """The ClOrdID the question went out under: ``ref`` for an OrderStatusRequest, its own for a cancel."""
    by_status: bool
    """True: OrderStatusRequest (35=H); False: a cancel naming ``ref`` (OrigClOrdID)."""
    cancel_too: bool = False
    """A cancel of the order was in doubt too: sent again once the venue says it knows the order."""
    resync: bool = False
    """Not about a request: the venue's report about the order was refused (a number out of range), so the
    order's state is unknown; the answer reports what the gateway lacks (a fill, a cancel)."""
    earlier: tuple[bytes, ...] = ()
    """The ClOrdIDs of the asking cancels this one replaced (asked again after a numbering reset), oldest first: the
    venue may still answer any of them, and that answer settles the question as this one's would."""
    asked_ns: int = 0
    """When the question last went out (clock ns): a status question unanswered for long is asked again."""
    asks: int = 1
    """How many times this question went out (1: once); ``FixVenue.poll`` asks again up to ``QUESTION_ASKS``."""
