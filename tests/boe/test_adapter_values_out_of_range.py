"""BOE venue prices and quantities beyond the strategy protocol's ranges (section 2) never reach the core."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.venue_events import VenueCanceled, VenueExecuted, VenueState
from simulators.boe.exchange import BoeExchangeConfig
from tests.boe.harness import PX, Link, make_order
from venues.boe.adapter import split_ref


def _link(tmp_path: Path) -> Link:
    config = BoeExchangeConfig(units=3, symbol_units={"AAPL": 1}, reference_prices={"AAPL": PX})
    link = Link(tmp_path, exchange=config)
    link.connect()
    assert link.venue.state is VenueState.UP
    return link


@pytest.mark.parametrize("price", [-1, -(2**63), 2**53, 2**63 - 1])
def test_execution_when_price_out_of_range_then_no_event_counted_and_later_fill_delivered(
    tmp_path: Path, price: int
) -> None:
    link = _link(tmp_path)
    order = make_order(1, qty=300)
    link.send_new(order)
    cl_ord_id = split_ref(order.venue_ref)[0]
    before = list(link.events)
    assert link.core.exchange.execute(cl_ord_id, 100, price)
    link.pump()
    assert link.events == before
    assert link.venue.status()["decode_errors"] == 1
    assert link.core.exchange.execute(cl_ord_id, 50)
    link.pump()
    (fill,) = link.events[len(before) :]
    assert isinstance(fill, VenueExecuted) and (fill.qty, fill.price) == (50, order.price)


def test_execution_when_price_at_the_limit_then_delivered(tmp_path: Path) -> None:
    link = _link(tmp_path)
    order = make_order(1, qty=300)
    link.send_new(order)
    assert link.core.exchange.execute(split_ref(order.venue_ref)[0], 100, 2**53 - 1)
    link.pump()
    fill = link.events[-1]
    assert isinstance(fill, VenueExecuted) and fill.price == 2**53 - 1


def test_execution_out_of_range_ending_the_order_then_closed_without_a_fill_and_said_to_reconcile(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev55boe: LeavesQty 0 with an execution the gateway cannot apply was told as "an execution of 0" canceled."""
    link = _link(tmp_path)
    order = make_order(1, qty=100)
    link.send_new(order)
    before = list(link.events)
    with caplog.at_level("ERROR"):
        assert link.core.exchange.execute(split_ref(order.venue_ref)[0], 100, -1)
        link.pump()
    (ended,) = link.events[len(before) :]
    assert isinstance(ended, VenueCanceled) and ended.reason == "BOE_LEAVES_ZERO"
    assert "cannot apply" in ended.text and "LastPx -1" in ended.text and "reconcile with Cboe" in ended.text
    assert "execution of 0" not in ended.text
    assert any("may have traded" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert link.venue.status()["decode_errors"] == 1


def test_execution_out_of_range_then_logged_as_out_of_range_not_undecodable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = _link(tmp_path)
    order = make_order(1, qty=300)
    link.send_new(order)
    with caplog.at_level("WARNING"):
        assert link.core.exchange.execute(split_ref(order.venue_ref)[0], 100, -1)
        link.pump()
    texts = [r.getMessage() for r in caplog.records]
    assert any("out of range" in t for t in texts) and not any("undecodable" in t for t in texts)
