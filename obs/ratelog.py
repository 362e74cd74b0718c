"""Rate-limited logging for events a peer can repeat without bound (bad input, unknown references).

Two policies, each counting per key:

* ``IntervalLog``: the first occurrence, then at most one line per key per interval; the next
  line logged says how many were suppressed. Needs the caller's clock.
* ``PowerOfTwoLog``: the 1st, 2nd, 4th, 8th... occurrence of each key, with the count so far.
  Needs no clock. ``is_power_of_two`` is the same policy for a count the caller keeps itself.

Records name the caller of ``log`` as their origin (``stacklevel``), not this module.
"""

from __future__ import annotations

import logging


def is_power_of_two(count: int) -> bool:
    """Return True on the 1st, 2nd, 4th, 8th... occurrence (``count`` counts from 1)."""
    return count & (count - 1) == 0


class IntervalLog:
    """Log one line per key per ``every_ns``, counting what was suppressed in between."""

    __slots__ = ("_last", "_logger", "_suppressed", "every_ns")

    def __init__(self, logger: logging.Logger, every_ns: int = 10_000_000_000) -> None:
        self._logger = logger
        self.every_ns = every_ns
        self._last: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, key: str, now_ns: int, level: int, text: str, *args: object) -> None:
        """Log ``text % args`` unless ``key`` was logged less than ``every_ns`` ago."""
        last = self._last.get(key)
        if last is not None and now_ns - last < self.every_ns:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last[key] = now_ns
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            text += " (%d similar lines suppressed)"
            args = (*args, suppressed)
        self._logger.log(level, text, *args, stacklevel=2)


class PowerOfTwoLog:
    """Log the 1st, 2nd, 4th, 8th... occurrence of each key, with the count so far."""

    __slots__ = ("_logger", "counts")

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self.counts: dict[str, int] = {}
        """Occurrences so far, by key."""

    def log(self, key: str, level: int, text: str, *args: object) -> int:
        """Count ``key``; on a power of two log ``text % args`` and " (N so far)"; return the count."""
        count = self.counts[key] = self.counts.get(key, 0) + 1
        if count & (count - 1) == 0:
            self._logger.log(level, text + " (%d so far)", *args, count, stacklevel=2)
        return count
