"""FIX: a stop while the journal cannot be written sends the Logout, never the held orders (fixstop56).

While the journal fails (disk full) the engine holds every venue byte (docs/reliability.md 2.3a). Before:
``FixVenue.shutdown()`` (a stop: SIGTERM) flushed the session's outbox itself, so the held NewOrderSingle, whose
journal record was never written, reached the venue ahead of the Logout, and a ResendRequest over its number
replayed it. Now its number goes out as a SequenceReset-GapFill, then the Logout; a ResendRequest over it is
answered with a gap fill; the request gets one answer, ``NOT_SENT``, once the journal can be written. A held
cancel is answered ``NOT_SENT`` too, its order left as it was.

A real engine and FileJournal on a fake clock over the adapter and a scripted venue (``tests.fix.test_adapter.Rig``);
only ``Engine.flush`` writes to the venue, except the stop's own write (``shutdown``), as in a stop (SIGTERM).
The same against the real QuickFIX acceptor and a restart: tests/e2e/test_fix_stop_during_hold.py.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, CancelRejected, OrderRejected, Replace
from model.enums import RejectSource
from model.order import Order, OrderState
from tests.harness import MemoryLink, engine_over
from tests.harness import Rig as HarnessRig
from tests.journal_full import journal_full
from venues.fix.codec import FixMessage
from venues.fix.fields import MsgType

from .test_adapter import Rig

GATEWAY = RejectSource.GATEWAY
"""The source of a NOT_SENT the gateway answers itself: the request never left it (lows57; VENUE before)."""


def _gateway(tmp_path: Path) -> tuple[Rig, Engine, HarnessRig, MemoryLink]:
    """S1's order A acknowledged by the venue (its NewOrderSingle left before the hold)."""
    fix = Rig("broker-fix44").up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=2_300_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    fix.deliver(engine, fix.peer.execution_report(new_order.get(b"11"), b"0", price=b"230"))
    assert engine.strategies["S1"].orders["A"].state is OrderState.LIVE
    strat.received()
    return fix, engine, rig, strat


def _state(order: Order) -> OrderState:
    return order.state  # read afresh (the engine changes it)


def _gap_fill(message: FixMessage) -> tuple[int, int]:
    assert message.msg_type == MsgType.SEQUENCE_RESET, message
    assert (message.get(b"123"), message.get(b"43")) == (b"Y", b"Y"), message
    return message.seq, int(message.get(b"36"))


def _answers(strat: MemoryLink) -> list[object]:
    return [m for m in strat.received() if isinstance(m, (OrderRejected, CancelRejected))]


def test_stop_during_the_hold_sends_a_gap_fill_and_the_logout_never_the_held_order_then_not_sent_once(
    tmp_path: Path,
) -> None:
    fix, engine, rig, strat = _gateway(tmp_path)
    store = fix.adapter.session.store
    with journal_full(engine):
        rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")  # stored, queued, held
        assert engine.journal_error and fix.adapter.output_held
        assert fix.wire.take() == []
        order = engine.strategies["S1"].orders["B"]
        held_seq = store.next_sender_seq - 1
        ((_, stored),) = store.get_sent(held_seq, held_seq)
        assert b"\x0135=D\x01" in stored
        assert fix.adapter.shutdown()  # gateway stopping
        sent = fix.wire.take()
        # before: [NewOrderSingle B, Logout]: an order whose journal record was never written reached the venue
        assert [m.msg_type for m in sent] == [MsgType.SEQUENCE_RESET, MsgType.LOGOUT], sent
        assert _gap_fill(sent[0]) == (held_seq, held_seq + 1)
        assert sent[1].seq == held_seq + 1
        assert store.get_sent(held_seq, held_seq) == [(held_seq, stored)]  # kept under its number, never reused
        # the venue asks for it during the logout: a gap fill answers, not the order (held until the journal is back)
        fix.deliver(engine, fix.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"%d" % held_seq), (b"16", b"0")]))
        assert fix.wire.take() == []
        assert _answers(strat) == []  # no answer before its journal record
    engine.flush()  # the journal is back: the order's records, its answer, then the venue's bytes
    assert not engine.journal_error
    replay = fix.wire.take()
    assert [_gap_fill(m) for m in replay] == [(held_seq, held_seq + 2)], replay  # never the NewOrderSingle
    (answer,) = _answers(strat)
    assert isinstance(answer, OrderRejected) and (answer.cl_ord_id, answer.source, answer.code) == (
        "B",
        GATEWAY,
        "NOT_SENT",
    ), answer
    assert _state(order) is OrderState.REJECTED
    assert engine.strategies["S1"].orders["A"].state is OrderState.LIVE
    fix.deliver(engine, fix.peer.message(MsgType.LOGOUT))
    engine.flush()
    assert _answers(strat) == []  # one answer
    assert fix.adapter.status()["not_sent"] == 1
    # the metric's source label follows (gateway_order_rejects_total{source="GATEWAY",code="NOT_SENT"})
    assert engine.rejects == {(GATEWAY, "NOT_SENT"): 1}, engine.rejects


def test_stop_during_the_hold_with_a_held_cancel_then_cancel_rejected_not_sent_and_the_order_left_working(
    tmp_path: Path,
) -> None:
    fix, engine, rig, strat = _gateway(tmp_path)
    order = engine.strategies["S1"].orders["A"]
    with journal_full(engine):
        rig.send(strat, Cancel("A"))
        assert engine.journal_error and _state(order) is OrderState.PENDING_CANCEL
        seq = fix.adapter.session.store.next_sender_seq - 1
        fix.adapter.shutdown()
        sent = fix.wire.take()
        assert [m.msg_type for m in sent] == [MsgType.SEQUENCE_RESET, MsgType.LOGOUT], sent  # before: F, Logout
        assert _gap_fill(sent[0]) == (seq, seq + 1)
    engine.flush()
    (answer,) = _answers(strat)
    assert isinstance(answer, CancelRejected) and (answer.cl_ord_id, answer.source, answer.code) == (
        "A",
        GATEWAY,
        "NOT_SENT",
    ), answer
    assert _state(order) is OrderState.LIVE
    assert fix.wire.take() == []
    assert engine.cancel_rejects == {(GATEWAY, "NOT_SENT"): 1}, engine.cancel_rejects


def test_stop_during_the_hold_with_a_held_order_and_its_cancel_then_one_gap_fill_over_both_and_one_answer(
    tmp_path: Path,
) -> None:
    fix, engine, rig, strat = _gateway(tmp_path)
    with journal_full(engine):
        rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")
        first = fix.adapter.session.store.next_sender_seq - 1
        rig.send(strat, Cancel("B"))
        order = engine.strategies["S1"].orders["B"]
        assert _state(order) is OrderState.PENDING_NEW_CANCEL
        last = fix.adapter.session.store.next_sender_seq - 1
        assert last == first + 1  # its OrderCancelRequest took the next number
        fix.adapter.shutdown()
        sent = fix.wire.take()
        assert [m.msg_type for m in sent] == [MsgType.SEQUENCE_RESET, MsgType.LOGOUT], sent  # before: D, F, Logout
        assert _gap_fill(sent[0]) == (first, last + 1) and sent[1].seq == last + 1
    engine.flush()
    (answer,) = _answers(strat)  # the order's end answers the cancel too
    assert isinstance(answer, OrderRejected) and (answer.cl_ord_id, answer.source, answer.code) == (
        "B",
        GATEWAY,
        "NOT_SENT",
    ), answer
    assert _state(order) is OrderState.REJECTED


def test_stop_during_the_hold_with_a_held_replace_then_cancel_rejected_not_sent(tmp_path: Path) -> None:
    fix, engine, rig, strat = _gateway(tmp_path)
    order = engine.strategies["S1"].orders["A"]
    with journal_full(engine):
        rig.send(strat, Replace("A", 200, 2_300_000))
        assert _state(order) is OrderState.PENDING_REPLACE
        fix.adapter.shutdown()
        assert [m.msg_type for m in fix.wire.take()] == [MsgType.SEQUENCE_RESET, MsgType.LOGOUT]  # before: G, Logout
    engine.flush()
    (answer,) = _answers(strat)
    assert isinstance(answer, CancelRejected) and (answer.cl_ord_id, answer.source, answer.code) == (
        "A",
        GATEWAY,
        "NOT_SENT",
    ), answer
    assert _state(order) is OrderState.LIVE and order.qty == 100


def test_stop_during_the_hold_with_a_cancel_sent_again_held_then_not_sent_says_the_first_may_have_arrived(
    tmp_path: Path,
) -> None:
    fix, engine, rig, strat = _gateway(tmp_path)
    order = engine.strategies["S1"].orders["A"]
    rig.send(strat, Cancel("A"))
    (cancel,) = fix.wire.take()  # it left, journaled
    assert cancel.msg_type == MsgType.ORDER_CANCEL_REQUEST
    with journal_full(engine):
        rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")  # the hold starts
        first = fix.adapter.session.store.next_sender_seq - 1
        # the venue asks for the cancel (broker dialect: gap-filled), so its outcome is unknown: sent again, held
        ask = [(b"7", b"%d" % cancel.seq), (b"16", b"%d" % cancel.seq)]
        fix.deliver(engine, fix.peer.message(MsgType.RESEND_REQUEST, ask))
        assert engine.journal_error and fix.adapter.status()["cancels_resent"] == 1
        last = fix.adapter.session.store.next_sender_seq - 1
        assert last == first + 1
        fix.adapter.shutdown()
        sent = fix.wire.take()
        assert [m.msg_type for m in sent] == [MsgType.SEQUENCE_RESET, MsgType.LOGOUT], sent
        # one gap fill from the number the venue asked for (its answer, a gap fill too, ended where the held began)
        assert _gap_fill(sent[0]) == (cancel.seq, last + 1)
        assert cancel.seq == first - 1
    engine.flush()
    rejected, refused = _answers(strat)
    assert isinstance(rejected, OrderRejected) and (rejected.cl_ord_id, rejected.source, rejected.code) == (
        "B",
        GATEWAY,
        "NOT_SENT",
    )
    assert isinstance(refused, CancelRejected) and (refused.cl_ord_id, refused.source, refused.code) == (
        "A",
        GATEWAY,
        "NOT_SENT",
    ), refused
    assert "an earlier one's outcome unknown" in refused.text
    assert _state(order) is OrderState.LIVE


def test_stop_without_a_hold_flushes_as_before(tmp_path: Path) -> None:
    fix, _, rig, strat = _gateway(tmp_path)
    rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")
    assert [m.msg_type for m in fix.wire.take()] == [MsgType.NEW_ORDER_SINGLE]
    fix.adapter.shutdown()
    assert [m.msg_type for m in fix.wire.take()] == [MsgType.LOGOUT]
    assert fix.adapter.status()["not_sent"] == 0
