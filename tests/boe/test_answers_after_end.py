"""BOE: Cboe messages naming an order the adapter no longer maps: canceled at Cboe if working there (late41boe).

An order that ended here is not restored after a restart, and the engine releases ended orders from memory
(``memory.terminal_orders_kept``); the adapter then maps none of its ClOrdIDs. Before, every message for such a
ClOrdID but an Order Execution was an unknown ClOrdID (logged, counted, nothing done), also one showing the order
working at Cboe (a late Acknowledgment, Modified or Restated with shares open): Cboe worked an order the gateway
believed ended, and nothing canceled it. Today's ClOrdIDs name the order, so the adapter now cancels such an
order at Cboe at once (``live_after_end``), keeps that Cancel on file until Cboe answers or received it (a
crash that loses it leaves it to the next process), and counts the messages that need nothing as after the
order's end (``after_end``), not unknown. A Trade Cancel or Correct names the order read back.

Against the sans-IO simulator, through a real engine and a real journal file, on a fake clock; a restart builds a
new engine and adapter from the journal and the venue's state directory, as ``gateway run`` does.
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
from tests.boe.test_late_answers import _wait_in_doubt_timeout, _wait_probe_timeout
from tests.boe.test_modify_up_crossed_by_fill import RESTING, _events, _execution, _link, _order_at_cboe, _pump
from tests.boe.test_zero_leaves_restart import _restart
from tests.harness import MemoryLink, Rig
from venues.boe.adapter import split_ref
from venues.boe.messages import (
    CancelRejected,
    OrderAcknowledgment,
    OrderCancelled,
    OrderRejected,
    OrderRestated,
    ReturnFields,
    UserModifyRejected,
)
from venues.boe.state import (
    BoeStateError,
    corrections_path,
    load_corrections,
    load_owed,
    load_owed_cancels,
    owed_cancels_path,
    save_corrections,
    save_owed_cancels,
)

UNIT = 1  # AAPL's matching unit in the harness


def _cancels_sent(link: Link) -> list[str]:
    return [r.outcome for r in link.core.exchange.records if r.type == "Cancel Order"]


def _gateway(link: Link, journal: Path) -> tuple[Engine, Rig]:
    """Return a real engine over ``link``'s venue, logged in, and a Rig."""
    engine, rig = gateway_over(link, journal)
    link.connect()
    return engine, rig


@pytest.mark.parametrize("restart", [False, True])
def test_new_order_reported_lost_when_cboe_acknowledges_it_after_a_restart_then_canceled_there(
    tmp_path: Path, restart: bool
) -> None:
    link = _link(tmp_path)
    journal = tmp_path / "journal"
    engine, rig = _gateway(link, journal)
    strat = rig.connect("S1")
    link.core.hold = True  # Cboe receives the New Order and processes nothing yet
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    link.disconnect(lose_unsent=False)
    link.connect()  # the probe (a Cancel of it) is held too
    _pump(link, engine)
    _wait_probe_timeout(link)
    engine.flush()
    assert order.state is OrderState.REJECTED  # BOE_ANSWER_LOST: ended here
    if restart:
        engine, rig = _restart(link, engine, journal)
        link.connect()
        _pump(link, engine)
    # Cboe's order handler lets the probe overtake: Cancel Rejected (O), then it acknowledges the order
    assert link.core.release_held(link.connection, newest_first=True) == 2
    _pump(link, engine)
    assert link.core.exchange.orders == {}  # the old code, restarted: 100 working at Cboe, tracked nowhere
    assert _cancels_sent(link)[-1] == "cancelled"
    assert link.core.exchange.violations == []
    status = link.venue.status()
    assert status["unknown_cl_ord_id"] == 0 and status["late_cancels_waiting"] == 0
    if restart:  # the Ack is for an order the new adapter does not map; both answers are expected ones
        assert (status["live_after_end"], status["after_end"]) == (1, 2)
        assert engine.counters.venue_events_unknown_order == 0
    else:
        assert status["late_answers"] == 1
    assert load_owed(link.state_dir, "cboe")[1] == {}


def _filled_while_a_modify_lapsed(tmp_path: Path) -> tuple[Link, Engine, Rig, Order, Path]:
    """Order A 100, Modify to 150 held inside Cboe and reported refused at the in-doubt deadline; a fill of 100
    (LeavesQty 0) meanwhile: A ends FILLED here. Cboe still holds the Modify, which reopens it (50 open)."""
    link = _link(tmp_path, reopen=True)
    journal = tmp_path / "journal"
    engine, rig = _gateway(link, journal)
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    link.core.hold = True
    rig.send(strat, Replace("A", 150, RESTING))
    _pump(link, engine)
    link.core.duplicates_first = True
    link.disconnect(lose_unsent=False)
    link.connect()  # the copy is refused D at once; the original is still held
    _pump(link, engine)
    assert link.core.exchange.execute(split_ref(order.venue_ref)[0], 100)
    _pump(link, engine)
    _wait_in_doubt_timeout(link)
    engine.flush()
    assert (order.state, order.cum_qty) == (OrderState.FILLED, 100)
    return link, engine, rig, order, journal


@pytest.mark.parametrize("restart", [False, True])
def test_modify_lapsed_when_cboe_applies_it_after_the_order_filled_and_a_restart_then_canceled_there(
    tmp_path: Path, restart: bool, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, order, journal = _filled_while_a_modify_lapsed(tmp_path)
    if restart:
        engine, _rig = _restart(link, engine, journal)
        link.connect()
        _pump(link, engine)
    caplog.set_level(logging.INFO)
    assert link.core.release_held(link.connection) == 1  # Cboe applies the Modify: 50 open there again
    _pump(link, engine)
    assert link.core.exchange.orders == {}  # the old code, restarted: 50 working at Cboe, tracked nowhere
    assert link.core.exchange.violations == []
    status = link.venue.status()
    assert status["unknown_cl_ord_id"] == 0 and status["late_cancels_waiting"] == 0
    if restart:
        assert (status["live_after_end"], status["after_end"]) == (1, 1)
        [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert f"shows order {order.order_id} working at Cboe" in line and "canceling it at Cboe" in line
    assert engine.counters.late_fills == 0 and order.cum_qty == 100


def test_modify_lapsed_when_the_cancel_of_it_is_lost_in_a_crash_then_the_next_start_cancels_it(
    tmp_path: Path,
) -> None:
    """The Cancel the adapter owes goes on file before anything after the message is journaled: a crash that loses
    the Cancel, with the journal already past the Order Modified (a later message on the same unit), leaves it to
    the next process, which sends it after Replay Complete."""
    link, engine, _rig, order, journal = _filled_while_a_modify_lapsed(tmp_path)
    engine, rig = _restart(link, engine, journal)
    link.connect()
    _pump(link, engine)
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("B", "ACC1", "cboe", "AAPL", Side.BUY, 10, RESTING - 100))  # held behind the Modify
    _pump(link, engine)
    connection = link.connection
    assert connection is not None
    assert link.core.release_held(connection) == 2  # Order Modified of A (50 open), then B's Acknowledgment
    out, _cut = link.core.output(connection, link.clock())
    link.venue.data_received(bytes(out), link.clock())
    engine.flush()  # B's acknowledgment is journaled: the next login starts after A's Order Modified
    assert link.venue.counters["live_after_end"] == 1
    engine, rig = _restart(link, engine, journal)  # kill -9: the Cancel of A never reached Cboe
    [a_at_cboe] = [o for o in link.core.exchange.orders.values() if o.leaves == 50]
    assert list(load_owed(link.state_dir, "cboe")[1]) == [a_at_cboe.cl_ord_id]
    link.connect()
    _pump(link, engine)
    assert a_at_cboe.cl_ord_id not in link.core.exchange.orders  # the old code: 50 working at Cboe for good
    assert [o.leaves for o in link.core.exchange.orders.values()] == [10]  # B is the strategy's, untouched
    assert _cancels_sent(link) == ["cancelled"] and link.core.exchange.violations == []
    status = link.venue.status()
    assert (status["late_cancels_waiting"], status["after_end"], status["unknown_cl_ord_id"]) == (0, 1, 0)
    assert load_owed(link.state_dir, "cboe")[1] == {}
    assert engine.orders[order.order_id].state is OrderState.FILLED


def _ended_and_forgotten(tmp_path: Path) -> tuple[Link, Engine, MemoryLink, Order, str]:
    """Order A at Cboe, 10 executed, then canceled by the strategy; the adapter forgets it (as a release does)."""
    link, engine, rig, strat, order = _order_at_cboe(tmp_path)
    cl_ord_id = split_ref(order.venue_ref)[0]
    assert link.core.exchange.execute(cl_ord_id, 10)
    _pump(link, engine)
    rig.send(strat, Cancel("A"))
    _pump(link, engine)
    assert order.state is OrderState.CANCELED
    link.venue.forget(order)
    return link, engine, strat, order, cl_ord_id


def test_restated_with_shares_open_when_the_order_ended_and_was_forgotten_then_a_cancel_goes_out(
    tmp_path: Path,
) -> None:
    link, engine, _strat, _order, cl_ord_id = _ended_and_forgotten(tmp_path)
    restated = OrderRestated(0, 0, DAY_NS, cl_ord_id, 77, "R", ReturnFields(leaves_qty=40))
    link.core.streams.append(UNIT, restated)
    link.core.streams.append(UNIT, restated)  # a second one while the Cancel is on its way: no second Cancel
    _pump(link, engine)
    assert _cancels_sent(link) == ["cancelled", "cancel-rejected:O"]  # the strategy's, then the adapter's
    status = link.venue.status()
    assert (status["live_after_end"], status["after_end"], status["unknown_cl_ord_id"]) == (1, 1, 0)
    assert status["late_cancels_waiting"] == 0 and link.venue.ignored["after-end-cancel-owed"] == 1
    assert engine.counters.venue_events_unknown_order == 0


def test_answers_that_need_nothing_when_the_order_ended_and_was_forgotten_then_after_end_not_unknown(
    tmp_path: Path,
) -> None:
    link, engine, strat, order, cl_ord_id = _ended_and_forgotten(tmp_path)
    assert _events(strat)[-1] == ("Canceled", 90, 0, "USER_REQUESTED")  # read: what follows is new
    link.core.streams.append(UNIT, OrderCancelled(0, 0, DAY_NS, cl_ord_id, "U"))
    link.core.streams.append(UNIT, CancelRejected(0, 0, DAY_NS, cl_ord_id, "J", ""))
    link.core.streams.append(UNIT, UserModifyRejected(0, 0, DAY_NS, cl_ord_id + ".1.1", "O", ""))
    link.core.streams.append(UNIT, OrderRejected(0, 0, DAY_NS, cl_ord_id, "D", ""))
    link.core.streams.append(UNIT, OrderRestated(0, 0, DAY_NS, cl_ord_id, 77, "R", ReturnFields(leaves_qty=0)))
    link.core.streams.append(UNIT, OrderCancelled(0, 0, DAY_NS, "GHOST1", "U"))  # not ours: unknown
    _pump(link, engine)
    status = link.venue.status()
    assert (status["after_end"], status["unknown_cl_ord_id"], status["live_after_end"]) == (5, 1, 0)
    assert link.venue.ignored["after-end"] == 5
    assert _cancels_sent(link) == ["cancelled"]  # nothing sent for them
    assert _events(strat) == [] and order.state is OrderState.CANCELED
    assert engine.counters.venue_events_unknown_order == 1


def test_trade_cancel_when_the_order_was_released_from_memory_then_logged_with_the_order_read_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _strat, order, _cl_ord_id = _ended_and_forgotten(tmp_path)
    [exec_id] = list(link.core.exchange.executions)
    engine.flush()
    del engine.orders[order.order_id]  # released from memory (the adapter forgot it above)
    caplog.set_level(logging.WARNING)
    assert link.core.exchange.correct_trade(exec_id)  # Cboe busts the 10
    _pump(link, engine)
    status = link.venue.status()
    assert (status["trade_corrections"], status["trade_corrections_after_end"]) == (1, 1)
    assert engine.journal_rebuilds == 1  # read back from the journal
    [line] = [r.getMessage() for r in caplog.records if "Trade Cancel or Correct" in r.getMessage()]
    assert f"order {order.order_id} (no longer tracked here: read back): account ACC1, AAPL, side BUY" in line
    assert "busted" in line and "adjust-position --account ACC1 --symbol AAPL --qty -10 --price 150.24" in line
    assert order.cum_qty == 10  # not applied: the position keeps the fill (risk officer's guide 8)


def test_owed_cancels_file_when_of_another_day_or_corrupt_then_kept_unsent_or_refused(tmp_path: Path) -> None:
    save_owed_cancels(tmp_path, "cboe", "2024-05-01", {"6uv1": 7})
    assert load_owed_cancels(tmp_path, "cboe", "2024-05-01") == {"6uv1": 7}
    assert load_owed_cancels(tmp_path, "cboe", "2024-05-02") == {"6uv1": 0}  # a GTC order outlives the day: owed
    assert load_owed_cancels(tmp_path, "other", "2024-05-01") == {}
    owed_cancels_path(tmp_path, "cboe").write_bytes(b'{"day": "2024-05-01", "cancels": ')
    with pytest.raises(BoeStateError, match="check the venue's open orders with Cboe"):
        load_owed_cancels(tmp_path, "cboe", "2024-05-01")


def test_corrections_file_when_of_another_day_corrupt_or_unreadable_then_forgotten_or_refused_naming_it(
    tmp_path: Path,
) -> None:
    save_corrections(tmp_path, "cboe", "2024-05-01", {9, 3})
    assert load_corrections(tmp_path, "cboe", "2024-05-01") == {3, 9}
    assert load_corrections(tmp_path, "cboe", "2024-05-02") == set()  # per trading day
    assert load_corrections(tmp_path, "other", "2024-05-01") == set()
    path = corrections_path(tmp_path, "cboe")
    path.write_bytes(b'{"day": "2024-05-01", "seen": [3')
    with pytest.raises(
        BoeStateError, match="busts, trade corrections and unapplied executions reported today are unknown"
    ) as corrupt:
        load_corrections(tmp_path, "cboe", "2024-05-01")
    assert f"BOE state {path} is corrupt" in str(corrupt.value)
    path.unlink()
    path.mkdir()  # exists but cannot be read
    with pytest.raises(BoeStateError, match="cannot read BOE state") as unreadable:
        load_corrections(tmp_path, "cboe", "2024-05-01")
    assert str(path) in str(unreadable.value)


@pytest.mark.parametrize("filled", [False, True])
def test_acknowledgment_in_a_replay_when_the_order_ended_here_then_canceled_after_it_unless_cboe_ended_it_first(
    tmp_path: Path, filled: bool
) -> None:
    """Cboe refuses cancels during a replay: the Cancel owed goes at Replay Complete, unless the replay also shows
    Cboe ended the order (an execution with LeavesQty 0): then none is sent."""
    link, engine, _strat, _order, cl_ord_id = _ended_and_forgotten(tmp_path)
    link.disconnect()
    link.core.streams.append(UNIT, OrderAcknowledgment(0, 0, DAY_NS, cl_ord_id, 77))
    if filled:
        link.core.streams.append(UNIT, _execution(cl_ord_id, 900_001, 90, 0))
    link.connect()  # both come in the replay
    _pump(link, engine)
    status = link.venue.status()
    assert (status["live_after_end"], status["late_cancels_waiting"], status["unknown_cl_ord_id"]) == (1, 0, 0)
    assert _cancels_sent(link) == ["cancelled"] + ([] if filled else ["cancel-rejected:O"])
    assert status["after_end"] == (0 if filled else 1)
    assert status["executions_after_end"] == (1 if filled else 0)


def test_trade_correct_when_the_price_changes_then_logged_in_decimals_with_the_two_adjustments(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fails on the old code: the line named raw fixed-point prices (``10 @ 1502400 ... corrected to 1499000``)."""
    link, engine, _strat, order, _cl_ord_id = _ended_and_forgotten(tmp_path)
    [exec_id] = list(link.core.exchange.executions)
    engine.flush()
    caplog.set_level(logging.WARNING)
    assert link.core.exchange.correct_trade(exec_id, corrected_price=1_499_000)  # Cboe corrects 150.24 to 149.90
    _pump(link, engine)
    [line] = [r.getMessage() for r in caplog.records if "Trade Cancel or Correct" in r.getMessage()]
    assert f"execution {exec_id} (10 @ 150.24) price corrected to 149.9: not applied" in line
    assert (
        "gateway risk adjust-position --account ACC1 --symbol AAPL with --qty -10 --price 150.24 and --qty 10 "
        "--price 149.9 --reason ..." in line
    )
    assert order.cum_qty == 10
