"""BOE v2 codec: every capture and worked example byte for byte, hot paths, errors as data, properties."""

from __future__ import annotations

import struct
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.boe.golden import CAPTURES, LOGIN_REQUEST_EXAMPLE, NEW_ORDER_EXAMPLE, hexb, text
from venues.boe import codec
from venues.boe.codec import (
    CANCEL_ORDER_TABLE,
    INBOUND_LAYOUTS,
    MODIFY_ORDER_TABLE,
    NEW_ORDER_TABLE,
    OUTBOUND_LAYOUTS,
    RETURN_TABLE,
    BoeSplitter,
    CancelPacker,
    ModifyPacker,
    NewOrderPacker,
    ReturnDecoder,
    ack_core,
    cancelled_core,
    decode_inbound,
    decode_outbound,
    decode_outbound_generic,
    encode_message,
    execution_core,
    message_header,
    return_bitfields_of,
    select_return_fields,
)
from venues.boe.errors import BAD_BITFIELD, BAD_FRAME, BAD_GROUP, BAD_LENGTH, TRUNCATED, UNKNOWN_TYPE, DecodeError
from venues.boe.messages import (
    CANCEL_ORDER_FIELDS,
    MODIFY_ORDER_FIELDS,
    NEW_ORDER_FIELDS,
    ORDER_ACKNOWLEDGMENT,
    ORDER_CANCELLED,
    ORDER_EXECUTION,
    RETURN_FIELDS,
    CancelOrder,
    CancelOrderFields,
    ClientHeartbeat,
    LoginRequest,
    LoginResponse,
    Logout,
    LogoutRequest,
    ModifyOrder,
    ModifyOrderFields,
    NewOrder,
    NewOrderFields,
    OrderAcknowledgment,
    OrderCancelled,
    OrderExecution,
    OrderRejected,
    ReplayComplete,
    ReturnBitfields,
    ReturnFields,
    ServerHeartbeat,
    UnitSequences,
    UnknownParamGroup,
)


def _captured_login() -> LoginRequest:
    login = decode_inbound(CAPTURES["LOGIN_REQUEST"])
    assert isinstance(login, LoginRequest)
    return login


CAPTURED_LOGIN = _captured_login()
NEGOTIATED = return_bitfields_of(CAPTURED_LOGIN.param_groups)
"""The return bitfields the captured session asked for (and got)."""


# ---- the captures, byte for byte -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_capture_when_decoded_and_encoded_again_then_same_bytes(name: str) -> None:
    raw = CAPTURES[name]
    decoded = _decode_any(raw)
    assert not isinstance(decoded, DecodeError), decoded
    assert encode_message(decoded) == raw


def test_captured_login_request_when_decoded_then_reference_10_2_fields() -> None:
    login = CAPTURED_LOGIN
    assert (login.session_sub_id, login.username, login.password) == ("0010", "BATS", "test")
    assert len(login.param_groups) == 17
    assert login.param_groups[0] == UnitSequences(0, ((1, 40),))
    assert NEGOTIATED[0x25] == hexb("fd 41 df 00 ff 18 01 74")
    assert NEGOTIATED[0x2C] == hexb("fd 41 df 00 00 04 00 00")
    assert NEGOTIATED[0x2D] == hexb("00 41 00 00 00 00 00 00")
    assert all(len(b) == 8 for b in NEGOTIATED.values())


def test_captured_login_response_when_decoded_then_units_and_echoed_groups() -> None:
    response = decode_outbound(CAPTURES["LOGIN_RESPONSE"])
    assert isinstance(response, LoginResponse)
    assert len(CAPTURES["LOGIN_RESPONSE"]) == 311
    assert (response.status, response.text, response.no_unspecified_unit_replay) == ("A", "Login Accepted", 0)
    assert response.last_received_sequence == 30
    assert response.units == ((1, 46), (2, 0), (3, 0))
    assert response.param_groups == CAPTURED_LOGIN.param_groups


def test_captured_new_order_when_decoded_then_reference_10_4_fields() -> None:
    order = decode_inbound(CAPTURES["NEW_ORDER"])
    assert order == NewOrder(
        0,
        0,
        "1409538419471684",
        "1",
        100,
        NewOrderFields(
            clearing_firm="CFAA",
            price=200_000,
            ord_type="2",
            time_in_force="0",
            symbol="A",
            capacity="P",
            display_indicator="S",
            attributed_quote="N",
            ext_exec_inst="N",
        ),
        6,
    )


def test_captured_cancel_and_modify_when_decoded_then_reference_5_2_and_5_3_fields() -> None:
    assert decode_inbound(CAPTURES["CANCEL_ORDER"]) == CancelOrder(
        0, 0, "1409538419471693", CancelOrderFields("BATS"), 2
    )
    modify = decode_inbound(CAPTURES["MODIFY_ORDER"])
    assert isinstance(modify, ModifyOrder)
    assert modify.optional == ModifyOrderFields(clearing_firm="BATS", order_qty=200, price=200_000)
    assert (modify.cl_ord_id, modify.orig_cl_ord_id, modify.bitfield_count) == (
        "1409538419471689",
        "1409538419471687",
        2,
    )


def test_captured_ack_when_decoded_then_144_bytes_of_requested_fields() -> None:
    raw = CAPTURES["ORDER_ACK"]
    ack = decode_outbound(raw)
    assert isinstance(ack, OrderAcknowledgment)
    assert len(raw) == 200 and len(raw) - 56 == 144
    assert (ack.matching_unit, ack.sequence) == (1, 53)
    assert ack.transaction_time == 1_409_538_502_854_120_000  # 2014-09-01 02:28:22.854120 UTC
    assert ack.cl_ord_id == "1409538419471693"
    assert ack.order_id == int.from_bytes(hexb("1d 10 74 e9 ea 9e 68 03"), "little")
    assert ack.bitfield_count == 8
    fields = ack.optional
    assert (fields.side, fields.exec_inst, fields.ord_type, fields.symbol, fields.capacity) == ("1", "", "2", "A", "P")
    assert (fields.account, fields.clearing_firm, fields.expire_time) == ("", "BATS", 0)  # requested, zero-filled
    assert (fields.rout_strategy, fields.route_delivery_method, fields.sub_liquidity_indicator) == ("ROUT", "RTI", "S")


def test_captured_execution_when_decoded_then_100_at_20_01() -> None:
    execution = decode_outbound(CAPTURES["ORDER_EXECUTION"])
    assert isinstance(execution, OrderExecution)
    assert len(CAPTURES["ORDER_EXECUTION"]) == 141
    assert (execution.last_shares, execution.last_px, execution.leaves_qty) == (100, 200_100, 0)
    assert (execution.base_liquidity_indicator, execution.sub_liquidity_indicator) == ("A", "S")
    assert execution.contra_broker == "BATS"
    assert execution.optional.contra_capacity == "P"  # RBF6 0x04 (reference §11 item 7)


def test_captured_reject_when_decoded_then_unit_0_sequence_0_and_text() -> None:
    reject = decode_outbound(CAPTURES["ORDER_REJECTED"])
    assert isinstance(reject, OrderRejected)
    assert (reject.matching_unit, reject.sequence, reject.reason) == (0, 0, "A")
    assert reject.text == "ClearingFirm not allowed (for trading firm CFAA)"


def test_captured_cancelled_when_decoded_then_replayed_sequence_46() -> None:
    cancelled = decode_outbound(CAPTURES["ORDER_CANCELLED"])
    assert isinstance(cancelled, OrderCancelled)
    assert (cancelled.matching_unit, cancelled.sequence, cancelled.reason) == (1, 46, "A")


# ---- worked examples -----------------------------------------------------------------------------


def test_login_request_example_when_encoded_then_reference_10_1_bytes() -> None:
    login = LoginRequest(
        "0001",
        "TEST",
        "TESTING",
        (UnitSequences(0, ((1, 0),)), ReturnBitfields(0x25, hexb("35 41"))),
    )
    assert encode_message(login) == LOGIN_REQUEST_EXAMPLE
    assert decode_inbound(LOGIN_REQUEST_EXAMPLE) == login


NEW_ORDER_10_3 = NewOrder(
    0,
    1,
    "ORD0001",
    "1",
    100,
    NewOrderFields(price=123_400, ord_type="2", time_in_force="0", symbol="MSFT", capacity="A"),
)


def test_new_order_example_when_encoded_then_reference_10_3_bytes() -> None:
    assert encode_message(NEW_ORDER_10_3) == NEW_ORDER_EXAMPLE
    assert decode_inbound(NEW_ORDER_EXAMPLE) == msgspec.structs.replace(NEW_ORDER_10_3, bitfield_count=2)


def test_header_only_messages_when_encoded_then_ten_bytes() -> None:
    assert encode_message(ClientHeartbeat()) == hexb("BA BA 08 00 03 00 00 00 00 00")
    assert encode_message(LogoutRequest()) == hexb("BA BA 08 00 02 00 00 00 00 00")
    assert encode_message(ServerHeartbeat()) == CAPTURES["SERVER_HEARTBEAT"]
    assert encode_message(ReplayComplete()) == CAPTURES["REPLAY_COMPLETE"]


def test_logout_when_encoded_then_field_by_field() -> None:
    logout = Logout("U", "bye", 30, ((1, 46), (2, 0)))
    raw = encode_message(logout)
    assert raw == hexb(
        "BA BA",
        f"{len(raw) - 2:02x} 00",
        "08 00 00 00 00 00",
        "55",
        text("bye", 60),
        "1e 00 00 00",
        "02",
        "01 2e 00 00 00",
        "02 00 00 00 00",
    )
    assert decode_outbound(raw) == logout


def test_prices_when_encoded_then_signed_little_endian_4_decimals() -> None:
    raw = encode_message(NewOrder(0, 0, "X", "1", 1, NewOrderFields(peg_difference=-123_400)))
    assert raw[-8:] == hexb("F8 1D FE FF FF FF FF FF")  # -12.34, the spec's Signed Binary Price example


# ---- hot encoders -----------------------------------------------------------------------------------


def test_new_order_packer_when_fields_of_10_3_then_reference_bytes() -> None:
    packer = NewOrderPacker(("price", "ord_type", "time_in_force", "symbol", "capacity"))
    buf = bytearray(b"prefix")
    packer.pack(buf, 1, b"ORD0001", b"1", 100, 123_400, b"2", b"0", b"MSFT", b"A")
    assert bytes(buf) == b"prefix" + NEW_ORDER_EXAMPLE
    assert packer.size == len(NEW_ORDER_EXAMPLE)


def test_new_order_packer_when_fields_given_out_of_order_then_wire_order_used() -> None:
    packer = NewOrderPacker(
        [
            *("ext_exec_inst", "capacity", "symbol", "price", "clearing_firm", "ord_type", "time_in_force"),
            *("display_indicator", "attributed_quote"),
        ],
        bitfield_count=6,
    )
    assert packer.fields == (
        "clearing_firm",
        "price",
        "ord_type",
        "time_in_force",
        "symbol",
        "capacity",
        "display_indicator",
        "attributed_quote",
        "ext_exec_inst",
    )
    buf = bytearray()
    packer.pack(buf, 0, b"1409538419471684", b"1", 100, b"CFAA", 200_000, b"2", b"0", b"A", b"P", b"S", b"N", b"N")
    assert bytes(buf) == CAPTURES["NEW_ORDER"]


def test_cancel_and_modify_packers_when_packed_then_captured_bytes() -> None:
    buf = bytearray()
    CancelPacker(("clearing_firm",), bitfield_count=2).pack(buf, 0, b"1409538419471693", b"BATS")
    assert bytes(buf) == CAPTURES["CANCEL_ORDER"]
    buf = bytearray()
    ModifyPacker(("clearing_firm", "order_qty", "price"), 2).pack(
        buf, 0, b"1409538419471689", b"1409538419471687", b"BATS", 200, 200_000
    )
    assert bytes(buf) == CAPTURES["MODIFY_ORDER"]


@pytest.mark.parametrize(
    ("packer", "args"),
    [
        (NewOrderPacker(("price", "symbol", "capacity")), (1, b"ORD0001", b"1", 100, 123_400, b"MSFT", 7)),
        (NewOrderPacker(("price", "symbol")), (2**32, b"ORD0001", b"1", 100, 123_400, b"MSFT")),
        (CancelPacker(("clearing_firm",)), (1, b"ORD0001", 7)),
        (ModifyPacker(("order_qty", "price")), (1, b"ORD0001.1", b"ORD0001", -1, 100)),
    ],
)
def test_packers_when_a_value_cannot_be_carried_then_raise_and_leave_the_buffer_as_it_was(
    packer: Any, args: tuple[object, ...]
) -> None:
    buf = bytearray(b"before")
    with pytest.raises(struct.error):
        packer.pack(buf, *args)
    assert buf == b"before"  # before (net49): a zeroed message was left for the next flush to send


def test_cancel_packer_when_no_fields_then_zero_bitfields() -> None:
    buf = bytearray()
    CancelPacker().pack(buf, 7, b"C1")
    assert decode_inbound(bytes(buf)) == CancelOrder(0, 7, "C1")
    assert len(buf) == 31


def test_packer_when_field_unknown_then_key_error() -> None:
    with pytest.raises(KeyError, match="no optional field 'colour'"):
        NewOrderPacker(("colour",))


# ---- hot decoders -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ORDER_ACK", "ORDER_EXECUTION", "ORDER_CANCELLED"])
def test_return_decoder_when_negotiated_bitfields_then_one_struct_and_same_as_generic(name: str) -> None:
    raw = CAPTURES[name]
    decoder = ReturnDecoder(NEGOTIATED)
    assert decoder._compiled[raw[4]].size == len(raw)  # the fast path applies
    assert decoder.decode(raw) == decode_outbound_generic(raw)
    assert decoder.decode(memoryview(raw)) == decode_outbound_generic(raw)


def test_return_decoder_when_other_bitfields_then_falls_back_to_generic() -> None:
    decoder = ReturnDecoder({ORDER_ACKNOWLEDGMENT: b"\x01"})
    raw = CAPTURES["ORDER_ACK"]
    assert decoder.decode(raw) == decode_outbound_generic(raw)
    assert decoder.decode(CAPTURES["LOGIN_RESPONSE"]) == decode_outbound_generic(CAPTURES["LOGIN_RESPONSE"])


def test_return_decoder_when_negotiated_bits_unknown_then_value_error() -> None:
    with pytest.raises(ValueError, match="unknown bits"):
        ReturnDecoder({ORDER_EXECUTION: b"\x00\x80"})


def test_cores_when_captures_then_fixed_parts() -> None:
    assert ack_core(CAPTURES["ORDER_ACK"]) == (
        1,
        53,
        b"1409538419471693\x00\x00\x00\x00",
        int.from_bytes(hexb("1d 10 74 e9 ea 9e 68 03"), "little"),
    )
    unit, seq, clid, exec_id, shares, px, leaves, base, sub = execution_core(CAPTURES["ORDER_EXECUTION"])  # type: ignore[misc]
    assert (unit, seq, clid.rstrip(b"\x00"), shares, px, leaves, base, sub) == (
        1,
        57,
        b"1409538419471695",
        100,
        200_100,
        0,
        b"A",
        b"S",
    )
    assert exec_id == 146_932_807_687
    assert cancelled_core(CAPTURES["ORDER_CANCELLED"]) == (1, 46, b"1409537237077786\x00\x00\x00\x00", b"A")


def test_cores_when_wrong_type_or_bytes_then_decode_error() -> None:
    assert isinstance(ack_core(CAPTURES["ORDER_EXECUTION"]), DecodeError)
    assert ack_core(CAPTURES["ORDER_ACK"][:30]) == DecodeError(
        TRUNCATED, "Order Acknowledgment: 30 bytes, needs at least 48"
    )
    broken = bytearray(CAPTURES["ORDER_CANCELLED"])
    broken[0] = 0
    assert isinstance(cancelled_core(bytes(broken)), DecodeError)
    short = bytearray(CAPTURES["ORDER_ACK"][:48])
    short[2:4] = (46).to_bytes(2, "little")
    short[47] = 8  # 8 bitfields announced, none there
    assert ack_core(bytes(short)) == DecodeError(TRUNCATED, "Order Acknowledgment: 8 bitfields announced, 0 bytes left")


def test_message_header_when_capture_then_type_unit_sequence() -> None:
    assert message_header(CAPTURES["ORDER_EXECUTION"]) == (ORDER_EXECUTION, 1, 57)
    assert message_header(b"\xba\xba\x09") == DecodeError(TRUNCATED, "3 bytes, a message needs at least 10")


def test_select_return_fields_when_value_missing_then_zero_filled_and_unrequested_dropped() -> None:
    available = ReturnFields(side="1", price=100, symbol="AAPL", leaves_qty=5)
    chosen = select_return_fields(hexb("05 01 00 00 02"), available)  # Side, Price, Symbol, LeavesQty
    assert chosen == ReturnFields(side="1", price=100, symbol="AAPL", leaves_qty=5)
    chosen = select_return_fields(hexb("01 00 01"), available)  # Side, Account (missing)
    assert chosen == ReturnFields(side="1", account="")


# ---- errors are data ------------------------------------------------------------------------------


def framed(message_type: int, *body: str) -> bytes:
    """Return a message of ``message_type`` around ``body`` (hex fragments), MessageLength computed."""
    raw = hexb(*body)
    return (
        hexb("BA BA", f"{len(raw) + 8:04x}")[:2]
        + (len(raw) + 8).to_bytes(2, "little")
        + bytes([message_type, 0, 0, 0, 0, 0])
        + raw
    )


ERRORS: list[tuple[str, bytes, str, str]] = [
    ("empty", b"", TRUNCATED, "0 bytes, a message needs at least 10"),
    ("bad-start", hexb("BB BA 08 00 03 00 00 00 00 00"), BAD_FRAME, "StartOfMessage is bb ba, not ba ba"),
    ("length", hexb("BA BA 09 00 03 00 00 00 00 00"), BAD_LENGTH, "MessageLength 9 but 10 bytes"),
    ("type", hexb("BA BA 08 00 7F 00 00 00 00 00"), UNKNOWN_TYPE, "unknown member-to-Cboe message type 0x7F"),
    ("heartbeat-body", hexb("BA BA 09 00 03 00 00 00 00 00 00"), BAD_LENGTH, "Client Heartbeat: 11 bytes"),
    (
        "unknown-bit",
        framed(0x39, text("C", 20), "01 02"),
        BAD_BITFIELD,
        "Cancel Order: bitfield 1 sets unknown bits 0x02",
    ),
    (
        "field-past-end",
        framed(0x39, text("C", 20), "01 01"),
        TRUNCATED,
        "Cancel Order: optional field clearing_firm runs past the end",
    ),
    (
        "trailing",
        framed(0x39, text("C", 20), "00 FF"),
        BAD_LENGTH,
        "Cancel Order: 1 bytes after the optional fields",
    ),
    (
        "bitfields-past-end",
        framed(0x39, text("C", 20), "05 00"),
        TRUNCATED,
        "Cancel Order: 5 bitfields announced, 1 bytes left",
    ),
    ("login-short", hexb("BA BA 0A 00 37 00 00 00 00 00 00 00"), TRUNCATED, "Login Request: 12 bytes, needs 29"),
    (
        "group-length",
        framed(0x37, "00" * 18, "01 02 00 80"),
        BAD_GROUP,
        "Login Request: parameter group 1 has ParamGroupLength 2",
    ),
    (
        "return-group-length",
        framed(0x37, "00" * 18, "01 07 00 81 25 03 00 00"),
        BAD_GROUP,
        "Login Request: Return Bitfields group length 7 disagrees",
    ),
]


@pytest.mark.parametrize(("raw", "kind", "text_start"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_decode_inbound_when_bytes_are_bad_then_decode_error(raw: bytes, kind: str, text_start: str) -> None:
    result = decode_inbound(raw)
    assert isinstance(result, DecodeError)
    assert result.kind == kind
    assert result.text.startswith(text_start), result.text


def test_decode_outbound_when_inbound_type_then_unknown_type() -> None:
    assert decode_outbound(CAPTURES["CLIENT_HEARTBEAT"]) == DecodeError(
        UNKNOWN_TYPE, "unknown Cboe-to-member message type 0x03"
    )


def test_unknown_param_group_when_decoded_then_kept_raw() -> None:
    login = LoginRequest("1", "U", "P", (UnknownParamGroup(0x90, b"\x01\x02"),))
    raw = encode_message(login)
    assert decode_inbound(raw) == login


def test_encode_when_value_too_long_then_value_error() -> None:
    with pytest.raises(ValueError, match="longer than 20 bytes"):
        encode_message(NewOrder(0, 0, "X" * 21, "1", 1))
    with pytest.raises(ValueError, match="New Order"):
        encode_message(NewOrder(0, 0, "X", "1", -1))
    with pytest.raises(ValueError, match="symbol"):
        encode_message(NewOrder(0, 0, "X", "1", 1, NewOrderFields(symbol="TOOLONGSYM")))


# ---- framing -------------------------------------------------------------------------------------------


def test_splitter_when_fed_byte_by_byte_then_every_message_once() -> None:
    stream = b"".join(CAPTURES.values())
    splitter = BoeSplitter()
    out: list[bytes] = []
    for i in range(len(stream)):
        out.extend(bytes(m) for m in splitter.feed(stream[i : i + 1]))
    assert out == list(CAPTURES.values())
    assert splitter.buffered == 0 and splitter.error is None


def test_splitter_when_start_of_message_wrong_then_error_and_nothing_more() -> None:
    splitter = BoeSplitter()
    good = CAPTURES["SERVER_HEARTBEAT"]
    assert [bytes(m) for m in splitter.feed(good + b"\x00\x01" + good)] == [good]
    assert splitter.error == DecodeError(BAD_FRAME, "StartOfMessage 00 01 at byte 10")
    assert splitter.feed(good) == []
    splitter.reset()
    assert [bytes(m) for m in splitter.feed(good)] == [good]


def test_splitter_when_length_below_8_then_error() -> None:
    splitter = BoeSplitter()
    assert splitter.feed(hexb("BA BA 07 00 03 00")) == []
    assert splitter.error == DecodeError(BAD_FRAME, "MessageLength 7 below 8")


# ---- properties ------------------------------------------------------------------------------------------

_PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


def _value(fmt: str) -> st.SearchStrategy[Any]:
    if fmt.endswith("s"):
        return st.text(_PRINTABLE, max_size=int(fmt[:-1] or 1))
    bits = {"B": 8, "H": 16, "I": 32, "Q": 64}
    if fmt == "q":
        return st.integers(-(2**63), 2**63 - 1)
    return st.integers(0, 2 ** bits[fmt] - 1)


def _optional(table: codec.OptionalTable) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({}, optional={f.name: _value(f.fmt) for f in table.fields}).map(
        lambda values: table.cls(**values)
    )


def _message(layout: Any) -> st.SearchStrategy[Any]:
    fixed = [_value(fmt) for _, fmt in layout.fields]
    return st.tuples(
        st.integers(0, 255), st.integers(0, 2**32 - 1), *fixed, _optional(layout.table), st.integers(0, 20)
    ).map(lambda args: layout.cls(*args))


_APPLICATION = st.one_of(*(_message(layout) for layout in INBOUND_LAYOUTS + OUTBOUND_LAYOUTS))
_UNITS = st.lists(st.tuples(st.integers(0, 255), st.integers(0, 2**32 - 1)), max_size=6).map(tuple)
_GROUPS = st.lists(
    st.one_of(
        st.builds(UnitSequences, st.integers(0, 1), _UNITS),
        st.builds(ReturnBitfields, st.integers(0x24, 0x2D), st.binary(max_size=17)),
        st.builds(UnknownParamGroup, st.integers(0x82, 0xFF), st.binary(max_size=20)),
    ),
    max_size=5,
).map(tuple)
_TEXT4 = st.text(_PRINTABLE, max_size=4)
_SESSION = st.one_of(
    st.builds(LoginRequest, _TEXT4, _TEXT4, st.text(_PRINTABLE, max_size=10), _GROUPS),
    st.builds(
        LoginResponse,
        st.text(_PRINTABLE, max_size=1),
        st.text(_PRINTABLE, max_size=60),
        st.integers(0, 255),
        st.integers(0, 2**32 - 1),
        _UNITS,
        _GROUPS,
    ),
    st.builds(
        Logout, st.text(_PRINTABLE, max_size=1), st.text(_PRINTABLE, max_size=60), st.integers(0, 2**32 - 1), _UNITS
    ),
    st.sampled_from([LogoutRequest(), ClientHeartbeat(), ServerHeartbeat(), ReplayComplete()]),
)


def _normalised(message: Any) -> Any:
    """Return ``message`` with the bitfield count the encoder sends (at least what its fields need)."""
    if not hasattr(message, "bitfield_count"):
        return message
    table = codec._BY_CLASS[type(message)].table
    needed = max([0, *(f.byte for f in table.fields if getattr(message.optional, f.name) is not None)])
    return msgspec.structs.replace(message, bitfield_count=max(needed, message.bitfield_count))


def _decode_any(raw: bytes) -> Any:
    decoded = decode_inbound(raw)
    return decode_outbound(raw) if isinstance(decoded, DecodeError) and decoded.kind == UNKNOWN_TYPE else decoded


@settings(max_examples=400)
@given(message=st.one_of(_APPLICATION, _SESSION))
def test_any_message_when_encoded_then_decodes_to_itself(message: Any) -> None:
    raw = encode_message(message)
    assert len(raw) == int.from_bytes(raw[2:4], "little") + 2
    assert _decode_any(raw) == _normalised(message)


@settings(max_examples=300)
@given(
    layout=st.sampled_from([layout for layout in OUTBOUND_LAYOUTS]),
    data=st.data(),
)
def test_return_decoder_when_random_negotiated_set_then_same_as_generic(layout: Any, data: st.DataObject) -> None:
    message = data.draw(_message(layout))
    negotiated = RETURN_TABLE.bitfields_of(
        [f.name for f in RETURN_TABLE.fields if getattr(message.optional, f.name) is not None],
        message.bitfield_count,
    )
    raw = encode_message(message)
    decoder = ReturnDecoder(
        {ORDER_ACKNOWLEDGMENT: negotiated, ORDER_EXECUTION: negotiated, ORDER_CANCELLED: negotiated}
    )
    assert decoder.decode(raw) == decode_outbound_generic(raw) == _normalised(message)


@settings(max_examples=500)
@given(raw=st.binary(max_size=400))
def test_decoders_when_random_bytes_then_never_raise(raw: bytes) -> None:
    for decode in (decode_inbound, decode_outbound, ReturnDecoder(NEGOTIATED).decode):
        assert decode(raw) is not None
    for core in (ack_core, execution_core, cancelled_core, message_header):
        assert core(raw) is not None
    splitter = BoeSplitter()
    for view in splitter.feed(raw[:7]) + splitter.feed(raw[7:]):
        assert _decode_any(bytes(view)) is not None


@settings(max_examples=300)
@given(raw=st.binary(min_size=1, max_size=120), prefix=st.sampled_from(list(CAPTURES.values())))
def test_decoders_when_capture_with_random_tail_then_never_raise(raw: bytes, prefix: bytes) -> None:
    framed = bytearray(prefix[:10] + raw)
    framed[2:4] = (len(framed) - 2).to_bytes(2, "little")
    for decode in (decode_inbound, decode_outbound, ReturnDecoder(NEGOTIATED).decode):
        assert decode(bytes(framed)) is not None


def test_tables_when_listed_then_match_reference_sizes() -> None:
    sizes = {f.name: struct_size(f.fmt) for f in NEW_ORDER_FIELDS}
    assert sizes["clearing_firm"] == 4 and sizes["echo_text"] == 64 and sizes["expire_time"] == 8
    assert [f.name for f in CANCEL_ORDER_FIELDS] == ["clearing_firm"]
    assert [f.name for f in MODIFY_ORDER_FIELDS][:3] == ["clearing_firm", "order_qty", "price"]
    assert {f.name: struct_size(f.fmt) for f in RETURN_FIELDS}["orig_cl_ord_id"] == 20
    for table in (NEW_ORDER_TABLE, CANCEL_ORDER_TABLE, MODIFY_ORDER_TABLE, RETURN_TABLE):
        assert table.bitfields_of(()) == b""


def struct_size(fmt: str) -> int:
    import struct

    return struct.calcsize("<" + fmt)


# ---- spec 2.3.7's own examples (docs/venues/boe.md, "Sources") -----------------------------------------

SPEC_LOGIN_GROUPS = (
    UnitSequences(1, ((1, 113_482), (2, 0), (4, 41_337))),
    ReturnBitfields(0x25, hexb("00 41 05")),
    ReturnBitfields(0x2C, hexb("00 41 07 00 40 00 01")),
)


def test_spec_237_login_request_example_when_encoded_then_67_byte_message() -> None:
    raw = encode_message(LoginRequest("0001", "TEST", "TESTING", SPEC_LOGIN_GROUPS))
    assert raw == hexb(
        "BA BA 43 00 37 00 00 00 00 00",
        "30 30 30 31 54 45 53 54 54 45 53 54 49 4E 47 00 00 00 03",
        "14 00 80 01 03 01 4A BB 01 00 02 00 00 00 00 04 79 A1 00 00",
        "08 00 81 25 03 00 41 05",
        "0C 00 81 2C 07 00 41 07 00 40 00 01",
    )


def test_spec_237_login_response_example_when_decoded_then_136_byte_length_and_echoed_groups() -> None:
    raw = hexb(
        "BA BA 88 00 24 00 00 00 00 00 41",
        text("Accepted", 60),
        "01 54 4A 02 00 04 01 4A BB 01 00 02 00 00 00 00 02 00 00 00 00 02 79 A1 00 00",  # units as printed
        "03",
        "14 00 80 01 03 01 4A BB 01 00 02 00 00 00 00 04 79 A1 00 00",
        "08 00 81 25 03 00 41 05",
        "0C 00 81 2C 07 00 41 07 00 40 00 01",
    )
    response = decode_outbound(raw)
    assert response == LoginResponse(
        "A", "Accepted", 1, 150_100, ((1, 113_482), (2, 0), (2, 0), (2, 41_337)), SPEC_LOGIN_GROUPS
    )
    assert encode_message(response) == raw
