"""What waits for a walk of many Cancels is made to wait, the walk still a slice per loop turn (mass59).

rev59strat MEDIUM 1: a strategy reconnecting while its disconnect policy's Cancels were walked had the rest sent at
its Hello in one loop turn (another strategy stalled 54-116 ms for 36,000-72,000 orders): now its Welcome waits for
the walk's last slice, the bytes behind the Hello held meanwhile (strategy-protocol 4.4: the rest is sent before the
Welcome). rev59strat MEDIUM 2: a MassCancel over many orders was walked in one turn when a fatal Error waited for the
end of its read (the error budget used up, an oversized length behind it) or when it was read from the bytes held
behind a Hello (its Welcome waited for a replay): now sliced there too, the fatal Error after the walk's Ack and the
requests between them, the bytes held behind the chunk read after it. rev59diff MEDIUM: an order of the policy's walk
that ended before its slice is passed over (no "stays open" WARNING for a filled order; walk59 fixed it, kept here).
Counted, not timed: the Cancels sent per loop turn, the answers' order, another strategy served in between.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.engine import MASS_CANCEL_WALK_SLICE
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    Error,
    Hello,
    MassCancel,
    MassCancelAck,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    Welcome,
)
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from tests.harness import MemoryLink, Rig, self_numbered_link
from tests.test_mass_cancel_walk import RESTING, _cancels, _rest, _turns

pytestmark = pytest.mark.timeout(120)


def _rig(s1_policy: str = "cancel") -> tuple[Rig, MemoryLink, MemoryLink, list[int], list[Callable[[], None]]]:
    rig = Rig(
        strategies={
            "S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000], on_disconnect=s1_policy),  # type: ignore[arg-type]
            "S2": StrategyEntitlement(accounts=["ACC2"], uids=[1000]),
        }
    )
    s1 = self_numbered_link(rig, "S1")
    s2 = self_numbered_link(rig, "S2")
    ids = _rest(rig, s1, RESTING)
    s1.defers_reads = True
    return rig, s1, s2, ids, _turns(rig)


def _other_served(rig: Rig, s2: MemoryLink, n: int) -> None:
    """Another strategy's NewOrder between two loop turns: carried out at once."""
    s2.req_seq += 1
    rig.engine.link_data(
        s2,
        encode_frame(NewOrder(f"o{n}", "ACC2", "V1", "MSFT", Side.BUY, 200, 1_000_000, req_seq=s2.req_seq)),
        rig.clock(),
    )
    assert rig.venue.commands[-1][0] == "new" and rig.venue.commands[-1][2] == 200


def _turn(rig: Rig, turns: list[Callable[[], None]], *links: MemoryLink) -> None:
    """One loop turn: the next scheduled callback, then the kept reads of ``links`` (``read_rest_soon``)."""
    if turns:
        turns.pop(0)()
    for link in links:
        if link.rest_kept:
            rig.engine.link_rest(link)


def _hello_with(rig: Rig, strategy_id: str, last_seq: int, behind: bytes = b"") -> MemoryLink:
    link = MemoryLink(rig.clock, uid=1000)
    link.number_requests = False
    link.defers_reads = True
    rig.engine.link_opened(link)
    rig.engine.link_data(link, encode_frame(Hello(strategy_id, 3, last_seq)) + behind, rig.clock())
    return link


# ---- rev59strat MEDIUM 1: a reconnect during the disconnect policy's walk -------------------------------------------


def test_reconnect_during_policy_walk_then_welcome_after_its_last_slice_and_a_slice_per_turn_meanwhile(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig, s1, s2, ids, turns = _rig()
    s1.closed = True
    rig.engine.link_closed(s1)  # policy cancel: the first slice now
    assert len(_cancels(rig)) == MASS_CANCEL_WALK_SLICE
    last_req_seq = rig.engine.strategies["S1"].last_req_seq
    with caplog.at_level(logging.INFO, logger="gateway.engine"):
        again = _hello_with(rig, "S1", rig.engine.strategies["S1"].next_seq - 1)
    assert "strategy S1: Hello on a new connection while its disconnect policy's Cancels are sent" in caplog.text
    assert len(_cancels(rig)) == MASS_CANCEL_WALK_SLICE  # merge59: all 1,546 at the Hello, in this one call
    assert again.received() == []  # the Welcome waits for the walk
    slices = [MASS_CANCEL_WALK_SLICE]
    while turns:
        _other_served(rig, s2, len(slices))
        assert again.received() == []
        _turn(rig, turns, again)
        slices.append(len(_cancels(rig)) - sum(slices))
    assert slices == [MASS_CANCEL_WALK_SLICE] * 3 + [10]
    assert _cancels(rig) == ids  # each once, in the order sent, all before the Welcome
    got = again.received()
    assert type(got[0]) is Welcome and got[0].last_req_seq == last_req_seq
    assert again.session.last_req_seq == last_req_seq


def test_order_behind_the_hello_during_policy_walk_then_carried_out_after_welcome_and_never_canceled() -> None:
    rig, s1, _, ids, turns = _rig()
    s1.closed = True
    rig.engine.link_closed(s1)
    st = rig.engine.strategies["S1"]
    req_seq = st.last_req_seq + 1
    behind = encode_frame(NewOrder("after", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=req_seq))
    again = _hello_with(rig, "S1", st.next_seq - 1, behind)
    assert rig.engine.welcome_pending(again) and rig.engine.held_input(again) == len(behind)
    while turns or again.rest_kept:
        assert "after" not in st.orders  # held: not carried out before the Welcome
        _turn(rig, turns, again)
    after = rig.order("S1", "after")
    assert after.state is OrderState.PENDING_NEW and after.order_id not in _cancels(rig)
    assert _cancels(rig) == ids
    got = again.received()
    assert type(got[0]) is Welcome and not rig.engine.welcome_pending(again)
    assert st.last_req_seq == req_seq


def test_reconnect_closes_while_its_welcome_waits_then_each_cancel_once_and_next_hello_welcomed() -> None:
    rig, s1, _, ids, turns = _rig()
    s1.closed = True
    rig.engine.link_closed(s1)
    again = _hello_with(rig, "S1", rig.engine.strategies["S1"].next_seq - 1)
    _turn(rig, turns, again)
    again.closed = True
    rig.engine.link_closed(again)  # gone before its Welcome: the policy applies again (its Cancels not twice)
    third = _hello_with(rig, "S1", rig.engine.strategies["S1"].next_seq - 1)
    assert third.received() == []
    while turns:
        _turn(rig, turns, third)
    assert sorted(_cancels(rig)) == ids and len(_cancels(rig)) == len(set(_cancels(rig)))
    assert again.received() == []  # the closed one never welcomed
    assert type(third.received()[0]) is Welcome


# ---- rev59strat MEDIUM 2: a MassCancel whose read ends with a fatal Error ---------------------------------------


def _bad_tail(s1: MemoryLink, kind: str) -> tuple[bytes, bytes, str]:
    """Return (frames before the MassCancel, frames after its NewOrder, the fatal Error's code)."""
    if kind == "too_large":
        return b"", (70_000).to_bytes(4, "big"), "FRAME_TOO_LARGE"
    unknown = encode_frame(msgspec.msgpack.encode([99, "x"]))  # an unknown tag: a non-fatal Error each
    return unknown * (s1.session.max_errors + 1), b"", "TOO_MANY_ERRORS"


@pytest.mark.parametrize("kind", ["too_large", "error_budget"])
def test_mass_cancel_in_a_read_ending_fatally_then_walked_a_slice_per_turn_and_the_fatal_error_last(kind: str) -> None:
    rig, s1, s2, ids, turns = _rig()
    before, after, code = _bad_tail(s1, kind)
    s1.req_seq += 1
    data = before + encode_frame(MassCancel(request_id="M1", req_seq=s1.req_seq))
    s1.req_seq += 1
    data += encode_frame(NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=s1.req_seq)) + after
    rig.engine.link_data(s1, data, rig.clock())
    assert len(_cancels(rig)) == MASS_CANCEL_WALK_SLICE  # merge59: all 1,546 in this one call
    assert not s1.session.is_closed()  # the fatal Error waits for the walk and the request behind it
    rig.engine.poll(rig.clock())  # (the session's safety net does not close it meanwhile)
    assert not s1.session.is_closed()
    n = 0
    while turns or s1.rest_kept:
        n += 1
        _other_served(rig, s2, n)
        _turn(rig, turns, s1)
    assert _cancels(rig) == ids
    got = [m for m in s1.received() if not (type(m) is Error and not m.fatal)]
    assert got[0] == MassCancelAck("M1", RESTING)
    if kind == "too_large":  # carried out as usual, after the Ack
        assert type(got[1]) is OrderAccepted or rig.order("S1", "late").state is OrderState.PENDING_NEW
    else:  # refused TOO_MANY_ERRORS, after the Ack
        assert type(got[1]) is OrderRejected and got[1].code == "TOO_MANY_ERRORS"
    assert type(got[-1]) is Error and got[-1].code == code and got[-1].fatal
    assert s1.session.is_closed()


# ---- rev59strat MEDIUM 2: a MassCancel held behind a Hello whose Welcome waited for its replay -----------------------


def test_mass_cancel_held_behind_hello_then_walked_a_slice_per_turn_and_held_bytes_after_it_in_order() -> None:
    rig, s1, s2, ids, turns = _rig("keep")
    s1.closed = True
    rig.engine.link_closed(s1)  # policy keep: nothing canceled
    st = rig.engine.strategies["S1"]
    assert _cancels(rig) == []
    req_seq = st.last_req_seq
    behind = encode_frame(MassCancel(request_id="M1", req_seq=req_seq + 1))
    behind += encode_frame(NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=req_seq + 2))
    filler = b"".join(  # held bytes after the first chunk (16 KiB): read once the walk and the chunk's rest are out
        encode_frame(NewOrder(f"x{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=req_seq + 3 + n))
        for n in range(400)
    )
    again = _hello_with(rig, "S1", 0, behind + filler)  # last_seq 0: a long replay, its Welcome's bytes held
    most = 0
    turns_seen = 0
    while turns or again.rest_kept:
        before = len(_cancels(rig))
        turns_seen += 1
        _other_served(rig, s2, turns_seen)
        _turn(rig, turns, again)
        most = max(most, len(_cancels(rig)) - before)
        if "late" in st.orders:
            assert len(_cancels(rig)) == RESTING  # after the walk's last Cancel
    assert most == MASS_CANCEL_WALK_SLICE  # merge59: all 1,546 in one turn
    assert _cancels(rig) == ids
    got = again.received()
    assert type(got[0]) is Welcome and [m for m in got if type(m) in (MassCancelAck, Error)] == [
        MassCancelAck("M1", RESTING)
    ]
    assert rig.order("S1", "late").order_id not in _cancels(rig)
    assert all(f"x{n}" in st.orders for n in range(400))  # the held bytes after the chunk: read, in order
    order_ids = [st.orders[c].order_id for c in ["late", *(f"x{n}" for n in range(400))]]
    assert order_ids == sorted(order_ids)
    assert st.last_req_seq == req_seq + 402


# ---- rev59diff MEDIUM: an order of the policy's walk that ended before its slice --------------------------------


def test_policy_walk_order_filled_before_its_slice_then_venue_ended_then_no_stays_open_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig, s1, _, ids, turns = _rig()
    s1.closed = True
    rig.engine.link_closed(s1)
    last = ids[-1]
    rig.venue.fill(last, 100, 1_000_000)  # filled before its slice
    rig.venue.set_state(VenueState.ENDED)
    caplog.set_level(logging.WARNING)
    while turns:
        turns.pop(0)()
    assert rig.engine.orders[last].state is OrderState.FILLED
    lines = [r.getMessage() for r in caplog.records]
    wrong = [line for line in lines if f"order {last} " in line and "stays open" in line]
    assert not wrong  # main d38bb764: "...was refused (VENUE_SESSION_ENDED...): the order stays open"


# ---- real Unix sockets, the loop's scheduler -------------------------------------------------------------


async def _resting(sock_dir: Path) -> tuple[Rig, asyncio.AbstractServer, str, socket.socket, FrameSplitter]:
    from gateway.app import _loop_scheduler
    from tests.test_mass_cancel_floods import _connect, _socket_gateway, _spin

    rig, server, path = await _socket_gateway(sock_dir)
    rig.engine.replay_scheduler = _loop_scheduler(asyncio.get_running_loop())
    s1, frames, _ = await _connect(path, "S1")
    s1.sendall(
        b"".join(
            encode_frame(NewOrder(f"r{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=n + 1))
            for n in range(RESTING)
        )
    )
    await _spin(lambda: len(rig.venue.commands) == RESTING, "the resting orders")
    return rig, server, path, s1, frames


async def _until_end(sock: socket.socket, splitter: FrameSplitter) -> list[Any]:
    loop = asyncio.get_running_loop()
    got: list[Any] = []
    while True:
        data = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), 10)
        if not data:
            return got
        got.extend(gateway_message_decoder.decode(frame) for frame in splitter.feed(data))


async def test_socket_mass_cancel_then_oversized_length_then_other_strategy_served_and_fatal_error_last(
    sock_dir: Path,
) -> None:
    from tests.test_mass_cancel_floods import _connect, _spin

    rig, server, path, s1, frames = await _resting(sock_dir)
    s2, _, _ = await _connect(path, "S2")
    late = NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 300, 1_000_000, req_seq=RESTING + 2)
    s1.sendall(
        encode_frame(MassCancel(request_id="M1", req_seq=RESTING + 1))
        + encode_frame(late)
        + (70_000).to_bytes(4, "big")
    )
    await _spin(lambda: len(_cancels(rig)) > 0, "the first slice")
    s2.sendall(encode_frame(NewOrder("o1", "ACC2", "V1", "MSFT", Side.BUY, 200, 1_000_000, req_seq=1)))
    await _spin(lambda: any(c[0] == "new" and c[2] == 200 for c in rig.venue.commands), "the other's order")
    assert len(_cancels(rig)) < RESTING  # served while the walk was under way (merge59: after all 1,546)
    got = [m for m in await _until_end(s1, frames) if type(m) is not OrderAccepted]
    assert got[0] == MassCancelAck("M1", RESTING)
    assert type(got[-1]) is Error and got[-1].code == "FRAME_TOO_LARGE" and got[-1].fatal
    commands = [c[0] if c[0] == "cancel" else c[2] for c in rig.venue.commands[RESTING:]]
    assert commands[: commands.index(300)].count("cancel") == RESTING  # the NewOrder behind it: after every Cancel
    s1.close()
    s2.close()
    server.close()


async def test_socket_reconnect_with_order_behind_hello_during_policy_walk_then_welcome_after_the_last_cancel(
    sock_dir: Path,
) -> None:
    from tests.test_mass_cancel_floods import _connect, _spin

    rig, server, path, s1, _ = await _resting(sock_dir)
    s2, _, _ = await _connect(path, "S2")
    st = rig.engine.strategies["S1"]
    turns = _turns(rig)  # the walk's later slices wait for the test: the Hello surely comes in the middle of it
    s1.close()  # policy cancel: walked a slice per loop turn
    await _spin(lambda: st.link is None and len(_cancels(rig)) > 0, "the policy's walk")
    loop = asyncio.get_running_loop()
    again = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    again.setblocking(False)
    await loop.sock_connect(again, path)
    after = NewOrder("after", "ACC1", "V1", "AAPL", Side.BUY, 300, 1_000_000, req_seq=RESTING + 1)
    await loop.sock_sendall(again, encode_frame(Hello("S1", 3, st.next_seq - 1)) + encode_frame(after))
    await _spin(lambda: st.link is not None, "the Hello taken")
    assert len(_cancels(rig)) < RESTING  # merge59: the rest at the Hello, in one turn
    s2.sendall(encode_frame(NewOrder("o1", "ACC2", "V1", "MSFT", Side.BUY, 200, 1_000_000, req_seq=1)))
    await _spin(lambda: any(c[0] == "new" and c[2] == 200 for c in rig.venue.commands), "the other's order")
    assert len(_cancels(rig)) < RESTING  # served in the middle of the walk
    splitter = FrameSplitter()
    got: list[Any] = []
    while not got:
        while turns:  # the walk's slices, then the bytes held behind the Hello, a loop turn each
            turns.pop(0)()
        got = [
            gateway_message_decoder.decode(f)
            for f in splitter.feed(await asyncio.wait_for(loop.sock_recv(again, 65536), 10))
        ]
    assert type(got[0]) is Welcome and got[0].last_req_seq == RESTING
    assert len(_cancels(rig)) == RESTING  # every Cancel out before the Welcome
    for _ in range(1000):
        while turns:
            turns.pop(0)()
        if "after" in st.orders:
            break
        await asyncio.sleep(0)
    commands = [c[0] if c[0] == "cancel" else c[2] for c in rig.venue.commands[RESTING:]]
    assert commands[-1] == 300 and rig.order("S1", "after").order_id not in _cancels(rig)
    again.close()
    s2.close()
    server.close()
