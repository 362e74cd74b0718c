"""The FIX session in acceptor mode (the benchmark's FIX venue): logon handshake with our own initiator, timers."""

from __future__ import annotations

from model.clock import FakeClock
from venues.fix.codec import FixMessage, build_message
from venues.fix.fields import MsgType
from venues.fix.session import FixSession, FixSessionState, SessionConfig
from venues.fix.store import MemoryStore

from .helpers import WALL_OFFSET_NS, decode_all
from .test_session import Handler

SECOND = 1_000_000_000


def _pair(
    *, initiator: dict[str, object] | None = None, acceptor: dict[str, object] | None = None
) -> tuple[FixSession, Handler, FixSession, Handler, FakeClock]:
    clock = FakeClock()
    init_handler, acc_handler = Handler(), Handler()
    init = FixSession(
        SessionConfig(
            begin_string=b"FIX.4.4",
            sender_comp_id=b"GATEWAY",
            target_comp_id=b"BRKR",
            heartbeat_interval_s=30,
            **(initiator or {}),  # type: ignore[arg-type]
        ),
        MemoryStore(),
        init_handler,
        wall_offset_ns=WALL_OFFSET_NS,
    )
    acc = FixSession(
        SessionConfig(
            begin_string=b"FIX.4.4",
            sender_comp_id=b"BRKR",
            target_comp_id=b"GATEWAY",
            heartbeat_interval_s=5,
            acceptor=True,
            **(acceptor or {}),  # type: ignore[arg-type]
        ),
        MemoryStore(),
        acc_handler,
        wall_offset_ns=WALL_OFFSET_NS,
    )
    return init, init_handler, acc, acc_handler, clock


def _state(session: FixSession) -> FixSessionState:
    return session.state


def _pump(src: FixSession, dst: FixSession, clock: FakeClock) -> list[FixMessage]:
    messages = decode_all(src.outbox)
    data = bytes(src.outbox)
    src.outbox.clear()
    if data:
        dst.data_received(data, clock())
    return messages


def test_acceptor_when_initiator_logs_on_then_logon_echoed_and_both_active() -> None:
    init, _, acc, acc_handler, clock = _pair()
    acc.connection_made(clock())
    assert _state(acc) is FixSessionState.AWAITING_LOGON and not acc.outbox
    init.connection_made(clock())
    _pump(init, acc, clock)
    (logon,) = _pump(acc, init, clock)
    assert logon.msg_type == MsgType.LOGON and logon.seq == 1
    assert logon.get(b"108") == b"30"  # the initiator's HeartBtInt, not the acceptor's 5
    assert b"141" not in logon.fields
    assert _state(init) is FixSessionState.ACTIVE and _state(acc) is FixSessionState.ACTIVE
    assert acc_handler.states[-1] == (FixSessionState.ACTIVE, "logged on")
    raw = build_message(
        b"FIX.4.4", b"D", sender=b"GATEWAY", target=b"BRKR", seq=2, sending_time=b"20240102-10:00:00.000"
    )
    init.send_app(2, raw, clock())
    _pump(init, acc, clock)
    assert [m.msg_type for m in acc_handler.app] == [b"D"]
    assert acc.next_target_seq == 3
    # heartbeats follow the negotiated 30 s
    assert acc.poll(clock.advance(29 * SECOND)) > 0 and not acc.outbox
    acc.poll(clock.advance(2 * SECOND))
    assert [m.msg_type for m in decode_all(acc.outbox)] == [MsgType.HEARTBEAT]


def test_acceptor_when_initiator_resets_then_reset_flag_echoed_and_numbers_start_at_1() -> None:
    init, _, acc, _, clock = _pair(initiator={"reset_seq_num_on_logon": True})
    acc.store.set_next_target_seq(40)
    acc.store.set_next_sender_seq(50)
    acc.connection_made(clock())
    init.connection_made(clock())
    _pump(init, acc, clock)
    (logon,) = _pump(acc, init, clock)
    assert logon.get(b"141") == b"Y" and logon.seq == 1
    assert acc.state is FixSessionState.ACTIVE and acc.next_target_seq == 2 and acc.next_sender_seq == 2


def test_acceptor_when_first_message_is_not_logon_then_closes() -> None:
    _, _, acc, _, clock = _pair()
    acc.connection_made(clock())
    heartbeat = build_message(
        b"FIX.4.4", b"0", sender=b"GATEWAY", target=b"BRKR", seq=1, sending_time=b"20240102-10:00:00.000"
    )
    acc.data_received(heartbeat, clock())
    assert acc.close_reason is not None and "not a Logon" in acc.close_reason


def test_acceptor_when_no_logon_within_timeout_then_closes() -> None:
    _, _, acc, _, clock = _pair(acceptor={"logon_timeout_ns": 2 * SECOND})
    acc.connection_made(clock())
    acc.poll(clock.advance(SECOND))
    assert acc.close_reason is None
    acc.poll(clock.advance(SECOND))
    assert acc.close_reason is not None


def test_acceptor_when_logon_seq_too_low_then_logout_and_close() -> None:
    init, _, acc, _, clock = _pair()
    acc.store.set_next_target_seq(10)
    acc.connection_made(clock())
    init.connection_made(clock())
    _pump(init, acc, clock)
    (logout,) = decode_all(acc.outbox)
    assert logout.msg_type == MsgType.LOGOUT and b"too low" in logout.get(b"58")
    assert acc.close_reason is not None
