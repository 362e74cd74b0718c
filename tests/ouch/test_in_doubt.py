"""OUCH requests whose answer was lost or unreadable: in doubt, never "not received" (fixouch35).

A replay gap at Login Accepted (the venue can no longer send some messages) or an answer that does not
decode can hide that the venue processed an Enter or a Replace. Such a request gets one answer
(an Enter: accepted at its own size and price; a Replace: CancelRejected ``OUCH_IN_DOUBT``, both numbers
kept as candidates for a Cancel), and later messages for the order reach the strategy.
Real engine and journal over the project's OUCH simulator (fake clock); the simulator's stream is told
which messages it can no longer replay (``SequencedStream.replayable_from``).
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
    Executed,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    Replace,
)
from model.clock import FakeClock
from model.enums import Side
from model.venue_events import VenueState
from tests.harness import MemoryLink, Rig
from tests.ouch.harness import PX, Link, gateway_over, venue_config
from venues.ouch.adapter import OuchVenue
from venues.ouch.refstore import UserRefNumStore
from venues.ouch.soupbin import encode_login_accepted

RESTING = PX - 100


def _gateway(tmp_path: Path) -> tuple[Link, Engine, Rig, MemoryLink]:
    link = Link(
        tmp_path / "ouch", max_refetches=0
    )  # a message that cannot be read: taken as lost at once (the path after max_refetches; see test_refetch.py)
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    return link, engine, rig, strat


def _answers_lost_in_a_gap(link: Link, engine: Engine) -> None:
    """The venue reads what the gateway sent, the connection dies before its answers arrive, and the venue
    can no longer replay them: the next Login Accepted starts past them (a replay gap)."""
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    link.disconnect()
    link.core.stream.replayable_from = link.core.stream.next_sequence
    link.connect()
    engine.flush()


def _pump(link: Link, engine: Engine) -> None:
    link.pump()
    engine.flush()


def test_relogin_when_a_new_orders_accepted_was_lost_in_a_replay_gap_then_accepted_in_doubt_and_canceled_there(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    rig.send(strat, NewOrder("g1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    strat.received()
    rig.send(strat, NewOrder("g2", "ACC1", "nasdaq", "AAPL", Side.BUY, 200, RESTING))
    _answers_lost_in_a_gap(link, engine)  # the venue took g2 (UserRefNum 2); its Accepted is gone

    assert link.venue.state is VenueState.UP
    assert link.venue.status()["sequence_gaps"] == 1
    assert link.core.exchange.next_user_ref_num() == 3  # the venue saw UserRefNum 2
    received = strat.received()
    assert [m for m in received if isinstance(m, OrderRejected)] == []
    assert [(m.cl_ord_id, m.qty, m.price) for m in received if isinstance(m, OrderAccepted)] == [("g2", 200, RESTING)]
    assert link.venue.status()["in_doubt"] == 1
    assert link.venue.status()["not_received"] == 0
    # canceled at the venue by its UserRefNum once the session is live, as every in-doubt Enter (ouchid54; before,
    # nothing asked the venue about it: one it never had stayed open here until End of Session)
    assert [r.user_ref_num for r in link.core.exchange.records if r.type == "X"] == [2]
    assert [m.cl_ord_id for m in received if isinstance(m, Canceled)] == ["g2"]  # the venue had it: its Canceled
    assert link.core.exchange.orders[1].open  # g1 untouched
    assert link.core.exchange.violations == []


def test_relogin_when_a_replaces_answer_was_lost_in_a_replay_gap_then_in_doubt_until_a_fill_names_the_live_number(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    rig.send(strat, NewOrder("p1", "ACC1", "nasdaq", "AAPL", Side.BUY, 300, RESTING))
    _pump(link, engine)
    strat.received()
    rig.send(strat, Replace("p1", 250, RESTING - 100))
    _answers_lost_in_a_gap(link, engine)  # the venue replaced UserRefNum 1 by 2; the Replaced is gone

    assert link.core.exchange.next_user_ref_num() == 3
    (answer,) = [m for m in strat.received() if isinstance(m, CancelRejected)]
    assert (answer.cl_ord_id, answer.code) == ("p1", "OUCH_IN_DOUBT")
    assert link.venue.status()["not_received"] == 0

    assert link.core.exchange.execute(2, 50)  # a fill on the new number reaches the strategy
    _pump(link, engine)
    assert [(m.cl_ord_id, m.qty) for m in strat.received() if isinstance(m, Executed)] == [("p1", 50)]

    rig.send(strat, Cancel("p1"))
    _pump(link, engine)
    cancels = [r for r in link.core.exchange.records if r.type == "X"]
    assert [r.user_ref_num for r in cancels] == [2]  # the fill named the live number: the doubt is settled
    assert not link.core.exchange.orders  # nothing live at the venue
    (canceled,) = [m for m in strat.received() if isinstance(m, Canceled)]
    assert (canceled.cl_ord_id, canceled.leaves_qty) == ("p1", 0)
    assert link.core.exchange.violations == []


def _corrupt_last_answer(link: Link, offset: int, raw: bytes) -> None:
    """Overwrite bytes of the venue's newest message at ``offset`` (of the OUCH message) before it is sent."""
    packet = bytearray(link.core.stream.packets[-1])
    packet[3 + offset : 3 + offset + len(raw)] = raw  # after the SoupBinTCP length and type
    link.core.stream.packets[-1] = bytes(packet)


def _enter_with_a_bad_answer(tmp_path: Path, offset: int, raw: bytes) -> tuple[Link, Engine, Rig, MemoryLink]:
    link, engine, rig, strat = _gateway(tmp_path)
    rig.send(strat, NewOrder("b1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    _corrupt_last_answer(link, offset, raw)
    _pump(link, engine)
    return link, engine, rig, strat


def test_accepted_when_a_field_is_invalid_then_the_new_order_is_answered_once_and_canceled_at_the_venue(
    tmp_path: Path,
) -> None:
    link, engine, _rig, strat = _enter_with_a_bad_answer(tmp_path, 13, b"Z")  # Side 'Z'

    received = strat.received()
    assert [(m.cl_ord_id, m.qty, m.price) for m in received if isinstance(m, OrderAccepted)] == [("b1", 100, RESTING)]
    assert [m for m in received if isinstance(m, OrderRejected)] == []
    assert link.venue.status()["decode_errors"] == 1
    assert link.venue.status()["awaiting_answer"] == 0
    # in doubt, so canceled at the venue at once (ouch55; before, never asked about): the venue's Canceled ends it.
    # A fill the venue sends before that Cancel lands reaches the strategy: tests/ouch/test_unreadable_answer_doubt.py
    assert [r.user_ref_num for r in link.core.exchange.records if r.type == "X"] == [1]
    assert [m.cl_ord_id for m in received if isinstance(m, Canceled)] == ["b1"]
    assert not link.core.exchange.execute(1, 40)  # nothing left at the venue
    _pump(link, engine)
    assert [m for m in strat.received() if isinstance(m, Executed)] == []


def test_accepted_when_its_quantity_is_out_of_range_then_the_new_order_is_answered_once(tmp_path: Path) -> None:
    link, _engine, _rig, strat = _enter_with_a_bad_answer(tmp_path, 14, (2**31).to_bytes(4, "big"))

    received = strat.received()
    assert [(m.cl_ord_id, m.qty) for m in received if isinstance(m, OrderAccepted)] == [("b1", 100)]
    assert [m for m in received if isinstance(m, OrderRejected)] == []
    assert link.venue.status()["awaiting_answer"] == 0
    link.disconnect()
    link.connect()  # nothing left to settle after a re-login: no second answer
    assert [m for m in strat.received() if isinstance(m, OrderAccepted | OrderRejected)] == []


def test_login_accepted_when_the_sequence_number_does_not_fit_64_bits_then_refused_and_retried_with_backoff(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    config = venue_config(tmp_path)
    venue = OuchVenue(config, clock, store=UserRefNumStore(tmp_path, config.name, today=lambda: "2024-05-01"))
    closed: list[bool] = []
    venue.attach(lambda data: None, lambda: closed.append(True))
    first_delay = venue.reconnect_delay_ns(1)
    venue.connection_made(clock())

    venue.data_received(encode_login_accepted("S1", 10**20 - 1), clock())
    venue.flush()

    assert venue.state is not VenueState.UP
    assert closed == [True]
    assert venue.status()["protocol_errors"] == 1
    venue.connection_lost(clock())
    assert venue.state is VenueState.DISCONNECTED
    delay = venue.reconnect_delay_ns(1)
    assert first_delay is not None and delay is not None and delay > first_delay  # a failed login backs off


def test_relogin_when_an_answer_was_too_short_to_name_its_order_then_the_new_order_is_in_doubt_not_rejected(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    rig.send(strat, NewOrder("t1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    link.core.stream.packets[-1] = b"\x00\x06SA\x00\x00\x00\x00"  # its Accepted, cut before the UserRefNum
    _pump(link, engine)
    assert link.venue.status()["decode_errors"] == 1
    assert [m for m in strat.received() if isinstance(m, OrderAccepted | OrderRejected)] == []

    link.disconnect()  # no replay gap: the venue has nothing more to say about UserRefNum 1
    link.connect()
    engine.flush()

    received = strat.received()
    assert [m for m in received if isinstance(m, OrderRejected)] == []
    assert [m.cl_ord_id for m in received if isinstance(m, OrderAccepted)] == ["t1"]
    # in doubt, so canceled at the venue once the session is live (ouchid54): the venue had it, its Canceled ends it
    assert [m.cl_ord_id for m in received if isinstance(m, Canceled)] == ["t1"]
