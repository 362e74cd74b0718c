"""Golden bytes: the byte-level examples in docs/strategy-protocol.md are what the code produces."""

from __future__ import annotations

import pytest

from gateway.protocol.framing import encode_frame, gateway_message_decoder, strategy_message_decoder
from gateway.protocol.messages import Executed, Heartbeat, Hello, NewOrder, OrderAccepted, OrderRejected, Welcome
from gateway.protocol.prices import to_decimal, to_fixed
from model.enums import RejectSource, Side

GOLDEN = [
    (Hello("demo", 1, 0, 1000), "00 00 00 0c 95 01 a4 64 65 6d 6f 01 00 cd 03 e8"),
    (Welcome(1, "gw1", 1, 1000, 0), "00 00 00 0c 96 10 01 a3 67 77 31 01 cd 03 e8 00"),
    (
        NewOrder("C1", "ACC1", "OUCH", "AAPL", Side.BUY, 100, 1_502_500),
        "00 00 00 21 9b 02 a2 43 31 a4 41 43 43 31 a4 4f 55 43 48 a4 41 41 50 4c a1 42 64"
        " ce 00 16 ed 24 a1 30 a1 32 00",
    ),
    (
        OrderAccepted(1, "C1", "1234", 100, 1_502_500),
        "00 00 00 11 96 11 01 a2 43 31 a4 31 32 33 34 64 ce 00 16 ed 24",
    ),
    (
        Executed(2, "C1", 40, 1_502_500, "R", "987", 40, 60),
        "00 00 00 14 99 13 02 a2 43 31 28 ce 00 16 ed 24 a1 52 a3 39 38 37 28 3c",
    ),
    (
        OrderRejected(3, "C2", RejectSource.RISK, "MAX_ORDER_QTY", "qty 20000 > max 10000"),
        "00 00 00 2f 96 12 03 a2 43 32 a4 52 49 53 4b ad 4d 41 58 5f 4f 52 44 45 52 5f 51 54 59"
        " b5 71 74 79 20 32 30 30 30 30 20 3e 20 6d 61 78 20 31 30 30 30 30",
    ),
    (Heartbeat(), "00 00 00 02 91 06"),
]


@pytest.mark.parametrize(("message", "hex_bytes"), GOLDEN, ids=lambda v: type(v).__name__)
def test_encode_when_documented_example_then_bytes_match_the_doc(message: object, hex_bytes: str) -> None:
    assert encode_frame(message) == bytes.fromhex(hex_bytes)
    decoder = strategy_message_decoder if isinstance(message, (Hello, NewOrder)) else gateway_message_decoder
    assert decoder.decode(bytes.fromhex(hex_bytes)[4:]) == message


def test_decode_when_trailing_defaults_omitted_then_defaults_apply() -> None:
    short = bytes.fromhex("98 02 a2 43 31 a4 41 43 43 31 a4 4f 55 43 48 a4 41 41 50 4c a1 42 64 ce 00 16 ed 24")
    assert strategy_message_decoder.decode(short) == NewOrder("C1", "ACC1", "OUCH", "AAPL", Side.BUY, 100, 1_502_500)


@pytest.mark.parametrize(("text", "fixed"), [("150.25", 1_502_500), ("0.0001", 1), ("199999.99", 1_999_999_900)])
def test_to_fixed_when_exact_decimal_then_round_trips(text: str, fixed: int) -> None:
    assert to_fixed(text) == fixed
    assert to_fixed(to_decimal(fixed)) == fixed


@pytest.mark.parametrize("bad", ["1.00001", "-1", "abc", "NaN"])
def test_to_fixed_when_inexact_or_invalid_then_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        to_fixed(bad)


def test_to_fixed_when_float_given_then_type_error() -> None:
    with pytest.raises(TypeError):
        to_fixed(0.1)  # type: ignore[arg-type]
