"""The process's file-descriptor budget: the limit raised at start, the count watched, a bound on idle connections.

Out of descriptors, the event loop's ``accept`` fails with EMFILE and libuv accepts and closes the
connection itself (its reserve-descriptor trick): a strategy's connect then ends in EPIPE/ECONNRESET with no
Error frame and nothing the gateway sees. So the start raises ``RLIMIT_NOFILE``'s soft limit to the hard
limit, the strategy server bounds the connections that have not sent Hello (``hello_backlog``), and a
timer compares the descriptors open with the limit (``DescriptorWatch``), logs and counts when they near it.
"""

from __future__ import annotations

import errno
import os
import resource
from dataclasses import dataclass
from typing import Final

NEAR_LIMIT: Final = 0.8
"""Descriptors open, as a share of the limit, at which the watch warns (and counts one episode)."""
CLEAR_LIMIT: Final = 0.7
"""Below this share an episode is over: the next rise past ``NEAR_LIMIT`` counts again."""
RELOG_NS: Final = 60_000_000_000
"""The warning is repeated at most once a minute while the count stays near the limit."""
UNLIMITED_TARGET: Final = 1 << 20
"""The soft limit asked for when the hard limit is unlimited (the kernel's usual ``fs.nr_open``)."""
CHECK_S: Final = 1.0
"""How often the gateway counts its descriptors (``/proc/self/fd``; off the order path)."""


@dataclass(frozen=True, slots=True)
class DescriptorLimit:
    """The soft limit before and after the start raised it, and the hard limit (``RLIM_INFINITY``: -1)."""

    before: int
    soft: int
    hard: int
    problem: str = ""
    """Why the soft limit could not be raised ("": it was, or was at the hard limit already)."""

    def describe(self) -> str:
        """Return the start-up log line's text."""
        hard = "unlimited" if self.hard == resource.RLIM_INFINITY else str(self.hard)
        if self.problem:
            return f"descriptor limit {self.soft} (hard {hard}): could not raise it: {self.problem}"
        if self.soft > self.before:
            return f"descriptor limit {self.soft}: raised from {self.before} to the hard limit {hard}"
        return f"descriptor limit {self.soft} (the hard limit {hard}; raise LimitNOFILE= for more)"


def raise_descriptor_limit() -> DescriptorLimit:
    """Raise ``RLIMIT_NOFILE``'s soft limit to the hard limit; return both (a failure leaves it as it was)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            return DescriptorLimit(soft, soft, hard, f"{type(exc).__name__}: {exc}")
        return DescriptorLimit(soft, target, hard)
    return DescriptorLimit(soft, soft, hard)


UNREADABLE: Final = -1
"""``open_descriptors``: ``/proc/self/fd`` could not be read (no /proc): nothing known."""
TABLE_FULL: Final = -2
"""``open_descriptors``: listing ``/proc/self/fd`` failed with EMFILE: no descriptor was free, the table is full."""
SYSTEM_TABLE_FULL: Final = -3
"""``open_descriptors``: listing failed with ENFILE: the system's file table is full (no process can open one)."""
_FULL_REASONS: Final = {
    TABLE_FULL: "the descriptor table is full: counting them failed with EMFILE",
    SYSTEM_TABLE_FULL: "the system's file table is full: counting them failed with ENFILE",
}


def open_descriptors() -> int:
    """Return how many descriptors the process has open, or ``UNREADABLE``, ``TABLE_FULL``, ``SYSTEM_TABLE_FULL``.

    Listing ``/proc/self/fd`` takes a descriptor itself: at a full table it fails, and that failure is the count.
    """
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listdir opened
    except OSError as exc:
        if exc.errno == errno.EMFILE:
            return TABLE_FULL
        if exc.errno == errno.ENFILE:
            return SYSTEM_TABLE_FULL
        return UNREADABLE


def hello_backlog(configured: int, limit: int) -> int:
    """Return the bound on connections that have not sent Hello: ``configured``, at most a quarter of ``limit``."""
    return max(1, min(configured, limit // 4))


class DescriptorWatch:
    """Tell when the descriptors open near the limit: one counted episode per rise, a warning at most once a minute."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.peak = 0
        self.near_limit = 0
        """Episodes: times the count rose past ``NEAR_LIMIT`` of the limit (after being below ``CLEAR_LIMIT``)."""
        self._near = False
        self._logged_ns: int | None = None
        self._unlogged = 0
        self._full_said = False
        """This episode's warning said the table was full (a full table is said at once, minute or not)."""

    def check(self, count: int, now_ns: int) -> str:
        """Note ``count`` descriptors open at ``now_ns``; return the warning to log now ("": none).

        ``TABLE_FULL`` or ``SYSTEM_TABLE_FULL`` counts as the limit itself (the warning says why); ``UNREADABLE``
        changes nothing.
        """
        full = _FULL_REASONS.get(count, "")
        if full:
            count = self.limit
        elif count < 0:
            return ""
        self.open = count
        self.peak = max(self.peak, count)
        if count < self.limit * CLEAR_LIMIT:
            self._near = False
            self._full_said = False
            return ""
        if count < self.limit * NEAR_LIMIT:
            return ""
        if not self._near:
            self._near = True
            self.near_limit += 1
            self._unlogged += 1
        if self._logged_ns is not None and now_ns - self._logged_ns < RELOG_NS and (self._full_said or not full):
            return ""
        self._logged_ns = now_ns
        self._full_said = self._full_said or bool(full)
        episodes, self._unlogged = self._unlogged, 0
        return (
            f"{count} file descriptors open of the limit {self.limit} ({count * 100 // self.limit} %"
            f"{': ' + full if full else ''}; "
            f"{episodes} rise(s) past {int(NEAR_LIMIT * 100)} % since the last warning): at the limit new strategy "
            "and venue connections fail (a strategy's connect is reset with no Error frame); find what holds them "
            "(idle connections, a leak) or raise LimitNOFILE= (docs/ops-guide.md, descriptor budget)"
        )
