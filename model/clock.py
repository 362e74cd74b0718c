"""Clocks: every sans-IO component takes ``now_ns`` from one of these, never from the OS directly."""

from __future__ import annotations

import time
from collections.abc import Callable

NowNs = Callable[[], int]
"""A function returning monotonic nanoseconds."""

monotonic_ns: NowNs = time.monotonic_ns
"""The production clock: CLOCK_MONOTONIC in nanoseconds (comparable across processes on one host)."""


class FakeClock:
    """A manually advanced clock for deterministic tests of timers and throttles."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> int:
        """Move time forward by ``ns`` and return the new time."""
        self.now += ns
        return self.now

    def advance_ms(self, ms: float) -> int:
        """Move time forward by ``ms`` milliseconds and return the new time."""
        return self.advance(int(ms * 1_000_000))
