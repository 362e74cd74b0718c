"""Slices whose end can fall before their start, run compiled (mypyc).

Compiled, ``x[a:b]`` on ``bytes``/``bytearray`` with int bounds calls mypyc's ``CPyBytes_GetSlice``,
which clamps both bounds to ``[0, len]`` but not ``b`` to ``a``: when ``b < a`` it asks CPython for a
negative size and raises ``SystemError`` where Python gives ``b""``. (``str``, ``list`` and ``tuple``
slices go to ``PyUnicode_Substring``/``PyList_GetSlice``/``PyTuple_GetSlice``, which clamp: no hazard.)

``make unit`` runs these compiled, ``make unit-pure`` interpreted: the results must be the same.
The property tests feed arbitrary bytes to each decoder entry point and accept only the
documented outcomes, never ``SystemError``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import strategy_session
from obs import native
from venues.fix import codec
from venues.fix.codec import DecodeError, FixMessage, FrameDecoder, checksum
from venues.fix.session import resend
from venues.fix.session.admin import AdminEncoder
from venues.fix.session.config import SessionConfig
from venues.fix.store.memory import MemoryStore

NOW_NS = 1_780_000_000 * 1_000_000_000
"""A wall clock in 2026: any SendingTime of 2020 is stale by then."""


def test_modules_when_build_current_then_compiled() -> None:
    """Check the tests below exercise the compiled code under ``make unit`` (not a silent fallback)."""
    if os.environ.get(native.SWITCH) == "1" or not native.MANIFEST.exists():
        pytest.skip("pure-Python run (make unit-pure) or nothing built")
    for module in (codec, resend, strategy_session):
        assert module.__file__ is not None and module.__file__.endswith(".so"), module.__file__


@pytest.mark.parametrize(
    ("raw", "stale"),
    [
        (b"8=FIX.4.4\x019=5\x0152=", True),  # ends with the tag: the value slice [len:len-1] ended before it started
        (b"8=FIX.4.4\x0152=X", True),  # one byte, no SOH: raw[at + 4 : -1] is empty
        (b"8=FIX.4.4\x0152=20200101-00:00:00.000\x01", True),
        (b"8=FIX.4.4\x0152=20260101-00:00:00.000\x01", False),
        (b"8=FIX.4.4\x0152=20260101-00:00:00.000X", False),  # no SOH after it: the last byte is left off
        (b"8=FIX.4.4\x0135=D\x01", True),  # no SendingTime at all
    ],
)
def test_is_stale_when_sending_time_cut_short_then_answers_like_python(raw: bytes, stale: bool) -> None:
    assert resend._is_stale(raw, NOW_NS, 365 * 86_400 * 1_000_000_000) is stale


def test_answer_resend_request_when_stored_message_ends_in_sending_time_tag_then_gap_filled() -> None:
    """A store record cut right after ``52=`` (a hand-edited or damaged store file) is gap filled, not a crash."""
    config = SessionConfig(begin_string=b"FIX.4.4", sender_comp_id=b"GW", target_comp_id=b"EQX")
    store = MemoryStore()
    store.save_sent(1, b"8=FIX.4.4\x019=5\x0135=D\x0152=")
    store.set_next_sender_seq(2)
    reply = resend.answer_resend_request(
        store,
        AdminEncoder(config),
        1,
        0,
        begin_string=b"FIX.4.4",
        stamp=b"20260101-00:00:00.000",
        wall_now_ns=NOW_NS,
        replay_business=True,
        stale_after_ns=1_000_000_000,
    )
    assert len(reply.messages) == 1 and b"\x0135=4\x01" in reply.messages[0] and b"\x01123=Y\x01" in reply.messages[0]
    assert reply.gap_filled_business == [b"8=FIX.4.4\x019=5\x0135=D\x0152="]


_BEGIN = st.sampled_from([b"8=FIX.4.2\x01", b"8=FIX.4.4\x01", b"8=FIXT.1.1\x01", b"8=FIX", b"8=FIX.4.4"])
_LENGTH = st.one_of(st.integers(0, 40).map(lambda n: b"9=%d\x01" % n), st.binary(max_size=6))
_BODY = st.lists(
    st.one_of(
        st.sampled_from([b"35=0\x01", b"34=1\x01", b"52=\x01", b"=\x01", b"\x01", b"1=", b"58=x=y\x01"]),
        st.binary(max_size=8),
    ),
    max_size=6,
).map(b"".join)


@st.composite
def _frames(draw: st.DrawFn) -> bytes:
    """Draw a frame near the valid ones: real headers, any BodyLength, a body of field-like pieces."""
    head = draw(_BEGIN) + draw(_LENGTH) + draw(_BODY)
    trailer = draw(st.sampled_from([b"10=%03d\x01" % checksum(head), b"10=000\x01", b"10=", b""]))
    return head + trailer


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_frames(), st.binary(max_size=30)), max_size=4), st.integers(1, 64))
def test_frame_decoder_when_near_valid_bytes_in_pieces_then_only_messages_or_errors(
    parts: list[bytes], chunk: int
) -> None:
    data = b"".join(parts)
    whole = FrameDecoder(max_body_length=64).feed(data)
    assert all(isinstance(x, FixMessage | DecodeError) for x in whole)
    decoder = FrameDecoder(max_body_length=64)
    pieces = [x for i in range(0, len(data), chunk) for x in decoder.feed(data[i : i + chunk])]
    assert all(isinstance(x, FixMessage | DecodeError) for x in pieces)
    assert [x.raw for x in pieces if isinstance(x, FixMessage)] == [x.raw for x in whole if isinstance(x, FixMessage)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 8))
def test_peek_elements_when_arbitrary_bytes_then_never_raises(data: bytes, count: int) -> None:
    elements, length = strategy_session.peek_elements(data, count)
    assert len(elements) <= count
    assert all(x is None or isinstance(x, int | bytes) for x in elements)
    assert length is None or length >= 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.sampled_from([b"", b"\x0152=", b"\x0152=2", b"\x0152=20260101-00:00:00\x01"]))
def test_is_stale_when_arbitrary_stored_bytes_then_a_bool(data: bytes, tail: bytes) -> None:
    assert isinstance(resend._is_stale(data + tail, NOW_NS, 1_000_000_000), bool)
