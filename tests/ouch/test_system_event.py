"""System Event ``E`` (end of day): new orders are refused, cancels still go out (rev38ouch s12, ouchfix38).

Before ouchfix38 the event was only counted: the gateway stayed UP and kept sending Enters the venue refuses.
"""

from __future__ import annotations

from pathlib import Path

from gateway.protocol.messages import Cancel, Canceled, NewOrder, OrderAccepted, OrderRejected
from model.enums import Side
from tests.ouch.harness import PX, Link, gateway_over

RESTING = PX - 100


def test_end_of_day_then_new_orders_refused_and_cancels_go_out_until_start_of_day(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    link.pump()
    engine.flush()
    strat.received()
    link.core.exchange.system_event("E")
    link.pump()
    engine.flush()
    rig.send(strat, NewOrder("B", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING), Cancel("A"))
    link.pump()
    engine.flush()
    got = strat.received()
    rejected = [(m.cl_ord_id, m.code) for m in got if isinstance(m, OrderRejected)]
    assert rejected == [("B", "OUCH_END_OF_DAY")]  # old: sent to the venue
    assert [(m.cl_ord_id, m.leaves_qty) for m in got if isinstance(m, Canceled)] == [("A", 0)]
    assert link.venue.status()["day_ended"] is True
    link.core.exchange.system_event("S")
    link.pump()
    engine.flush()
    rig.send(strat, NewOrder("C", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    link.pump()
    engine.flush()
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["C"]
