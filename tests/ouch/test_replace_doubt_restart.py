"""An OUCH Replace answered in doubt, across a gateway restart (fixouch54, rev54ouch t11).

1. A Replace the venue applies but does not answer within ``answer_timeout_ms`` is answered ``CancelRejected``
   ``OUCH_IN_DOUBT``: the order may be at its old or its new UserRefNum, so a Cancel names both. That doubt lived in
   the adapter's memory only: after a restart (kill -9) the order was restored under its old number alone, the
   strategy's Cancel named only that (dead) number, the venue ignored it and the Cancel was never answered. Now the
   Replace's number is kept with the orders answered in doubt (``<name>.ouch-doubts.json``) and restored as a
   candidate: the Cancel names both numbers and gets exactly one answer.
2. The venue's late Replaced, replayed after the restart, named a number the adapter no longer mapped: it was taken
   as an order that "ended here" and canceled at the venue, while the order stayed open in the gateway (exposure
   kept, no answer to the strategy). Now it applies as a late Replaced (the strategy gets ``Replaced`` after its
   ``CancelRejected``), also when the doubts file was lost (the number is the journal's for an order open here).
3. The doubts file kept the entries of orders that had ended (stale state): they leave it at the next sweep.

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_doubt_restart.py.
"""

from __future__ import annotations

from pathlib import Path

from gateway.journal import read_journal
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, NewOrder, OrderAccepted, Replace, Replaced
from gateway.recovery import recover
from model.enums import Side
from model.order import OrderState
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, TS, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _lost_enter, _run
from tests.ouch.test_doubt_restart import _restart, _up
from venues.ouch.codec import encode_message
from venues.ouch.doubts import doubts_path, load_doubts, read_doubts
from venues.ouch.messages import OrderRejected as OuchRejected


def _replace_applied_silently(tmp_path: Path) -> tuple[Link, object, object, object, bytes]:
    """Order r1 accepted as UserRefNum 1; Replace 1->2 applied by the venue, whose Replaced is not sent (returned).

    The gateway answers the Replace ``CancelRejected`` ``OUCH_IN_DOUBT`` after ``answer_timeout_ms``.
    """
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted)
    rig.send(strat, Replace("r1", 200, RESTING - 100))
    engine.flush()
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())  # the venue applies it ...
    link._to_server.clear()
    replaced = link.core.stream.packets.pop()  # ... and says nothing
    assert replaced[3:4] == b"U"
    live = [o for o in link.core.exchange.orders.values() if o.open]
    assert [o.user_ref_num for o in live] == [2]
    _run(link, engine, 6_000)
    (answer,) = _events(strat)
    assert isinstance(answer, CancelRejected) and answer.code == "OUCH_IN_DOUBT", answer
    return link, engine, rig, strat, replaced[3:]


def _restart_same_journal(link: Link, engine: object, tmp_path: Path) -> tuple[Link, object, object]:
    """As ``gateway run`` after kill -9: a new adapter and engine recover journal ``j1`` and append to it.

    (``restart_from_journal`` journals to ``j2``: the new engine's look-up of a number no longer mapped would not
    find the first process's records.)
    """
    engine.journal.flush()  # type: ignore[attr-defined]
    engine.journal.close()  # type: ignore[attr-defined]  # its lock released with the process
    link.disconnect()
    second = Link(tmp_path / "ouch", core=link.core, clock=link.clock)
    recovered = recover(read_journal(tmp_path / "j1"))
    engine2, rig2 = gateway_over(second, tmp_path / "j1")
    engine2.adopt(recovered)
    point = recovered.resume.get(second.venue.name)
    assert point is not None
    second.venue.resume_after(point)
    return second, engine2, rig2


def _cancel(rig: object, strat: object, engine: object, link: Link) -> None:
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    _run(link, engine, 2_000)


def test_replace_in_doubt_when_the_gateway_restarts_then_a_cancel_names_both_numbers_and_is_answered_once(
    tmp_path: Path,
) -> None:
    link, engine, _rig, _strat, _replaced = _replace_applied_silently(tmp_path)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    store = link.store
    _enters, replaces = read_doubts(link.state_dir, link.config.name, store.day, store.session)
    assert replaces == {2: (order_id, 1)}  # on file before the CancelRejected was journaled
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    _up(second, engine2)
    strat = rig2.connect("S1")  # type: ignore[attr-defined]
    strat.received()
    _cancel(rig2, strat, engine2, second)
    assert sorted(_cancels(second)) == [1, 2]  # both numbers (before: only 1, which the venue ignored)
    replaced, answer = _events(strat)  # the venue's Canceled names 2: the Replace took effect (ouchdoubt57)
    assert isinstance(replaced, Replaced) and (replaced.qty, replaced.leaves_qty) == (200, 200), replaced
    assert isinstance(answer, Canceled) and (answer.canceled_qty, answer.leaves_qty) == (200, 0), answer
    order = engine2.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.CANCELED and order.leaves_qty == 0
    assert all(not o.open for o in second.core.exchange.orders.values())
    _run(second, engine2, 10_000)
    assert _events(strat) == []  # exactly one answer
    assert second.core.exchange.violations == []


def test_late_replaced_replayed_after_a_restart_when_the_replace_was_in_doubt_then_applied_as_replaced(
    tmp_path: Path,
) -> None:
    link, engine, _rig, _strat, replaced = _replace_applied_silently(tmp_path)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    link.core.stream.append(replaced)  # the venue's Replaced comes as the gateway dies (kill -9): replayed
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)
    _up(second, engine2)
    status = second.venue.status()
    assert status["live_after_end"] == 0 and status["late_cancels_waiting"] == 0  # not taken as an ended order
    assert _cancels(second) == []
    order = engine2.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.LIVE and order.qty == 200 and order.price == RESTING - 100
    assert order.venue_ref == "2"
    strat = rig2.connect("S1")  # type: ignore[attr-defined]
    replayed = [m for m in _events(strat) if isinstance(m, Replaced)]
    assert len(replayed) == 1 and replayed[0].leaves_qty == 200  # after its CancelRejected: the venue's word
    _cancel(rig2, strat, engine2, second)
    assert _cancels(second) == [2]
    (answer,) = _events(strat)
    assert isinstance(answer, Canceled) and answer.canceled_qty == 200, answer
    assert engine2.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]
    assert all(not o.open for o in second.core.exchange.orders.values())
    assert second.core.exchange.violations == []


def test_late_replaced_after_a_restart_when_the_doubts_file_was_lost_then_still_applied_to_the_open_order(
    tmp_path: Path,
) -> None:
    # the adapter's "it maps every number of an order open here" held no more: a number the journal names for an
    # order open here, above every number it is known by, is a Replace of it the adapter lost track of
    link, engine, _rig, _strat, replaced = _replace_applied_silently(tmp_path)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    link.core.stream.append(replaced)
    doubts_path(link.state_dir, link.config.name).unlink(missing_ok=True)
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)
    _up(second, engine2)
    assert second.venue.status()["live_after_end"] == 0
    assert _cancels(second) == []
    order = engine2.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.LIVE and order.qty == 200 and order.venue_ref == "2"
    strat = rig2.connect("S1")  # type: ignore[attr-defined]
    strat.received()
    _cancel(rig2, strat, engine2, second)
    assert _cancels(second) == [2]
    (answer,) = _events(strat)
    assert isinstance(answer, Canceled), answer
    assert engine2.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]


def test_doubts_file_when_the_order_in_doubt_ends_then_its_entry_leaves_at_the_next_sweep(tmp_path: Path) -> None:
    link, engine, rig, strat, _replaced = _replace_applied_silently(tmp_path)
    store = link.store
    _cancel(rig, strat, engine, link)  # names 1 and 2: the venue's Canceled ends the order
    replaced, answer = _events(strat)  # the Canceled names 2: the Replace's terms first (ouchdoubt57)
    assert isinstance(replaced, Replaced), replaced
    assert isinstance(answer, Canceled) and answer.leaves_qty == 0, answer
    _run(link, engine, 1_000)
    enters, replaces = read_doubts(link.state_dir, link.config.name, store.day, store.session)
    assert enters == {} and replaces == {}  # before: the entry stayed after the order ended


def test_doubts_file_when_an_enter_in_doubt_ends_outcome_unknown_then_its_entry_leaves_at_the_next_sweep(
    tmp_path: Path,
) -> None:
    link, engine, _rig, strat = _lost_enter(tmp_path)
    store = link.store
    assert list(load_doubts(link.state_dir, link.config.name, store.day, store.session)) == [1]
    _run(link, engine, 12_000)  # its Cancel unanswered a second answer_timeout_ms: ended OUCH_OUTCOME_UNKNOWN
    (ended,) = _events(strat)
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    _run(link, engine, 1_000)
    assert load_doubts(link.state_dir, link.config.name, store.day, store.session) == {}  # before: {1: ...}


def test_doubts_file_when_the_venue_rejects_the_replace_in_doubt_late_then_its_entry_leaves_and_a_restart_knows_one(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    rig.send(strat, Replace("r1", 200, RESTING - 100))
    engine.flush()
    link.venue.flush()
    link._to_server.clear()  # the venue never gets the Replace
    _run(link, engine, 6_000)
    store = link.store
    assert read_doubts(link.state_dir, link.config.name, store.day, store.session)[1] == {2: (1, 1)}
    link.core.stream.append(encode_message(OuchRejected(TS, 2, 0x15, "1")))  # the venue's late word: refused
    link.pump()
    engine.flush()
    _run(link, engine, 1_000)
    assert read_doubts(link.state_dir, link.config.name, store.day, store.session)[1] == {}  # settled: 1 is live
    answers = _events(strat)  # the Replace had its one answer (the late Rejected is not a second one)
    assert [type(m) for m in answers] == [OrderAccepted, CancelRejected], answers
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    _up(second, engine2)
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    strat2.received()
    _cancel(rig2, strat2, engine2, second)
    assert _cancels(second) == [1]
    (answer,) = _events(strat2)
    assert isinstance(answer, Canceled), answer
