"""rev57ouch F1 over real loopback sockets: a Replace answered OUCH_IN_DOUBT, then a partial Canceled and a fill name
its new UserRefNum.

The project's OUCH simulator applies Replace 1->2 (100 -> 300) and sends no Replaced (its Order Replaced is dropped):
after ``answer_timeout_ms`` the strategy gets ``CancelRejected`` ``OUCH_IN_DOUBT``. The venue then cuts 100 of the 300
(supervisory) and fills 50, both under UserRefNum 2. Before ouchdoubt57 the cut ended the order CANCELED here (leaves
0, exposure released) with 200 shares live at the venue; now the strategy gets ``Replaced`` (300) after its
``CancelRejected``, then ``Canceled`` 100 (leaves 200) and ``Executed`` 50 (leaves 150), and its Cancel ends the rest.
Real engine, journal, connector and simulator; the in-memory variants:
tests/ouch/test_replace_doubt_settled_new_number.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.journal import FileJournal
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, NewOrder, Replace, Replaced
from model.clock import monotonic_ns
from model.enums import Side
from model.fsync import FsyncPolicy
from model.order import OrderState
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.harness import LimitRisk, MemoryLink, Rig
from tests.ouch.harness import PX, venue_config
from tests.ouch.test_late_fill_released import DAY, wait_until
from venues.connector import VenueConnector
from venues.ouch.adapter import OuchVenue
from venues.ouch.messages import OrderReplaced
from venues.ouch.refstore import UserRefNumStore

RESTING = PX - 100
NEW_PRICE = RESTING - 50


def _answers(link: MemoryLink) -> list[object]:
    return [m for m in link.received() if isinstance(m, Replaced | Canceled | CancelRejected | Executed)]


async def test_partial_canceled_and_fill_naming_the_new_number_over_loopback_then_new_terms_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX})))
    await sim.start()
    config = venue_config(tmp_path / "ouch", port=sim.port, answer_timeout_ms=1_000, reconnect_initial_ms=5)
    (tmp_path / "ouch").mkdir()
    store = UserRefNumStore(tmp_path / "ouch", config.name, today=lambda: DAY, block=100)
    venue = OuchVenue(config, monotonic_ns, store=store)
    rig = Rig(
        journal=FileJournal(tmp_path / "journal", fsync=FsyncPolicy.NONE),
        venues=[venue],  # type: ignore[list-item]  # a real OuchVenue where the harness scripts one
        risk=LimitRisk(max_qty=2_000_000),
    )
    engine = rig.engine
    connector = VenueConnector(venue, "127.0.0.1", sim.port, after_input=engine.flush)
    connector.start()
    try:
        await wait_until(lambda: venue.state is VenueState.UP, "the venue to be up")
        link = rig.connect("S1")
        rig.send(link, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        engine.flush()
        order = rig.order("S1", "r1")
        await wait_until(lambda: order.state is OrderState.LIVE, "the acknowledgment")
        link.received()
        exchange = sim.exchange
        emit = exchange._emit

        def no_replaced(message: object) -> None:  # the venue applies the Replace and says nothing
            if not isinstance(message, OrderReplaced):
                emit(message)  # type: ignore[arg-type]

        monkeypatch.setattr(exchange, "_emit", no_replaced)
        rig.send(link, Replace("r1", 300, NEW_PRICE))
        engine.flush()
        await wait_until(lambda: order.state is OrderState.LIVE and not order.pending_qty, "the replace in doubt")
        (doubt,) = _answers(link)
        assert isinstance(doubt, CancelRejected) and doubt.code == "OUCH_IN_DOUBT", doubt
        assert [(o.user_ref_num, o.open) for o in exchange.orders.values()] == [(2, 300)]

        assert exchange.cancel(2, "S", quantity=100)  # a supervisory cut of the replaced order: 200 stay live
        assert sim.execute(2, 50)  # then a fill: 150 stay live
        await wait_until(lambda: order.cum_qty == 50, "the cut and the fill")
        replaced, canceled, executed = _answers(link)  # before: Canceled 100 leaves 0, then a fill out of place
        assert isinstance(replaced, Replaced) and (replaced.qty, replaced.price, replaced.leaves_qty) == (
            300,
            NEW_PRICE,
            300,
        )
        assert isinstance(canceled, Canceled) and (canceled.canceled_qty, canceled.leaves_qty) == (100, 200)
        assert isinstance(executed, Executed) and (executed.cum_qty, executed.leaves_qty) == (50, 150)
        assert order.state is OrderState.LIVE and (order.qty, order.leaves_qty, order.venue_ref) == (300, 150, "2")

        rig.send(link, Cancel("r1"))
        engine.flush()
        await wait_until(lambda: order.state is OrderState.CANCELED, "the cancel")
        (answer,) = _answers(link)
        assert isinstance(answer, Canceled) and (answer.canceled_qty, answer.leaves_qty) == (150, 0), answer
        assert [o for o in exchange.orders.values() if o.open] == []
        assert venue.status()["replaced_after_reject"] == 1
    finally:
        await connector.stop()
        engine.journal.close()
        await sim.stop()
