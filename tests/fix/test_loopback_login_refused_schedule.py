"""LOGIN_REFUSED under a session schedule: its next start (or the window's end) ends the refusal (fix53).

A venue that refused our Logon as numbered too low (fixfix52: LOGIN_REFUSED) on Monday evening is tried again at
Tuesday's start, as a new trading session with the schedule's reset rules (both numbers restart at 1). Before fix53
only ``gateway venue reconnect`` ended the state: the connector had stopped for good, and the venue stayed down
through every later session day. A window that closes while refused ends the state too (ENDED until the next
start, the requests still unanswered answered as at any session end). ``gateway venue reconnect`` still connects at
once while the connector waits for the schedule. Real FixVenue + VenueConnector against the QuickFIX acceptor over
loopback; the gateway's wall clock is put a few seconds before the window's edge (``wall_offset_ns``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import pytest

from model.clock import monotonic_ns
from model.venue_events import VenueState
from simulators.fix.simulator import FixSimulator
from venues.fix.session import FixSessionState
from venues.fix.session.schedule import SessionSchedule

from .live import GatewaySide, running_simulator, wait_until

pytestmark = pytest.mark.timeout(90)


def _at(side: GatewaySide, wall_ns: int) -> None:
    """Move the gateway's wall clock (schedule, SendingTime, session day) so that now is ``wall_ns``."""
    venue = side.venue
    delta = wall_ns - (monotonic_ns() + venue.session.wall_offset_ns)
    venue.session.wall_offset_ns += delta
    venue._wall_offset_ns += delta


def _tomorrow_at(hour: int, minute: int, second: int) -> int:
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    return int(dt.datetime.combine(day, dt.time(hour, minute, second), dt.UTC).timestamp()) * 1_000_000_000


async def _refused(sim: FixSimulator, store: Path, schedule: SessionSchedule, wall_ns: int) -> GatewaySide:
    """A gateway side whose venue counted 40 more of our messages than our store holds, refused: LOGIN_REFUSED."""
    first = await GatewaySide(sim, store).start()
    await first.stop()
    sim.set_next_target_seq(first.venue.session.store.next_sender_seq + 40)
    side = GatewaySide(sim, store, schedule=schedule)
    _at(side, wall_ns)
    side.task = side.connector.start()
    await wait_until(lambda: side.venue.state is VenueState.LOGIN_REFUSED, 10.0, "LOGIN_REFUSED")
    return side


async def test_login_refused_when_schedule_starts_the_next_session_then_logs_on_with_numbers_reset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daily = SessionSchedule(start_time="17:00:00", end_time="17:00:00")  # 24 hours, a new session at 17:00
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        with caplog.at_level(logging.INFO, logger="venues.fix"):
            side = await _refused(sim, tmp_path / "store", daily, _tomorrow_at(16, 59, 53))
            delay = side.venue.reconnect_delay_ns(1)
            assert delay is not None and delay < 10_000_000_000  # the window's end, + 1 s (before fix53: None)
            status = side.venue.status()
            assert "the session schedule ends the refusal at" in str(status["login_refused_fix"])
            assert "gateway venue set-seq FIXV --next-sender" in str(status["login_refused_fix"])
            # the venue's new session day: QuickFIX's numbers restart at 1 (its own daily reset)
            sim.set_next_target_seq(1)
            sim.set_next_sender_seq(1)
            await side.wait_up(20.0)  # before fix53: the connector had stopped, never UP
            # counted when the connector's task resumes after the connect, which a loaded machine can run after the
            # Logon's answer made the session UP (seen in a fresh-clone run): waited for, not read at once
            await wait_until(lambda: side.connector.connections == 2, 10.0, "the second connection counted")
        assert side.connector.connections == 2
        assert side.states[-3:] == [VenueState.LOGIN_REFUSED, VenueState.LOGGING_IN, VenueState.UP]
        assert side.venue.session.store.next_sender_seq == 2  # the daily reset: our Logon was 1
        assert "last_login_refusal" not in side.venue.status()
        lines = [r.getMessage() for r in caplog.records]
        ended = [line for line in lines if "ends LOGIN_REFUSED" in line]
        assert len(ended) == 1 and "the session schedule's next start" in ended[0], lines
        assert "MsgSeqNum too low" in ended[0]
        assert any("new session day, resetting sequence numbers" in line for line in lines)
        await side.stop()


async def test_login_refused_when_the_window_closes_then_ended_until_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hours = SessionSchedule(start_time="09:00:00", end_time="17:00:00")
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        with caplog.at_level(logging.WARNING, logger="venues.fix"):
            side = await _refused(sim, tmp_path / "store", hours, _tomorrow_at(16, 59, 54))
            await wait_until(lambda: side.venue.state is VenueState.ENDED, 20.0, "ENDED at the window's end")
        assert side.venue.session.state is FixSessionState.ENDED
        assert any("the session window ended while LOGIN_REFUSED" in r.getMessage() for r in caplog.records)
        delay = side.venue.reconnect_delay_ns(1)
        assert delay is not None and 15 * 3600 * 10**9 < delay < 17 * 3600 * 10**9  # tomorrow 09:00, not before
        await side.connector.stop()
        side.venue.close()


async def test_login_refused_when_operator_reconnects_while_waiting_for_the_schedule_then_connects_at_once(
    tmp_path: Path,
) -> None:
    daily = SessionSchedule(start_time="17:00:00", end_time="17:00:00")
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        side = await _refused(sim, tmp_path / "store", daily, _tomorrow_at(12, 0, 0))
        await wait_until(lambda: side.connector.connections == 1 and side.venue.session.close_reason is None, 5.0)
        assert side.task is not None and not side.task.done()  # waiting for 17:00, five hours away
        sim.set_next_target_seq(side.venue.session.next_sender_seq)  # the venue desk expects our number
        assert side.venue.reconnect()
        started = time.monotonic()
        assert side.connector.restart()  # wakes the waiting loop
        await side.wait_up(10.0)
        assert time.monotonic() - started < 10.0
        await wait_until(lambda: side.connector.connections == 2, 10.0, "the second connection counted")  # see above
        await side.stop()
