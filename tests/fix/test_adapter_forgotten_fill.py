"""A fill for an order the FIX adapter no longer tracks (it ended) still reaches the core, named by its ClOrdID.

Before, the adapter forgot an order's ClOrdIDs once it ended (canceled, filled, rejected), and a fill the
venue reported after that (a fill crossing a cancel, a late fill) was counted ``unknown_cl_ord_id`` and
dropped: the shares never reached the position. ``<prefix><order_id>[-<MsgSeqNum>]`` names the order without
a table, so the fill goes on as a ``VenueExecuted`` and the core applies it (``after_end``); a repeated ExecID
is the core's to catch.
"""

from __future__ import annotations

from model.order import apply_ack, mark_sent, request_cancel
from model.venue_events import VenueAccepted, VenueCanceled, VenueExecuted
from tests.harness import sent_ref
from venues.fix.fields import MsgType

from .helpers import make_order
from .test_adapter import Rig


def _canceled_order(rig: Rig, order_id: int) -> bytes:
    """Send, acknowledge and cancel an order; return its cancel's ClOrdID (the adapter has forgotten it)."""
    order = make_order(order_id)
    ref = sent_ref(rig.adapter.send_new(order))
    mark_sent(order, ref)
    rig.feed(rig.peer.execution_report(ref.encode(), b"0"))
    apply_ack(order, "OID1")
    cancel_ref = sent_ref(rig.adapter.send_cancel(order)).encode()
    request_cancel(order, cancel_ref.decode())
    rig.feed(rig.peer.execution_report(cancel_ref, b"4", ord_status=b"4", leaves=0, orig_cl_ord_id=ref.encode()))
    assert [type(e) for e in rig.events()] == [VenueAccepted, VenueCanceled]
    rig.wire.take()
    assert order_id not in rig.adapter._orders
    return cancel_ref


def test_fill_when_after_the_order_was_canceled_and_forgotten_then_an_execution_event() -> None:
    rig = Rig().up()
    cancel_ref = _canceled_order(rig, 7)
    for cl_ord_id, exec_id in ((cancel_ref, b"E9"), (b"Q6rj7", b"E10")):  # the cancel's ClOrdID, or the order's
        rig.feed(
            rig.peer.execution_report(
                cl_ord_id, b"2", ord_status=b"2", leaves=0, cum=10, last_qty=10, last_px=b"150.25", exec_id=exec_id
            )
        )
    events = rig.events()
    assert [(type(e), e.order_id, e.qty, e.price, e.exec_id) for e in events if isinstance(e, VenueExecuted)] == [
        (VenueExecuted, 7, 10, 1_502_500, "E9"),
        (VenueExecuted, 7, 10, 1_502_500, "E10"),
    ]
    assert rig.adapter.counters["fills_after_end"] == 2
    assert rig.adapter.counters["unknown_cl_ord_id"] == 0


def test_report_when_forgotten_but_not_a_fill_or_not_ours_then_unknown_and_no_event() -> None:
    rig = Rig().up()
    cancel_ref = _canceled_order(rig, 7)
    rig.feed(
        rig.peer.execution_report(cancel_ref, b"4", ord_status=b"4", leaves=0),  # a second Canceled
        rig.peer.execution_report(b"ZZZ7", b"2", ord_status=b"2", leaves=0, last_qty=10, last_px=b"1"),
        rig.peer.execution_report(b"Qx7", b"2", ord_status=b"2", leaves=0, last_qty=10, last_px=b"1"),
    )
    assert rig.events() == []
    assert rig.adapter.counters["unknown_cl_ord_id"] == 3
    assert rig.adapter.counters["fills_after_end"] == 0


def test_fill_when_forgotten_and_missing_last_qty_then_session_reject_and_no_event() -> None:
    rig = Rig().up()
    _canceled_order(rig, 7)
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"2", ord_status=b"2", leaves=0))  # no LastQty / LastPx
    assert rig.events() == []
    (reject,) = rig.wire.take()
    assert reject.msg_type == MsgType.REJECT and reject.get(b"371") == b"32"
    assert rig.adapter.counters["unparseable"] == 1
