"""One strategy's long read does not hold up another's orders: it is taken a ``READ_TURN_BYTES`` part per loop turn.

rev44chaos: while one strategy wrote 1000-order batches as fast as it could, another's single orders waited
169-257 ms, behind the whole of each read. The rest of a long read is kept (the connection not read meanwhile)
and taken on later loop turns, other connections' reads in between; within the connection the order of the
requests, their one answer each, the back-pressure answer of the read and the fatal Error at its end are kept.
Counted, not timed: how many of the flooder's orders were carried out before the other strategy's.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from gateway.engine import READ_TURN_BYTES
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Error,
    Hello,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    Welcome,
)
from gateway.server import StrategyProtocol, start_strategy_server
from model.enums import Side
from tests.harness import MemoryLink, Rig

FLOOD_QTY = 100
OTHER_QTY = 200


def _order(cl_ord_id: str, account: str, req_seq: int, qty: int = FLOOD_QTY) -> bytes:
    return encode_frame(NewOrder(cl_ord_id, account, "V1", "AAPL", Side.BUY, qty, 1_000_000, req_seq=req_seq))


def _flood(count: int, first: int = 1) -> bytes:
    return b"".join(_order(f"f{n}", "ACC1", n) for n in range(first, first + count))


def _whole_frames(data: bytes, limit: int) -> int:
    """Return how many frames of ``data`` end within its first ``limit`` bytes."""
    count = pos = 0
    while pos < len(data):
        pos += 4 + int.from_bytes(data[pos : pos + 4], "big")
        if pos > limit:
            break
        count += 1
    return count


def _rest_kept(link: MemoryLink) -> bool:
    """Return whether the engine keeps the rest of a long read of ``link`` for a later turn."""
    return link.rest_kept


def _sent(rig: Rig, qty: int) -> list[str]:
    """Return the cl_ord_ids of the orders of quantity ``qty`` sent to the venue, in the order sent."""
    return [rig.engine.orders[c[1]].cl_ord_id for c in rig.venue.commands if c[0] == "new" and c[2] == qty]


def test_long_read_when_link_defers_then_a_part_per_turn_and_another_strategy_served_in_between() -> None:
    rig = Rig()
    flooder = rig.connect("S1")
    other = rig.connect("S2")
    flooder.received()
    other.received()
    flooder.defers_reads = True
    data = _flood(1000)
    rig.engine.link_data(flooder, data, rig.clock())
    first_turn = _whole_frames(data, READ_TURN_BYTES)
    assert _rest_kept(flooder)  # the link reads nothing more until the rest is taken
    assert _sent(rig, FLOOD_QTY) == [f"f{n}" for n in range(1, first_turn + 1)]
    rig.engine.link_data(other, _order("o1", "ACC2", 1, OTHER_QTY), rig.clock())
    commands = [c[2] for c in rig.venue.commands if c[0] == "new"]
    assert commands.index(OTHER_QTY) == first_turn  # served after one turn of the flood, not after all of it
    turns = 1
    while flooder.rest_kept:
        rig.engine.link_rest(flooder)
        turns += 1
    assert turns == -(-len(data) // READ_TURN_BYTES)
    assert _sent(rig, FLOOD_QTY) == [f"f{n}" for n in range(1, 1001)]  # every order, once, in order
    assert rig.engine.strategies["S1"].last_req_seq == 1000 and flooder.session.errors == 0
    for order_id in [c[1] for c in rig.venue.commands if c[2] == FLOOD_QTY]:
        rig.venue.accept(order_id, 1_000_000)
    rig.engine.flush()
    answers = flooder.received()
    assert [m.cl_ord_id for m in answers if isinstance(m, OrderAccepted)] == [f"f{n}" for n in range(1, 1001)]
    rig.engine.link_rest(flooder)  # a late call finds nothing kept: nothing happens
    assert len(_sent(rig, FLOOD_QTY)) == 1000


def test_long_read_when_link_cannot_defer_then_taken_all_at_once() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.engine.link_data(link, _flood(1000), rig.clock())
    assert not link.rest_kept and len(_sent(rig, FLOOD_QTY)) == 1000


def test_venue_backs_up_between_turns_then_rest_of_read_judged_as_it_began_and_others_refused() -> None:
    rig = Rig()
    flooder = rig.connect("S1")
    other = rig.connect("S2")
    flooder.received()
    other.received()
    flooder.defers_reads = True
    rig.engine.link_data(flooder, _flood(1000), rig.clock())
    rig.venue.set_write_paused(True)  # the venue socket backs up between two turns of the read
    rig.engine.link_data(other, _order("o1", "ACC2", 1, OTHER_QTY), rig.clock())
    refused = [m for m in other.received() if isinstance(m, OrderRejected)]
    assert [(m.cl_ord_id, m.code) for m in refused] == [("o1", "VENUE_BACKPRESSURE")]
    while flooder.rest_kept:
        rig.engine.link_rest(flooder)
    assert len(_sent(rig, FLOOD_QTY)) == 1000  # the read began before the back-up: all of it sent
    assert not [m for m in flooder.received() if isinstance(m, OrderRejected)]
    rig.engine.link_data(flooder, _flood(1, first=1001), rig.clock())  # a new read is judged now
    refused = [m for m in flooder.received() if isinstance(m, OrderRejected)]
    assert [(m.cl_ord_id, m.code) for m in refused] == [("f1001", "VENUE_BACKPRESSURE")]


def test_connection_closes_while_rest_kept_then_rest_dropped_and_welcome_says_how_far_it_got() -> None:
    rig = Rig()
    flooder = rig.connect("S1")
    flooder.defers_reads = True
    data = _flood(1000)
    rig.engine.link_data(flooder, data, rig.clock())
    done = _whole_frames(data, READ_TURN_BYTES)
    rig.engine.link_closed(flooder)  # policy cancel: the orders carried out are canceled
    rig.engine.link_rest(flooder)  # the turn already scheduled finds nothing
    assert _sent(rig, FLOOD_QTY) == [f"f{n}" for n in range(1, done + 1)]
    assert sorted(c[1] for c in rig.venue.commands if c[0] == "cancel") == [
        c[1] for c in rig.venue.commands if c[0] == "new"
    ]
    again = rig.connect("S1")
    welcome = again.received()[0]
    assert isinstance(welcome, Welcome) and welcome.last_req_seq == done
    rig.engine.link_data(again, data[sum(len(_order(f"f{n}", "ACC1", n)) for n in range(1, done + 1)) :], rig.clock())
    assert _sent(rig, FLOOD_QTY) == [f"f{n}" for n in range(1, 1001)]  # the rest, sent again: each order once


def test_fatal_error_pending_then_rest_of_read_answered_at_once_and_the_error_last() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    link.defers_reads = True
    garbage = b"".join(encode_frame({"x": i}) for i in range(101))  # past the error budget: TOO_MANY_ERRORS
    rig.engine.link_data(link, garbage + _flood(1000), rig.clock())
    assert not link.rest_kept and link.session.is_closed()
    got = link.received()
    refused = [m for m in got if isinstance(m, OrderRejected)]
    assert [m.cl_ord_id for m in refused] == [f"f{n}" for n in range(1, 1001)]
    assert {m.code for m in refused} == {"TOO_MANY_ERRORS"}
    assert isinstance(got[-1], Error) and got[-1].fatal and got[-1].code == "TOO_MANY_ERRORS"
    assert not _sent(rig, FLOOD_QTY)


# ---- real Unix sockets -------------------------------------------------------------------------------------


async def _socket_gateway(sock_dir: Path) -> tuple[Rig, asyncio.AbstractServer, str]:
    ents = {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()]),
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[os.getuid()]),
    }
    rig = Rig(strategies=ents)
    rig.engine.entitlements.gateway_uid = os.getuid()
    path = str(sock_dir / "s.sock")
    server = await start_strategy_server(rig.engine, path, rig.clock)
    return rig, server, path


async def _connect(path: str, strategy_id: str) -> tuple[socket.socket, FrameSplitter, Welcome]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, path)
    await loop.sock_sendall(sock, encode_frame(Hello(strategy_id, PROTOCOL_VERSION, 0)))
    splitter = FrameSplitter()
    while True:
        frames = splitter.feed(await asyncio.wait_for(loop.sock_recv(sock, 65536), 10))
        if frames:
            welcome = gateway_message_decoder.decode(frames[0])
            assert isinstance(welcome, Welcome)
            return sock, splitter, welcome


async def _spin(condition: object, what: str, rounds: int = 20_000) -> None:
    """Let the loop turn (no sleep: each round is one loop iteration) until ``condition`` holds."""
    for _ in range(rounds):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"timed out waiting for {what}")


async def test_socket_flooder_then_other_strategy_served_after_at_most_one_turn_and_flood_answered_in_order(
    sock_dir: Path,
) -> None:
    rig, server, path = await _socket_gateway(sock_dir)
    loop = asyncio.get_running_loop()
    flooder, flood_frames, _ = await _connect(path, "S1")
    other, _, _ = await _connect(path, "S2")
    count = 2000
    data = _flood(count)
    flooder.sendall(data)  # fits the socket buffer: one read of the gateway's (up to 256 KiB)
    other.sendall(_order("o1", "ACC2", 1, OTHER_QTY))
    await _spin(lambda: len(rig.venue.commands) == count + 1, "every order")
    commands = [c[2] for c in rig.venue.commands]
    assert commands.index(OTHER_QTY) <= _whole_frames(data, READ_TURN_BYTES)  # not behind the whole read
    assert _sent(rig, FLOOD_QTY) == [f"f{n}" for n in range(1, count + 1)]
    link = rig.engine.strategies["S1"].link
    assert isinstance(link, StrategyProtocol) and not link._rest_kept and not rig.engine._kept_reads
    for order_id in [c[1] for c in rig.venue.commands if c[2] == FLOOD_QTY]:
        rig.venue.accept(order_id, 1_000_000)
    rig.engine.flush()
    accepted: list[str] = []
    while len(accepted) < count:
        frames = flood_frames.feed(await asyncio.wait_for(loop.sock_recv(flooder, 1 << 16), 10))
        for frame in frames:
            message = gateway_message_decoder.decode(frame)
            assert isinstance(message, OrderAccepted), message
            accepted.append(message.cl_ord_id)
    assert accepted == [f"f{n}" for n in range(1, count + 1)]  # each answered once, in order
    flooder.sendall(_order("f-after", "ACC1", count + 1))  # reading resumed after the kept rest
    await _spin(lambda: len(rig.venue.commands) == count + 2, "the order after the flood")
    flooder.close()
    other.close()
    server.close()


async def test_socket_flooder_disconnects_while_rest_kept_then_rest_dropped_and_reconnect_tells_how_far(
    sock_dir: Path,
) -> None:
    rig, server, path = await _socket_gateway(sock_dir)
    engine = rig.engine
    flooder, _, _ = await _connect(path, "S1")
    count = 2000
    flooder.sendall(_flood(count))
    flooder.close()  # gone with its bytes in the gateway's socket buffer
    await _spin(lambda: engine._kept_reads, "the rest of the read kept")
    first = rig.venue.commands[0][1]
    rig.venue.accept(first, 1_000_000)  # its answer cannot be written: the connection is found closed
    await _spin(lambda: engine.strategies["S1"].link is None, "the disconnect")
    for _ in range(50):  # the turn that was scheduled finds nothing; no more orders are carried out
        await asyncio.sleep(0)
    done = len(_sent(rig, FLOOD_QTY))
    assert 0 < done < count and not engine._kept_reads
    assert _sent(rig, FLOOD_QTY) == [f"f{n}" for n in range(1, done + 1)]
    assert engine.strategies["S1"].last_req_seq == done
    canceled = sorted(c[1] for c in rig.venue.commands if c[0] == "cancel")
    assert canceled == [c[1] for c in rig.venue.commands if c[0] == "new"]  # policy cancel: every order carried out
    again, _, welcome = await _connect(path, "S1")
    assert welcome.last_req_seq == done  # the strategy sends the rest again
    again.close()
    server.close()


class _Transport:
    """Records pause/resume of reading."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def is_closing(self) -> bool:
        return False


async def test_protocol_when_rest_kept_and_held_behind_hello_then_reading_resumes_only_when_neither() -> None:
    rig = Rig()
    protocol = StrategyProtocol(rig.engine, rig.clock)
    transport = _Transport()
    protocol.transport = transport  # type: ignore[assignment]
    assert protocol.read_rest_soon()
    protocol.hold_input(True)
    protocol.hold_input(False)  # the held bytes are read: the rest of the long read is still kept
    assert transport.calls == ["pause"]
    protocol.read_rest_done()
    assert transport.calls == ["pause", "resume"]
    protocol.hold_input(True)
    assert protocol.read_rest_soon() and protocol.read_rest_soon()  # a turn after a turn: paused once
    protocol.read_rest_done()  # still held behind the Hello
    assert transport.calls == ["pause", "resume", "pause"]
    protocol.hold_input(False)
    assert transport.calls == ["pause", "resume", "pause", "resume"]
    await asyncio.sleep(0)  # the turns scheduled find nothing kept
