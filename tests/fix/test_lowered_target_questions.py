"""After ``set-seq --next-target M --allow-lower-target`` the first logon asks about the open orders (fixlogon56b).

The venue's numbering restarted (its Logon refused as numbered too low, fixlogon56); the operator accepts it. The
number expected before proves only that the venue's messages below it were received: what it sent from there under
its old numbering (a fill, an ack) and never resent is lost with that numbering. Before fixlogon56b the first logon
asked nothing (rev56merge2 item 1, whose file these tests started from): an order filled there stayed LIVE with
nothing executed here, a new order whose ack was lost stayed PENDING_NEW. Now the lowering is a restart of the
venue's numbering: the set-seq writes a mark to the message store before the number, and the first logon asks
about every acknowledged open order and every request unanswered as after a reset (ResetSeqNumFlag=Y, the control),
with an ERROR saying why; the mark is cleared once the questions are stored (a store that cannot clear it asks again
at the next logon). Sans-IO: the repo's Rig (FixVenue, fake clock and wire, scripted venue); the restart between the
set-seq and the logon, against the QuickFIX acceptor, is in test_loopback_lowered_target_restart.py.
"""

from __future__ import annotations

import logging

import pytest

from model.exactly_once import RequestKind, UnansweredRequest
from model.order import Order, OrderState, mark_sent
from tests.fix.helpers import make_order
from tests.fix.test_adapter import Rig
from tests.harness import sent_ref
from venues.fix.fields import MsgType


def _acked_then_fill_lost(rig: Rig) -> tuple[Order, str]:
    rig.up()
    order = make_order(7)
    ref = sent_ref(rig.adapter.send_new(order))
    mark_sent(order, ref)
    rig.applying(order)
    rig.feed(rig.peer.execution_report(ref.encode(), b"0"))  # venue's 2: the ack
    assert order.venue_order_id
    # the venue's 3: the order filled in full while the link was going down; never received
    rig.peer.execution_report(
        ref.encode(), b"F", ord_status=b"2", leaves=0, cum=100, last_qty=100, last_px=b"150.2", exec_id=b"E9"
    )
    rig.adapter.connection_lost(rig.clock())
    rig.wire.take()
    rig.events()
    return order, ref


def _lowered_and_logged_on(rig: Rig) -> None:
    """The venue's numbering restarts (Logon 1, no ResetSeqNumFlag): refused; the ERROR line's remedy; its Logon 2."""
    rig.peer.next_seq = 1
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())  # its Logon 1: refused as too low
    assert rig.adapter.session.state.value == "LOGIN_REFUSED"
    rig.adapter.connection_lost(rig.clock())
    # the ERROR line's remedy, verbatim: --next-target <its Logon's number> --allow-lower-target, then reconnect
    assert rig.adapter.set_sequence_numbers(0, 1, lower_target=True) == ""
    assert rig.adapter.reconnect()
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())  # its next Logon, 2 (it closed on our Logout without answering it): no gap
    assert rig.adapter.state.value == "UP"


def _questions(rig: Rig, unanswered: list[UnansweredRequest] | None = None) -> list[bytes]:
    rig.adapter.after_replay(unanswered or [])  # what the core does on UP
    rig.adapter.flush()
    return [m.get(b"11") for m in rig.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST]


def test_control_reset_logon_asks_about_the_acked_order() -> None:
    rig = Rig("broker-fix44")
    _, ref = _acked_then_fill_lost(rig)
    rig.peer.next_seq = 1
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon(reset=True))
    assert _questions(rig) == [ref.encode()]


def test_lowered_target_when_an_acked_order_filled_under_the_old_numbering_then_asked_and_the_fill_applied(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("broker-fix44")
    order, ref = _acked_then_fill_lost(rig)
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        _lowered_and_logged_on(rig)
        assert rig.store.lowered_by_operator == (3, 1)
        asked = _questions(rig)
    assert asked == [ref.encode()], "the venue's numbers went back, its fill of 100 is lost: nothing asks"
    (line,) = [r.getMessage() for r in caplog.records if "lowered the MsgSeqNum expected" in r.getMessage()]
    assert "from 3 to 1: messages it sent from 3 on under its old numbering" in line
    assert "1 acknowledged open order(s) (OrderStatusRequest)" in line
    assert rig.store.lowered_by_operator == (0, 0)  # asked: cleared
    # the venue's answer: filled 100 (OrdStatus 2, CumQty 100)
    rig.feed(rig.peer.execution_report(ref.encode(), b"I", ord_status=b"2", leaves=0, cum=100, exec_id=b"S1"))
    assert (order.state, order.cum_qty) == (OrderState.FILLED, 100)
    rig.adapter.connection_lost(rig.clock())
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())
    assert _questions(rig) == []  # the mark is gone: the next logon asks nothing more


def test_lowered_target_when_a_new_orders_ack_was_lost_with_the_old_numbering_then_asked() -> None:
    """The NOS reached the venue, its ack (the venue's 2) was lost with the venue's old numbering."""
    rig = Rig("broker-fix44").up()
    order = make_order(7)
    ref = sent_ref(rig.adapter.send_new(order))
    mark_sent(order, ref)
    rig.applying(order)
    rig.adapter.flush()
    rig.peer.execution_report(ref.encode(), b"0")  # the ack, never received
    rig.adapter.connection_lost(rig.clock())
    rig.wire.take()
    _lowered_and_logged_on(rig)
    asked = _questions(rig, [UnansweredRequest(order, RequestKind.NEW, ref)])
    assert asked == [ref.encode()], "its ack went with the old numbering: the order stays PENDING_NEW, unasked"
    rig.feed(rig.peer.execution_report(ref.encode(), b"I", exec_id=b"S1"))  # the answer: New
    assert order.state is OrderState.LIVE


def test_lowered_target_when_the_dialect_has_no_status_request_then_unanswered_asked_by_cancel_and_acked_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("equities-fix42").up()
    acked, pending = make_order(7), make_order(8)
    acked_ref = sent_ref(rig.adapter.send_new(acked))
    mark_sent(acked, acked_ref)
    ref = sent_ref(rig.adapter.send_new(pending))
    mark_sent(pending, ref)
    rig.applying(acked, pending)
    rig.feed(rig.peer.execution_report(acked_ref.encode(), b"0"))  # the venue's 2: order 7's ack
    rig.peer.execution_report(ref.encode(), b"0")  # its 3: order 8's ack, never received
    rig.adapter.connection_lost(rig.clock())
    rig.wire.take()
    with caplog.at_level(logging.WARNING, logger="venues.fix.adapter"):
        _lowered_and_logged_on(rig)
        rig.adapter.after_replay([UnansweredRequest(pending, RequestKind.NEW, ref)])
        rig.adapter.flush()
    cancels = [m for m in rig.wire.take() if m.msg_type == MsgType.ORDER_CANCEL_REQUEST]
    assert [m.get(b"41") for m in cancels] == [ref.encode()]  # the request in doubt: a cancel naming it
    assert rig.adapter.counters["orders_unchecked_after_reset"] == 1  # the acknowledged order cannot be asked
    messages = [r.getMessage() for r in caplog.records]
    (line,) = [m for m in messages if "lowered the MsgSeqNum expected from the venue (`gateway venue set-seq" in m]
    assert "1 request(s) still unanswered" in line and "a cancel naming the request" in line
    assert "1 acknowledged open order(s) (not checked: the dialect has no OrderStatusRequest" in line
    (unchecked,) = [m for m in messages if "open order(s) not checked" in m]
    assert "set-seq --allow-lower-target" in unchecked  # why, not "sequence numbers reset"
    assert acked.state is OrderState.LIVE


def test_lowered_target_when_the_store_cannot_clear_the_mark_then_asked_again_at_the_next_logon(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig("broker-fix44")
    _, ref = _acked_then_fill_lost(rig)

    def full_disk(before: int, new: int) -> None:
        raise OSError(28, "No space left on device")

    _lowered_and_logged_on(rig)
    monkeypatch.setattr(rig.store, "set_lowered_by_operator", full_disk)
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        assert _questions(rig) == [ref.encode()]
    assert rig.store.lowered_by_operator == (3, 1)  # kept
    assert any("asked about again at the next logon" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()  # the disk has room again
    rig.adapter.connection_lost(rig.clock())
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())
    assert _questions(rig) == [ref.encode()]  # asked again (the question out, under the venue's new numbering)
    assert rig.store.lowered_by_operator == (0, 0)


def test_set_numbers_when_lowered_twice_before_a_logon_then_the_mark_keeps_the_first_expected_number() -> None:
    rig = Rig("broker-fix44")
    _acked_then_fill_lost(rig)
    rig.peer.next_seq = 1
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())
    rig.adapter.connection_lost(rig.clock())
    assert rig.adapter.set_sequence_numbers(0, 2, lower_target=True) == ""
    assert rig.adapter.set_sequence_numbers(0, 1, lower_target=True) == ""
    assert rig.store.lowered_by_operator == (3, 1)


def test_lowered_target_when_a_gap_fill_at_the_logon_asked_first_then_the_order_not_asked_twice() -> None:
    """The venue answered our Logout (its 2) and logs on with 3: the gap fill over 2 asks about the order before the
    session is up (``on_gap_filled``); that question went under the new numbering, so the logon does not ask again."""
    rig = Rig("broker-fix44")
    _, ref = _acked_then_fill_lost(rig)
    rig.peer.next_seq = 1
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())
    rig.adapter.connection_lost(rig.clock())
    assert rig.adapter.set_sequence_numbers(0, 1, lower_target=True) == ""
    assert rig.adapter.reconnect()
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon(seq=3))
    assert [m.msg_type for m in rig.wire.take()] == [MsgType.RESEND_REQUEST]
    rig.feed(rig.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"4")], seq=2, header=[(b"43", b"Y")]))
    asked = [m.get(b"11") for m in rig.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST]
    assert asked == [ref.encode()]  # the gap fill's question
    assert rig.adapter.state.value == "UP"
    assert _questions(rig) == []  # before this fix's second part: asked again at once
    assert rig.store.lowered_by_operator == (0, 0)
