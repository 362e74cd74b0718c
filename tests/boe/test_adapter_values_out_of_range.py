"""BOE venue prices and quantities beyond the strategy protocol's ranges (section 2) never reach the core."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.venue_events import VenueExecuted, VenueState
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
