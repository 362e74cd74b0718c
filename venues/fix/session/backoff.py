"""Reconnect delays: exponential backoff between a floor and a ceiling, optionally bounded."""

from __future__ import annotations

import msgspec


class ReconnectBackoff(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Delay before reconnect attempt ``n``: ``initial * 2**(n-1)`` capped at ``maximum``.

    Deterministic (no jitter): one gateway process holds one session per venue, so there
    is no herd to spread out.
    """

    initial_ms: int = 500
    maximum_ms: int = 30_000
    max_attempts: int = 0
    """Give up after this many failed attempts in a row (0 = never)."""

    def delay_ns(self, attempt: int) -> int | None:
        """Return ns to wait before attempt ``attempt`` (1-based), or None to stop trying."""
        if self.max_attempts and attempt > self.max_attempts:
            return None
        exponent = min(max(attempt - 1, 0), 30)
        return min(self.initial_ms * (1 << exponent), self.maximum_ms) * 1_000_000
