"""One strategy's pipelined MassCancels neither cost a walk of its open orders each nor hold up the others (mass56).

rev56strat: 700 MassCancels in one write with 12,536 orders resting held another strategy's NewOrder up 1.7 s (2.5 s
when they matched nothing; > 5 s and a venue logout with 36k orders): each MassCancel walked every open order of
the strategy, also when all already had their Cancel in flight, and a read turn was bounded in bytes, not in work.
A MassCancel now looks only at the groups of open orders its filters match (``StrategyState.groups``) and walks
only the orders of theirs it can still act on; one that brought the work past ``MASS_CANCEL_TURN_WORK`` ends the
read's turn, the requests behind it carried out on a later turn, in order. Answers, counts and order are as before.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from gateway.engine import BATCH_BYTES, MASS_CANCEL_TURN_WORK, READ_TURN_BYTES
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    CancelRejected,
    Error,
    Hello,
    MassCancel,
    MassCancelAck,
    NewOrder,
    OrderAccepted,
    Welcome,
)
from gateway.server import start_strategy_server
from model.enums import Side
from model.order import OrderState
from model.send_result import Refused
from tests.harness import MemoryLink, Rig

SYMBOLS = ("AAPL", "MSFT", "SPY")


def _rest(rig: Rig, link: MemoryLink, count: int, *, prefix: str = "r", account: str = "ACC1") -> list[int]:
    """Place ``count`` orders over ``SYMBOLS`` in one read and have the venue accept them; return their ids."""
    orders = [
        NewOrder(f"{prefix}{n}", account, "V1", SYMBOLS[n % len(SYMBOLS)], Side.BUY, 100, 1_000_000)
        for n in range(count)
    ]
    rig.send(link, *orders)
    ids = [rig.order(link.strategy.strategy_id, f"{prefix}{n}").order_id for n in range(count)]  # type: ignore[union-attr]
    for order_id in ids:
        rig.venue.accept(order_id, 1_000_000)
    rig.engine.flush()
    link.received()
    return ids


def _mass_cancels(link: MemoryLink, count: int, **filters: Any) -> bytes:
    """``count`` MassCancels numbered after the link's last request, as one write."""
    frames = []
    for n in range(count):
        link.req_seq += 1
        frames.append(encode_frame(MassCancel(request_id=f"M{n}", req_seq=link.req_seq, **filters)))
    return b"".join(frames)


def _kept(link: MemoryLink) -> bool:
    """Return whether the engine keeps the rest of a read of ``link`` for a later turn (not reading meanwhile)."""
    return link.rest_kept


def _cancels(rig: Rig) -> list[int]:
    return [c[1] for c in rig.venue.commands if c[0] == "cancel"]


class _CountingOrders(dict):  # type: ignore[type-arg]
    """A strategy's ``open_orders`` that counts the orders handed out by walks over it."""

    walked = 0

    def values(self) -> Any:
        for value in super().values():
            _CountingOrders.walked += 1
            yield value


def test_flood_of_mass_cancels_when_orders_already_canceling_then_not_walked_again_and_answers_unchanged() -> None:
    rig = Rig()
    link = rig.connect("S1")
    ids = _rest(rig, link, 300)
    st = rig.engine.strategies["S1"]
    st.open_orders = _CountingOrders(st.open_orders)
    _CountingOrders.walked = 0
    rig.engine.link_data(link, _mass_cancels(link, 150), rig.clock())
    answers = link.received()
    assert answers == [MassCancelAck(f"M{n}", 300) for n in range(150)]  # each counts every matching open order
    assert sorted(_cancels(rig)) == ids and _cancels(rig) == ids  # each order's Cancel sent once, in order sent
    assert _CountingOrders.walked <= 300  # before: 150 x 300 (every MassCancel walked every open order)
    rig.engine.link_data(link, _mass_cancels(link, 50, symbol="ZZZZ"), rig.clock())  # matching none
    assert link.received() == [MassCancelAck(f"M{n}", 0) for n in range(50)]
    assert _CountingOrders.walked <= 300


def test_mass_cancel_after_cancel_refused_or_new_order_then_that_order_canceled_again() -> None:
    rig = Rig()
    link = rig.connect("S1")
    ids = _rest(rig, link, 30)
    rig.engine.link_data(link, _mass_cancels(link, 2, symbol="AAPL"), rig.clock())
    aapl = [i for i in ids if rig.engine.orders[i].symbol == "AAPL"]
    assert _cancels(rig) == aapl and link.received() == [MassCancelAck("M0", 10), MassCancelAck("M1", 10)]
    rig.venue.cancel_reject(aapl[3])  # refused: the order is live again
    rig.venue.cancel(aapl[4])  # canceled: no longer open
    rig.engine.flush()
    assert rig.engine.orders[aapl[3]].state is OrderState.LIVE
    link.received()
    rig.new_order(link, "late", symbol="AAPL")
    late = rig.order("S1", "late").order_id
    rig.venue.accept(late, 1_000_000)
    rig.engine.flush()
    link.received()
    before = len(_cancels(rig))
    rig.engine.link_data(link, _mass_cancels(link, 1, symbol="AAPL"), rig.clock())
    assert link.received() == [MassCancelAck("M0", 10)]  # 9 still canceling + the refused one + the new one - 1 ended
    assert _cancels(rig)[before:] == [aapl[3], late]
    rig.engine.link_data(link, _mass_cancels(link, 1), rig.clock())  # every symbol: the others' groups
    others = [i for i in ids if rig.engine.orders[i].symbol != "AAPL"]
    assert _cancels(rig)[before + 2 :] == others and link.received() == [MassCancelAck("M0", 30)]


def test_mass_cancel_when_venue_refuses_the_cancel_then_answered_again_by_the_next_one() -> None:
    rig = Rig()
    link = rig.connect("S1")
    ids = _rest(rig, link, 3)
    real = rig.venue.send_cancel
    asked = _refusing(rig)
    rig.engine.link_data(link, _mass_cancels(link, 2), rig.clock())
    got = link.received()
    assert [type(m) for m in got] == [MassCancelAck, CancelRejected, CancelRejected, CancelRejected] * 2
    assert asked == ids * 2  # each MassCancel tried each order: a refused Cancel leaves it live
    rig.venue.send_cancel = real  # type: ignore[method-assign]
    rig.engine.link_data(link, _mass_cancels(link, 1), rig.clock())
    assert _cancels(rig) == ids


def test_mass_cancel_that_walked_many_orders_when_link_defers_then_turn_ends_and_other_strategy_served_between() -> (
    None
):
    rig = Rig()
    flooder = rig.connect("S1")
    other = rig.connect("S2")
    flooder.received()
    other.received()
    ids = _rest(rig, flooder, MASS_CANCEL_TURN_WORK + 10)
    flooder.defers_reads = True
    rig.engine.link_data(flooder, _mass_cancels(flooder, 100), rig.clock())  # one read of 100 (< 4 KiB)
    assert _kept(flooder)  # the first walked every order: the turn ended behind it
    assert flooder.received() == [MassCancelAck("M0", len(ids))]
    rig.new_order(other, "o1", account="ACC2")
    assert rig.venue.commands[-1][0] == "new"  # served before the 99 MassCancels behind the first
    while _kept(flooder):
        rig.engine.link_rest(flooder)
    assert flooder.received() == [MassCancelAck(f"M{n}", len(ids)) for n in range(1, 100)]  # in order, once each
    assert _cancels(rig) == ids and rig.engine.strategies["S1"].last_req_seq == flooder.req_seq
    rig.engine.link_rest(flooder)  # a late turn finds nothing kept
    rig.new_order(flooder, "after")
    assert rig.order("S1", "after").state is OrderState.PENDING_NEW


def test_mass_cancel_cut_when_link_cannot_defer_then_rest_carried_out_at_once_in_order() -> None:
    rig = Rig()
    link = rig.connect("S1")
    ids = _rest(rig, link, MASS_CANCEL_TURN_WORK + 10)
    data = _mass_cancels(link, 3)
    link.req_seq += 1
    data += encode_frame(NewOrder("tail", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=link.req_seq))
    rig.engine.link_data(link, data, rig.clock())
    got = link.received()
    assert [m for m in got if isinstance(m, MassCancelAck)] == [MassCancelAck(f"M{n}", len(ids)) for n in range(3)]
    assert not [m for m in got if isinstance(m, Error)]
    assert _cancels(rig) == ids and rig.order("S1", "tail").state is OrderState.PENDING_NEW


def _refusing(rig: Rig) -> list[int]:
    """Have the venue adapter refuse every Cancel (the order stays live); return the ids it was asked for."""
    asked: list[int] = []

    def refuse(order: Any) -> Refused:
        asked.append(order.order_id)
        return Refused("VENUE_NO", "not now")

    rig.venue.send_cancel = refuse  # type: ignore[method-assign]
    return asked


@pytest.mark.parametrize("defers", [True, False])
def test_mass_cancels_each_walking_many_then_a_cut_after_each_within_a_long_read_and_all_in_order(defers: bool) -> None:
    """Refused Cancels leave every order to act on: each MassCancel walks them all, and ends a turn each time."""
    rig = Rig()
    link = rig.connect("S1")
    ids = _rest(rig, link, MASS_CANCEL_TURN_WORK + 10)
    asked = _refusing(rig)
    frames = []
    for n in range(130):  # a first slice of orders: the MassCancels come in the read's second slice
        link.req_seq += 1
        frames.append(
            encode_frame(NewOrder(f"p{n}", "ACC1", "V1", "MSFT", Side.BUY, 100, 1_000_000, req_seq=link.req_seq))
        )
    data = b"".join(frames) + _mass_cancels(link, 3)
    link.req_seq += 1
    data += encode_frame(NewOrder("tail", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=link.req_seq))
    assert len(data) > BATCH_BYTES
    link.defers_reads = defers
    rig.engine.link_data(link, data, rig.clock())
    turns = 1
    while _kept(link):
        rig.engine.link_rest(link)
        turns += 1
    assert turns == (4 if defers else 1)  # a turn ended behind each MassCancel (the link deferring them)
    open_ids = ids + [rig.order("S1", f"p{n}").order_id for n in range(130)]
    assert asked == open_ids * 3  # each MassCancel tried each open order, in the order sent
    got = link.received()
    kinds = [m.request_id if isinstance(m, MassCancelAck) else "r" for m in got if not isinstance(m, OrderAccepted)]
    assert kinds == (["M0"] + ["r"] * len(open_ids) + ["M1"] + ["r"] * len(open_ids) + ["M2"] + ["r"] * len(open_ids))
    assert {m.count for m in got if isinstance(m, MassCancelAck)} == {len(open_ids)}
    assert rig.order("S1", "tail").state is OrderState.PENDING_NEW
    assert rig.engine.strategies["S1"].last_req_seq == link.req_seq


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


async def _spin(condition: Any, what: str, rounds: int = 20_000) -> None:
    """Let the loop turn (no sleep: each round is one loop iteration) until ``condition`` holds."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"timed out waiting for {what}")


def _inside_a_frame(data: bytes, offset: int) -> bool:
    """Return True if ``offset`` falls inside a frame of ``data`` (not between two)."""
    pos = 0
    while pos < offset:
        pos += 4 + int.from_bytes(data[pos : pos + 4], "big")
    return pos != offset


async def _answers(sock: socket.socket, splitter: FrameSplitter, count: int) -> list[Any]:
    loop = asyncio.get_running_loop()
    got: list[Any] = []
    while len(got) < count:
        data = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), 10)
        assert data, f"closed after {got[-3:]}"
        got.extend(gateway_message_decoder.decode(frame) for frame in splitter.feed(data))
    return got


async def test_socket_mass_cancel_flood_then_other_strategy_served_behind_one_walk_not_the_whole_read(
    sock_dir: Path,
) -> None:
    rig, server, path = await _socket_gateway(sock_dir)
    flooder, flood_frames, _ = await _connect(path, "S1")
    other, _, _ = await _connect(path, "S2")
    resting = MASS_CANCEL_TURN_WORK + 10
    link = rig.engine.strategies["S1"].link
    assert link is not None
    orders = [
        encode_frame(NewOrder(f"r{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=n + 1))
        for n in range(resting)
    ]
    flooder.sendall(b"".join(orders))
    await _spin(lambda: len(rig.venue.commands) == resting, "the resting orders")
    await _answers(flooder, flood_frames, 0)
    fake = MemoryLink(rig.clock)
    fake.req_seq = resting
    flood = _mass_cancels(fake, 100, symbol="AAPL")
    flooder.sendall(flood)  # one write, one read of the gateway's
    other.sendall(encode_frame(NewOrder("o1", "ACC2", "V1", "MSFT", Side.BUY, 200, 1_000_000, req_seq=1)))
    await _spin(lambda: any(c[0] == "new" and c[2] == 200 for c in rig.venue.commands), "the other's order")
    acks_before = rig.engine.strategies["S1"].last_req_seq - resting
    assert acks_before < 100  # served behind the first MassCancel's walk, not behind the 100 of them
    got = await _answers(flooder, flood_frames, 100)
    assert [m for m in got if isinstance(m, MassCancelAck)] == [MassCancelAck(f"M{n}", resting) for n in range(100)]
    assert sorted(_cancels(rig)) == sorted(c[1] for c in rig.venue.commands if c[0] == "new" and c[2] == 100)
    assert not rig.engine._kept_reads
    flooder.close()
    other.close()
    server.close()


async def test_socket_turn_of_mass_cancels_outlasting_frame_deadline_then_no_frame_timeout(sock_dir: Path) -> None:
    """rev56strat F2: a frame the gateway's 16 KiB turn cut, judged after the turn's own long processing."""
    rig, server, path = await _socket_gateway(sock_dir)
    engine = rig.engine
    flooder, flood_frames, _ = await _connect(path, "S1")
    resting = 50
    flooder.sendall(
        b"".join(
            encode_frame(NewOrder(f"r{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=n + 1))
            for n in range(resting)
        )
    )
    await _spin(lambda: len(rig.venue.commands) == resting, "the resting orders")
    real = rig.venue.send_cancel

    def slow_cancel(order: Any) -> Any:  # the gateway's own work: 50 ms of its clock per Cancel, 2.5 s in all
        rig.clock.advance_ms(50)
        return real(order)

    rig.venue.send_cancel = slow_cancel  # type: ignore[method-assign]
    fake = MemoryLink(rig.clock)
    fake.req_seq = resting
    count = 1500  # about 25 KB: two turns of the read
    flood = _mass_cancels(fake, count)
    assert len(flood) > READ_TURN_BYTES and _inside_a_frame(flood, READ_TURN_BYTES)  # the first turn cuts a frame
    flooder.sendall(flood)
    link = engine.strategies["S1"].link
    assert link is not None
    for _ in range(20_000):  # the gateway's deadline check between every two loop turns
        engine.poll(rig.clock())
        if engine.strategies["S1"].last_req_seq == resting + count or link.session.is_closed():
            break
        await asyncio.sleep(0)
    got = await _answers(flooder, flood_frames, count)
    errors = [m for m in got if isinstance(m, Error)]
    assert not errors, errors[0]
    assert [m.request_id for m in got if isinstance(m, MassCancelAck)] == [f"M{n}" for n in range(count)]
    assert not link.session.is_closed()
    rig.venue.send_cancel = real  # type: ignore[method-assign]
    half = encode_frame(NewOrder("slow", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=resting + count + 1))
    flooder.sendall(half[:10])  # a strategy that is slow itself: still judged
    await _spin(lambda: link.session._splitter.buffered == 10, "the half frame")
    rig.clock.advance_ms(1100)
    engine.poll(rig.clock())
    assert link.session.is_closed() and "FRAME_TIMEOUT" in link.session.close_reason
    flooder.close()
    server.close()
