"""BOE: a Cancel refused ``O`` while a gap below the refusal may hold the Order Modified that renamed the order
(boegap61, rev61boe HIGH 1 and LOW 2).

A power failure cut a Modify from the journal's tail after it reached Cboe, which had not processed it yet. After
the restart the strategy's Cancel names the ClOrdID the journal knows; Cboe applies the Modify first (Order Modified,
the order goes by ``<ClOrdID>.1.1`` at Cboe) and refuses the Cancel ``O``. The Order Modified is lost in transit: a
gap. The old code ended the order ``Canceled BOE_NOT_AT_CBOE`` at the refusal (exposure released) and dropped the
Order Modified the re-login's replay brought as a repeat (``repeated-modified``): 200 shares worked at Cboe, tracked
nowhere. Now a refusal with a gap open below it waits for the gap (the replay), then the Cancel goes out again under
the new ClOrdID; and a lost Modify's Order Modified for an order that ended here (the refusal came with no gap in
sight) cancels the order at Cboe. Against the sans-IO simulator, through a real engine, the journal cut as a power
failure leaves it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, NewOrder, Replace
from model.enums import Side
from model.order import Order, OrderState
from tests.boe.harness import DAY_NS, Link, gateway_over
from tests.boe.test_modify_journal_lost import _power_failure_restart
from tests.boe.test_modify_up_crossed_by_fill import RESTING, UNIT, _events, _link, _pump
from tests.harness import MemoryLink, Rig
from venues.boe.adapter import split_ref
from venues.boe.messages import CancelRejected

UNKNOWN = "ClOrdID does not match a live order"


def _lost_modify_then_cancel(tmp_path: Path) -> tuple[Link, Engine, Rig, MemoryLink, Order, bytes, str]:
    """Order A 100 (and B 100, same unit); Modify of A to 200 held inside Cboe; power failure (the journal loses the
    Modify); restart; the strategy cancels A naming its old ClOrdID: held behind the Modify. Cboe applies the Modify:
    its Order Modified (unit 1, 3) never reaches the gateway. Return the Cancel's bytes (not processed yet) and the
    old ClOrdID."""
    link = _link(tmp_path)
    journal = tmp_path / "journal"
    engine, rig = gateway_over(link, journal)
    link.connect()
    strat = rig.connect("S1")
    for name in ("A", "B"):
        rig.send(strat, NewOrder(name, "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
        _pump(link, engine)
    durable = journal.stat().st_size
    link.core.hold = True  # Cboe received the Modify, has not processed it yet
    rig.send(strat, Replace("A", 200, RESTING - 100))
    _pump(link, engine)
    engine, rig, strat = _power_failure_restart(link, engine, journal, durable)
    order = next(o for o in engine.orders.values() if o.cl_ord_id == "A")
    old = split_ref(order.venue_ref)[0]
    assert (order.state, order.qty) == (OrderState.LIVE, 100)
    rig.send(strat, Cancel("A"))  # names the old ClOrdID, behind the Modify inside Cboe
    _pump(link, engine)
    cancel = link.core.held.pop()
    assert link.core.release_held(None) == 1  # the Modify: Order Modified, unit 1 message 3
    assert list(link.core.exchange.orders)[-1] == old + ".1.1"
    assert link.connection is not None
    link.connection.sent[UNIT] = 3  # ... lost in transit
    return link, engine, rig, strat, order, cancel, old


def _refuse(link: Link, cancel: bytes) -> None:
    """Cboe processes the Cancel: it has no order by the old ClOrdID, ``O``, unsequenced (the simulator's)."""
    assert link.connection is not None
    link.core.on_message(link.connection, memoryview(cancel))


def _cancels(link: Link) -> list[tuple[str, str]]:
    return [(r.orig_cl_ord_id, r.outcome[:16]) for r in link.core.exchange.records if r.type == "Cancel Order"]


@pytest.mark.parametrize("refusal", ["sequenced", "unsequenced"])
def test_cancel_refused_o_over_a_gap_holding_the_lost_modified_then_it_waits_and_the_cancel_names_the_new_clordid(
    tmp_path: Path, refusal: str, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, strat, order, cancel, old = _lost_modify_then_cancel(tmp_path)
    if refusal == "sequenced":  # Cboe's refusal on the order's unit (message 4): the gap 3..3 shows with it
        link.core.streams.append(UNIT, CancelRejected(0, 0, DAY_NS, old, "O", UNKNOWN))
    else:  # a fill of B (message 4) shows the gap; Cboe's own refusal comes unsequenced (matching unit 0)
        b = next(o for o in engine.orders.values() if o.cl_ord_id == "B")
        assert link.core.exchange.execute(split_ref(b.venue_ref)[0], 10)
        _pump(link, engine)
        _refuse(link, cancel)
    with caplog.at_level(logging.WARNING, logger="venues.boe.adapter"):
        _pump(link, engine)
    # the old code: Canceled BOE_NOT_AT_CBOE here, exposure released, 200 shares working at Cboe
    assert (order.state, order.qty) == (OrderState.PENDING_CANCEL, 100)
    assert not [e for e in _events(strat) if e[0] in ("Canceled", "CancelRejected")]
    assert link.venue.counters["ended_not_at_cboe"] == 0
    assert link.venue.ignored["cancel-reject-over-gap"] == 1 and "stale-cancel-reject" not in link.venue.ignored
    assert "while sequence gap(s) below it are open (unit 1 3..3)" in caplog.text

    link.disconnect()
    link.connect()  # the re-login asks Cboe for the gap: its replay brings the Order Modified
    _pump(link, engine)
    assert order.state is OrderState.CANCELED and link.core.exchange.orders.keys() == {
        split_ref(o.venue_ref)[0] for o in engine.orders.values() if o.cl_ord_id == "B"
    }
    assert [e for e in _events(strat) if e[0] != "Executed"][-2:] == [
        ("Replaced", 200, 200),
        ("Canceled", 200, 0, "USER_REQUESTED"),
    ]
    assert link.venue.counters["ended_not_at_cboe"] == 0 and link.venue.counters["lost_modifies"] == 1
    assert link.venue.ignored["stale-cancel-reject"] == 1
    assert _cancels(link)[-1] == (old + ".1.1", "cancelled")
    assert link.venue.status()["late_cancels_waiting"] == 0
    assert link.core.exchange.violations == []


def test_cancel_refused_o_with_no_gap_in_sight_then_the_lost_modified_of_the_ended_order_cancels_it_at_cboe(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Cboe's refusal comes unsequenced and nothing shows the gap yet: the order ends ``BOE_NOT_AT_CBOE`` (nothing
    can tell), as documented. The re-login's replay then brings the lost Modify's Order Modified, in order: the
    order works at Cboe under its ClOrdID after it ended here, so it is canceled there (the old code: ignored as
    ``repeated-modified``, 200 shares left working)."""
    link, engine, _rig, strat, order, cancel, old = _lost_modify_then_cancel(tmp_path)
    _refuse(link, cancel)
    _pump(link, engine)
    assert order.state is OrderState.CANCELED
    assert _events(strat)[-1] == ("Canceled", 100, 0, "BOE_NOT_AT_CBOE")
    link.disconnect()
    with caplog.at_level(logging.INFO, logger="venues.boe.adapter"):
        link.connect()  # the replay brings the Order Modified (unit 1, 3)
        _pump(link, engine)
    assert {o: s.leaves for o, s in link.core.exchange.orders.items()} == {
        split_ref(o.venue_ref)[0]: 100 for o in engine.orders.values() if o.cl_ord_id == "B"
    }  # the old code: {old.1.1: 200} too
    assert "repeated-modified" not in link.venue.ignored
    assert link.venue.counters["lost_modifies"] == 1 and link.venue.counters["live_after_end"] == 1
    assert _cancels(link)[-1] == (old + ".1.1", "cancelled")
    assert _events(strat) == []  # the Canceled above was the one answer; nothing reopens
    assert link.venue.status()["late_cancels_waiting"] == 0
    # the Cancel went out after the replay for an order that ended here, and its answer said so
    assert "Cboe showed the order working after it had ended here" in caplog.text
    assert "Cboe answered the Cancel the gateway sent after the order had ended here" in caplog.text
    assert link.core.exchange.violations == []


def test_lost_modified_applied_in_a_replay_maps_its_clordid_and_the_owed_cancel_line_says_the_order_is_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev61boe LOW 2: the Cancel owed after a stale ``O`` in a replay, for an order open here, was logged as if the
    order had ended here: the lost Modify's ClOrdID was not mapped (``_refs``). Both answers come in the replay."""
    link, engine, _rig, strat, order, cancel, old = _lost_modify_then_cancel(tmp_path)
    link.disconnect()  # the Order Modified comes in the re-login's replay after all
    link.core.streams.append(UNIT, CancelRejected(0, 0, DAY_NS, old, "O", UNKNOWN))
    with caplog.at_level(logging.INFO, logger="venues.boe.adapter"):
        link.connect()
        _pump(link, engine)
    assert order.state is OrderState.CANCELED and _cancels(link) == [(old + ".1.1", "cancelled")]
    assert _events(strat)[-2:] == [("Replaced", 200, 200), ("Canceled", 200, 0, "USER_REQUESTED")]
    line = next(r.getMessage() for r in caplog.records if "sent after the replay" in r.getMessage())
    # the old code: "... Cboe showed the order working after it had ended here"
    assert line.endswith("the order works at Cboe under this one"), line
    del cancel  # never processed: Cboe's refusal of it is the sequenced one above


def test_gap_filled_live_after_the_refusal_then_the_cancel_goes_out_again_at_once(tmp_path: Path) -> None:
    """Cboe sends the Order Modified after its refusal (n+1 after n+2) on the same connection: the Cancel goes out
    again naming the new ClOrdID as soon as the gap is filled, with no re-login."""
    link, engine, _rig, strat, order, _cancel, old = _lost_modify_then_cancel(tmp_path)
    link.core.streams.append(UNIT, CancelRejected(0, 0, DAY_NS, old, "O", UNKNOWN))
    _pump(link, engine)
    assert (order.state, link.venue.status()["open_gaps"]) == (OrderState.PENDING_CANCEL, 1)
    assert link.connection is not None
    link.connection.sent[UNIT] = 2  # message 3, the Order Modified, after 4 (4 again: a repeat, dropped)
    _pump(link, engine)
    assert link.venue.status()["open_gaps"] == 0
    assert order.state is OrderState.CANCELED
    assert _events(strat)[-2:] == [("Replaced", 200, 200), ("Canceled", 200, 0, "USER_REQUESTED")]
    assert _cancels(link) == [(old + ".1.1", "cancelled")] and link.venue.counters["ended_not_at_cboe"] == 0
    assert link.venue.ignored["stale-cancel-reject"] == 1  # the Cancel sent again (``_cancel_again``)


def test_gap_below_the_refusal_holds_another_message_then_the_order_ends_not_at_cboe_once_it_is_filled(
    tmp_path: Path,
) -> None:
    """Cboe lost the order (no Modify anywhere); a gap below the refusal holds a fill of another order. Once the
    re-login's replay fills it, nothing renamed the order: it ends ``BOE_NOT_AT_CBOE``, one answer, as before."""
    link = _link(tmp_path)
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    for name in ("A", "B"):
        rig.send(strat, NewOrder(name, "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
        _pump(link, engine)
    a, b = (split_ref(engine.strategies["S1"].orders[name].venue_ref)[0] for name in ("A", "B"))
    del link.core.exchange.orders[a]  # Cboe lost its book of A
    assert link.core.exchange.execute(b, 10)  # message 3 ...
    assert link.connection is not None
    link.connection.sent[UNIT] = 3  # ... lost in transit
    assert link.core.exchange.execute(b, 10)  # message 4: the gap 3..3 shows
    _pump(link, engine)
    rig.send(strat, Cancel("A"))
    _pump(link, engine)  # refused O (unsequenced) while the gap is open: waits
    order = engine.strategies["S1"].orders["A"]
    assert (order.state, link.venue.ignored["cancel-reject-over-gap"]) == (OrderState.PENDING_CANCEL, 1)
    link.disconnect()
    link.connect()
    _pump(link, engine)
    assert order.state is OrderState.CANCELED
    assert _events(strat)[-2:] == [("Executed", 10, 20, 80), ("Canceled", 100, 0, "BOE_NOT_AT_CBOE")]
    assert link.venue.counters["ended_not_at_cboe"] == 1
    assert _cancels(link) == [(a, "cancel-rejected:")]  # the one Cancel: no copy after the re-login
