"""Sequence gaps both ways: answering the venue's ResendRequest, and tracking our own.

Answering (``answer_resend_request``): stored business messages are replayed with
PossDupFlag=Y and OrigSendingTime; admin messages (never stored), missing ones, business
messages the owner does not want replayed (``may_replay``: a request already answered, or one
the owner does not know) and -- when the dialect says so -- business messages that are stale or
never to be replayed are covered by SequenceReset-GapFill messages, consecutive ones merged
into one. So is a stored record that is not one intact FIX message (a damaged store file: no
BodyLength, a wrong CheckSum, a field without ``=``), checked before the owner is asked: the FIX
rule for a message not to be resent, so one bad record never fails the whole answer; its number
is reported in ``ResendReply.damaged``.

A long range is answered a slice at a time (``ResendJob``, ``answer_resend_slice``, fixresend58): each slice
takes at most a budget of stored messages, in sequence order, from where the last one stopped, so the venue gets
the messages of one answer, in order, each number once. A gap fill still open at the end of a slice ends there (the
next slice starts its own): every slice moves the venue's expected number on, also over a range of messages all
gap-filled (a venue that times out a resend without progress sees progress at every turn, and an answer cut short
leaves the venue what it got). The owner hands out the next slice when its transport asks (``FixSession.poll``), so
a venue asking for a whole day never holds the event loop for the other connections.

Tracking (``InboundGap``): when a message arrives above the expected number, the session
sends one ResendRequest (to infinity) and keeps the early messages until the gap closes.
An early message the session acts on at once (the venue's Logon, its ResendRequest) is not
held but its number is remembered as done: once the numbers below it arrive, the expected
number moves past it instead of waiting for a message that was already processed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from venues.fix.codec import FixMessage, FrameDecoder, parse_utc_timestamp, resend_copy
from venues.fix.session.admin import AdminEncoder
from venues.fix.store.base import MessageStore


class ResendReply(NamedTuple):
    """What to write in answer to a ResendRequest, and which business messages were not replayed."""

    messages: list[bytes]
    gap_filled_business: list[bytes]
    """Stored business messages covered by a gap fill instead (the venue never sees them)."""
    damaged: list[int]
    """Sequence numbers of stored records that could not be re-stamped, gap-filled (also in the list above)."""


class ResendJob:
    """A ResendRequest being answered a slice at a time (``answer_resend_slice``), in sequence order."""

    __slots__ = ("begin", "damaged", "end", "gap_fills", "limit", "next", "not_replayed", "replayed", "slices")

    def __init__(self, begin: int, end: int, limit: int = 0) -> None:
        self.begin = begin
        self.end = end
        """The last number answered (the last one sent when the request came, or the request's EndSeqNo); moved on
        by a later request the answer takes on (fixresend59), never beyond ``limit``."""
        self.limit = limit or end
        """The last number sent before the answer began: those numbered after wait behind it and go as themselves
        after its last slice, so no answer reaches them (0: ``end``)."""
        self.next = begin
        """The first number not answered yet (``end`` + 1: done)."""
        self.replayed = 0
        self.gap_fills = 0
        self.not_replayed = 0
        self.slices = 0
        self.damaged: list[int] = []

    @property
    def done(self) -> bool:
        """Return True once every number up to ``end`` is answered."""
        return self.next > self.end


def answer_resend_request(
    store: MessageStore,
    admin: AdminEncoder,
    begin: int,
    end: int,
    *,
    begin_string: bytes,
    stamp: bytes,
    wall_now_ns: int,
    replay_business: bool,
    stale_after_ns: int,
    may_replay: Callable[[bytes], bool] | None = None,
) -> ResendReply:
    """Build the replay of our messages ``begin..end`` (``end`` 0 or beyond = all sent so far), all at once."""
    last_sent = store.next_sender_seq - 1
    if end == 0 or end > last_sent:
        end = last_sent
    return answer_resend_slice(
        ResendJob(begin, end),
        store,
        admin,
        begin_string=begin_string,
        stamp=stamp,
        wall_now_ns=wall_now_ns,
        replay_business=replay_business,
        stale_after_ns=stale_after_ns,
        may_replay=may_replay,
    )


def answer_resend_slice(
    job: ResendJob,
    store: MessageStore,
    admin: AdminEncoder,
    *,
    begin_string: bytes,
    stamp: bytes,
    wall_now_ns: int,
    replay_business: bool,
    stale_after_ns: int,
    may_replay: Callable[[bytes], bool] | None = None,
    budget: int = 0,
    max_numbers: int = 0,
) -> ResendReply:
    """Build the next slice of ``job``'s replay and move it on (``job.next``).

    At most ``budget`` stored messages (0: no limit) and ``max_numbers`` numbers (0: no limit) are answered: the
    stored messages cost (re-stamping, ``may_replay``), the numbers of admin messages (never stored) little. A gap
    fill open when the slice stops ends at the first number not answered (the next slice goes on from there).
    """
    messages: list[bytes] = []
    skipped: list[bytes] = []
    damaged: list[int] = []
    end = job.end
    seq = job.next
    gap_start = 0
    stop = end if not max_numbers else min(end, seq + max_numbers - 1)
    work = 0
    while seq <= stop and (not budget or work < budget):
        # a window of at most the budget left in numbers holds at most that many stored messages
        window_end = stop if not budget else min(stop, seq + budget - work - 1)
        for found, raw in store.get_sent(seq, window_end):
            if found > seq and not gap_start:
                gap_start = seq  # numbers not stored (admin messages) before this one
            work += 1
            seq = found + 1
            replay = replay_business
            if replay and stale_after_ns:
                replay = not _is_stale(raw, wall_now_ns, stale_after_ns)
            copy = b""
            if replay:
                copy = _restamped(raw, begin_string, stamp)
                if not copy:
                    damaged.append(found)
                    replay = False
            if replay and may_replay is not None:
                replay = may_replay(raw)
            if replay:
                if gap_start:
                    messages.append(admin.gap_fill(gap_start, stamp, found))
                    gap_start = 0
                messages.append(copy)
            else:
                skipped.append(raw)
                if not gap_start:
                    gap_start = found
        if seq <= window_end:  # the window's last numbers are not stored
            if not gap_start:
                gap_start = seq
            seq = window_end + 1
    if gap_start:  # up to the range's end, or to where this slice stopped
        messages.append(admin.gap_fill(gap_start, stamp, seq))
    job.next = seq
    return ResendReply(messages, skipped, damaged)


def _restamped(raw: bytes, begin_string: bytes, stamp: bytes) -> bytes:
    """Return ``raw`` re-stamped for a resend, or b"" when it is not one intact FIX message (a damaged record).

    Intact means what the venue's decoder would take: one frame, BodyLength and CheckSum right, every field
    ``<tag>=<value>``. ``resend_copy`` recomputes both, so a record that fails here must not reach it.
    """
    decoder = FrameDecoder()
    decoded = decoder.feed(raw)
    if len(decoded) != 1 or decoder.buffered or not isinstance(decoded[0], FixMessage):
        return b""
    try:
        copy, _ = resend_copy(raw, begin_string, stamp)
    except ValueError:
        return b""
    return copy


def _is_stale(raw: bytes, wall_now_ns: int, stale_after_ns: int) -> bool:
    """Return True when the message's SendingTime is older than ``stale_after_ns``."""
    at = raw.find(b"\x0152=")
    if at < 0:
        return True
    stop = raw.find(b"\x01", at + 4)
    if stop < 0:
        stop = len(raw) - 1  # what ``raw[at + 4 : -1]`` means
    # compiled, a slice that ends before it starts (raw ends with b"\x0152=") raises SystemError
    # (mypyc's CPyBytes_GetSlice) instead of giving b""
    try:
        sent_ns = parse_utc_timestamp(raw[at + 4 : stop] if stop > at + 4 else b"")
    except ValueError:
        return True
    return wall_now_ns - sent_ns > stale_after_ns


class InboundGap:
    """Messages received above the expected number while a ResendRequest is outstanding."""

    __slots__ = ("done", "dropped", "max_queued", "passed", "queued", "until")

    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self.queued: dict[int, FixMessage] = {}
        self.until = 0
        """Highest sequence number known to be missing (0 = no gap open)."""
        self.dropped = 0
        self.done: set[int] = set()
        """Early numbers already acted on (not held): the expected number moves past them when it gets there."""
        self.passed: set[int] = set()
        """Numbers of ``done`` the expected number moved past (a late gap fill of one of them is harmless)."""

    @property
    def open(self) -> bool:
        """Return True while a ResendRequest is outstanding."""
        return self.until > 0

    def note(self, seq: int) -> bool:
        """Record that ``seq`` arrived early; return True when a new ResendRequest is needed."""
        needed = not self.until
        self.until = max(self.until, seq)
        return needed

    def hold(self, message: FixMessage) -> None:
        """Keep an early message until the gap before it closes (bounded)."""
        if len(self.queued) < self.max_queued:
            self.queued[message.seq] = message
        else:
            self.dropped += 1

    def mark_done(self, seq: int) -> None:
        """Record that early message ``seq`` was acted on at once (it is not held)."""
        self.done.add(seq)

    def take_done(self, seq: int) -> bool:
        """Return True (and forget it) if ``seq`` was already acted on early."""
        if seq in self.done:
            self.done.discard(seq)
            if len(self.passed) < self.max_queued:
                self.passed.add(seq)
            return True
        return False

    def pop(self, seq: int) -> FixMessage | None:
        """Return and forget the held message with number ``seq``, if any."""
        return self.queued.pop(seq, None) if self.queued else None

    def close_if_filled(self, expected: int) -> bool:
        """Close the gap once ``expected`` has moved past it; return True if it just closed."""
        if self.until and expected > self.until:
            self.until = 0
            for seq in [s for s in self.queued if s < expected]:
                del self.queued[seq]
            self.done = {s for s in self.done if s >= expected}
            return True
        return False

    def clear(self) -> None:
        """Forget everything (connection lost)."""
        self.queued.clear()
        self.done.clear()
        self.passed.clear()
        self.until = 0
