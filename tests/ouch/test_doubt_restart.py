"""OUCH orders answered in doubt across a restart, and the bound for every in-doubt Enter (doubt53).

1. The orders answered in doubt after ``answer_timeout_ms`` (and their OUTCOME_UNKNOWN bound) lived in memory only:
   after a restart (kill -9 or a stop) such an order was taken as acknowledged: no Cancel went out, and a strategy's
   Cancel of it, ignored by a venue that never had it, stayed unanswered for ever (rev52ouch HIGH 3). Now they are
   on file (``<name>.ouch-doubts.json``, ``venues.ouch.doubts``) before their answer is journaled; the restarted
   process sends their Cancel after its first login and ends those the venue says nothing about
   ``answer_timeout_ms`` later (``Canceled`` ``OUCH_OUTCOME_UNKNOWN``), which answers the strategy's Cancel.
2. An Enter put in doubt at a re-login (the venue's NextUserRefNum above its UserRefNum: the venue took the number
   but the replay has no answer, fixdoubt52) got a Cancel but no bound: the same order stayed open for ever when the
   venue never had it. Now it gets the same bound.
3. The venue's late Accepted of an order answered in doubt at a better price (the venue improved it) gave the order
   its venue order id and quantity, not its price: the order's price (status, risk exposure) now follows, as for
   any acknowledgement.

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_answer_timeout_followups.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, NewOrder, OrderAccepted
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, TS, Link, gateway_over, restart_from_journal
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _lost_enter, _run
from venues.ouch.codec import encode_message
from venues.ouch.doubts import load_doubts
from venues.ouch.messages import OrderAccepted as OuchAccepted
from venues.ouch.options import NO_OPTIONS


def _restart(link: Link, engine: object, tmp_path: Path) -> tuple[Link, object, object]:
    """The gateway dies (kill -9: the venue's connection cut, nothing more sent) and a new one recovers the journal."""
    engine.journal.flush()  # type: ignore[attr-defined]  # what the journal has on disk
    link.disconnect()
    return restart_from_journal(link, tmp_path)


def _up(link: Link, engine: object) -> None:
    link.connect()
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    for _ in range(30):  # the replay read, the Account Query answered, if anything waits
        if link.venue.state is VenueState.UP:
            return
        _run(link, engine, 100)
    assert link.venue.state is VenueState.UP


def test_order_answered_in_doubt_when_the_gateway_restarts_then_canceled_after_login_and_ended_outcome_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, _strat = _lost_enter(tmp_path)  # in doubt; its Cancel lost with the connection
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    store = link.store
    on_file = load_doubts(link.state_dir, link.config.name, store.day, store.session)
    assert list(on_file) == [1] and on_file[1][0] == order_id and on_file[1][1][3:4] == b"O"
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    assert engine2.orders[order_id].state is OrderState.LIVE  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _up(second, engine2)
    assert _cancels(second) == [1]  # its Cancel after the first login of the restarted process
    assert any("sent again after the login" in r.getMessage() for r in caplog.records)
    strat = rig2.connect("S1")  # type: ignore[attr-defined]
    strat.received()
    _run(second, engine2, 4_000)
    assert _events(strat) == []
    _run(second, engine2, 2_000)
    (ended,) = _events(strat)
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    order = engine2.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.CANCELED and order.leaves_qty == 0
    assert second.venue.status()["outcome_unknown"] == 1
    assert second.core.exchange.violations == []


def test_strategy_cancel_of_an_order_in_doubt_across_a_restart_when_the_venue_never_had_it_then_answered_once(
    tmp_path: Path,
) -> None:
    # rev52ouch t12: the strategy cancels the in-doubt order after the restart; the venue ignores the Cancel (it
    # never had UserRefNum 1): the order's end (OUTCOME_UNKNOWN) answers it, exactly once
    link, engine, _rig, _strat = _lost_enter(tmp_path)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    _up(second, engine2)
    strat = rig2.connect("S1")  # type: ignore[attr-defined]
    strat.received()
    rig2.send(strat, Cancel("lost"))  # type: ignore[attr-defined]
    engine2.flush()  # type: ignore[attr-defined]
    second.pump()
    _run(second, engine2, 20_000)
    answers = _events(strat)
    assert len(answers) == 1, answers
    (ended,) = answers
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    assert engine2.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]


def test_order_in_doubt_across_a_restart_when_the_venue_had_it_then_its_cancel_ends_it(tmp_path: Path) -> None:
    # the venue has the Enter live but its Accepted never came (a stuck venue); the gateway dies before the timeout's
    # Cancel leaves: the restored doubt's Cancel reaches a venue holding the order, whose Canceled ends it (not unknown)
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
    second, engine2, _rig2 = _restart(link, engine, tmp_path)
    _up(second, engine2)
    assert _cancels(second) == [1]
    _run(second, engine2, 500)
    assert engine2.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]  # the venue's Canceled
    assert second.venue.status()["outcome_unknown"] == 0
    assert all(not o.open for o in second.core.exchange.orders.values())


def test_enter_in_doubt_at_relogin_when_the_venue_took_its_number_but_never_had_the_order_then_ended_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # fixdoubt52's rule (NextUserRefNum above the Enter's UserRefNum: the venue took it) answered it in doubt and
    # canceled it at the venue; a venue that has no such order ignores the Cancel: the bound now ends it
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("taken", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())  # the venue takes UserRefNum 1 ...
    link._to_server.clear()
    assert link.core.stream.packets.pop()[3:4] == b"A"  # ... and loses the order and its Accepted
    link.core.exchange.orders.clear()
    assert link.core.exchange.next_user_ref_num() == 2
    link.disconnect()
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _up(link, engine)
    (answer,) = _events(strat)
    assert isinstance(answer, OrderAccepted)  # in doubt (fixdoubt52)
    assert _cancels(link) == [1]  # once
    assert any("NextUserRefNum" in r.getMessage() for r in caplog.records)
    assert not any("sent again after the login" in r.getMessage() for r in caplog.records)
    _run(link, engine, 4_000)
    assert _events(strat) == []
    _run(link, engine, 2_000)
    (ended,) = _events(strat)
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    (order_id,) = engine.orders
    assert engine.orders[order_id].state is OrderState.CANCELED
    assert link.venue.status()["outcome_unknown"] == 1
    assert _cancels(link) == [1]
    assert link.core.exchange.violations == []


def test_late_accepted_at_a_better_price_for_an_order_answered_in_doubt_then_the_order_takes_the_venue_price(
    tmp_path: Path,
) -> None:
    # the venue improved the price (a buy accepted lower): the order's price follows, as for any acknowledgement (its
    # status, a later Replace's terms, its risk exposure), also after a restart; the strategy gets no second answer
    link, engine, _rig, strat = _lost_enter(tmp_path)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    better = RESTING - 300
    link.core.stream.append(
        encode_message(
            OuchAccepted(
                TS, 1, "B", 100, "AAPL", better, "0", "Y", 4343, "A", "N", "N", "L", f"{order_id:014d}", NO_OPTIONS
            )
        )
    )
    changes = len(engine.risk.changes)  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    assert _events(strat) == []
    order = engine.orders[order_id]  # type: ignore[attr-defined]
    assert (order.price, order.qty, order.leaves_qty, order.venue_order_id) == (better, 100, 100, "4343")
    assert engine.risk.changes[changes:] == [(order_id, 100, 100)]  # type: ignore[attr-defined]  # recounted
    assert engine.counters.venue_events_out_of_place == 0  # type: ignore[attr-defined]
    _second, engine2, _rig2 = _restart(link, engine, tmp_path)
    assert engine2.orders[order_id].price == better  # type: ignore[attr-defined]  # recovery applies it the same way
