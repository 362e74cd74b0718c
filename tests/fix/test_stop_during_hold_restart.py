"""FIX: a request withdrawn at a stop during a journal hold gets its one answer after the restart (fixstop56b).

A stop while the journal cannot be written sends a SequenceReset-GapFill over the held messages' numbers and answers
their requests ``NOT_SENT`` (fixstop56, tests/fix/test_stop_during_hold.py). Those answers are journal records like
any: when the journal's last write at the exit is cut short (the order's record written, its answer not), the
restarted gateway had the request in flight for good. The venue holds its number as a gap fill, so no resend brings
it and nothing answers it: a new order PENDING_NEW with its exposure, its cancel refused by the venue; a cancel or
replace PENDING_CANCEL / PENDING_REPLACE. Now the stop writes the withdrawn requests to the message store
(``FileStore``, fdatasynced) before the gap fill, and the restarted gateway answers each one still unanswered
``NOT_SENT`` again before its logon; one whose answer the journal did take is not answered twice.

A real engine and ``FileJournal`` on a fake clock over the adapter with a ``FileStore`` and a scripted venue; the
cut write is the journal's pending batch written up to where the stop's answers begin (as a full disk with that
much room would). The same through a real gateway and the QuickFIX acceptor:
tests/e2e/test_fix_stop_partial_journal.py.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.engine import Engine
from gateway.journal import FileJournal, read_journal
from gateway.protocol.messages import Cancel, CancelRejected, OrderRejected, Replace
from gateway.recovery import recover
from model.enums import RejectSource
from model.order import Order, OrderState
from tests.harness import MemoryLink, engine_over
from tests.harness import Rig as HarnessRig
from tests.journal_full import journal_full
from venues.fix.adapter import FixVenue
from venues.fix.config import FixVenueConfig, StoreKind, session_config
from venues.fix.fields import MsgType
from venues.fix.store import FileStore, MemoryStore

from .helpers import WALL_OFFSET_NS
from .test_adapter import Rig

if TYPE_CHECKING:
    from venues.fix.store.base import Withdrawn

GATEWAY = RejectSource.GATEWAY
"""The source of a NOT_SENT the gateway answers itself: the request never left it (lows57; VENUE before)."""


class _FileRig(Rig):
    """The adapter test rig over a ``FileStore`` at ``path`` (``clock``: the one before a restart)."""

    def __init__(self, path: Path, dialect: str, rig: Rig | None = None) -> None:
        super().__init__(dialect)
        if rig is not None:
            self.clock = rig.clock
        cfg = FixVenueConfig(name="FIXV", host="127.0.0.1", port=1, dialect=dialect, store=StoreKind.FILE)
        self.file_store = FileStore(path)
        self.venue_adapter = FixVenue(
            "FIXV",
            self.dialect,
            session_config(cfg, self.dialect),
            self.file_store,
            self.clock,
            wall_offset_ns=WALL_OFFSET_NS,
        )
        self.venue_adapter.event_sink = self.recorder.event
        self.venue_adapter.state_sink = self.recorder.state


def _gateway(tmp_path: Path, dialect: str) -> tuple[_FileRig, Engine, HarnessRig, MemoryLink]:
    """S1's order A acknowledged by the venue (its NewOrderSingle left before the hold)."""
    fix = _FileRig(tmp_path / "store" / "FIXV.store", dialect).up()
    assert isinstance(fix, _FileRig)
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "j1", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=2_300_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    fix.deliver(engine, fix.peer.execution_report(new_order.get(b"11"), b"0", price=b"230"))
    assert engine.strategies["S1"].orders["A"].state is OrderState.LIVE
    strat.received()
    return fix, engine, rig, strat


def _stop_with_the_answers_cut(
    fix: Rig, engine: Engine, held: Callable[[], None], *, cut: bool = True, close: bool = True
) -> list[bytes]:
    """``held()`` while the journal cannot be written, then a stop (SIGTERM); return the MsgTypes that left.

    The journal's last write at the exit takes what was pending before the stop only: the held requests' records,
    not the stop's NOT_SENT answers (``cut`` False: the whole batch). The journal is then left as the exited process
    leaves it (its lock released), the store closed as at the exit.
    """
    journal = engine.journal
    assert isinstance(journal, FileJournal)
    with journal_full(engine):
        held()
        assert engine.journal_error and fix.adapter.output_held
        assert fix.wire.take() == []
        before = journal.pending_bytes
        fix.adapter.shutdown()
        sent = [m.msg_type for m in fix.wire.take()]
    pending = bytes(journal._buf)
    os.write(journal._fd, pending[:before] if cut else pending)
    fcntl.flock(journal._fd, fcntl.LOCK_UN)
    if close:
        fix.adapter.close()
    return sent


def _restarted(tmp_path: Path, fix: _FileRig) -> tuple[_FileRig, Engine, MemoryLink]:
    """The gateway started again on the same store and what the cut journal recovers; the strategy connected."""
    again = _FileRig(tmp_path / "store" / "FIXV.store", fix.dialect.name, fix)
    return again, *_engine_again(tmp_path, again)


def _engine_again(tmp_path: Path, again: Rig) -> tuple[Engine, MemoryLink]:
    engine, rig = engine_over(again.adapter, again.clock, tmp_path / "j2", max_qty=1_000)
    engine.adopt(recover(read_journal(tmp_path / "j1")))
    strat = rig.connect("S1")
    strat.received()
    return engine, strat


def _state(order: Order) -> OrderState:
    return order.state  # read afresh (the engine changes it)


def _answers(strat: MemoryLink) -> list[object]:
    return [m for m in strat.received() if isinstance(m, (OrderRejected, CancelRejected))]


def _connect(again: Rig, engine: Engine) -> None:
    """The restarted gateway's first connection: its Logon is the only message that leaves."""
    again.connect()
    engine.flush()
    assert [m.msg_type for m in again.wire.take()] == [MsgType.LOGON]


_GAP_FILL_LOGOUT = [MsgType.SEQUENCE_RESET, MsgType.LOGOUT]


@pytest.mark.parametrize("dialect", ["equities-fix42", "broker-fix44"])
def test_a_new_order_withdrawn_at_the_stop_its_answer_cut_from_the_journal_is_answered_not_sent_before_the_logon(
    tmp_path: Path, dialect: str
) -> None:
    fix, engine, rig, strat = _gateway(tmp_path, dialect)
    held = lambda: rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")  # noqa: E731
    assert _stop_with_the_answers_cut(fix, engine, held) == _GAP_FILL_LOGOUT

    again, engine2, strat2 = _restarted(tmp_path, fix)
    order = engine2.strategies["S1"].orders["B"]
    assert order.state is OrderState.PENDING_NEW  # the journal took the order, not its answer
    _connect(again, engine2)
    # before: nothing answered it (the venue holds its number as a gap fill: no resend, no timeout): PENDING_NEW
    # for good, its exposure held, and the strategy's cancel refused by the venue
    assert _state(order) is OrderState.REJECTED, order.state
    (answer,) = _answers(strat2)
    assert isinstance(answer, OrderRejected) and (answer.cl_ord_id, answer.source, answer.code) == (
        "B",
        GATEWAY,
        "NOT_SENT",
    ), answer
    assert "the gateway stopped while its journal could not be written" in answer.text
    assert engine2.strategies["S1"].orders["A"].state is OrderState.LIVE
    assert again.adapter.status()["open_orders"] == 1  # A only: a ResendRequest over B's number gap-fills it
    assert again.adapter.status()["not_sent"] == 1
    again.feed(again.peer.logon())
    engine2.flush()
    assert _answers(strat2) == []  # one answer


@pytest.mark.parametrize("request_kind", ["cancel", "replace"])
def test_a_cancel_or_replace_withdrawn_at_the_stop_its_answer_cut_is_answered_not_sent_the_order_working(
    tmp_path: Path, request_kind: str
) -> None:
    fix, engine, rig, strat = _gateway(tmp_path, "equities-fix42")
    request = Cancel("A") if request_kind == "cancel" else Replace("A", 200, 2_300_000)
    assert _stop_with_the_answers_cut(fix, engine, lambda: rig.send(strat, request)) == _GAP_FILL_LOGOUT

    again, engine2, strat2 = _restarted(tmp_path, fix)
    order = engine2.strategies["S1"].orders["A"]
    assert order.state is (OrderState.PENDING_CANCEL if request_kind == "cancel" else OrderState.PENDING_REPLACE)
    _connect(again, engine2)
    assert _state(order) is OrderState.LIVE, order.state  # before: pending for good
    assert order.qty == 100
    (answer,) = _answers(strat2)
    assert isinstance(answer, CancelRejected) and (answer.cl_ord_id, answer.source, answer.code) == (
        "A",
        GATEWAY,
        "NOT_SENT",
    ), answer
    assert "an earlier one's outcome unknown" not in answer.text


def test_a_cancel_sent_again_withdrawn_at_the_stop_its_answer_cut_is_answered_as_at_the_stop(tmp_path: Path) -> None:
    fix, engine, rig, strat = _gateway(tmp_path, "broker-fix44")
    rig.send(strat, Cancel("A"))
    (cancel,) = fix.wire.take()  # it left, journaled
    assert engine.strategies["S1"].orders["A"].state is OrderState.PENDING_CANCEL

    def held() -> None:  # the venue asks for the cancel (gap-filled): its outcome unknown, sent again, held
        rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")
        ask = [(b"7", b"%d" % cancel.seq), (b"16", b"%d" % cancel.seq)]
        fix.deliver(engine, fix.peer.message(MsgType.RESEND_REQUEST, ask))
        assert fix.adapter.status()["cancels_resent"] == 1

    assert _stop_with_the_answers_cut(fix, engine, held) == _GAP_FILL_LOGOUT
    again, engine2, strat2 = _restarted(tmp_path, fix)
    order = engine2.strategies["S1"].orders["A"]
    assert order.state is OrderState.PENDING_CANCEL  # the journal has the strategy's cancel, not the answer
    _connect(again, engine2)
    rejected, refused = _answers(strat2)
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
    assert "an earlier one's outcome unknown" in refused.text  # the same text as at the stop
    assert _state(order) is OrderState.LIVE


def test_requests_whose_stop_answers_the_journal_took_are_not_answered_again_after_the_restart(tmp_path: Path) -> None:
    fix, engine, rig, strat = _gateway(tmp_path, "equities-fix42")

    def held() -> None:
        rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")
        rig.send(strat, Cancel("A"))

    assert _stop_with_the_answers_cut(fix, engine, held, cut=False) == _GAP_FILL_LOGOUT
    again, engine2, strat2 = _restarted(tmp_path, fix)
    assert engine2.strategies["S1"].orders["B"].state is OrderState.REJECTED  # answered at the stop
    assert engine2.strategies["S1"].orders["A"].state is OrderState.LIVE
    _connect(again, engine2)
    assert _answers(strat2) == []
    assert again.adapter.status()["not_sent"] == 0


def test_the_withdrawn_requests_are_in_the_store_file_before_the_gap_fill_is_written(tmp_path: Path) -> None:
    fix, engine, rig, strat = _gateway(tmp_path, "equities-fix42")
    path = fix.file_store.path
    on_disk: list[tuple[Withdrawn, ...]] = []
    wire_write = fix.wire.write

    def write(data: bytes | bytearray) -> None:  # what a store opened from the file holds when the gap fill is written
        copy = tmp_path / "copy.store"
        copy.write_bytes(path.read_bytes())
        copied = FileStore(copy)
        on_disk.append(copied.withdrawn)
        copied.close()
        wire_write(data)

    fix.adapter.attach(write, fix.wire.close)
    held = lambda: rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")  # noqa: E731
    seq = fix.file_store.next_sender_seq
    assert _stop_with_the_answers_cut(fix, engine, held) == _GAP_FILL_LOGOUT
    (entries,) = on_disk  # one write: the gap fill and the Logout
    (entry,) = entries
    assert (entry.seq, entry.msg_type, entry.again) == (seq, MsgType.NEW_ORDER_SINGLE, False)
    assert entry.ref.decode().endswith("2")  # order 2's ClOrdID
    if fix.file_store.fsync.value == "none":
        assert fix.file_store.fsyncs == 1  # fdatasynced whatever the policy


class _NoRoomStore(MemoryStore):
    """A store that cannot take the withdrawal (the disk full under it too); kept across the restart."""

    def add_withdrawn(self, withdrawn: Sequence[Withdrawn]) -> None:
        raise OSError(28, "No space left on device")


def test_a_store_that_cannot_take_the_withdrawal_gets_no_gap_fill_and_the_restart_replays_the_journaled_order(
    tmp_path: Path,
) -> None:
    store = _NoRoomStore()
    fix = Rig("equities-fix42")
    fix.venue_adapter.session.store = fix.store = store
    fix.up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "j1", max_qty=1_000)
    strat = rig.connect("S1")
    seq = store.next_sender_seq
    held = lambda: rig.new_order(strat, "B", qty=100, price=2_300_000, venue="FIXV")  # noqa: E731
    # no gap fill without the store's entry: the venue sees a gap before the Logout, and asks for it
    assert _stop_with_the_answers_cut(fix, engine, held, close=False) == [MsgType.LOGOUT]
    assert fix.adapter.status()["not_sent"] == 0

    again = Rig("equities-fix42")
    again.clock, again.peer = fix.clock, fix.peer  # (the venue's numbers go on)
    again.venue_adapter.session.store = again.store = store  # the same store, as on disk
    engine2, strat2 = _engine_again(tmp_path, again)
    order = engine2.strategies["S1"].orders["B"]
    assert order.state is OrderState.PENDING_NEW
    _connect(again, engine2)
    ask = again.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"%d" % seq), (b"16", b"0")])
    again.deliver(engine2, again.peer.logon(), ask)
    (replayed,) = [m for m in again.wire.take() if m.msg_type == MsgType.NEW_ORDER_SINGLE]
    assert (replayed.seq, replayed.get(b"43")) == (seq, b"Y")  # the journaled order, sent once
    assert _answers(strat2) == []
