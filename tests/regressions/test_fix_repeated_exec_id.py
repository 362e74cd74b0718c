"""Regression (fixexec29): a fill repeated under a new MsgSeqNum (PossResend=Y) was applied twice.

PossResend(97)=Y marks an application message that may repeat one already sent under another MsgSeqNum (a
venue's failover does it); the receiver tells a copy by its business id, ExecID(17) for an ExecutionReport.
The adapter did not: a 100 fill repeated gave the strategy a second ``Executed`` 100, and a repeated 70 fill
on a 100 order made it "140 of 100" (FILLED), so the venue's real final 30 was dropped as out of place.

Now a fill whose ExecID the order already had is not applied again, whatever 97 says; it is counted
(``repeated_fills``) and logged at most once per 10 s. Since fills30 the check is the core's, for every venue
(``gateway.venue_apply.executed``; tests/test_repeated_fills.py): the adapter passes the copy on like any
report, and the ExecIDs live on the order, rebuilt from the journal after a restart by applying it again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.journal import read_journal
from gateway.protocol.messages import Executed
from gateway.recovery import recover
from model.order import OrderState
from model.venue_events import VenueExecuted
from tests.harness import MemoryLink, engine_over
from venues.fix.adapter import FixVenue
from venues.fix.fields import MsgType

from ..fix.helpers import WALL_OFFSET_NS
from ..fix.test_adapter import Rig, _sent

_POSS_RESEND = [(b"97", b"Y")]


def _fill(rig: Rig, ref: str, exec_id: bytes, last: int, cum: int, qty: int, *, poss_resend: bool = False) -> bytes:
    return rig.peer.execution_report(
        ref.encode(),
        b"2" if cum == qty else b"1",
        ord_status=b"2" if cum == qty else b"1",
        order_qty=qty,
        leaves=qty - cum,
        cum=cum,
        last_qty=last,
        last_px=b"150.25",
        exec_id=exec_id,
        extra=_POSS_RESEND if poss_resend else None,
    )


def _fills(rig: Rig) -> list[tuple[int, str]]:
    return [(e.qty, e.exec_id) for e in rig.events() if isinstance(e, VenueExecuted)]


def test_copy_when_poss_resend_then_the_adapter_passes_it_on_under_its_own_msg_seq_num() -> None:
    # One check, in the core: the adapter keeps no ExecIDs and reports the copy like any ExecutionReport.
    rig = Rig().up()
    _order, ref = _sent(rig, 7)
    rig.feed(_fill(rig, ref, b"E2", 100, 100, 300), _fill(rig, ref, b"E2", 100, 100, 300, poss_resend=True))
    events = [e for e in rig.recorder.events if isinstance(e, VenueExecuted)]
    assert [(e.qty, e.exec_id) for e in events] == [(100, "E2"), (100, "E2")]
    assert events[0].venue_seq < events[1].venue_seq
    assert rig.wire.take() == []  # a valid message: no Reject


# ---- through the engine: the core applies a copy once ------------------------------------------------------


def _gateway(tmp_path: Path, dialect: str = "equities-fix42") -> tuple[Rig, Engine, MemoryLink, str]:
    """Return a FIX rig under a real engine, strategy S1's link and the ClOrdID of its acknowledged order A."""
    fix = Rig(dialect).up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "j1", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=1_502_500, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11").decode()
    fix.deliver(engine, fix.peer.execution_report(ref.encode(), b"0"))
    strat.received()
    return fix, engine, strat, ref


def _fills_of(link: MemoryLink) -> list[tuple[int, str]]:
    return [(m.qty, m.exec_id) for m in link.received() if isinstance(m, Executed)]


def test_partial_fill_when_repeated_with_poss_resend_then_applied_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fix, engine, strat, ref = _gateway(tmp_path)
    fix.deliver(engine, _fill(fix, ref, b"E2", 40, 40, 100))
    with caplog.at_level(logging.WARNING, logger="gateway.engine"):
        fix.deliver(engine, _fill(fix, ref, b"E2", 40, 40, 100, poss_resend=True))  # same report, new MsgSeqNum
    assert _fills_of(strat) == [(40, "E2")]
    assert fix.wire.take() == []  # a valid message: no Reject
    assert engine.counters.repeated_fills == 1
    assert [r.getMessage() for r in caplog.records if "'E2'" in r.getMessage()] != []


def test_fill_when_repeated_twice_then_the_real_last_fill_still_applies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fix, engine, strat, ref = _gateway(tmp_path)
    with caplog.at_level(logging.WARNING, logger="gateway.engine"):
        fix.deliver(engine, _fill(fix, ref, b"E1", 70, 70, 100))
        fix.deliver(engine, _fill(fix, ref, b"E1", 70, 70, 100, poss_resend=True))
        fix.deliver(engine, _fill(fix, ref, b"E1", 70, 70, 100, poss_resend=True))
        fix.deliver(engine, _fill(fix, ref, b"E2", 30, 100, 100))
    assert _fills_of(strat) == [(70, "E1"), (30, "E2")]
    assert engine.counters.repeated_fills == 2
    assert len([r for r in caplog.records if "repeated under venue_seq" in r.getMessage()]) == 1  # rate-limited
    assert engine.strategies["S1"].orders["A"].state is OrderState.FILLED
    assert fix.adapter.status()["open_orders"] == 0  # filled: forgotten


def test_fills_when_many_distinct_exec_ids_then_each_applied_and_any_repeat_not(tmp_path: Path) -> None:
    fix, engine, strat, ref = _gateway(tmp_path)
    for i in range(1, 6):
        fix.deliver(engine, _fill(fix, ref, b"E%d" % i, 10, 10 * i, 100))
    for i in (1, 3, 5):
        fix.deliver(engine, _fill(fix, ref, b"E%d" % i, 10, 10 * i, 100, poss_resend=True))
    fix.deliver(engine, _fill(fix, ref, b"E6", 50, 100, 100))
    assert _fills_of(strat) == [(10, f"E{i}") for i in range(1, 6)] + [(50, "E6")]
    assert engine.counters.repeated_fills == 3


def test_fill_when_exec_id_repeated_without_poss_resend_then_not_applied_either(tmp_path: Path) -> None:
    # A venue that repeats an ExecID without 97 is itself broken; the check costs nothing, so it applies to all.
    fix, engine, strat, ref = _gateway(tmp_path, "broker-fix44")
    fix.deliver(engine, _fill(fix, ref, b"X9", 40, 40, 100))
    fix.deliver(engine, _fill(fix, ref, b"X9", 40, 40, 100))
    assert _fills_of(strat) == [(40, "X9")]
    assert engine.counters.repeated_fills == 1


def _without_exec_id(rig: Rig, ref: str, cum: int) -> bytes:
    body = [(b"37", b"OID1"), (b"11", ref.encode()), (b"20", b"0"), (b"150", b"1"), (b"39", b"1"), (b"55", b"AAPL")]
    body += [(b"54", b"1"), (b"38", b"100"), (b"151", b"%d" % (100 - cum)), (b"14", b"%d" % cum), (b"6", b"0")]
    return rig.peer.message(MsgType.EXECUTION_REPORT, [*body, (b"32", b"10"), (b"31", b"150.25")])


def test_fill_when_exec_id_missing_then_applied_each_time(tmp_path: Path) -> None:
    # Nothing to tell copies apart by: each is applied, as before (the required-tags check counts the absence).
    fix, engine, strat, ref = _gateway(tmp_path)
    fix.deliver(engine, _without_exec_id(fix, ref, 10), _without_exec_id(fix, ref, 20))
    assert _fills_of(strat) == [(10, ""), (10, "")]
    assert engine.counters.repeated_fills == 0


# ---- through the engine, across a restart (the journal's fills carry their ExecIDs) ---------------------------


def _executed(link: MemoryLink) -> list[tuple[int, int]]:
    return [(m.qty, m.cum_qty) for m in link.received() if isinstance(m, Executed)]


def test_fill_when_repeated_with_poss_resend_after_a_gateway_restart_then_not_applied_again(tmp_path: Path) -> None:
    first = Rig().up()
    engine, rig = engine_over(first.adapter, first.clock, tmp_path / "j1", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=1_502_500, venue="FIXV")
    (new_order,) = first.wire.take()
    ref = new_order.get(b"11").decode()
    first.deliver(engine, first.peer.execution_report(ref.encode(), b"0"), _fill(first, ref, b"E1", 70, 70, 100))
    assert _executed(strat) == [(70, 70)]
    engine.journal.close()

    # The restarted gateway: the same store and venue, a new adapter and engine over the journal.
    second = Rig()
    second.clock = first.clock
    second.venue_adapter = FixVenue(
        "FIXV",
        first.dialect,
        first.adapter.session.config,
        first.store,
        first.clock,
        wall_offset_ns=WALL_OFFSET_NS,
    )
    second.peer = first.peer
    engine2, rig2 = engine_over(second.adapter, second.clock, tmp_path / "j2", max_qty=1_000)
    recovered = recover(read_journal(tmp_path / "j1"))
    order = recovered.strategies["S1"].orders["A"]
    assert (order.exec_id, order.exec_ids) == ("E1", None)  # the journal's replay rebuilt the order's ExecIDs
    engine2.adopt(recovered)
    second.adapter.state_sink = second.recorder.state
    second.up()
    strat2 = rig2.connect("S1")
    strat2.received()
    second.deliver(engine2, _fill(second, ref, b"E1", 70, 70, 100, poss_resend=True))  # the venue's failover
    second.deliver(engine2, _fill(second, ref, b"E2", 30, 100, 100))
    assert _executed(strat2) == [(30, 100)]
    order = engine2.strategies["S1"].orders["A"]
    assert (order.cum_qty, order.state) == (100, OrderState.FILLED)
    assert engine2.counters.repeated_fills == 1
    assert engine2.counters.venue_events_out_of_place == 0
