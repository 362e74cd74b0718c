"""BOE: the venue lost its book (rev55chaos: the BOE simulator restarted, boerestart round).

Cboe restarted with nothing of our orders: every unit numbers from 1 again and a Cancel of an order resting
there is refused ``O`` ("ClOrdID does not match any known order", reference §8). Before boebook55 the order
stayed open here for ever with its exposure, and every Cancel (a MassCancel's too) got
``CancelRejected(VENUE, UNKNOWN_ORDER)``. Now Cboe's ``O`` to a Cancel of an acknowledged order with no Modify in
flight ends it: ``Canceled`` ``BOE_NOT_AT_CBOE``, which answers the strategy's Cancel, exposure released. A fill
Cboe reports later is still applied (late-fill rules); a Cancel crossing a fill (``J``) is unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, MassCancel, NewOrder, Replace
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import SimulatorConfig, SimulatorCore
from tests.boe.harness import DAY_NS, PX, Link, gateway_over
from tests.harness import MemoryLink, Rig

RESTING = PX - 100
EXCHANGE = BoeExchangeConfig(
    units=3, symbol_units={"AAPL": 1, "MSFT": 2, "SPY": 3}, reference_prices={"AAPL": PX, "MSFT": PX, "SPY": PX}
)


def _pump(link: Link, engine: Engine) -> None:
    link.pump()
    engine.flush()


def _up(link: Link, engine: Engine) -> None:
    for _ in range(3):
        link.connect()
        _pump(link, engine)
        if link.venue.state is VenueState.UP:
            return
        link.disconnect()
    raise AssertionError(link.venue.reason)


def _lose_book(link: Link) -> None:
    """The venue process restarts: a new exchange, nothing of the old book, every unit numbering from 1."""
    link.disconnect()
    link.core = SimulatorCore(SimulatorConfig(exchange=EXCHANGE), clock=link.clock, wall=lambda: DAY_NS)


def _rig(tmp_path: Path) -> tuple[Link, Engine, Rig, MemoryLink]:
    link = Link(tmp_path / "boe", sim=SimulatorConfig(exchange=EXCHANGE))
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    return link, engine, rig, strat


def test_cancel_refused_unknown_after_the_venue_lost_its_book_then_the_order_ends_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _rig(tmp_path)
    rig.send(
        strat,
        *(
            NewOrder(f"a{i}", "ACC1", "cboe", sym, Side.BUY, 100, RESTING)
            for i, sym in enumerate(("AAPL", "MSFT", "SPY"))
        ),
    )
    _pump(link, engine)
    strat.received()
    _lose_book(link)
    rig.send(strat, Cancel("a0"))  # held while the venue is down
    engine.flush()
    _up(link, engine)
    _pump(link, engine)
    with caplog.at_level(logging.ERROR, logger="venues.boe.adapter"):
        rig.send(strat, MassCancel())
        _pump(link, engine)
    got = strat.received()
    canceled = {m.cl_ord_id: m for m in got if isinstance(m, Canceled)}
    assert [m for m in got if isinstance(m, CancelRejected)] == []  # old: CancelRejected VENUE UNKNOWN_ORDER
    assert sorted(canceled) == ["a0", "a1", "a2"]
    assert {m.reason for m in canceled.values()} == {"BOE_NOT_AT_CBOE"}
    assert all(m.leaves_qty == 0 for m in canceled.values())
    assert "does not match any known order (Cancel Rejected O" in canceled["a0"].text
    orders = {o.cl_ord_id: o for o in engine.orders.values()}
    assert all(orders[f"a{i}"].state is OrderState.CANCELED for i in range(3))
    assert link.venue.status()["ended_not_at_cboe"] == 3
    assert "BOE_NOT_AT_CBOE" in caplog.text
    # nothing open, nothing more: a second MassCancel has nothing to cancel, no answer comes twice
    rig.send(strat, MassCancel())
    _pump(link, engine)
    assert [m for m in strat.received() if isinstance(m, (Canceled, CancelRejected))] == []


def test_cancel_refused_unknown_then_a_late_fill_is_still_applied(tmp_path: Path) -> None:
    link, engine, rig, strat = _rig(tmp_path)
    rig.send(strat, NewOrder("a0", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "a0")
    cl_ord_id = link.venue.cl_ord_id(order.order_id)
    book = link.core.exchange.orders
    resting = book.pop(cl_ord_id)  # Cboe does not find it (yet): its Cancel is refused O
    rig.send(strat, Cancel("a0"))
    _pump(link, engine)
    assert order.state is OrderState.CANCELED
    assert [m.reason for m in strat.received() if isinstance(m, Canceled)] == ["BOE_NOT_AT_CBOE"]
    book[cl_ord_id] = resting  # ... then reports a fill of it all the same: applied as a late fill
    link.core.exchange.execute(cl_ord_id, 40)
    _pump(link, engine)
    fills = [m for m in strat.received() if isinstance(m, Executed)]
    assert [(m.qty, m.leaves_qty) for m in fills] == [(40, 0)]
    assert order.cum_qty == 40
    assert link.venue.status()["live_after_end"] == 1  # and the 60 left working there are canceled at Cboe


def test_cancel_crossing_a_full_fill_then_too_late_not_ended_as_unknown(tmp_path: Path) -> None:
    link, engine, rig, strat = _rig(tmp_path)
    rig.send(strat, NewOrder("a0", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "a0")
    link.core.exchange.execute(link.venue.cl_ord_id(order.order_id), 100)
    rig.send(strat, Cancel("a0"))  # crosses the fill
    _pump(link, engine)
    got = strat.received()
    assert [m.qty for m in got if isinstance(m, Executed)] == [100]
    assert not [m for m in got if isinstance(m, Canceled) and m.reason == "BOE_NOT_AT_CBOE"]
    assert order.state is OrderState.FILLED
    assert link.venue.status()["ended_not_at_cboe"] == 0


def test_replace_then_cancel_after_the_venue_lost_its_book_then_replace_refused_and_the_cancel_ends_it(
    tmp_path: Path,
) -> None:
    """A Modify in flight: its refusal ``O`` does not end the order (a Modify crossing a fill may be refused ``O``);
    the Cancel held behind it goes out once it is answered, and Cboe's ``O`` to that ends the order."""
    link, engine, rig, strat = _rig(tmp_path)
    rig.send(strat, NewOrder("a0", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    strat.received()
    _lose_book(link)
    _up(link, engine)
    rig.send(strat, Replace("a0", 150, RESTING), Cancel("a0"))  # the Cancel held behind the Modify
    for _ in range(3):
        _pump(link, engine)
    got = strat.received()
    answers = [
        (type(m).__name__, getattr(m, "code", getattr(m, "reason", "")))
        for m in got
        if isinstance(m, (Canceled, CancelRejected))
    ]
    assert answers == [("CancelRejected", "UNKNOWN_ORDER"), ("Canceled", "BOE_NOT_AT_CBOE")]
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "a0")
    assert (order.state, order.qty) == (OrderState.CANCELED, 100)
