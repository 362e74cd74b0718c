"""The descriptor budget: the soft limit raised at start, the watch that warns and counts near the limit."""

from __future__ import annotations

import resource
import subprocess
import sys

from gateway.descriptors import RELOG_NS, DescriptorWatch, hello_backlog, open_descriptors, raise_descriptor_limit

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
    assert watch.check(-1, 2 * RELOG_NS) == "" and watch.open == 90  # /proc unreadable: nothing changes


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
