"""SoupBinTCP packets: golden bytes from the 3.00 / 4.10 tables, lenient parsing, framing, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.ouch.golden import hexb, rtext, text
from venues.ouch import soupbin
from venues.ouch.errors import BAD_LENGTH, BAD_NUMBER, TRUNCATED, UNKNOWN_TYPE, DecodeError
from venues.ouch.soupbin import (
    ClientHeartbeat,
    Debug,
    EndOfSession,
    LoginAccepted,
    LoginRejected,
    LoginRequest,
    LogoutRequest,
    SequencedData,
    ServerHeartbeat,
    SoupSplitter,
    UnsequencedData,
    decode_client_packet,
    decode_server_packet,
    encode_client_packet,
    encode_server_packet,
)

LOGIN_EXAMPLE = hexb(
    "00 2F 4C 55 53 45 52 30 31 50 41 53 53 57 4F 52",
    "44 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20",
    "20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20",
    "31",
)
"""The compiled notes' worked example: 3.00 Login Request USER01/PASSWORD, blank session, sequence 1."""


def test_encode_when_login_request_worked_example_then_49_bytes_match() -> None:
    packet = soupbin.encode_login_request("USER01", "PASSWORD", "", 1)
    assert packet == LOGIN_EXAMPLE
    assert len(packet) == 49


def test_encode_when_login_request_410_then_heartbeat_timeout_appended_and_length_52() -> None:
    packet = soupbin.encode_login_request("USER01", "PASSWORD", "", 1, version="4.10", heartbeat_timeout_ms=15000)
    assert packet == hexb(
        "00 34",  # Packet Length 52
        "4C",  # L
        text("USER01", 6),
        text("PASSWORD", 10),
        text("", 10),
        rtext("1", 20),
        "31 35 30 30 30",  # "15000" ms
    )
    assert len(packet) == 54


@pytest.mark.parametrize(
    ("packet", "golden"),
    [
        (LoginAccepted("ABC", 1), hexb("00 1F", "41", rtext("ABC", 10), rtext("1", 20))),
        (
            LoginAccepted("0000012345", 987654321),
            hexb("00 1F 41", text("0000012345", 10), rtext("987654321", 20)),
        ),
        (LoginRejected("A"), hexb("00 02 4A 41")),
        (LoginRejected("S"), hexb("00 02 4A 53")),
        (SequencedData(b"\x53" + bytes(8) + b"S"), hexb("00 0B 53 53 00 00 00 00 00 00 00 00 53")),
        (UnsequencedData(b"\x0a\x00"), hexb("00 03 55 0A 00")),
        (ServerHeartbeat(), hexb("00 01 48")),
        (EndOfSession(), hexb("00 01 5A")),
        (Debug(b"hi\n"), hexb("00 04 2B 68 69 0A")),
    ],
    ids=[
        "accepted",
        "accepted-full-width",
        "rejected-A",
        "rejected-S",
        "sequenced",
        "unsequenced-4x",
        "heartbeat",
        "end",
        "debug",
    ],
)
def test_encode_when_server_packet_then_golden_bytes_and_decodes_back(
    packet: soupbin.ServerPacket, golden: bytes
) -> None:
    assert encode_server_packet(packet) == golden
    splitter = SoupSplitter()
    (view,) = splitter.feed(golden)
    assert decode_server_packet(view) == packet


@pytest.mark.parametrize(
    ("packet", "golden"),
    [
        (
            UnsequencedData(hexb("58 00 00 00 07 00 00 00 00 00 00")),
            hexb("00 0C 55 58 00 00 00 07 00 00 00 00 00 00"),
        ),
        (ClientHeartbeat(), hexb("00 01 52")),
        (LogoutRequest(), hexb("00 01 4F")),
        (LoginRequest("USER01", "PASSWORD", "", 1), LOGIN_EXAMPLE),
        (Debug(b""), hexb("00 01 2B")),
    ],
    ids=["unsequenced", "heartbeat", "logout", "login", "debug-empty"],
)
def test_encode_when_client_packet_then_golden_bytes_and_decodes_back(
    packet: soupbin.ClientPacket, golden: bytes
) -> None:
    assert encode_client_packet(packet) == golden
    assert decode_client_packet(golden[2:]) == packet


@pytest.mark.parametrize(
    ("session_field", "sequence_field", "session", "sequence"),
    [
        (rtext("ABC", 10), rtext("42", 20), "ABC", 42),
        (text("ABC", 10), text("42", 20), "ABC", 42),
        (text(" ABC", 10), text("   42", 20), "ABC", 42),
        (text("ABC", 10), text("00000000000000000042", 20), "ABC", 42),
        (text("", 10), text("0", 20), "", 0),
    ],
    ids=["right-justified", "left-justified", "spaces-both-sides", "leading-zeros", "blank-zero"],
)
def test_decode_when_login_accepted_padded_either_way_then_parsed_leniently(
    session_field: str, sequence_field: str, session: str, sequence: int
) -> None:
    assert decode_server_packet(hexb("41", session_field, sequence_field)) == LoginAccepted(session, sequence)


def test_decode_when_login_request_has_lowercase_and_zero_padded_fields_then_parsed() -> None:
    packet = hexb("4C", text("user", 6), text("pw", 10), rtext("S1", 10), text("0000000000000000007", 20))
    assert decode_client_packet(packet) == LoginRequest("user", "pw", "S1", 7)


@pytest.mark.parametrize(
    ("packet", "kind"),
    [
        (hexb("41", text("ABC", 10), text("4x", 20)), BAD_NUMBER),
        (hexb("41", text("ABC", 10), text("1", 19)), BAD_LENGTH),
        (hexb("48 00"), BAD_LENGTH),
        (hexb("4A"), BAD_LENGTH),
        (hexb("5A 5A"), BAD_LENGTH),
        (hexb("4C"), UNKNOWN_TYPE),
        (hexb("21"), UNKNOWN_TYPE),
        (b"", TRUNCATED),
    ],
    ids=[
        "seq-not-digits",
        "accepted-short",
        "heartbeat-payload",
        "rejected-no-reason",
        "end-payload",
        "login-from-server",
        "unknown",
        "empty",
    ],
)
def test_decode_server_packet_when_malformed_then_decode_error(packet: bytes, kind: str) -> None:
    result = decode_server_packet(packet)
    assert isinstance(result, DecodeError)
    assert result.kind == kind


@pytest.mark.parametrize(
    ("packet", "kind"),
    [
        (hexb("4C", text("U", 6), text("P", 10), text("", 10), text("1", 20), "31"), BAD_LENGTH),
        (hexb("4C", text("U", 6), text("P", 10), text("", 10), text("1", 20), text("1x", 5)), BAD_NUMBER),
        (hexb("52 00"), BAD_LENGTH),
        (hexb("53"), UNKNOWN_TYPE),
    ],
    ids=["login-47-bytes", "timeout-not-digits", "heartbeat-payload", "sequenced-from-client"],
)
def test_decode_client_packet_when_malformed_then_decode_error(packet: bytes, kind: str) -> None:
    result = decode_client_packet(packet)
    assert isinstance(result, DecodeError)
    assert result.kind == kind


def test_encode_when_fields_too_long_or_negative_then_value_error() -> None:
    with pytest.raises(ValueError, match="longer than 6"):
        soupbin.encode_login_request("TOOLONG", "P", "", 1)
    with pytest.raises(ValueError, match="negative"):
        soupbin.encode_login_request("U", "P", "", -1)
    with pytest.raises(ValueError, match="version"):
        soupbin.encode_login_request("U", "P", "", 1, version="2.00")
    with pytest.raises(ValueError, match="maximum"):
        soupbin.encode_sequenced(bytes(65535))


def test_feed_when_packets_split_at_every_byte_then_each_packet_comes_out_once() -> None:
    stream = LOGIN_EXAMPLE + hexb("00 01 52") + soupbin.encode_unsequenced(b"hello") + hexb("00 01 4F")
    splitter = SoupSplitter()
    got: list[bytes] = []
    for i in range(len(stream)):
        got.extend(bytes(p) for p in splitter.feed(stream[i : i + 1]))
    assert got == [LOGIN_EXAMPLE[2:], b"R", b"Uhello", b"O"]
    assert splitter.buffered == 0


def test_feed_when_zero_length_packet_then_skipped_and_counted() -> None:
    splitter = SoupSplitter()
    assert [bytes(p) for p in splitter.feed(hexb("00 00 00 01 48"))] == [b"H"]
    assert splitter.empty_packets == 1


def test_reset_when_partial_packet_buffered_then_dropped() -> None:
    splitter = SoupSplitter()
    assert splitter.feed(hexb("00 05 53 01")) == []
    assert splitter.buffered == 4
    splitter.reset()
    assert [bytes(p) for p in splitter.feed(hexb("00 01 48"))] == [b"H"]


@given(
    st.lists(st.binary(min_size=1, max_size=300), max_size=20),
    st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=50),
)
def test_feed_when_any_chunking_then_packets_identical(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(soupbin.encode_packet(p[:1], p[1:]) for p in payloads)
    splitter = SoupSplitter()
    got: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        got.extend(bytes(p) for p in splitter.feed(stream[pos : pos + step]))
        pos += step
        i += 1
    assert got == payloads


_text = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=10)


@given(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=6),
    _text,
    _text,
    st.integers(min_value=0, max_value=10**20 - 1),
    st.one_of(st.none(), st.integers(min_value=0, max_value=99999)),
)
def test_login_request_when_round_tripped_then_equal(
    username: str, password: str, session: str, sequence: int, timeout: int | None
) -> None:
    packet = LoginRequest(username, password, session, sequence, timeout)
    assert decode_client_packet(encode_client_packet(packet)[2:]) == packet


@given(_text, st.integers(min_value=0, max_value=10**20 - 1))
def test_login_accepted_when_round_tripped_then_equal(session: str, sequence: int) -> None:
    packet = LoginAccepted(session, sequence)
    assert decode_server_packet(encode_server_packet(packet)[2:]) == packet


@given(st.binary(max_size=80))
def test_decoders_when_random_bytes_then_packet_or_decode_error(data: bytes) -> None:
    server = decode_server_packet(data)
    client = decode_client_packet(data)
    assert isinstance(server, (DecodeError, *soupbin.ServerPacket.__args__))
    assert isinstance(client, (DecodeError, *soupbin.ClientPacket.__args__))


@given(st.binary(max_size=400))
def test_splitter_when_random_bytes_then_never_raises_and_accounts_for_every_byte(data: bytes) -> None:
    splitter = SoupSplitter()
    packets = splitter.feed(data)
    consumed = sum(len(p) + 2 for p in packets) + 2 * splitter.empty_packets
    assert consumed + splitter.buffered == len(data)
