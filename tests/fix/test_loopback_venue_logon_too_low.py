"""The venue's Logon numbered too low, against the QuickFIX acceptor over loopback (fixlogon56).

The acceptor's numbers go back (``setNextSenderMsgSeqNum``: a venue restarted without its store) while the link is
down. Its next Logon is below the number we expect: before fixlogon56 the gateway answered Logout "MsgSeqNum too
low" and reconnected on its backoff for ever (WARNING lines only; the rev56fix review counted 14 tries in 14 s), and
``set-seq --next-target`` could not go down. Now: one Logon, LOGIN_REFUSED, the connector stops, one ERROR with both
numbers; ``set_sequence_numbers(..., lower_target=True)`` and ``reconnect`` log on, and the venue's fill numbered
below the old numbering's high water reaches the order (a new exactly-once epoch). Real FixVenue + VenueConnector.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.venue_events import VenueAccepted, VenueExecuted, VenueState
from venues.connector import VenueConnector
from venues.fix.fields import MsgType
from venues.fix.session import FixSessionState

from .helpers import make_order
from .live import GatewaySide, running_simulator, wait_until

pytestmark = pytest.mark.timeout(90)


async def test_venue_logon_when_its_numbers_went_back_then_login_refused_once_and_lowered_target_logs_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        side = await GatewaySide(sim, tmp_path / "store").start()
        refs = [side.send(make_order(order_id)) for order_id in range(1, 9)]
        await wait_until(lambda: sum(isinstance(e, VenueAccepted) for e in side.events) == 8, 15.0, "8 acks")
        for ref in refs[1:]:  # all but order 1 filled and done: the venue's numbers run up to 16
            assert sim.execute(ref, 100)
        await wait_until(lambda: sum(isinstance(e, VenueExecuted) for e in side.events) == 7, 15.0, "7 fills")
        side.recorder.events.clear()
        await side.connector.stop()  # the link drops (no Logout)
        high_water = side.venue.sequence.high_water
        expected = side.venue.session.next_target_seq
        assert high_water >= 16 and expected > high_water
        sim.set_next_sender_seq(1)  # the venue restarted its numbers (no ResetSeqNumFlag at its next Logon)
        connector = VenueConnector(side.venue, "127.0.0.1", sim.port, after_input=side.venue.flush)
        side.connector = connector
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            side.task = connector.start()
            await wait_until(lambda: side.venue.state is VenueState.LOGIN_REFUSED, 10.0, "LOGIN_REFUSED")
            task = side.task
            await wait_until(task.done, 5.0, "the connector to stop")  # before: it reconnected every 50..300 ms
        assert connector.connections == 1
        assert side.venue.session.state is FixSessionState.LOGIN_REFUSED
        errors = [r.getMessage() for r in caplog.records if "LOGON REFUSED" in r.getMessage()]
        assert len(errors) == 1, errors
        assert f"the venue's Logon carried MsgSeqNum 1, below the {expected} we expect from it" in errors[0]
        (logout,) = sim.messages("in", MsgType.LOGOUT)
        assert logout.get(b"58") == f"MsgSeqNum too low, expecting {expected} but received 1".encode()
        status = side.venue.status()
        assert status["login_refused_by"] == "gateway" and status["login_refused_logon_seq"] == 1
        assert side.venue.session_counters()["venue_logons_too_low"] == 1

        # the venue desk confirms its numbering restarted: the operator accepts it, then reconnects
        assert "below the MsgSeqNum expected" in side.venue.set_sequence_numbers(0, 1)
        assert side.venue.set_sequence_numbers(0, 1, lower_target=True) == ""
        assert side.venue.reconnect() and connector.restart()
        await side.wait_up(10.0)
        assert sim.execute(refs[0], 30)
        await wait_until(lambda: any(isinstance(e, VenueExecuted) for e in side.events), 10.0, "the fill")
        (fill,) = [e for e in side.events if isinstance(e, VenueExecuted)]
        assert (fill.order_id, fill.qty) == (1, 30)
        assert fill.venue_seq <= high_water  # numbered again: a repeat for the old numbering, new for the new one
        await side.stop()
