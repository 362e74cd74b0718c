"""``model.prices.price_text``: the one place fixed-point prices become operator text."""

from __future__ import annotations

import pytest

from gateway.protocol import prices as protocol_prices
from gateway.protocol.prices import to_fixed
from model.prices import price_text


@pytest.mark.parametrize(
    ("fixed", "text"),
    [
        (0, "0"),
        (1, "0.0001"),
        (1_502_500, "150.25"),
        (2_000_000, "200"),
        (10_000, "1"),
        (123_456_789, "12345.6789"),
        (2**63 - 1, "922337203685477.5807"),
    ],
)
def test_price_text_is_the_plain_decimal(fixed: int, text: str) -> None:
    assert price_text(fixed) == text
    assert "E" not in price_text(fixed)


@pytest.mark.parametrize("text", ["0", "0.0001", "150.25", "200", "99999.9999"])
def test_price_text_round_trips_through_to_fixed(text: str) -> None:
    assert price_text(to_fixed(text)) == text


def test_the_protocol_module_hands_out_the_same_function() -> None:
    assert protocol_prices.price_text is price_text
