"""BOE: Cboe's answers to the Cancels a standby's replay owed are logged one in full a second, the rest summed (boe56).

A standby host started with a fresh journal logs in to a session carrying the primary's day (ops guide section 6):
every order Cboe shows working is canceled there, and Cboe answers each Cancel. Before boe56 each answer was one
INFO line (``Cboe answered the Cancel the gateway sent after ...``): a 50,000-message replay wrote tens of
thousands of lines (boestate55's repro: 1,760). Now one such line is logged in full per second; the others are
counted and said in one summary line, before the next line in full or from the adapter's timer once the burst ends.

The sans-IO BOE simulator replays the day through a real engine (fake clock), as tests/boe/test_replay_state_writes.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.boe.harness import gateway_over
from tests.boe.test_modify_up_crossed_by_fill import _link
from tests.boe.test_replay_state_writes import _primary_day

ORDERS = 1_000
FULL = "Cboe answered the Cancel the gateway sent"
SUMMARY = "Cboe answered %d more Cancels"
NS_PER_S = 1_000_000_000


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "venues.boe.adapter" and text in str(r.msg)]


def test_standby_replay_when_cboe_answers_a_thousand_cancels_then_one_line_in_full_and_one_summary_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    link = _link(tmp_path)
    _primary_day(link, ORDERS, canceled=lambda i: i % 10 != 0)  # 900 Cancelled in the replay, 100 refused after it
    engine, _rig = gateway_over(link, tmp_path / "journal")  # a fresh journal: it never created any of them
    link.connect()
    engine.flush()
    status = link.venue.status()
    assert status["state"] == "UP" and status["late_cancels_waiting"] == 0  # every Cancel owed answered
    full = _lines(caplog, FULL)
    assert len(full) == 1, len(full)  # old: 1,000 INFO lines, one per answer
    assert full[0].levelno == logging.INFO and "finding the order unknown here" in full[0].getMessage()
    assert _lines(caplog, SUMMARY) == []  # within the second: counted, not said yet
    link.clock.advance(NS_PER_S)
    link.poll()  # the adapter's timer: the burst is over, its count is said
    engine.flush()
    (summary,) = _lines(caplog, SUMMARY)
    assert summary.levelno == logging.INFO
    assert summary.args is not None and tuple(summary.args)[1:] == (0, ORDERS - 1), summary.getMessage()
    assert "not logged one by one" in summary.getMessage()
    link.clock.advance(NS_PER_S)
    link.poll()
    assert len(_lines(caplog, SUMMARY)) == 1 and len(_lines(caplog, FULL)) == 1  # nothing more to say
    assert len([r for r in caplog.records if r.name == "venues.boe.adapter"]) < 150  # old: over 1,100


def test_answers_when_they_come_a_second_apart_then_each_is_logged_in_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    link = _link(tmp_path)
    _primary_day(link, 1, canceled=lambda i: True)
    engine, _rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    engine.flush()
    link.clock.advance(NS_PER_S)
    link.poll()
    assert len(_lines(caplog, FULL)) == 1 and _lines(caplog, SUMMARY) == []  # one answer: its line, no summary
