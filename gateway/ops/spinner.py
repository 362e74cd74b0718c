"""Keep the event loop polling without blocking for a while after activity (an event-loop busy poll).

While a callback is ready, both the stdlib loop and uvloop poll for I/O with a zero
timeout instead of sleeping in ``epoll_wait``: asyncio's ``_run_once`` uses timeout 0
when ``_ready`` is not empty, and uvloop keeps a libuv idle handle active, which makes
``uv_run`` poll with timeout 0. A callback that re-schedules itself with
``loop.call_soon`` therefore turns the loop into a busy poll, and the next packet is
picked up without a wake-up from sleep (scheduler latency, C-state exit).

``kick()`` (the core calls it after every socket read) records the activity and starts
spinning if it is not already; the spin stops ``budget_us`` after the last kick.
Budget -1 spins for ever (from ``start()``); 0 never spins and ``kick`` only records
the time (the GC controller uses it to find quiet periods).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from model.clock import NowNs, monotonic_ns

SPIN_FOREVER = -1


class LoopSpinner:
    """Spin ``loop`` for ``budget_us`` after each ``kick()``; counts iterations and time spent spinning."""

    def __init__(self, loop: asyncio.AbstractEventLoop, budget_us: int, clock: NowNs = monotonic_ns) -> None:
        if budget_us < SPIN_FOREVER:
            raise ValueError(f"spin budget must be >= -1 microseconds, got {budget_us}")
        self._loop = loop
        self._clock = clock
        self.budget_us = budget_us
        self._budget_ns = budget_us * 1000
        self._forever = budget_us == SPIN_FOREVER
        self._handle: asyncio.Handle | None = None
        self._spin_start_ns = 0
        self.last_activity_ns = clock()
        self.kicks = 0
        self.iterations = 0
        """Loop iterations spent polling with a zero timeout."""
        self.episodes = 0
        """Completed spin periods (kick to budget expiry)."""
        self.spin_ns = 0
        """Time spent in completed spin periods."""

    @property
    def spinning(self) -> bool:
        """Return True while the loop is being kept busy."""
        return self._handle is not None

    def start(self) -> None:
        """Begin spinning now if the budget is -1 (spin for ever); otherwise do nothing."""
        if self._forever and self._handle is None:
            self._spin_start_ns = self._clock()
            self._handle = self._loop.call_soon(self._spin)

    def kick(self) -> None:
        """Record socket activity and spin for the budget from now (hot path: no allocation when spinning)."""
        now = self._clock()
        self.last_activity_ns = now
        self.kicks += 1
        if self._handle is None and self._budget_ns > 0:
            self._spin_start_ns = now
            self._handle = self._loop.call_soon(self._spin)

    def _spin(self) -> None:
        now = self._clock()
        if self._forever or now - self.last_activity_ns < self._budget_ns:
            self.iterations += 1
            self._handle = self._loop.call_soon(self._spin)
            return
        self._handle = None
        self.episodes += 1
        self.spin_ns += now - self._spin_start_ns

    def stop(self) -> None:
        """Stop spinning (at shutdown); counts the running period."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self.episodes += 1
            self.spin_ns += self._clock() - self._spin_start_ns

    def status(self) -> dict[str, Any]:
        """Return JSON-able counters for ``gateway status``."""
        return word_status(self.status_raw())

    def status_raw(self) -> tuple[int, bool, bool, int, int, int, int]:
        """Return what ``status`` says as plain numbers, nothing formatted (``word_status`` words them)."""
        running_ns = self._clock() - self._spin_start_ns if self._handle is not None else 0
        return (
            self.budget_us,
            self._forever,
            self.spinning,
            self.kicks,
            self.iterations,
            self.episodes,
            self.spin_ns + running_ns,
        )


def word_status(raw: Sequence[Any]) -> dict[str, Any]:
    """Return the ``LoopSpinner.status`` document from ``LoopSpinner.status_raw`` (or its decoded copy)."""
    budget_us, forever, spinning, kicks, iterations, episodes, spin_ns = raw
    if forever:
        mode = "always"
    elif budget_us > 0:
        mode = f"{budget_us} us after activity"
    else:
        mode = "off"
    return {
        "budget_us": budget_us,
        "mode": mode,
        "spinning": spinning,
        "kicks": kicks,
        "iterations": iterations,
        "episodes": episodes,
        "spin_ms": round(spin_ns / 1e6, 3),
    }
