"""Reports lost with a numbering reset (rev37fix s2 g, s4, s5, s11): what the gateway recovers and what it flags.

Sans-IO: the adapter on a fake clock and wire, the venue scripted, each event applied to its order as the
engine does (``Rig.applying``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.enums import Side
from model.exactly_once import RequestKind, UnansweredRequest
from model.order import Order, OrderState, mark_sent
from model.venue_events import VenueAccepted, VenueCanceled, VenueCancelRejected, VenueExecuted, VenueRejected
from tests.harness import sent_ref
from venues.fix.codec import FixMessage
from venues.fix.dialect import DIALECT_DIR
from venues.fix.fields import MsgType

from .helpers import make_order
from .test_adapter import Rig


def _order(rig: Rig, order_id: int = 7, *, acked: bool, side: Side = Side.BUY) -> tuple[Order, str]:
    """Send an order (applied as the engine does); acknowledged by the venue when ``acked``."""
    order = make_order(order_id, side=side)
    ref = sent_ref(rig.adapter.send_new(order))
    mark_sent(order, ref)
    rig.applying(order)
    if acked:
        rig.feed(rig.peer.execution_report(ref.encode(), b"0"))
    rig.adapter.flush()
    rig.wire.take()
    rig.events()
    return order, ref


def _venue_resets(rig: Rig, order: Order, unanswered: list[UnansweredRequest]) -> list[FixMessage]:
    """The link drops; on the new connection the venue logs on with ResetSeqNumFlag=Y: its reports are gone."""
    rig.adapter.detach()
    rig.adapter.connection_lost(rig.clock())
    rig.connect()
    rig.wire.take()
    rig.peer.next_seq = 1
    rig.feed(rig.peer.logon(reset=True))
    rig.adapter.after_replay(unanswered)  # what the core does on UP
    rig.adapter.flush()
    return rig.wire.take()


def _asked_with_a_cancel(rig: Rig) -> tuple[Order, bytes]:
    """An unanswered new order on a dialect without OrderStatusRequest: after the reset it is asked with a cancel."""
    order, ref = _order(rig, acked=False)
    (asking,) = _venue_resets(rig, order, [UnansweredRequest(order, RequestKind.NEW, ref)])
    assert (asking.msg_type, asking.get(b"41")) == (MsgType.ORDER_CANCEL_REQUEST, b"Q6rj7")
    return order, asking.get(b"11")


def _cancel_reject(asking: bytes, ord_status: bytes, reason: bytes = b"0") -> list[tuple[bytes, bytes]]:
    return [(b"37", b"OID1"), (b"11", asking), (b"41", b"Q6rj7"), (b"39", ord_status), (b"434", b"1"), (b"102", reason)]


def test_asking_cancel_refused_when_filled_then_accepted_open_in_full_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # rev37fix s4 B1: the order stayed PENDING_NEW forever, no event, no log (its 10 filled shares unseen)
    rig = Rig("equities-fix42").up()
    order, asking = _asked_with_a_cancel(rig)
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, _cancel_reject(asking, b"2")))
    assert rig.events() == [VenueAccepted(2, 7, "OID1", 100, 1_502_500)]
    assert (order.state, order.leaves_qty, order.cum_qty) == (OrderState.LIVE, 100, 0)  # risk counts all of it
    assert rig.adapter.counters["fills_unknown"] == 1
    assert rig.adapter.status()["questions_open"] == 0
    assert any("reconcile it with the venue" in r.getMessage() for r in caplog.records)


def test_asking_cancel_refused_when_new_then_accepted_and_nothing_flagged() -> None:
    rig = Rig("equities-fix42").up()
    order, asking = _asked_with_a_cancel(rig)
    rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, _cancel_reject(asking, b"0")))
    assert rig.events() == [VenueAccepted(2, 7, "OID1", 100, 1_502_500)]
    assert order.state is OrderState.LIVE
    assert rig.adapter.counters["fills_unknown"] == 0


def test_asking_cancel_refused_when_rejected_then_rejected() -> None:
    rig = Rig("equities-fix42").up()
    order, asking = _asked_with_a_cancel(rig)
    rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, _cancel_reject(asking, b"8")))
    (event,) = rig.events()
    assert isinstance(event, VenueRejected) and (event.order_id, event.code) == (7, "VENUE")
    assert (order.state, rig.adapter.status()["open_orders"]) == (OrderState.REJECTED, 0)


def test_asking_cancel_rejected_by_an_execution_report_when_partly_filled_then_accepted_and_the_fill() -> None:
    rig = Rig("equities-fix42").up()
    order, asking = _asked_with_a_cancel(rig)
    report = rig.peer.execution_report(
        asking, b"8", ord_status=b"1", leaves=97, cum=3, orig_cl_ord_id=b"Q6rj7", extra=[(b"6", b"150"), (b"103", b"0")]
    )
    rig.feed(report)
    assert rig.events() == [VenueAccepted(2, 7, "OID1", 100, 1_502_500), VenueExecuted(2, 7, 3, 1_500_000, "", "")]
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.LIVE, 3, 97)
    assert rig.adapter.counters["fills_unknown"] == 0


def test_asking_cancel_canceled_when_cum_qty_above_the_count_then_the_fill_first() -> None:
    # rev37fix s4 B2: the venue filled 4 of 10 while the link was down, then canceled on the asking cancel
    rig = Rig("equities-fix42").up()
    order, asking = _asked_with_a_cancel(rig)
    report = rig.peer.execution_report(
        asking, b"4", ord_status=b"4", leaves=0, cum=4, orig_cl_ord_id=b"Q6rj7", extra=[(b"6", b"150")]
    )
    rig.feed(report)
    assert rig.events() == [VenueExecuted(2, 7, 4, 1_500_000, "", ""), VenueCanceled(2, 7, 0, "CANCELED", "")]
    assert (order.state, order.cum_qty) == (OrderState.CANCELED, 4)
    assert rig.adapter.counters["fills_from_cum_qty"] == 1


def test_fill_when_cum_qty_rose_by_more_than_last_qty_then_the_missing_quantity_is_applied_first() -> None:
    # rev37fix s11: a fill of 1 with CumQty 16 (15 lost with a reset) applied only 1
    rig = Rig("equities-fix42").up()
    order, _ = _order(rig, acked=True)
    fill = rig.peer.execution_report(
        b"Q6rj7", b"1", ord_status=b"1", leaves=84, cum=16, last_qty=1, last_px=b"151", exec_id=b"E9",
        extra=[(b"6", b"150.5")],
    )  # fmt: skip
    rig.feed(fill)
    assert rig.events() == [VenueExecuted(3, 7, 15, 1_505_000, "", ""), VenueExecuted(3, 7, 1, 1_510_000, "", "E9")]
    assert (order.cum_qty, order.leaves_qty) == (16, 84)
    assert rig.adapter.counters["fills_from_cum_qty"] == 1


def test_fill_when_cum_qty_rose_by_last_qty_then_applied_as_reported() -> None:
    rig = Rig("equities-fix42").up()
    order, _ = _order(rig, acked=True)
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"1", ord_status=b"1", leaves=60, cum=40, last_qty=40, last_px=b"150"))
    assert [e.qty for e in rig.events() if isinstance(e, VenueExecuted)] == [40]
    assert order.cum_qty == 40
    assert rig.adapter.counters["fills_from_cum_qty"] == 0


def test_venue_reset_logon_when_a_fill_is_held_above_a_gap_then_processed_before_the_reset() -> None:
    # rev37fix s11: the held fill was dropped with the old numbering
    rig = Rig("equities-fix42").up()
    order, _ = _order(rig, acked=True)
    rig.peer.next_seq += 1  # MsgSeqNum 3 lost on the wire: the fill (4) is held, a ResendRequest goes out
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"1", ord_status=b"1", leaves=95, cum=5, last_qty=5, last_px=b"150"))
    assert rig.events() == []
    rig.wire.take()
    rig.peer.next_seq = 1
    rig.feed(rig.peer.logon(reset=True))
    assert [(type(e), e.qty) for e in rig.events() if isinstance(e, VenueExecuted)] == [(VenueExecuted, 5)]
    assert order.cum_qty == 5
    assert rig.adapter.session.counters["held_processed_on_reset"] == 1


def test_reset_when_status_request_dialect_then_every_acknowledged_order_is_asked_about() -> None:
    # rev37fix s5 B3: a live order filled 3 while the link was down stayed at 0
    rig = Rig("broker-fix44").up()
    order, _ = _order(rig, acked=True)
    (question,) = _venue_resets(rig, order, [])
    assert (question.msg_type, question.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, b"B6rj7")
    status = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", b"B6rj7"), (b"150", b"I"), (b"39", b"1")]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, [*status, (b"14", b"3"), (b"6", b"150"), (b"151", b"97")]))
    assert rig.events() == [VenueExecuted(2, 7, 3, 1_500_000, "", "")]
    assert order.cum_qty == 3


def _status_answer(ord_status: bytes, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """The body of the venue's answer (FIX 4.4, ExecType I) to the question about order 7 (ClOrdID B6rj7)."""
    return [(b"37", b"OID1"), (b"17", b"S1"), (b"11", b"B6rj7"), (b"150", b"I"), (b"39", ord_status), *extra]


def test_reset_when_the_status_answer_says_rejected_then_the_order_ends_canceled_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # rev43fix44 2 (s2-3): ExecType I, OrdStatus 8, OrdRejReason 5 was ignored; the order stayed LIVE here
    rig = Rig("broker-fix44").up()
    order, _ = _order(rig, acked=True)
    (question,) = _venue_resets(rig, order, [])
    assert question.msg_type == MsgType.ORDER_STATUS_REQUEST
    answer = _status_answer(b"8", (b"103", b"5"), (b"14", b"0"), (b"151", b"0"), (b"58", b"unknown order"))
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, answer))
    (event,) = rig.events()
    assert isinstance(event, VenueCanceled) and (event.order_id, event.canceled_qty, event.reason) == (7, 0, "REJECTED")
    assert "UNKNOWN_ORDER" in event.text
    assert (order.state, order.leaves_qty) == (OrderState.CANCELED, 0)  # risk no longer counts it open
    assert rig.adapter.counters["status_disagreements"] == 1
    assert rig.adapter.status()["open_orders"] == 0
    assert any("OrdStatus 8" in r.getMessage() and "reconcile" in r.getMessage() for r in caplog.records)


def test_reset_when_the_status_answer_says_filled_with_cum_qty_0_then_refused_naming_cum_qty() -> None:
    # rev43fix44 2 (s5-6): OrdStatus 2 with CumQty 0 was ignored without a Reject
    cum = counted = 0
    rig = Rig("broker-fix44").up()
    order, _ = _order(rig, acked=True)
    _venue_resets(rig, order, [])
    answer = _status_answer(b"2", (b"14", b"%d" % cum), (b"151", b"0"), (b"6", b"150"))
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, answer))
    rig.adapter.flush()
    assert rig.events() == []
    (reject,) = rig.wire.take()
    assert (reject.msg_type, reject.get(b"371"), reject.get(b"373")) == (MsgType.REJECT, b"14", b"5")
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.LIVE, counted, 100 - counted)
    assert rig.adapter.counters["unparseable"] == 1
    assert rig.adapter.status()["questions_open"] == 0  # not asked again (no loop)


@pytest.mark.parametrize(("cum", "counted"), [(50, 0), (30, 30)])
def test_reset_when_the_status_answer_says_filled_below_the_quantity_then_the_fill_and_the_rest_ends_restated(
    cum: int, counted: int, caplog: pytest.LogCaptureFixture
) -> None:
    # rev43diff 2: Filled (LeavesQty 0) at a CumQty below the order's quantity (the venue cut it; the Restated was
    # lost in the reset) left the order open here: (50, 0) applied the 50 and stayed PARTIALLY open with 50 the
    # venue does not have; (30, 30) was refused with a session Reject and stayed open with 70
    rig = Rig("broker-fix44").up()
    order, _ = _order(rig, acked=True)
    if counted:
        report = rig.peer.execution_report
        rig.feed(report(b"B6rj7", b"F", ord_status=b"1", leaves=70, cum=30, last_qty=30, last_px=b"150"))
        rig.events()
        rig.adapter.flush()
        rig.wire.take()
    _venue_resets(rig, order, [])
    answer = _status_answer(b"2", (b"14", b"%d" % cum), (b"38", b"%d" % cum), (b"151", b"0"), (b"6", b"150"))
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, answer))
    rig.adapter.flush()
    events = rig.events()
    fills = [e for e in events if isinstance(e, VenueExecuted)]
    assert [(e.qty, e.price) for e in fills] == ([(cum - counted, 1_500_000)] if cum > counted else [])
    assert isinstance(events[-1], VenueCanceled) and (events[-1].reason, events[-1].canceled_qty) == ("RESTATED", 0)
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, cum, 0)  # nothing open here
    assert rig.wire.take() == []  # no session Reject: the answer is consistent
    assert rig.adapter.counters["status_disagreements"] == 1 and rig.adapter.counters["unparseable"] == 0
    assert rig.adapter.status()["open_orders"] == 0
    assert any("OrdStatus 2 (Filled) at CumQty" in r.getMessage() for r in caplog.records)


def test_reset_when_the_status_answer_says_filled_in_full_then_the_fill_applied() -> None:
    rig = Rig("broker-fix44").up()
    order, _ = _order(rig, acked=True)
    _venue_resets(rig, order, [])
    answer = _status_answer(b"2", (b"14", b"100"), (b"151", b"0"), (b"6", b"150"))
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, answer))
    assert rig.events() == [VenueExecuted(2, 7, 100, 1_500_000, "", "")]
    assert (order.state, rig.adapter.status()["open_orders"]) == (OrderState.FILLED, 0)


def test_reset_when_no_status_request_then_open_orders_not_checked_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("equities-fix42").up()
    order, _ = _order(rig, acked=True)
    with caplog.at_level(logging.WARNING, logger="venues.fix.adapter"):
        assert _venue_resets(rig, order, []) == []
    assert rig.adapter.counters["orders_unchecked_after_reset"] == 1
    assert any("1 open order(s) not checked" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("tag", "value"), [(b"54", b"2"), (b"55", b"MSFT")])
def test_fill_when_side_or_symbol_is_not_the_orders_then_refused_not_applied(tag: bytes, value: bytes) -> None:
    # rev37fix s2 g: a fill with the right ClOrdID but the wrong Side / Symbol was applied
    rig = Rig("equities-fix42").up()
    order, _ = _order(rig, acked=True)
    fill = {b"37": b"OID1", b"17": b"E2", b"11": b"Q6rj7", b"20": b"0", b"150": b"1", b"39": b"1", b"55": b"AAPL"}
    fill |= {b"54": b"1", b"38": b"100", b"151": b"60", b"14": b"40", b"6": b"150", b"32": b"40", b"31": b"150"}
    fill[tag] = value
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, list(fill.items())))
    assert rig.events() == []
    assert order.cum_qty == 0
    (reject,) = rig.wire.take()
    assert (reject.msg_type, reject.get(b"373"), reject.get(b"371")) == (MsgType.REJECT, b"5", tag)
    assert rig.adapter.counters["mismatched_reports"] == 1


@pytest.mark.parametrize("echoed", [b"2", b"5", b"6"])
def test_fill_when_a_short_sale_is_echoed_as_another_sell_side_then_applied(echoed: bytes) -> None:
    # a venue may report plain Sell (2) for a Sell short (5): the sell sides match each other, Buy never does
    rig = Rig("equities-fix42").up()
    _order(rig, acked=False, side=Side.SELL_SHORT)
    ack = {b"37": b"OID1", b"17": b"E1", b"11": b"Q6rj7", b"20": b"0", b"150": b"0", b"39": b"0", b"55": b"AAPL"}
    ack |= {b"54": echoed, b"38": b"100", b"151": b"100", b"14": b"0", b"6": b"0"}
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, list(ack.items())))
    fill = ack | {b"17": b"E2", b"150": b"1", b"39": b"1", b"151": b"60", b"14": b"40", b"6": b"150"}
    fill |= {b"32": b"40", b"31": b"150"}
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, list(fill.items())))
    events = rig.events()
    assert [type(e) for e in events] == [VenueAccepted, VenueExecuted]
    assert isinstance(events[1], VenueExecuted) and events[1].qty == 40
    assert rig.adapter.counters["mismatched_reports"] == 0
    fill |= {b"17": b"E3", b"54": b"1", b"14": b"50", b"32": b"10", b"151": b"50"}
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, list(fill.items())))
    assert rig.events() == [] and rig.adapter.counters["mismatched_reports"] == 1


def test_connection_lost_when_the_session_resets_at_every_logon_then_a_held_fill_is_processed(tmp_path: Path) -> None:
    # with reset_seq_num_on_logon nothing of this numbering is ever resent: a fill held above a gap was lost
    text = (
        (DIALECT_DIR / "equities-fix42.yaml")
        .read_text()
        .replace("reset_seq_num_on_logon: false", "reset_seq_num_on_logon: true")
    )
    path = tmp_path / "equities-fix42-reset.yaml"
    path.write_text(text)
    rig = Rig(str(path)).up()
    order, _ = _order(rig, acked=True)
    rig.peer.next_seq += 1  # MsgSeqNum 3 lost on the wire: the fill (4) is held
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"1", ord_status=b"1", leaves=95, cum=5, last_qty=5, last_px=b"150"))
    assert rig.events() == []
    rig.adapter.detach()
    rig.adapter.connection_lost(rig.clock())
    assert [e.qty for e in rig.events() if isinstance(e, VenueExecuted)] == [5]
    assert order.cum_qty == 5


def test_connection_lost_when_numbers_kept_then_a_held_fill_waits_for_the_resend() -> None:
    rig = Rig("equities-fix42").up()
    _order(rig, acked=True)
    rig.peer.next_seq += 1
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"1", ord_status=b"1", leaves=95, cum=5, last_qty=5, last_px=b"150"))
    rig.adapter.detach()
    rig.adapter.connection_lost(rig.clock())
    assert rig.events() == []  # the venue resends it after the next logon


def test_cancel_rejected_with_ord_status_rejected_when_acknowledged_then_the_order_ends_canceled_rejected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # fixfix43b left: an OrderCancelReject with OrdStatus 8 (the venue does not know the order) about an acknowledged
    # order made the adapter forget it while the core kept it LIVE: risk counted 100 open that worked nowhere
    rig = Rig("equities-fix42").up()
    order, ref = _order(rig, acked=True)
    rig.adapter.send_cancel(order)
    rig.adapter.flush()
    (cancel,) = rig.wire.take()
    answer = [
        (b"37", b"OID1"),
        (b"11", cancel.get(b"11")),
        (b"41", ref.encode()),
        (b"39", b"8"),
        (b"434", b"1"),
        (b"102", b"1"),  # CxlRejReason 1: unknown order
    ]
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, answer))
    refused, ended = rig.events()
    assert isinstance(refused, VenueCancelRejected) and refused.order_id == 7  # the cancel's one answer
    assert isinstance(ended, VenueCanceled) and (ended.canceled_qty, ended.reason) == (0, "REJECTED")
    assert "OrderCancelReject says OrdStatus 8" in ended.text
    assert (order.state, order.leaves_qty) == (OrderState.CANCELED, 0)
    assert rig.adapter.counters["status_disagreements"] == 1 and rig.adapter.status()["open_orders"] == 0
    assert any("OrderCancelReject (MsgSeqNum" in r.getMessage() for r in caplog.records)
