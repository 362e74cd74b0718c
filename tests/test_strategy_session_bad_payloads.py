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
    NOT_A_REQUEST,
    InvalidRequest,
    StrategySession,
    UnreadableRequest,
    describe_validation_error,
    lenient_element,
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


def _filters(*values: object) -> bytes:
    """Three MassCancel filters, each encoded as MessagePack."""
    return b"".join(msgspec.msgpack.encode(value) for value in values)


_BAD_FILTERS: dict[str, bytes] = {
    "account-500-bytes": _filters("A" * 500, "", ""),
    "symbol-an-array": _filters("", "", ["x"]),
    "venue-a-map": _filters("", {"k": 1}, ""),
    "symbol-600-bytes-of-utf8": _filters("", "", "\u20ac" * 200),
    "account-nested-20000-deep": b"\x91" * 20_000 + b"\x90" + _filters("", ""),  # deeper than msgspec decodes
    "symbol-60000-small-ints": _filters("", "", list(range(100)) * 600),
}


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("stray", [b"", b"\xc1"], ids=["valid-msgpack", "stray-byte"])
@pytest.mark.parametrize("filters", list(_BAD_FILTERS.values()), ids=list(_BAD_FILTERS))
def test_receive_when_mass_cancel_filters_malformed_then_rejected_by_the_request_id_behind_them(
    filters: bytes, stray: bytes, version: int
) -> None:
    """Fails on the old code: answered with request_id '' (peek_elements stopped at the first filter it could not
    read, or after 416 bytes), which a version-2 client, with no req_seq, cannot match (rev58strat MEDIUM 2)."""
    clock = FakeClock()
    session = _session(clock, version=version)
    head = b"\x96\x05" if version == 3 else b"\x95\x05"
    payload = head + filters + msgspec.msgpack.encode("REQ-B") + (b"\x01" if version == 3 else b"") + stray
    assert len(payload) <= 65_536
    (req,) = session.receive_data(_frame(payload), clock())
    assert isinstance(req, InvalidRequest)
    assert (req.kind, req.cl_ord_id, req.code) == ("MassCancel", "REQ-B", "INVALID_FIELD")
    assert req.req_seq == (1 if version == 3 else 0) and session.errors == 1


@pytest.mark.parametrize(
    "request_id",
    ["R" * 33, "\u20ac" * 11, 7, ["REQ"], None],
    ids=["33-bytes", "33-bytes-of-utf8", "an-int", "an-array", "nil"],
)
def test_receive_when_mass_cancel_request_id_behind_bad_filters_is_unreadable_then_answered_with_empty_id(
    request_id: object,
) -> None:
    """An id the answer cannot carry (its ``request_id`` is at most 32 bytes) is never echoed: '' as before."""
    clock = FakeClock()
    session = _session(clock, version=2)
    (req,) = session.receive_data(_frame(msgspec.msgpack.encode([5, "A" * 500, "", "", request_id])), clock())
    assert isinstance(req, InvalidRequest)
    assert (req.kind, req.cl_ord_id, req.code) == ("MassCancel", "", "INVALID_FIELD")


@pytest.mark.parametrize(
    ("payload", "value"),
    [
        (msgspec.msgpack.encode([5, "A" * 500, [1, {"a": [2]}], b"bin", "REQ"]), b"REQ"),
        (msgspec.msgpack.encode([5, "", "", "", 42]), 42),
        (msgspec.msgpack.encode([5, "", "", "", "R" * 200]), None),  # longer than what is read
        (msgspec.msgpack.encode([5, "", "", ""]), None),  # missing
        (msgspec.msgpack.encode([5, "A" * 500, "", ""])[:-1], None),  # cut short before it
        (bytes.fromhex("95 05 a0 c1 a0 a152"), None),  # malformed before it
        (b"", None),
    ],
)
def test_lenient_element_when_elements_before_are_any_msgpack_then_reads_it(payload: bytes, value: object) -> None:
    assert lenient_element(payload, 4) == value


_SECOND_HELLOS = {
    "strategy-id-40-bytes": msgspec.msgpack.encode([1, "x" * 40, 3, 0, 1000]),
    "heartbeat-50": msgspec.msgpack.encode([1, "S1", 3, 0, 50]),
    "strategy-id-20000-control-chars": msgspec.msgpack.encode([1, "\x01" * 20_000, 3, 0, 1000]),
    "version-9-heartbeat-50": msgspec.msgpack.encode([1, "S1", 9, 0, 50]),
    "tag-only": msgspec.msgpack.encode([1]),
    "strategy-id-not-utf8": bytes.fromhex("9501 a2fffe 03 00 cd03e8"),
    "stray-byte": msgspec.msgpack.encode([1, "S1", 3, 0, 1000]) + b"\xc1",
    "malformed-after-tag": bytes.fromhex("9501 c1"),
}


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("payload", list(_SECOND_HELLOS.values()), ids=list(_SECOND_HELLOS))
def test_receive_when_second_hello_breaks_a_rule_then_already_logged_in_like_any_second_hello(
    payload: bytes, version: int
) -> None:
    """Fails on the old code: INVALID_MESSAGE (or BAD_FRAME), where doc 7.2 and 8.6 say a second Hello gets
    ALREADY_LOGGED_IN (rev58strat LOW 3). Its fields are not read: it is ignored, whatever they hold."""
    clock = FakeClock()
    session = _session(clock, version=version)
    (well_formed,) = session.receive_data(encode_frame(Hello("S1", version, 0, 1000)), clock())
    err, cancel = session.receive_data(_frame(payload) + encode_frame(Cancel("C1", 0, 1)), clock())
    assert isinstance(err, Error) and (err.code, err.fatal) == ("ALREADY_LOGGED_IN", False), err
    assert err == well_formed and err.text.endswith(NOT_A_REQUEST) == (version == 3)
    assert cancel == Cancel("C1", 0, 1) and session.errors == 2 and not session.is_closed()


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
