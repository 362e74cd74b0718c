"""The session's answers to bad frames after the Hello, with golden payloads and a fake clock (protocol doc 7.2).

What an independent client needs to tell apart: which frames are answered by an id and whether they take
their ``req_seq``; which get a non-fatal Error; where the error budget ends.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.framing import (
    LENGTH_PREFIX,
    FrameSplitter,
    encode_frame,
    gateway_message_decoder,
    strategy_message_decoder,
)
from gateway.protocol.messages import Cancel, Error, GatewayMessage, Hello, MassCancel, NewOrder, Replace
from gateway.strategy_session import (
    DEFAULT_MAX_ERRORS,
    NO_PLACE,
    InvalidRequest,
    StrategySession,
    UnreadableRequest,
    describe_validation_error,
    lenient_req_seq,
)
from model.clock import FakeClock
from model.enums import Side


def _frame(payload: bytes) -> bytes:
    return LENGTH_PREFIX.pack(len(payload)) + payload


def _session(clock: FakeClock, version: int = 3, last_req_seq: int = 0) -> StrategySession:
    session = StrategySession(clock())
    session.receive_data(encode_frame(Hello("S1", version, 0, 1000)), clock())
    session.welcome(clock(), last_req_seq)
    return session


def _out(session: StrategySession, clock: FakeClock) -> list[GatewayMessage]:
    data = session.take_output(clock())
    return [gateway_message_decoder.decode(f) for f in FrameSplitter().feed(bytes(data or b""))]


@pytest.mark.parametrize(
    ("payload", "req_seq"),
    [
        (bytes.fromhex("9403a154 00 07 00"), 7),  # Cancel T, req_seq 7, one stray byte after the array
        (bytes.fromhex("9403a154 00 07 c1c1"), 7),  # two bytes that are never MessagePack
        (bytes.fromhex("9503a154 00 cd0100"), 256),  # 5 elements declared, 4 sent: cut short after req_seq
        (bytes.fromhex("dc0004 03a154 00 ce00010000 00"), 65536),  # array16, uint32 req_seq
        (bytes.fromhex("9403a2fffe 00 05"), 5),  # cl_ord_id not UTF-8: req_seq still read
        (bytes.fromhex("9403 81a16192c0c3 cb3ff8000000000000 09"), 9),  # a map and a float before it
        (bytes.fromhex("9403a154 00 ff"), 0),  # -1
        (bytes.fromhex("9403a154 00 a132"), 0),  # the string "2"
        (bytes.fromhex("9403a154 00 c0"), 0),  # nil
        (bytes.fromhex("9303a154 00 00"), 0),  # missing (3 elements), stray byte
        (bytes.fromhex("9403a154 c1 02"), 0),  # malformed before it
        (bytes.fromhex("9403a154 00 cd01"), 0),  # cut short inside it
        (bytes.fromhex("8103a154"), 0),  # not an array
        (b"", 0),
    ],
)
def test_lenient_req_seq_when_frame_does_not_decode_then_reads_what_it_can(payload: bytes, req_seq: int) -> None:
    assert lenient_req_seq(payload, 3) == req_seq


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.binary(max_size=300),
    lambda children: st.lists(children, max_size=20) | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=30,
)


@given(
    before=st.lists(_VALUES, min_size=2, max_size=2),
    req_seq=_VALUES,
    after=st.lists(_VALUES, max_size=3),
    stray=st.binary(max_size=8),
)
def test_lenient_req_seq_when_any_elements_before_and_stray_bytes_after_then_the_req_seq_the_array_holds(
    before: list[object], req_seq: object, after: list[object], stray: bytes
) -> None:
    """The hand-written skipper finds element 3 after any well-formed values, whatever follows the array."""
    # a Cancel (tag 3) holds req_seq at element 3: two values of any kind before it
    payload = msgspec.msgpack.encode([3, before[0], before[1], req_seq, *after]) + stray
    expected = req_seq if type(req_seq) is int and req_seq > 0 else 0
    assert lenient_req_seq(payload, 3) == expected


@given(st.binary(max_size=200), st.sampled_from([None, 1, 2, 3, 4, 5, 6, 7, 99]))
def test_lenient_req_seq_when_arbitrary_bytes_then_an_int_never_an_exception(payload: bytes, tag: int | None) -> None:
    value = lenient_req_seq(payload, tag)
    assert type(value) is int and value >= 0


def test_receive_when_v3_request_has_a_stray_byte_then_invalid_field_keeps_its_req_seq() -> None:
    clock = FakeClock()
    session = _session(clock, last_req_seq=4)
    (req,) = session.receive_data(_frame(bytes.fromhex("9403a154 00 05 00")), clock())
    assert isinstance(req, InvalidRequest)
    assert (req.kind, req.cl_ord_id, req.code, req.req_seq) == ("Cancel", "T", "INVALID_FIELD", 5)
    assert req.text.startswith("not valid MessagePack:") and "trailing characters" in req.text
    assert NO_PLACE not in req.text and session.errors == 1


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("9403a154 00 ff"),  # negative: the array decodes, req_seq breaks its rule
        bytes.fromhex("9403a154 00 a132 00"),  # a string, and a stray byte
        bytes.fromhex("9403a154 00 c0"),  # nil
        bytes.fromhex("9403a154 c1 02"),  # malformed before it
    ],
)
def test_receive_when_v3_request_req_seq_unreadable_then_text_says_it_takes_no_place(payload: bytes) -> None:
    clock = FakeClock()
    session = _session(clock)
    (req,) = session.receive_data(_frame(payload), clock())
    assert isinstance(req, InvalidRequest) and req.req_seq == 0 and req.text.endswith(NO_PLACE)


def test_receive_when_v3_request_id_and_req_seq_unreadable_then_error_says_it_takes_no_place() -> None:
    clock = FakeClock()
    session = _session(clock)
    no_seq, with_seq = session.receive_data(
        _frame(bytes.fromhex("9403 a0 00 ff")) + _frame(bytes.fromhex("9403 a0 00 01")), clock()
    )
    assert isinstance(no_seq, Error) and no_seq.code == "INVALID_MESSAGE" and no_seq.text.endswith(NO_PLACE)
    assert isinstance(with_seq, UnreadableRequest) and with_seq.req_seq == 1 and NO_PLACE not in with_seq.text


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("80"),  # an empty map
        bytes.fromhex("81a16101"),  # {"a": 1}
        bytes.fromhex("c0"),  # nil
        bytes.fromhex("90"),  # an empty array
        bytes.fromhex("a178"),  # a string
        bytes.fromhex("07"),  # a number
        bytes.fromhex("91a178"),  # an array whose first element is not a tag
    ],
    ids=["empty-map", "map", "nil", "empty-array", "string", "number", "no-tag"],
)
def test_receive_when_after_hello_frame_is_not_a_message_then_non_fatal_invalid_message(payload: bytes) -> None:
    clock = FakeClock()
    session = _session(clock)
    err, cancel = session.receive_data(_frame(payload) + encode_frame(Cancel("C1", 0, 1)), clock())
    assert isinstance(err, Error) and (err.code, err.fatal) == ("INVALID_MESSAGE", False)
    assert err.text.startswith("frame 2: ")  # the Hello was frame 1
    assert cancel == Cancel("C1", 0, 1) and not session.is_closed()


def test_error_budget_when_default_then_the_101st_error_is_the_last_non_fatal_one_then_fatal() -> None:
    clock = FakeClock()
    session = _session(clock, version=2)
    garbage = _frame(b"\xc1")
    first = session.receive_data(garbage * DEFAULT_MAX_ERRORS, clock())
    session.end_of_read()
    assert len(first) == 100 and session.pending_close is None and not session.is_closed()
    last = session.receive_data(garbage * 3, clock())  # the 101st is answered; what follows it is skipped silently
    assert [(e.code, e.fatal) for e in last] == [("BAD_FRAME", False)]  # type: ignore[union-attr]
    assert not session.is_closed()
    session.end_of_read()
    (fatal,) = _out(session, clock)[-1:]
    assert isinstance(fatal, Error) and (fatal.code, fatal.fatal) == ("TOO_MANY_ERRORS", True)
    assert "more than 100 protocol errors" in fatal.text and session.is_closed()


_DOC = (Path(__file__).resolve().parents[1] / "docs" / "strategy-protocol.md").read_text()
_REQUEST_ROW = re.compile(r"^\| ([1-5]) \| \*\*(\w+)\*\* \| (.*) \|$", re.MULTILINE)
_UNSIGNED = re.compile(r"`(\w+)` (?:uint|qty|price)\b")
_VALID = {
    "Hello": Hello("S1", 3, 0, 1000),
    "NewOrder": NewOrder("C1", "ACC1", "OUCH", "AAPL", Side.BUY, 100, 1_502_500, req_seq=1),
    "Cancel": Cancel("C1", 0, 1),
    "Replace": Replace("C1", 100, 1_502_500, 0, 1),
    "MassCancel": MassCancel(req_seq=1),
}


def _unsigned_fields() -> list[tuple[str, str]]:
    """Every (message, field) of the doc's request table (tags 1-5) typed ``uint``, ``qty`` or ``price``."""
    return [(name, field) for _, name, fields in _REQUEST_ROW.findall(_DOC) for field in _UNSIGNED.findall(fields)]


def test_unsigned_fields_when_read_from_the_doc_then_every_request_and_each_such_field() -> None:
    fields = _unsigned_fields()
    assert {name for name, _ in fields} == set(_VALID)
    assert ("Hello", "protocol_version") in fields and ("MassCancel", "req_seq") in fields and len(fields) == 14


@pytest.mark.parametrize(("message", "field"), _unsigned_fields())
@pytest.mark.parametrize("value", [-1, -(2**63), True], ids=["minus-1", "int64-min", "true"])
def test_decode_when_a_field_the_doc_calls_unsigned_is_negative_or_bool_then_refused_naming_it(
    message: str, field: str, value: int
) -> None:
    valid = _VALID[message]
    items = msgspec.msgpack.decode(msgspec.msgpack.encode(valid))
    items[type(valid).__struct_fields__.index(field) + 1] = value
    payload = msgspec.msgpack.encode(items)
    with pytest.raises(msgspec.ValidationError) as info:
        strategy_message_decoder.decode(payload)
    assert f"`{field}`" in describe_validation_error(items[0], str(info.value))
    if message == "Hello":  # as the first frame: a broken field, never UNSUPPORTED_VERSION (doc 7.1)
        clock = FakeClock()
        session = StrategySession(clock())
        assert session.receive_data(_frame(payload), clock()) == []
        (err,) = _out(session, clock)
        assert isinstance(err, Error) and (err.code, err.fatal) == ("BAD_HELLO", True) and f"`{field}`" in err.text
