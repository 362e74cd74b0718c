"""Exactly-once, decided in one place: which venue messages are new, and which requests are unanswered.

Inbound. Every venue numbers the messages it sends (SoupBinTCP sequence, FIX MsgSeqNum) and
every message yields at most one normalised event, which carries that number as ``venue_seq``.
``VenueSequence.admit`` answers NEW or DUPLICATE for each message: NEW when its number is above
the highest one admitted in the venue's current numbering *epoch* (the high water), DUPLICATE
otherwise; 0 means "made up by the adapter" and is always new. Adapters ask it before they act
on a message; nothing else drops venue messages as repeats (the protocol sessions keep only
their own sequencing rules: gaps, resend requests, FIX's too-low rule).

A venue's numbering restarts now and then (a FIX sequence reset: ResetSeqNumFlag, the daily
reset, a re-created store; a SoupBinTCP Login Accepted for another session). The adapter names
the new epoch (``new_epoch``): the high water starts again from 0 and the core journals the
change, so recovery knows which high water belongs to which numbering.

Resume convention (every venue): after a restart, continue *after* the highest ``venue_seq``
the journal holds for the venue's current epoch (``ResumePoint``). OUCH logs in asking for
``high_water + 1``; FIX expects ``high_water + 1`` (raising a store that lags the journal).

Outbound. A request (new order, cancel, replace) sent under a venue reference is answered by
the venue event that resolves it; until then its outcome is unknown. ``unanswered`` lists them
from the orders' table states, for the adapter to decide per protocol what to do once a
reconnect's replay is complete (``VenueAdapter.after_replay``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Final

import msgspec

from model.order import Order, OrderState

EpochSink = Callable[[str, str], None]
"""Called with (venue name, new epoch) when a venue's numbering restarts (the core journals it)."""


class ResumePoint(msgspec.Struct, frozen=True):
    """Where a venue session continues after a restart: after ``high_water`` of numbering ``epoch``."""

    epoch: str = ""
    """The numbering the journal last recorded ("" = none recorded: the venue's current one)."""
    high_water: int = 0
    """Highest ``venue_seq`` journaled in that epoch (0 = none)."""

    @property
    def next_seq(self) -> int:
        """Return the first venue sequence number not yet journaled."""
        return self.high_water + 1


class VenueSequence:
    """NEW or DUPLICATE for one venue's messages, within its current numbering epoch."""

    __slots__ = ("duplicates", "epoch", "epochs", "high_water", "on_epoch", "venue")

    def __init__(self, venue: str, on_epoch: EpochSink | None = None) -> None:
        self.venue = venue
        self.epoch = ""
        """The current numbering ("" = not named yet)."""
        self.high_water = 0
        self.duplicates = 0
        self.epochs = 0
        """How many times the numbering restarted in this process."""
        self.on_epoch = on_epoch

    def admit(self, seq: int) -> bool:
        """Return True if message ``seq`` is new (and remember it), False if it was already admitted."""
        if seq > self.high_water:
            self.high_water = seq
            return True
        if seq == 0:
            return True
        self.duplicates += 1
        return False

    def new_epoch(self, epoch: str) -> None:
        """The venue's numbering is now ``epoch``: if that is a change, start its high water from 0.

        An unnamed numbering ("": a fresh start, or a journal of an earlier version) is a
        different one too; an adapter that knows the journal's unnamed numbering is its own
        says so with ``adopt`` when it resumes.
        """
        if epoch == self.epoch:
            return
        self.high_water = 0
        self.epochs += 1
        self.epoch = epoch
        if self.on_epoch is not None:
            self.on_epoch(self.venue, epoch)

    def resume_point(self) -> ResumePoint:
        """Return where a session of this venue would continue."""
        return ResumePoint(self.epoch, self.high_water)

    def adopt(self, point: ResumePoint) -> None:
        """Start from a recovered resume point (nothing is reported: the journal already holds it)."""
        self.epoch = point.epoch
        self.high_water = point.high_water


class RequestKind(enum.StrEnum):
    """What a request sent to a venue asked for."""

    NEW = "new"
    CANCEL = "cancel"
    REPLACE = "replace"


class UnansweredRequest(msgspec.Struct, frozen=True, gc=False):
    """A request sent under ``venue_ref`` that no venue event has answered yet: its outcome is unknown."""

    order: Order
    kind: RequestKind
    venue_ref: str


_NEW_UNANSWERED: Final = frozenset(
    {OrderState.PENDING_NEW, OrderState.PENDING_NEW_CANCEL, OrderState.PENDING_NEW_HELD_CANCEL}
)
_CANCEL_UNANSWERED: Final = frozenset({OrderState.PENDING_NEW_CANCEL, OrderState.PENDING_CANCEL})
_REPLACE_UNANSWERED: Final = frozenset({OrderState.PENDING_REPLACE, OrderState.PENDING_REPLACE_HELD_CANCEL})


class ExactlyOnce:
    """The one component that decides exactly-once for every venue (see the module docstring)."""

    def __init__(self, on_epoch: EpochSink | None = None) -> None:
        self.on_epoch = on_epoch
        self._venues: dict[str, VenueSequence] = {}

    def venue(self, name: str) -> VenueSequence:
        """Return the sequence keeper of venue ``name`` (created on first use)."""
        sequence = self._venues.get(name)
        if sequence is None:
            sequence = self._venues[name] = VenueSequence(name, self.on_epoch)
        return sequence

    @property
    def duplicates(self) -> int:
        """Return how many venue messages were recognised as repeats, over all venues."""
        return sum(sequence.duplicates for sequence in self._venues.values())

    def resume_points(self) -> dict[str, ResumePoint]:
        """Return every venue's resume point."""
        return {name: sequence.resume_point() for name, sequence in self._venues.items()}

    @staticmethod
    def unanswered(orders: Iterable[Order]) -> list[UnansweredRequest]:
        """Return the requests of ``orders`` no venue event has answered, oldest order first.

        A new order unanswered is one the venue has neither acknowledged nor refused; a cancel
        or replace one the venue has neither applied nor refused. A held cancel was never sent,
        so it is not listed (the core sends it once the venue is up).
        """
        out: list[UnansweredRequest] = []
        for order in orders:
            state = order.state
            if state in _NEW_UNANSWERED:
                out.append(UnansweredRequest(order, RequestKind.NEW, order.venue_ref))
            if state in _CANCEL_UNANSWERED:
                out.append(UnansweredRequest(order, RequestKind.CANCEL, order.pending_ref or order.venue_ref))
            elif state in _REPLACE_UNANSWERED:
                out.append(UnansweredRequest(order, RequestKind.REPLACE, order.pending_ref))
        return out
