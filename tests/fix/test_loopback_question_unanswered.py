"""A question the venue never answers, over loopback (fixfix45).

The venue fills an acknowledged order but its report never reaches the gateway (the venue gap-fills over it); the
gateway asks about the order (an OrderStatusRequest) and the venue drops that question without an answer. Before
fixfix45 there was no timeout on a question: it stayed out for good (``questions_open`` 1), the order was never
asked about again and the fill of 30 never reached the strategy nor risk. Now an unanswered status question is
asked again (after ``question_wait_ns``, doubling). ``FixSimulator`` (a real QuickFIX acceptor) answers the second
OrderStatusRequest from its book.
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
from .loopback import acknowledged_on_resetting

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


def _question_dropped(sim: FixSimulator, dropped: list[Mapping[bytes, bytes]]) -> None:
    """Make the venue drop its next OrderStatusRequest without an answer (it answers later ones)."""
    answer: Callable[[str, Mapping[bytes, bytes]], list[Report]] = sim.book.on_status

    def drop(_session: str, fields: Mapping[bytes, bytes]) -> list[Report]:
        sim.book.on_status = answer  # type: ignore[method-assign,assignment]
        dropped.append(fields)
        return []

    sim.book.on_status = drop  # type: ignore[method-assign,assignment]


async def test_status_question_never_answered_then_asked_again_and_the_fill_applied_once(
    broker: FixSimulator, tmp_path: Path
) -> None:
    side, rig, link = await acknowledged_on_resetting(broker, tmp_path, "broker-fix44")
    order = rig.order("S1", "A")
    venue = side.venue
    venue.question_wait_ns = 300_000_000
    try:
        dropped: list[Mapping[bytes, bytes]] = []
        _question_dropped(broker, dropped)
        with broker._lock:  # the venue fills 30; its report is the number it skips (gap-filled, never resent)
            assert broker.book.execute(broker.session_key(None), order.venue_ref.encode(), 30)
        broker.skip_outgoing(1)
        broker.send_heartbeat()
        await wait_until(lambda: dropped, 15.0, "the venue to drop the status question")
        assert venue.status()["questions_open"] == 1
        await wait_until(lambda: order.cum_qty == 30, 15.0, "the fill")  # before fixfix45: never asked again
        questions = broker.messages("in", MsgType.ORDER_STATUS_REQUEST)
        assert [q.get(b"11") for q in questions] == [order.venue_ref.encode()] * 2
        await wait_until(lambda: venue.status()["questions_open"] == 0, 15.0, "no question out")
        assert venue.status()["questions_asked_again"] == 1
        rig.engine.flush()
        seen = [(m.qty, m.exec_id, m.cum_qty, m.leaves_qty) for m in link.received() if isinstance(m, Executed)]
        assert seen == [(30, "", 30, 70)]
        assert (order.state, order.leaves_qty) == (OrderState.LIVE, 70)
        assert sum(qty for _oid, qty, _px in rig.risk.executions) == 30
    finally:
        await side.stop()
