"""The strategy session state machine with a fake clock: handshake, heartbeats, bad input."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol.framing import LENGTH_PREFIX, FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import PROTOCOL_VERSION, Cancel, Error, GatewayMessage, Heartbeat, Hello, NewOrder
from gateway.strategy_session import InvalidRequest, StrategySession, StrategySessionState
from model.clock import FakeClock
from model.enums import Side


def _out(session: StrategySession, clock: FakeClock) -> list[GatewayMessage]:
    data = session.take_output(clock())
    return [gateway_message_decoder.decode(f) for f in FrameSplitter().feed(bytes(data or b""))]


def _active(clock: FakeClock, heartbeat_ms: int = 1000) -> StrategySession:
    session = StrategySession(clock())
    (hello,) = session.receive_data(encode_frame(Hello("S1", PROTOCOL_VERSION, 0, heartbeat_ms)), clock())
    assert isinstance(hello, Hello)
    session.welcome()
    return session


def test_receive_when_first_frame_not_hello_then_fatal_error_and_closed() -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    assert session.receive_data(encode_frame(Cancel("X")), clock()) == []
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "HELLO_REQUIRED" and err.fatal
    assert session.state is StrategySessionState.CLOSED


def test_receive_when_hello_has_wrong_version_then_refused_with_supported_version() -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    session.receive_data(encode_frame(Hello("S1", 99)), clock())
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "UNSUPPORTED_VERSION" and str(PROTOCOL_VERSION) in err.text


def test_receive_when_requests_pipelined_behind_hello_then_all_returned_in_order() -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    order = NewOrder("C1", "A", "V", "AAPL", Side.BUY, 1, 1)
    data = encode_frame(Hello("S1", PROTOCOL_VERSION)) + encode_frame(Heartbeat()) + encode_frame(order)
    got = session.receive_data(data, clock())
    assert [type(m) for m in got] == [Hello, NewOrder]


def test_receive_when_frame_oversized_then_fatal_error_names_the_length() -> None:
    clock = FakeClock()
    session = _active(clock)
    session.receive_data(LENGTH_PREFIX.pack(70_000) + b"\x00" * 10, clock())
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "FRAME_TOO_LARGE" and "70000" in err.text
    assert session.state is StrategySessionState.CLOSED


def test_receive_when_frame_is_garbage_then_non_fatal_error_and_next_frame_processed() -> None:
    clock = FakeClock()
    session = _active(clock)
    garbage = LENGTH_PREFIX.pack(3) + b"\xc1\xc1\xc1"
    got = session.receive_data(garbage + encode_frame(Cancel("C9")), clock())
    assert got == [Cancel("C9")]
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "BAD_FRAME" and not err.fatal
    assert session.state is StrategySessionState.ACTIVE


def test_receive_when_unknown_tag_then_invalid_message_error() -> None:
    clock = FakeClock()
    session = _active(clock)
    payload = msgspec.msgpack.encode([77, "x"])
    assert session.receive_data(LENGTH_PREFIX.pack(len(payload)) + payload, clock()) == []
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "INVALID_MESSAGE"


def test_receive_when_cancel_field_invalid_then_invalid_request_carries_cl_ord_id() -> None:
    clock = FakeClock()
    session = _active(clock)
    payload = msgspec.msgpack.encode([3, "C1", "not-an-int"])
    (req,) = session.receive_data(LENGTH_PREFIX.pack(len(payload)) + payload, clock())
    assert isinstance(req, InvalidRequest) and req.kind == "Cancel" and req.cl_ord_id == "C1"
    assert "sent_ns" in req.text


def test_receive_when_errors_exceed_budget_then_closed_too_many_errors() -> None:
    clock = FakeClock()
    session = StrategySession(clock(), max_errors=5)
    session.receive_data(encode_frame(Hello("S1", PROTOCOL_VERSION)), clock())
    session.welcome()
    session.receive_data((LENGTH_PREFIX.pack(1) + b"\xc1") * 10, clock())
    errors = _out(session, clock)
    assert len(errors) == 7  # five tolerated, the sixth counted, then the fatal one
    last = errors[-1]
    assert isinstance(last, Error) and last.code == "TOO_MANY_ERRORS" and last.fatal


def test_poll_when_idle_for_heartbeat_interval_then_sends_heartbeat_once() -> None:
    clock = FakeClock()
    session = _active(clock, heartbeat_ms=500)
    session.take_output(clock())
    clock.advance_ms(499)
    session.poll(clock())
    assert _out(session, clock) == []
    clock.advance_ms(1)
    session.receive_data(encode_frame(Heartbeat()), clock())
    session.poll(clock())
    assert _out(session, clock) == [Heartbeat()]
    session.poll(clock())
    assert _out(session, clock) == []


def test_poll_when_strategy_silent_for_three_intervals_then_heartbeat_timeout() -> None:
    clock = FakeClock()
    session = _active(clock, heartbeat_ms=200)
    clock.advance_ms(600)
    session.poll(clock())
    assert session.state is StrategySessionState.ACTIVE
    clock.advance_ms(1)
    session.poll(clock())
    errors = [m for m in _out(session, clock) if isinstance(m, Error)]
    assert errors and errors[-1].code == "HEARTBEAT_TIMEOUT"
    assert session.is_closed()


def test_poll_when_no_hello_arrives_then_hello_timeout() -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    clock.advance_ms(3001)
    session.poll(clock())
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "HELLO_TIMEOUT"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_receive_when_arbitrary_bytes_after_hello_then_never_raises(data: bytes) -> None:
    clock = FakeClock()
    session = _active(clock)
    for req in session.receive_data(data, clock()):
        assert isinstance(req, (NewOrder, Cancel, InvalidRequest)) or type(req).__name__ in {
            "Replace",
            "MassCancel",
        }
    assert all(isinstance(message, Error) for message in _out(session, clock))
    assert session.state in (StrategySessionState.ACTIVE, StrategySessionState.CLOSED)
