"""Exact sliding-window message-rate counters.

``SlidingWindow`` remembers the times of the most recent events: a list used as a queue, the oldest
remembered time at index ``head``, the newest at ``end - 1`` (both native int fields compiled); the
slots from ``end`` on are spare (0), written into as events come, so recording one is a store, not a
call (``list.append``), and the count is ``end - head``, not ``len``. A new event is allowed when fewer
than ``limit`` events happened in the ``window_ns`` before now, i.e. when the ``limit``-th most recent
event is at least ``window_ns`` old: O(1) per check. Recording an event forgets up to two times that
are out of the one-second window (they can never count again), and the oldest one beyond the highest
limit used with the counter (``capacity``). Forgetting moves ``head`` on and clears the slot (no time
object stays referenced); the list drops its cleared front once it holds at least as many cleared
slots as remembered times (and ``COMPACT_AT``), so each time is moved at most once on average, and
takes as many spare slots at its end instead (its length stays: dropped without them, a list of
``L`` times had a full list again after each compaction, and grew, raising, every ``L`` events). When
no spare slot is left the list grows by as many as it remembers (``GROW`` at least), so it grows
O(log) times per window and never holds more than about three times the most times it remembered at
once (plus ``COMPACT_AT`` and ``GROW``); the spare slots are kept when the rate falls. Memory follows
the peak recent event rate (the events of about a second), never the day's event count, and never
exceeds about three times the highest limit used.

Stop 40: the list replaced a ``collections.deque``, whose ``append``, ``popleft`` and ``[0]`` were generic
method calls and sequence lookups from compiled code; on a ``list`` they are mypyc's native list
operations, and ``head`` is a native field. Stop 49: the spare slots and ``end`` (no ``len`` and no
``append`` on the risk hot path: six calls per order fewer interpreted).
"""

from __future__ import annotations

from typing import Final

ONE_SECOND_NS: Final = 1_000_000_000
COMPACT_AT: Final = 32
"""The fewest cleared front slots ``forget`` drops at once (fewer: a short list is not worth moving)."""
GROW: Final = 8
"""The fewest spare slots a full list grows by (``grow``)."""


class SlidingWindow:
    """Times of the latest events, enough to answer 'were there ``limit`` events in the last window?'."""

    __slots__ = ("capacity", "end", "head", "times")

    def __init__(self, capacity: int = 1) -> None:
        self.capacity = max(capacity, 1)
        """The most times remembered: the highest limit recorded with (raised by ``record``)."""
        self.times: list[int] = []
        """Event times, oldest first from ``head`` to ``end`` (the slots before ``head`` are cleared, those from
        ``end`` on spare: 0); the risk hot path reads and writes it inline (``risk.engine``, look for PRUNE)."""
        self.head = 0
        """Index of the oldest remembered time in ``times``."""
        self.end = 0
        """Index of the first spare slot in ``times`` (one past the newest time)."""

    def __len__(self) -> int:
        """Return how many event times are remembered."""
        return self.end - self.head

    def grow(self) -> None:
        """Add spare slots: as many as times are remembered, ``GROW`` at least (a store past the end raised)."""
        self.times.extend([0] * (self.end - self.head + GROW))

    def allows(self, limit: int, now_ns: int, window_ns: int = ONE_SECOND_NS) -> bool:
        """Return True if one more event at ``now_ns`` keeps within ``limit`` per ``window_ns``."""
        times = self.times
        size = self.end
        if size - self.head < limit:
            return True
        if limit <= 0:
            return False
        return now_ns - times[size - limit] >= window_ns

    def in_window(self, now_ns: int, window_ns: int = ONE_SECOND_NS) -> int:
        """Count remembered events in the window ending at ``now_ns`` (for explanations, not the hot path)."""
        times = self.times
        return sum(1 for i in range(self.head, self.end) if now_ns - times[i] < window_ns)

    def record(self, now_ns: int, limit: int) -> None:
        """Remember an event at ``now_ns`` under ``limit``; forget as ``forget`` does when something is due.

        The risk engine does the same inline (``risk.engine``, look for PRUNE); ``allows`` answers as if
        nothing were forgotten: a forgotten time is at least a second old and never counts again, or
        beyond the ``capacity`` most recent, which no limit up to it reads.
        """
        self.capacity = max(self.capacity, limit)
        times = self.times
        head = self.head
        end = self.end
        try:
            times[end] = now_ns
        except IndexError:  # no spare slot left
            self.grow()
            times[end] = now_ns
        self.end = end = end + 1
        if now_ns - times[head] >= ONE_SECOND_NS or end - head > self.capacity:
            self.forget(now_ns)

    def record_many(self, now_ns: int, limit: int, count: int) -> None:
        """Remember ``count`` events at ``now_ns`` under ``limit`` at once (a MassCancel's Cancels of one slice).

        As ``count`` calls of ``record``: the times out of the window and beyond ``capacity`` are forgotten first (only
        the ``capacity`` most recent can count), then at most ``capacity`` times of ``now_ns`` are written; O(``count``
        + what is forgotten), each time forgotten once.
        """
        capacity = self.capacity = max(self.capacity, limit)
        if count > capacity:  # noqa: PLR1730  (the capacity most recent are all a limit up to it reads)
            count = capacity
        if count <= 0:
            return
        times = self.times
        head = self.head
        end = self.end
        over = end - head + count - capacity  # remembered times the new ones push beyond the capacity
        while head < end and (over > 0 or now_ns - times[head] >= ONE_SECOND_NS):
            times[head] = 0
            head += 1
            over -= 1
        if head >= COMPACT_AT and head + head >= end:
            del times[:head]
            times += [0] * head
            end -= head
            head = 0
        times[end : end + count] = [now_ns] * count  # (past the list's end: it grows by what is missing)
        self.head = head
        self.end = end + count

    def forget(self, now_ns: int) -> None:
        """Forget the oldest time beyond ``capacity``, then up to two out of the one-second window before ``now_ns``.

        Called after a time is recorded (the newest is ``now_ns``, never forgotten here); drops the cleared
        front of the list once it is at least ``COMPACT_AT`` slots and as long as the remembered times.
        """
        times = self.times
        head = self.head
        end = self.end
        if end - head > self.capacity:
            times[head] = 0
            head += 1
        if now_ns - times[head] >= ONE_SECOND_NS:
            times[head] = 0
            head += 1
            if now_ns - times[head] >= ONE_SECOND_NS:
                times[head] = 0
                head += 1
        if head >= COMPACT_AT and head + head >= end:
            del times[:head]
            times += [0] * head  # as many spare slots again: the list keeps its length, so no store soon fails
            self.end = end - head
            head = 0
        self.head = head
