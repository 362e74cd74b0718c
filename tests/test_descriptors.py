"""The descriptor budget: the soft limit raised at start, the watch that warns and counts near the limit."""

from __future__ import annotations

import logging
import resource
import subprocess
import sys

import pytest

from gateway.descriptors import (
    RELOG_NS,
    SYSTEM_TABLE_FULL,
    TABLE_FULL,
    UNREADABLE,
    DescriptorWatch,
    hello_backlog,
    open_descriptors,
    raise_descriptor_limit,
)
from gateway.server import HelloBacklog

S = 1_000_000_000


def test_watch_when_the_count_rises_past_80_percent_then_one_episode_and_one_warning_a_minute() -> None:
    watch = DescriptorWatch(100)
    assert watch.check(79, 0) == "" and watch.near_limit == 0
    warning = watch.check(80, 1 * S)
    assert warning.startswith("80 file descriptors open of the limit 100 (80 %; 1 rise(s) past 80 %")
    assert "raise LimitNOFILE=" in warning and watch.near_limit == 1
    assert watch.check(95, 2 * S) == "" and watch.near_limit == 1  # the same episode, within the minute
    assert watch.check(75, 3 * S) == "" and watch.check(85, 4 * S) == ""  # above 70 %: not over, not counted again
    assert watch.near_limit == 1
    assert watch.check(60, 5 * S) == ""  # below 70 %: over
    assert watch.check(90, 6 * S) == "" and watch.near_limit == 2  # counted, but the warning waits for the minute
    again = watch.check(90, 1 * S + RELOG_NS)
    assert again.startswith("90 file descriptors open of the limit 100 (90 %; 1 rise(s) past 80 %")
    assert (watch.open, watch.peak) == (90, 95)
    assert watch.check(UNREADABLE, 2 * RELOG_NS) == "" and watch.open == 90  # /proc unreadable: nothing changes


def test_watch_when_counting_fails_for_a_full_table_then_at_the_limit_warned_and_counted() -> None:
    """rev48ops HIGH: at a full table listing /proc/self/fd fails (EMFILE); the watch took that as "unknown"."""
    watch = DescriptorWatch(60)
    assert watch.check(20, 0) == ""
    warning = watch.check(TABLE_FULL, 1 * S)
    assert warning.startswith(
        "60 file descriptors open of the limit 60 (100 %: the descriptor table is full: counting them failed with "
        "EMFILE; 1 rise(s) past 80 %"
    ), warning
    assert (watch.open, watch.peak, watch.near_limit) == (60, 60, 1)
    assert watch.check(TABLE_FULL, 2 * S) == "" and watch.near_limit == 1  # the same episode, said once
    assert watch.check(20, 3 * S) == ""  # over
    assert watch.check(50, 4 * S) == "" and watch.near_limit == 2  # a rise to 83 %, within the minute: not said
    again = watch.check(SYSTEM_TABLE_FULL, 5 * S)  # full within the minute: said at once all the same
    assert "(100 %: the system's file table is full: counting them failed with ENFILE; 1 rise(s)" in again, again
    assert watch.near_limit == 2 and watch.peak == 60


def test_open_descriptors_when_the_table_is_full_then_table_full() -> None:
    code = (
        "import os, resource\n"
        "from gateway.descriptors import open_descriptors\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "held = []\n"
        "while True:\n"
        "    try:\n"
        "        held.append(os.open('/dev/null', os.O_RDONLY))\n"
        "    except OSError:\n"
        "        break\n"
        "full = open_descriptors()\n"
        "os.close(held.pop())\n"
        "print(full, open_descriptors())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == [str(TABLE_FULL), "63"]  # full: TABLE_FULL (was -1, ignored); one free: counted


def test_hello_backlog_when_the_limit_is_small_then_a_quarter_of_it() -> None:
    assert hello_backlog(64, 1 << 20) == 64
    assert hello_backlog(64, 48) == 12
    assert hello_backlog(64, 2) == 1


def test_open_descriptors_counts_this_process() -> None:
    before = open_descriptors()
    with open(__file__, "rb"):
        assert open_descriptors() == before + 1


def test_raise_when_the_soft_limit_is_below_the_hard_then_raised_to_it() -> None:
    code = (
        "import resource\n"
        "from gateway.descriptors import raise_descriptor_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "limit = raise_descriptor_limit()\n"
        "print(limit.before, limit.soft == resource.getrlimit(resource.RLIMIT_NOFILE)[0], limit.describe())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    before, same, text = out.split(" ", 2)
    assert before == "64" and same == "True"
    assert text.startswith("descriptor limit ") and "raised from 64 to the hard limit" in text


def test_raise_when_already_at_the_hard_limit_then_unchanged_and_said_so() -> None:
    limit = raise_descriptor_limit()  # the test process: at the hard limit once raised
    again = raise_descriptor_limit()
    assert again.before == again.soft == limit.soft == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert "raise LimitNOFILE= for more" in again.describe()


class _Link:
    """A connection waiting for its Hello, as ``HelloBacklog`` sees it (idle: nothing unread)."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def has_unread_bytes(self) -> bool:
        return False

    def descriptor(self) -> int:
        return 10

    def refuse(self, code: str, text: str) -> None:
        self.refused.append(code)


def test_eviction_log_when_a_burst_ends_then_the_timer_says_the_rest_within_10_s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rev48ops LOW: "1 strategy connections closed" while 16 were; the rest waited for an eviction that never came."""
    now = [0]
    backlog = HelloBacklog(2, lambda: now[0])
    links = [_Link() for _ in range(18)]
    with caplog.at_level(logging.WARNING, logger="gateway.server"):
        for link in links:  # a burst: 16 closed within the same second
            backlog.opened(link)  # type: ignore[arg-type]
        assert backlog.evicted == 16 and sum(bool(link.refused) for link in links) == 16
        lines = [r.getMessage() for r in caplog.records if "strategy connections closed" in r.getMessage()]
        assert len(lines) == 1 and lines[0].startswith("1 strategy connections closed (TOO_MANY_CONNECTIONS)")
        now[0] = 9 * S
        backlog.flush_log()  # within the 10 s: nothing yet
        assert len([r for r in caplog.records if "strategy connections closed" in r.getMessage()]) == 1
        now[0] = 10 * S
        backlog.flush_log()  # the gateway's timer, every second: no further eviction needed
        backlog.flush_log()
    lines = [r.getMessage() for r in caplog.records if "strategy connections closed" in r.getMessage()]
    assert len(lines) == 2 and lines[1].startswith("15 strategy connections closed (TOO_MANY_CONNECTIONS)"), lines
