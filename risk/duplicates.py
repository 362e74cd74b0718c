"""Duplicate-order detection: the same order accepted again within a window."""

from __future__ import annotations

from collections import deque
from typing import Final

DuplicateKey = tuple[str, str, str, int, int]
"""(account, symbol, side, qty, price)."""

_NEVER: Final = -(2**62)


class DuplicateFilter:
    """Remember when each (account, symbol, side, qty, price) was last accepted; forget old ones in O(1)."""

    __slots__ = ("_horizon_ns", "_last", "_queue")

    def __init__(self) -> None:
        self._last: dict[DuplicateKey, int] = {}
        self._queue: deque[tuple[int, DuplicateKey]] = deque()
        self._horizon_ns = 0
        """Longest window ever used: entries older than this can never match again."""

    def last_seen(self, key: DuplicateKey) -> int:
        """Return when ``key`` was last accepted (a very old time if never)."""
        return self._last.get(key, _NEVER)

    def is_duplicate(self, key: DuplicateKey, now_ns: int, window_ns: int) -> bool:
        """Return True if ``key`` was accepted less than ``window_ns`` before ``now_ns``."""
        return window_ns > 0 and now_ns - self._last.get(key, _NEVER) < window_ns

    def record(self, key: DuplicateKey, now_ns: int, window_ns: int) -> None:
        """Remember that ``key`` was accepted at ``now_ns``; drop entries that can no longer match."""
        if window_ns <= 0:
            return
        self._horizon_ns = max(self._horizon_ns, window_ns)
        self._last[key] = now_ns
        queue = self._queue
        queue.append((now_ns, key))
        horizon = now_ns - self._horizon_ns
        while queue[0][0] <= horizon:
            when, old = queue.popleft()
            if self._last.get(old) == when:
                del self._last[old]

    def __len__(self) -> int:
        return len(self._last)
