"""A fill counted from a status answer (no ExecID) is not counted again when the venue reports it again.

rev36fix s14 (c), (d): a fill report refused for a bad LastPx made the gateway ask the venue (OrderStatusRequest);
the answer's CumQty gave the strategy the fill (``Executed`` with no ExecID). The venue's corrected copy of the
report (same ExecID, PossResend=Y) was then applied as well: the ExecID check had nothing to match, and the
report's CumQty was never compared with what the order had counted. Now the FIX adapter compares CumQty with the
order's count: a fill whose CumQty the order has reached is reported with no quantity, which the core counts and
logs as a repeated fill; one that raises CumQty by less than its LastQty is applied for the rise only.
A real engine on a fake clock over the broker-fix44 dialect (FIX 4.4, OrderStatusRequest).
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
from tests.harness import MemoryLink, engine_over
from venues.fix.adapter import FixVenue
from venues.fix.fields import MsgType

from .helpers import WALL_OFFSET_NS
from .test_adapter import Rig

_POSS_RESEND = [(b"97", b"Y")]


def _fill(fix: Rig, ref: str, exec_id: bytes, last: int, cum: int, *, px: bytes = b"23", resend: bool = False) -> bytes:
    return fix.peer.execution_report(
        ref.encode(),
        b"F",
        ord_status=b"2" if cum == 100 else b"1",
        leaves=100 - cum,
        cum=cum,
        last_qty=last,
        last_px=px,
        exec_id=exec_id,
        extra=_POSS_RESEND if resend else None,
    )


def _status(fix: Rig, ref: str, cum: int) -> bytes:
    body = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref.encode()), (b"150", b"I"), (b"39", b"1")]
    body += [(b"55", b"AAPL"), (b"54", b"1"), (b"38", b"100"), (b"44", b"23"), (b"151", b"%d" % (100 - cum))]
    return fix.peer.message(MsgType.EXECUTION_REPORT, [*body, (b"14", b"%d" % cum), (b"6", b"23")])


def _gateway(tmp_path: Path) -> tuple[Rig, Engine, MemoryLink, str]:
    """Return the FIX rig under a real engine, strategy S1's link and the ClOrdID of its acknowledged 100 order A."""
    fix = Rig("broker-fix44").up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=230_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11").decode()
    fix.deliver(engine, fix.peer.execution_report(ref.encode(), b"0"))
    strat.received()
    return fix, engine, strat, ref


def _status_counted_30(fix: Rig, engine: Engine, ref: str) -> None:
    """EXC1 (30, CumQty 30) with LastPx ``23,0``: refused, the venue asked, its answer's CumQty 30 applied."""
    fix.deliver(engine, _fill(fix, ref, b"EXC1", 30, 30, px=b"23,0"))
    reject, question = fix.wire.take()
    assert (reject.msg_type, reject.get(b"373"), question.msg_type) == (b"3", b"6", MsgType.ORDER_STATUS_REQUEST)
    fix.deliver(engine, _status(fix, ref, 30))


def _executed(link: MemoryLink) -> list[tuple[int, str, int]]:
    return [(m.qty, m.exec_id, m.cum_qty) for m in link.received() if isinstance(m, Executed)]


def test_refused_fill_when_resent_after_the_status_answer_counted_it_then_not_applied_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # (c): the venue's corrected copy of EXC1 (PossResend=Y) after the status answer gave the 30.
    fix, engine, strat, ref = _gateway(tmp_path)
    _status_counted_30(fix, engine, ref)
    with caplog.at_level(logging.WARNING, logger="gateway.engine"):
        fix.deliver(engine, _fill(fix, ref, b"EXC1", 30, 30, resend=True))
    fix.deliver(engine, _fill(fix, ref, b"EXC2", 20, 50))
    assert _executed(strat) == [(30, "", 30), (20, "EXC2", 50)]
    assert fix.wire.take() == []  # a valid report: no Reject, no second question
    assert engine.counters.repeated_fills == 1
    assert engine.counters.venue_events_out_of_place == 0
    assert [r for r in caplog.records if "'EXC1'" in r.getMessage() and "repeated" in r.getMessage()] != []


def test_copy_of_a_status_counted_fill_when_later_fills_applied_then_not_applied_again(tmp_path: Path) -> None:
    # (d): a real 20 took the order to 50, then a PossResend copy of EXC1 (CumQty 30 < 50) arrives.
    fix, engine, strat, ref = _gateway(tmp_path)
    _status_counted_30(fix, engine, ref)
    fix.deliver(engine, _fill(fix, ref, b"EXC2", 20, 50))
    fix.deliver(engine, _fill(fix, ref, b"EXC1", 30, 30, resend=True))
    fix.deliver(engine, _fill(fix, ref, b"EXC3", 50, 100))
    assert _executed(strat) == [(30, "", 30), (20, "EXC2", 50), (50, "EXC3", 100)]
    order = engine.strategies["S1"].orders["A"]
    assert (order.cum_qty, order.state) == (100, OrderState.FILLED)
    assert (engine.counters.repeated_fills, engine.counters.overfills) == (1, 0)


def test_fill_reported_after_a_status_answer_that_already_counted_it_then_not_applied_again(tmp_path: Path) -> None:
    # No copy at all: the status answer (CumQty 50) already holds EXC2, whose report comes after it.
    fix, engine, strat, ref = _gateway(tmp_path)
    fix.deliver(engine, _fill(fix, ref, b"EXC1", 30, 30, px=b"23,0"))
    fix.wire.take()
    fix.deliver(engine, _status(fix, ref, 50))
    fix.deliver(engine, _fill(fix, ref, b"EXC2", 20, 50))
    assert _executed(strat) == [(50, "", 50)]
    assert engine.counters.repeated_fills == 1


def test_fill_when_status_answer_counted_part_of_it_then_only_the_rest_applied(tmp_path: Path) -> None:
    # CumQty 40 after a status answer gave 30: of LastQty 20, the 10 that raise CumQty are new.
    fix, engine, strat, ref = _gateway(tmp_path)
    _status_counted_30(fix, engine, ref)
    fix.deliver(engine, _fill(fix, ref, b"EXC2", 20, 40))
    assert _executed(strat) == [(30, "", 30), (10, "EXC2", 40)]
    assert fix.adapter.status()["fills_partly_counted"] == 1
    assert engine.counters.repeated_fills == 0


def test_fill_when_cum_qty_is_below_its_own_last_qty_then_applied_by_exec_id_alone(tmp_path: Path) -> None:
    # A CumQty below the fill itself is not a cumulative quantity: it says nothing, the fill applies.
    fix, engine, strat, ref = _gateway(tmp_path)
    fix.deliver(engine, _fill(fix, ref, b"EXC1", 30, 30))
    fix.deliver(engine, _fill(fix, ref, b"EXC2", 20, 0))
    assert _executed(strat) == [(30, "EXC1", 30), (20, "EXC2", 50)]
    assert engine.counters.repeated_fills == 0


def test_copy_of_a_status_counted_fill_when_sent_after_a_gateway_restart_then_not_applied_again(
    tmp_path: Path,
) -> None:
    first, engine, _strat, ref = _gateway(tmp_path)
    _status_counted_30(first, engine, ref)
    engine.journal.close()

    second = Rig("broker-fix44")
    second.clock = first.clock
    second.venue_adapter = FixVenue(
        "FIXV", first.dialect, first.adapter.session.config, first.store, first.clock, wall_offset_ns=WALL_OFFSET_NS
    )
    second.peer = first.peer
    engine2, rig2 = engine_over(second.adapter, second.clock, tmp_path / "journal2", max_qty=1_000)
    engine2.adopt(recover(read_journal(tmp_path / "journal")))
    second.adapter.state_sink = second.recorder.state
    second.up()
    strat2 = rig2.connect("S1")
    strat2.received()
    second.deliver(engine2, _fill(second, ref, b"EXC1", 30, 30, resend=True))
    second.deliver(engine2, _fill(second, ref, b"EXC2", 20, 50))
    assert _executed(strat2) == [(20, "EXC2", 50)]
    assert engine2.counters.repeated_fills == 1
