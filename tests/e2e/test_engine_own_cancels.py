"""The gateway's own cancels (kill switch, disconnect policy, stop) and a strategy's Cancel or MassCancel (fixeng55).

docs/strategy-protocol.md 6.3: a Cancel of the strategy's for an order whose Cancel the gateway started for its own
reasons joins it and is answered when it resolves; the gateway's own cancels are never answered themselves. rev55diff
found two breaks of that promise:

1. a MassCancel covering orders whose own Cancel the gateway held (the venue down) skipped them: its Ack counted them,
   but when the venue's session ended only the Ack came, the orders stayed LIVE with no event (a single Cancel joined
   and was answered VENUE_SESSION_ENDED);
2. the gateway's own Cancel, once sent, was answered to the strategy when the venue refused it (CancelRejected for a
   Cancel it never sent), and a Cancel the strategy sent meanwhile got two answers (CANCEL_PENDING, then that one).

Now each order of a MassCancel joins the gateway's own Cancel as a single Cancel does (journaled: a restart agrees),
and an own Cancel stays the gateway's while in flight (``JSentCancel.own``, ``Order.own_cancel``): the venue's
refusal of it goes to no strategy unless a strategy's Cancel joined it (then exactly one answer). Over a scripted
venue, and the real OUCH, BOE and FIX adapters (OUCH and BOE against their simulator cores) with restarts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.engine import Engine
from gateway.journal import FileJournal, JCancelQueued, JSentCancel, read_journal, unwrap_requests
from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
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
from model.venue_events import VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.ouch.exchange import ExchangeConfig
from tests.boe import harness as boe
from tests.e2e.test_engine_internal_errors import _FaultyJournal
from tests.fix.test_restated_and_ended_there import _cancel_reject as _fix_cancel_reject
from tests.fix.test_restated_and_ended_there import _gateway as _fix_gateway
from tests.harness import MemoryLink, Rig
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal

_OWN_REFUSED = "the gateway's own Cancel of order"


def _answers(strat: MemoryLink) -> list[Any]:
    """The order events (and MassCancel answers) ``strat`` received since the last call."""
    return [m for m in strat.received() if not isinstance(m, (VenueStatus, Welcome, Heartbeat))]


def _refusals(messages: list[Any]) -> list[tuple[str, RejectSource, str]]:
    return [(m.cl_ord_id, m.source, m.code) for m in messages if isinstance(m, CancelRejected)]


def _state(order: Any) -> OrderState:
    """The order's state, read afresh (the engine moves it between two asserts)."""
    state: OrderState = order.state
    return state


def _own(order: Any) -> bool:
    """Whether the order's Cancel is the gateway's own, read afresh."""
    own: bool = order.own_cancel
    return own


def _journal_agrees(path: Path, live: list[Any]) -> None:
    """Recovery from ``path`` gives S1 exactly the order events the live session got (a restart's replay)."""
    recovered = recover(read_journal(path))
    events = recovered.strategies["S1"].events
    order_events = [m for m in live if not isinstance(m, MassCancelAck)]
    assert [msgspec.structs.astuple(e) for e in events] == [msgspec.structs.astuple(m) for m in order_events]


# ---- over a scripted venue (rev55diff's reproductions) -------------------------------------------------------------


@pytest.mark.parametrize("how", ["mass_cancel", "cancel"])
def test_own_held_cancels_then_strategy_cancels_them_then_session_end_answers_each_order_once(
    tmp_path: Path, how: str
) -> None:
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    engine = rig.engine
    strat = rig.connect("S1")
    for n, cl_ord_id in enumerate(("c1", "c2"), start=1):
        rig.new_order(strat, cl_ord_id)
        rig.venue.accept(n)
    engine.flush()
    live = _answers(strat)
    rig.venue.set_state(VenueState.DISCONNECTED)
    assert engine.cancel_all("ACC1") == 2  # the kill switch: both held (the venue is down)
    engine.flush()
    if how == "mass_cancel":
        rig.send(strat, MassCancel("ACC1", "", "", "M1"))
    else:
        rig.send(strat, Cancel("c1"), Cancel("c2"))
    engine.flush()
    rig.venue.set_state(VenueState.ENDED)
    engine.flush()
    got = _answers(strat)
    acks = [m for m in got if isinstance(m, MassCancelAck)]
    assert [a.count for a in acks] == ([2] if how == "mass_cancel" else [])
    # before (MassCancel): only the Ack; both orders LIVE with no event ("no strategy answer" logged for each)
    assert _refusals(got) == [
        ("c1", RejectSource.GATEWAY, "VENUE_SESSION_ENDED"),
        ("c2", RejectSource.GATEWAY, "VENUE_SESSION_ENDED"),
    ], got
    assert [_state(o) for o in engine.orders.values()] == [OrderState.LIVE, OrderState.LIVE]
    engine.flush()
    _journal_agrees(tmp_path / "j", live + got)


def test_mass_cancel_when_joining_an_own_held_cancel_faults_then_that_order_answered_internal_error_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    engine = rig.engine
    halted: list[tuple[list[str], str]] = []
    engine.halt_accounts = lambda accounts, reason: halted.append((accounts, reason))
    strat = rig.connect("S1")
    for n, cl_ord_id in enumerate(("c1", "c2"), start=1):
        rig.new_order(strat, cl_ord_id)
        rig.venue.accept(n)
    engine.flush()
    live = _answers(strat)
    rig.venue.set_state(VenueState.DISCONNECTED)
    engine.cancel_all("ACC1")
    real = engine.journal
    layer = _FaultyJournal(real, lambda r: isinstance(r, JCancelQueued) and r.order_id == 1 and not r.own)
    engine.journal = layer
    rig.send(strat, MassCancel("ACC1", "", "", "M1"))
    engine.flush()
    assert layer.faults == 1
    got = _answers(strat)
    assert [type(m).__name__ for m in got] == ["MassCancelAck", "CancelRejected"]
    assert _refusals(got) == [("c1", RejectSource.GATEWAY, "INTERNAL_ERROR")]
    assert [_own(o) for o in engine.orders.values()] == [True, False]  # c1's Cancel stays the gateway's
    critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and "joining the gateway's own Cancel of order 1" in critical[0], critical
    assert [a for a, _ in halted] == [["ACC1"]]
    engine.journal = real
    rig.venue.set_state(VenueState.ENDED)  # both held Cancels refused: c1 had its answer, c2 gets its one
    engine.flush()
    more = _answers(strat)
    assert _refusals(more) == [("c2", RejectSource.GATEWAY, "VENUE_SESSION_ENDED")], more
    engine.flush()
    _journal_agrees(tmp_path / "j", live + got + more)


@pytest.mark.parametrize("strategy_cancels", [False, True])
def test_kill_switch_cancel_sent_then_venue_refuses_it_then_answered_only_if_the_strategy_joined(
    tmp_path: Path, strategy_cancels: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    engine = rig.engine
    strat = rig.connect("S1")
    rig.new_order(strat, "c1")
    rig.venue.accept(1)
    engine.flush()
    live = _answers(strat)
    assert engine.cancel_all("ACC1") == 1  # the kill switch: sent (the venue is up)
    engine.flush()
    order = rig.order("S1", "c1")
    assert _state(order) is OrderState.PENDING_CANCEL and _own(order)
    if strategy_cancels:
        rig.send(strat, Cancel("c1"))  # joins the gateway's Cancel in flight: no CANCEL_PENDING
        engine.flush()
        assert _answers(strat) == []
        assert not _own(order)
    rig.venue.cancel_reject(1)
    engine.flush()
    got = _answers(strat)
    # before: CancelRejected TOO_LATE for a Cancel the strategy never sent; and a joined one got CANCEL_PENDING too
    assert _refusals(got) == ([("c1", RejectSource.VENUE, "TOO_LATE")] if strategy_cancels else []), got
    assert _state(order) is OrderState.LIVE and not _own(order)
    assert [c for c in rig.venue.commands if c[0] == "cancel"] == [("cancel", 1, 0, 0)]  # one Cancel went out
    lines = [r.getMessage() for r in caplog.records if _OWN_REFUSED in r.getMessage()]
    assert len(lines) == (0 if strategy_cancels else 1), lines
    assert engine.counters.cancel_rejected == 1  # the venue refused a cancel either way
    assert engine.counter_values()["cancel_rejected"] == 1
    engine.flush()
    _journal_agrees(tmp_path / "j", live + got)
    records = [r for r in unwrap_requests(read_journal(tmp_path / "j")) if isinstance(r, JSentCancel)]
    assert [r.own for r in records] == [True]
    # a later Cancel of the strategy's is its own as usual: answered by the venue
    rig.send(strat, Cancel("c1"))
    engine.flush()
    assert _state(order) is OrderState.PENDING_CANCEL and not _own(order)
    rig.venue.cancel_reject(1)
    engine.flush()
    assert _refusals(_answers(strat)) == [("c1", RejectSource.VENUE, "TOO_LATE")]


def test_kill_switch_cancel_sent_then_venue_cancels_then_the_strategy_gets_canceled(tmp_path: Path) -> None:
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    engine = rig.engine
    strat = rig.connect("S1")
    rig.new_order(strat, "c1")
    rig.venue.accept(1)
    engine.flush()
    live = _answers(strat)
    engine.cancel_all("ACC1")
    rig.venue.cancel(1)  # the venue's Canceled of the order comes as usual
    engine.flush()
    got = _answers(strat)
    assert [type(m).__name__ for m in got] == ["Canceled"]
    engine.flush()
    _journal_agrees(tmp_path / "j", live + got)


# ---- OUCH: the real adapter against the simulator core, and restarts -------------------------------------------------


def _ouch(tmp_path: Path, *, refuse_cancels: bool = False) -> tuple[Link, Engine, Rig, MemoryLink, list[Any]]:
    """An engine over a real OUCH adapter and simulator, S1 with two accepted AAPL orders c1 and c2 (ACC1)."""
    symbols = frozenset({"AAPL"}) if refuse_cancels else frozenset()
    link = Link(
        tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, cancel_reject_symbols=symbols)
    )
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    for n, cl_ord_id in enumerate(("c1", "c2")):
        rig.send(strat, NewOrder(cl_ord_id, "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100 - n))
        engine.flush()
        link.pump()
        engine.flush()
    live = _answers(strat)
    assert [type(m).__name__ for m in live] == ["OrderAccepted"] * 2
    return link, engine, rig, strat, live


@pytest.mark.parametrize("mass_cancel", [False, True])
def test_ouch_mass_cancel_joins_the_kill_switchs_held_cancels_across_a_restart_then_each_refusal_answered(
    tmp_path: Path, mass_cancel: bool
) -> None:
    link, engine, rig, strat, _ = _ouch(tmp_path, refuse_cancels=True)
    link.disconnect()
    engine.flush()
    assert engine.cancel_all("ACC1") == 2  # held: the venue is down
    if mass_cancel:
        rig.send(strat, MassCancel("ACC1", "", "", "M1"))
        engine.flush()
        (ack,) = _answers(strat)
        assert isinstance(ack, MassCancelAck) and ack.count == 2
    assert [o.own_cancel for o in engine.orders.values()] == [not mass_cancel] * 2
    queued = [r for r in unwrap_requests(read_journal(tmp_path / "j1")) if isinstance(r, JCancelQueued)]
    assert [r.own for r in queued] == [True, True] + ([False, False] if mass_cancel else [])
    engine.journal.close()

    second, engine2, rig2 = restart_from_journal(link, tmp_path)
    assert [_state(o) for o in engine2.orders.values()] == [OrderState.LIVE_HELD_CANCEL] * 2
    assert [o.own_cancel for o in engine2.orders.values()] == [not mass_cancel] * 2  # rebuilt from the journal
    strat2 = rig2.connect("S1", last_seq=2)
    strat2.received()
    second.connect()  # UP: the held Cancels go out, the venue refuses both
    engine2.flush()
    second.pump()
    engine2.flush()
    assert [r.type for r in second.core.exchange.records].count("X") == 2
    got = _answers(strat2)
    # before: nothing for the MassCancel's orders (the gateway's own held Cancels were answered to no strategy)
    expected = [("c1", RejectSource.VENUE, "I"), ("c2", RejectSource.VENUE, "I")]
    assert _refusals(got) == (expected if mass_cancel else []), got
    assert [_state(o) for o in engine2.orders.values()] == [OrderState.LIVE] * 2


@pytest.mark.parametrize("mass_cancel", [False, True])
def test_mass_cancel_joins_own_held_cancels_across_a_restart_then_session_end_answers_each(
    tmp_path: Path, mass_cancel: bool
) -> None:
    rig = Rig(journal=FileJournal(tmp_path / "j1", fsync=FsyncPolicy.NONE))
    engine = rig.engine
    strat = rig.connect("S1")
    for n, cl_ord_id in enumerate(("c1", "c2"), start=1):
        rig.new_order(strat, cl_ord_id)
        rig.venue.accept(n)
    rig.venue.set_state(VenueState.DISCONNECTED)
    engine.cancel_all("ACC1")
    if mass_cancel:
        rig.send(strat, MassCancel("ACC1", "", "", "M1"))
    engine.flush()
    engine.journal.close()

    rig2 = Rig(journal=FileJournal(tmp_path / "j2", fsync=FsyncPolicy.NONE))
    rig2.venue._state = VenueState.DISCONNECTED
    rig2.engine.adopt(recover(read_journal(tmp_path / "j1")))
    strat2 = rig2.connect("S1", last_seq=2)
    strat2.received()
    rig2.venue.set_state(VenueState.ENDED)
    rig2.engine.flush()
    got = _answers(strat2)
    expected = [
        ("c1", RejectSource.GATEWAY, "VENUE_SESSION_ENDED"),
        ("c2", RejectSource.GATEWAY, "VENUE_SESSION_ENDED"),
    ]
    assert _refusals(got) == (expected if mass_cancel else []), got
    assert [_state(o) for o in rig2.engine.orders.values()] == [OrderState.LIVE] * 2


@pytest.mark.parametrize("strategy_cancels", [False, True])
def test_ouch_kill_switch_cancel_refused_by_the_venue_then_no_answer_unless_joined_and_a_restart_agrees(
    tmp_path: Path, strategy_cancels: bool
) -> None:
    link, engine, rig, strat, live = _ouch(tmp_path, refuse_cancels=True)
    engine.cancel_all("ACC1")  # sent: the venue is up
    if strategy_cancels:
        rig.send(strat, Cancel("c1"))  # joins c1's; c2's stays the gateway's
    engine.flush()
    link.pump()
    engine.flush()
    got = _answers(strat)
    # before: CancelRejected for both orders (no strategy sent either), c1's joined Cancel also CANCEL_PENDING first
    assert _refusals(got) == ([("c1", RejectSource.VENUE, "I")] if strategy_cancels else []), got
    assert [_state(o) for o in engine.orders.values()] == [OrderState.LIVE] * 2
    assert [r.type for r in link.core.exchange.records].count("X") == 2
    engine.flush()
    _journal_agrees(tmp_path / "j1", live + got)
    engine.journal.close()
    _, _, rig2 = restart_from_journal(link, tmp_path)
    assert [msgspec.structs.astuple(m) for m in _answers(rig2.connect("S1"))] == [
        msgspec.structs.astuple(m) for m in live + got
    ]


@pytest.mark.parametrize("strategy_cancels", [False, True])
def test_ouch_kill_switch_cancel_in_flight_at_a_restart_then_its_refusal_answered_only_if_joined(
    tmp_path: Path, strategy_cancels: bool
) -> None:
    link, engine, rig, strat, _ = _ouch(tmp_path, refuse_cancels=True)
    engine.cancel_all("ACC1")
    if strategy_cancels:
        rig.send(strat, Cancel("c1"))
    engine.flush()
    assert _answers(strat) == []
    link.venue.flush()
    link._to_server.clear()  # the Cancels were lost on the wire; then the gateway stopped
    link.disconnect()
    engine.journal.close()

    second, engine2, rig2 = restart_from_journal(link, tmp_path)
    orders = list(engine2.orders.values())
    assert [_state(o) for o in orders] == [OrderState.PENDING_CANCEL] * 2
    assert [o.own_cancel for o in orders] == [not strategy_cancels, True]  # JSentCancel.own, then the join
    strat2 = rig2.connect("S1", last_seq=2)
    strat2.received()
    second.connect()  # the unanswered Cancels are settled with the venue: each is refused, one way or another
    engine2.flush()
    for _ in range(10):
        second.clock.advance_ms(200)
        second.poll()
        engine2.poll(second.clock())
        second.pump()
        engine2.flush()
    got = _answers(strat2)
    refusals = _refusals(got)
    assert [c for c, _, _ in refusals] == (["c1"] if strategy_cancels else []), got
    assert [_state(o) for o in orders] == [OrderState.LIVE] * 2
    assert not any(o.own_cancel for o in orders)


# ---- BOE and FIX: the real adapters --------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy_cancels", [False, True])
def test_boe_kill_switch_cancel_refused_by_the_venue_then_no_answer_unless_joined(
    tmp_path: Path, strategy_cancels: bool
) -> None:
    exchange = BoeExchangeConfig(
        units=3,
        symbol_units={"AAPL": 1, "MSFT": 2, "SPY": 3},
        reference_prices={"AAPL": boe.PX, "MSFT": boe.PX, "SPY": boe.PX},
        cancel_reject_symbols=frozenset({"AAPL"}),
    )
    link = boe.Link(tmp_path / "boe", exchange=exchange)
    engine, rig = boe.gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("c1", "ACC1", "cboe", "AAPL", Side.BUY, 100, boe.PX - 100))
    engine.flush()
    link.pump()
    engine.flush()
    live = _answers(strat)
    assert [type(m).__name__ for m in live] == ["OrderAccepted"]
    engine.cancel_all("ACC1")
    if strategy_cancels:
        rig.send(strat, Cancel("c1"))
    engine.flush()
    link.pump()
    engine.flush()
    got = _answers(strat)
    assert [(c, s) for c, s, _ in _refusals(got)] == ([("c1", RejectSource.VENUE)] if strategy_cancels else []), got
    assert [_state(o) for o in engine.orders.values()] == [OrderState.LIVE]
    engine.flush()
    _journal_agrees(tmp_path / "j1", live + got)


@pytest.mark.parametrize("strategy_cancels", [False, True])
def test_fix_kill_switch_cancel_refused_by_the_venue_then_no_answer_unless_joined(
    tmp_path: Path, strategy_cancels: bool
) -> None:
    fix, engine, rig, strat, ref = _fix_gateway(tmp_path)
    live = engine.strategies["S1"].events[:]
    engine.cancel_all("ACC1")
    if strategy_cancels:
        rig.send(strat, Cancel("A"))
    engine.flush()
    (cancel,) = fix.wire.take()
    cancel_ref = cancel.get(b"11").decode()
    fix.deliver(engine, _fix_cancel_reject(fix, cancel_ref, ref, b"0"))
    engine.flush()
    got = _answers(strat)
    assert [(c, s) for c, s, _ in _refusals(got)] == ([("A", RejectSource.VENUE)] if strategy_cancels else []), got
    assert _state(engine.strategies["S1"].orders["A"]) is OrderState.LIVE
    engine.flush()
    _journal_agrees(tmp_path / "journal", live + got)


def test_fix_kill_switch_cancel_then_venue_cancels_then_the_strategy_gets_canceled(tmp_path: Path) -> None:
    fix, engine, _, strat, ref = _fix_gateway(tmp_path)
    engine.cancel_all("ACC1")
    (cancel,) = fix.wire.take()
    cancel_ref = cancel.get(b"11").decode()
    report = fix.peer.execution_report(
        cancel_ref.encode(), b"4", ord_status=b"4", leaves=0, price=b"230", exec_id=b"C1", orig_cl_ord_id=ref.encode()
    )
    fix.deliver(engine, report)
    engine.flush()
    got = _answers(strat)
    assert [type(m) for m in got] == [Canceled], got
