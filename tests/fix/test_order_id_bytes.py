"""An OrderID (37) that is not UTF-8 is refused naming tag 37 (fixlogon56b; rev56merge2 item 5).

OrderID is the one id of the venue's taken strictly (lead56b). Before, an ack carrying such an OrderID was refused
with a session Reject naming tag 44 (Price, the tag read last before the decode), and an OrderStatusRequest's answer
carrying one raised out of the adapter's read (the connector's protocol fault: the connection dropped). Both are now
a session Reject naming 37 (RefTagID 371 = 37), and the order is asked about as after any report refused.
"""

from __future__ import annotations

from model.exactly_once import RequestKind, UnansweredRequest
from model.order import OrderState, mark_sent
from tests.fix.helpers import make_order
from tests.fix.test_adapter import Rig
from tests.harness import sent_ref
from venues.fix.fields import MsgType


def _report(ref: str, exec_type: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"37", b"O\xffD1"),  # not UTF-8
        (b"17", b"E1"),
        (b"11", ref.encode()),
        (b"150", exec_type),
        (b"39", b"0"),
        (b"55", b"AAPL"),
        (b"54", b"1"),
        (b"38", b"100"),
        (b"44", b"150.25"),
        (b"151", b"100"),
        (b"14", b"0"),
        (b"6", b"0"),
    ]


def test_ack_when_order_id_is_not_utf8_then_rejected_naming_tag_37_and_the_order_asked_about() -> None:
    rig = Rig("broker-fix44").up()
    order = make_order(7)
    ref = sent_ref(rig.adapter.send_new(order))
    mark_sent(order, ref)
    rig.applying(order)
    rig.adapter.flush()
    rig.wire.take()
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _report(ref, b"0")))
    reject, question = rig.wire.take()
    assert reject.msg_type == MsgType.REJECT
    assert reject.get(b"58").startswith(b"tag 37: ")  # before: "tag 44: 'utf-8' codec can't decode ..."
    assert reject.get(b"371") == b"37"
    assert question.msg_type == MsgType.ORDER_STATUS_REQUEST and question.get(b"11") == ref.encode()
    assert order.state is OrderState.PENDING_NEW and rig.events() == []


def test_status_answer_when_order_id_is_not_utf8_then_rejected_naming_tag_37_not_raised_out_of_the_read() -> None:
    rig = Rig("broker-fix44").up()
    order = make_order(7)
    ref = sent_ref(rig.adapter.send_new(order))
    mark_sent(order, ref)
    rig.applying(order)
    rig.adapter.flush()
    rig.adapter.connection_lost(rig.clock())
    rig.peer.next_seq = 1
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon(reset=True))
    rig.adapter.after_replay([UnansweredRequest(order, RequestKind.NEW, ref)])  # the core on UP: asks
    rig.adapter.flush()
    assert [m.msg_type for m in rig.wire.take()] == [MsgType.ORDER_STATUS_REQUEST]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _report(ref, b"I")))  # before: UnicodeDecodeError raised
    (reject,) = rig.wire.take()
    assert reject.msg_type == MsgType.REJECT
    assert reject.get(b"58").startswith(b"tag 37: ") and reject.get(b"371") == b"37"
    assert order.state is OrderState.PENDING_NEW and rig.events() == []
    assert rig.adapter.state.value == "UP"
