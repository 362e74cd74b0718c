"""Exact sliding-window message-rate counters.

``SlidingWindow`` remembers the times of the most recent events: a list used as a queue, the oldest
remembered time at index ``head`` (a native int field compiled), the newest at the end. A new event is
allowed when fewer than ``limit`` events happened in the ``window_ns`` before now, i.e. when the
``limit``-th most recent event is at least ``window_ns`` old: O(1) per check. Recording an event
forgets up to two times that are out of the one-second window (they can never count again), and the
oldest one beyond the highest limit used with the counter (``capacity``). Forgetting moves ``head`` on
and clears the slot (no time object stays referenced); the list drops its cleared front once it holds
at least as many cleared slots as remembered times (and ``COMPACT_AT``), so each time is moved at most
once on average. Memory follows the recent event rate (the events of about the last second, once a
burst has drained), never the day's event count, and never exceeds the highest limit used.

Stop 40: the list replaced a ``collections.deque``, whose ``append``, ``popleft`` and ``[0]`` were generic
method calls and sequence lookups from compiled code; on a ``list`` they are mypyc's native list
operations, and ``head`` is a native field.
"""

from __future__ import annotations

from typing import Final

ONE_SECOND_NS: Final = 1_000_000_000
COMPACT_AT: Final = 32
"""The fewest cleared front slots ``forget`` drops at once (fewer: a short list is not worth moving)."""


class SlidingWindow:
    """Times of the latest events, enough to answer 'were there ``limit`` events in the last window?'."""

    __slots__ = ("capacity", "head", "times")

    def __init__(self, capacity: int = 1) -> None:
        self.capacity = max(capacity, 1)
        """The most times remembered: the highest limit recorded with (raised by ``record``)."""
        self.times: list[int] = []
        """Event times, oldest first from ``head`` (the slots before it are cleared: 0); the risk hot path
        reads and appends it inline (``risk.engine``, look for PRUNE)."""
        self.head = 0
        """Index of the oldest remembered time in ``times``."""

    def __len__(self) -> int:
        """Return how many event times are remembered."""
        return len(self.times) - self.head

    def allows(self, limit: int, now_ns: int, window_ns: int = ONE_SECOND_NS) -> bool:
        """Return True if one more event at ``now_ns`` keeps within ``limit`` per ``window_ns``."""
        times = self.times
        size = len(times)
        if size - self.head < limit:
            return True
        if limit <= 0:
            return False
        return now_ns - times[size - limit] >= window_ns

    def in_window(self, now_ns: int, window_ns: int = ONE_SECOND_NS) -> int:
        """Count remembered events in the window ending at ``now_ns`` (for explanations, not the hot path)."""
        times = self.times
        return sum(1 for i in range(self.head, len(times)) if now_ns - times[i] < window_ns)

    def record(self, now_ns: int, limit: int) -> None:
        """Remember an event at ``now_ns`` under ``limit``; forget as ``forget`` does when something is due.

        The risk engine does the same inline (``risk.engine``, look for PRUNE); ``allows`` answers as if
        nothing were forgotten: a forgotten time is at least a second old and never counts again, or
        beyond the ``capacity`` most recent, which no limit up to it reads.
        """
        self.capacity = max(self.capacity, limit)
        times = self.times
        head = self.head
        times.append(now_ns)
        if now_ns - times[head] >= ONE_SECOND_NS or len(times) - head > self.capacity:
            self.forget(now_ns)

    def forget(self, now_ns: int) -> None:
        """Forget the oldest time beyond ``capacity``, then up to two out of the one-second window before ``now_ns``.

        Called after an append (the newest time is ``now_ns``, never forgotten here); drops the cleared
        front of the list once it is at least ``COMPACT_AT`` slots and as long as the rest.
        """
        times = self.times
        head = self.head
        if len(times) - head > self.capacity:
            times[head] = 0
            head += 1
        if now_ns - times[head] >= ONE_SECOND_NS:
            times[head] = 0
            head += 1
            if now_ns - times[head] >= ONE_SECOND_NS:
                times[head] = 0
                head += 1
        if head >= COMPACT_AT and head + head >= len(times):
            del times[:head]
            head = 0
        self.head = head
