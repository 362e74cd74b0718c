"""OUCH orders whose live UserRefNum is in doubt: no Replace that the venue may silently ignore (fixouch36).

OUCH silently ignores a Replace whose original UserRefNum is not live (and does not consume its new number):
such a Replace is never answered, and a Cancel the core holds behind it never goes out. So while an order's
live number is in doubt (an Enter or Replace whose answer was lost or unreadable) a Replace is refused at
once (CancelRejected ``OUCH_IN_DOUBT``) until a message of the venue names the live number; a readable
Rejected is the reject it is. Also: the orders of a venue session the venue left, and Login Accepted with
sequence number 0. Real engine and journal over the project's OUCH simulator (fake clock).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
    Executed,
    NewOrder,
    OrderAccepted,
    Replace,
    Replaced,
)
from model.clock import FakeClock
from model.enums import Side
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig, SimulatorCore
from tests.harness import MemoryLink, Rig
from tests.ouch.harness import PX, TS, Link, gateway_over, venue_config
from venues.ouch.adapter import OuchVenue
from venues.ouch.refstore import UserRefNumStore
from venues.ouch.soupbin import encode_login_accepted

RESTING = PX - 100


def _gateway(tmp_path: Path, **exchange: object) -> tuple[Link, Engine, Rig, MemoryLink]:
    config = ExchangeConfig(reference_prices={"AAPL": PX}, **exchange)  # type: ignore[arg-type]
    link = Link(
        tmp_path / "ouch", exchange=config, max_refetches=0
    )  # a message that cannot be read: taken as lost at once (the path after max_refetches; see test_refetch.py)
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    return link, engine, rig, strat


def _pump(link: Link, engine: Engine) -> None:
    link.pump()
    engine.flush()


def _answers_lost_in_a_gap(link: Link, engine: Engine) -> None:
    """The venue reads what the gateway sent; its answers are lost in a replay gap at the next login."""
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    link.disconnect()
    link.core.stream.replayable_from = link.core.stream.next_sequence
    link.connect()
    engine.flush()


def _venue_reads(link: Link, engine: Engine) -> None:
    """The venue reads what the gateway sent (its answers are queued, not delivered yet)."""
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()


def _replaces_on_the_wire(link: Link) -> list[tuple[str, str]]:
    return [(r.outcome, str(r.orig_user_ref_num)) for r in link.core.exchange.records if r.type == "U"]


def _resting(link: Link, engine: Engine, rig: Rig, strat: MemoryLink, cl_ord_id: str, qty: int = 300) -> None:
    rig.send(strat, NewOrder(cl_ord_id, "ACC1", "nasdaq", "AAPL", Side.BUY, qty, RESTING))
    _pump(link, engine)
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == [cl_ord_id]


def test_replace_when_a_refused_replaces_answer_was_lost_then_refused_at_once_and_the_cancel_goes_out(
    tmp_path: Path,
) -> None:
    """Fails on the old code: the 2nd Replace named UserRefNum 2 (never live), was ignored, never answered."""
    link, engine, rig, strat = _gateway(tmp_path, reject_replace_symbols=frozenset({"AAPL"}))
    _resting(link, engine, rig, strat, "d1")
    rig.send(strat, Replace("d1", 250, RESTING - 100))
    _answers_lost_in_a_gap(link, engine)  # the venue refused UserRefNum 2; the Rejected is gone
    (doubt,) = [m for m in strat.received() if isinstance(m, CancelRejected)]
    assert doubt.code == "OUCH_IN_DOUBT"

    rig.send(strat, Replace("d1", 200, RESTING - 200))
    _pump(link, engine)
    (refused,) = [m for m in strat.received() if isinstance(m, CancelRejected)]
    assert refused.code == "OUCH_IN_DOUBT"
    assert "cancel" in refused.text
    assert _replaces_on_the_wire(link) == [("rejected:0x0015", "1")]  # the refused one only; nothing new

    rig.send(strat, Cancel("d1"))
    _pump(link, engine)
    (canceled,) = [m for m in strat.received() if isinstance(m, Canceled)]
    assert (canceled.cl_ord_id, canceled.leaves_qty) == ("d1", 0)
    assert not link.core.exchange.orders
    assert link.venue.status()["awaiting_answer"] == 0
    link.disconnect()
    link.connect()  # nothing is sent again at a re-login
    engine.flush()
    assert _replaces_on_the_wire(link) == [("rejected:0x0015", "1")]
    assert link.core.exchange.violations == []


@pytest.mark.parametrize("cut", [True, False])
def test_replace_when_an_undecodable_rejected_names_it_then_answered_as_the_reject_and_the_next_replace_answered(
    tmp_path: Path, cut: bool
) -> None:
    """Fails on the old code: the Rejected was taken as "in doubt" and the next Replace named the dead number 2.

    Cut inside its ClOrdID, the Rejected does not decode but its UserRefNum and reason can be read; with an
    Appendage Length past its end, its fields decode and it is acted on without the appendage (fixouch42).
    """
    link, engine, rig, strat = _gateway(tmp_path, reject_replace_symbols=frozenset({"AAPL"}))
    _resting(link, engine, rig, strat, "u1")
    rig.send(strat, Replace("u1", 250, RESTING - 100))
    _venue_reads(link, engine)
    packet = bytearray(link.core.stream.packets[-1])
    assert packet[3:4] == b"J"
    if cut:  # Type, Timestamp, UserRefNum, Reason and 5 bytes of the ClOrdID
        message = bytes(packet[3 : 3 + 20])
        packet = bytearray(struct.pack(">Hc", len(message) + 1, b"S") + message)
    else:
        packet[3 + 29 : 3 + 31] = b"\xff\xff"  # an appendage length past the end
    link.core.stream.packets[-1] = bytes(packet)
    _pump(link, engine)
    status = link.venue.status()
    assert (status["decode_errors"], status["protocol_errors"]) == ((1, 0) if cut else (0, 1))
    (answer,) = [m for m in strat.received() if isinstance(m, CancelRejected)]
    assert answer.code == "0x0015"
    assert link.venue.status()["in_doubt"] == 0

    rig.send(strat, Replace("u1", 200, RESTING - 200))
    _pump(link, engine)
    (second,) = [m for m in strat.received() if isinstance(m, CancelRejected)]
    assert second.code == "0x0015"  # sent naming UserRefNum 1 (live) and answered
    assert _replaces_on_the_wire(link) == [("rejected:0x0015", "1"), ("rejected:0x0015", "1")]
    rig.send(strat, Cancel("u1"))
    _pump(link, engine)
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, Canceled)] == ["u1"]
    assert link.core.exchange.violations == []


def test_replace_when_a_fill_names_the_doubted_number_then_the_doubt_is_settled_and_the_replace_goes_out(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    _resting(link, engine, rig, strat, "f1")
    rig.send(strat, Replace("f1", 250, RESTING - 100))
    _answers_lost_in_a_gap(link, engine)  # the venue replaced 1 by 2; the Replaced is gone
    assert [m.code for m in strat.received() if isinstance(m, CancelRejected)] == ["OUCH_IN_DOUBT"]
    rig.send(strat, Replace("f1", 240, RESTING - 100))
    _pump(link, engine)
    assert [m.code for m in strat.received() if isinstance(m, CancelRejected)] == ["OUCH_IN_DOUBT"]

    assert link.core.exchange.execute(2, 10)  # the venue names the live number
    _pump(link, engine)
    assert [m.qty for m in strat.received() if isinstance(m, Executed)] == [10]
    rig.send(strat, Replace("f1", 200, RESTING - 200))
    _pump(link, engine)
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, Replaced)] == ["f1"]
    assert _replaces_on_the_wire(link)[-1] == ("replaced", "2")
    assert link.core.exchange.violations == []


def test_replace_when_an_enter_the_venue_rejected_is_in_doubt_then_refused_and_not_sent(tmp_path: Path) -> None:
    """Fails on the old code: the Replace named UserRefNum 1, which the venue never had: ignored, never answered."""
    link, engine, rig, strat = _gateway(tmp_path, reject_symbols=frozenset({"MSFT"}))
    _resting(link, engine, rig, strat, "e0")  # UserRefNum 1
    rig.send(strat, NewOrder("e1", "ACC1", "nasdaq", "MSFT", Side.BUY, 100, RESTING))
    _answers_lost_in_a_gap(link, engine)  # the venue refused UserRefNum 2; the Rejected is gone
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["e1"]  # in doubt

    rig.send(strat, Replace("e1", 50, RESTING))
    _pump(link, engine)
    (refused,) = [m for m in strat.received() if isinstance(m, CancelRejected)]
    assert (refused.cl_ord_id, refused.code) == ("e1", "OUCH_IN_DOUBT")
    assert _replaces_on_the_wire(link) == []


def test_cancel_when_the_venue_changed_session_then_refused_as_unreachable_not_never_sent(tmp_path: Path) -> None:
    """Fails on the old code: CancelRejected OUCH_UNKNOWN_ORDER "order was never sent to OUCH"."""
    link, engine, rig, strat = _gateway(tmp_path)
    _resting(link, engine, rig, strat, "s1")
    link.disconnect()
    link.core = SimulatorCore(
        SimulatorConfig(session="NEXTSESS", exchange=ExchangeConfig(reference_prices={"AAPL": PX})),
        clock=link.clock,
        timestamp=lambda: TS,
    )
    link.venue.resume("", 1)  # a login to the venue's current session (the old one is gone at the venue)
    link.connect()
    engine.flush()
    assert link.venue.state is VenueState.UP

    rig.send(strat, Cancel("s1"))
    _pump(link, engine)
    (answer,) = [m for m in strat.received() if isinstance(m, CancelRejected)]
    assert answer.code == "OUCH_SESSION_CHANGED"
    assert "'OUCHSIM'" in answer.text and "'NEXTSESS'" in answer.text
    rig.send(strat, Replace("s1", 200, RESTING))
    _pump(link, engine)
    assert [m.code for m in strat.received() if isinstance(m, CancelRejected)] == ["OUCH_SESSION_CHANGED"]
    # nothing of the old session is sent to the new one: only the Account Query a session change asks (fixouch50)
    assert [(r.type, r.outcome) for r in link.core.exchange.records] == [("Q", "answered")]


def test_login_accepted_when_the_sequence_number_is_0_then_refused_and_retried_with_backoff(tmp_path: Path) -> None:
    """Fails on the old code: sequence 0 was taken, and the next login asked for one message too early."""
    clock = FakeClock()
    config = venue_config(tmp_path)
    venue = OuchVenue(config, clock, store=UserRefNumStore(tmp_path, config.name, today=lambda: "2024-05-01"))
    closed: list[bool] = []
    venue.attach(lambda data: None, lambda: closed.append(True))
    first_delay = venue.reconnect_delay_ns(1)
    venue.connection_made(clock())

    venue.data_received(encode_login_accepted("S1", 0), clock())
    venue.flush()

    assert venue.state is not VenueState.UP
    assert closed == [True]
    assert venue.status()["protocol_errors"] == 1
    venue.connection_lost(clock())
    delay = venue.reconnect_delay_ns(1)
    assert first_delay is not None and delay is not None and delay > first_delay
    assert venue.reason.endswith("(attempt 2)")  # the second reconnect in a row (fails on the old code: 1)
