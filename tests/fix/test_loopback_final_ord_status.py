"""A fill whose OrdStatus ends the order, and a venue rejecting an order it acknowledged (fixfix51, rev51fix r4, r1).

Over loopback against a real QuickFIX acceptor (``FixSimulator``), FIX 4.4 (broker-fix44) and FIX 4.2
(equities-fix42). Before fixfix51 a fill reported with OrdStatus 4 and LeavesQty 0 (an IOC partly filled, the rest
canceled in the same report) left the rest open in the core and risk for ever, the adapter forgetting the order, so
the venue's later Canceled was dropped as an unknown ClOrdID; an unsolicited ExecType 8 of an acknowledged order was
out of place in the core, the order LIVE for the strategy and risk while the adapter forgot it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.protocol.messages import Canceled, Executed
from model.order import Order, OrderState
from simulators.fix.simulator import FixSimulator
from tests.harness import Rig
from venues.fix.fields import MsgType

from .live import GatewaySide, running_simulator, wait_until
from .loopback import resting_order
from .test_loopback_gap_fill_in_flight import _answers

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["broker-fix44", "equities-fix42"])
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FixSimulator]:
    """Run a simulator of each dialect (a real QuickFIX acceptor) for the test."""
    with running_simulator(tmp_path / "sim", request.param) as simulator:
        yield simulator


def _report(sim: FixSimulator, order: Order, exec_type: bytes, status: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    body = [(b"37", b"OID1"), (b"11", order.venue_ref.encode()), (b"17", b"X%s%s" % (exec_type, status))]
    if sim.begin_string == "FIX.4.2":
        body.append((b"20", b"0"))
    body += [(b"150", exec_type), (b"39", status), (b"55", b"MSFT"), (b"54", b"1"), (b"38", b"%d" % order.qty)]
    sim.send(MsgType.EXECUTION_REPORT, body + extra)


async def test_fill_with_ord_status_canceled_then_executed_and_canceled_and_the_venue_cancel_not_unknown(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.engine.flush()
    link.received()
    fill = b"1" if sim.begin_string == "FIX.4.2" else b"F"
    last = [(b"32", b"30"), (b"31", b"101.5"), (b"151", b"0"), (b"14", b"30"), (b"6", b"101.5")]
    _report(sim, order, fill, b"4", last)
    await wait_until(lambda: order.is_terminal, 15.0, "the order's end")
    answers = _answers(rig, link)
    assert [type(m) for m in answers] == [Executed, Canceled]  # before fixfix51: Executed only, 70 open for ever
    executed, canceled = answers
    assert isinstance(executed, Executed) and isinstance(canceled, Canceled)
    assert (executed.qty, executed.leaves_qty) == (30, 70)
    assert (canceled.canceled_qty, canceled.leaves_qty, canceled.reason) == (70, 0, "CANCELED")
    assert (order.state, order.cum_qty) == (OrderState.CANCELED, 30)
    assert gateway.venue.status()["open_orders"] == 0
    # the venue's own Canceled after it reaches the ended order: not an unknown ClOrdID
    _report(sim, order, b"4", b"4", [(b"151", b"0"), (b"14", b"30"), (b"6", b"101.5")])
    await wait_until(lambda: rig.engine.counters.venue_events_out_of_place == 1, 15.0, "the venue's Canceled")
    assert gateway.venue.counters["unknown_cl_ord_id"] == 0
    assert _answers(rig, link) == []


async def test_unsolicited_reject_of_acknowledged_order_then_canceled_rejected_and_risk_released(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.engine.flush()
    link.received()
    extra = [(b"151", b"0"), (b"14", b"0"), (b"6", b"0"), (b"103", b"0"), (b"58", b"killed by venue risk")]
    _report(sim, order, b"8", b"8", extra)
    await wait_until(lambda: order.is_terminal, 15.0, "the order's end")
    (canceled,) = _answers(rig, link)
    assert isinstance(canceled, Canceled)
    assert (canceled.reason, canceled.leaves_qty) == ("REJECTED", 0)
    assert "killed by venue risk" in canceled.text
    assert order.state is OrderState.CANCELED
    assert rig.engine.counters.venue_events_out_of_place == 0  # before fixfix51: 1, the order LIVE here
    assert gateway.venue.counters["status_disagreements"] == 1
    assert gateway.venue.status()["open_orders"] == 0
