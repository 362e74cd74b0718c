"""BOE: a Cancel refused ``O`` by the order's old ClOrdID reaches the gateway in Cboe's replay (boepf60b).

A Modify re-sent in doubt is reported refused at the in-doubt deadline (its original still inside Cboe); a Cancel
(the strategy's, or the kill switch's) names the order's ClOrdID; Cboe applies the Modify first (a late Order
Modified: the gateway takes it, the order goes by the Modify's ClOrdID now), then refuses the Cancel ``O``: it has
no order by the old ClOrdID. That refusal reaches the gateway only in Cboe's replay, after a reconnect or a crash
(``kill -9``), when nothing can be sent (Cboe rejects cancels during a replay). boepf60 sent the Cancel again only
when logged in: in a replay the refusal answered the Cancel, so the strategy got ``CancelRejected UNKNOWN_ORDER`` for
a live order, and the kill switch's Cancel was never sent again, the order working at Cboe under a standing kill
(rev60merge6 HIGH 1). Now the Cancel naming the current ClOrdID is owed (on file) and goes out at Replay Complete;
its answer, and only that, answers the Cancel; a restart before Replay Complete keeps it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.journal import read_journal
from gateway.protocol.messages import Cancel, NewOrder, Replace
from gateway.recovery import recover
from model.enums import Side
from model.order import Order, OrderState
from tests.boe.harness import DAY_NS, Link, gateway_over
from tests.boe.test_late_answers import _wait_in_doubt_timeout
from tests.boe.test_modify_up_crossed_by_fill import RESTING, UNIT, _events, _link, _pump
from tests.boe.test_zero_leaves_restart import _restart
from tests.harness import MemoryLink, Rig
from venues.boe.adapter import split_ref
from venues.boe.messages import CancelRejected, OrderRestated, ReturnFields

UNKNOWN = "ClOrdID does not match a live order"
SO_FAR = [("OrderAccepted",), ("CancelRejected", "VENUE", "BOE_ANSWER_LOST"), ("Replaced", 150, 150)]
"""The strategy's events before the replay (a new connection after a crash gets them again)."""


def _cancel_crossed_by_a_late_modify(
    tmp_path: Path, who: str
) -> tuple[Link, Engine, Rig, MemoryLink, Path, Order, str]:
    """Order A 100; Modify to 150 reported refused at the deadline, its original held inside Cboe; a Cancel naming
    the old ClOrdID goes out behind it; Cboe applies the Modify (its Order Modified reaches the gateway, applied) and
    refuses the Cancel ``O``, unsequenced, on no connection. Return the old ClOrdID too."""
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
    rig.send(strat, Replace("A", 150, RESTING - 100))
    _pump(link, engine)
    link.core.duplicates_first = True
    link.disconnect(lose_unsent=False)
    link.connect()  # the copy is refused D at once; the original is still held inside Cboe
    _pump(link, engine)
    _wait_in_doubt_timeout(link)
    engine.flush()
    assert (order.state, order.qty) == (OrderState.LIVE, 100)
    if who == "kill":
        assert engine.cancel_all() == 1  # the kill switch: the gateway's own Cancel
    else:
        rig.send(strat, Cancel("A"))
    _pump(link, engine)
    assert order.state is OrderState.PENDING_CANCEL
    assert link.core.release_held(None) == 2  # Order Modified (sequenced, sent now), Cancel Rejected O (lost)
    _pump(link, engine)
    assert (order.qty, split_ref(order.venue_ref)[0]) == (150, old + ".1.1")
    assert order.state is OrderState.PENDING_CANCEL
    assert _events(strat) == SO_FAR
    return link, engine, rig, strat, journal, order, old


def _crash(link: Link, engine: Engine, journal: Path) -> tuple[Engine, Rig]:
    """``kill -9`` and a new process, as ``GatewayProcess`` starts one (the login resumes where the journal ends)."""
    engine, rig = _restart(link, engine, journal)
    point = recover(read_journal(journal)).resume.get(link.config.name)
    assert point is not None
    link.venue.resume_after(point)
    link.venue.journal_opened(str(journal), False, False, False)  # not a clean stop
    return engine, rig


def _cancels(link: Link) -> list[tuple[str, str]]:
    return [(r.orig_cl_ord_id, r.outcome[:18]) for r in link.exchange_records if r.type == "Cancel Order"]


@pytest.mark.parametrize("who", ["strategy", "kill"])
@pytest.mark.parametrize("crash", [False, True])
def test_cancel_refused_o_by_the_old_clordid_in_the_replay_then_sent_again_after_it_and_answered_once(
    tmp_path: Path, who: str, crash: bool
) -> None:
    link, engine, rig, strat, journal, order, old = _cancel_crossed_by_a_late_modify(tmp_path, who)
    if crash:
        engine, rig = _crash(link, engine, journal)  # the journal holds everything
        strat = rig.connect("S1")
    else:
        link.disconnect()
    # Cboe sequenced its refusal: the re-login's replay brings it, while nothing can be sent
    link.core.streams.append(UNIT, CancelRejected(0, 0, DAY_NS, old, "O", UNKNOWN))
    link.connect()
    _pump(link, engine)
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "A")
    # the old code: the refusal answered the Cancel, the order stayed open here and at Cboe (150 working)
    assert link.core.exchange.orders == {}
    assert order.state is OrderState.CANCELED
    # exactly one answer: the old code's was CancelRejected UNKNOWN_ORDER, the order left working
    assert _events(strat) == [*(SO_FAR if crash else []), ("Canceled", 150, 0, "USER_REQUESTED")]
    # one Cancel after the replay (the one owed), no copy in doubt beside it; nothing owed any more
    assert _cancels(link) == [(old, "cancel-rejected:O"), (old + ".1.1", "cancelled")]
    assert link.venue.ignored["stale-cancel-reject"] == 1 and link.venue.counters["ended_not_at_cboe"] == 0
    assert link.venue.status()["late_cancels_waiting"] == 0
    assert link.core.exchange.violations == []


def test_crash_after_the_refusal_before_replay_complete_then_the_next_process_sends_the_cancel_owed(
    tmp_path: Path,
) -> None:
    link, engine, _rig, _strat, journal, _order, old = _cancel_crossed_by_a_late_modify(tmp_path, "kill")
    engine, rig = _crash(link, engine, journal)
    link.core.streams.append(UNIT, CancelRejected(0, 0, DAY_NS, old, "O", UNKNOWN))
    reroute = OrderRestated(0, 0, DAY_NS, old + ".1.1", 1, "R", ReturnFields(leaves_qty=150))
    link.core.streams.append(UNIT, reroute)  # the replay goes on after the refusal
    link.core.drop_after = 1  # cut after the refusal, before the rest of the replay and Replay Complete
    link.connect()
    assert link.connection is None and link.venue.ignored["stale-cancel-reject"] == 1
    assert link.venue.status()["late_cancels_waiting"] == 1  # on file
    assert _cancels(link) == [(old, "cancel-rejected:O")]  # nothing sent during the replay
    engine, rig = _crash(link, engine, journal)  # and the process dies before the re-login
    strat = rig.connect("S1")
    link.core.drop_after = None
    link.connect()
    _pump(link, engine)
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "A")
    assert order.state is OrderState.CANCELED and link.core.exchange.orders == {}
    assert _events(strat) == [*SO_FAR, ("Canceled", 150, 0, "USER_REQUESTED")]
    assert _cancels(link) == [(old, "cancel-rejected:O"), (old + ".1.1", "cancelled")]
    assert link.venue.status()["late_cancels_waiting"] == 0


def test_cancel_owed_in_the_replay_refused_o_by_the_current_clordid_then_the_order_ends_not_at_cboe_once(
    tmp_path: Path,
) -> None:
    """No loop: the Cancel sent after the replay names the ClOrdID the order goes by; Cboe refusing that one ``O``
    (it lost its book meanwhile) ends the order ``BOE_NOT_AT_CBOE``, as documented, with no other Cancel."""
    link, engine, _rig, strat, _journal, order, old = _cancel_crossed_by_a_late_modify(tmp_path, "strategy")
    link.disconnect()
    link.core.streams.append(UNIT, CancelRejected(0, 0, DAY_NS, old, "O", UNKNOWN))
    link.core.exchange.orders.clear()  # Cboe lost its book
    link.connect()
    _pump(link, engine)
    assert order.state is OrderState.CANCELED
    assert _events(strat) == [("Canceled", 150, 0, "BOE_NOT_AT_CBOE")]  # the only answer since the Replaced
    assert _cancels(link) == [(old, "cancel-rejected:O"), (old + ".1.1", "cancel-rejected:O")]
    assert link.venue.counters["ended_not_at_cboe"] == 1
    assert link.venue.status()["late_cancels_waiting"] == 0
