"""The two log-throttling policies every layer uses (``obs.ratelog``)."""

from __future__ import annotations

import logging

import pytest

from obs.ratelog import IntervalLog, PowerOfTwoLog, TallyLog, is_power_of_two

SECOND = 1_000_000_000


@pytest.fixture
def logger(caplog: pytest.LogCaptureFixture) -> logging.Logger:
    caplog.set_level(logging.INFO, logger="test.ratelog")
    return logging.getLogger("test.ratelog")


def test_is_power_of_two_when_counting_from_1_then_true_on_1_2_4_8() -> None:
    assert [n for n in range(1, 20) if is_power_of_two(n)] == [1, 2, 4, 8, 16]


def test_interval_log_when_repeated_within_interval_then_one_line_and_the_next_counts_suppressed(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    rare = IntervalLog(logger, every_ns=10 * SECOND)
    for i in range(5):
        rare.log("bad", i * SECOND, logging.WARNING, "bad input %d", i)
    rare.log("other", 0, logging.INFO, "another key")
    rare.log("bad", 12 * SECOND, logging.WARNING, "bad input %d", 12)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "bad input 0"),
        (logging.INFO, "another key"),
        (logging.WARNING, "bad input 12 (4 similar lines suppressed)"),
    ]
    assert {r.filename for r in caplog.records} == {"test_ratelog.py"}  # the caller, not obs/ratelog.py


def test_power_of_two_log_when_repeated_then_lines_at_1_2_4_8_with_the_count(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    rare = PowerOfTwoLog(logger)
    counts = [rare.log("unknown", logging.WARNING, "venue %s: unknown ref %d", "V1", i) for i in range(1, 10)]
    rare.log("decode", logging.WARNING, "undecodable")
    assert counts == list(range(1, 10))
    assert [r.getMessage() for r in caplog.records] == [
        "venue V1: unknown ref 1 (1 so far)",
        "venue V1: unknown ref 2 (2 so far)",
        "venue V1: unknown ref 4 (4 so far)",
        "venue V1: unknown ref 8 (8 so far)",
        "undecodable (1 so far)",
    ]
    assert rare.counts == {"unknown": 9, "decode": 1}
    assert {r.filename for r in caplog.records} == {"test_ratelog.py"}  # the caller, not obs/ratelog.py


def test_tally_log_when_events_come_in_a_burst_then_one_line_now_and_the_rest_when_the_interval_ends() -> None:
    tally = TallyLog(2, every_ns=10)
    assert tally.due(0) is None  # nothing pending: no line, and no interval started
    tally.add(1)
    assert tally.due(5) == [0, 1]  # the first one is said at once
    tally.add(0)
    tally.add(0)
    tally.add(1)
    assert tally.due(14) is None  # within 10 ns of the last line: kept
    assert tally.due(15) == [2, 1]  # the timer's call says the rest without a further event
    assert tally.due(100) is None  # all said
    assert tally.pending == [0, 0]
