"""Requests written behind a Hello whose Welcome waits for the journal (real Unix sockets).

The bytes behind such a Hello are held undecoded until the Welcome, the replay and the venue states
are out, then read: a fatal frame among them ends the session after the requests before it were
answered, never before the Welcome (rev41iso 1, 4); what is held is bounded, the connection is no
longer read above ``HELD_INPUT_LIMIT`` (rev41iso 2). The journal read is held by the test until the
bytes are in, so nothing depends on timing.
"""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import msgspec
import pytest

from gateway.app import LoopReplayReader, _loop_scheduler
from gateway.engine import HELD_INPUT_LIMIT, Engine
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    MAX_FRAME_SIZE,
    PROTOCOL_VERSION,
    Cancel,
    Error,
    Executed,
    Hello,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    Replace,
    VenueStatus,
    Welcome,
)
from gateway.replay import JournalRead, ReplayRunner
from gateway.server import StrategyProtocol, start_strategy_server
from gateway.strategy_state import StrategyState
from model.enums import Side
from tests.harness import Rig, journaling_rig, trade_filled

MAX_READ = 256 * 1024
"""The most one socket read hands the engine (asyncio's and uvloop's read size)."""


class GatedReader:
    """The loop's journal reader, with each read held until ``release``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, runner: ReplayRunner) -> None:
        self.inner = LoopReplayReader(loop, runner)
        self.held: list[JournalRead] = []

    def submit(self, read: JournalRead) -> None:
        self.held.append(read)

    def cancel(self, read: JournalRead) -> None:
        if read in self.held:
            self.held.remove(read)
        else:
            self.inner.cancel(read)

    def resume(self, read: JournalRead) -> None:
        self.inner.resume(read)

    def release(self) -> None:
        for read in self.held:
            self.inner.submit(read)
        self.held.clear()


async def _until(condition: object, what: str, rounds: int = 10_000) -> None:
    for _ in range(rounds):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting for {what}")


async def _far_gateway(
    tmp_path: Path, sock_dir: Path
) -> tuple[Rig, GatedReader, StrategyState, asyncio.AbstractServer]:
    """Return a gateway whose S1 has 2,000 events, most of them only in the journal, serving ``sock_dir/s.sock``."""
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    s1 = rig.connect("S1", uid=os.getuid())
    trade_filled(rig, s1, "ACC1", 1_000)
    engine.link_closed(s1)
    st = engine.strategies["S1"]
    assert st.events_base > 0 and st.last_req_seq == 1_000  # a Hello with last_seq 0 reads the journal
    loop = asyncio.get_running_loop()
    reader = GatedReader(loop, ReplayRunner())
    engine.replay_reader = reader
    engine.replay_scheduler = _loop_scheduler(loop)
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock)
    return rig, reader, st, server


def _order(n: int) -> bytes:
    return encode_frame(NewOrder(f"n{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=n))


def _link(engine: Engine) -> StrategyProtocol:
    link = engine.strategies["S1"].link
    assert isinstance(link, StrategyProtocol)
    return link


async def _read_to_end(reader: asyncio.StreamReader) -> list[object]:
    got: list[object] = []
    splitter = FrameSplitter()
    while data := await asyncio.wait_for(reader.read(65536), 30):
        got.extend(gateway_message_decoder.decode(f) for f in splitter.feed(data))
    return got


@pytest.mark.parametrize("fatal", ["FRAME_TOO_LARGE", "TOO_MANY_ERRORS"])
async def test_fatal_frame_behind_far_hello_when_welcome_waits_then_welcome_replay_answers_and_then_the_error(
    tmp_path: Path, sock_dir: Path, fatal: str
) -> None:
    """rev41iso 1: the fatal Error was the first and only frame; the valid orders before it were dropped."""
    rig, gate, st, server = await _far_gateway(tmp_path, sock_dir)
    path = str(sock_dir / "s.sock")
    engine = rig.engine
    behind = _order(1001) + _order(1002) + _order(1003)
    if fatal == "FRAME_TOO_LARGE":
        behind += struct.pack(">I", MAX_FRAME_SIZE + 1) + b"\x00" * 100
    else:  # 101 maps (not requests), then two orders and a cancel past the budget
        behind += b"".join(encode_frame({"x": i}) for i in range(101))
        behind += _order(1004) + _order(1005) + encode_frame(Cancel("n1001", req_seq=1006))
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)) + behind)
    await writer.drain()
    await _until(lambda: gate.held, "the journal read")
    link = _link(engine)
    await _until(lambda: engine.held_input(link) == len(behind), "the bytes behind the Hello")
    assert not link.session.is_closed()  # nothing behind the Hello was decoded yet
    gate.release()
    got = await _read_to_end(reader)
    writer.close()
    assert isinstance(got[0], Welcome) and got[0].replayed == got[0].next_seq - 1 and got[0].last_req_seq == 1_000
    kinds = [type(m) for m in got]
    first_status = kinds.index(VenueStatus)
    assert all(k in (OrderAccepted, Executed) for k in kinds[1:first_status])
    assert first_status == 1 + got[0].replayed  # the whole replay, then where the venues stand
    error = got[-1]
    assert isinstance(error, Error) and error.fatal and error.code == fatal
    assert [c[0] for c in rig.venue.commands if c[0] == "new"][-3:] == ["new"] * 3
    assert {"n1001", "n1002", "n1003"} <= set(st.orders)  # carried out: sent to the venue
    if fatal == "TOO_MANY_ERRORS":
        nonfatal = [m for m in got if isinstance(m, Error) and not m.fatal]
        assert len(nonfatal) == 101  # each map answered, in order
        refused = [(m.cl_ord_id, m.code) for m in got if isinstance(m, OrderRejected)]
        assert refused == [("n1004", "TOO_MANY_ERRORS"), ("n1005", "TOO_MANY_ERRORS")]
        assert st.last_req_seq == 1006
    else:
        assert st.last_req_seq == 1003
    assert engine.held_input(link) == 0 and not engine._pending_hellos
    server.close()


async def test_flood_behind_far_hello_when_welcome_waits_then_held_bytes_bounded_and_all_read_after_it(
    tmp_path: Path, sock_dir: Path
) -> None:
    """rev41iso 2: everything written behind the Hello was decoded and kept until the Welcome, without a bound."""
    rig, gate, st, server = await _far_gateway(tmp_path, sock_dir)
    path = str(sock_dir / "s.sock")
    engine = rig.engine
    pad = msgspec.msgpack.encode([6, "x" * 60_000])  # a Heartbeat with a trailing element: cheap to read
    flood = encode_frame(Hello("S1", PROTOCOL_VERSION, 0)) + b"".join(
        struct.pack(">I", len(pad)) + pad for _ in range(8 * 1024 * 1024 // len(pad))
    )
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(flood + _order(1001))
    await _until(lambda: gate.held, "the journal read")
    link = _link(engine)
    await _until(lambda: link._input_held, "the gateway to stop reading")
    held_at_pause = engine.held_input(link)
    for _ in range(50):  # the loop turns: nothing more is read while the Welcome waits
        await asyncio.sleep(0.002)
        assert engine.held_input(link) == held_at_pause
    assert HELD_INPUT_LIMIT < held_at_pause <= HELD_INPUT_LIMIT + MAX_READ
    assert writer.transport.get_write_buffer_size() > 0  # the rest waits on the strategy's side
    gate.release()
    got: list[object] = []
    splitter = FrameSplitter()
    while not any(isinstance(m, VenueStatus) for m in got):
        data = await asyncio.wait_for(reader.read(65536), 30)
        assert data
        got.extend(gateway_message_decoder.decode(f) for f in splitter.feed(data))
    await _until(lambda: "n1001" in st.orders, "the order behind the flood", rounds=30_000)
    assert isinstance(got[0], Welcome) and not link.session.is_closed()
    assert engine.held_input(link) == 0 and not engine._pending_hellos and not link._input_held
    assert st.last_req_seq == 1001 and link.session.errors == 0
    writer.close()
    server.close()


@pytest.mark.parametrize("kind", ["NewOrder", "Cancel", "Replace"])
def test_negative_sent_ns_when_request_then_invalid_field(kind: str) -> None:
    """rev41iso 3: sent_ns is a uint; -5 went through (a NewOrder reached the venue)."""
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(rig.engine.next_order_id - 1, 1_000_000)
    rig.engine.flush()
    link.received()
    sent = len(rig.venue.commands)
    if kind == "NewOrder":
        rig.send(link, NewOrder("B", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, sent_ns=-5))
    elif kind == "Cancel":
        rig.send(link, Cancel("A", sent_ns=-1))
    else:
        rig.send(link, Replace("A", 200, 1_000_000, sent_ns=-5))
    rig.engine.flush()
    (answer,) = link.received()
    assert getattr(answer, "code", None) == "INVALID_FIELD" and "sent_ns" in getattr(answer, "text", "")
    assert len(rig.venue.commands) == sent  # nothing went to the venue


async def test_strategy_closes_while_not_read_behind_far_hello_then_hello_again_is_welcomed_at_once(
    tmp_path: Path, sock_dir: Path
) -> None:
    """A connection no longer read counts as ended once the strategy closed it: no ALREADY_CONNECTED."""
    rig, gate, st, server = await _far_gateway(tmp_path, sock_dir)
    engine = rig.engine
    path = str(sock_dir / "s.sock")
    pad = msgspec.msgpack.encode([6, "x" * 60_000])
    _, writer = await asyncio.open_unix_connection(path)
    writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)) + (struct.pack(">I", len(pad)) + pad) * 60)
    await _until(lambda: gate.held, "the journal read")
    old = _link(engine)
    await _until(lambda: old._input_held, "the gateway to stop reading")
    writer.transport.abort()  # bytes still unread in the gateway's socket
    reader2, writer2 = await asyncio.open_unix_connection(path)
    writer2.write(encode_frame(Hello("S1", PROTOCOL_VERSION, st.next_seq - 1)) + _order(1001))
    got: list[object] = []
    splitter = FrameSplitter()
    while not any(isinstance(m, (VenueStatus, Error)) for m in got):
        data = await asyncio.wait_for(reader2.read(65536), 30)
        assert data, got
        got.extend(gateway_message_decoder.decode(f) for f in splitter.feed(data))
    assert isinstance(got[0], Welcome), got[0]
    await _until(lambda: "n1001" in st.orders, "the order behind the second Hello")
    await _until(lambda: old.transport is None, "the first connection's end")
    assert not gate.held and engine.held_input(old) == 0 and st.last_req_seq == 1_001
    writer2.close()
    server.close()
