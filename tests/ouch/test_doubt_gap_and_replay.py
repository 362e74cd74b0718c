"""OUCH in-doubt gaps left open by stop 53 (ouchid54).

1. An Enter put in doubt because a replay gap may have lost its answer (the venue's stream skipped the messages that
   would have answered it) got ``OrderAccepted`` but no Cancel and no ``OUCH_OUTCOME_UNKNOWN`` bound, unlike every
   other in-doubt Enter: an order the venue never had stayed open in the gateway (its exposure counted, a Cancel of
   it ignored by the venue and never answered) until End of Session. Now it gets the same treatment: on file in the
   doubts file before its answer is journaled, canceled at the venue by its UserRefNum once the session is live,
   ended ``OUCH_OUTCOME_UNKNOWN`` if the venue still says nothing, also across a restart.
2. After a restart the restored in-doubt orders' Cancels went out at Login Accepted, before the replay was read; the
   replay may end the order (Canceled, Rejected, filled), making the Cancel superfluous. Now they go out once the
   replay is read, only for the orders it left open.

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_doubt_restart.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Canceled, Executed, NewOrder, OrderAccepted
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, TS, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _restart, _up
from venues.ouch.codec import encode_message
from venues.ouch.doubts import load_doubts
from venues.ouch.messages import OrderAccepted as OuchAccepted
from venues.ouch.options import NO_OPTIONS


def _gap_doubt(tmp_path: Path, *, venue_keeps_it: bool) -> tuple[Link, object, object, object]:
    """The venue takes an Enter (UserRefNum 1), the connection dies before its Accepted arrives, and the venue can
    no longer replay it (a replay gap at the next Login Accepted): the Enter is answered in doubt at the login.

    ``venue_keeps_it`` False: the venue took the number but lost the order (nothing of it will ever be said).
    """
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    rig.send(strat, NewOrder("gap", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())  # the venue takes UserRefNum 1
    link._to_server.clear()
    link.disconnect()  # its Accepted never arrives ...
    link.core.stream.replayable_from = link.core.stream.next_sequence  # ... and cannot be replayed (a gap)
    if not venue_keeps_it:
        link.core.exchange.orders.clear()
    assert link.core.exchange.next_user_ref_num() == 2
    return link, engine, rig, strat


def test_enter_in_doubt_after_a_replay_gap_when_the_venue_has_it_then_canceled_there_after_the_login(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, strat = _gap_doubt(tmp_path, venue_keeps_it=True)
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _up(link, engine)
    assert link.venue.status()["sequence_gaps"] == 1
    assert _cancels(link) == [1]  # old: no Cancel, the order stayed open at the venue and in the gateway
    assert any("canceled there by their UserRefNums" in r.getMessage() for r in caplog.records)
    answered, ended = _events(strat)
    assert isinstance(answered, OrderAccepted) and answered.cl_ord_id == "gap"  # in doubt, answered once
    assert isinstance(ended, Canceled) and ended.reason != "OUCH_OUTCOME_UNKNOWN", ended  # the venue's Canceled
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert engine.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]
    assert all(not o.open for o in link.core.exchange.orders.values())
    _run(link, engine, 12_000)
    assert _events(strat) == []  # nothing more: no second answer
    assert link.venue.status()["outcome_unknown"] == 0
    assert link.core.exchange.violations == []


def test_enter_in_doubt_after_a_replay_gap_when_the_venue_never_says_anything_then_ended_outcome_unknown(
    tmp_path: Path,
) -> None:
    link, engine, _rig, strat = _gap_doubt(tmp_path, venue_keeps_it=False)
    _up(link, engine)
    (answered,) = _events(strat)
    assert isinstance(answered, OrderAccepted)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    store = link.store
    on_file = load_doubts(link.state_dir, link.config.name, store.day, store.session)
    assert list(on_file) == [1] and on_file[1][0] == order_id  # on file: a restart keeps it in doubt
    assert _cancels(link) == [1]  # ignored by a venue that has no such order
    _run(link, engine, 4_000)
    assert _events(strat) == []
    _run(link, engine, 2_000)
    (ended,) = _events(strat)  # old: never; the order stayed open (exposure counted) until End of Session
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    assert engine.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]
    assert link.venue.status()["outcome_unknown"] == 1
    assert link.core.exchange.violations == []


def test_enter_in_doubt_after_a_replay_gap_when_the_gateway_restarts_then_canceled_again_and_ended_unknown(
    tmp_path: Path,
) -> None:
    link, engine, _rig, _strat = _gap_doubt(tmp_path, venue_keeps_it=False)
    _up(link, engine)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    second, engine2, rig2 = _restart(link, engine, tmp_path)  # before the bound ran out
    _up(second, engine2)
    assert _cancels(second) == [1, 1]  # again after the restarted process's login
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    strat2.received()
    _run(second, engine2, 6_000)
    (ended,) = _events(strat2)
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    assert engine2.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]


def _doubt_with_venue_holding_it(tmp_path: Path) -> tuple[Link, object, int]:
    """The venue has the Enter live but its Accepted never came; answered in doubt after answer_timeout_ms; the
    gateway dies before its Cancel leaves (the doubt is on file). Return the link, engine and order id."""
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("held", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())  # the venue has it live ...
    link._to_server.clear()
    assert link.core.stream.packets.pop()[3:4] == b"A"  # ... its Accepted never sent
    for _ in range(60):
        link.clock.advance_ms(100)
        link.venue.poll(link.clock())
        engine.flush()
        link.venue.flush()
        if link.venue.status()["answer_timeouts"]:
            link._to_server.clear()  # the gateway dies before its Cancel leaves
            break
        link.core.poll(link.connection, link.clock())
        link.pump()
        engine.flush()
    (answer,) = _events(strat)
    assert isinstance(answer, OrderAccepted)
    (order_id,) = engine.orders
    return link, engine, order_id


def test_restored_doubt_when_the_replay_fills_the_order_then_no_cancel_is_sent(tmp_path: Path) -> None:
    link, engine, order_id = _doubt_with_venue_holding_it(tmp_path)
    link.disconnect()
    assert link.core.exchange.execute(1, 100)  # while the gateway is down the venue fills it: in the replay
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    strat2.received()
    assert second.venue.state is not VenueState.UP
    _up(second, engine2)
    assert _cancels(second) == []  # old: its Cancel went out at Login Accepted, before the replay's fill was read
    order = engine2.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.FILLED
    (fill,) = _events(strat2)
    assert isinstance(fill, Executed) and fill.qty == 100
    _run(second, engine2, 12_000)
    assert _events(strat2) == [] and second.venue.status()["outcome_unknown"] == 0
    assert second.core.exchange.violations == []


def test_restored_doubt_when_the_replay_shows_the_venue_canceled_it_then_no_cancel_is_sent(tmp_path: Path) -> None:
    link, engine, order_id = _doubt_with_venue_holding_it(tmp_path)
    link.disconnect()
    assert link.core.exchange.cancel(1)  # the venue cancels it while the gateway is down (in the replay)
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    strat2.received()
    _up(second, engine2)
    assert _cancels(second) == []  # old: a superfluous Cancel at Login Accepted
    assert engine2.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]
    (ended,) = _events(strat2)
    assert isinstance(ended, Canceled) and ended.reason != "OUCH_OUTCOME_UNKNOWN", ended
    assert second.venue.status()["outcome_unknown"] == 0


def test_restored_doubt_when_the_replay_shows_a_late_accepted_then_its_cancel_goes_out_after_the_replay(
    tmp_path: Path,
) -> None:
    # the venue's late Accepted names the order (live there) but does not end it: the order was answered in doubt and
    # is canceled at the venue (docs/venues/ouch.md, "An Enter the venue does not answer"), once the replay is read
    link, engine, order_id = _doubt_with_venue_holding_it(tmp_path)
    link.disconnect()
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    # the late Accepted the venue held back is sent now (in the replay of the restarted process's login)
    cl_ord_id = f"{order_id:014d}"
    late = OuchAccepted(TS, 1, "B", 100, "AAPL", RESTING, "0", "Y", 4343, "A", "N", "N", "L", cl_ord_id, NO_OPTIONS)
    link.core.stream.append(encode_message(late))
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    strat2.received()
    _up(second, engine2)
    assert _cancels(second) == [1]
    order = engine2.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.CANCELED and order.venue_order_id == "4343"
    (ended,) = _events(strat2)
    assert isinstance(ended, Canceled) and ended.reason != "OUCH_OUTCOME_UNKNOWN", ended
