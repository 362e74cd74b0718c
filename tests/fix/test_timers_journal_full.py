"""FIX: the ResendRequest retries and the order-status questions while the journal cannot be written (held54).

While the journal fails (disk full) the engine holds every venue byte (docs/reliability.md 2.3a). Before: a
ResendRequest queued meanwhile was "asked again" every resend timeout and, after ``max_resend_attempts`` requests
that never left, the session logged out ("sequence gap ... not filled after 5 ResendRequests"); an OrderStatusRequest
queued meanwhile was asked again (copies piling up behind it) and then given up, counted ``questions_unanswered`` and
logged at ERROR "its outcome there is unknown", all without one byte reaching the venue. Now neither is timed nor
counted while the bytes are held; what was asked during the hold is timed from when it left, and a venue that truly
never answers is still asked again and given up on after the same waits.

A real engine and FileJournal on a fake clock over the adapter and a scripted venue (``tests.fix.test_adapter.Rig``,
broker-fix44: FIX 4.4, OrderStatusRequest); only ``Engine.flush`` writes to the venue.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from model.order import OrderState
from tests.harness import MemoryLink, engine_over
from tests.harness import Rig as HarnessRig
from tests.journal_full import journal_full
from venues.fix.adapter import QUESTION_ASKS, QUESTION_WAIT_NS
from venues.fix.codec import FixMessage
from venues.fix.fields import MsgType

from .test_adapter import Rig

SECOND = 1_000_000_000
RESEND_TIMEOUT_S = 30  # the heartbeat interval (resend_timeout_s 0)
ATTEMPTS = 5  # max_resend_attempts


def _gateway(tmp_path: Path) -> tuple[Rig, Engine, HarnessRig, MemoryLink]:
    """S1's order A acknowledged by the venue."""
    fix = Rig("broker-fix44").up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=2_300_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    fix.deliver(engine, fix.peer.execution_report(new_order.get(b"11"), b"0", price=b"230"))
    assert engine.strategies["S1"].orders["A"].state is OrderState.LIVE
    strat.received()
    return fix, engine, rig, strat


def _fail_journal(fix: Rig, engine: Engine, rig: HarnessRig, strat: MemoryLink) -> None:
    """Inside ``journal_full``: S1's order B cannot be journaled; from here the engine holds every venue byte."""
    rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")
    assert engine.journal_error and fix.adapter.output_held
    assert fix.wire.take() == []


def _polled(fix: Rig, engine: Engine, seconds: int) -> list[FixMessage]:
    """Let ``seconds`` pass (the venue's heartbeats keep the link alive), polling and flushing as the gateway does."""
    for second in range(1, seconds + 1):
        fix.clock.advance_ms(1_000)
        if second % 10 == 0:
            fix.deliver(engine, fix.peer.message(MsgType.HEARTBEAT))
        fix.adapter.poll(fix.clock())
        engine.flush()
    return [m for m in fix.wire.take() if m.msg_type not in (MsgType.HEARTBEAT, MsgType.TEST_REQUEST)]


def _types(messages: list[FixMessage]) -> list[bytes]:
    return [m.msg_type for m in messages]


def test_resend_request_held_while_the_journal_fails_when_longer_than_every_retry_then_retried_from_when_it_left(
    tmp_path: Path,
) -> None:
    fix, engine, rig, strat = _gateway(tmp_path)
    counters = fix.adapter.session.counters
    with journal_full(engine):
        _fail_journal(fix, engine, rig, strat)
        seq = fix.peer.next_seq
        fix.deliver(engine, fix.peer.message(MsgType.HEARTBEAT, seq=seq + 1))  # seq missing: a ResendRequest, held
        fix.peer.next_seq = seq + 2
        assert _polled(fix, engine, (ATTEMPTS + 1) * RESEND_TIMEOUT_S) == []  # nothing leaves
        assert counters["resend_timeouts"] == 0 and counters["resend_gap_logouts"] == 0  # before: 4 and 1
        assert fix.adapter.session.close_reason is None  # before: logged out, "not filled after 5 ResendRequests"
    sent = _polled(fix, engine, 1)  # free again: the order and the one ResendRequest leave
    assert _types(sent) == [MsgType.NEW_ORDER_SINGLE, MsgType.RESEND_REQUEST], sent
    assert _polled(fix, engine, RESEND_TIMEOUT_S - 2) == []  # timed from when it left
    assert counters["resend_timeouts"] == 0
    assert _types(_polled(fix, engine, 2)) == [MsgType.RESEND_REQUEST]  # the venue never fills it: asked again
    assert counters["resend_timeouts"] == 1
    _polled(fix, engine, (ATTEMPTS - 1) * RESEND_TIMEOUT_S)  # and given up after as many as ever
    assert counters["resend_gap_logouts"] == 1 and fix.adapter.session.close_reason is not None


def test_status_question_held_while_the_journal_fails_when_longer_than_every_ask_then_timed_from_when_it_left(
    tmp_path: Path,
) -> None:
    fix, engine, rig, strat = _gateway(tmp_path)
    counters = fix.adapter.counters
    wait_s = QUESTION_WAIT_NS // SECOND
    every_ask_s = wait_s * ((1 << QUESTION_ASKS) - 1)  # the wait doubles at each ask: all of them, then given up
    with journal_full(engine):
        _fail_journal(fix, engine, rig, strat)
        seq = fix.peer.next_seq  # the venue gap-fills a number never received: a fill of A may be in it
        fix.deliver(engine, fix.peer.message(MsgType.HEARTBEAT, seq=seq + 1))
        fix.deliver(
            engine, fix.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"%d" % (seq + 2))], seq=seq)
        )
        fix.peer.next_seq = seq + 2
        assert fix.adapter.status()["questions_open"] == 2  # OrderStatusRequests about A and B, held
        assert _polled(fix, engine, every_ask_s + 60) == []  # nothing leaves
        assert counters["questions_asked_again"] == 0 and counters["questions_unanswered"] == 0  # before: 6 and 2
    sent = _polled(fix, engine, 1)  # free again: the order, the ResendRequest and the question leave, once
    assert _types(sent).count(MsgType.ORDER_STATUS_REQUEST) == 2, sent
    assert _polled(fix, engine, wait_s - 2) == []  # timed from when it left
    assert counters["questions_asked_again"] == 0
    assert _types(_polled(fix, engine, 2)) == [MsgType.ORDER_STATUS_REQUEST] * 2  # no answer: asked again, as ever
    assert counters["questions_asked_again"] == 2
    _polled(fix, engine, every_ask_s)
    assert counters["questions_asked_again"] == 2 * (QUESTION_ASKS - 1) and counters["questions_unanswered"] == 2


def test_session_closed_while_the_journal_fails_then_closed_without_the_held_bytes(tmp_path: Path) -> None:
    """A close the session asks for during the hold (here the venue silent past its TestRequest) closes the
    connection without writing what is held: before, the adapter wrote the whole outbox itself, so order B's
    NewOrderSingle reached the venue while its journal record could not be written (journal before wire)."""
    fix, engine, rig, strat = _gateway(tmp_path)
    with journal_full(engine):
        _fail_journal(fix, engine, rig, strat)
        for _ in range(3 * RESEND_TIMEOUT_S):  # the venue falls silent: TestRequest, then the link is taken as dead
            fix.clock.advance_ms(1_000)
            fix.adapter.poll(fix.clock())
            engine.flush()
            if fix.wire.closed:
                break
        assert fix.adapter.session.close_reason is not None and fix.wire.closed
        assert fix.wire.take() == []  # before: order B's NewOrderSingle (and the TestRequest, the Logout) left
    (order_b,) = [o for o in engine.orders.values() if o.cl_ord_id == "B"]
    assert order_b.state is OrderState.PENDING_NEW


def test_hold_signal_when_the_journal_fails_for_many_flushes_then_told_once_each_way(tmp_path: Path) -> None:
    """The engine tells the venue on the change only: nothing per flush (the order path's cost is unchanged)."""
    fix, engine, rig, strat = _gateway(tmp_path)
    told: list[bool] = []
    hold = fix.adapter.hold_output

    def recording(held: bool) -> None:
        told.append(held)
        hold(held)

    fix.adapter.hold_output = recording  # type: ignore[method-assign]
    with journal_full(engine):
        _fail_journal(fix, engine, rig, strat)
        _polled(fix, engine, 30)  # 30 more failed flushes, at least
        assert engine.journal_failures > 30
        assert told == [True]
    _polled(fix, engine, 30)
    assert told == [True, False] and not fix.adapter.output_held
