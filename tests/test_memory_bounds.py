"""Bounded memory: terminal orders and old events leave memory; replay and duplicate detection still hold.

Deterministic counts only (never timing, never RSS): ``benchmarks/bench_memory.py`` measures bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.engine import RELEASE_BATCH
from gateway.journal import FileJournal
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Cancel,
    CancelRejected,
    Error,
    Executed,
    Hello,
    NewOrder,
    OrderAccepted,
    OrderEvent,
    OrderRejected,
    Replace,
    Welcome,
    WelcomeV2,
)
from gateway.recovery import recover
from gateway.replay import JournalRead
from gateway.strategy_state import ReleasedIds, StrategyIds
from model.enums import Side
from model.fsync import FsyncPolicy
from tests.harness import MemoryLink, Rig

KEPT = 500


def _rig(tmp_path: Path, *, journal: bool = True) -> Rig:
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE) if journal else None)
    rig.engine.terminal_orders_kept = KEPT
    rig.engine.events_kept = KEPT
    return rig


def _trade(rig: Rig, link: MemoryLink, start: int, count: int, *, batch: int = 200) -> None:
    """Send orders ``start``.. (cl_ord_id ``c<n>``); the venue accepts and fills each: two events per order.

    On a version-3 link the orders are numbered (their answers are journaled inside ``JRequest``).
    """
    engine = rig.engine
    numbered = link.session.sequenced
    for first in range(start, start + count, batch):
        n = min(batch, start + count - first)
        frames = []
        for i in range(first, first + n):
            req_seq = 0
            if numbered:
                link.req_seq += 1
                req_seq = link.req_seq
            frames.append(
                encode_frame(NewOrder(f"c{i}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=req_seq))
            )
        engine.link_data(link, b"".join(frames), rig.clock())
        next_id = engine.next_order_id
        for order_id in range(next_id - n, next_id):
            rig.venue.accept(order_id, 1_000_000)
            rig.venue.fill(order_id, 100, 1_000_000)
        engine.flush()
        link.written.clear()


def test_orders_and_events_stay_within_their_windows(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    link = rig.connect("S1")
    _trade(rig, link, 0, 5_000)
    engine = rig.engine
    st = engine.strategies["S1"]
    assert engine.orders_total == 5_000
    assert KEPT <= len(engine.orders) <= KEPT + RELEASE_BATCH
    assert len(st.orders) == len(engine.orders)
    assert KEPT <= len(st.events) <= KEPT + RELEASE_BATCH
    assert st.events_base + len(st.events) == 10_000 == st.next_seq - 1
    assert st.events[0].seq == st.events_base + 1
    assert len(st.released) == 5_000 - len(st.orders)
    assert engine.released_orders == 5_000 - len(engine.orders)
    assert engine.status()["orders_total"] == 5_000


def test_without_a_durable_journal_events_stay_in_memory(tmp_path: Path) -> None:
    rig = _rig(tmp_path, journal=False)
    link = rig.connect("S1")
    _trade(rig, link, 0, 2_000)
    st = rig.engine.strategies["S1"]
    assert st.events_base == 0 and len(st.events) == 4_000
    assert len(rig.engine.orders) <= KEPT + RELEASE_BATCH  # orders need no journal to be released


def _replayed(rig: Rig, last_seq: int, version: int = PROTOCOL_VERSION) -> tuple[Welcome | WelcomeV2, list[OrderEvent]]:
    link = rig.connect("S1", last_seq=last_seq, version=version)
    messages = link.received()
    welcome = messages[0]
    assert isinstance(welcome, (Welcome, WelcomeV2)), messages[:2]
    events = [m for m in messages[1:] if isinstance(m, (OrderAccepted, Executed, OrderRejected, CancelRejected))]
    return welcome, events  # type: ignore[return-value]


def test_reconnect_at_last_seq_1_after_200000_events_gets_every_later_event_once_in_order(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    link = rig.connect("S1")
    _trade(rig, link, 0, 100_000)
    st = rig.engine.strategies["S1"]
    assert st.next_seq - 1 == 200_000 and st.events_base >= 200_000 - KEPT - RELEASE_BATCH
    rig.engine.link_closed(link)
    welcome, events = _replayed(rig, 1)
    assert welcome.next_seq == 200_001 and welcome.replayed == 199_999
    assert [e.seq for e in events] == list(range(2, 200_001))  # no gap, no duplicate, in order
    assert type(events[0]) is Executed and events[0].cl_ord_id == "c0"  # seq 1 was c0's OrderAccepted
    assert events[-1].cl_ord_id == "c99999"
    assert rig.engine.journal_replays == 1


@pytest.mark.parametrize("version", [2, PROTOCOL_VERSION])
@pytest.mark.parametrize("offset", [-1, 0, 1, 7])
def test_reconnect_at_the_window_edge_replays_exactly_the_events_after_last_seq(
    tmp_path: Path, offset: int, version: int
) -> None:
    rig = _rig(tmp_path)
    link = rig.connect("S1", version=version)
    _trade(rig, link, 0, 3_000)
    rig.engine.link_closed(link)
    st = rig.engine.strategies["S1"]
    last_seq = st.events_base + offset
    _trade_while_away = st.next_seq
    welcome, events = _replayed(rig, last_seq, version)
    assert welcome.replayed == _trade_while_away - 1 - last_seq
    assert [e.seq for e in events] == list(range(last_seq + 1, st.next_seq))
    assert rig.engine.journal_replays == (1 if offset < 0 else 0)


def test_events_released_but_missing_from_the_journal_refuse_the_hello_instead_of_a_gap(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    link = rig.connect("S1")
    _trade(rig, link, 0, 2_000)
    rig.engine.link_closed(link)
    (tmp_path / "j").write_bytes(b"")  # the journal lost its content (an operator's mistake)
    fresh = rig.connect("S1", last_seq=1)
    (error,) = fresh.received()
    assert isinstance(error, Error) and error.code == "REPLAY_UNAVAILABLE" and error.fatal
    assert rig.engine.strategies["S1"].link is None


def test_a_released_orders_cl_ord_id_is_still_a_duplicate_and_its_cancel_order_closed(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    link = rig.connect("S1")
    _trade(rig, link, 0, 3_000)
    st = rig.engine.strategies["S1"]
    assert "c0" not in st.orders and "c0" in st.released
    sent = len(rig.venue.commands)
    rig.new_order(link, "c0")
    rig.send(link, Cancel("c0"), Replace("c1", 200, 1_000_000), Cancel("never-used"))
    answers = link.received()
    assert [(type(a).__name__, a.cl_ord_id, a.code) for a in answers] == [  # type: ignore[union-attr]
        ("OrderRejected", "c0", "DUPLICATE_CL_ORD_ID"),
        ("CancelRejected", "c0", "ORDER_CLOSED"),
        ("CancelRejected", "c1", "ORDER_CLOSED"),
        ("CancelRejected", "never-used", "UNKNOWN_ORDER"),
    ]
    assert len(rig.venue.commands) == sent


def test_after_a_restart_the_windows_apply_and_released_ids_are_rebuilt(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    link = rig.connect("S1")
    _trade(rig, link, 0, 3_000)
    rig.engine.journal.close()
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    again = Rig(journal=journal)
    again.engine.terminal_orders_kept = KEPT
    again.engine.events_kept = KEPT
    again.engine.adopt(recover(journal.records()))
    st = again.engine.strategies["S1"]
    assert len(again.engine.orders) == KEPT and len(st.orders) == KEPT
    assert len(st.events) == KEPT and st.events_base == 6_000 - KEPT
    assert "c0" in st.released and again.engine.orders_total == 3_000
    _, events = _replayed(again, 10)
    assert [e.seq for e in events] == list(range(11, 6_001))


def test_released_ids_never_forget_an_id_across_growth() -> None:
    ids = StrategyIds(ReleasedIds(1_024, warn=False))  # grows from 2,048 slots to 131,072
    for i in range(50_000):
        ids.add(f"id-{i}")
        if i % 997 == 0:  # while the table grows, what was added is found
            assert all(f"id-{j}" in ids for j in range(0, i + 1, 101))
    assert len(ids) == 50_000
    assert all(f"id-{i}" in ids for i in range(50_000))
    assert sum(1 for i in range(50_000) if f"other-{i}" in ids) == 0
    ids.add("id-7")
    assert len(ids) == 50_000
    assert ids.nbytes <= 50_000 * 24


class DeferredReader:
    """A replay reader whose reads run when the test says (as the gateway's worker thread would, later)."""

    def __init__(self) -> None:
        self.pending: list[JournalRead] = []
        self.cancelled: list[JournalRead] = []

    def submit(self, read: JournalRead) -> None:
        self.pending.append(read)

    def cancel(self, read: JournalRead) -> None:
        self.pending.remove(read)
        self.cancelled.append(read)
        read.cancelled = True
        read.close()

    def resume(self, read: JournalRead) -> None:
        """Never called here: without a scheduler a replay is read once, never parked."""
        raise AssertionError("no streaming read without a scheduler")

    def finish(self) -> None:
        read = self.pending.pop(0)
        while (result := read.step()) is None:
            pass
        read.done(result)


def test_while_the_journal_is_read_other_strategies_trade_and_the_late_one_gets_everything_once(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    reader = DeferredReader()
    rig.engine.replay_reader = reader
    s1 = rig.connect("S1")
    _trade(rig, s1, 0, 2_000)
    rig.engine.link_closed(s1)
    st = rig.engine.strategies["S1"]
    open_id = rig.engine.next_order_id
    s1_again = MemoryLink(rig.clock)
    rig.engine.link_opened(s1_again)
    hello = encode_frame(Hello("S1", PROTOCOL_VERSION, 1))
    pipelined = encode_frame(NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=2_001))
    rig.engine.link_data(s1_again, hello + pipelined, rig.clock())
    assert len(reader.pending) == 1 and s1_again.received() == []  # nothing before the Welcome
    assert rig.connect("S1").received()[0].code == "ALREADY_CONNECTED"  # type: ignore[union-attr]
    s2 = rig.connect("S2")  # another strategy trades meanwhile
    s2.received()
    rig.new_order(s2, "other", account="ACC2")
    assert [type(m) for m in s2.received()] == []  # sent to the venue, nothing to answer yet
    rig.venue.accept(open_id, 1_000_000)  # S2's order
    rig.engine.flush()
    assert [type(m) for m in s2.received()] == [OrderAccepted]
    rig.engine.poll(rig.clock() + 60_000_000_000)  # no heartbeat, no timeout before the Welcome
    assert s1_again.received() == [] and not s1_again.session.is_closed()
    reader.finish()
    messages = s1_again.received()
    assert isinstance(messages[0], Welcome) and messages[0].replayed == 3_999 and messages[0].last_req_seq == 2_000
    events = [m for m in messages if isinstance(m, (OrderAccepted, Executed, OrderRejected))]
    assert [e.seq for e in events] == list(range(2, 4_001))
    assert rig.venue.commands[-1][1] == open_id + 1  # the pipelined order went out after the Welcome
    assert st.replay_pending == 0 and rig.engine.journal_replays == 1


def test_a_connection_that_closes_while_its_replay_is_read_is_forgotten(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    reader = DeferredReader()
    rig.engine.replay_reader = reader
    s1 = rig.connect("S1")
    _trade(rig, s1, 0, 2_000)
    rig.engine.link_closed(s1)
    waiting = rig.connect("S1", last_seq=1)
    rig.engine.link_closed(waiting)
    assert reader.pending == [] and len(reader.cancelled) == 1  # the read is cancelled, not left to run
    assert rig.engine.strategies["S1"].replay_pending == 0 and rig.engine.replays_cancelled == 1
    assert waiting.received() == [] and rig.engine.strategies["S1"].link is None
    fresh = rig.connect("S1", last_seq=3_990)
    assert isinstance(fresh.received()[0], Welcome)


def test_orders_total_counts_orders_not_skipped_ids_also_after_a_restart(tmp_path: Path) -> None:
    """Order ids skipped above a venue's own state (the FIX store floor after a crash) are no orders."""
    rig = _rig(tmp_path)
    link = rig.connect("S1")
    _trade(rig, link, 0, 10)
    rig.engine.next_order_id += 3  # what GatewayProcess.recover does when a venue's store names higher ids
    _trade(rig, link, 10, 10)
    assert rig.engine.orders_total == 20
    assert rig.engine.status()["orders_total"] == 20
    rig.engine.journal.close()
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    again = Rig(journal=journal)
    again.engine.adopt(recover(journal.records()))
    assert again.engine.orders_total == 20
    assert again.engine.next_order_id == 24
