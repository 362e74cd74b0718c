"""``accepted_core``: the adapter's Order Accepted fast path agrees with the full decoder on every input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.ouch.test_codec import _message_strategy
from venues.ouch.codec import OUTBOUND_LAYOUTS, accepted_core, decode_accepted, encode_message
from venues.ouch.errors import DecodeError
from venues.ouch.messages import OrderAccepted

ACCEPTED_LAYOUT = next(layout for layout in OUTBOUND_LAYOUTS if layout.cls is OrderAccepted)


def _fields(message: OrderAccepted) -> tuple[int, int, int, int, str]:
    return (
        message.user_ref_num,
        message.quantity,
        message.price,
        message.order_reference_number,
        message.order_state,
    )


def test_accepted_core_when_golden_message_then_the_five_fields() -> None:
    message = OrderAccepted(
        34_200_000_000_000, 7, "B", 100, "AAPL", 2_290_000, "0", "Y", 100_000_001, "A", "N", "N", "L", "12"
    )
    assert accepted_core(encode_message(message)) == (7, 100, 2_290_000, 100_000_001, "L")


@given(_message_strategy(ACCEPTED_LAYOUT))
def test_accepted_core_when_any_accepted_message_then_same_fields_as_full_decode(message: OrderAccepted) -> None:
    assert accepted_core(encode_message(message)) == _fields(message)


@given(st.binary(min_size=0, max_size=80))
def test_accepted_core_when_random_bytes_then_agrees_with_decode_accepted(tail: bytes) -> None:
    data = b"A" + tail
    full = decode_accepted(data)
    core = accepted_core(data)
    if isinstance(full, DecodeError):
        assert isinstance(core, DecodeError)
    else:
        assert core == _fields(full)


@given(_message_strategy(ACCEPTED_LAYOUT), st.integers(min_value=1, max_value=63), st.binary(min_size=1, max_size=1))
def test_accepted_core_when_one_byte_changed_then_agrees_with_decode_accepted(
    message: OrderAccepted, position: int, byte: bytes
) -> None:
    data = bytearray(encode_message(message))
    data[position % len(data)] = byte[0]
    full = decode_accepted(data)
    core = accepted_core(data)
    if isinstance(full, DecodeError):
        assert isinstance(core, DecodeError)
    else:
        assert core == _fields(full)
