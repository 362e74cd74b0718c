"""One MassCancel over many orders is walked a slice per loop turn, not all in one (mass58).

rev58strat MEDIUM 1: a MassCancel over 36,000 open orders walked them and sent every Cancel in one call; another
strategy waited 56-132 ms (compiled) until its ``MassCancelAck`` went out. A MassCancel matching more than
``MASS_CANCEL_WALK_SLICE`` orders now acts on that many per loop turn (``Engine._walk_on``): the orders it matched
when read, in the order sent; its connection's later requests wait for its end; its answer is sent and journaled after
the last slice. Counted, not timed: the Cancels sent per turn, the other strategy served in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.engine import MASS_CANCEL_WALK_SLICE
from gateway.journal import JournalScan
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import Heartbeat, MassCancel, MassCancelAck, NewOrder, Welcome
from gateway.recovery import recover
from model.enums import Side
from model.order import OrderState
from tests.harness import MemoryLink, Rig, journal_of_kind, self_numbered_link

pytestmark = pytest.mark.timeout(120)

RESTING = 3 * MASS_CANCEL_WALK_SLICE + 10  # four slices


def _turns(rig: Rig) -> list[Callable[[], None]]:
    """Have the engine's later loop turns (``replay_scheduler``) queue up in a list the test runs one at a time."""
    queued: list[Callable[[], None]] = []
    rig.engine.replay_scheduler = lambda callback, delay: queued.append(callback)
    return queued


def _rest(rig: Rig, link: MemoryLink, count: int, prefix: str = "r") -> list[int]:
    """Place ``count`` orders of ``link``'s (ACC1, V1, AAPL) in one read and have the venue accept them."""
    frames = []
    for n in range(count):
        link.req_seq += 1
        frames.append(
            encode_frame(NewOrder(f"{prefix}{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=link.req_seq))
        )
    rig.engine.link_data(link, b"".join(frames), rig.clock())
    ids = [rig.order("S1", f"{prefix}{n}").order_id for n in range(count)]
    for order_id in ids:
        rig.venue.accept(order_id, 1_000_000)
    rig.engine.flush()
    link.received()
    return ids


def _cancels(rig: Rig) -> list[int]:
    return [c[1] for c in rig.venue.commands if c[0] == "cancel"]


def _mass_cancel(link: MemoryLink, request_id: str = "M1") -> bytes:
    link.req_seq += 1
    return encode_frame(MassCancel(request_id=request_id, req_seq=link.req_seq))


def _setup(tmp_path: Path | None = None) -> tuple[Rig, MemoryLink, MemoryLink, list[int], list[Callable[[], None]]]:
    rig = Rig(journal=journal_of_kind("file", tmp_path / "j") if tmp_path is not None else None)
    s1 = self_numbered_link(rig, "S1")
    s2 = self_numbered_link(rig, "S2")
    ids = _rest(rig, s1, RESTING)
    s1.defers_reads = True
    return rig, s1, s2, ids, _turns(rig)


def test_mass_cancel_over_many_orders_then_a_slice_per_turn_other_strategy_between_and_ack_after_last() -> None:
    rig, s1, s2, ids, turns = _setup()
    rig.engine.link_data(s1, _mass_cancel(s1), rig.clock())
    assert len(_cancels(rig)) == MASS_CANCEL_WALK_SLICE  # before: all 1,546 in this one call
    assert s1.received() == [] and s1.rest_kept  # no answer yet; its connection not read meanwhile
    slices = [len(_cancels(rig))]
    while turns:
        s2.req_seq += 1  # another strategy's request between two slices: carried out at once
        rig.engine.link_data(
            s2,
            encode_frame(
                NewOrder(f"o{len(slices)}", "ACC2", "V1", "MSFT", Side.BUY, 200, 1_000_000, req_seq=s2.req_seq)
            ),
            rig.clock(),
        )
        assert rig.venue.commands[-1][0] == "new" and rig.venue.commands[-1][2] == 200
        assert s1.received() == []  # the answer only after the last Cancel
        turns.pop(0)()
        slices.append(len(_cancels(rig)) - sum(slices))
    assert slices == [MASS_CANCEL_WALK_SLICE] * 3 + [10]
    assert _cancels(rig) == ids  # each once, in the order sent
    assert s1.received() == [MassCancelAck("M1", RESTING)]
    assert rig.engine.strategies["S1"].last_req_seq == s1.req_seq


def test_requests_behind_walk_then_carried_out_after_its_answer_and_new_order_not_canceled() -> None:
    rig, s1, _, ids, turns = _setup()
    data = _mass_cancel(s1)
    s1.req_seq += 1
    data += encode_frame(NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=s1.req_seq))
    rig.engine.link_data(s1, data, rig.clock())
    assert "late" not in rig.engine.strategies["S1"].orders  # held behind the walk
    while turns:
        turns.pop(0)()
        assert "late" not in rig.engine.strategies["S1"].orders
    assert s1.received() == [MassCancelAck("M1", RESTING)]
    while s1.rest_kept:  # the link's kept read, taken once the walk ended
        rig.engine.link_rest(s1)
    late = rig.order("S1", "late")
    assert late.state is OrderState.PENDING_NEW and late.order_id not in _cancels(rig)  # M1's snapshot: not its
    assert _cancels(rig) == ids
    rig.engine.link_data(s1, _mass_cancel(s1, "M2"), rig.clock())
    assert s1.received() == [MassCancelAck("M2", RESTING + 1)]  # M2 sees it: its Cancel now sent
    assert _cancels(rig) == [*ids, late.order_id]
    assert rig.engine.strategies["S1"].last_req_seq == s1.req_seq


def test_order_ended_during_walk_then_passed_over_and_still_counted() -> None:
    rig, s1, _, ids, turns = _setup()
    rig.engine.link_data(s1, _mass_cancel(s1), rig.clock())
    rig.venue.fill(ids[-1], 100, 1_000_000)  # not yet walked: it ends with its own event
    rig.engine.flush()
    while turns:
        turns.pop(0)()
    assert _cancels(rig) == ids[:-1]
    got = s1.received()
    assert got[-1] == MassCancelAck("M1", RESTING)  # counted when read; its fill came first


def test_duplicate_of_walking_mass_cancel_in_same_read_then_answered_once_after_it() -> None:
    rig, s1, _, ids, turns = _setup()
    first = _mass_cancel(s1)
    rig.engine.link_data(s1, first + first, rig.clock())  # re-sent at once: a duplicate while it walks
    while turns:
        turns.pop(0)()
    assert s1.received() == [MassCancelAck("M1", RESTING)]
    while s1.rest_kept:
        rig.engine.link_rest(s1)
    assert s1.received() == [MassCancelAck("M1", RESTING)]  # the duplicate's one answer: the same, again
    assert _cancels(rig) == ids  # not carried out again


def test_reconnect_during_walk_then_rest_walked_and_resent_duplicate_answered_once() -> None:
    rig, s1, _, ids, turns = _setup()
    rig.engine.link_data(s1, _mass_cancel(s1), rig.clock())
    s1.closed = True
    rig.engine.link_closed(s1)
    again = rig.connect("S1", last_seq=rig.engine.strategies["S1"].next_seq - 1)  # no replay
    assert sorted(set(_cancels(rig))) == ids  # walked to its end at the Hello
    assert again.received() == []  # its Welcome waits for the disconnect policy's walk (walk59), a slice per turn
    while turns:  # (mass59)
        turns.pop(0)()
    welcome = again.received()[0]
    assert welcome.last_req_seq == s1.req_seq  # type: ignore[union-attr]  # the MassCancel counted as processed
    assert s1.received() == []  # the old connection gets nothing
    rig.engine.link_data(again, encode_frame(MassCancel(request_id="M1", req_seq=s1.req_seq)), rig.clock())
    assert again.received() == [MassCancelAck("M1", RESTING)]
    assert sorted(_cancels(rig)) == sorted(set(_cancels(rig)))  # each order's Cancel sent once


def test_crash_between_slices_then_restart_mass_cancel_unprocessed_and_resent_cancels_the_rest(tmp_path: Path) -> None:
    rig, s1, _, ids, turns = _setup(tmp_path)
    rig.engine.link_data(s1, _mass_cancel(s1), rig.clock())
    turns.pop(0)()  # two slices journaled and sent, then the process dies
    sent = _cancels(rig)
    assert len(sent) == 2 * MASS_CANCEL_WALK_SLICE and s1.received() == []
    rig.engine.journal.close()
    journal = journal_of_kind("file", tmp_path / "j")
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    fresh = Rig(journal=journal)
    fresh.engine.adopt(recovered)
    st = fresh.engine.strategies["S1"]
    assert st.last_req_seq == s1.req_seq - 1  # its answer never journaled: not processed
    assert all(st.open_orders[i].state is OrderState.PENDING_CANCEL for i in sent)
    link = self_numbered_link(fresh, "S1")
    fresh.engine.link_data(link, encode_frame(MassCancel(request_id="M1", req_seq=s1.req_seq)), fresh.clock())
    assert link.received() == [MassCancelAck("M1", RESTING)]  # the same count: every order still open
    assert [c[1] for c in fresh.venue.commands if c[0] == "cancel"] == ids[2 * MASS_CANCEL_WALK_SLICE :]


def test_link_that_cannot_defer_then_walk_and_requests_behind_in_one_turn_in_order() -> None:
    rig, s1, _, ids, turns = _setup()
    s1.defers_reads = False
    data = _mass_cancel(s1)
    s1.req_seq += 1
    data += encode_frame(NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=s1.req_seq))
    rig.engine.link_data(s1, data, rig.clock())
    assert _cancels(rig) == ids and s1.received() == [MassCancelAck("M1", RESTING)]
    assert rig.order("S1", "late").state is OrderState.PENDING_NEW
    for callback in turns:
        callback()
    assert _cancels(rig) == ids and s1.received() == []


def test_disconnect_policy_over_many_orders_then_a_slice_per_turn_and_reconnect_welcomed_after_the_rest() -> None:
    rig, s1, s2, ids, turns = _setup()
    s1.closed = True
    rig.engine.link_closed(s1)  # policy "cancel": the gateway's own Cancels of its open orders
    assert len(_cancels(rig)) == MASS_CANCEL_WALK_SLICE  # before: all 1,546 in this one call
    s2.req_seq += 1
    rig.engine.link_data(
        s2,
        encode_frame(NewOrder("o1", "ACC2", "V1", "MSFT", Side.BUY, 200, 1_000_000, req_seq=s2.req_seq)),
        rig.clock(),
    )
    assert rig.venue.commands[-1][0] == "new"  # served between two slices
    turns.pop(0)()
    assert len(_cancels(rig)) == 2 * MASS_CANCEL_WALK_SLICE
    again = rig.connect("S1", last_seq=rig.engine.strategies["S1"].next_seq - 1)
    assert len(_cancels(rig)) == 2 * MASS_CANCEL_WALK_SLICE and again.received() == []  # its Welcome waits (mass59)
    while turns:  # the rest a slice per turn, then the Welcome
        turns.pop(0)()
    assert _cancels(rig) == ids and type(again.received()[0]) is Welcome
    again.req_seq = again.session.last_req_seq
    rig.new_order(again, "after")
    after = rig.order("S1", "after")
    assert after.state is OrderState.PENDING_NEW and _cancels(rig) == ids


@pytest.mark.parametrize("closed_first", [True, False])
def test_stop_with_disconnect_policy_over_many_orders_then_every_order_canceled_in_it(closed_first: bool) -> None:
    rig, s1, _, ids, _ = _setup()
    if closed_first:  # its walk under way when the stop comes
        s1.closed = True
        rig.engine.link_closed(s1)
    rig.engine.disconnect_for_stop()
    assert _cancels(rig) == ids


# ---- the strategy's deadlines while its link is not read (rev58merge4 1 and 2; mass58b) ----------------------


def _answers_of(link: MemoryLink) -> list[object]:
    return [m for m in link.received() if not isinstance(m, Heartbeat)]


def test_heartbeat_deadline_passes_during_walk_then_not_cut_off_and_counted_again_from_its_end() -> None:
    # rev58merge4 1: heartbeats every 80 ms (heartbeat_ms 100) waited unread in the socket behind the walk, and the
    # old walk cut the strategy off HEARTBEAT_TIMEOUT ~13,000 Canceled in, its Ack lost (docs 4.3: the gateway's own
    # stalls do not count against the strategy)
    rig, s1, _, ids, turns = _setup()
    session = s1.session
    session.heartbeat_ns = 100_000_000  # cut off after 300 ms of silence
    rig.engine.link_data(s1, _mass_cancel(s1), rig.clock())
    while turns:  # 200 ms between two slices: 800 ms in all
        rig.clock.advance_ms(200)
        rig.engine.poll(rig.clock())
        assert not session.is_closed(), session.close_reason
        turns.pop(0)()
    assert _answers_of(s1) == [MassCancelAck("M1", RESTING)]
    assert _cancels(rig) == ids
    assert not session.input_paused
    rig.clock.advance_ms(300)  # from the walk's end: the link is read again (its heartbeats)
    rig.engine.poll(rig.clock())
    assert not session.is_closed(), session.close_reason
    rig.clock.advance_ms(1)  # still judged: silent 300 ms after the walk's end
    rig.engine.poll(rig.clock())
    assert session.close_reason.startswith("HEARTBEAT_TIMEOUT")


def test_frame_split_across_walk_then_its_deadline_counts_from_the_walks_end_and_it_is_carried_out() -> None:
    # rev58merge4 2: a frame begun in the MassCancel's read, completed 20 ms later, was cut FRAME_TIMEOUT because the
    # walk kept the socket unread for more than frame_timeout_ms (docs 4.3: the gateway's time is not the strategy's)
    rig, s1, _, ids, turns = _setup()
    session = s1.session
    session.heartbeat_ns = 60_000_000_000
    session.frame_timeout_ns = 1_000_000_000
    mass = _mass_cancel(s1)
    s1.req_seq += 1
    late = encode_frame(NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=s1.req_seq))
    rig.engine.link_data(s1, mass + late[:10], rig.clock())
    while turns:  # 400 ms between two slices: 1.6 s in all
        rig.clock.advance_ms(400)
        rig.engine.poll(rig.clock())
        assert not session.is_closed(), session.close_reason
        turns.pop(0)()
    assert _answers_of(s1) == [MassCancelAck("M1", RESTING)]
    while s1.rest_kept:  # the link's kept read, taken once the walk ended; then read again
        rig.engine.link_rest(s1)
    rig.clock.advance_ms(20)
    rig.engine.link_data(s1, late[10:], rig.clock())
    assert not session.is_closed(), session.close_reason
    assert rig.order("S1", "late").state is OrderState.PENDING_NEW
    assert _cancels(rig) == ids


def test_walk_ends_while_back_pressure_holds_then_input_still_paused_until_its_resume() -> None:
    rig, s1, _, _, turns = _setup()
    session = s1.session
    session.heartbeat_ns = 100_000_000
    rig.engine.link_data(s1, _mass_cancel(s1), rig.clock())
    session.pause_input(True, rig.clock())  # its answers pile up unread (the transport's pause_writing)
    while turns:
        turns.pop(0)()
    assert not rig.engine._walks and session.input_paused
    rig.clock.advance_ms(5_000)
    rig.engine.poll(rig.clock())
    assert not session.is_closed(), session.close_reason
    session.pause_input(False, rig.clock())  # resume_writing
    assert not session.input_paused


# ---- real Unix sockets, the loop's scheduler -------------------------------------------------------------


async def test_socket_mass_cancel_walk_then_other_strategy_served_during_it_and_request_behind_after_ack(
    sock_dir: Path,
) -> None:
    from gateway.app import _loop_scheduler
    from tests.test_mass_cancel_floods import _answers, _connect, _socket_gateway, _spin

    rig, server, path = await _socket_gateway(sock_dir)
    rig.engine.replay_scheduler = _loop_scheduler(asyncio.get_running_loop())
    s1, s1_frames, _ = await _connect(path, "S1")
    s2, _, _ = await _connect(path, "S2")
    s1.sendall(
        b"".join(
            encode_frame(NewOrder(f"r{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=n + 1))
            for n in range(RESTING)
        )
    )
    await _spin(lambda: len(rig.venue.commands) == RESTING, "the resting orders")
    late = NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 300, 1_000_000, req_seq=RESTING + 2)
    s1.sendall(encode_frame(MassCancel(request_id="M1", req_seq=RESTING + 1)) + encode_frame(late))
    await _spin(lambda: len(_cancels(rig)) > 0, "the first slice")
    s2.sendall(encode_frame(NewOrder("o1", "ACC2", "V1", "MSFT", Side.BUY, 200, 1_000_000, req_seq=1)))
    await _spin(lambda: any(c[0] == "new" and c[2] == 200 for c in rig.venue.commands), "the other's order")
    assert len(_cancels(rig)) < RESTING  # served while the walk was under way
    got = await _answers(s1, s1_frames, 1)
    assert got == [MassCancelAck("M1", RESTING)]
    await _spin(lambda: "late" in rig.engine.strategies["S1"].orders, "the request behind it")
    commands = [c[0] if c[0] == "cancel" else c[2] for c in rig.venue.commands[RESTING:]]
    assert commands.index(200) < commands.index(300)  # the other's NewOrder before the one behind the walk
    assert commands.count("cancel") == RESTING and commands[-1] == 300  # its own: after every Cancel, not canceled
    assert not rig.engine._walks and not rig.engine._kept_reads
    s1.close()
    s2.close()
    server.close()


async def test_socket_stop_during_walk_then_ack_delivered_before_a_clean_end_of_file(sock_dir: Path) -> None:
    # rev58merge4 3: the stop walked the rest and queued the Ack, then closed the connection before the flush that
    # would have written it: the strategy got no Ack, then ECONNRESET from the bytes it had sent that were left
    # unread (reliability.md 2.1: "a stop finishes the walk first (journaled and answered)")
    from gateway.app import _loop_scheduler
    from gateway.server import unread_bytes
    from tests.test_mass_cancel_floods import _answers, _connect, _socket_gateway, _spin

    rig, server, path = await _socket_gateway(sock_dir)
    rig.engine.replay_scheduler = _loop_scheduler(asyncio.get_running_loop())
    s1, s1_frames, _ = await _connect(path, "S1")
    s1.sendall(
        b"".join(
            encode_frame(NewOrder(f"r{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=n + 1))
            for n in range(RESTING)
        )
    )
    await _spin(lambda: len(rig.venue.commands) == RESTING, "the resting orders")
    link = rig.engine.strategies["S1"].link
    assert link is not None
    s1.sendall(encode_frame(MassCancel(request_id="M1", req_seq=RESTING + 1)))
    await _spin(lambda: len(_cancels(rig)) > 0, "the first slice")
    assert rig.engine._walks
    s1.sendall(encode_frame(Heartbeat()) * 5)  # waits unread in the gateway's socket: the link is not read
    sock = link.transport.get_extra_info("socket")  # type: ignore[attr-defined]
    await _spin(lambda: unread_bytes(sock) > 0, "the heartbeats unread")
    rig.engine.disconnect_for_stop()
    assert _cancels(rig) == list(range(_cancels(rig)[0], _cancels(rig)[0] + RESTING))  # the rest walked in it
    got = await _answers(s1, s1_frames, 1)
    assert got == [MassCancelAck("M1", RESTING)]
    loop = asyncio.get_running_loop()
    end = await asyncio.wait_for(loop.sock_recv(s1, 1 << 16), 10)  # ConnectionResetError before (bytes unread)
    assert end == b""
    s1.close()
    server.close()


async def test_socket_strategy_closes_mid_walk_with_bytes_unread_then_its_reconnect_welcomed_at_once(
    sock_dir: Path,
) -> None:
    # rev58merge4 LOW 4 (walk59): the walking connection is not read, so its end was not seen while bytes it had sent
    # waited unread in the gateway's socket: a reconnect was refused ALREADY_CONNECTED until the walk ended
    import socket

    from gateway.protocol.framing import FrameSplitter, gateway_message_decoder
    from gateway.protocol.messages import PROTOCOL_VERSION, Hello, Welcome
    from gateway.server import unread_bytes
    from tests.test_mass_cancel_floods import _connect, _socket_gateway, _spin

    rig, server, path = await _socket_gateway(sock_dir)
    turns = _turns(rig)  # the walk's later slices wait for the test: the Hello surely comes in the middle of it
    s1, _, _ = await _connect(path, "S1")
    s1.sendall(
        b"".join(
            encode_frame(NewOrder(f"r{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=n + 1))
            for n in range(RESTING)
        )
    )
    await _spin(lambda: len(rig.venue.commands) == RESTING, "the resting orders")
    st = rig.engine.strategies["S1"]
    link = st.link
    assert link is not None
    s1.sendall(encode_frame(MassCancel(request_id="M1", req_seq=RESTING + 1)))
    await _spin(lambda: len(_cancels(rig)) > 0, "the first slice")
    s1.sendall(encode_frame(Heartbeat()) * 5)  # waits unread in the gateway's socket: the link is not read
    sock = link.transport.get_extra_info("socket")  # type: ignore[attr-defined]
    await _spin(lambda: unread_bytes(sock) > 0, "the heartbeats unread")
    s1.close()  # the strategy dies; its Canceled events were not read either
    assert rig.engine._walks and len(_cancels(rig)) < RESTING
    loop = asyncio.get_running_loop()
    again = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    again.setblocking(False)
    await loop.sock_connect(again, path)
    await loop.sock_sendall(again, encode_frame(Hello("S1", PROTOCOL_VERSION, st.next_seq - 1)))
    await _spin(lambda: st.link is not None and st.link is not link, "the Hello taken")
    while turns:  # its Welcome waits for the disconnect policy's walk, a slice per turn (mass59)
        turns.pop(0)()
    splitter = FrameSplitter()
    frames: list[memoryview] = []
    while not frames:
        frames = splitter.feed(await asyncio.wait_for(loop.sock_recv(again, 65536), 10))
    answer = gateway_message_decoder.decode(frames[0])
    assert isinstance(answer, Welcome), answer  # before: Error ALREADY_CONNECTED until the walk's end
    assert answer.last_req_seq == RESTING + 1  # the rest of its MassCancel walked at the Hello: counted
    assert sorted(_cancels(rig)) == sorted(set(_cancels(rig))) and len(_cancels(rig)) == RESTING  # each once
    assert not rig.engine._walks and rig.engine.own_walks == 0
    again.close()
    server.close()


async def test_socket_strategy_half_closes_mid_walk_then_new_hello_refused_and_what_it_sent_carried_out(
    sock_dir: Path,
) -> None:
    # rev59merge MEDIUM 1 (walk59b): walk59 took any hang-up of the walking connection for its end, so a new Hello
    # took over a half-closed session (SHUT_WR): the NewOrder it sent before its end-of-file was dropped and its
    # MassCancelAck never came. strategy-protocol.md section 1: a half-close loses nothing; a Hello on a new
    # connection is refused ALREADY_CONNECTED until the gateway closes the session
    import socket

    from gateway.protocol.framing import FrameSplitter, gateway_message_decoder
    from gateway.protocol.messages import PROTOCOL_VERSION, Error, Hello
    from tests.test_mass_cancel_floods import _connect, _socket_gateway, _spin

    rig, server, path = await _socket_gateway(sock_dir)
    turns = _turns(rig)  # the walk's later slices wait for the test: the Hello surely comes in the middle of it
    s1, s1_frames, _ = await _connect(path, "S1")
    s1.sendall(
        b"".join(
            encode_frame(NewOrder(f"r{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=n + 1))
            for n in range(RESTING)
        )
    )
    await _spin(lambda: len(rig.venue.commands) == RESTING, "the resting orders")
    st = rig.engine.strategies["S1"]
    s1.sendall(encode_frame(MassCancel(request_id="M1", req_seq=RESTING + 1)))
    await _spin(lambda: len(_cancels(rig)) > 0, "the first slice")
    late = NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 300, 1_000_000, req_seq=RESTING + 2)
    s1.sendall(encode_frame(late))  # behind the MassCancel, before the end-of-file: unread while the walk goes on
    s1.shutdown(socket.SHUT_WR)  # a half-close: the session goes on until the gateway closes it
    assert rig.engine._walks
    loop = asyncio.get_running_loop()
    again = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    again.setblocking(False)
    await loop.sock_connect(again, path)
    await loop.sock_sendall(again, encode_frame(Hello("S1", PROTOCOL_VERSION, st.next_seq - 1)))
    splitter = FrameSplitter()
    frames: list[memoryview] = []
    while not frames:
        frames = splitter.feed(await asyncio.wait_for(loop.sock_recv(again, 65536), 10))
    answer = gateway_message_decoder.decode(frames[0])
    assert isinstance(answer, Error) and answer.code == "ALREADY_CONNECTED", answer  # walk59: Welcome
    while turns:  # the walk to its end; then what the strategy sent before its end-of-file is read
        turns.pop(0)()
    got: list[object] = []
    while True:  # every answer, then the gateway's close (end-of-file)
        data = await asyncio.wait_for(loop.sock_recv(s1, 1 << 16), 10)
        if not data:
            break
        got += [gateway_message_decoder.decode(frame) for frame in s1_frames.feed(data)]
    assert [m for m in got if isinstance(m, MassCancelAck)] == [MassCancelAck("M1", RESTING)]  # walk59: none
    assert "late" in st.orders  # walk59: never carried out
    assert rig.venue.commands[-1][0] == "new" and rig.venue.commands[-1][2] == 300  # its Enter, after the Cancels
    assert len(_cancels(rig)) == RESTING and not rig.engine._walks
    again.close()
    s1.close()
    server.close()
