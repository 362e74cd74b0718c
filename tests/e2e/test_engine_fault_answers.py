"""Exactly one answer when the handling of a fault of the gateway's own faults too (answer54).

A held Cancel whose release faults is dropped (journaled ``JCancelRefused``) and answered ``CancelRejected``
``INTERNAL_ERROR`` (fixeng53, tests/e2e/test_engine_held_cancel_faults.py). These cover the faults inside that
handling, and whose Cancel it is:

1. the ``JCancelRefused`` record itself fails: the strategy got no answer at all, and the order was dropped from the
   held state in memory but not in the journal (a restart held the Cancel again and sent it). Now memory follows the
   journal: the Cancel stays held until the journal takes its refusal (tried again at each engine poll), then it is
   answered once, in the live session, in its replay, and after a restart (which holds nothing for it);
2. a Cancel the gateway held for its own reasons (the kill switch, a disconnect policy) is not answered to the
   strategy, which never sent it; the strategy's own held Cancel keeps its one answer;
3. a held Cancel the adapter refuses on release whose ``JCancelRefused`` fails (answered in the live session, held
   again after a restart and then sent: two answers), and a held Cancel refused at a venue's end of session whose
   ``JCancelRefused`` fails (the fault ended the loop: the other held cancels stayed held, unanswered).

Real engine, real OUCH adapter and simulator core (tests/ouch/harness), real journal files; the faults are injected
into the journal's ``append`` and the adapter's ``send_cancel`` (works compiled and pure).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.journal import FileJournal, JCancelQueued, JCancelRefused, JRequest, JSentCancel, read_journal
from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
    Executed,
    Heartbeat,
    MassCancel,
    MassCancelAck,
    NewOrder,
    VenueStatus,
    Welcome,
)
from gateway.recovery import recover
from model.enums import RejectSource, Side
from model.fsync import FsyncPolicy
from model.order import OrderState
from model.send_result import Refused
from model.venue_events import VenueState
from tests.e2e.test_engine_internal_errors import _FaultyJournal, _FaultyRisk
from tests.e2e.test_journal_before_wire import _record_of
from tests.harness import Rig
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal


def _answers(strat: Any) -> list[Any]:
    """The order events the strategy received since the last call (no Welcome, Heartbeat, VenueStatus)."""
    return [m for m in strat.received() if not isinstance(m, (VenueStatus, Welcome, Heartbeat))]


def _state(order: Any) -> OrderState:
    """The order's state, read afresh (the engine moves it between two asserts)."""
    state: OrderState = order.state
    return state


def _cancels_at_venue(link: Link) -> list[int]:
    return [r.user_ref_num for r in link.core.exchange.records if r.type == "X"]


def _settle(link: Link, engine: Any, rounds: int = 20) -> None:
    for _ in range(rounds):
        link.clock.advance_ms(100)
        link.poll()
        engine.poll(link.clock())
        link.pump()
        engine.flush()


def _criticals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]


def _faulting(engine: Any, *hits: Callable[[object], bool]) -> list[_FaultyJournal]:
    """Make the journal's ``append`` raise once for each of ``hits`` (the first record each picks)."""
    layers = []
    journal = engine.journal
    for hit in hits:
        journal = _FaultyJournal(journal, hit)
        layers.append(journal)
    engine.journal = journal
    return layers


def _start(tmp_path: Path, orders: tuple[str, ...] = ("c1",)) -> tuple[Link, Any, Any, Any, list[Any]]:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    halted: list[tuple[list[str], str]] = []
    engine.halt_accounts = lambda accounts, reason: halted.append((accounts, reason))
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    for n, cl_ord_id in enumerate(orders):
        rig.send(strat, NewOrder(cl_ord_id, "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100 - n))
        engine.flush()
        link.pump()
        engine.flush()
    assert [type(m).__name__ for m in _answers(strat)] == ["OrderAccepted"] * len(orders)
    return link, engine, rig, strat, halted


def _replayed(tmp_path: Path, link: Link) -> tuple[Any, Any]:
    """Restart from the journal; return the restarted engine and S1's replay (a Hello with last_seq 0)."""
    _, restarted, rig2 = restart_from_journal(link, tmp_path)
    again = rig2.connect("S1")
    return restarted, _answers(again)


def test_held_cancel_when_its_refusal_cannot_be_journaled_then_held_until_it_can_and_answered_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    link, engine, rig, strat, halted = _start(tmp_path)
    (order,) = engine.orders.values()
    link.disconnect()
    engine.flush()
    rig.send(strat, Cancel("c1"))
    engine.flush()
    assert _state(order) is OrderState.LIVE_HELD_CANCEL
    real = engine.journal
    layers = _faulting(engine, _record_of(JSentCancel, order.order_id), _record_of(JCancelRefused, order.order_id))
    link.connect()  # the venue back UP releases the held Cancel: its JSentCancel faults, then its JCancelRefused
    engine.flush()
    link.pump()
    engine.flush()
    assert [layer.faults for layer in layers] == [1, 1]
    # before: the held state dropped in memory only (the journal still held the Cancel), and no answer ever came
    assert _state(order) is OrderState.LIVE_HELD_CANCEL, order.state
    assert _answers(strat) == []
    (critical,) = _criticals(caplog)
    assert "answering its Cancel failed too" in critical and "once the journal takes it" in critical, critical
    _settle(link, engine)  # the next poll journals the refusal and answers
    engine.journal = real
    assert _state(order) is OrderState.LIVE
    (refused,) = _answers(strat)
    assert isinstance(refused, CancelRejected), refused
    assert (refused.cl_ord_id, refused.source, refused.code) == ("c1", RejectSource.GATEWAY, "INTERNAL_ERROR")
    assert _cancels_at_venue(link) == []
    assert engine.counters.internal_errors == 1 and [a for a, _ in halted] == [["ACC1"]]
    assert any("answered after all" in r.getMessage() for r in caplog.records)
    # a restart agrees: nothing held (no Cancel sent at the next UP), the one answer in the replay
    engine.flush()
    restarted, replay = _replayed(tmp_path, link)
    assert restarted.strategies["S1"].orders["c1"].state is OrderState.LIVE
    assert [type(m).__name__ for m in replay] == ["OrderAccepted", "CancelRejected"]
    # and a reconnect replays it once (its disconnect policy then cancels the order)
    engine.link_closed(strat)
    engine.flush()
    again = rig.connect("S1")
    assert [type(m).__name__ for m in _answers(again)] == ["OrderAccepted", "CancelRejected"]


@pytest.mark.parametrize("how", ["kill", "disconnect"])
def test_gateways_own_held_cancel_when_its_release_faults_then_no_strategy_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    caplog.set_level(logging.INFO)
    link, engine, rig, strat, halted = _start(tmp_path)
    (order,) = engine.orders.values()
    link.disconnect()
    engine.flush()
    if how == "kill":
        assert engine.cancel_all("ACC1") == 1  # held: the venue is down
    else:
        engine.link_closed(strat)  # the disconnect policy (cancel) holds its Cancel
        engine.flush()
    assert _state(order) is OrderState.LIVE_HELD_CANCEL
    real = engine.journal
    (layer,) = _faulting(engine, _record_of(JSentCancel, order.order_id))
    link.connect()
    engine.flush()
    link.pump()
    _settle(link, engine)
    engine.journal = real
    assert layer.faults == 1
    assert _state(order) is OrderState.LIVE
    if how == "disconnect":
        strat = rig.connect("S1")  # its replay: what it missed
    # before: CancelRejected INTERNAL_ERROR for a Cancel the strategy never sent
    assert [type(m).__name__ for m in _answers(strat)] == (["OrderAccepted"] if how == "disconnect" else [])
    assert engine.counters.internal_errors == 1 and [a for a, _ in halted] == [["ACC1"]]
    (critical,) = _criticals(caplog)
    assert "the order is still live at venue nasdaq" in critical and "CancelRejected" not in critical, critical
    assert "the gateway's own Cancel: no strategy answer" in critical, critical
    # the journal agrees (nothing held after a restart) and has no answer for it
    engine.flush()
    restarted, replay = _replayed(tmp_path, link)
    assert restarted.strategies["S1"].orders["c1"].state is OrderState.LIVE
    assert [type(m).__name__ for m in replay] == ["OrderAccepted"]


class _RefusingVenue:
    """The OUCH adapter, whose ``send_cancel`` refuses once (as an adapter does, e.g. a Cancel it cannot encode)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.refused = 0

    def send_cancel(self, order: Any) -> object:
        if not self.refused:
            self.refused += 1
            return Refused("OUCH_INTERNAL_ERROR", "injected refusal", RejectSource.GATEWAY)
        return self._real.send_cancel(order)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_held_cancel_refused_by_the_adapter_when_its_refusal_record_faults_then_one_answer_across_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    link, engine, rig, strat, _ = _start(tmp_path)
    (order,) = engine.orders.values()
    link.disconnect()
    engine.flush()
    rig.send(strat, Cancel("c1"))
    engine.flush()
    real = engine.journal
    (layer,) = _faulting(engine, _record_of(JCancelRefused, order.order_id))
    engine.venues["nasdaq"] = _RefusingVenue(link.venue)
    try:
        link.connect()
        engine.flush()
        link.pump()
        _settle(link, engine)
    finally:
        engine.venues["nasdaq"] = link.venue
        engine.journal = real
    assert layer.faults == 1
    assert _state(order) is OrderState.LIVE
    (refused,) = _answers(strat)
    assert isinstance(refused, CancelRejected) and refused.cl_ord_id == "c1", refused
    # before: the journal still held the Cancel: the restarted gateway sent it at the next UP (a second answer)
    engine.flush()
    restarted, replay = _replayed(tmp_path, link)
    assert restarted.strategies["S1"].orders["c1"].state is OrderState.LIVE
    assert [type(m).__name__ for m in replay] == ["OrderAccepted", "CancelRejected"]


def test_end_of_session_when_one_held_cancels_refusal_faults_then_every_held_cancel_answered_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    link, engine, rig, strat, _ = _start(tmp_path, ("c1", "c2"))
    first, second = engine.orders.values()
    link.disconnect()
    engine.flush()
    rig.send(strat, Cancel("c1"), Cancel("c2"))
    engine.flush()
    assert _state(first) is _state(second) is OrderState.LIVE_HELD_CANCEL
    real = engine.journal
    (layer,) = _faulting(engine, _record_of(JCancelRefused, first.order_id))
    try:
        # before: the fault ended the loop (and left on_venue_state): c2's held Cancel was never answered
        engine.on_venue_state("nasdaq", VenueState.ENDED, "end of session")
        engine.flush()
        _settle(link, engine, rounds=3)
    finally:
        engine.journal = real
    assert layer.faults == 1
    answers = _answers(strat)
    assert sorted((m.cl_ord_id, m.code) for m in answers if isinstance(m, CancelRejected)) == [
        ("c1", "VENUE_SESSION_ENDED"),
        ("c2", "VENUE_SESSION_ENDED"),
    ], answers
    assert _state(first) is _state(second) is OrderState.LIVE
    engine.flush()
    restarted, replay = _replayed(tmp_path, link)
    assert {o.cl_ord_id: o.state for o in restarted.strategies["S1"].orders.values()} == {
        "c1": OrderState.LIVE,
        "c2": OrderState.LIVE,
    }
    assert sorted(type(m).__name__ for m in replay) == ["CancelRejected"] * 2 + ["OrderAccepted"] * 2
    assert not [m for m in replay if isinstance(m, Canceled)]


@pytest.mark.parametrize("who", ["strategy", "kill"])
def test_held_cancel_across_a_restart_when_its_release_faults_then_answered_only_if_the_strategy_sent_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, who: str
) -> None:
    caplog.set_level(logging.INFO)
    link, engine, rig, strat, _ = _start(tmp_path)
    link.disconnect()
    engine.flush()
    if who == "strategy":
        rig.send(strat, Cancel("c1"))
    else:
        assert engine.cancel_all("ACC1") == 1
    engine.flush()
    assert engine.strategies["S1"].orders["c1"].state is OrderState.LIVE_HELD_CANCEL
    # the gateway restarts with the Cancel held (journaled JCancelQueued, whose it is with it)
    second, restarted, rig2 = restart_from_journal(link, tmp_path)
    restarted.halt_accounts = lambda accounts, reason: None
    order = restarted.strategies["S1"].orders["c1"]
    assert _state(order) is OrderState.LIVE_HELD_CANCEL
    again = rig2.connect("S1")
    assert [type(m).__name__ for m in _answers(again)] == ["OrderAccepted"]
    real = restarted.journal
    (layer,) = _faulting(restarted, _record_of(JSentCancel, order.order_id))
    second.connect()  # UP releases the held Cancel: its JSentCancel faults
    restarted.flush()
    second.pump()
    _settle(second, restarted)
    restarted.journal = real
    assert layer.faults == 1 and _state(order) is OrderState.LIVE
    answers = [type(m).__name__ for m in _answers(again)]
    # before: the kill switch's Cancel, held across the restart, was answered CancelRejected to the strategy
    assert answers == (["CancelRejected"] if who == "strategy" else []), answers


@pytest.mark.parametrize("method", ["on_open_changed", "on_execution"])
def test_venue_event_whose_handling_faults_after_it_was_journaled_then_its_strategy_event_still_delivered_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    """The journal's ``JVenueApplied`` implies the strategy events the venue event produced, numbered from the
    strategy's ``seq``; a fault after it (risk, here) used to keep them from the strategy: its Cancel (or fill) had no
    answer, the next event took the same ``seq``, and the restart refused the journal (``JournalCorruptError``:
    numbered from N but the strategy is at N+1)."""
    caplog.set_level(logging.INFO)
    link, engine, rig, strat, _ = _start(tmp_path)
    if method == "on_open_changed":
        rig.send(strat, Cancel("c1"))  # the venue's Canceled: risk's on_open_changed faults
    else:  # a marketable sell against c1 at the simulator fills it: risk's on_execution faults
        rig.send(strat, NewOrder("x1", "ACC1", "nasdaq", "AAPL", Side.SELL, 100, PX - 100))
    real = engine.risk
    engine.risk = _FaultyRisk(real, method)
    try:
        engine.flush()
        link.pump()
        engine.flush()
    finally:
        engine.risk = real
    assert engine.counters.internal_errors == 1
    kinds = [(m.cl_ord_id, type(m).__name__) for m in _answers(strat)]
    if method == "on_open_changed":
        assert kinds == [("c1", "Canceled")], kinds
    else:  # the first execution applied (x1's, the aggressor) faulted
        assert kinds == [("x1", "OrderAccepted"), ("x1", "Executed")], kinds
    rig.send(strat, NewOrder("c2", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 200))
    engine.flush()
    link.pump()
    engine.flush()
    seqs = [m.seq for m in _answers(strat)]
    assert seqs == sorted(set(seqs)), seqs
    engine.flush()
    _, replay = _replayed(tmp_path, link)  # before: JournalCorruptError
    assert [m.seq for m in replay] == list(range(1, len(replay) + 1))


def _mass_cancel_answer(record: object) -> bool:
    return isinstance(record, JRequest) and record.answer is not None


def test_mass_cancel_when_its_answers_record_faults_then_answered_once_and_the_number_journaled_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The ``MassCancelAck`` goes to the strategy before the cancels; its ``JRequest`` (the number, for a re-sent
    duplicate) is journaled after them. A fault there went to the last resort, whose fatal ``Error(INTERNAL_ERROR)``
    was a second answer to the MassCancel (the Ack, then the Error) and ended the session."""
    caplog.set_level(logging.INFO)
    link, engine, rig, strat, halted = _start(tmp_path, ("c1", "c2"))
    real = engine.journal
    (layer,) = _faulting(engine, _mass_cancel_answer)
    rig.send(strat, MassCancel(request_id="M1"))
    engine.flush()
    link.pump()
    engine.flush()
    assert layer.faults == 1
    got = strat.received()
    kinds = [type(m).__name__ for m in got if not isinstance(m, (VenueStatus, Heartbeat))]
    # before: [MassCancelAck, Error] and the connection closed
    assert kinds[0] == "MassCancelAck" and "Error" not in kinds, kinds
    assert sorted(kinds[1:]) == ["Canceled", "Canceled"], kinds
    assert not strat.closed
    assert engine.counters.internal_errors == 1 and halted == []  # nothing at a venue to reconcile
    _settle(link, engine, rounds=2)  # the next poll journals the answer's record
    engine.journal = real
    engine.flush()
    restarted, _ = _replayed(tmp_path, link)
    assert restarted.strategies["S1"].last_req_seq == 3  # two NewOrders, the MassCancel
    assert restarted.strategies["S1"].mass_cancel_answers[3] == MassCancelAck("M1", 2)


def test_fill_after_the_orders_end_when_its_handling_faults_then_delivered_once_and_the_session_goes_on(
    tmp_path: Path,
) -> None:
    """A fill the venue reports after the order ended here is journaled (``JVenueEvent``), then applied; a fault
    applying it (risk, here) was outside the venue message's last resort: it reached the adapter's read (the venue
    session dropped) and the ``Executed`` never reached the strategy live."""
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100)
    rig.venue.accept(1)
    rig.venue.cancel(1)  # unsolicited: the order ends CANCELED here
    rig.engine.flush()
    strat.received()
    real = rig.engine.risk
    rig.engine.risk = _FaultyRisk(real, "on_execution")
    try:
        rig.venue.fill(1, 10, PX)  # before: the injected fault raised out of the venue's event sink
        rig.engine.flush()
    finally:
        rig.engine.risk = real
    assert rig.engine.counters.internal_errors == 1
    (late,) = [m for m in _answers(strat)]
    assert isinstance(late, Executed) and (late.qty, late.leaves_qty) == (10, 0), late
    rig.new_order(strat, "B", qty=100)
    rig.venue.accept(2)
    rig.engine.flush()
    (accepted,) = _answers(strat)
    assert accepted.seq == late.seq + 1
    recovered = recover(read_journal(tmp_path / "j"))
    events = recovered.strategies["S1"].events
    assert [type(e).__name__ for e in events].count("Executed") == 1
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


@pytest.mark.parametrize("held", [True, False])
def test_gateways_own_cancel_when_the_venue_session_ended_then_refused_to_no_strategy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, held: bool
) -> None:
    """The kill switch's Cancel of an order at a venue whose session ended (held while it was down, then refused at
    its end of session; or sent after the end) is one no strategy sent: it was answered ``CancelRejected``
    ``VENUE_SESSION_ENDED`` to the strategy. Now logged (WARNING), no answer; the strategy's own is still answered,
    once, also when it joined the gateway's held Cancel (before: ``CANCEL_PENDING``, then the gateway's answer)."""
    caplog.set_level(logging.INFO)
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    engine = rig.engine
    strat = rig.connect("S1")
    for n, cl_ord_id in enumerate(("c1", "c2"), start=1):
        rig.new_order(strat, cl_ord_id)
        rig.venue.accept(n)
    engine.flush()
    strat.received()
    if held:
        rig.venue.set_state(VenueState.DISCONNECTED)
        engine.cancel_all("ACC1")  # both held: the venue is down
        rig.send(strat, Cancel("c2"))  # joins the gateway's held Cancel: the strategy's now
        rig.venue.set_state(VenueState.ENDED)
    else:
        rig.venue.set_state(VenueState.ENDED)
        rig.send(strat, Cancel("c2"))  # the strategy's own: answered VENUE_SESSION_ENDED
        engine.cancel_all("ACC1")  # c1 and c2: nothing goes out, nobody is answered
    engine.flush()
    answers = [(m.cl_ord_id, m.code) for m in _answers(strat) if isinstance(m, CancelRejected)]
    # before: ('c1', 'VENUE_SESSION_ENDED') too, and c2 answered twice
    assert answers == [("c2", "VENUE_SESSION_ENDED")], answers
    assert [_state(o) for o in engine.orders.values()] == [OrderState.LIVE, OrderState.LIVE]
    lines = [r.getMessage() for r in caplog.records if "the gateway's own Cancel of order" in r.getMessage()]
    assert len(lines) == (1 if held else 2) and all("no strategy answer" in line for line in lines), lines
    # the journal agrees on whose each held Cancel was (JCancelQueued.own, then the strategy's): one answer
    engine.flush()
    recovered = recover(read_journal(tmp_path / "j"))
    events = recovered.strategies["S1"].events
    assert [(e.cl_ord_id, e.code) for e in events if isinstance(e, CancelRejected)] == answers
    assert not any(o.own_cancel for o in recovered.orders.values())  # both dropped: nobody's any more


def _bare_request(record: object) -> bool:
    return isinstance(record, JRequest) and record.record is None and record.answer is None


def test_request_fault_when_its_number_cannot_be_journaled_either_then_journaled_later_and_a_restart_agrees(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The last resort answers a request a fault stopped with the fatal ``Error`` and journals its number alone (it
    counts as processed: the Error says a re-send is a duplicate). When that record failed too, only this process
    knew: its Welcome said processed, a restarted gateway's ``last_req_seq`` did not (the SDK sent it again and it was
    answered a second time). Now the number is journaled at the next poll."""
    caplog.set_level(logging.INFO)
    link, engine, rig, strat, _ = _start(tmp_path)
    real = engine.journal
    layers = _faulting(engine, _record_of(JCancelQueued), _bare_request)
    link.disconnect()  # the Cancel would be held: its JCancelQueued faults, then the number's own record
    engine.flush()
    rig.send(strat, Cancel("c1"))
    engine.flush()
    assert [layer.faults for layer in layers] == [1, 1]
    assert [type(m).__name__ for m in strat.received() if type(m).__name__ == "Error"] == ["Error"]
    engine.poll(link.clock())
    engine.journal = real
    engine.flush()
    assert engine.strategies["S1"].last_req_seq == 2
    restarted, _ = _replayed(tmp_path, link)
    assert restarted.strategies["S1"].last_req_seq == 2  # before: 1 (the Cancel carried out again if re-sent)
