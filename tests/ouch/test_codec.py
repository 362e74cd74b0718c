"""OUCH 5.0 messages: golden bytes from the rev 1.04 tables, round trips, hot paths, fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.ouch.golden import ORN_1234567, PRICE_150_25, TS_0930, TS_0930_NS, hexb, text
from venues.ouch import codec
from venues.ouch.codec import (
    INBOUND_LAYOUTS,
    OUTBOUND_LAYOUTS,
    decode_inbound,
    decode_outbound,
    decode_outbound_generic,
    encode_message,
)
from venues.ouch.errors import BAD_APPENDAGE, BAD_ENUM, BAD_LENGTH, TRUNCATED, UNKNOWN_TYPE, DecodeError
from venues.ouch.messages import (
    AccountQuery,
    AccountQueryResponse,
    AiqCanceled,
    BrokenTrade,
    CancelOrder,
    CancelPending,
    CancelReject,
    DisableOrderEntry,
    DisableOrderEntryResponse,
    EnableOrderEntry,
    EnableOrderEntryResponse,
    EnterOrder,
    InboundMessage,
    MassCancel,
    MassCancelResponse,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExecuted,
    OrderModified,
    OrderRejected,
    OrderReplaced,
    OrderRestated,
    OutboundMessage,
    PriorityUpdate,
    ReplaceOrder,
    SystemEvent,
)
from venues.ouch.options import NO_OPTIONS, TAGS, Options, decode_options, encode_option, encode_options
from venues.ouch.soupbin import SoupSplitter, encode_unsequenced

PX = 1_502_500
CLID = text("ORD1", 14)

ENTER_WORKED_EXAMPLE = hexb(
    "00 36 55 4F 00 00 00 01 42 00 00 00 64 41 41 50",
    "4C 20 20 20 20 00 00 00 00 00 16 ED 24 30 59 41",
    "4E 4E 4F 52 44 31 20 20 20 20 20 20 20 20 20 20",
    "00 06 05 03 00 00 00 64",
)
"""Worked example: buy 100 AAPL @ 150.25 Day, visible, agency, MinQty 100, in a 56-byte U packet."""

ENTER_EXAMPLE = EnterOrder(1, "B", 100, "AAPL", PX, "0", "Y", "A", "N", "N", "ORD1", Options(min_qty=100))

INBOUND_GOLDEN: list[tuple[str, InboundMessage, bytes]] = [
    (
        "enter-no-options",
        EnterOrder(7, "T", 500, "MSFT", PX, "3", "N", "P", "Y", "O", "C-7"),
        hexb(
            "4F",  # 0 Type
            "00 00 00 07",  # 1 UserRefNum
            "54",  # 5 Side T
            "00 00 01 F4",  # 6 Quantity 500
            text("MSFT", 8),  # 10 Symbol
            PRICE_150_25,  # 18 Price
            "33",  # 26 TIF IOC
            "4E",  # 27 Display N
            "50",  # 28 Capacity P
            "59",  # 29 ISE Y
            "4F",  # 30 CrossType O
            text("C-7", 14),  # 31 ClOrdID
            "00 00",  # 45 Appendage Length
        ),
    ),
    (
        "replace-short-sale-locate",
        ReplaceOrder(1, 2, 500, PX, "0", "Y", "N", "ORD1", Options(shares_located="Y", locate_broker="ABCD")),
        hexb(
            "55",  # 0 Type
            "00 00 00 01",  # 1 OrigUserRefNum
            "00 00 00 02",  # 5 UserRefNum
            "00 00 01 F4",  # 9 Quantity
            PRICE_150_25,  # 13 Price
            "30",  # 21 TIF
            "59",  # 22 Display
            "4E",  # 23 ISE
            CLID,  # 24 ClOrdID
            "00 09",  # 38 Appendage Length
            "02 19 59",  # SharesLocated (25) = Y
            "05 1A 41 42 43 44",  # LocateBroker (26) = ABCD
        ),
    ),
    ("cancel", CancelOrder(7, 0), hexb("58", "00 00 00 07", "00 00 00 00", "00 00")),
    ("modify", ModifyOrder(7, "T", 50), hexb("4D", "00 00 00 07", "54", "00 00 00 32", "00 00")),
    (
        "mass-cancel",
        MassCancel(8, "FIRM", "", Options(group_id=5, side="B")),
        hexb("43", "00 00 00 08", text("FIRM", 4), text("", 8), "00 07", "03 18 00 05", "02 1B 42"),
    ),
    ("disable", DisableOrderEntry(9, "FIRM"), hexb("44", "00 00 00 09", text("FIRM", 4), "00 00")),
    ("enable", EnableOrderEntry(10, "FIRM"), hexb("45", "00 00 00 0A", text("FIRM", 4), "00 00")),
    ("account-query", AccountQuery(), hexb("51 00 00")),
]

OUTBOUND_GOLDEN: list[tuple[str, OutboundMessage, bytes]] = [
    ("system-event", SystemEvent(TS_0930_NS, "S"), hexb("53", TS_0930, "53")),
    (
        "accepted",
        OrderAccepted(
            TS_0930_NS,
            1,
            "B",
            100,
            "AAPL",
            PX,
            "0",
            "Y",
            1234567,
            "A",
            "N",
            "N",
            "L",
            "ORD1",
            Options(bbo_weight_indicator="1"),
        ),
        hexb(
            "41",  # 0 Type
            TS_0930,  # 1 Timestamp
            "00 00 00 01",  # 9 UserRefNum
            "42",  # 13 Side
            "00 00 00 64",  # 14 Quantity
            text("AAPL", 8),  # 18 Symbol
            PRICE_150_25,  # 26 Price
            "30",  # 34 TIF
            "59",  # 35 Display
            ORN_1234567,  # 36 Order Reference Number
            "41",  # 44 Capacity
            "4E",  # 45 ISE
            "4E",  # 46 CrossType
            "4C",  # 47 Order State L
            CLID,  # 48 ClOrdID
            "00 03",  # 62 Appendage Length
            "02 12 31",  # BBO Weight Indicator (18) = 1
        ),
    ),
    (
        "replaced",
        OrderReplaced(TS_0930_NS, 1, 2, "B", 400, "AAPL", PX, "0", "Y", 1234567, "A", "N", "N", "L", "ORD1"),
        hexb(
            "55",  # 0 Type
            TS_0930,  # 1 Timestamp
            "00 00 00 01",  # 9 OrigUserRefNum
            "00 00 00 02",  # 13 UserRefNum
            "42",  # 17 Side
            "00 00 01 90",  # 18 Quantity 400
            text("AAPL", 8),  # 22 Symbol
            PRICE_150_25,  # 30 Price
            "30",  # 38 TIF
            "59",  # 39 Display
            ORN_1234567,  # 40 Order Reference Number
            "41 4E 4E",  # 48 Capacity, 49 ISE, 50 CrossType
            "4C",  # 51 Order State
            CLID,  # 52 ClOrdID
            "00 00",  # 66 Appendage Length
        ),
    ),
    (
        "canceled",
        OrderCanceled(TS_0930_NS, 1, 100, "U"),
        hexb("43", TS_0930, "00 00 00 01", "00 00 00 64", "55", "00 00"),
    ),
    (
        "aiq-canceled",
        AiqCanceled(TS_0930_NS, 1, 100, "Q", 100, PX, "R", "B"),
        hexb(
            "44",
            TS_0930,
            "00 00 00 01",
            "00 00 00 64",
            "51",
            "00 00 00 64",
            PRICE_150_25,
            "52",
            "42",
            "00 00",
        ),
    ),
    (
        "executed",
        OrderExecuted(TS_0930_NS, 1, 100, PX, "A", 1234567),
        hexb("45", TS_0930, "00 00 00 01", "00 00 00 64", PRICE_150_25, "41", ORN_1234567, "00 00"),
    ),
    (
        "broken-trade",
        BrokenTrade(TS_0930_NS, 1, 1234567, "E", "ORD1"),
        hexb("42", TS_0930, "00 00 00 01", ORN_1234567, "45", CLID, "00 00"),
    ),
    (
        "rejected-with-user-ref-idx",
        OrderRejected(TS_0930_NS, 1, 0x17, "ORD1", Options(user_ref_idx=1)),
        hexb("4A", TS_0930, "00 00 00 01", "00 17", CLID, "00 03", "02 1C 01"),
    ),
    ("cancel-pending", CancelPending(TS_0930_NS, 1), hexb("50", TS_0930, "00 00 00 01", "00 00")),
    ("cancel-reject", CancelReject(TS_0930_NS, 1), hexb("49", TS_0930, "00 00 00 01", "00 00")),
    (
        "priority-update",
        PriorityUpdate(TS_0930_NS, 1, PX, "Y", 1234567),
        hexb("54", TS_0930, "00 00 00 01", PRICE_150_25, "59", ORN_1234567, "00 00"),
    ),
    (
        "modified",
        OrderModified(TS_0930_NS, 1, "S", 80),
        hexb("4D", TS_0930, "00 00 00 01", "53", "00 00 00 50", "00 00"),
    ),
    (
        "restated",
        OrderRestated(
            TS_0930_NS, 1, "R", Options(secondary_ord_ref_num=1234567, display_quantity=200, display_price=PX)
        ),
        hexb(
            "52",
            TS_0930,
            "00 00 00 01",
            "52",
            "00 1A",
            "09 01",
            ORN_1234567,  # SecondaryOrdRefNum (1)
            "05 16 00 00 00 C8",  # Display Quantity (22) = 200
            "09 17",
            PRICE_150_25,  # Display Price (23)
        ),
    ),
    (
        "mass-cancel-response",
        MassCancelResponse(TS_0930_NS, 8, "FIRM", "AAPL"),
        hexb("58", TS_0930, "00 00 00 08", text("FIRM", 4), text("AAPL", 8), "00 00"),
    ),
    (
        "disable-response",
        DisableOrderEntryResponse(TS_0930_NS, 9, "FIRM"),
        hexb("47", TS_0930, "00 00 00 09", text("FIRM", 4), "00 00"),
    ),
    (
        "enable-response",
        EnableOrderEntryResponse(TS_0930_NS, 10, "FIRM"),
        hexb("4B", TS_0930, "00 00 00 0A", text("FIRM", 4), "00 00"),
    ),
    (
        "account-query-response",
        AccountQueryResponse(TS_0930_NS, 42),
        hexb("51", TS_0930, "00 00 00 2A", "00 00"),
    ),
]

SPEC_LENGTHS = {
    "O": 47,
    "U": 40,
    "X": 11,
    "M": 12,
    "C": 19,
    "D": 11,
    "E": 11,
    "Q": 3,
}
SPEC_OUTBOUND_LENGTHS = {
    "S": 10,
    "A": 64,
    "U": 68,
    "C": 20,
    "D": 34,
    "E": 36,
    "B": 38,
    "J": 31,
    "P": 15,
    "I": 15,
    "T": 32,
    "M": 20,
    "R": 16,
    "X": 27,
    "G": 19,
    "K": 19,
    "Q": 15,
}


def test_layouts_when_compared_with_spec_tables_then_fixed_lengths_match() -> None:
    assert {layout.type_char: layout.fixed for layout in INBOUND_LAYOUTS} == SPEC_LENGTHS
    assert {layout.type_char: layout.fixed for layout in OUTBOUND_LAYOUTS} == SPEC_OUTBOUND_LENGTHS


def test_encode_when_enter_order_worked_example_then_56_byte_packet_matches() -> None:
    packet = encode_unsequenced(encode_message(ENTER_EXAMPLE))
    assert packet == ENTER_WORKED_EXAMPLE
    assert len(packet) == 56
    assert decode_inbound(ENTER_WORKED_EXAMPLE[3:]) == ENTER_EXAMPLE


def test_pack_enter_order_when_worked_example_then_same_packet_with_one_pack() -> None:
    buf = bytearray(b"prefix")
    codec.pack_enter_order(
        buf,
        1,
        b"B",
        100,
        b"AAPL    ",
        PX,
        b"0",
        b"Y",
        b"A",
        b"N",
        b"N",
        b"ORD1          ",
        encode_option(3, 100),
    )
    assert bytes(buf) == b"prefix" + ENTER_WORKED_EXAMPLE


@pytest.mark.parametrize(("name", "message", "golden"), INBOUND_GOLDEN, ids=[g[0] for g in INBOUND_GOLDEN])
def test_encode_when_inbound_message_then_golden_bytes_and_decodes_back(
    name: str, message: InboundMessage, golden: bytes
) -> None:
    del name
    assert encode_message(message) == golden
    assert decode_inbound(golden) == message


@pytest.mark.parametrize(("name", "message", "golden"), OUTBOUND_GOLDEN, ids=[g[0] for g in OUTBOUND_GOLDEN])
def test_encode_when_outbound_message_then_golden_bytes_and_both_decoders_agree(
    name: str, message: OutboundMessage, golden: bytes
) -> None:
    del name
    assert encode_message(message) == golden
    assert decode_outbound(golden) == message
    assert decode_outbound_generic(golden) == message


def test_pack_replace_and_cancel_when_encoded_then_match_generic_encoder() -> None:
    buf = bytearray()
    codec.pack_replace_order(
        buf, 1, 2, 500, PX, b"0", b"Y", b"N", b"ORD1          ", hexb("02 19 59 05 1A 41 42 43 44")
    )
    codec.pack_cancel_order(buf, 7, 0)
    replace = INBOUND_GOLDEN[1][2]
    cancel = INBOUND_GOLDEN[2][2]
    assert bytes(buf) == encode_unsequenced(replace) + encode_unsequenced(cancel)


SHORT_FORMS: list[tuple[str, Any, bytes]] = [
    ("cancel", CancelOrder(7, 0), hexb("58", "00 00 00 07", "00 00 00 00")),
    ("modify", ModifyOrder(7, "E", 50), hexb("4D", "00 00 00 07", "45", "00 00 00 32")),
    ("account-query", AccountQuery(), hexb("51")),
    (
        "canceled",
        OrderCanceled(TS_0930_NS, 1, 100, "I"),
        hexb("43", TS_0930, "00 00 00 01", "00 00 00 64", "49"),
    ),
    (
        "rejected",
        OrderRejected(TS_0930_NS, 1, 0x1D, "ORD1"),
        hexb("4A", TS_0930, "00 00 00 01", "00 1D", CLID),
    ),
    ("cancel-pending", CancelPending(TS_0930_NS, 3), hexb("50", TS_0930, "00 00 00 03")),
    ("account-query-response", AccountQueryResponse(TS_0930_NS, 42), hexb("51", TS_0930, "00 00 00 2A")),
]


@pytest.mark.parametrize(("name", "message", "golden"), SHORT_FORMS, ids=[s[0] for s in SHORT_FORMS])
def test_decode_when_optional_appendage_length_absent_then_message_decoded_by_length(
    name: str, message: Any, golden: bytes
) -> None:
    del name
    assert encode_message(message, short_form=True) == golden
    decode = decode_inbound if type(message) in {CancelOrder, ModifyOrder, AccountQuery} else decode_outbound
    assert decode(golden) == message
    if decode is decode_outbound:
        assert decode_outbound_generic(golden) == message


def test_encode_when_short_form_requested_but_options_present_then_full_form() -> None:
    message = OrderCanceled(TS_0930_NS, 1, 100, "U", Options(user_ref_idx=3))
    assert encode_message(message, short_form=True) == hexb(
        "43", TS_0930, "00 00 00 01", "00 00 00 64", "55", "00 03", "02 1C 03"
    )


def test_encode_options_when_spec_examples_then_element_bytes_match() -> None:
    assert encode_options(Options(min_qty=100)) == hexb("05 03 00 00 00 64")
    assert encode_options(Options(firm="ABCD")) == hexb("05 02 41 42 43 44")
    assert encode_options(Options(user_ref_idx=1)) == hexb("02 1C 01")
    three = encode_options(Options(firm="ABCD", min_qty=100, user_ref_idx=1))
    assert len(three) == 15


def test_encode_options_when_negative_peg_offset_then_twos_complement_i32() -> None:
    assert encode_options(Options(peg_offset=-2500)) == hexb("05 07 FF FF F6 3C")
    assert decode_options(hexb("05 07 FF FF F6 3C"), 0, 6) == Options(peg_offset=-2500)
    assert encode_options(Options(discretion_peg_offset=2500)) == hexb("05 0B 00 00 09 C4")


def test_decode_options_when_unknown_tag_then_kept_raw_not_an_error() -> None:
    data = hexb("02 1D 41", "05 03 00 00 00 64")  # tag 29 (rev 1.05 AIQ Strategy), then MinQty
    assert decode_options(data, 0, len(data)) == Options(min_qty=100, unknown=((29, b"A"),))


@pytest.mark.parametrize(
    "data",
    [hexb("00"), hexb("05 03 00 00"), hexb("04 03 00 00 00"), hexb("02 1C 01 02 1C 02")],
    ids=["zero-length", "runs-past-end", "wrong-size", "repeated-tag"],
)
def test_decode_options_when_malformed_then_appendage_error(data: bytes) -> None:
    result = decode_options(data, 0, len(data))
    assert isinstance(result, DecodeError)
    assert result.kind == BAD_APPENDAGE


@pytest.mark.parametrize(
    ("data", "decode", "kind"),
    [
        (ENTER_WORKED_EXAMPLE[3:-1], decode_inbound, BAD_LENGTH),
        (ENTER_WORKED_EXAMPLE[3:40], decode_inbound, TRUNCATED),
        (ENTER_WORKED_EXAMPLE[3:8] + b"Z" + ENTER_WORKED_EXAMPLE[9:], decode_inbound, BAD_ENUM),
        (hexb("5A 00"), decode_inbound, UNKNOWN_TYPE),
        (b"", decode_inbound, TRUNCATED),
        (OUTBOUND_GOLDEN[1][2][:47] + b"X" + OUTBOUND_GOLDEN[1][2][48:], decode_outbound, BAD_ENUM),
        (OUTBOUND_GOLDEN[1][2] + b"\x00", decode_outbound, BAD_LENGTH),
        (OUTBOUND_GOLDEN[5][2][:30], decode_outbound, TRUNCATED),
        (OUTBOUND_GOLDEN[3][2][:19], decode_outbound, TRUNCATED),
        (hexb("53", TS_0930, "58"), decode_outbound, BAD_ENUM),
        (hexb("4F", TS_0930), decode_outbound, UNKNOWN_TYPE),
        (
            hexb(
                "41",
                TS_0930,
                "00 00 00 01",
                "42",
                "00 00 00 64",
                text("AAPL", 8),
                PRICE_150_25,
                "30 59",
                ORN_1234567,
                "41 4E 4E 4C",
                CLID,
                "00 03",
                "05 03 00",
            ),
            decode_outbound,
            BAD_APPENDAGE,
        ),
    ],
    ids=[
        "enter-appendage-short",
        "enter-truncated",
        "enter-bad-side",
        "inbound-unknown",
        "empty",
        "accepted-bad-state",
        "accepted-extra-byte",
        "executed-truncated",
        "canceled-19-bytes",
        "system-event-bad-code",
        "outbound-unknown",
        "accepted-option-overruns-appendage",
    ],
)
def test_decode_when_malformed_then_decode_error_of_the_right_kind(data: bytes, decode: Any, kind: str) -> None:
    result = decode(data)
    assert isinstance(result, DecodeError), result
    assert result.kind == kind


# --------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------

_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_LATIN1_CHAR = st.characters(max_codepoint=0xFF)


def _alpha(width: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=_ASCII, max_size=width).map(lambda s: s.rstrip(" "))


_INT_RANGES = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFFFFFF, "Q": 0xFFFFFFFFFFFFFFFF}


def _option_value(kind: str) -> st.SearchStrategy[Any]:
    if kind == "c":
        return _LATIN1_CHAR
    if kind[0] == "a":
        return _alpha(int(kind[1:]))
    if kind == "i":
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    return st.integers(min_value=0, max_value=_INT_RANGES[kind])


options_strategy = st.builds(
    Options,
    **{name: st.one_of(st.none(), _option_value(kind)) for name, kind in TAGS.values()},
    unknown=st.lists(
        st.tuples(st.sampled_from([8, 19, 20, 21, 29, 30, 99, 255]), st.binary(max_size=10)), max_size=2
    ).map(tuple),
)


def _message_strategy(layout: Any) -> st.SearchStrategy[Any]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, kind, allowed in layout.fields:
        if kind == "c":
            fields[name] = st.sampled_from(sorted(allowed)) if allowed else _LATIN1_CHAR
        elif kind[0] == "a":
            fields[name] = _alpha(int(kind[1:]))
        else:
            fields[name] = st.integers(min_value=0, max_value=_INT_RANGES[kind])
    if layout.appendage:
        fields["options"] = options_strategy
    return st.builds(layout.cls, **fields)


inbound_messages = st.one_of(*[_message_strategy(layout) for layout in INBOUND_LAYOUTS])
outbound_messages = st.one_of(*[_message_strategy(layout) for layout in OUTBOUND_LAYOUTS])


@given(inbound_messages, st.booleans())
def test_inbound_when_round_tripped_then_equal(message: InboundMessage, short_form: bool) -> None:
    assert decode_inbound(encode_message(message, short_form=short_form)) == message


@given(outbound_messages, st.booleans())
def test_outbound_when_round_tripped_then_hot_and_generic_decoders_equal(
    message: OutboundMessage, short_form: bool
) -> None:
    data = encode_message(message, short_form=short_form)
    assert decode_outbound(data) == message
    assert decode_outbound_generic(data) == message


@given(st.one_of(inbound_messages, outbound_messages), st.binary(min_size=1, max_size=8))
def test_decode_when_full_form_followed_by_extra_bytes_then_length_error(message: Any, extra: bytes) -> None:
    data = encode_message(message) + extra
    inbound = type(message) in {layout.cls for layout in INBOUND_LAYOUTS}
    result = decode_inbound(data) if inbound else decode_outbound(data)
    assert isinstance(result, DecodeError)


@given(st.one_of(inbound_messages, outbound_messages), st.data())
def test_decode_when_truncated_then_decode_error_or_the_short_form(message: Any, data: st.DataObject) -> None:
    encoded = encode_message(message)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    inbound = type(message) in {layout.cls for layout in INBOUND_LAYOUTS}
    result: Any = decode_inbound(encoded[:cut]) if inbound else decode_outbound(encoded[:cut])
    fixed = codec.fixed_length(type(message))
    if codec.has_optional_appendage(type(message)) and cut == fixed - 2:
        assert not isinstance(result, DecodeError)
        assert result.options == NO_OPTIONS
    else:
        assert isinstance(result, DecodeError)


@given(st.binary(max_size=120))
def test_decoders_when_random_bytes_then_message_or_decode_error(data: bytes) -> None:
    for decode in (decode_inbound, decode_outbound, decode_outbound_generic):
        result = decode(data)
        assert isinstance(result, DecodeError) or type(result).__module__ == "venues.ouch.messages"
    options = decode_options(data, 0, len(data))
    assert isinstance(options, (Options, DecodeError))


@given(st.sampled_from([ord(layout.type_char) for layout in OUTBOUND_LAYOUTS]), st.binary(max_size=100))
def test_outbound_decoders_when_known_type_with_random_body_then_hot_equals_generic(kind: int, body: bytes) -> None:
    data = bytes((kind,)) + body
    hot = decode_outbound(data)
    generic = decode_outbound_generic(data)
    if isinstance(hot, DecodeError):
        assert isinstance(generic, DecodeError)
    else:
        assert hot == generic


@given(st.binary(max_size=300))
def test_splitter_then_decoders_when_random_stream_then_never_raise(data: bytes) -> None:
    for packet in SoupSplitter().feed(data):
        decode_outbound(packet[1:])
        decode_inbound(packet[1:])


EXECUTED_FIELDS = hexb("45", TS_0930, "00 00 00 01", "00 00 00 64", PRICE_150_25, "41", ORN_1234567)
"""Order Executed up to its Appendage Length: Type, Timestamp, UserRefNum 1, 100 shares, $150.25, A, Match 1234567."""


@pytest.mark.parametrize(
    "tail",
    [
        hexb("00 00", "02 1C 00"),  # Appendage Length 0, 3 more bytes
        hexb("00 05"),  # Appendage Length 5, nothing follows
        hexb("00 03", "05 1C 00"),  # a TagValue element longer than the appendage
        hexb("00"),  # the Appendage Length cut
    ],
)
def test_decode_fixed_part_when_only_the_appendage_is_malformed_then_the_fields_decode(tail: bytes) -> None:
    message = EXECUTED_FIELDS + tail
    assert isinstance(decode_outbound(message), DecodeError)
    assert codec.decode_fixed_part(message) == OrderExecuted(TS_0930_NS, 1, 100, PX, "A", 1234567)


def test_decode_fixed_part_when_a_broken_trade_appendage_lies_then_its_match_number_decodes() -> None:
    message = hexb("42", TS_0930, "00 00 00 01", ORN_1234567, "45", CLID, "00 09")
    assert isinstance(decode_outbound(message), DecodeError)
    assert codec.decode_fixed_part(message) == BrokenTrade(TS_0930_NS, 1, 1234567, "E", "ORD1")


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (EXECUTED_FIELDS[:-1], TRUNCATED),  # the Match Number cut
        (hexb("53", TS_0930, "53", "00"), BAD_LENGTH),  # System Event: no appendage to pass over
        (hexb("41", TS_0930, "00 00 00 01", "5A") + bytes(50), BAD_ENUM),  # Accepted with Side 'Z'
        (b"", TRUNCATED),
        (hexb("7A"), UNKNOWN_TYPE),
    ],
)
def test_decode_fixed_part_when_the_fields_themselves_are_bad_then_decode_error(message: bytes, kind: str) -> None:
    error = codec.decode_fixed_part(message)
    assert isinstance(error, DecodeError) and error.kind == kind
