"""Risk exposure follows the quantity and price a venue accepted (fixouch42, rev42ouch 1).

The core applies an acknowledgement with ``gateway.venue_apply.accepted`` and, when the venue accepted
another quantity or price than sent, has risk recount the order (``Engine._accepted_otherwise``).
"""

from __future__ import annotations

from pathlib import Path

from gateway.venue_apply import accepted
from model.order import mark_sent
from model.venue_events import VenueAccepted
from tests.risk.support import make_engine, order, px


def test_accepted_when_fewer_shares_then_open_quantity_and_notional_recounted(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    new = order(qty=100, price="100.00")
    assert engine.check_and_commit_new(new, clock()) is None
    engine.on_order_opened(new)
    mark_sent(new, str(new.order_id))
    assert engine.position("ACC1", "AAPL").open_buy_qty == 100
    before = engine.exposure("ACC1").open_notional

    prev_qty, prev_price = new.qty, new.price
    assert accepted(new, VenueAccepted(1, new.order_id, "V1", 60, px("99.50")), 1, []) is not None
    engine.on_open_changed(new, prev_qty, prev_price)

    assert engine.position("ACC1", "AAPL").open_buy_qty == 60
    assert engine.exposure("ACC1").open_notional == 60 * px("99.50")
    assert before == 100 * px("100.00")
