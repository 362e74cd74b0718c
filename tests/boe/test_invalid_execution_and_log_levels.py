"""BOE (fixboe53, rev53boe s13, s9, s18): an Order Execution of no shares, an unrequested Logout, a replay timeout.

* An Order Execution with LastShares 0 was handed to the core as an execution of nothing, which the engine takes
  for a repeat: logged "execution ... repeated ... not applied again", counted ``repeated_fills``. It is not a
  repeat: it is invalid, a BOE protocol error (``protocol_errors``, a WARNING naming it), and no event.
* A Logout ``!`` (or ``A``) Cboe sends unasked was logged at INFO: now a WARNING (the answer to our Logout Request
  and the end of the day stay INFO).
* A replay without Replay Complete within ``replay_timeout_ms`` was an INFO "disconnecting" only: now a protocol
  error (WARNING, ``protocol_errors``), as a login timeout is.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.clock import FakeClock
from model.venue_events import VenueState
from tests.boe.harness import Link, connected_link
from tests.boe.test_modify_up_crossed_by_fill import _events, _execution, _order_at_cboe, _pump
from venues.boe.adapter import split_ref
from venues.boe.codec import encode_message
from venues.boe.messages import LoginResponse, Logout

MS = 1_000_000


def test_execution_when_last_shares_is_zero_then_a_protocol_error_not_a_repeated_fill(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, strat, order = _order_at_cboe(tmp_path)
    cl_ord_id = split_ref(order.venue_ref)[0]
    caplog.set_level(logging.INFO)
    link.core.streams.append(1, _execution(cl_ord_id, 5_000, 0, 100))
    _pump(link, engine)
    assert engine.counters.repeated_fills == 0  # the old code: 1
    assert link.venue.status()["protocol_errors"] == 1
    assert not [r for r in caplog.records if "repeated" in r.getMessage()]
    [line] = [r for r in caplog.records if "LastShares 0" in r.getMessage()]
    assert line.levelno == logging.WARNING and "ExecID 5000" in line.getMessage() and cl_ord_id in line.getMessage()
    assert order.cum_qty == 0 and order.is_open and _events(strat) == []  # no event for it
    link.core.streams.append(1, _execution(cl_ord_id, 5_001, 10, 90))  # a real one still applies
    _pump(link, engine)
    assert _events(strat)[-1] == ("Executed", 10, 10, 90)


@pytest.mark.parametrize("reason", ["!", "A"])
def test_logout_when_cboe_sends_one_unasked_then_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, reason: str
) -> None:
    link = connected_link(tmp_path)
    caplog.set_level(logging.INFO)
    link.venue.data_received(encode_message(Logout(reason, "protocol violation", 3, ())), link.clock())
    [line] = [r for r in caplog.records if f"Logout {reason!r} from Cboe" in r.getMessage()]
    assert line.levelno == logging.WARNING  # the old code: INFO
    assert "protocol violation" in line.getMessage() and "LastReceivedSequenceNumber 3" in line.getMessage()


def test_logout_when_it_answers_our_request_or_ends_the_day_then_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = connected_link(tmp_path)
    caplog.set_level(logging.INFO)
    link.core.end_of_day(link.clock())
    link.pump()
    assert link.venue.state is VenueState.ENDED
    [line] = [r for r in caplog.records if "Logout 'E' from Cboe" in r.getMessage()]
    assert line.levelno == logging.INFO


def test_replay_when_no_replay_complete_in_time_then_a_protocol_error_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path, replay_timeout_ms=2_000)
    clock = link.clock
    assert isinstance(clock, FakeClock)
    venue = link.venue
    venue.attach(lambda data: None, lambda: None)
    venue.connection_made(clock())
    venue.data_received(encode_message(LoginResponse("A", "Accepted", 0, 0)), clock())
    caplog.set_level(logging.INFO)
    clock.advance(2_000 * MS)
    venue.poll(clock())
    assert venue.status()["protocol_errors"] == 1  # the old code: 0
    lines = [r for r in caplog.records if "no Replay Complete 2000 ms after login" in r.getMessage()]
    [warning] = [r for r in lines if r.levelno == logging.WARNING]  # the old code: the INFO "disconnecting" only
    assert "BOE protocol error" in warning.getMessage()
