"""OUCH venue values beyond the strategy protocol's ranges (section 2) never reach the core as events."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.venue_events import VenueExecuted, VenueState
from tests.ouch.harness import PX, TS, Link, make_order
from venues.ouch.codec import encode_message
from venues.ouch.messages import AiqCanceled, OrderAccepted, OrderCanceled, OrderExecuted, OrderReplaced

_HUGE_QTY = 2**32 - 1
_HUGE_PRICE = 2**64 - 1


def _accepted(urn: int, qty: int, price: int) -> OrderAccepted:
    return OrderAccepted(TS, urn, "B", qty, "AAPL", price, "0", "Y", 77, "A", "N", "N", "L", "X")


def _replaced(urn: int, qty: int, price: int) -> OrderReplaced:
    return OrderReplaced(TS, urn, urn, "B", qty, "AAPL", price, "0", "Y", 78, "A", "N", "N", "L", "X")


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(lambda urn: OrderExecuted(TS, urn, _HUGE_QTY, PX, "A", 1), id="executed-qty"),
        pytest.param(lambda urn: OrderExecuted(TS, urn, 1, _HUGE_PRICE, "A", 1), id="executed-price"),
        pytest.param(lambda urn: OrderExecuted(TS, urn, 1, 2**53, "A", 1), id="executed-price-2^53"),
        pytest.param(lambda urn: _accepted(urn, 2**31, PX), id="accepted-qty"),
        pytest.param(lambda urn: _accepted(urn, 100, _HUGE_PRICE), id="accepted-price"),
        pytest.param(lambda urn: _replaced(urn, _HUGE_QTY, PX), id="replaced-qty"),
        pytest.param(lambda urn: _replaced(urn, 100, _HUGE_PRICE), id="replaced-price"),
        pytest.param(lambda urn: OrderCanceled(TS, urn, _HUGE_QTY, "U"), id="canceled-qty"),
        pytest.param(lambda urn: AiqCanceled(TS, urn, _HUGE_QTY, "Q", 0, PX, "A", "N"), id="aiq-canceled-qty"),
    ],
)
def test_sequenced_when_value_out_of_range_then_no_event_counted_and_later_fill_delivered(
    tmp_path: Path, message: object
) -> None:
    link = Link(tmp_path)
    link.connect()
    assert link.venue.state is VenueState.UP
    urn = int(link.send_new(make_order(31, qty=100)))
    before = list(link.events)
    errors = int(link.venue.status()["decode_errors"])  # type: ignore[call-overload]
    link.core.stream.append(encode_message(message(urn)))  # type: ignore[operator]
    link.core.stream.append(encode_message(OrderExecuted(TS, urn, 40, PX, "A", 5)))
    link.pump()
    assert link.venue.status()["decode_errors"] == errors + 1
    assert link.events[: len(before)] == before
    assert link.events[len(before) :] == [VenueExecuted(len(before) + 2, 31, 40, PX, "A", "5")]


def test_sequenced_when_values_at_the_limits_then_delivered(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.connect()
    urn = int(link.send_new(make_order(32, qty=100)))
    link.core.stream.append(encode_message(OrderExecuted(TS, urn, 2**31 - 1, 2**53 - 1, "A", 6)))
    link.pump()
    last = link.events[-1]
    assert isinstance(last, VenueExecuted)
    assert (last.qty, last.price) == (2**31 - 1, 2**53 - 1)
