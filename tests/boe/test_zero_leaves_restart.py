"""BOE: an execution with LeavesQty 0 while a Modify raising the quantity is in flight, then a gateway restart,
then the Modify refused (boe39 item 3). The order must end as it does without the restart.

Without the restart: a full fill (100 of 100) ends FILLED at the refusal (``end_filled``), a partial one (30 of
100, LeavesQty 0: Cboe has nothing open) ends CANCELED ``BOE_LEAVES_ZERO``. The adapter's note that Cboe said
LeavesQty 0 (``zero_leaves``) lived in memory only: after a restart the refusal left the partial case LIVE with
70 shares Cboe no longer had.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.entitlements import Entitlements, StrategyEntitlement
from gateway.journal import FileJournal, read_journal
from gateway.protocol.messages import NewOrder, Replace
from gateway.recovery import recover
from model.enums import Side
from model.fsync import FsyncPolicy
from model.order import OrderState
from tests.boe.harness import DAY_NS, Link, gateway_over
from tests.boe.test_modify_up_crossed_by_fill import RESTING, UNIT, _events, _execution, _link, _pump
from tests.harness import LimitRisk, Rig
from venues.boe.adapter import BoeVenue, split_ref


def _restart(link: Link, engine: Engine, journal: Path) -> tuple[Engine, Rig]:
    """The gateway process dies and a new one recovers from the journal (the simulator keeps running)."""
    link.disconnect()
    engine.journal.close()
    link.venue = BoeVenue(link.config, link.clock, wall=lambda: DAY_NS)
    again = Engine(
        risk=LimitRisk(max_qty=1_000_000),
        venues=[link.venue],
        entitlements=Entitlements({"S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000])}, gateway_uid=1000),
        clock=link.clock,
        journal=FileJournal(journal, fsync=FsyncPolicy.NONE),
    )
    again.adopt(recover(read_journal(journal)))
    rig = Rig()
    rig.engine, rig.clock = again, link.clock
    return again, rig


@pytest.mark.parametrize(("shares", "restart"), [(100, False), (100, True), (30, False), (30, True)])
def test_modify_refused_when_an_execution_said_leaves_0_then_the_end_is_the_same_across_a_restart(
    tmp_path: Path, shares: int, restart: bool
) -> None:
    """Order 100, Modify to 150 held inside Cboe; an execution of ``shares`` says LeavesQty 0 (Cboe ended the order);
    the gateway restarts (or not); the Modify is refused (``O``: the order is gone) after the re-login."""
    link = _link(tmp_path)
    journal = tmp_path / "journal"
    engine, rig = gateway_over(link, journal)
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    old = split_ref(order.venue_ref)[0]
    link.core.hold = True
    rig.send(strat, Replace("A", 150, RESTING))
    _pump(link, engine)
    assert len(link.core.held) == 1
    if shares == 100:
        assert link.core.exchange.execute(old, 100)  # LeavesQty 0: Cboe's book no longer has the order
    else:  # 30 executed, LeavesQty 0: Cboe ended the order (the rest is gone from its book)
        link.core.streams.append(UNIT, _execution(old, 900_001, shares, 0))
        del link.core.exchange.orders[old]
    _pump(link, engine)
    assert order.state is OrderState.PENDING_REPLACE
    link.core.duplicates_first = True  # the copy re-sent after the re-login is refused D before the original
    if restart:
        engine, rig = _restart(link, engine, journal)
        strat = rig.connect("S1")  # every event again
        link.connect()
        order = engine.orders[order.order_id]
    else:
        link.disconnect(lose_unsent=False)
        link.connect()
    _pump(link, engine)
    assert order.state is OrderState.PENDING_REPLACE
    assert link.core.release_held(link.connection) == 1  # the original: refused O (the order is gone)
    _pump(link, engine)
    expected = OrderState.FILLED if shares == 100 else OrderState.CANCELED
    assert (order.state, order.cum_qty, order.leaves_qty) == (expected, shares, 0)  # the old code: LIVE, 70 open
    ends = _events(strat)
    assert ends[-2] == ("CancelRejected", "VENUE", "UNKNOWN_ORDER")
    if shares == 100:
        assert ends[-1] == ("Executed", 0, 100, 0)
    else:
        assert ends[-1][:3] == ("Canceled", 70, 0) and ends[-1][3] == "BOE_LEAVES_ZERO"
    assert engine.counters.venue_events_out_of_place == 0
    assert link.core.exchange.violations == []
