"""A replay across a ``LAST_SEQ_AHEAD`` jump comes from memory while memory keeps its events (protocol doc 4.1).

The jump numbers a strategy's events on after a ``last_seq`` beyond the gateway's; the events numbered before it
stay in memory (within ``events_kept``), so a later Hello with an older ``last_seq`` is replayed them without a
journal read, the same events, numbered the same, once, in order. What memory no longer holds is read back from
the journal as before.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gateway.app import LoopReplayReader, _loop_scheduler
from gateway.engine import RELEASE_BATCH, REPLAY_SLICE_EVENTS
from gateway.journal import read_journal
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Error,
    Executed,
    Hello,
    OrderAccepted,
    OrderEvent,
    VenueStatus,
    Welcome,
)
from gateway.recovery import recover
from gateway.server import start_strategy_server
from tests.harness import MemoryLink, Rig, journaling_rig, trade_filled

KEPT = 500
"""``journaling_rig``'s ``events_kept``."""


def _jumped(rig: Rig, before: int, ahead: int, after: int) -> tuple[int, int]:
    """Trade ``before`` orders, jump ``ahead`` past the last seq, trade ``after`` more; return (last seq, jump to)."""
    uid = os.getuid()
    link = rig.connect("S1", uid=uid)
    trade_filled(rig, link, "ACC1", before, batch=min(before, 500))
    rig.engine.link_closed(link)
    last = 2 * before
    link = rig.connect("S1", last_seq=last + ahead, uid=uid)
    welcome, notice, *_ = link.received()
    assert isinstance(welcome, Welcome) and welcome.next_seq == last + ahead + 1
    assert isinstance(notice, Error) and notice.code == "LAST_SEQ_AHEAD"
    trade_more(rig, link, before, after)
    rig.engine.link_closed(link)
    return last, last + ahead + 1


def trade_more(rig: Rig, link: MemoryLink, first: int, count: int) -> None:
    """Trade ``count`` orders numbered on from ``first`` (ids and req_seqs after the ones already used)."""
    engine = rig.engine
    for i in range(first, first + count):
        rig.new_order(link, f"c{i}")
        rig.venue.accept(engine.next_order_id - 1, 1_000_000)
        rig.venue.fill(engine.next_order_id - 1, 100, 1_000_000)
        engine.flush()
    link.written.clear()


def _replay(rig: Rig, last_seq: int) -> tuple[Welcome, list[OrderEvent]]:
    link = rig.connect("S1", last_seq=last_seq, uid=os.getuid())
    messages = link.received()
    rig.engine.link_closed(link)
    welcome = messages[0]
    assert isinstance(welcome, Welcome)
    assert not any(isinstance(m, Error) for m in messages)
    return welcome, [m for m in messages if isinstance(m, (OrderAccepted, Executed))]


def test_replay_across_a_jump_when_memory_keeps_the_events_then_no_journal_read_and_every_event_once(
    tmp_path: Path,
) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    last, jump = _jumped(rig, 100, 1_000, 10)  # seqs 1..200, then 1201..1220
    expected = [*range(1, last + 1), *range(jump, jump + 20)]
    for last_seq in (130, 0, last - 1, last, last + 500, jump - 1, jump + 5):
        welcome, events = _replay(rig, last_seq)
        want = [seq for seq in expected if seq > last_seq]
        assert (welcome.next_seq, welcome.replayed) == (jump + 20, len(want)), last_seq
        assert [e.seq for e in events] == want, last_seq
    assert engine.journal_replays == 0 and engine.replay_records == 0  # before: a journal read from byte 0
    first = _replay(rig, 130)[1][0]
    assert isinstance(first, OrderAccepted) and first.cl_ord_id == "c65"  # seq 131: c65's OrderAccepted
    engine.journal.close()


def test_replay_across_a_jump_when_memory_let_the_older_events_go_then_the_journal_gives_them(tmp_path: Path) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    last, jump = _jumped(rig, 1_000, 50, 10)  # 2,000 events (memory keeps 500 to 1,524), then 20 after the jump
    st = engine.strategies["S1"]
    assert 0 < st.jumped <= len(st.events) <= KEPT + RELEASE_BATCH
    oldest = st.events[0].seq
    assert oldest > 1 and [e.seq for e in st.events[st.jumped :]] == list(range(jump, jump + 20))
    expected = [*range(1, last + 1), *range(jump, jump + 20)]
    welcome, events = _replay(rig, oldest - 1)  # memory holds everything after it
    assert [e.seq for e in events] == [seq for seq in expected if seq >= oldest] and welcome.replayed == len(events)
    assert engine.journal_replays == 0
    welcome, events = _replay(rig, 3)  # older than memory: the journal, then memory, each event once
    assert [e.seq for e in events] == expected[3:] and welcome.replayed == len(expected) - 3
    assert engine.journal_replays == 1
    link = rig.connect("S1", last_seq=jump + 19, uid=os.getuid())
    trade_more(rig, link, 1_010, KEPT + RELEASE_BATCH)
    engine.link_closed(link)
    assert st.jumped == 0 and len(st.events) <= KEPT + RELEASE_BATCH  # the window counts the events before the jump
    welcome, events = _replay(rig, 3)
    expected += range(jump + 20, st.next_seq)
    assert [e.seq for e in events] == expected[3:] and welcome.replayed == len(expected) - 3
    engine.journal.close()


def test_replay_across_a_jump_after_a_restart_when_memory_keeps_the_events_then_no_journal_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    rig = journaling_rig(path)
    last, jump = _jumped(rig, 100, 1_000, 10)
    rig.engine.journal.close()
    again = journaling_rig(path)
    again.engine.adopt(recover(read_journal(path)))
    welcome, events = _replay(again, 130)
    assert [e.seq for e in events] == [*range(131, last + 1), *range(jump, jump + 20)]
    assert welcome.replayed == len(events) and again.engine.journal_replays == 0
    again.engine.journal.close()


async def test_replay_across_a_jump_over_a_unix_socket_when_longer_than_a_slice_then_from_memory(
    tmp_path: Path, sock_dir: Path
) -> None:
    """As ``gateway run`` serves it (a journal reader thread, a replay written a slice at a time)."""
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    engine.events_kept = 4_000
    last, jump = _jumped(rig, 1_000, 1_000_000, 10)  # 2,000 events, then 20 after a jump of a million
    loop = asyncio.get_running_loop()
    engine.replay_reader = LoopReplayReader(loop)
    engine.replay_scheduler = _loop_scheduler(loop)
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock)
    try:
        reader, writer = await asyncio.open_unix_connection(str(sock_dir / "s.sock"))
        writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 130)))
        messages: list[object] = []
        splitter = FrameSplitter()

        async def read_all() -> None:
            while not any(isinstance(m, VenueStatus) for m in messages):
                data = await reader.read(1 << 20)
                assert data, messages[-3:]
                messages.extend(gateway_message_decoder.decode(f) for f in splitter.feed(data))

        await asyncio.wait_for(read_all(), 30)
        welcome = messages[0]
        want = [*range(131, last + 1), *range(jump, jump + 20)]
        assert len(want) > REPLAY_SLICE_EVENTS  # written a slice at a time
        assert isinstance(welcome, Welcome) and (welcome.next_seq, welcome.replayed) == (jump + 20, len(want))
        assert [m.seq for m in messages if isinstance(m, (OrderAccepted, Executed))] == want
        assert not any(isinstance(m, Error) for m in messages)
        assert engine.journal_replays == 0 and engine.replay_records == 0 and not engine._journal_reads
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
        engine.journal.close()


def test_second_jump_when_nothing_came_since_the_first_then_the_notice_calls_no_skipped_number_an_event(
    tmp_path: Path,
) -> None:
    """rev49strat: a Hello beyond a jump's number, with no event since, was told "the gateway's last event 45"."""
    rig = journaling_rig(tmp_path / "j")
    uid = os.getuid()
    link = rig.connect("S1", uid=uid)
    trade_filled(rig, link, "ACC1", 22, batch=22)  # events 1..44
    rig.engine.link_closed(link)
    link = rig.connect("S1", last_seq=45, uid=uid)  # 45 is skipped: it names no event
    rig.engine.link_closed(link)
    link = rig.connect("S1", last_seq=50, uid=uid)
    welcome, notice, *_ = link.received()
    assert isinstance(welcome, Welcome) and welcome.next_seq == 51
    assert isinstance(notice, Error) and notice.code == "LAST_SEQ_AHEAD"
    assert "last event" not in notice.text  # old: "... beyond the gateway's last event 45 ..."
    assert notice.text.startswith("your last_seq 50 is beyond the last seq the gateway numbered, 45 (")
    assert "new events are numbered from 51" in notice.text
