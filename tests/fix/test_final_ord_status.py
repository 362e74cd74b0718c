"""Reports whose OrdStatus (39) ends the order, and rejects of an order the venue had acknowledged (fixfix51).

rev51fix r4: an IOC order partly filled, reported in one ExecutionReport ``150=F 39=4 151=0`` (the rest canceled):
the strategy got the Executed (leaves 70) and nothing more, the core and risk kept 70 open for ever while the adapter
forgot the order, so the venue's later Canceled was dropped as an unknown ClOrdID. r3: a first report ``150=0`` with
OrdStatus 2 or 4: OrderAccepted, then the adapter forgot the order silently. r1: an unsolicited ``150=8 39=8`` of an
acknowledged order: out of place in the core, the order stayed LIVE for the strategy and risk. r1b: a late
BusinessMessageReject of an acknowledged order's NewOrderSingle: likewise. s2/s17: a fill without OrdStatus, Side or
Symbol was applied, and an undefined OrdStatus in a status answer was dropped without a word.
A real engine on a fake clock over the broker-fix44 dialect (FIX 4.4, OrderStatusRequest).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, OrderAccepted
from model.order import Order, OrderState
from risk.exposure import ExposureBook
from tests.harness import MemoryLink, engine_over
from tests.harness import Rig as HarnessRig
from venues.fix.fields import MsgType

from .test_adapter import Rig


def _gateway(tmp_path: Path, *, ack: bool = True) -> tuple[Rig, Engine, MemoryLink, str]:
    fix, engine, _rig, strat, ref = _gateway_rig(tmp_path, ack=ack)
    return fix, engine, strat, ref


def _gateway_rig(tmp_path: Path, *, ack: bool = True) -> tuple[Rig, Engine, HarnessRig, MemoryLink, str]:
    fix = Rig("broker-fix44").up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=2_300_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11").decode()
    if ack:
        fix.deliver(engine, fix.peer.execution_report(ref.encode(), b"0", price=b"230"))
    return fix, engine, rig, strat, ref


def _events(link: MemoryLink) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for m in link.received():
        if isinstance(m, OrderAccepted):
            out.append(("Accepted",))
        elif isinstance(m, Executed):
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


def _order(engine: Engine) -> Order:
    return engine.strategies["S1"].orders["A"]


@pytest.mark.parametrize(("status", "reason"), [(b"4", "CANCELED"), (b"C", "EXPIRED"), (b"3", "DONE_FOR_DAY")])
def test_fill_with_final_ord_status_then_fill_and_rest_canceled(tmp_path: Path, status: bytes, reason: str) -> None:
    fix, engine, strat, ref = _gateway(tmp_path)  # an IOC order, as far as the venue's report goes
    fill = fix.peer.execution_report(
        ref.encode(), b"F", ord_status=status, leaves=0, cum=30, price=b"230", last_qty=30, last_px=b"230.1"
    )
    fix.deliver(engine, fill)
    order = _order(engine)
    # before fixfix51: LIVE with 70 open, the strategy told Executed (leaves 70) only, the adapter tracking nothing
    assert (order.state, order.cum_qty, order.leaves_qty, _open_counted(order)) == (OrderState.CANCELED, 30, 0, 0)
    assert _events(strat) == [("Accepted",), ("Executed", 30, 30, 70), ("Canceled", 70, 0, reason)]
    assert fix.adapter.status()["open_orders"] == 0
    assert fix.wire.take() == []
    # the venue's own Canceled after it: the order's (ended here), not an unknown ClOrdID
    fix.deliver(engine, fix.peer.execution_report(ref.encode(), b"4", ord_status=b"4", leaves=0, cum=30))
    assert fix.adapter.counters["unknown_cl_ord_id"] == 0
    assert _events(strat) == []


def test_fill_with_ord_status_canceled_while_cancel_in_flight_then_cancel_answered(tmp_path: Path) -> None:
    fix, engine, rig, strat, ref = _gateway_rig(tmp_path)
    strat.received()
    rig.send(strat, Cancel("A"))
    (cancel,) = fix.wire.take()
    assert cancel.msg_type == MsgType.ORDER_CANCEL_REQUEST
    fill = fix.peer.execution_report(
        ref.encode(), b"F", ord_status=b"4", leaves=0, cum=40, price=b"230", last_qty=40, last_px=b"230"
    )
    fix.deliver(engine, fill)
    order = _order(engine)
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 40, 0)
    assert _events(strat) == [("Executed", 40, 40, 60), ("Canceled", 60, 0, "CANCELED")]


@pytest.mark.parametrize(("status", "cum", "leaves"), [(b"2", 100, 0), (b"4", 0, 0)])
def test_new_report_with_final_ord_status_then_counted_asked_and_kept_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, status: bytes, cum: int, leaves: int
) -> None:
    fix, engine, strat, ref = _gateway(tmp_path, ack=False)
    with caplog.at_level(logging.WARNING, logger="venues.fix.adapter"):
        fix.deliver(engine, fix.peer.execution_report(ref.encode(), b"0", ord_status=status, cum=cum, leaves=leaves))
    (question,) = fix.wire.take()  # before fixfix51: nothing asked, the order forgotten here
    assert (question.msg_type, question.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, ref.encode())
    assert fix.adapter.counters["status_disagreements"] == 1
    assert fix.adapter.status()["open_orders"] == 1
    assert [r for r in caplog.records if f"OrdStatus {status.decode()}" in r.getMessage()] != []
    # the venue's own report then ends it here
    if status == b"2":
        end = fix.peer.execution_report(
            ref.encode(), b"F", ord_status=b"2", leaves=0, cum=100, last_qty=100, last_px=b"230", exec_id=b"F1"
        )
    else:
        end = fix.peer.execution_report(ref.encode(), b"4", ord_status=b"4", leaves=0)
    fix.deliver(engine, end)
    order = _order(engine)
    assert order.is_terminal and _open_counted(order) == 0
    assert fix.adapter.status()["open_orders"] == 0
    assert fix.adapter.counters["unknown_cl_ord_id"] == 0
    last = ("Executed", 100, 100, 0) if status == b"2" else ("Canceled", 100, 0, "CANCELED")
    assert _events(strat) == [("Accepted",), last]


def test_unsolicited_reject_of_acknowledged_order_then_canceled_rejected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fix, engine, strat, ref = _gateway(tmp_path)
    strat.received()
    report = fix.peer.execution_report(
        ref.encode(), b"8", ord_status=b"8", leaves=0, extra=[(b"103", b"0"), (b"58", b"killed by venue risk")]
    )
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        fix.deliver(engine, report)
    order = _order(engine)
    # before fixfix51: out of place in the core, LIVE with 100 open, the adapter tracking nothing
    assert (order.state, order.leaves_qty, _open_counted(order)) == (OrderState.CANCELED, 0, 0)
    (canceled,) = strat.received()
    assert isinstance(canceled, Canceled)
    assert (canceled.reason, canceled.leaves_qty) == ("REJECTED", 0)
    assert "killed by venue risk" in canceled.text
    assert fix.adapter.counters["status_disagreements"] == 1
    assert engine._counters.venue_events_out_of_place == 0
    assert [r for r in caplog.records if "reconcile" in r.getMessage()] != []


@pytest.mark.parametrize("kind", ["business", "session"])
def test_late_reject_of_acknowledged_new_order_then_asked_not_ended(tmp_path: Path, kind: str) -> None:
    fix, engine, strat, ref = _gateway(tmp_path)
    strat.received()
    new_seq = 2  # the gateway's NewOrderSingle (its Logon was 1)
    if kind == "business":
        body = [(b"45", b"%d" % new_seq), (b"372", b"D"), (b"379", ref.encode()), (b"380", b"0"), (b"58", b"late")]
        fix.deliver(engine, fix.peer.message(MsgType.BUSINESS_MESSAGE_REJECT, body))
    else:
        body = [(b"45", b"%d" % new_seq), (b"371", b"55"), (b"372", b"D"), (b"373", b"5"), (b"58", b"late")]
        fix.deliver(engine, fix.peer.message(MsgType.REJECT, body))
    (question,) = fix.wire.take()
    assert (question.msg_type, question.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, ref.encode())
    assert fix.adapter.counters["status_disagreements"] == 1
    assert fix.adapter.status()["open_orders"] == 1  # before fixfix51: 0, the core keeping it LIVE
    assert _events(strat) == []
    # its fills still apply; the venue's answer (OrdStatus 8: it does not have the order) ends it
    fill = fix.peer.execution_report(
        ref.encode(), b"F", ord_status=b"1", leaves=90, cum=10, last_qty=10, last_px=b"230", exec_id=b"J1"
    )
    fix.deliver(engine, fill)
    body = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref.encode()), (b"150", b"I"), (b"39", b"8")]
    body += [(b"55", b"AAPL"), (b"54", b"1"), (b"38", b"100"), (b"151", b"0"), (b"14", b"10"), (b"6", b"230")]
    fix.deliver(engine, fix.peer.message(MsgType.EXECUTION_REPORT, body))
    order = _order(engine)
    assert (order.state, order.cum_qty, _open_counted(order)) == (OrderState.CANCELED, 10, 0)
    assert _events(strat) == [("Executed", 10, 10, 90), ("Canceled", 90, 0, "REJECTED")]


@pytest.mark.parametrize(("drop", "reason"), [(b"39", b"1"), (b"54", b"1"), (b"55", b"1")])
def test_fill_missing_required_tag_then_rejected_not_applied(tmp_path: Path, drop: bytes, reason: bytes) -> None:
    fix, engine, strat, ref = _gateway(tmp_path)
    strat.received()
    fill = fix.peer.execution_report(
        ref.encode(), b"F", ord_status=b"1", leaves=90, cum=10, last_qty=10, last_px=b"230", exec_id=b"M1"
    )
    fill = _without(fill, drop)
    fix.deliver(engine, fill)
    reject, question = fix.wire.take()
    assert (reject.msg_type, reject.get(b"373"), reject.get(b"371")) == (MsgType.REJECT, reason, drop)
    assert question.msg_type == MsgType.ORDER_STATUS_REQUEST
    assert _order(engine).cum_qty == 0  # before fixfix51: applied
    assert _events(strat) == []
    assert fix.adapter.counters["unparseable"] == 1


def test_status_answer_with_undefined_ord_status_then_rejected(tmp_path: Path) -> None:
    fix, engine, strat, ref = _gateway(tmp_path)
    strat.received()
    fix.deliver(engine, fix.peer.execution_report(ref.encode(), b"F", ord_status=b"1", cum=10, leaves=90))  # LastQty 0
    reject, question = fix.wire.take()
    assert (reject.msg_type, question.msg_type) == (MsgType.REJECT, MsgType.ORDER_STATUS_REQUEST)
    body = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref.encode()), (b"150", b"I"), (b"39", b"Z")]
    body += [(b"55", b"AAPL"), (b"54", b"1"), (b"38", b"100"), (b"151", b"100"), (b"14", b"0"), (b"6", b"0")]
    fix.deliver(engine, fix.peer.message(MsgType.EXECUTION_REPORT, body))
    (reject,) = fix.wire.take()  # before fixfix51: nothing, the answer dropped without a word
    assert (reject.msg_type, reject.get(b"373"), reject.get(b"371")) == (MsgType.REJECT, b"5", b"39")
    assert fix.adapter.status()["questions_open"] == 1  # the question stays out (asked again later)
    assert _events(strat) == []


def _without(raw: bytes, tag: bytes) -> bytes:
    from venues.fix.codec import finish

    first = raw.index(b"\x01", raw.index(b"\x019=") + 1) + 1
    body = raw[first : raw.rindex(b"10=", first)]
    kept = [field for field in body[:-1].split(b"\x01") if not field.startswith(tag + b"=")]
    return finish(raw[2 : raw.index(b"\x01")], b"\x01".join(kept) + b"\x01")
