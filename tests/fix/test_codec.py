"""FIX codec: golden bytes (BodyLength/CheckSum), exact numbers, framing errors and decoder fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.enums import OrderType, Side, TimeInForce
from model.venue_events import EVENT_MAX_ID, bounded_id
from venues.fix import codec
from venues.fix.codec import (
    DecodeError,
    DecodeErrorKind,
    FixMessage,
    FrameDecoder,
    UtcTimestamps,
    build_message,
    checksum,
    checksum_prefix,
    format_price,
    parse_price,
    parse_qty,
    parse_utc_timestamp,
    resend_copy,
)
from venues.fix.dialect import load_dialect
from venues.fix.templates import OrderTemplates

from .helpers import make_order

STAMP = b"20240102-10:00:00.000"


def _pipes(raw: bytes) -> bytes:
    return raw.replace(b"\x01", b"|")


def _soh(text: bytes) -> bytes:
    return text.replace(b"|", b"\x01")


# ---- golden bytes -----------------------------------------------------------------------------


def test_build_message_when_published_logon_example_then_bytes_identical() -> None:
    # The Logon example printed in the FIX article of Wikipedia (BodyLength 65, CheckSum 062).
    raw = build_message(
        b"FIX.4.2",
        b"A",
        sender=b"SERVER",
        target=b"CLIENT",
        seq=177,
        sending_time=b"20090107-18:15:16",
        body_fields=[(b"98", b"0"), (b"108", b"30")],
    )
    assert raw == _soh(b"8=FIX.4.2|9=65|35=A|49=SERVER|56=CLIENT|34=177|52=20090107-18:15:16|98=0|108=30|10=062|")


def test_checksum_when_published_example_then_matches_trailer() -> None:
    raw = _soh(b"8=FIX.4.2|9=65|35=A|49=SERVER|56=CLIENT|34=177|52=20090107-18:15:16|98=0|108=30|")
    assert checksum(raw) == 62


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=1200),
        st.text(alphabet=st.characters(max_codepoint=127), max_size=1200).map(str.encode),
    )
)
def test_checksum_when_any_bytes_then_equals_byte_sum_modulo_256(data: bytes) -> None:
    assert checksum(data) == sum(data) % 256
    assert checksum_prefix(data + b"10=000\x01", len(data)) == sum(data) % 256


def test_new_order_when_equities_fix42_limit_then_golden_bytes() -> None:
    templates = OrderTemplates(load_dialect("equities-fix42"), "GATEWAY", "EQX")
    raw = templates.new_order(2, STAMP, b"Q7", make_order(7))
    assert _pipes(raw) == (
        b"8=FIX.4.2|9=141|35=D|49=GATEWAY|56=EQX|34=2|52=20240102-10:00:00.000|11=Q7|1=ACC1|21=1|55=AAPL|"
        b"54=1|38=100|40=2|44=150.25|59=0|60=20240102-10:00:00.000|47=A|10=068|"
    )


def test_new_order_when_broker_fix44_sell_short_ioc_then_golden_bytes_with_custom_tags() -> None:
    templates = OrderTemplates(load_dialect("broker-fix44"), "GATEWAY", "BRKR")
    order = make_order(8, side=Side.SELL_SHORT, tif=TimeInForce.IOC, price=999, account="ACC2")
    raw = templates.new_order(12, STAMP, b"B8", order)
    assert _pipes(raw) == (
        b"8=FIX.4.4|9=179|35=D|49=GATEWAY|56=BRKR|34=12|52=20240102-10:00:00.000|11=B8|1=BRK-0002|21=1|"
        b"100=SMART|55=AAPL|54=5|38=100|40=2|44=0.0999|59=3|60=20240102-10:00:00.000|528=A|9101=DMA|"
        b"9102=strat1|10=112|"
    )


def test_new_order_when_market_then_no_price_field() -> None:
    templates = OrderTemplates(load_dialect("equities-fix42"), "GATEWAY", "EQX")
    raw = templates.new_order(3, STAMP, b"Q9", make_order(9, ord_type=OrderType.MARKET, price=0))
    assert b"\x0144=" not in raw
    assert b"\x0140=1\x01" in raw


def test_replace_and_cancel_when_equities_fix42_then_golden_bytes() -> None:
    templates = OrderTemplates(load_dialect("equities-fix42"), "GATEWAY", "EQX")
    order = make_order(7)
    order.venue_order_id = "OID1"
    replace = templates.replace(5, STAMP, b"Q7", b"Q7-5", order, qty=300, price=1_510_000)
    cancel = templates.cancel(6, STAMP, b"Q7-5", b"Q7-6", order)
    assert _pipes(replace) == (
        b"8=FIX.4.2|9=154|35=G|49=GATEWAY|56=EQX|34=5|52=20240102-10:00:00.000|41=Q7|11=Q7-5|1=ACC1|37=OID1|"
        b"21=1|55=AAPL|54=1|38=300|40=2|44=151|59=0|60=20240102-10:00:00.000|47=A|10=254|"
    )
    assert _pipes(cancel) == (
        b"8=FIX.4.2|9=129|35=F|49=GATEWAY|56=EQX|34=6|52=20240102-10:00:00.000|41=Q7-5|11=Q7-6|1=ACC1|"
        b"37=OID1|55=AAPL|54=1|38=100|60=20240102-10:00:00.000|10=184|"
    )


def test_cancel_replace_status_when_the_venue_order_id_is_bounded_then_no_order_id_field() -> None:
    """An OrderID longer than ``EVENT_MAX_ID`` is held in its bounded form (texts56), which the venue never sent:
    the requests leave out the optional OrderID (37), OrigClOrdID / ClOrdID name the order; one within is sent."""
    templates = OrderTemplates(load_dialect("broker-fix44"), "GATEWAY", "BRKR")
    order = make_order(7)
    order.venue_order_id = bounded_id("OID-" + "7" * 100_000)
    requests = (
        templates.cancel(6, STAMP, b"Q7", b"Q7-6", order),
        templates.replace(7, STAMP, b"Q7", b"Q7-7", order, qty=300, price=1_510_000),
        templates.status_request(8, STAMP, b"Q7", order),
    )
    assert all(b"\x0137=" not in raw for raw in requests), requests
    order.venue_order_id = "O" * EVENT_MAX_ID
    assert all(
        b"\x0137=" + b"O" * EVENT_MAX_ID + b"\x01" in raw
        for raw in (
            templates.cancel(9, STAMP, b"Q7", b"Q7-9", order),
            templates.replace(10, STAMP, b"Q7", b"Q7-10", order, qty=300, price=1_510_000),
            templates.status_request(11, STAMP, b"Q7", order),
        )
    )


def _length_and_checksum(raw: bytes) -> list[bytes]:
    return [field for field in raw.split(b"\x01") if field.startswith((b"9=", b"10="))]


@pytest.mark.parametrize("dialect", ["equities-fix42", "broker-fix44"])
def test_templates_when_encoded_then_quickfix_computes_the_same_body_length_and_checksum(
    dialect: str,
) -> None:
    quickfix = pytest.importorskip("quickfix")
    templates = OrderTemplates(load_dialect(dialect), "GATEWAY", "VENUE")
    order = make_order(7)
    for raw in (
        templates.new_order(2, STAMP, b"X7", order),
        templates.replace(3, STAMP, b"X7", b"X7-3", order, qty=250, price=1_499_900),
        templates.cancel(4, STAMP, b"X7-3", b"X7-4", order),
    ):
        # quickfix reorders fields when it serialises, then recomputes BodyLength and CheckSum.
        recomputed = quickfix.Message(raw.decode(), False).toString().encode()
        assert _length_and_checksum(recomputed) == _length_and_checksum(raw)


def test_resend_copy_when_stored_order_then_possdup_origtime_and_new_checksum() -> None:
    original = build_message(
        b"FIX.4.2",
        b"D",
        sender=b"GATEWAY",
        target=b"EQX",
        seq=4,
        sending_time=STAMP,
        body_fields=[(b"11", b"Q1"), (b"55", b"AAPL")],
    )
    copy, orig = resend_copy(original, b"FIX.4.2", b"20240102-10:00:05.000")
    assert orig == STAMP
    assert _pipes(copy) == (
        b"8=FIX.4.2|9=98|35=D|49=GATEWAY|56=EQX|34=4|43=Y|52=20240102-10:00:05.000|"
        b"122=20240102-10:00:00.000|11=Q1|55=AAPL|10=151|"
    )
    (decoded,) = FrameDecoder().feed(copy)
    assert isinstance(decoded, FixMessage)


# ---- numbers and timestamps ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "text"),
    [
        (1_502_500, b"150.25"),
        (1_500_000, b"150"),
        (1, b"0.0001"),
        (0, b"0"),
        (-25_000, b"-2.5"),
        (10**15, b"100000000000"),
    ],
)
def test_format_price_when_fixed_point_then_exact_decimal(price: int, text: bytes) -> None:
    assert format_price(price) == text
    assert parse_price(text) == price


@pytest.mark.parametrize(
    ("text", "price"),
    [
        (b"150.25", 1_502_500),
        (b"150.2500000", 1_502_500),
        (b".5", 5_000),
        (b"7.", 70_000),
        (b"1.00005", 10_001),
    ],
)
def test_parse_price_when_venue_formats_vary_then_exact_fixed_point(text: bytes, price: int) -> None:
    assert parse_price(text) == price


@pytest.mark.parametrize("text", [b"", b".", b"1e5", b"abc", b"1.2.3", b"--1", b"1,5"])
def test_parse_price_when_not_a_number_then_value_error(text: bytes) -> None:
    with pytest.raises(ValueError, match="not a price"):
        parse_price(text)


@given(st.integers(-(10**15), 10**15))
def test_format_price_when_any_fixed_point_then_round_trips(price: int) -> None:
    assert parse_price(format_price(price)) == price


def test_parse_qty_when_whole_or_point_zero_then_int_else_value_error() -> None:
    assert (parse_qty(b"100"), parse_qty(b"100.0"), parse_qty(b"100.")) == (100, 100, 100)
    for bad in (b"100.5", b"", b"-1", b"1e3"):
        with pytest.raises(ValueError, match="not a whole quantity"):
            parse_qty(bad)


def test_utc_timestamps_when_formatted_then_millis_and_parse_back() -> None:
    stamps = UtcTimestamps()
    wall = 1_704_189_600_123_456_789
    assert stamps.format(wall) == b"20240102-10:00:00.123"
    assert stamps.format(wall + 1_000_000_000) == b"20240102-10:00:01.123"
    assert parse_utc_timestamp(b"20240102-10:00:00.123") == 1_704_189_600_123_000_000
    assert parse_utc_timestamp(b"20240102-10:00:00") == 1_704_189_600_000_000_000


# ---- decoding ---------------------------------------------------------------------------------


def _heartbeat(seq: int) -> bytes:
    return build_message(b"FIX.4.2", b"0", sender=b"EQX", target=b"GATEWAY", seq=seq, sending_time=STAMP)


def test_feed_when_messages_split_at_every_byte_then_each_decoded_once() -> None:
    stream = _heartbeat(1) + _heartbeat(2) + _heartbeat(3)
    decoder = FrameDecoder()
    out = []
    for i in range(len(stream)):
        out.extend(decoder.feed(stream[i : i + 1]))
    assert [m.seq for m in out if isinstance(m, FixMessage)] == [1, 2, 3]
    assert len(out) == 3
    assert decoder.buffered == 0


def test_feed_when_message_decoded_then_fields_type_and_begin_string() -> None:
    (msg,) = FrameDecoder().feed(_heartbeat(9))
    assert isinstance(msg, FixMessage)
    assert (msg.msg_type, msg.seq, msg.get(b"8"), msg.get(b"49"), msg.get(b"52")) == (
        b"0",
        9,
        b"FIX.4.2",
        b"EQX",
        STAMP,
    )


def test_feed_when_bad_checksum_then_error_with_seq_and_next_message_decoded() -> None:
    bad = _heartbeat(1)[:-4] + b"000\x01"
    out = FrameDecoder().feed(bad + _heartbeat(2))
    assert isinstance(out[0], DecodeError)
    assert (out[0].kind, out[0].seq, out[0].reject_reason) == (DecodeErrorKind.BAD_CHECKSUM, 1, -1)
    assert "CheckSum 000" in out[0].text
    assert isinstance(out[1], FixMessage)
    assert out[1].seq == 2


@pytest.mark.parametrize("delta", [-3, 5, 200])
def test_feed_when_body_length_wrong_then_error_and_resync_on_next_message(delta: int) -> None:
    good = _heartbeat(1)
    length = int(good.split(b"\x01")[1][2:])
    bad = good.replace(b"9=%d\x01" % length, b"9=%d\x01" % (length + delta), 1)
    out = FrameDecoder().feed(bad + _heartbeat(2))
    assert isinstance(out[0], DecodeError)
    assert out[0].kind is DecodeErrorKind.BAD_BODY_LENGTH
    assert [m.seq for m in out if isinstance(m, FixMessage)] == [2]


def test_feed_when_garbage_between_messages_then_reported_and_skipped() -> None:
    out = FrameDecoder().feed(_heartbeat(1) + b"\r\nhello" + _heartbeat(2))
    assert [type(x).__name__ for x in out] == ["FixMessage", "DecodeError", "FixMessage"]
    assert isinstance(out[1], DecodeError)
    assert (out[1].kind, out[1].raw) == (DecodeErrorKind.GARBAGE, b"\r\nhello")


def test_feed_when_body_length_zero_then_garbled_field_not_a_crash() -> None:
    """An empty body is one broken field (compiled too: an end-before-start slice there raised SystemError)."""
    raw = b"8=FIX.4.4\x019=0\x01"
    raw += b"10=%03d\x01" % checksum(raw)
    (err,) = FrameDecoder().feed(raw)
    assert isinstance(err, DecodeError)
    assert (err.kind, err.seq, err.reject_reason) == (DecodeErrorKind.GARBLED_FIELD, 0, 0)


def test_feed_when_tag_not_numeric_then_garbled_field_with_invalid_tag_reason() -> None:
    raw = build_message(
        b"FIX.4.2",
        b"8",
        sender=b"EQX",
        target=b"GATEWAY",
        seq=5,
        sending_time=STAMP,
        body_fields=[(b"1x", b"v")],
    )
    (err,) = FrameDecoder().feed(raw)
    assert isinstance(err, DecodeError)
    assert (err.kind, err.seq, err.msg_type, err.reject_reason) == (DecodeErrorKind.GARBLED_FIELD, 5, b"8", 0)


def test_feed_when_tag_without_value_then_reason_4_with_ref_tag() -> None:
    raw = build_message(
        b"FIX.4.2",
        b"8",
        sender=b"EQX",
        target=b"GATEWAY",
        seq=5,
        sending_time=STAMP,
        body_fields=[(b"58", b"")],
    )
    (err,) = FrameDecoder().feed(raw)
    assert isinstance(err, DecodeError)
    assert (err.kind, err.ref_tag, err.reject_reason) == (DecodeErrorKind.GARBLED_FIELD, 58, 4)


def test_feed_when_msg_seq_num_missing_then_bad_seq_num() -> None:
    from venues.fix.codec import finish

    raw = finish(b"FIX.4.2", b"35=0\x0149=EQX\x0156=GATEWAY\x0152=" + STAMP + b"\x01")
    (err,) = FrameDecoder().feed(raw)
    assert isinstance(err, DecodeError)
    assert err.kind is DecodeErrorKind.BAD_SEQ_NUM


def test_feed_when_msg_type_not_third_field_then_bad_header() -> None:
    from venues.fix.codec import finish

    raw = finish(b"FIX.4.2", b"49=EQX\x0135=0\x0156=GATEWAY\x0134=1\x01")
    (err,) = FrameDecoder().feed(raw)
    assert isinstance(err, DecodeError)
    assert err.kind is DecodeErrorKind.BAD_HEADER


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_feed_when_random_bytes_then_only_messages_or_errors_and_buffer_bounded(data: bytes) -> None:
    decoder = FrameDecoder(max_body_length=1024)
    out = decoder.feed(data)
    assert all(isinstance(x, FixMessage | DecodeError) for x in out)
    assert decoder.buffered <= len(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200).filter(lambda b: b"8=" not in b and not b.endswith(b"8")), st.integers(1, 10_000))
def test_feed_when_garbage_precedes_valid_message_then_message_still_decoded(garbage: bytes, seq: int) -> None:
    out = FrameDecoder().feed(garbage + _heartbeat(seq))
    messages = [m for m in out if isinstance(m, FixMessage)]
    assert [m.seq for m in messages] == [seq]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200), st.integers(0, 255), st.integers(1, 40))
def test_feed_when_one_byte_of_valid_message_mutated_then_never_raises_and_next_message_survives(
    position: int, value: int, seq: int
) -> None:
    raw = bytearray(_heartbeat(seq))
    raw[position % len(raw)] = value
    out = FrameDecoder().feed(bytes(raw) + _heartbeat(seq + 1))
    assert all(isinstance(x, FixMessage | DecodeError) for x in out)
    assert any(isinstance(m, FixMessage) and m.seq == seq + 1 for m in out)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 200), st.integers(1, 50))
def test_feed_when_message_truncated_then_next_message_still_decoded(cut: int, seq: int) -> None:
    truncated = _heartbeat(seq)[: cut % (len(_heartbeat(seq)) - 1) + 1]
    out = FrameDecoder().feed(truncated + _heartbeat(seq + 1))
    assert [m.seq for m in out if isinstance(m, FixMessage)] == [seq + 1]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 120), st.data())
def test_feed_when_valid_stream_chunked_arbitrarily_then_same_messages(count: int, data: st.DataObject) -> None:
    stream = b"".join(_heartbeat(i) for i in range(1, count % 10 + 2))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder()
    out = []
    start = 0
    for cut in [*cuts, len(stream)]:
        out.extend(decoder.feed(stream[start:cut]))
        start = cut
    assert [m.seq for m in out if isinstance(m, FixMessage)] == list(range(1, count % 10 + 2))
    assert len(out) == count % 10 + 1


def _reference_fields(body: bytes) -> dict[bytes, bytes] | None:
    """The fields of a body by the rules (<digits>=<non-empty value>, last repeat wins); None if one is broken."""
    fields: dict[bytes, bytes] = {}
    for part in body[:-1].split(b"\x01"):
        tag, eq, value = part.partition(b"=")
        if not eq or not tag.isdigit() or not value:
            return None
        fields[tag] = value
    return fields


_FIELD_TAGS = st.sampled_from([b"11", b"58", b"150", b"9102", b"1", b"", b"x1", b"01"])
_FIELD_VALUES = st.binary(min_size=0, max_size=6).map(lambda b: b.replace(b"\x01", b"")) | st.sampled_from(
    [b"=", b"a=b", b"B7", b""]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_FIELD_TAGS, _FIELD_VALUES), max_size=8))
def test_feed_when_any_body_then_fields_by_the_rules_or_garbled_field(
    extra: list[tuple[bytes, bytes]],
) -> None:
    body = b"35=8\x0149=V\x0156=G\x0134=7\x01" + b"".join(tag + b"=" + value + b"\x01" for tag, value in extra)
    raw = b"8=FIX.4.4\x019=%d\x01" % len(body) + body
    raw += b"10=%03d\x01" % checksum(raw)
    (item,) = FrameDecoder().feed(raw)
    expected = _reference_fields(body)
    if expected is None:
        assert isinstance(item, DecodeError) and item.kind is DecodeErrorKind.GARBLED_FIELD
    else:
        assert isinstance(item, FixMessage)
        assert item.fields == {**expected, b"8": b"FIX.4.4"}
        assert item.seq == 7 and item.msg_type == b"8"


_ANY_FIELD_BYTES = st.binary(min_size=0, max_size=5) | st.sampled_from([b"=", b"0", b"12", b"\x01", b"a=b", b"=\x01"])


@settings(max_examples=600, deadline=None)
@given(st.lists(_ANY_FIELD_BYTES, max_size=10), st.booleans())
def test_scan_fields_when_any_bytes_then_the_same_fields_as_the_split_or_none(
    chunks: list[bytes], end_with_soh: bool
) -> None:
    """The compiled decoder's byte-by-byte scan and the field-by-field split agree on every body."""
    body = b"".join(chunks) + (b"\x01" if end_with_soh else b"")
    raw = b"8=FIX.4.4\x019=%d\x01" % len(body) + body
    start = len(raw) - len(body)
    split = codec._split_fields(raw, start, len(raw))
    scanned = codec._scan_fields(raw, start, len(raw))
    if isinstance(split, DecodeError) or not body.endswith(b"\x01"):
        assert scanned is None
    else:
        assert scanned == split
