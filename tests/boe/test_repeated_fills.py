"""A BOE Order Execution the gateway applied, sent again under a new sequence number (fills30).

After a re-login whose numbering went back, a matching unit can send an execution again under a number the
gateway has not seen: the exactly-once check lets it through, and its ExecID is the only thing that tells it
is a copy. The core does not apply it a second time (it did: a double fill). Against the sans-IO simulator,
through a real engine.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.protocol.messages import Executed, NewOrder
from model.enums import Side
from model.order import OrderState
from tests.boe.harness import PX, Link, gateway_over
from tests.harness import MemoryLink
from venues.boe.adapter import split_ref
from venues.boe.messages import OrderExecution

RESTING = PX - 100
UNIT = 1  # AAPL's matching unit in the harness


def _executed(link: MemoryLink) -> list[tuple[int, int, str]]:
    return [(m.qty, m.cum_qty, m.exec_id) for m in link.received() if isinstance(m, Executed)]


def _pump(link: Link, engine: Engine) -> None:
    link.pump()
    engine.flush()


def test_execution_when_sent_again_under_a_new_sequence_number_then_applied_once(tmp_path: Path) -> None:
    link = Link(tmp_path / "boe")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    strat.received()
    order = engine.strategies["S1"].orders["A"]
    cl_ord_id = split_ref(order.venue_ref)[0]
    assert link.core.exchange.execute(cl_ord_id, 60)
    _pump(link, engine)
    (execution,) = [m for m in link.core.streams.messages[UNIT] if isinstance(m, OrderExecution)]
    assert _executed(strat) == [(60, 60, str(execution.exec_id))]

    link.core.streams.append(UNIT, execution)  # the same execution, the unit's next sequence number
    _pump(link, engine)
    assert _executed(strat) == []
    assert engine.counters.repeated_fills == 1

    assert link.core.exchange.execute(cl_ord_id, 40)  # the real last fill, a new ExecID
    _pump(link, engine)
    assert [(qty, cum) for qty, cum, _id in _executed(strat)] == [(40, 100)]
    assert (order.cum_qty, order.leaves_qty, order.state) == (100, 0, OrderState.FILLED)
    assert (engine.counters.overfills, engine.counters.venue_events_out_of_place) == (0, 0)
