"""Golden bytes: every byte-level example in docs/strategy-protocol.md is exactly what the code produces.

The examples are read from the doc itself (every fenced block of section 9 is one frame: the
leading two-digit hex tokens of each line), so an example cannot be added or edited without
this test checking it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.protocol.framing import encode_frame, gateway_message_decoder, strategy_message_decoder
from gateway.protocol.messages import (
    Cancel,
    Error,
    Executed,
    Heartbeat,
    Hello,
    MassCancel,
    MassCancelAck,
    MassCancelRejected,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    VenueStatus,
    Welcome,
    WelcomeV2,
)
from gateway.protocol.prices import to_decimal, to_fixed
from model.enums import RejectSource, Side

DOC = Path(__file__).resolve().parents[1] / "docs" / "strategy-protocol.md"
HEX = re.compile(r"^[0-9a-f]{2}$")

GOLDEN: list[object] = [  # in the doc's order
    Hello("demo", 3, 0, 1000),
    Welcome(3, "gw1", 1, 1000, 0, 0),
    VenueStatus("OUCH", "UP", "logged in"),
    NewOrder("C1", "ACC1", "OUCH", "AAPL", Side.BUY, 100, 1_502_500, req_seq=1),
    OrderAccepted(1, "C1", "1234", 100, 1_502_500),
    Executed(2, "C1", 40, 1_502_500, "R", "987", 40, 60),
    OrderRejected(3, "C2", RejectSource.RISK, "MAX_QTY", "quantity 20000 is above max_qty 10000"),
    Cancel("C1", 0, 2),
    MassCancel("", "", "AAPL", "M1", 3),
    MassCancelAck("M1", 2),
    MassCancelRejected("M2", "ACCOUNT_NOT_PERMITTED", "ACC9"),
    Welcome(3, "gw1", 4, 1000, 0, 3),
    Error("REQ_SEQ_GAP", "req_seq 9 received, 7 expected", True),
    Error("HELLO_TIMEOUT", "no Hello within 3000 ms of connecting", True),
    Heartbeat(),
]


def doc_frames() -> list[bytes]:
    """Return every example frame of the doc's byte-level section, in order."""
    text = DOC.read_text()
    start = text.index("## 9. Byte-level examples")
    section = text[start : text.index("\n## ", start + 1)]
    frames = []
    for block in re.findall(r"```\n(.*?)```", section, flags=re.DOTALL):
        data = bytearray()
        for line in block.splitlines():
            for token in line.split():
                if not HEX.match(token):
                    break
                data.append(int(token, 16))
        frames.append(bytes(data))
    return frames


def test_doc_examples_when_read_from_the_doc_then_one_golden_message_each_in_order() -> None:
    frames = doc_frames()
    assert len(frames) == len(GOLDEN)
    for frame in frames:
        assert int.from_bytes(frame[:4], "big") == len(frame) - 4, frame.hex(" ")


@pytest.mark.parametrize("index", range(len(GOLDEN)), ids=[type(m).__name__ for m in GOLDEN])
def test_encode_when_documented_example_then_bytes_match_the_doc(index: int) -> None:
    message, frame = GOLDEN[index], doc_frames()[index]
    assert encode_frame(message) == frame, f"{frame.hex(' ')} in the doc"
    strategy_side = isinstance(message, (Hello, NewOrder, Cancel, MassCancel))
    decoder = strategy_message_decoder if strategy_side else gateway_message_decoder
    assert decoder.decode(frame[4:]) == message


def test_decode_when_trailing_defaults_omitted_then_defaults_apply() -> None:
    short = bytes.fromhex("98 02 a2 43 31 a4 41 43 43 31 a4 4f 55 43 48 a4 41 41 50 4c a1 42 64 ce 00 16 ed 24")
    assert strategy_message_decoder.decode(short) == NewOrder("C1", "ACC1", "OUCH", "AAPL", Side.BUY, 100, 1_502_500)


def test_decode_when_version_1_mass_cancel_has_three_fields_then_request_id_defaults_to_empty() -> None:
    assert strategy_message_decoder.decode(bytes.fromhex("94 05 a0 a0 a4 41 41 50 4c")) == MassCancel("", "", "AAPL")


def test_encode_when_version_2_session_then_welcome_has_five_fields_as_the_doc_says() -> None:
    v2 = encode_frame(WelcomeV2(2, "gw1", 1, 1000, 0))
    assert v2.hex(" ").startswith("00 00 00 0c 96 10 02")  # the doc's note under the version-3 Welcome
    assert gateway_message_decoder.decode(v2[4:]) == Welcome(2, "gw1", 1, 1000, 0, 0)


def test_decode_when_version_2_request_then_req_seq_defaults_to_0() -> None:
    assert strategy_message_decoder.decode(bytes.fromhex("93 03 a2 43 31 00")) == Cancel("C1", 0, 0)


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
