"""BOE: a Modify and its Order Modified lost with the journal's tail, then Cboe replays the answer (boepf60).

A power failure under ``fsync: interval`` or ``none`` can cut the journal's last records after they left the
gateway: here the Modify and its Order Modified. The restarted adapter maps the order by the ClOrdID the journal
knows (the New Order's) and Cboe replays the Order Modified of the Modify's ClOrdID (``<order>.1.1``, start 1: the
process before). The old code took any Order Modified that is not the pending one for a repeat (``repeated-modified``):
the order kept its old ClOrdID, the strategy's Cancel named it, Cboe refused it ``O`` and the order ended
``Canceled BOE_NOT_AT_CBOE`` while it worked at Cboe at the new size (rev60chaos HIGH 2). After a stop that was not
clean, an Order Modified of an earlier process's Modify numbered above the order's ClOrdID is applied (Replaced,
journaled with the new ClOrdID); a true repeat (at or below it) is still ignored. The journal is cut as a power
failure leaves it: the file ends at the last record made durable before the Modify.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.engine import Engine
from gateway.journal import read_journal
from gateway.protocol.messages import Cancel, NewOrder, Replace
from gateway.recovery import recover
from model.enums import Side
from model.order import OrderState
from tests.boe.harness import DAY_NS, Link, gateway_over
from tests.boe.test_late_answers import _wait_in_doubt_timeout
from tests.boe.test_modify_up_crossed_by_fill import RESTING, UNIT, _events, _link, _pump
from tests.boe.test_zero_leaves_restart import _restart
from tests.harness import MemoryLink, Rig
from venues.boe.adapter import split_ref
from venues.boe.messages import OrderModified, ReturnFields


def _order_modified_twice(tmp_path: Path) -> tuple[Link, Engine, Rig, MemoryLink, Path, list[int]]:
    """Order 100; Modify to 150, answered; Modify to 200, answered. Return the journal's size after each answer."""
    link = _link(tmp_path)
    journal = tmp_path / "journal"
    engine, rig = gateway_over(link, journal)
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    sizes = [journal.stat().st_size]
    for qty in (150, 200):
        rig.send(strat, Replace("A", qty, RESTING - qty))
        _pump(link, engine)
        sizes.append(journal.stat().st_size)
    assert _events(strat) == [("OrderAccepted",), ("Replaced", 150, 150), ("Replaced", 200, 200)]
    return link, engine, rig, strat, journal, sizes


def _power_failure_restart(link: Link, engine: Engine, journal: Path, durable: int) -> tuple[Engine, Rig, MemoryLink]:
    """Kill the process, keep the journal up to ``durable`` bytes (the rest never synced), start again, log in."""
    os.truncate(journal, durable)  # nothing is written after it: the old journal's close adds nothing
    engine, rig = _restart(link, engine, journal)
    link.venue.journal_opened(str(journal), False, False, False)  # not clean, fsync interval: as GatewayProcess
    strat = rig.connect("S1")
    link.connect()  # Cboe replays what the journal does not hold
    _pump(link, engine)
    return engine, rig, strat


def test_modify_lost_with_the_journal_tail_when_cboe_replays_its_modified_then_applied_and_the_cancel_names_it(
    tmp_path: Path,
) -> None:
    link, engine, _rig, _strat, journal, sizes = _order_modified_twice(tmp_path)
    engine, rig, strat = _power_failure_restart(link, engine, journal, sizes[0])  # both Modifies lost
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "A")
    # the old code: LIVE, 100 at RESTING (both Order Modified ignored as repeats)
    assert (order.state, order.qty, order.price, order.leaves_qty) == (OrderState.LIVE, 200, RESTING - 200, 200)
    assert link.venue.counters.get("lost_modifies") == 2
    cboe = split_ref(order.venue_ref)[0]
    assert cboe.endswith(".1.2") and cboe in link.core.exchange.orders  # the ClOrdID Cboe knows it by
    assert _events(strat)[-2:] == [("Replaced", 150, 150), ("Replaced", 200, 200)]  # journaled: a replay has them
    assert "repeated-modified" not in link.venue.ignored
    rig.send(strat, Cancel("A"))
    _pump(link, engine)
    assert _events(strat)[-1] == ("Canceled", 200, 0, "USER_REQUESTED")  # the old code: BOE_NOT_AT_CBOE, 100
    assert link.venue.counters["ended_not_at_cboe"] == 0
    assert link.core.exchange.orders == {} and link.core.exchange.violations == []

    # the journal holds the new ClOrdID: a recovery from it alone (no Cboe) knows the order by it
    recovered = recover(read_journal(journal))
    assert split_ref(recovered.orders[order.order_id].venue_ref)[0] == cboe


def test_only_the_second_modify_lost_when_a_repeat_of_the_first_comes_then_the_repeat_is_ignored(
    tmp_path: Path,
) -> None:
    link, engine, _rig, _strat, journal, sizes = _order_modified_twice(tmp_path)
    engine, _rig, strat = _power_failure_restart(link, engine, journal, sizes[1])  # the Modify to 200 lost
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "A")
    assert (order.qty, order.leaves_qty) == (200, 200)  # the old code: 150
    assert link.venue.counters.get("lost_modifies") == 1
    first = split_ref(order.venue_ref)[0].replace(".1.2", ".1.1")
    repeat = OrderModified(0, 0, DAY_NS, first, 1, ReturnFields(price=RESTING - 150, order_qty=150, leaves_qty=150))
    link.core.streams.append(UNIT, repeat)  # a ClOrdID below the one the order is known by: a repeat
    _pump(link, engine)
    assert link.venue.ignored["repeated-modified"] == 1 and link.venue.counters.get("lost_modifies") == 1
    assert (order.qty, order.leaves_qty) == (200, 200) and split_ref(order.venue_ref)[0].endswith(".1.2")
    assert _events(strat)[-1] == ("Replaced", 200, 200)


def test_crash_when_the_journal_holds_both_modifies_then_nothing_is_replayed_nor_applied_again(
    tmp_path: Path,
) -> None:
    link, engine, _rig, _strat, journal, sizes = _order_modified_twice(tmp_path)
    engine, _rig, _strat = _power_failure_restart(link, engine, journal, sizes[2])  # nothing lost: nothing replayed
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "A")
    assert (order.qty, order.leaves_qty) == (200, 200) and not link.venue.counters.get("lost_modifies")


def test_modify_lost_and_still_inside_cboe_when_the_cancel_names_the_old_clordid_then_sent_again_not_ended(
    tmp_path: Path,
) -> None:
    """The Modify reached Cboe but was not processed before the crash; the journal lost it. The Cancel after the
    restart names the ClOrdID the journal knows; Cboe applies the Modify first (Order Modified, applied here), then
    refuses the Cancel ``O``: no order by that ClOrdID, yet the order works at Cboe by the Modify's. The old code
    ended the order ``Canceled BOE_NOT_AT_CBOE`` ("not working at Cboe") with 200 shares working there."""
    link = _link(tmp_path)
    journal = tmp_path / "journal"
    engine, rig = gateway_over(link, journal)
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    durable = journal.stat().st_size
    link.core.hold = True  # Cboe received the Modify, has not processed it yet
    rig.send(strat, Replace("A", 200, RESTING - 100))
    _pump(link, engine)
    engine, rig, strat = _power_failure_restart(link, engine, journal, durable)
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "A")
    assert (order.state, order.qty) == (OrderState.LIVE, 100)
    old = split_ref(order.venue_ref)[0]
    rig.send(strat, Cancel("A"))  # names the old ClOrdID, behind the Modify inside Cboe
    _pump(link, engine)
    assert link.core.release_held(link.connection) == 2  # Order Modified, then Cancel Rejected O (the old ClOrdID)
    _pump(link, engine)
    assert order.state is OrderState.CANCELED and link.core.exchange.orders == {}
    # the old code: ("Canceled", 100, 0, "BOE_NOT_AT_CBOE") with 200 shares working at Cboe
    assert _events(strat)[-2:] == [("Replaced", 200, 200), ("Canceled", 200, 0, "USER_REQUESTED")]
    assert link.venue.counters["ended_not_at_cboe"] == 0
    cancels = [r for r in link.core.exchange.records if r.type == "Cancel Order"]
    assert [(r.orig_cl_ord_id, r.outcome[:15]) for r in cancels] == [
        (old, "cancel-rejected"),
        (split_ref(order.venue_ref)[0], "cancelled"),
    ]
    assert link.core.exchange.violations == []


def test_modify_reported_refused_at_the_deadline_when_cboe_applies_it_ahead_of_the_cancel_then_cancel_sent_again(
    tmp_path: Path,
) -> None:
    """The same crossing without a restart: a Modify re-sent in doubt is reported refused at the deadline (its
    original still inside Cboe); the strategy's Cancel names the old ClOrdID; Cboe applies the Modify (a late Order
    Modified, applied) and refuses the Cancel ``O``. The old code ended the order ``BOE_NOT_AT_CBOE``."""
    link = _link(tmp_path)
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    link.core.hold = True
    rig.send(strat, Replace("A", 150, RESTING - 100))
    _pump(link, engine)
    link.core.duplicates_first = True
    link.disconnect(lose_unsent=False)
    link.connect()  # the copy is refused D at once; the original is still held inside Cboe
    _pump(link, engine)
    _wait_in_doubt_timeout(link)
    engine.flush()
    assert (order.state, order.qty) == (OrderState.LIVE, 100)
    rig.send(strat, Cancel("A"))  # names the old ClOrdID, behind the Modify inside Cboe
    _pump(link, engine)
    assert link.core.release_held(link.connection) == 2  # the late Order Modified, then Cancel Rejected O
    _pump(link, engine)
    # the old code: ("Canceled", 100, 0, "BOE_NOT_AT_CBOE") with 150 shares working at Cboe
    assert _events(strat)[-2:] == [("Replaced", 150, 150), ("Canceled", 150, 0, "USER_REQUESTED")]
    assert order.state is OrderState.CANCELED and link.core.exchange.orders == {}
    assert link.venue.ignored["stale-cancel-reject"] == 1 and link.venue.counters["ended_not_at_cboe"] == 0
