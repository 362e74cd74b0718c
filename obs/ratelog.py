"""Rate-limited logging for events a peer can repeat without bound (bad input, unknown references).

Two policies, each counting per key:

* ``IntervalLog``: the first occurrence, then at most one line per key per interval; the next
  line logged says how many were suppressed. Needs the caller's clock.
* ``PowerOfTwoLog``: the 1st, 2nd, 4th, 8th... occurrence of each key, with the count so far.
  Needs no clock. ``is_power_of_two`` is the same policy for a count the caller keeps itself.
* ``WindowLog``: every occurrence, up to ``per_window`` per key per window; past it one line says the rest
  of the window is not logged one by one (and where it is), and the next line logged says how many were not.
  Needs the caller's clock. For events each of which matters (a late fill is money).
* ``TallyLog``: counts of one or more kinds of an event, said together in one line at most once per interval;
  the caller words the line and also asks from a timer, so the count of a burst that ends is said within the
  interval even when no further event comes. Needs the caller's clock.

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


class WindowLog:
    """Log every occurrence of a key, up to ``per_window`` per ``window_ns``; past it, one line saying so."""

    __slots__ = ("_counts", "_logger", "_starts", "_unlogged", "per_window", "where", "window_ns")

    def __init__(
        self, logger: logging.Logger, where: str, per_window: int = 10, window_ns: int = 1_000_000_000
    ) -> None:
        self._logger = logger
        self.where = where
        """Where an occurrence that was not logged can be found (a counter, the journal)."""
        self.per_window = per_window
        self.window_ns = window_ns
        self._starts: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._unlogged: dict[str, int] = {}

    def log(self, key: str, now_ns: int, level: int, text: str, *args: object) -> bool:
        """Log ``text % args`` unless ``key`` had ``per_window`` lines in this window; return True if logged."""
        start = self._starts.get(key)
        if start is None or now_ns - start >= self.window_ns:
            self._starts[key] = now_ns
            self._counts[key] = 0
        count = self._counts[key] = self._counts[key] + 1
        if count <= self.per_window:
            unlogged = self._unlogged.pop(key, 0)
            if unlogged:
                text += " (%d earlier ones were not logged one by one: %s)"
                args = (*args, unlogged, self.where)
            self._logger.log(level, text, *args, stacklevel=2)
            return True
        self._unlogged[key] = self._unlogged.get(key, 0) + 1
        if count == self.per_window + 1:
            self._logger.log(
                level,
                "%s: more than %d within %d ms: the rest of them until %d ms after the first are not logged one by "
                "one (%s); the next one logged says how many were not",
                key,
                self.per_window,
                self.window_ns // 1_000_000,
                self.window_ns // 1_000_000,
                self.where,
                stacklevel=2,
            )
        return False


class TallyLog:
    """Tally events of ``kinds`` kinds; hand the counts over for one line at most once per ``every_ns``."""

    __slots__ = ("_logged_ns", "every_ns", "pending")

    def __init__(self, kinds: int = 1, every_ns: int = 10_000_000_000) -> None:
        self.every_ns = every_ns
        self.pending = [0] * kinds
        """The counts not said yet, by kind."""
        self._logged_ns: int | None = None

    def add(self, kind: int = 0) -> None:
        """Count one event of ``kind``."""
        self.pending[kind] += 1

    def due(self, now_ns: int) -> list[int] | None:
        """Return the counts to say now and start new ones; None if none is pending or the last line is too recent."""
        pending = self.pending
        if not any(pending) or (self._logged_ns is not None and now_ns - self._logged_ns < self.every_ns):
            return None
        self._logged_ns = now_ns
        self.pending = [0] * len(pending)
        return pending
