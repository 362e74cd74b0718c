"""Rate-limited logging for bad input: the first occurrence, then at most one line per interval."""

from __future__ import annotations

import logging


class RareLog:
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
        self._logger.log(level, text, *args)
