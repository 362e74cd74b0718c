"""Restated reports that cut the quantity, a CancelReject saying Filled for an open order, Reject reasons of fills.

rev38fix s5 (a): a Restated (150=D, 378=4) cut OrderQty 100 -> 60, the venue filled the 60 (39=2, 151=0) and
refused the strategy's cancel with OrdStatus 2: the order stayed LIVE with 40 open forever, only
``ignored_exec_reports`` moved. Now the cut is applied (``Canceled`` reason ``RESTATED``), so the 60 fills it; and a
CancelReject whose OrdStatus says the order is over while the gateway holds it open is counted, logged and asked
about (OrderStatusRequest). rev38fix s3 (g): a fill missing LastPx was refused with Reject reason 6 (incorrect data
format) instead of 1 (required tag missing).
A real engine on a fake clock over the broker-fix44 dialect (FIX 4.4, OrderStatusRequest).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed
from model.order import Order, OrderState
from risk.exposure import ExposureBook
from tests.harness import MemoryLink, engine_over
from tests.harness import Rig as HarnessRig
from venues.fix.fields import MsgType

from .test_adapter import Rig


def _gateway(tmp_path: Path) -> tuple[Rig, Engine, HarnessRig, MemoryLink, str]:
    fix = Rig("broker-fix44").up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=2_300_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11").decode()
    fix.deliver(engine, fix.peer.execution_report(ref.encode(), b"0", price=b"230"))
    strat.received()
    return fix, engine, rig, strat, ref


def _restated(fix: Rig, ref: str, *, qty: int, leaves: int | None, cum: int = 0) -> bytes:
    body = [(b"37", b"OID1"), (b"17", b"R%d" % fix.peer.next_seq), (b"11", ref.encode()), (b"150", b"D")]
    body += [(b"39", b"0" if not cum else b"1"), (b"378", b"4"), (b"55", b"AAPL"), (b"54", b"1")]
    body += [(b"38", b"%d" % qty), (b"44", b"230"), (b"14", b"%d" % cum), (b"6", b"230" if cum else b"0")]
    if leaves is not None:
        body.append((b"151", b"%d" % leaves))
    return fix.peer.message(MsgType.EXECUTION_REPORT, [*body, (b"58", b"size cut by the venue")])


def _fill(fix: Rig, ref: str, last: int, cum: int, qty: int = 100, *, px: bytes | None = b"230") -> bytes:
    return fix.peer.execution_report(
        ref.encode(),
        b"F",
        ord_status=b"2" if cum == qty else b"1",
        order_qty=qty,
        leaves=qty - cum,
        cum=cum,
        price=b"230",
        last_qty=last if px is not None else 0,
        last_px=px or b"",
        exec_id=b"X%d" % fix.peer.next_seq,
        extra=None if px is not None else [(b"32", b"%d" % last)],  # no LastPx (31)
    )


def _cancel_reject(fix: Rig, ref: str, orig: str, status: bytes) -> bytes:
    body = [(b"37", b"OID1"), (b"11", ref.encode()), (b"41", orig.encode()), (b"39", status), (b"434", b"1")]
    return fix.peer.message(MsgType.ORDER_CANCEL_REJECT, [*body, (b"102", b"0"), (b"58", b"too late")])


def _events(link: MemoryLink) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for m in link.received():
        if isinstance(m, Executed):
            out.append(("Executed", m.qty, m.cum_qty, m.leaves_qty))
        elif isinstance(m, Canceled):
            out.append(("Canceled", m.canceled_qty, m.leaves_qty, m.reason))
        elif isinstance(m, CancelRejected):
            out.append(("CancelRejected", m.code))
    return out


def _open_counted(order: Order) -> int:
    book = ExposureBook()
    book.sync(order, 2_300_000)
    record = book.counted(order)
    return 0 if record is None else record.leaves


def test_restated_cut_when_venue_fills_the_rest_then_order_filled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # s5 (a): 150=D 378=4 38=60 151=60, then the 60 fills; the strategy's cancel crossed by it is refused (39=2)
    fix, engine, rig, strat, ref = _gateway(tmp_path)
    with caplog.at_level(logging.WARNING, logger="venues.fix.adapter"):
        fix.deliver(engine, _restated(fix, ref, qty=60, leaves=60))
    order = engine.strategies["S1"].orders["A"]
    assert (order.state, order.leaves_qty, _open_counted(order)) == (OrderState.LIVE, 60, 60)
    assert [r for r in caplog.records if "Restated" in r.getMessage() and "order 1" in r.getMessage()] != []
    rig.send(strat, Cancel("A"))
    (cancel,) = fix.wire.take()
    fix.deliver(engine, _fill(fix, ref, 60, 60, qty=60))
    fix.deliver(engine, _cancel_reject(fix, cancel.get(b"11").decode(), ref, b"2"))
    assert (order.state, order.cum_qty, order.leaves_qty, _open_counted(order)) == (OrderState.FILLED, 60, 0, 0)
    assert _events(strat) == [("Canceled", 40, 60, "RESTATED"), ("Executed", 60, 60, 0)]
    assert fix.adapter.counters["ignored_exec_reports"] == 0
    assert fix.wire.take() == []


def test_restated_by_order_qty_only_when_partly_filled_then_rest_cut(tmp_path: Path) -> None:
    # no LeavesQty: OrderQty 50 less CumQty 30 leaves 20 of the 70 open
    fix, engine, _rig, strat, ref = _gateway(tmp_path)
    fix.deliver(engine, _fill(fix, ref, 30, 30))
    fix.deliver(engine, _restated(fix, ref, qty=50, leaves=None, cum=30))
    order = engine.strategies["S1"].orders["A"]
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.LIVE, 30, 20)
    assert _events(strat) == [("Executed", 30, 30, 70), ("Canceled", 50, 20, "RESTATED")]


def test_restated_to_nothing_left_then_order_canceled(tmp_path: Path) -> None:
    fix, engine, _rig, strat, ref = _gateway(tmp_path)
    fix.deliver(engine, _restated(fix, ref, qty=100, leaves=0))
    order = engine.strategies["S1"].orders["A"]
    assert (order.state, order.leaves_qty) == (OrderState.CANCELED, 0)
    assert _events(strat) == [("Canceled", 100, 0, "RESTATED")]


def test_restated_above_what_is_open_then_not_applied_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fix, engine, _rig, strat, ref = _gateway(tmp_path)
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        fix.deliver(engine, _restated(fix, ref, qty=150, leaves=150))
    order = engine.strategies["S1"].orders["A"]
    assert (order.state, order.leaves_qty) == (OrderState.LIVE, 100)
    assert fix.adapter.counters["restatements_not_applied"] == 1
    assert [r for r in caplog.records if r.levelno == logging.ERROR and "reconcile" in r.getMessage()] != []
    assert _events(strat) == []


def test_cancel_reject_says_filled_when_order_open_here_then_venue_asked_and_fill_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the fill report never came: the CancelReject's OrdStatus 2 must not leave the order LIVE silently
    fix, engine, rig, strat, ref = _gateway(tmp_path)
    rig.send(strat, Cancel("A"))
    (cancel,) = fix.wire.take()
    with caplog.at_level(logging.WARNING, logger="venues.fix.adapter"):
        fix.deliver(engine, _cancel_reject(fix, cancel.get(b"11").decode(), ref, b"2"))
    (question,) = fix.wire.take()
    assert (question.msg_type, question.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, ref.encode())
    assert fix.adapter.counters["status_disagreements"] == 1
    assert [r for r in caplog.records if "OrdStatus 2" in r.getMessage() and "order 1" in r.getMessage()] != []
    body = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref.encode()), (b"150", b"I"), (b"39", b"2")]
    body += [(b"55", b"AAPL"), (b"54", b"1"), (b"38", b"100"), (b"44", b"230"), (b"151", b"0")]
    fix.deliver(engine, fix.peer.message(MsgType.EXECUTION_REPORT, [*body, (b"14", b"100"), (b"6", b"230")]))
    order = engine.strategies["S1"].orders["A"]
    assert (order.state, order.cum_qty) == (OrderState.FILLED, 100)
    assert _events(strat) == [("CancelRejected", "TOO_LATE_TO_CANCEL"), ("Executed", 100, 100, 0)]
    assert fix.adapter.status()["open_orders"] == 0


def test_fill_missing_last_px_then_rejected_required_tag_missing(tmp_path: Path) -> None:
    fix, engine, _rig, _strat, ref = _gateway(tmp_path)
    fill = _fill(fix, ref, 30, 30, px=None)
    assert b"\x0131=" not in fill
    fix.deliver(engine, fill)
    reject, _question = fix.wire.take()
    assert (reject.msg_type, reject.get(b"373"), reject.get(b"371")) == (MsgType.REJECT, b"1", b"31")


def test_fill_with_unreadable_last_px_then_rejected_incorrect_data_format(tmp_path: Path) -> None:
    fix, engine, _rig, _strat, ref = _gateway(tmp_path)
    fix.deliver(engine, _fill(fix, ref, 30, 30, px=b"2x3"))
    reject, _question = fix.wire.take()
    assert (reject.msg_type, reject.get(b"373"), reject.get(b"371")) == (MsgType.REJECT, b"6", b"31")
