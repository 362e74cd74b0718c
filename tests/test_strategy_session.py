"""The strategy session state machine with a fake clock: handshake, heartbeats, bad input."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol.framing import LENGTH_PREFIX, FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    Cancel,
    Error,
    GatewayMessage,
    Heartbeat,
    Hello,
    NewOrder,
)
from gateway.strategy_session import InvalidRequest, ReqSeqCheck, StrategySession, StrategySessionState
from model.clock import FakeClock
from model.enums import Side


def _out(session: StrategySession, clock: FakeClock) -> list[GatewayMessage]:
    data = session.take_output(clock())
    return [gateway_message_decoder.decode(f) for f in FrameSplitter().feed(bytes(data or b""))]


def _active(clock: FakeClock, heartbeat_ms: int = 1000, version: int = PROTOCOL_VERSION) -> StrategySession:
    session = StrategySession(clock())
    (hello,) = session.receive_data(encode_frame(Hello("S1", version, 0, heartbeat_ms)), clock())
    assert isinstance(hello, Hello)
    session.welcome(clock())
    return session


def _frame(payload: bytes) -> bytes:
    return LENGTH_PREFIX.pack(len(payload)) + payload


def test_receive_when_first_frame_not_hello_then_fatal_error_and_closed() -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    assert session.receive_data(encode_frame(Cancel("X")), clock()) == []
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "HELLO_REQUIRED" and err.fatal
    assert session.state is StrategySessionState.CLOSED


def test_receive_when_hello_has_wrong_version_then_refused_with_supported_versions() -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    session.receive_data(encode_frame(Hello("S1", 99)), clock())
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "UNSUPPORTED_VERSION" and err.fatal
    assert f"versions {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}" in err.text


@pytest.mark.parametrize("version", range(MIN_PROTOCOL_VERSION, PROTOCOL_VERSION + 1))
def test_receive_when_hello_has_any_supported_version_then_session_speaks_it(version: int) -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    (hello,) = session.receive_data(encode_frame(Hello("S1", version)), clock())
    assert isinstance(hello, Hello) and session.protocol_version == version


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        (b"", "BAD_FRAME", "not a MessagePack message"),
        (b"\xc1\xc1", "BAD_FRAME", "not a MessagePack message"),
        (msgspec.msgpack.encode([2, "C1"]), "HELLO_REQUIRED", "tag 2"),
        (msgspec.msgpack.encode([77]), "HELLO_REQUIRED", "tag 77"),
        (msgspec.msgpack.encode({"a": 1}), "HELLO_REQUIRED", "not a message"),
        (msgspec.msgpack.encode([1, "S1", 2, 0, 5]), "BAD_HELLO", "`heartbeat_ms`"),
        (msgspec.msgpack.encode([1, "", 2]), "BAD_HELLO", "`strategy_id`"),
        (msgspec.msgpack.encode([1, "S1", "2"]), "BAD_HELLO", "`protocol_version`"),
        (b"\x93\x01\xa2\xcd\x41\x02", "BAD_HELLO", "`strategy_id` is not valid UTF-8"),
        (msgspec.msgpack.encode([1, "€" * 11, 2]), "BAD_HELLO", "33 bytes"),
        (msgspec.msgpack.encode([1, "S1", 9, "bad", "fields"]), "UNSUPPORTED_VERSION", "versions 1 to"),
        (msgspec.msgpack.encode([1, "S1", 0]), "UNSUPPORTED_VERSION", "version 0 not supported"),
        (msgspec.msgpack.encode([1, "S1", 2**64 - 1]), "UNSUPPORTED_VERSION", f"version {2**64 - 1} not"),
        (b"\x93\x01\xa2S1\xff", "BAD_HELLO", "`protocol_version` -1 is negative"),  # negative fixint
        (b"\x93\x01\xa2S1\xd0\xff", "BAD_HELLO", "`protocol_version` -1 is negative"),  # int8
        (msgspec.msgpack.encode([1, "S1", -(2**63)]), "BAD_HELLO", f"`protocol_version` {-(2**63)} is negative"),
        (msgspec.msgpack.encode([1, "", -3, 0, 5]), "BAD_HELLO", "`protocol_version` -3 is negative"),
        (msgspec.msgpack.encode([1, "S1", True]), "BAD_HELLO", "`protocol_version`"),
        (msgspec.msgpack.encode([1, "S1", 3.0]), "BAD_HELLO", "`protocol_version`"),
    ],
    ids=[
        "empty",
        "garbage",
        "neworder",
        "unknown-tag",
        "map",
        "heartbeat",
        "empty-id",
        "version-type",
        "utf8",
        "id-bytes",
        "version-first",
        "version-0",
        "version-max-uint",
        "version-negative-fixint",
        "version-negative-int8",
        "version-negative-int64",
        "version-negative-and-more",
        "version-bool",
        "version-float",
    ],
)
def test_receive_when_first_frame_is_not_a_good_hello_then_fatal_with_a_distinct_code(
    payload: bytes, code: str, words: str
) -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    assert session.receive_data(_frame(payload) + encode_frame(Hello("S1", PROTOCOL_VERSION)), clock()) == []
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and (err.code, err.fatal) == (code, True) and words in err.text, err
    assert session.is_closed()


def test_poll_when_bytes_drip_before_hello_then_hello_deadline_is_absolute() -> None:
    clock = FakeClock()
    session = StrategySession(clock(), frame_timeout_ms=60_000)
    hello = encode_frame(Hello("S" * 32, PROTOCOL_VERSION))  # 43 bytes
    for i in range(29):  # one byte every 100 ms: never a whole Hello
        clock.advance_ms(100)
        session.receive_data(hello[i : i + 1], clock())
        session.poll(clock())
    assert not session.is_closed()
    clock.advance_ms(101)  # 3,001 ms after connecting
    session.receive_data(hello[29:30], clock())
    session.poll(clock())
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and (err.code, err.fatal) == ("HELLO_TIMEOUT", True) and "3000 ms" in err.text


def test_poll_when_a_frame_stays_incomplete_then_frame_timeout_even_while_bytes_keep_coming() -> None:
    clock = FakeClock()
    session = _active(clock)
    session.take_output(clock())
    order = encode_frame(NewOrder("C1", "A", "V", "AAPL", Side.BUY, 1, 1))
    for i in range(10):  # one byte every 100 ms
        session.receive_data(order[i : i + 1], clock())
        session.poll(clock())
        clock.advance_ms(100)
    assert not session.is_closed()
    clock.advance_ms(1)  # 1,001 ms after the frame's first byte
    session.receive_data(order[10:11], clock())
    session.poll(clock())
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and (err.code, err.fatal) == ("FRAME_TIMEOUT", True)
    assert "11 bytes received" in err.text and "1000 ms" in err.text


def test_poll_when_input_paused_with_a_frame_cut_by_the_pause_then_its_deadline_runs_from_the_resume() -> None:
    # rev51strat's pipeline under back-pressure (4.6): a read ended inside a frame, then the gateway stopped reading;
    # the frame's rest waited in the socket and the old session cut it FRAME_TIMEOUT
    clock = FakeClock()
    session = _active(clock, heartbeat_ms=60_000)
    session.take_output(clock())
    order = encode_frame(NewOrder("C1", "A", "V", "AAPL", Side.BUY, 1, 1))
    session.receive_data(order[:7], clock())
    session.pause_input(True, clock())
    clock.advance_ms(5_000)
    session.poll(clock())
    assert not session.is_closed()
    session.pause_input(False, clock())
    clock.advance_ms(1_000)
    session.poll(clock())
    assert not session.is_closed()
    clock.advance_ms(1)
    session.poll(clock())
    assert session.is_closed() and session.close_reason.startswith("FRAME_TIMEOUT")


def test_poll_when_frames_complete_in_time_then_each_new_frame_has_its_own_deadline() -> None:
    clock = FakeClock()
    session = _active(clock, heartbeat_ms=60_000)
    order = encode_frame(NewOrder("C1", "A", "V", "AAPL", Side.BUY, 1, 1))
    tail = order[:5]
    session.receive_data(tail, clock())
    for _ in range(5):  # each read completes the previous frame and starts the next one
        clock.advance_ms(900)
        got = session.receive_data(order[5:] + tail, clock())
        session.poll(clock())
        assert len(got) == 1 and not session.is_closed()
    clock.advance_ms(900)
    session.poll(clock())
    assert not session.is_closed()
    clock.advance_ms(101)
    session.poll(clock())
    assert session.is_closed() and session.close_reason.startswith("FRAME_TIMEOUT")


def test_frame_timeout_when_configured_then_used() -> None:
    clock = FakeClock()
    session = StrategySession(clock(), hello_timeout_ms=200, frame_timeout_ms=50)
    session.receive_data(b"\x00", clock())
    clock.advance_ms(51)
    session.poll(clock())
    assert session.close_reason.startswith("FRAME_TIMEOUT")


def test_receive_when_requests_pipelined_behind_hello_then_left_undecoded_until_taken_then_returned_in_order() -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    order = NewOrder("C1", "A", "V", "AAPL", Side.BUY, 1, 1, req_seq=1)
    rest = encode_frame(Heartbeat()) + encode_frame(order)
    got = session.receive_data(encode_frame(Hello("S1", PROTOCOL_VERSION)) + rest, clock())
    assert [type(m) for m in got] == [Hello]  # the engine answers the Hello before anything behind it is read
    assert session.frames_in == 1 and session.take_behind_hello() == rest and session.take_behind_hello() == b""
    session.welcome(clock())
    assert [type(m) for m in session.receive_data(rest, clock())] == [NewOrder]


def test_receive_when_hello_completed_by_later_read_then_frames_partial_and_oversized_behind_it_kept() -> None:
    clock = FakeClock()
    session = StrategySession(clock(), frame_timeout_ms=50)
    hello = encode_frame(Hello("S1", PROTOCOL_VERSION))
    order = encode_frame(NewOrder("C1", "A", "V", "AAPL", Side.BUY, 1, 1, req_seq=1))
    session.receive_data(hello[:3], clock())
    got = session.receive_data(hello[3:] + order + order[:5], clock())
    assert [type(m) for m in got] == [Hello]
    assert session.take_behind_hello() == order + order[:5]
    clock.advance_ms(51)
    session.poll(clock())  # the half frame is the engine's until it hands it back: no frame deadline
    assert not session.is_closed()
    again = StrategySession(clock())
    again.receive_data(hello[:3], clock())
    assert [type(m) for m in again.receive_data(hello[3:] + order + b"\x00\x01\x00\x01xyz", clock())] == [Hello]
    assert again.take_behind_hello() == order + b"\x00\x01\x00\x01"  # the oversized length, read again later
    assert again.pending_close is None and not again.is_closed()


def test_receive_when_frame_oversized_then_requests_before_it_returned_then_fatal_error_names_the_length() -> None:
    clock = FakeClock()
    session = _active(clock)
    session.take_output(clock())
    got = session.receive_data(encode_frame(Cancel("C1", 0, 1)) + LENGTH_PREFIX.pack(70_000) + b"\x00" * 10, clock())
    assert got == [Cancel("C1", 0, 1)]
    assert _out(session, clock) == []  # the engine answers the Cancel first
    session.end_of_read()
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "FRAME_TOO_LARGE" and "70000" in err.text
    assert session.state is StrategySessionState.CLOSED


def test_receive_when_frame_is_garbage_then_non_fatal_error_and_next_frame_processed() -> None:
    clock = FakeClock()
    session = _active(clock)
    garbage = LENGTH_PREFIX.pack(3) + b"\xc1\xc1\xc1"
    err, cancel = session.receive_data(garbage + encode_frame(Cancel("C9", 0, 1)), clock())
    assert cancel == Cancel("C9", 0, 1)  # the Error comes first, in frame order, for the engine to send
    assert isinstance(err, Error) and err.code == "BAD_FRAME" and not err.fatal
    assert session.state is StrategySessionState.ACTIVE


def test_receive_when_unknown_tag_then_invalid_message_error() -> None:
    clock = FakeClock()
    session = _active(clock)
    payload = msgspec.msgpack.encode([77, "x"])
    (err,) = session.receive_data(LENGTH_PREFIX.pack(len(payload)) + payload, clock())
    assert isinstance(err, Error) and err.code == "INVALID_MESSAGE"


def test_receive_when_cancel_field_invalid_then_invalid_request_carries_cl_ord_id() -> None:
    clock = FakeClock()
    session = _active(clock)
    payload = msgspec.msgpack.encode([3, "C1", "not-an-int"])
    (req,) = session.receive_data(LENGTH_PREFIX.pack(len(payload)) + payload, clock())
    assert isinstance(req, InvalidRequest) and req.kind == "Cancel" and req.cl_ord_id == "C1"
    assert "sent_ns" in req.text


def test_receive_when_errors_exceed_budget_then_closed_too_many_errors_at_end_of_read() -> None:
    clock = FakeClock()
    session = StrategySession(clock(), max_errors=5)
    session.receive_data(encode_frame(Hello("S1", PROTOCOL_VERSION)), clock())
    session.welcome(clock())
    errors = session.receive_data((LENGTH_PREFIX.pack(1) + b"\xc1") * 10, clock())
    assert len(errors) == 6 and not session.is_closed()  # five tolerated, the sixth counted; then silence
    session.end_of_read()
    (last,) = _out(session, clock)
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


def test_poll_when_input_paused_for_back_pressure_then_silence_not_judged_and_counted_again_from_the_resume() -> None:
    # its heartbeats wait in the socket behind its requests while the gateway does not read them (4.6)
    clock = FakeClock()
    session = _active(clock, heartbeat_ms=200)
    clock.advance_ms(100)
    session.pause_input(True, clock())
    clock.advance_ms(5_000)
    session.poll(clock())
    assert session.state is StrategySessionState.ACTIVE
    session.pause_input(False, clock())
    clock.advance_ms(600)
    session.poll(clock())
    assert session.state is StrategySessionState.ACTIVE
    clock.advance_ms(1)
    session.poll(clock())
    errors = [m for m in _out(session, clock) if isinstance(m, Error)]
    assert errors and errors[-1].code == "HEARTBEAT_TIMEOUT"


def test_poll_when_welcome_waited_for_a_journal_read_then_silence_counts_from_the_welcome() -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    session.receive_data(encode_frame(Hello("S1", PROTOCOL_VERSION, 0, 300)), clock())
    clock.advance_ms(4_000)  # the replay read from the journal held the Welcome back; the strategy sent nothing
    session.poll(clock())
    session.welcome(clock())
    clock.advance_ms(900)
    session.poll(clock())
    assert session.state is StrategySessionState.ACTIVE
    assert not [m for m in _out(session, clock) if isinstance(m, Error)]
    clock.advance_ms(1)
    session.poll(clock())
    errors = [m for m in _out(session, clock) if isinstance(m, Error)]
    assert errors and errors[-1].code == "HEARTBEAT_TIMEOUT"
    assert "nothing received for 901 ms" in errors[-1].text


def test_poll_when_no_hello_arrives_then_hello_timeout() -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    clock.advance_ms(3001)
    session.poll(clock())
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and err.code == "HELLO_TIMEOUT" and err.fatal


def test_receive_when_150_invalid_orders_in_one_read_then_every_one_answered_before_the_close() -> None:
    clock = FakeClock()
    session = _active(clock)
    session.take_output(clock())
    bad = b"".join(_frame(msgspec.msgpack.encode([2, f"B{i}", "ACC1"])) for i in range(150))
    later = encode_frame(NewOrder("OK1", "A", "V", "AAPL", Side.BUY, 1, 1, req_seq=1)) + encode_frame(
        Cancel("OLD", 0, 2)
    )
    got = session.receive_data(bad + later, clock())
    assert [r.cl_ord_id for r in got[:150]] == [f"B{i}" for i in range(150)]  # type: ignore[union-attr]
    codes = [r.code for r in got[:150]]  # type: ignore[union-attr]
    assert codes == ["INVALID_FIELD"] * 101 + ["TOO_MANY_ERRORS"] * 49
    assert got[150] == InvalidRequest("NewOrder", "OK1", got[150].text, "TOO_MANY_ERRORS", 1)  # type: ignore[union-attr]
    assert got[151] == Cancel("OLD", 0, 2)  # cancels are still carried out
    assert not session.is_closed()
    more = session.receive_data(encode_frame(NewOrder("OK2", "A", "V", "AAPL", Side.BUY, 1, 1, req_seq=3)), clock())
    assert [(r.cl_ord_id, r.code) for r in more] == [("OK2", "TOO_MANY_ERRORS")]  # type: ignore[union-attr]
    session.end_of_read()
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and (err.code, err.fatal) == ("TOO_MANY_ERRORS", True)
    assert session.is_closed() and session.receive_data(later, clock()) == []


def test_receive_when_a_field_is_not_utf8_then_invalid_request_names_the_field_by_cl_ord_id() -> None:
    clock = FakeClock()
    session = _active(clock, version=2)  # version 3 adds that this request (no req_seq) takes no place
    # NewOrder ["C7", "ACC1", "V", <symbol bytes ff fe>, "B", 1, 1]
    payload = b"\x98\x02\xa2C7\xa4ACC1\xa1V\xa2\xff\xfe\xa1B\x01\x01"
    (req,) = session.receive_data(_frame(payload), clock())
    assert req == InvalidRequest("NewOrder", "C7", "`symbol` is not valid UTF-8")


def test_receive_when_the_rest_of_a_frame_is_garbage_then_still_answered_by_its_cl_ord_id() -> None:
    clock = FakeClock()
    session = _active(clock)
    (req,) = session.receive_data(_frame(b"\x94\x03\xa2C8\xc1\xc1"), clock())
    assert isinstance(req, InvalidRequest) and (req.kind, req.cl_ord_id) == ("Cancel", "C8")


def test_receive_when_cl_ord_id_is_not_utf8_then_bad_frame_error() -> None:
    clock = FakeClock()
    session = _active(clock)
    session.take_output(clock())
    # NewOrder [<cl_ord_id bytes cd 41>, "ACC1", "V", "AAPL", "B", 1, 1]
    payload = b"\x98\x02\xa2\xcd\x41\xa4ACC1\xa1V\xa4AAPL\xa1B\x01\x01"
    (err,) = session.receive_data(_frame(payload), clock())
    assert isinstance(err, Error) and (err.code, err.fatal) == ("BAD_FRAME", False) and "cl_ord_id" in err.text


@pytest.mark.parametrize(
    ("fields", "ok"),
    [(("€" * 10,), True), (("€" * 11,), False), (("a" * 32,), True), (("é" * 16,), True), (("é" * 17,), False)],
)
def test_receive_when_identifier_counted_in_utf8_bytes_then_over_32_bytes_rejected(
    fields: tuple[str], ok: bool
) -> None:
    clock = FakeClock()
    session = _active(clock)
    order = NewOrder("C1", "A", "V", fields[0], Side.BUY, 1, 1, req_seq=1)
    (req,) = session.receive_data(encode_frame(order), clock())
    if ok:
        assert isinstance(req, NewOrder)
    else:
        assert isinstance(req, InvalidRequest) and req.cl_ord_id == "C1" and "`symbol`" in req.text
        assert "at most 32 bytes" in req.text


def test_receive_when_cl_ord_id_over_32_bytes_then_no_id_to_answer_by_invalid_message() -> None:
    clock = FakeClock()
    session = _active(clock)
    session.take_output(clock())
    (err,) = session.receive_data(encode_frame(Cancel("€" * 11)), clock())
    assert isinstance(err, Error) and err.code == "INVALID_MESSAGE" and "33 bytes" in err.text


def test_receive_when_mass_cancel_invalid_then_answered_in_version_2_and_an_error_in_version_1() -> None:
    clock = FakeClock()
    bad = _frame(msgspec.msgpack.encode([5, 7, "", "", "M1"]))
    v2 = _active(clock, version=2)
    (req,) = v2.receive_data(bad, clock())
    assert isinstance(req, InvalidRequest) and (req.kind, req.cl_ord_id) == ("MassCancel", "M1")
    v1 = StrategySession(clock())
    v1.receive_data(encode_frame(Hello("S1", 1)), clock())
    v1.welcome(clock())
    v1.take_output(clock())
    (err,) = v1.receive_data(bad, clock())
    assert isinstance(err, Error) and err.code == "INVALID_MESSAGE"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_receive_when_arbitrary_bytes_after_hello_then_never_raises(data: bytes) -> None:
    clock = FakeClock()
    session = _active(clock)
    for req in session.receive_data(data, clock()):
        assert isinstance(req, (NewOrder, Cancel, InvalidRequest, Error)) or type(req).__name__ in {
            "Replace",
            "MassCancel",
        }
    session.end_of_read()
    assert all(isinstance(message, Error) for message in _out(session, clock))
    assert session.state in (StrategySessionState.ACTIVE, StrategySessionState.CLOSED)


# ---- version 3: the request sequence ------------------------------------------------------------


def _order(cl_ord_id: str, req_seq: int) -> NewOrder:
    return NewOrder(cl_ord_id, "A", "V", "AAPL", Side.BUY, 1, 1, req_seq=req_seq)


def _v3(clock: FakeClock, last_req_seq: int) -> StrategySession:
    session = StrategySession(clock())
    (hello,) = session.receive_data(encode_frame(Hello("S1", 3)), clock())
    assert isinstance(hello, Hello)
    session.welcome(clock(), last_req_seq)
    session.take_output(clock())
    return session


def test_sequence_when_next_number_then_new_and_it_becomes_the_last_processed() -> None:
    clock = FakeClock()
    session = _v3(clock, last_req_seq=7)
    assert session.sequenced and session.last_req_seq == 7
    (order,) = session.receive_data(encode_frame(_order("A", 8)), clock())
    assert session.sequence(order.req_seq) is ReqSeqCheck.NEW  # type: ignore[union-attr]
    assert session.last_req_seq == 8
    assert session.sequence(9) is ReqSeqCheck.NEW and session.last_req_seq == 9


def test_sequence_when_at_or_below_the_last_processed_then_duplicate_not_an_error_and_nothing_sent() -> None:
    clock = FakeClock()
    session = _v3(clock, last_req_seq=5)
    assert [session.sequence(n) for n in (1, 5, 3)] == [ReqSeqCheck.DUPLICATE] * 3
    assert session.last_req_seq == 5 and session.duplicates == 3 and session.errors == 0
    assert _out(session, clock) == [] and not session.is_closed()
    assert session.sequence(6) is ReqSeqCheck.NEW


def test_sequence_when_a_number_is_skipped_then_fatal_req_seq_gap_naming_the_number_expected() -> None:
    clock = FakeClock()
    session = _v3(clock, last_req_seq=5)
    assert session.sequence(6) is ReqSeqCheck.NEW
    assert session.sequence(9) is ReqSeqCheck.GAP
    (err,) = _out(session, clock)
    assert isinstance(err, Error) and (err.code, err.fatal) == ("REQ_SEQ_GAP", True)
    assert "req_seq 9 received, 7 expected" in err.text and "send again from req_seq 7" in err.text
    assert session.is_closed() and session.last_req_seq == 6
    assert session.receive_data(encode_frame(_order("B", 7)), clock()) == []  # nothing more is read


@pytest.mark.parametrize(
    "payload",
    [
        msgspec.msgpack.encode([2, "C1", "A", "V", "AAPL", "B", 1, 1]),  # req_seq omitted
        msgspec.msgpack.encode([2, "C1", "A", "V", "AAPL", "B", 1, 1, "0", "2", 0, 0]),  # req_seq 0
        msgspec.msgpack.encode([3, "C1", 0, "seven"]),  # not an integer: unreadable
    ],
    ids=["omitted", "zero", "wrong-type"],
)
def test_receive_when_version_3_request_has_no_req_seq_then_invalid_field_outside_the_sequence(
    payload: bytes,
) -> None:
    clock = FakeClock()
    session = _v3(clock, last_req_seq=0)
    (req,) = session.receive_data(_frame(payload), clock())
    assert isinstance(req, InvalidRequest) and (req.cl_ord_id, req.code, req.req_seq) == ("C1", "INVALID_FIELD", 0)
    assert "req_seq" in req.text
    assert session.errors == 1 and session.last_req_seq == 0


def test_receive_when_version_3_request_breaks_a_rule_then_invalid_request_keeps_its_req_seq() -> None:
    clock = FakeClock()
    session = _v3(clock, last_req_seq=0)
    bad_qty = msgspec.msgpack.encode([2, "C1", "A", "V", "AAPL", "B", -5, 1, "0", "2", 0, 1])
    bad_utf8 = b"\x9c\x02\xa2C2\xa1A\xa1V\xa2\xff\xfe\xa1B\x01\x01\xa10\xa12\x00\x02"  # symbol not UTF-8, req_seq 2
    too_long = encode_frame(_order("€" * 10, 3))[4:].replace(b"\xa4AAPL", b"\xda\x00\x21" + b"x" * 33)
    got = session.receive_data(_frame(bad_qty) + _frame(bad_utf8) + _frame(too_long), clock())
    assert all(isinstance(r, InvalidRequest) for r in got)
    assert [r.req_seq for r in got] == [1, 2, 3]  # type: ignore[union-attr]
    assert "`qty`" in got[0].text and "`symbol` is not valid UTF-8" in got[1].text  # type: ignore[union-attr]


def test_receive_when_version_2_request_carries_a_req_seq_then_ignored() -> None:
    clock = FakeClock()
    session = _active(clock, version=2)
    assert not session.sequenced
    (order,) = session.receive_data(encode_frame(_order("A", 0)), clock())
    assert isinstance(order, NewOrder)
    (extra,) = session.receive_data(encode_frame(_order("B", 42)), clock())  # an extra element a v2 session ignores
    assert isinstance(extra, NewOrder)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_receive_when_hello_asks_a_version_then_sequenced_only_from_version_3(version: int) -> None:
    clock = FakeClock()
    session = StrategySession(clock())
    session.receive_data(encode_frame(Hello("S1", version)), clock())
    assert session.protocol_version == version and session.sequenced is (version >= 3)


@pytest.mark.parametrize(
    ("qty", "got"),
    [({"a": 1}, "map"), (None, "nil"), (b"\x01", "bin"), ("5", "str"), (1.5, "float"), ([1], "array")],
    ids=["map", "nil", "bin", "str", "float", "array"],
)
def test_receive_when_field_has_wrong_messagepack_type_then_text_names_field_and_messagepack_types(
    qty: object, got: str
) -> None:
    clock = FakeClock()
    session = _v3(clock, last_req_seq=0)
    payload = msgspec.msgpack.encode([2, "C1", "A", "V", "AAPL", "B", qty, 1, "0", "2", 0, 1])
    (req,) = session.receive_data(_frame(payload), clock())
    assert isinstance(req, InvalidRequest) and (req.cl_ord_id, req.code, req.req_seq) == ("C1", "INVALID_FIELD", 1)
    assert req.text == f"Expected `int`, got `{got}` - at `qty`"


def test_receive_when_request_is_a_map_then_error_names_messagepack_types() -> None:
    clock = FakeClock()
    session = _v3(clock, last_req_seq=0)
    (err,) = session.receive_data(_frame(msgspec.msgpack.encode({"cl_ord_id": "C1"})), clock())
    assert isinstance(err, Error) and (err.code, err.fatal) == ("INVALID_MESSAGE", False)
    assert err.text == "frame 2: Expected `array`, got `map`; it is not a request: it takes no place in the sequence"
