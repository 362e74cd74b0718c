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

Streams. Some venues number their messages in several independent streams: Cboe BOE numbers
per matching unit. Such a venue's ``venue_seq`` is ``stream_seq(stream, number)`` = ``stream << 32
| number`` (streams from 1, numbers below 2**32), and the adapter asks ``admit_stream(stream,
number)``: NEW when the number is above that stream's own high water. A single-stream venue
(SoupBinTCP, FIX) is stream 0: its numbers stay below 2**32 in a day, ``admit(seq)`` decides, and
nothing about it changes. Epochs are per venue: all of a venue's streams restart together (BOE's
units every trading day), so one ``JVenueEpoch`` resets every stream.

Resume convention (every venue): after a restart, continue *after* the highest ``venue_seq``
the journal holds for the venue's current epoch (``ResumePoint``), per stream for a multi-stream
venue (``ResumePoint.streams``). OUCH logs in asking for ``high_water + 1``; FIX expects
``high_water + 1`` (raising a store that lags the journal); BOE logs in with the last number of
every matching unit. ``ResumeTracker`` folds the journal's records into resume points (recovery).

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

STREAM_SHIFT: Final = 32
"""A multi-stream venue's ``venue_seq`` is ``stream << STREAM_SHIFT | number``."""
_NUMBER_MASK: Final = (1 << STREAM_SHIFT) - 1


def stream_seq(stream: int, number: int) -> int:
    """Return the ``venue_seq`` of message ``number`` of ``stream`` (0 stays 0: made up by the adapter)."""
    return (stream << STREAM_SHIFT) | number if number else 0


def split_stream_seq(venue_seq: int) -> tuple[int, int]:
    """Return (stream, number) of a ``venue_seq`` (a single-stream venue's numbers are stream 0)."""
    return venue_seq >> STREAM_SHIFT, venue_seq & _NUMBER_MASK


class ResumePoint(msgspec.Struct, frozen=True):
    """Where a venue session continues after a restart: after ``high_water`` of numbering ``epoch``."""

    epoch: str = ""
    """The numbering the journal last recorded ("" = none recorded: the venue's current one)."""
    high_water: int = 0
    """Highest ``venue_seq`` journaled in that epoch (0 = none)."""
    streams: dict[int, int] = {}
    """Multi-stream venues: stream (1 and up) -> highest number journaled in it (empty for stream 0 only)."""

    @property
    def next_seq(self) -> int:
        """Return the first venue sequence number not yet journaled."""
        return self.high_water + 1

    def after(self, stream: int) -> int:
        """Return the highest number journaled in ``stream`` (0 = none)."""
        return self.streams.get(stream, 0)


MAX_OPEN_GAPS: Final = 256
"""Forward gaps (ranges of numbers skipped) a multi-stream venue remembers; past it the oldest is forgotten."""

LateSink = Callable[[int, int, int], None]
"""Called with (stream, number, high water of the stream) when a message filling a recorded gap is admitted."""
ForgetSink = Callable[[int, int, int], None]
"""Called with (stream, first, last) when a gap is forgotten (more than ``MAX_OPEN_GAPS`` open)."""


class VenueSequence:
    """NEW or DUPLICATE for one venue's messages, within its current numbering epoch."""

    __slots__ = (
        "duplicates",
        "epoch",
        "epochs",
        "gaps",
        "gaps_forgotten",
        "high_water",
        "late",
        "on_epoch",
        "on_forget",
        "on_gap",
        "on_late",
        "streams",
        "venue",
    )

    def __init__(self, venue: str, on_epoch: EpochSink | None = None) -> None:
        self.venue = venue
        self.epoch = ""
        """The current numbering ("" = not named yet)."""
        self.high_water = 0
        """Highest ``venue_seq`` admitted (single-stream: the high water; multi-stream: the largest packed value)."""
        self.streams: dict[int, int] = {}
        """Multi-stream venues: stream -> highest number admitted in it."""
        self.duplicates = 0
        self.epochs = 0
        """How many times the numbering restarted in this process."""
        self.on_epoch = on_epoch
        self.gaps: list[tuple[int, int, int]] = []
        """Multi-stream venues: (stream, first, last) of every forward gap still open, oldest first (at most
        ``MAX_OPEN_GAPS``): numbers skipped below a stream's high water, never admitted."""
        self.late = 0
        """Messages admitted below their stream's high water because they filled a recorded gap."""
        self.gaps_forgotten = 0
        """Gaps dropped from ``gaps`` past ``MAX_OPEN_GAPS`` (a message in one arriving later is a DUPLICATE)."""
        self.on_late: LateSink | None = None
        self.on_forget: ForgetSink | None = None
        self.on_gap: ForgetSink | None = None
        """Told of every gap opened (stream, first, last), after it is recorded (the BOE adapter keeps them on file)."""

    def admit(self, seq: int) -> bool:
        """Return True if message ``seq`` is new (and remember it), False if it was already admitted."""
        if seq > self.high_water:
            self.high_water = seq
            return True
        if seq == 0:
            return True
        self.duplicates += 1
        return False

    def admit_stream(self, stream: int, number: int) -> bool:
        """Return True if message ``number`` of ``stream`` is new (and remember it), False if already admitted.

        For venues numbering several streams independently (BOE matching units, from 1); the
        event it yields carries ``stream_seq(stream, number)``. Number 0 is always new.

        A number more than one above the stream's high water leaves a forward gap, recorded (``gaps``):
        a message of that gap arriving later (out of order) was never admitted, so it is new (``late``,
        ``on_late``) and closes its part of the gap. Any other number at or below the high water is a
        DUPLICATE. At most ``MAX_OPEN_GAPS`` gaps are remembered: past it the oldest is forgotten
        (``gaps_forgotten``, ``on_forget``), and a message of it arriving later counts as a DUPLICATE.
        """
        if not number:
            return True
        streams = self.streams
        last = streams.get(stream, 0)
        if number > last:
            streams[stream] = number
            value = (stream << STREAM_SHIFT) | number
            self.high_water = max(self.high_water, value)
            if number != last + 1:
                self._open_gap(stream, last + 1, number - 1)
            return True
        if self.gaps and self._close_gap(stream, number):
            self.late += 1
            on_late = self.on_late
            if on_late is not None:
                on_late(stream, number, last)
            return True
        self.duplicates += 1
        return False

    def _open_gap(self, stream: int, first: int, last: int) -> None:
        self.gaps.append((stream, first, last))
        self._trim_gaps()
        on_gap = self.on_gap
        if on_gap is not None:
            on_gap(stream, first, last)

    def _trim_gaps(self) -> None:
        gaps = self.gaps
        while len(gaps) > MAX_OPEN_GAPS:
            forgotten = gaps.pop(0)
            self.gaps_forgotten += 1
            on_forget = self.on_forget
            if on_forget is not None:
                on_forget(*forgotten)

    def _close_gap(self, stream: int, number: int) -> bool:
        """Take ``number`` of ``stream`` out of the gap recorded for it; False if it is in none."""
        gaps = self.gaps
        for at, (gap_stream, first, last) in enumerate(gaps):
            if gap_stream != stream or not first <= number <= last:
                continue
            rest = [(stream, lo, hi) for lo, hi in ((first, number - 1), (number + 1, last)) if lo <= hi]
            gaps[at : at + 1] = rest
            self._trim_gaps()  # a gap split in two: one more to remember
            return True
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
        self.streams = {}
        self.gaps = []
        self.epochs += 1
        self.epoch = epoch
        if self.on_epoch is not None:
            self.on_epoch(self.venue, epoch)

    def resume_point(self) -> ResumePoint:
        """Return where a session of this venue would continue."""
        return ResumePoint(self.epoch, self.high_water, dict(self.streams))

    def adopt(self, point: ResumePoint) -> None:
        """Start from a recovered resume point (nothing is reported: the journal already holds it)."""
        self.epoch = point.epoch
        self.high_water = point.high_water
        self.streams = dict(point.streams)
        self.gaps = []  # the journal holds the numbers of events, not of every message: no gap is known


class ResumeTracker:
    """Where each venue resumes, folded from the journal in order (recovery's half of this component).

    ``event`` for each journaled venue event, ``epoch`` for each ``JVenueEpoch``; ``points`` gives
    per venue its last epoch, the highest ``venue_seq`` journaled in it and, for values of streams
    from 1 on (``stream_seq``), the highest number per stream.
    """

    __slots__ = ("_epochs", "_high", "_streams")

    def __init__(self) -> None:
        self._epochs: dict[str, str] = {}
        self._high: dict[str, int] = {}
        self._streams: dict[str, dict[int, int]] = {}

    def event(self, venue: str, venue_seq: int) -> None:
        """A journaled venue event of ``venue`` carried ``venue_seq``."""
        if venue_seq > self._high.get(venue, 0):
            self._high[venue] = venue_seq
        if venue_seq > _NUMBER_MASK:
            stream, number = venue_seq >> STREAM_SHIFT, venue_seq & _NUMBER_MASK
            streams = self._streams.setdefault(venue, {})
            if number > streams.get(stream, 0):
                streams[stream] = number

    def epoch(self, venue: str, epoch: str) -> None:
        """``venue``'s numbering restarted as ``epoch``: a change starts every stream of it from 0."""
        if self._epochs.get(venue, "") != epoch:
            self._high[venue] = 0
            self._streams.pop(venue, None)
        self._epochs[venue] = epoch

    def points(self) -> dict[str, ResumePoint]:
        """Return every venue's resume point."""
        return {
            venue: ResumePoint(self._epochs.get(venue, ""), self._high.get(venue, 0), self._streams.get(venue, {}))
            for venue in {*self._epochs, *self._high}
        }


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
