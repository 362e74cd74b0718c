"""Exact sliding-window message-rate counters.

``SlidingWindow`` remembers the times of the most recent events (a bounded deque). A new
event is allowed when fewer than ``limit`` events happened in the ``window_ns`` before now,
i.e. when the ``limit``-th most recent event is at least ``window_ns`` old: O(1) per check.
Recording an event forgets up to two times that are out of the one-second window (they can never
count again): memory follows the recent event rate (the events of about the last second, once a
burst has drained), never the day's event count, and never exceeds the highest limit used with the
counter (the deque's ``maxlen``, grown on demand). Before, a window kept the latest ``limit`` times
whatever their age: with a limit of 1,000,000/s that was ~40 bytes per order of the day.
"""

from __future__ import annotations

from collections import deque
from typing import Final

ONE_SECOND_NS: Final = 1_000_000_000


class SlidingWindow:
    """Times of the latest events, enough to answer 'were there ``limit`` events in the last window?'."""

    __slots__ = ("capacity", "times")

    def __init__(self, capacity: int = 1) -> None:
        self.capacity = max(capacity, 1)
        """``times.maxlen``, kept here (compiled, a native int field; ``maxlen`` is a generic attribute read)."""
        self.times: deque[int] = deque(maxlen=self.capacity)
        """The latest event times, oldest first (the risk hot path reads and appends it inline)."""

    def allows(self, limit: int, now_ns: int, window_ns: int = ONE_SECOND_NS) -> bool:
        """Return True if one more event at ``now_ns`` keeps within ``limit`` per ``window_ns``."""
        times = self.times
        count = len(times)
        if count < limit:
            return True
        if limit <= 0:
            return False
        return now_ns - times[count - limit] >= window_ns

    def in_window(self, now_ns: int, window_ns: int = ONE_SECOND_NS) -> int:
        """Count remembered events in the window ending at ``now_ns`` (for explanations, not the hot path)."""
        return sum(1 for t in self.times if now_ns - t < window_ns)

    def record(self, now_ns: int, limit: int) -> None:
        """Remember an event at ``now_ns``; forget up to two times out of the one-second window.

        The risk engine does the same inline (``risk.engine``, look for PRUNE); ``allows`` answers as if
        nothing were forgotten: a forgotten time is at least a second old and never counts again.
        """
        times = self.times
        if limit > self.capacity:
            self.capacity = limit
            times = self.times = deque(times, maxlen=limit)
        times.append(now_ns)
        if now_ns - times[0] >= ONE_SECOND_NS:
            times.popleft()
            if now_ns - times[0] >= ONE_SECOND_NS:
                times.popleft()
