"""One strategy's replays never weigh on another's: a Hello+close storm leaves nothing behind (real Unix sockets).

Count-based only (never timing): the replay reads the journal has open (file descriptors of the journal
file in this process), the reads in progress or waiting, the events held for a replay, and the steps
each read was given while another strategy's read ran.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
from pathlib import Path

import pytest

from gateway.app import LoopReplayReader, ThreadReplayReader, _loop_scheduler
from gateway.engine import Engine
from gateway.journal import FileJournal
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Error,
    Executed,
    Hello,
    NewOrder,
    OrderAccepted,
    VenueStatus,
    Welcome,
)
from gateway.replay import JournalRead, ReplayJob, ReplayRunner
from gateway.server import peer_closed, start_strategy_server
from model.enums import Side
from tests.harness import journaling_rig, open_fds_on, trade_filled

STORM = 60
"""Connections that each say Hello(last_seq 0) and close at once."""


async def _until(condition: object, rounds: int = 5_000) -> None:
    for _ in range(rounds):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


def _idle(engine: Engine, runner: ReplayRunner) -> bool:
    return not (engine._journal_reads or engine._replays or engine._pending_hellos or runner.busy)


@pytest.mark.parametrize("mode", ["loop", "thread"])
async def test_a_hello_close_storm_leaves_no_read_behind_and_another_strategy_is_served_in_turn(
    tmp_path: Path, sock_dir: Path, mode: str
) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    uid = os.getuid()
    s2 = rig.connect("S2", uid=uid)  # S2's day is the journal's first stretch, S1's the whole journal
    trade_filled(rig, s2, "ACC2", 1_000)
    engine.link_closed(s2)
    s1 = rig.connect("S1", uid=uid)
    trade_filled(rig, s1, "ACC1", 6_000)
    engine.link_closed(s1)
    st1, st2 = engine.strategies["S1"], engine.strategies["S2"]
    assert st1.events_base > 10_000 and st2.events_base > 1_000  # both replays from 0 read the journal
    loop = asyncio.get_running_loop()
    runner = ReplayRunner()
    engine.replay_reader = LoopReplayReader(loop, runner) if mode == "loop" else ThreadReplayReader(loop, runner)
    engine.replay_scheduler = _loop_scheduler(loop)
    path = str(sock_dir / "s.sock")
    journal_path = tmp_path / "j"
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock)
    counters = engine._counters
    try:
        fds = len(open_fds_on(journal_path))  # the journal's own writer
        answered = counters.strategy_connections + counters.strategy_refused
        for _ in range(STORM):  # S1: Hello(last_seq 0), close at once
            _, writer = await asyncio.open_unix_connection(path)
            writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)))
            writer.close()
        await _until(lambda: counters.strategy_connections + counters.strategy_refused == answered + STORM)
        await _until(lambda: not engine._links)
        # every closed connection ended its read: at once on the loop, at the worker's next step in a thread
        await _until(lambda: _idle(engine, runner), 1 if mode == "loop" else 200)
        assert len(open_fds_on(journal_path)) == fds
        assert st1.link is None and st1.replay_pending == 0 and engine.replays_cancelled >= 1
        assert engine.journal_replays == 0  # none of them got as far as a Welcome

        # S1 asks for its whole day and reads nothing; S2 asks for its own (shorter) day meanwhile
        _s1_reader, s1_writer = await asyncio.open_unix_connection(path)
        s1_writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)))
        await _until(lambda: engine._journal_reads)
        (s1_read,) = engine._journal_reads.values()
        s2_reader, s2_writer = await asyncio.open_unix_connection(path)
        s2_writer.write(
            encode_frame(Hello("S2", PROTOCOL_VERSION, 0))
            + encode_frame(NewOrder("late", "ACC2", "V1", "MSFT", Side.SELL, 10, 3_000_000, req_seq=1_001))
        )
        await _until(lambda: len(engine._journal_reads) == 2)
        s2_read = next(r for r in engine._journal_reads.values() if r is not s1_read)
        s1_steps_before = s1_read.steps
        at_s2_done: list[tuple[int, int, bool]] = []
        s2_done = s2_read.done

        def note_and_finish(result: object) -> None:  # when S2's read ends, on the loop
            at_s2_done.append((s1_read.steps, s2_read.steps, s1_read in runner.open))
            s2_done(result)  # type: ignore[arg-type]

        s2_read.done = note_and_finish
        got: list[object] = []
        splitter = FrameSplitter()

        async def s2_read_until_venue_status() -> None:
            while not any(isinstance(m, (VenueStatus, Error)) for m in got):
                data = await s2_reader.read(65536)
                assert data, got[-3:]
                got.extend(gateway_message_decoder.decode(f) for f in splitter.feed(data))

        await asyncio.wait_for(s2_read_until_venue_status(), 60)
        assert isinstance(got[0], Welcome) and got[0].replayed == st2.next_seq - 1
        # the reads took turns: S1's got at most a step more than S2's while S2's ran, and was still going
        ((s1_steps, s2_steps, s1_reading),) = at_s2_done
        # (at most about twice as many: in a thread a turn can end a step late when the GIL changes hands late,
        # seen once under a full suite's load, 23 steps against S2's 20; S1 reading its whole day first would
        # take ~6x S2's steps)
        assert s1_steps - s1_steps_before <= 2 * (s2_steps + 1) and s1_reading
        assert [e.seq for e in got if isinstance(e, (OrderAccepted, Executed))] == list(range(1, st2.next_seq))
        await _until(lambda: "late" in st2.orders)  # S2's order, sent behind its Hello, went to the venue
        assert len(open_fds_on(journal_path)) <= fds + 1  # at most S1's read

        s1_writer.close()  # S1 goes away without reading its replay (still read from the journal, or being written)
        await _until(lambda: st1.link is None)
        await _until(lambda: _idle(engine, runner), 1 if mode == "loop" else 200)
        assert len(open_fds_on(journal_path)) == fds
        assert st1.replay_pending == 0 and s1_read.job is not None and s1_read.job.reader._fd == -1
        s2_writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_the_runner_bounds_open_reads_takes_them_in_turn_and_a_cancelled_one_never_opens(tmp_path: Path) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    link = rig.connect("S1", uid=os.getuid())
    trade_filled(rig, link, "ACC1", 2_000)
    engine.link_closed(link)
    base = engine.strategies["S1"].events_base
    journal = engine.journal
    results: dict[str, object] = {}
    opened: list[str] = []

    def read(name: str) -> JournalRead:
        def open_job() -> ReplayJob:
            opened.append(name)
            return ReplayJob(journal.reader(0), "S1", 0, base)

        def done(result: object) -> None:
            results[name] = result

        return JournalRead("S1", open_job, done)

    runner = ReplayRunner(max_open=2)
    a, b, c, d = read("a"), read("b"), read("c"), read("d")
    for r in (a, b, c, d):
        runner.submit(r)
    assert list(runner.open) == [a, b] and list(runner.waiting) == [c, d]
    runner.cancel(c, close_now=True)  # waiting: never opened
    for _ in range(6):
        assert runner.step() is None
    assert opened == ["a", "b"] and a.steps == b.steps == 3  # in turn
    runner.cancel(a, close_now=False)  # as from the loop while a thread steps: closed by the next step
    assert runner.step() is None
    assert a.job is not None and a.job.events == [] and a.job.reader._fd == -1
    assert list(runner.open) == [d, b] and d.job is None  # d took a's place; it opens when its turn comes
    while runner.busy:
        finished = runner.step()
        if finished is not None:
            finished[0].done(finished[1])
    assert sorted(results) == ["b", "d"] and c.job is None
    events = results["b"]
    assert isinstance(events, list) and [e.seq for e in events] == list(range(1, base + 1))
    # what gateway status / metrics show (journal_replays): a and c cancelled, b and d ended with their events
    assert (runner.submitted, runner.finished, runner.failed, runner.cancelled, runner.in_progress) == (4, 2, 0, 2, 0)
    runner.cancel(a, close_now=True)  # a second close of the same connection counts once
    assert runner.cancelled == 2

    def broken() -> ReplayJob:
        raise OSError("journal gone")

    runner.submit(JournalRead("S1", broken, lambda result: None))
    assert runner.in_progress == 1
    finished = runner.step()
    assert finished is not None and isinstance(finished[1], str) and "journal gone" in finished[1]
    assert (runner.submitted, runner.finished, runner.failed, runner.in_progress) == (5, 2, 1, 0)


@pytest.mark.parametrize("mode", ["loop", "thread"])
async def test_a_journal_that_cannot_be_opened_refuses_that_hello_and_later_replays_still_run(
    tmp_path: Path, mode: str
) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    uid = os.getuid()
    s1 = rig.connect("S1", uid=uid)
    trade_filled(rig, s1, "ACC1", 2_000)
    engine.link_closed(s1)
    loop = asyncio.get_running_loop()
    runner = ReplayRunner()
    engine.replay_reader = LoopReplayReader(loop, runner) if mode == "loop" else ThreadReplayReader(loop, runner)
    engine.replay_scheduler = _loop_scheduler(loop)
    journal = engine.journal
    assert isinstance(journal, FileJournal)
    real_reader = journal.reader
    calls: list[int] = []

    def out_of_descriptors_once(start: int) -> object:
        calls.append(start)
        if len(calls) == 1:
            raise OSError(errno.EMFILE, "Too many open files")
        return real_reader(start)

    journal.reader = out_of_descriptors_once  # type: ignore[method-assign,assignment]
    first = rig.connect("S1", uid=uid)  # its replay reaches into the journal: the open fails
    await _until(lambda: not engine._journal_reads, 2_000)
    answers = [m for m in first.received() if isinstance(m, Error | Welcome)]
    assert len(answers) == 1 and isinstance(answers[0], Error) and answers[0].code == "REPLAY_UNAVAILABLE"
    assert "EMFILE" in answers[0].text or "Too many open files" in answers[0].text
    engine.link_closed(first)
    second = rig.connect("S1", uid=uid)  # the next replay runs: the failure left the reader working
    await _until(lambda: not engine._journal_reads and not engine._replays, 2_000)
    welcomes = [m for m in second.received() if isinstance(m, Welcome)]
    assert len(welcomes) == 1 and len(calls) == 3  # opened twice: checked and counted, then rebuilt as written
    assert (runner.submitted, runner.failed, runner.finished, runner.in_progress) == (3, 1, 2, 0)


@pytest.mark.parametrize("mode", ["loop", "thread"])
async def test_a_hello_whose_earlier_connection_is_closing_while_its_journal_read_runs_is_welcomed_at_once(
    tmp_path: Path, mode: str
) -> None:
    """rev38strat s17: the id stayed ALREADY_CONNECTED until the loop called link_closed (a loop iteration or more).

    The earlier connection's transport says it is closing (end-of-file read) before link_closed is called: the new
    Hello takes the id; the cancelled read's late result is dropped; link_closed, when it comes, does nothing more.
    """
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    uid = os.getuid()
    s1 = rig.connect("S1", uid=uid)
    trade_filled(rig, s1, "ACC1", 1_000)
    engine.link_closed(s1)
    st = engine.strategies["S1"]
    loop = asyncio.get_running_loop()
    runner = ReplayRunner()
    engine.replay_reader = LoopReplayReader(loop, runner) if mode == "loop" else ThreadReplayReader(loop, runner)
    engine.replay_scheduler = _loop_scheduler(loop)
    disconnects = engine.counters.strategy_disconnects

    first = rig.connect("S1", last_seq=0, uid=uid)  # its replay is read from the journal: no Welcome yet
    (read,) = engine._journal_reads.values()
    assert first.received() == [] and st.link is first and st.replay_pending == 1
    first.closed = True  # its transport saw end-of-file; the loop has not called link_closed yet
    second = rig.connect("S1", last_seq=st.next_seq - 1, uid=uid)
    answers = second.received()
    assert isinstance(answers[0], Welcome) and answers[0].replayed == 0, answers[:2]
    assert st.link is second and first.strategy is None and read.cancelled
    assert engine.counters.strategy_disconnects == disconnects + 1
    await _until(lambda: not runner.busy, 5_000)  # the cancelled read is dropped by the reader, never reported
    await asyncio.sleep(0.01)
    assert first.received() == [] and st.replay_pending == 0 and engine.journal_replays == 0
    engine.link_closed(first)  # connection_lost, later: nothing left to do
    assert st.link is second and engine.counters.strategy_disconnects == disconnects + 1
    third = rig.connect("S1", last_seq=0, uid=uid)  # the id is still second's: refused as before
    (refusal,) = third.received()
    assert isinstance(refusal, Error) and refusal.code == "ALREADY_CONNECTED"


def _close_then_hello_again(path: str, last_seq: int, rounds: int) -> list[str]:
    """Hello(last_seq 0) and close at once, then Hello again on a new connection; return each first answer."""
    answers = []
    for _ in range(rounds):
        with socket.socket(socket.AF_UNIX) as first:
            first.connect(path)
            first.sendall(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)))
        with socket.socket(socket.AF_UNIX) as again:
            again.connect(path)
            again.sendall(encode_frame(Hello("S1", PROTOCOL_VERSION, last_seq)))
            splitter = FrameSplitter()
            got: list[object] = []
            while not got:
                data = again.recv(65536)
                assert data, "closed without an answer"
                got = [gateway_message_decoder.decode(f) for f in splitter.feed(data)]
        answer = got[0]
        answers.append(answer.code if isinstance(answer, Error) else type(answer).__name__)
        time.sleep(0.05)
    return answers


@pytest.mark.parametrize("mode", ["loop", "thread"])
async def test_close_before_the_welcome_then_hello_again_at_once_over_real_sockets_is_welcomed(
    tmp_path: Path, sock_dir: Path, mode: str
) -> None:
    """rev38strat s17 from outside: the old code answered most of the second Hellos ALREADY_CONNECTED."""
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    uid = os.getuid()
    s1 = rig.connect("S1", uid=uid)
    trade_filled(rig, s1, "ACC1", 3_000)
    engine.link_closed(s1)
    st = engine.strategies["S1"]
    loop = asyncio.get_running_loop()
    runner = ReplayRunner()
    engine.replay_reader = LoopReplayReader(loop, runner) if mode == "loop" else ThreadReplayReader(loop, runner)
    engine.replay_scheduler = _loop_scheduler(loop)
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock)
    try:
        answers = await asyncio.to_thread(_close_then_hello_again, str(sock_dir / "s.sock"), st.next_seq - 1, 8)
        assert answers == ["Welcome"] * 8
        await _until(lambda: not engine._links and _idle(engine, runner), 5_000)
        assert st.link is None and st.replay_pending == 0 and engine.journal_replays == 0
    finally:
        server.close()
        await server.wait_closed()


def test_peer_closed_when_the_other_end_closed_with_nothing_unread_only() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        assert not peer_closed(ours) and not peer_closed(None)
        theirs.sendall(b"abc")
        theirs.close()
        assert not peer_closed(ours)  # closed, but bytes are left to read: they must be processed first
        assert ours.recv(10) == b"abc"
        assert peer_closed(ours)
    finally:
        ours.close()
    assert peer_closed(ours)  # a closed socket (fileno -1)
