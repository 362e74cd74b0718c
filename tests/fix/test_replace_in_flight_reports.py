"""Reports that arrive while a FIX Replace is in flight: fills only CumQty shows, Restated, an asking cancel refused.

brief fixrep39: (1) a fill only a report's CumQty implies (a Replaced, a Restated, a status answer, a fill whose
CumQty rose by more than its LastQty) was not marked ``replace_pending``, so a Replace raising the quantity could
not keep the order open: the Replaced report's own CumQty was not read at all (position short by what it showed).
(2) a Restated arriving while a Replace is in flight was measured against the open quantity the order has as the
gateway holds it, not against the terms the report is about (its own OrderQty / CumQty / LeavesQty). (3) a Replace
asked about after the venue reset its numbering, whose asking cancel the venue refused, stayed pending forever: the
strategy never got its answer.
A real engine on a fake clock over the broker-fix44 dialect (FIX 4.4, OrderStatusRequest) and equities-fix42 (FIX
4.2, no OrderStatusRequest: requests in doubt are asked about with a cancel), and the real exposure book.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.app import GatewayProcess
from gateway.engine import Engine
from gateway.protocol.messages import Canceled, CancelRejected, Executed, Replace, Replaced
from model.order import Order, OrderState
from risk.exposure import ExposureBook
from tests.harness import MemoryLink, engine_over
from venues.fix.fields import MsgType

from .test_adapter import Rig

_PX = 2_300_000


def _report(
    fix: Rig,
    ref: str,
    exec_type: bytes,
    status: bytes,
    qty: int,
    cum: int,
    leaves: int | None,
    *,
    last: int = 0,
    orig: str = "",
    avg: bytes = b"230",
) -> bytes:
    """Return an ExecutionReport (4.4 style, no ExecTransType); ``leaves`` None: no LeavesQty (151)."""
    body = [(b"37", b"OID1"), (b"17", b"X%d" % fix.peer.next_seq), (b"11", ref.encode())]
    if orig:
        body.append((b"41", orig.encode()))
    body += [(b"150", exec_type), (b"39", status), (b"55", b"AAPL"), (b"54", b"1"), (b"38", b"%d" % qty)]
    body += [(b"44", b"230"), (b"14", b"%d" % cum), (b"6", avg if cum else b"0")]
    if leaves is not None:
        body.append((b"151", b"%d" % leaves))
    if last:
        body += [(b"32", b"%d" % last), (b"31", b"230")]
    if exec_type == b"D":
        body += [(b"378", b"5"), (b"58", b"partial decline")]
    return fix.peer.message(MsgType.EXECUTION_REPORT, body)


def _status(fix: Rig, ref: str, status: bytes, qty: int, cum: int, leaves: int) -> bytes:
    body = [(b"37", b"OID1"), (b"17", b"S%d" % fix.peer.next_seq), (b"11", ref.encode()), (b"150", b"I")]
    body += [(b"39", status), (b"55", b"AAPL"), (b"54", b"1"), (b"38", b"%d" % qty), (b"44", b"230")]
    body += [(b"151", b"%d" % leaves), (b"14", b"%d" % cum), (b"6", b"230")]
    return fix.peer.message(MsgType.EXECUTION_REPORT, body)


def _replace_in_flight(
    tmp_path: Path, to: int = 150, dialect: str = "broker-fix44"
) -> tuple[Rig, Engine, MemoryLink, str, str]:
    """Return the rig, engine, strategy link, the order's ClOrdID and its Replace's (100 -> ``to``, in flight)."""
    fix = Rig(dialect).up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=_PX, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11").decode()
    fix.deliver(engine, _report(fix, ref, b"0", b"0", 100, 0, 100))
    rig.send(strat, Replace("A", to, _PX))
    (replace,) = fix.wire.take()
    assert replace.msg_type == MsgType.ORDER_CANCEL_REPLACE_REQUEST
    strat.received()
    return fix, engine, strat, ref, replace.get(b"11").decode()


def _order(engine: Engine) -> Order:
    return engine.strategies["S1"].orders["A"]


def _open_counted(order: Order) -> int:
    """Return the open quantity the risk engine's exposure book counts for ``order`` as it stands."""
    book = ExposureBook()
    book.sync(order, _PX)
    record = book.counted(order)
    return 0 if record is None else record.leaves


def _events(link: MemoryLink) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for m in link.received():
        if isinstance(m, Executed):
            out.append(("Executed", m.qty, m.cum_qty, m.leaves_qty))
        elif isinstance(m, Replaced):
            out.append(("Replaced", m.qty, m.leaves_qty))
        elif isinstance(m, Canceled):
            out.append(("Canceled", m.canceled_qty, m.leaves_qty))
        elif isinstance(m, CancelRejected):
            out.append(("CancelRejected", m.code))
    return out


def _state(engine: Engine) -> tuple[object, ...]:
    order = _order(engine)
    return order.state, order.qty, order.cum_qty, order.leaves_qty, _open_counted(order)


# ---- (1) fills only CumQty shows -------------------------------------------------------------------------------


def test_replaced_with_cum_qty_reaching_old_quantity_when_no_fill_seen_then_fill_first_and_open_at_new_terms(
    tmp_path: Path,
) -> None:
    # the brief's repro: the 100 filled (report lost), then the Replace to 150 took: Replaced 14=100 151=50
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, g_ref, b"5", b"1", 150, 100, 50, orig=ref))
    assert _state(engine) == (OrderState.LIVE, 150, 100, 50, 50)
    assert _events(strat) == [("Executed", 100, 100, 50), ("Replaced", 150, 50)]
    assert fix.adapter.counters["fills_from_cum_qty"] == 1
    assert engine.counters.venue_events_out_of_place == 0


def test_replaced_with_cum_qty_reaching_new_quantity_then_replaced_first_and_order_filled(tmp_path: Path) -> None:
    # 150 executed: 50 of it can only have executed under the new terms, so the Replace took first
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, g_ref, b"5", b"2", 150, 150, 0, orig=ref))
    assert _state(engine) == (OrderState.FILLED, 150, 150, 0, 0)
    assert _events(strat) == [("Replaced", 150, 150), ("Executed", 150, 150, 0)]
    assert engine.counters.venue_events_out_of_place == 0


def test_replaced_with_cum_qty_below_old_quantity_then_partial_fill_first(tmp_path: Path) -> None:
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, g_ref, b"5", b"1", 150, 30, 120, orig=ref))
    assert _state(engine) == (OrderState.LIVE, 150, 30, 120, 120)
    assert _events(strat) == [("Executed", 30, 30, 70), ("Replaced", 150, 120)]


def test_status_answer_about_replace_with_cum_qty_reaching_old_quantity_then_order_open_at_new_terms(
    tmp_path: Path,
) -> None:
    # the Replace was gap-filled on the venue's resend request: asked about with an OrderStatusRequest; the answer
    # says it took and the 100 executed (no fill seen)
    fix, engine, strat, _ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, fix.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"2"), (b"16", b"0")]))
    asked = [m for m in fix.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST]
    assert [m.get(b"11") for m in asked] == [g_ref.encode()]
    fix.deliver(engine, _status(fix, g_ref, b"1", 150, 100, 50))
    assert _state(engine) == (OrderState.LIVE, 150, 100, 50, 50)
    assert _events(strat) == [("Executed", 100, 100, 50), ("Replaced", 150, 50)]
    assert engine.counters.venue_events_out_of_place == 0


def test_question_about_replace_when_the_venue_reports_replaced_then_settled_and_the_late_answer_ignored(
    tmp_path: Path,
) -> None:
    # rev45fix 3: the venue's own Replaced answers the Replace asked about; the question used to stay out
    # (questions_open 1) until the late answer came, and for good when the venue dropped the question
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, fix.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"2"), (b"16", b"0")]))
    assert [m.get(b"11") for m in fix.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST] == [g_ref.encode()]
    assert fix.adapter.status()["questions_open"] == 1
    fix.deliver(engine, _report(fix, g_ref, b"5", b"0", 150, 0, 150, orig=ref))
    assert _state(engine) == (OrderState.LIVE, 150, 0, 150, 150)
    assert fix.adapter.status()["questions_open"] == 0
    ignored = fix.adapter.counters["ignored_exec_reports"]
    fix.deliver(engine, _status(fix, g_ref, b"0", 150, 0, 150))  # the late answer: no question out
    assert fix.adapter.counters["ignored_exec_reports"] == ignored + 1
    assert _state(engine) == (OrderState.LIVE, 150, 0, 150, 150)
    assert _events(strat) == [("Replaced", 150, 150)]


def test_fill_with_cum_qty_above_count_and_last_when_replace_up_in_flight_then_order_kept_open(
    tmp_path: Path,
) -> None:
    # 100 lost with a reset, then a fill of 10 with CumQty 110: the 100 (from CumQty) reach the old quantity; it
    # used to end the order FILLED, and the 10 and the Replaced were dropped as out of place
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, ref, b"F", b"1", 150, 110, 40, last=10))
    assert _state(engine) == (OrderState.PENDING_REPLACE, 100, 110, 40, 40)
    fix.deliver(engine, _report(fix, g_ref, b"5", b"1", 150, 110, 40, orig=ref))
    assert _state(engine) == (OrderState.LIVE, 150, 110, 40, 40)
    assert _events(strat) == [("Executed", 100, 100, 50), ("Executed", 10, 110, 40), ("Replaced", 150, 40)]
    assert engine.counters.venue_events_out_of_place == 0


def test_restated_with_cum_qty_reaching_old_quantity_when_replace_up_in_flight_then_order_kept_open(
    tmp_path: Path,
) -> None:
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, ref, b"D", b"2", 100, 100, 0))
    assert _state(engine) == (OrderState.PENDING_REPLACE, 100, 100, 50, 50)
    fix.deliver(engine, _report(fix, g_ref, b"5", b"1", 150, 100, 50, orig=ref))
    assert _state(engine) == (OrderState.LIVE, 150, 100, 50, 50)
    assert _events(strat) == [("Executed", 100, 100, 50), ("Replaced", 150, 50)]


# ---- (2) a Restated while a Replace is in flight ---------------------------------------------------------------


def test_restated_cut_at_old_terms_then_replaced_then_open_at_new_terms(tmp_path: Path) -> None:
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, ref, b"D", b"0", 60, 0, 60))  # the venue declined 40 of the 100
    assert _state(engine) == (OrderState.PENDING_REPLACE, 100, 0, 60, 150)  # the Replace may still take
    fix.deliver(engine, _report(fix, g_ref, b"5", b"0", 150, 0, 150, orig=ref))
    assert _state(engine) == (OrderState.LIVE, 150, 0, 150, 150)
    assert _events(strat) == [("Canceled", 40, 60), ("Replaced", 150, 150)]


def test_restated_cut_at_old_terms_then_replace_rejected_then_open_as_restated(tmp_path: Path) -> None:
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, ref, b"D", b"0", 60, 0, 60))
    reject = [(b"37", b"OID1"), (b"11", g_ref.encode()), (b"41", ref.encode()), (b"39", b"0"), (b"434", b"2")]
    fix.deliver(engine, fix.peer.message(MsgType.ORDER_CANCEL_REJECT, [*reject, (b"102", b"2")]))
    assert _state(engine) == (OrderState.LIVE, 100, 0, 60, 60)
    assert _events(strat) == [("Canceled", 40, 60), ("CancelRejected", "BROKER_OPTION")]


def test_restated_at_old_terms_after_fill_kept_order_open_then_nothing_canceled_and_replaced_applies(
    tmp_path: Path,
) -> None:
    # the 100 filled (the order kept open by the Replace to 150: 50 open); the venue restates the old terms (a
    # price, say): 100 ordered, 100 executed, 0 open. Measured against the 50 the Replace would leave, it used to
    # cancel the order, and the Replaced that followed was dropped: 50 open at the venue counted nowhere
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, ref, b"F", b"2", 100, 100, 0, last=100))
    fix.deliver(engine, _report(fix, ref, b"D", b"2", 100, 100, 0))
    assert _state(engine) == (OrderState.PENDING_REPLACE, 100, 100, 50, 50)
    fix.deliver(engine, _report(fix, g_ref, b"5", b"1", 150, 100, 50, orig=ref))
    assert _state(engine) == (OrderState.LIVE, 150, 100, 50, 50)
    assert _events(strat) == [("Executed", 100, 100, 50), ("Replaced", 150, 50)]
    assert engine.counters.venue_events_out_of_place == 0


def test_restated_at_old_terms_after_fill_kept_order_open_then_replace_rejected_ends_filled(tmp_path: Path) -> None:
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, ref, b"F", b"2", 100, 100, 0, last=100))
    fix.deliver(engine, _report(fix, ref, b"D", b"2", 100, 100, 0))
    reject = [(b"37", b"OID1"), (b"11", g_ref.encode()), (b"41", ref.encode()), (b"39", b"2"), (b"434", b"2")]
    fix.deliver(engine, fix.peer.message(MsgType.ORDER_CANCEL_REJECT, [*reject, (b"102", b"0")]))
    assert _state(engine) == (OrderState.FILLED, 100, 100, 0, 0)
    assert _events(strat) == [
        ("Executed", 100, 100, 50),
        ("CancelRejected", "TOO_LATE_TO_CANCEL"),
        ("Executed", 0, 100, 0),
    ]


def test_restated_at_the_replace_terms_then_left_to_the_replace_answer_and_replaced_applies(tmp_path: Path) -> None:
    # the report names the Replace's quantity (150, 120 open): it is about the new terms, not a cut of the old 100
    # nor more open than the venue may have (the Replace's answer settles it); it used to be an ERROR to reconcile
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, g_ref, b"D", b"0", 150, 0, 120, orig=ref))
    assert _state(engine) == (OrderState.PENDING_REPLACE, 100, 0, 100, 150)
    assert fix.adapter.counters["restatements_not_applied"] == 0
    fix.deliver(engine, _report(fix, g_ref, b"5", b"0", 150, 0, 120, orig=ref))
    assert _state(engine) == (OrderState.LIVE, 150, 0, 120, 120)
    assert _events(strat) == [("Replaced", 150, 120)]


def test_restated_at_the_replace_terms_of_a_replace_down_then_old_terms_not_cut(tmp_path: Path) -> None:
    # a Replace 100 -> 50 in flight; the venue restates at 50 (30 open): measured against the old 100 it was a cut
    # of 70 of the old terms. Then the Replace is refused: the old 100 stand (the venue's refusal says so)
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path, to=50)
    fix.deliver(engine, _report(fix, g_ref, b"D", b"0", 50, 0, 30, orig=ref))
    assert _state(engine) == (OrderState.PENDING_REPLACE, 100, 0, 100, 100)
    reject = [(b"37", b"OID1"), (b"11", g_ref.encode()), (b"41", ref.encode()), (b"39", b"0"), (b"434", b"2")]
    fix.deliver(engine, fix.peer.message(MsgType.ORDER_CANCEL_REJECT, [*reject, (b"102", b"2")]))
    assert _state(engine) == (OrderState.LIVE, 100, 0, 100, 100)
    assert _events(strat) == [("CancelRejected", "BROKER_OPTION")]


def test_restated_above_even_the_replace_terms_then_not_applied_and_counted(tmp_path: Path) -> None:
    fix, engine, _strat, ref, _g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, ref, b"D", b"0", 200, 0, 200))
    assert _state(engine) == (OrderState.PENDING_REPLACE, 100, 0, 100, 150)
    assert fix.adapter.counters["restatements_not_applied"] == 1


# ---- (3) a Replace asked about after a numbering reset, the asking cancel refused ----------------------------


def _reset_and_ask(fix: Rig, engine: Engine) -> bytes:
    """The link drops; the venue logs on with ResetSeqNumFlag=Y; the engine hands over the Replace in doubt."""
    fix.adapter.detach()
    fix.adapter.connection_lost(fix.clock())
    engine.flush()
    fix.connect()
    fix.wire.take()
    fix.peer.next_seq = 1
    fix.deliver(engine, fix.peer.logon(reset=True))
    cancels = [m for m in fix.wire.take() if m.msg_type == MsgType.ORDER_CANCEL_REQUEST]
    assert len(cancels) == 1
    return cancels[0].get(b"11")


def _asking_refused(fix: Rig, asking: bytes, g_ref: str, status: bytes) -> bytes:
    body = [(b"37", b"OID1"), (b"11", asking), (b"41", g_ref.encode()), (b"39", status), (b"434", b"1")]
    return fix.peer.message(MsgType.ORDER_CANCEL_REJECT, [*body, (b"102", b"0"), (b"58", b"too late")])


def test_replace_in_doubt_after_reset_when_asking_cancel_refused_then_replace_rejected_old_terms_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fix, engine, strat, _ref, g_ref = _replace_in_flight(tmp_path, dialect="equities-fix42")
    asking = _reset_and_ask(fix, engine)
    strat.received()
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        fix.deliver(engine, _asking_refused(fix, asking, g_ref, b"0"))
    assert _state(engine) == (OrderState.LIVE, 100, 0, 100, 100)
    assert _events(strat) == [("CancelRejected", "TOO_LATE_TO_CANCEL")]
    assert fix.adapter.status()["questions_open"] == 0
    assert fix.adapter.counters["fills_unknown"] == 0
    # the venue knew the replace's ClOrdID (it did not answer "unknown order"): it may have taken it (venfix40)
    assert fix.adapter.counters["replaces_maybe_taken"] == 1
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert g_ref in line and "may have taken it" in line and "reconcile the order with the venue" in line
    process = SimpleNamespace(connectors=[SimpleNamespace(adapter=fix.adapter)])
    metrics = GatewayProcess._venue_metrics(process)  # type: ignore[arg-type]
    assert metrics["venue_replaces_maybe_taken_total"] == 1


def test_replace_in_doubt_after_reset_when_the_asking_cancel_says_unknown_order_then_not_sent_and_not_counted(
    tmp_path: Path,
) -> None:
    fix, engine, strat, _ref, g_ref = _replace_in_flight(tmp_path, dialect="equities-fix42")
    asking = _reset_and_ask(fix, engine)
    strat.received()
    body = [(b"37", b"OID1"), (b"11", asking), (b"41", g_ref.encode()), (b"39", b"0"), (b"434", b"1")]
    fix.deliver(engine, fix.peer.message(MsgType.ORDER_CANCEL_REJECT, [*body, (b"102", b"1")]))
    assert _events(strat) == [("CancelRejected", "NOT_SENT")]
    assert fix.adapter.counters["replaces_maybe_taken"] == 0


def test_replace_in_doubt_after_reset_when_asking_cancel_refused_by_report_with_fills_then_fill_and_rejected(
    tmp_path: Path,
) -> None:
    # an ExecutionReport (Rejected) refuses the asking cancel and shows the 100 executed: the fill, then the Replace
    # refused, which ends the order FILLED
    fix, engine, strat, _ref, g_ref = _replace_in_flight(tmp_path, dialect="equities-fix42")
    asking = _reset_and_ask(fix, engine)
    strat.received()
    report = _report(fix, asking.decode(), b"8", b"2", 100, 100, 0, orig=g_ref)
    fix.deliver(engine, report)
    assert _state(engine) == (OrderState.FILLED, 100, 100, 0, 0)
    assert _events(strat) == [("Executed", 100, 100, 50), ("CancelRejected", "VENUE"), ("Executed", 0, 100, 0)]
    assert fix.adapter.status()["questions_open"] == 0
    assert fix.adapter.status()["open_orders"] == 0
