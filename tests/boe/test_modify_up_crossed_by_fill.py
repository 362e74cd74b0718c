"""BOE: a Modify raising the quantity crossed by fills, fills after the order's end, executions for unknown
ClOrdIDs (boefix38, D1 D2 D3). Against the sans-IO simulator, through a real engine, on a fake clock.

D1: order 100, Modify to 150 on its way; Cboe executes 100 (LeavesQty 0), then applies the Modify ("Cboe applies
the difference in OrderQty to the open quantity": 50 open) and executes 30 more. The gateway ended the order
FILLED at the first fill, dropped the Modified and the 30 as out of place and answered the strategy's Cancel
ORDER_CLOSED without sending it: 20 shares working at Cboe, tracked nowhere.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
    Executed,
    NewOrder,
    OrderAccepted,
    Replace,
    Replaced,
)
from model.enums import Side
from model.order import Order, OrderState
from simulators.boe.exchange import BoeExchangeConfig
from tests.boe.harness import DAY_NS, PX, Link, gateway_over
from tests.harness import LimitRisk, MemoryLink, Rig
from venues.boe.adapter import split_ref
from venues.boe.messages import OrderExecution, OrderModified, ReturnFields, UserModifyRejected

RESTING = PX - 100
UNIT = 1  # AAPL's matching unit in the harness


def _link(tmp_path: Path, *, reopen: bool = False) -> Link:
    exchange = BoeExchangeConfig(
        units=3,
        symbol_units={"AAPL": 1, "MSFT": 2, "SPY": 3},
        reference_prices={"AAPL": PX, "MSFT": PX, "SPY": PX},
        modify_reopens_filled=reopen,
    )
    return Link(tmp_path / "boe", exchange=exchange)


def _risk(engine: Engine) -> LimitRisk:
    risk = engine.risk
    assert isinstance(risk, LimitRisk)
    return risk


def _pump(link: Link, engine: Engine) -> None:
    link.pump()
    engine.flush()


def _events(strat: MemoryLink) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for m in strat.received():
        if isinstance(m, Executed):
            out.append(("Executed", m.qty, m.cum_qty, m.leaves_qty))
        elif isinstance(m, Replaced):
            out.append(("Replaced", m.qty, m.leaves_qty))
        elif isinstance(m, Canceled):
            out.append(("Canceled", m.canceled_qty, m.leaves_qty, m.reason))
        elif isinstance(m, CancelRejected):
            out.append(("CancelRejected", m.source, m.code))
        elif isinstance(m, OrderAccepted):
            out.append(("OrderAccepted",))
    return out


def _order_at_cboe(tmp_path: Path, *, reopen: bool = False) -> tuple[Link, Engine, Rig, MemoryLink, Order]:
    link = _link(tmp_path, reopen=reopen)
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    assert _events(strat) == [("OrderAccepted",)]
    return link, engine, rig, strat, engine.strategies["S1"].orders["A"]


def _modify_held(link: Link, engine: Engine, rig: Rig, strat: MemoryLink, qty: int) -> tuple[str, str]:
    """Send a Replace to ``qty``; Cboe holds its Modify. Return (the order's ClOrdID, the Modify's)."""
    order = engine.strategies["S1"].orders["A"]
    old = split_ref(order.venue_ref)[0]
    link.core.hold = True
    rig.send(strat, Replace("A", qty, RESTING))
    _pump(link, engine)
    assert len(link.core.held) == 1
    return old, split_ref(order.pending_ref)[0]


def _execution(cl_ord_id: str, exec_id: int, shares: int, leaves: int) -> OrderExecution:
    return OrderExecution(0, 0, DAY_NS, cl_ord_id, exec_id, shares, RESTING, leaves, "A", "", "SIMU", ReturnFields())


def test_modify_up_when_a_fill_takes_everything_first_then_the_modified_reopens_it_and_the_cancel_goes_out(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat, order = _order_at_cboe(tmp_path, reopen=True)
    old, new = _modify_held(link, engine, rig, strat, 150)
    assert link.core.exchange.execute(old, 100)  # LeavesQty 0 at Cboe, the Modify still on its way
    _pump(link, engine)
    assert order.state is OrderState.PENDING_REPLACE  # the old code: FILLED
    assert link.core.release_held(link.connection) == 1  # Cboe applies the difference: 50 open
    _pump(link, engine)
    assert link.core.exchange.execute(new, 30)
    _pump(link, engine)
    rig.send(strat, Cancel("A"))
    _pump(link, engine)
    assert _events(strat) == [
        ("Executed", 100, 100, 50),
        ("Replaced", 150, 50),
        ("Executed", 30, 130, 20),
        ("Canceled", 20, 0, "USER_REQUESTED"),
    ]
    assert (order.state, order.cum_qty, order.qty) == (OrderState.CANCELED, 130, 150)
    assert link.core.exchange.orders == {}  # nothing left working at Cboe
    assert [r.outcome for r in link.core.exchange.records if r.type == "Cancel Order"] == ["cancelled"]
    assert engine.counters.venue_events_out_of_place == 0
    assert [(qty, px) for _id, qty, px in _risk(engine).executions] == [(100, RESTING), (30, RESTING)]


def test_modify_up_when_refused_after_a_fill_took_everything_then_filled_and_the_held_cancel_never_sent(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat, order = _order_at_cboe(tmp_path)
    old, _new = _modify_held(link, engine, rig, strat, 150)
    rig.send(strat, Cancel("A"))  # held behind the Modify
    _pump(link, engine)
    assert link.core.exchange.execute(old, 100)
    _pump(link, engine)
    link.core.release_held(link.connection)  # the order is gone at Cboe: User Modify Rejected O
    _pump(link, engine)
    assert _events(strat) == [
        ("Executed", 100, 100, 50),
        ("CancelRejected", "VENUE", "UNKNOWN_ORDER"),
        ("Executed", 0, 100, 0),
    ]
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.FILLED, 100, 0)
    assert not [r for r in link.core.exchange.records if r.type == "Cancel Order"]
    assert engine.counters.venue_events_out_of_place == 0


@pytest.mark.parametrize("on", ["new", "old"])
def test_modify_up_when_the_execution_says_leaves_50_before_the_modified_then_the_order_stays_open(
    tmp_path: Path, on: str
) -> None:
    """s10 V1 / V2: the Execution already counts the Modify (LeavesQty 50), on either ClOrdID."""
    link, engine, rig, strat, order = _order_at_cboe(tmp_path)
    old, new = _modify_held(link, engine, rig, strat, 150)
    link.core.held.clear()  # this Cboe answers by hand below
    link.core.hold = False
    streams = link.core.streams
    streams.append(UNIT, _execution(new if on == "new" else old, 900_001, 100, 50))
    streams.append(UNIT, OrderModified(0, 0, DAY_NS, new, 77, ReturnFields(order_qty=150, leaves_qty=50)))
    streams.append(UNIT, _execution(new, 900_002, 50, 0))
    _pump(link, engine)
    assert _events(strat) == [("Executed", 100, 100, 50), ("Replaced", 150, 50), ("Executed", 50, 150, 0)]
    assert (order.state, order.cum_qty) == (OrderState.FILLED, 150)
    assert engine.counters.venue_events_out_of_place == 0


def test_modify_up_when_refused_after_a_partial_fill_cboe_said_left_nothing_then_the_rest_is_canceled(
    tmp_path: Path,
) -> None:
    """LeavesQty 0 after 30 of 100 while the Modify is on its way: its refusal ends the order (BOE_LEAVES_ZERO)."""
    link, engine, rig, strat, order = _order_at_cboe(tmp_path)
    old, new = _modify_held(link, engine, rig, strat, 150)
    link.core.held.clear()
    link.core.hold = False
    link.core.streams.append(UNIT, _execution(old, 900_001, 30, 0))
    _pump(link, engine)
    assert order.state is OrderState.PENDING_REPLACE
    link.core.streams.append(UNIT, UserModifyRejected(0, 0, DAY_NS, new, "A", "no", ReturnFields()))
    _pump(link, engine)
    events = _events(strat)
    assert events[:2] == [("Executed", 30, 30, 70), ("CancelRejected", "VENUE", "ADMINISTRATIVE")]
    assert events[2][:3] == ("Canceled", 70, 0) and events[2][3] == "BOE_LEAVES_ZERO"
    assert (order.state, order.cum_qty) == (OrderState.CANCELED, 30)


def test_execution_when_after_order_cancelled_then_applied_and_delivered_after_the_canceled(tmp_path: Path) -> None:
    """s7 F3 / s11: a routed fill Cboe reports after the Order Cancelled is on the account."""
    link, engine, _rig, strat, order = _order_at_cboe(tmp_path)
    cl_ord_id = split_ref(order.venue_ref)[0]
    assert link.core.exchange.execute(cl_ord_id, 10)
    assert link.core.exchange.cancel(cl_ord_id, "U")
    link.core.streams.append(UNIT, _execution(cl_ord_id, 900_001, 5, 0))
    _pump(link, engine)
    assert _events(strat) == [
        ("Executed", 10, 10, 90),
        ("Canceled", 90, 0, "USER_REQUESTED"),
        ("Executed", 5, 15, 0),
    ]
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 15, 0)
    assert [qty for _id, qty, _px in _risk(engine).executions] == [10, 5]
    assert (engine.counters.late_fills, engine.counters.venue_events_out_of_place) == (1, 0)


def test_executions_when_for_unknown_cl_ord_ids_then_each_second_leaves_an_error_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """s6: the old code logged the 1st, 2nd, 4th... (a fill on the account left no trace in between)."""
    link, engine, _rig, _strat, _order = _order_at_cboe(tmp_path)
    with caplog.at_level(logging.WARNING, logger="venues.boe.adapter"):
        for n in range(3):
            link.core.streams.append(UNIT, _execution(f"GHOST{n}", 900_000 + n, 10 + n, 0))
            _pump(link, engine)
            link.clock.advance(1_000_000_000)
        for n in range(3, 6):  # three in the same second: one line, the next says how many it stood for
            link.core.streams.append(UNIT, _execution(f"GHOST{n}", 900_000 + n, 10, 0))
        _pump(link, engine)
        link.clock.advance(1_000_000_000)
        link.core.streams.append(UNIT, _execution("GHOST6", 900_006, 10, 0))
        _pump(link, engine)
    lines = [r for r in caplog.records if "Order Execution" in r.getMessage() and "unknown ClOrdID" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.ERROR] * 5
    assert "'GHOST2': 12 @" in lines[2].getMessage()
    assert "7 such executions so far" in lines[4].getMessage() and "2 similar lines suppressed" in lines[4].getMessage()
    status = link.venue.status()
    assert (status["unknown_executions"], status["unknown_cl_ord_id"]) == (7, 7)
    assert engine.counters.venue_events_unknown_order == 7
