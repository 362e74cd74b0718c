"""A question to the venue whose answer a numbering reset lost, over loopback (fixfix44).

The gateway asks about an acknowledged order (an OrderStatusRequest after the venue gap-filled numbers it never
received); the venue's answer is lost with the link, the venue fills the order meanwhile (that report is lost
too), and the next logon restarts both numbers (``reset_seq_num_on_logon``, as a daily reset or a re-created
store does): nothing of before is resent. Before fixfix44 ``after_replay`` and ``_check_live_orders`` skipped
every order with a question out, and the question of the old numbering stayed out for good: the order was never
asked about again, the fill of 30 never reached the strategy nor risk, and ``questions_open`` stayed 1.
``FixSimulator`` (a real QuickFIX acceptor) answers the OrderStatusRequest from its book.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from gateway.protocol.messages import Executed
from model.order import OrderState
from simulators.fix.sim_book import Report
from simulators.fix.simulator import FixSimulator
from venues.fix.fields import MsgType

from .live import wait_until
from .loopback import acknowledged_on_resetting, reset_after

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


def _answer_lost(sim: FixSimulator, held: list[Report]) -> None:
    """Make the venue's next status answer go nowhere: its output is dropped from then on (the answer kept)."""
    answer: Callable[[str, Mapping[bytes, bytes]], list[Report]] = sim.book.on_status

    def lost(session: str, fields: Mapping[bytes, bytes]) -> list[Report]:
        sim.book.on_status = answer  # type: ignore[method-assign,assignment]
        sim.drop_output()
        reports = answer(session, fields)
        held.extend(reports)
        return reports

    sim.book.on_status = lost  # type: ignore[method-assign]


async def test_reset_when_a_status_answer_was_lost_then_asked_again_and_the_fill_applied_once(
    broker: FixSimulator, tmp_path: Path
) -> None:
    side, rig, link = await acknowledged_on_resetting(broker, tmp_path, "broker-fix44")
    order = rig.order("S1", "A")
    venue = side.venue
    try:
        held: list[Report] = []
        _answer_lost(broker, held)
        broker.skip_outgoing(1)  # a gap: the gateway asks for a resend, QuickFIX gap-fills it
        broker.send_heartbeat()
        await wait_until(lambda: held, 15.0, "the venue's (lost) status answer")
        assert venue.status()["questions_open"] == 1
        assert broker.execute(order.venue_ref, 30)  # the fill report is lost too
        await reset_after(broker, side)
        await wait_until(lambda: order.cum_qty == 30, 15.0, "the fill")  # before fixfix44: never asked again
        questions = broker.messages("in", MsgType.ORDER_STATUS_REQUEST)
        assert [q.get(b"11") for q in questions] == [order.venue_ref.encode()] * 2
        assert questions[1].seq <= 3  # asked again under the new numbering
        await wait_until(lambda: venue.status()["questions_open"] == 0, 15.0, "no question out")
        rig.engine.flush()
        seen = [(m.qty, m.exec_id, m.cum_qty, m.leaves_qty) for m in link.received() if isinstance(m, Executed)]
        assert seen == [(30, "", 30, 70)]
        assert (order.state, order.leaves_qty) == (OrderState.LIVE, 70)
        assert sum(qty for _oid, qty, _px in rig.risk.executions) == 30
    finally:
        await side.stop()
