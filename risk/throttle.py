"""Exact sliding-window message-rate counters.

``SlidingWindow`` remembers the times of the most recent events in a ring buffer. A new
event is allowed when fewer than ``limit`` events happened in the ``window_ns`` before
now, i.e. when the ``limit``-th most recent event is at least ``window_ns`` old: O(1)
per check, no allocation once the ring has grown to the highest rate actually seen.
"""

from __future__ import annotations

from array import array
from typing import Final

ONE_SECOND_NS: Final = 1_000_000_000
_INITIAL_CAPACITY: Final = 64


class SlidingWindow:
    """Times of the latest events, enough to answer 'were there ``limit`` events in the last window?'."""

    __slots__ = ("_capacity", "_count", "_head", "_times")

    def __init__(self) -> None:
        self._times = array("q", bytes(8 * _INITIAL_CAPACITY))
        self._capacity = _INITIAL_CAPACITY
        self._head = 0
        """Index the next event is written at."""
        self._count = 0
        """Events remembered (at most the capacity)."""

    def allows(self, limit: int, now_ns: int, window_ns: int = ONE_SECOND_NS) -> bool:
        """Return True if one more event at ``now_ns`` keeps within ``limit`` per ``window_ns``."""
        if self._count < limit:
            return True
        if limit <= 0:
            return False
        oldest = self._times[(self._head - limit) % self._capacity]
        return now_ns - oldest >= window_ns

    def in_window(self, now_ns: int, window_ns: int = ONE_SECOND_NS) -> int:
        """Count remembered events in the window ending at ``now_ns`` (for explanations, not the hot path)."""
        count = 0
        for back in range(1, self._count + 1):
            if now_ns - self._times[(self._head - back) % self._capacity] >= window_ns:
                break
            count += 1
        return count

    def record(self, now_ns: int, limit: int) -> None:
        """Remember an event at ``now_ns``; grow the ring (rarely) so ``limit`` events fit."""
        if self._count == self._capacity and self._capacity < limit:
            self._grow(min(max(self._capacity * 2, 1), limit))
        self._times[self._head] = now_ns
        self._head = (self._head + 1) % self._capacity
        if self._count < self._capacity:
            self._count += 1

    def _grow(self, capacity: int) -> None:
        ordered = array("q", bytes(8 * capacity))
        for i in range(self._count):
            ordered[i] = self._times[(self._head - self._count + i) % self._capacity]
        self._times = ordered
        self._capacity = capacity
        self._head = self._count % capacity
