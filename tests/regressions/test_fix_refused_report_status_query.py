"""Regression (faults15): an ExecutionReport refused for a number out of range left its order's state unknown.

The adapter answers a report with a quantity or price the strategy protocol cannot carry with a session Reject
naming the tag and produces no event (faults13). When the report belongs to a known order, whatever it said (a
fill, a cancel) never reaches the gateway: the order stays as it was, for ever. Where the dialect has
OrderStatusRequest the adapter now asks the venue about that order, and reports what its answer settles.
"""

from __future__ import annotations

from model.venue_events import VenueCanceled, VenueExecuted
from venues.fix.codec import FixMessage
from venues.fix.fields import MsgType

from ..fix.test_adapter import Rig, _sent


def _status(ord_status: bytes, cum: int, avg_px: bytes, leaves: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"37", b"OID1"),
        (b"17", b"S1"),
        (b"11", b"B6rj7"),
        (b"150", b"I"),
        (b"39", ord_status),
        (b"55", b"AAPL"),
        (b"54", b"1"),
        (b"38", b"100"),
        (b"44", b"150.25"),
        (b"151", b"%d" % leaves),
        (b"14", b"%d" % cum),
        (b"6", avg_px),
    ]


def _refused_fill(rig: Rig) -> list[FixMessage]:
    report = rig.peer.execution_report(
        b"B6rj7", b"F", ord_status=b"1", leaves=60, cum=40, extra=[(b"32", b"9" * 40), (b"31", b"150.25")]
    )
    rig.feed(report)
    assert rig.events() == []
    return rig.wire.take()


def test_refused_fill_when_dialect_has_status_request_then_venue_asked_and_missing_fill_reported() -> None:
    rig = Rig("broker-fix44").up()
    _sent(rig, 7)
    reject, status_request = _refused_fill(rig)
    assert (reject.msg_type, reject.get(b"371")) == (MsgType.REJECT, b"32")
    assert (status_request.msg_type, status_request.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, b"B6rj7")
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(b"1", 40, b"150.25", 60)))
    (executed,) = rig.events()
    assert isinstance(executed, VenueExecuted)
    assert (executed.order_id, executed.qty, executed.price) == (7, 40, 1_502_500)
    assert rig.adapter.status()["questions_open"] == 0


def test_refused_fill_when_venue_says_canceled_then_fill_and_cancel_reported() -> None:
    rig = Rig("broker-fix44").up()
    _sent(rig, 7)
    _refused_fill(rig)
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(b"4", 40, b"150.25", 0)))
    executed, canceled = rig.events()
    assert isinstance(executed, VenueExecuted) and executed.qty == 40
    assert isinstance(canceled, VenueCanceled) and canceled.reason == "CANCELED"
    assert rig.adapter.status()["open_orders"] == 0


def test_refused_fill_when_status_answer_is_refused_too_then_not_asked_again() -> None:
    rig = Rig("broker-fix44").up()
    _sent(rig, 7)
    _refused_fill(rig)
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(b"1", 10**12, b"150.25", 60)))
    assert rig.events() == []
    (reject,) = rig.wire.take()  # the Reject only: no second question, no loop
    assert (reject.msg_type, reject.get(b"371")) == (MsgType.REJECT, b"14")
    assert rig.adapter.status()["questions_open"] == 0


def test_refused_fill_when_dialect_has_no_status_request_then_only_the_reject() -> None:
    rig = Rig("equities-fix42").up()
    _sent(rig, 7)
    report = rig.peer.execution_report(
        b"Q6rj7", b"F", ord_status=b"1", leaves=60, cum=40, extra=[(b"32", b"9" * 40), (b"31", b"150.25")]
    )
    rig.feed(report)
    (reject,) = rig.wire.take()  # never a cancel to ask: that would end a live order
    assert reject.msg_type == MsgType.REJECT
