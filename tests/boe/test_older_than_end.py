"""BOE: a message older than the one that ended the order does not show it working at Cboe (boe59).

rev59boe finding 1 (MEDIUM): order 100 acknowledged; Cboe fills 60 (Order Execution n+1, LeavesQty 40), then
cancels the rest on the strategy's Cancel (Order Cancelled n+2). n+2 arrives first (n+1 left a gap), the order ends
CANCELED here; then n+1 arrives (late, or in Cboe's replay of the gap). The fill is applied once (right), but the old
code took its LeavesQty 40 for "working at Cboe": an ERROR "shows order 1 working at Cboe ... canceling it", a Cancel
Order of an order Cboe ended (refused), and ``live_after_end`` counted (the critical alert
``GatewayVenueOrderLiveAfterEnd``). A message numbered below the one that ended the order is older than it: its
LeavesQty is stale. Also when the order is no longer mapped (released from memory) and after a restart (the gap on
file, the order ended before the stop). A *newer* message showing the order working still has it canceled.

rev59boe finding 2 (LOW): the ``BOE_LEAVES_ZERO`` text said "after an execution of 0" when a Modify's refusal ended
the order (the execution was of 30, or a late Order Modified said LeavesQty 0).

The sans-IO simulator (``Link``: the adapter with the core's order table; or a real engine), on a fake clock.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Canceled
from model.order import OrderState
from model.venue_events import VenueCanceled, VenueExecuted, VenueState
from tests.boe.harness import DAY_NS, Link, connected_link, make_order
from tests.boe.test_lapsed_modify_leaves_zero import _cancels, _fill_then_apply
from tests.boe.test_lapsed_modify_leaves_zero import _link as _lapsed_link
from tests.boe.test_late_answers import _cut_then_copies_refused_first, _wait_in_doubt_timeout
from tests.boe.test_modify_up_crossed_by_fill import (
    RESTING,
    UNIT,
    _events,
    _execution,
    _modify_held,
    _order_at_cboe,
    _pump,
)
from venues.boe.adapter import split_ref
from venues.boe.messages import OrderModified, ReturnFields, UserModifyRejected

CANCEL_ORDER = 0x39


def _cancels_sent(link: Link, since: int) -> int:
    """Return how many Cancel Orders the adapter wrote to the wire after its ``since``-th write."""
    count = 0
    for data in link.wire[since:]:
        at = 0
        while at + 5 <= len(data):
            count += data[at + 4] == CANCEL_ORDER
            at += 2 + int.from_bytes(data[at + 2 : at + 4], "little")
    return count


def _fill_then_cancel_unsent(link: Link, cl_ord_id: str) -> tuple[bytes, bytes]:
    """Cboe fills 60 of 100 (n+1, LeavesQty 40), then cancels the rest on the gateway's Cancel (n+2).

    Neither is sent by the simulator: return their bytes (the test delivers them).
    """
    order = link.orders[1]
    connection = link.connection
    assert connection is not None
    assert link.core.exchange.execute(cl_ord_id, 60)
    link.send_cancel(order, pump=False)
    link.venue.flush(journaled=False)
    link.core.receive(connection, bytes(link._to_server), link.clock())  # the Cancel reaches Cboe ...
    link._to_server.clear()
    stream = link.core.streams.messages[UNIT]
    connection.sent[UNIT] = len(stream)  # ... whose two answers the test delivers
    execution, cancelled = (connection.encode(message) for message in stream[-2:])
    assert execution[4] == 0x2C and cancelled[4] == 0x2A  # Order Execution, Order Cancelled
    return execution, cancelled


def _renumbered(message: bytes, number: int) -> bytes:
    """Return ``message`` with SequenceNumber ``number`` (header bytes 6..9, little-endian)."""
    return message[:6] + number.to_bytes(4, "little") + message[10:]


def _ended_with_fill_in_gap(tmp_path: Path) -> tuple[Link, bytes, int]:
    """Order 1 acknowledged; its Order Cancelled (n+2) applied, its Execution of 60 (n+1) not yet: a gap."""
    link = connected_link(tmp_path)
    order = make_order(1)
    link.orders[1] = order
    link.send_new(order)
    execution, cancelled = _fill_then_cancel_unsent(link, split_ref(order.venue_ref)[0])
    link.venue.data_received(cancelled, link.clock())  # n+2 first: n+1 is a gap
    assert order.state is OrderState.CANCELED and link.venue.status()["open_gaps"] == 1
    return link, execution, len(link.wire)


def _fills(link: Link) -> list[tuple[int, int]]:
    return [(e.qty, e.order_id) for e in link.events if isinstance(e, VenueExecuted)]


@pytest.mark.parametrize("released", [False, True], ids=["mapped", "released-from-memory"])
def test_execution_when_older_than_the_order_cancelled_that_ended_it_then_applied_once_and_nothing_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, released: bool
) -> None:
    caplog.set_level(logging.INFO)
    link, execution, wrote = _ended_with_fill_in_gap(tmp_path)
    order = link.orders[1]
    if released:  # the engine released the ended order: the adapter no longer maps it
        link.venue.forget(order)
    link.venue.data_received(execution, link.clock())  # then n+1, late: LeavesQty 40
    link.pump()
    assert _fills(link) == [(60, 1)]  # the fill handed on once (the core applies it as a late fill)
    assert order.state is OrderState.CANCELED
    status = link.venue.status()
    assert status["live_after_end"] == 0  # the old code: 1 (the alert GatewayVenueOrderLiveAfterEnd)
    assert _cancels_sent(link, wrote) == 0  # the old code: a Cancel Order of the order Cboe ended
    assert link.venue.ignored["older-than-end"] == 1
    assert "shows order 1 working at Cboe" not in caplog.text
    assert "older than the message that ended it" in caplog.text
    assert link.core.exchange.violations == []


def test_execution_when_newer_than_the_message_that_ended_the_order_then_it_is_still_canceled_at_cboe(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    link, execution, wrote = _ended_with_fill_in_gap(tmp_path)
    newer = link.venue.session.units[UNIT] + 1
    link.venue.data_received(_renumbered(execution, newer), link.clock())  # n+3: Cboe works the order after its end
    link.pump()
    assert link.venue.status()["live_after_end"] == 1
    assert _cancels_sent(link, wrote) == 1
    assert "shows order 1 working at Cboe" in caplog.text


def test_execution_when_older_than_the_end_arrives_after_a_restart_then_applied_once_and_nothing_sent(
    tmp_path: Path,
) -> None:
    link, _execution_bytes, _wrote = _ended_with_fill_in_gap(tmp_path)
    ended = link.venue.session.units[UNIT]
    link.poll()  # the next timer run writes the gaps and the order that ended above one
    path = tmp_path / "cboe.boe-ended-over-gaps.json"
    on_file = json.loads(path.read_bytes()) if path.exists() else None  # the old code: no file
    link.restart()  # the order ended before the stop: not mapped by the new process
    wrote = len(link.wire)
    link.connect()  # logs in from below the gap: Cboe replays n+1 (new: LeavesQty 40) and n+2 (a repeat)
    assert link.venue.state is VenueState.UP
    assert _fills(link) == [(60, 1)]
    assert link.venue.status()["live_after_end"] == 0  # the old code: 1, and a Cancel Order sent
    assert _cancels_sent(link, wrote) == 0
    assert on_file is not None and on_file["ended"] == [[1, (UNIT << 32) | ended]]
    link.poll()  # the gap closed: the entry goes with it
    assert json.loads(path.read_bytes())["ended"] == []


def test_ended_over_gaps_file_when_unreadable_at_a_restart_then_the_venue_starts_and_cancels_as_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail closed, not a refused start: without the file the stale message is taken as working (the old behaviour)."""
    caplog.set_level(logging.ERROR)
    link, _execution_bytes, _wrote = _ended_with_fill_in_gap(tmp_path)
    link.poll()
    (tmp_path / "cboe.boe-ended-over-gaps.json").write_bytes(b"{not json")
    link.restart()
    assert "which message ended an order above a sequence gap is unknown: the venue starts without it" in caplog.text
    link.connect()
    assert link.venue.state is VenueState.UP
    assert _fills(link) == [(60, 1)]
    assert link.venue.status()["live_after_end"] == 1  # canceled at Cboe, as before boe59
    link.poll()  # the gap closed: the file is rewritten
    assert json.loads((tmp_path / "cboe.boe-ended-over-gaps.json").read_bytes())["ended"] == []


def test_execution_when_older_than_the_order_modified_that_ended_it_then_nothing_sent(tmp_path: Path) -> None:
    """rev59boe s31: Order Modified to 50 with LeavesQty 0 (n+2) before the Execution of 60 (n+1) it followed."""
    link, engine, rig, strat, order = _order_at_cboe(tmp_path)
    old, new = _modify_held(link, engine, rig, strat, 50)
    link.core.held.clear()
    link.core.hold = False
    connection = link.connection
    assert connection is not None
    stream = link.core.streams.messages[UNIT]
    execution = link.core.streams.append(UNIT, _execution(old, 900_001, 60, 40))
    applied = ReturnFields(order_qty=50, price=RESTING, leaves_qty=0)
    modified = link.core.streams.append(UNIT, OrderModified(0, 0, DAY_NS, new, 77, applied))
    connection.sent[UNIT] = len(stream)
    wrote = len(link.wire)
    link.venue.data_received(connection.encode(modified), link.clock())
    _pump(link, engine)
    assert order.state is OrderState.CANCELED
    link.venue.data_received(connection.encode(execution), link.clock())
    _pump(link, engine)
    assert order.cum_qty == 60
    assert link.venue.status()["live_after_end"] == 0  # the old code: 1
    assert _cancels_sent(link, wrote) == 0
    assert [e[0] for e in _events(strat)][-1] == "Executed"


def test_modify_refused_when_an_execution_of_30_left_nothing_then_the_text_names_that_execution(
    tmp_path: Path,
) -> None:
    """rev59boe s26: Execution of 30 with LeavesQty 0 while the Modify is in flight, then User Modify Rejected."""
    link, engine, rig, strat, order = _order_at_cboe(tmp_path)
    old, new = _modify_held(link, engine, rig, strat, 150)
    link.core.held.clear()
    link.core.hold = False
    link.core.streams.append(UNIT, _execution(old, 900_001, 30, 0))
    _pump(link, engine)
    link.core.streams.append(UNIT, UserModifyRejected(0, 0, DAY_NS, new, "A", "no", ReturnFields()))
    _pump(link, engine)
    canceled = [m for m in strat.received() if isinstance(m, Canceled)]
    assert [m.reason for m in canceled] == ["BOE_LEAVES_ZERO"]
    assert "after an execution of 30, and refused the Modify" in canceled[0].text  # the old code: "of 0"
    assert order.state is OrderState.CANCELED


def test_execution_when_older_than_a_late_order_modified_with_leaves_0_then_nothing_sent(tmp_path: Path) -> None:
    """rev59boe s28: a Modify reported refused at the in-doubt deadline (lapsed); Cboe had filled 60 (n+1) and then
    applied it to 50 with LeavesQty 0 (n+2). n+2 arrives first: the order ends NOTHING_LEFT (boe58); n+1 then."""
    link = _lapsed_link(tmp_path, "O")
    link.connect()
    order = make_order(1, price=RESTING)
    link.orders[1] = order
    link.send_new(order)
    old = split_ref(order.venue_ref)[0]
    link.core.hold = True
    link.send_replace(order, 50, order.price)
    new = split_ref(order.pending_ref)[0]
    _cut_then_copies_refused_first(link)
    _wait_in_doubt_timeout(link)
    assert order.state is OrderState.LIVE
    connection = link.connection
    assert connection is not None
    stream = link.core.streams.messages[UNIT]
    sent = connection.sent[UNIT]
    _fill_then_apply(link, old, new, "O")
    execution, modified = (connection.encode(message) for message in stream[sent:])
    connection.sent[UNIT] = len(stream)
    wrote = len(link.wire)
    link.venue.data_received(modified, link.clock())
    link.pump()
    assert (order.state, order.leaves_qty) == (OrderState.CANCELED, 0)  # NOTHING_LEFT
    link.venue.data_received(execution, link.clock())
    link.pump()
    assert _fills(link) == [(60, 1)]
    assert link.venue.status()["live_after_end"] == 0  # the old code: 1
    assert _cancels_sent(link, wrote) == 0 and _cancels(link) == []


def test_modify_refused_when_a_late_order_modified_left_nothing_then_the_text_names_it(tmp_path: Path) -> None:
    """rev59boe s23o: the lapsed Modify applied with LeavesQty 0 while a second Modify is in flight; its refusal
    ends the order. The old text: "after an execution of 0" (no such execution). The Execution of 60 that came
    before the late Modified, delivered after it (a gap), is older than what ended the order: nothing sent."""
    link = _lapsed_link(tmp_path, "O")
    link.connect()
    order = make_order(1, price=RESTING)
    link.orders[1] = order
    link.send_new(order)
    old = split_ref(order.venue_ref)[0]
    link.core.hold = True
    link.send_replace(order, 50, order.price)
    new = split_ref(order.pending_ref)[0]
    _cut_then_copies_refused_first(link)
    _wait_in_doubt_timeout(link)
    connection = link.connection
    assert connection is not None
    stream = link.core.streams.messages[UNIT]
    sent = connection.sent[UNIT]
    _fill_then_apply(link, old, new, "O")
    execution, modified = (connection.encode(message) for message in stream[sent:])
    connection.sent[UNIT] = len(stream)  # the Execution not yet delivered: the late Modified alone says LeavesQty 0
    link.core.hold = True
    link.send_replace(order, 80, order.price, pump=False)
    link.venue.flush()
    link.pump()
    link.venue.data_received(modified, link.clock())
    assert order.state is OrderState.PENDING_REPLACE
    assert link.core.release_held(link.connection) == 1  # refused O: the order is gone at Cboe
    link.pump()
    canceled = [e for e in link.events if isinstance(e, VenueCanceled)]
    assert [e.reason for e in canceled] == ["BOE_LEAVES_ZERO"]
    assert "when it applied an earlier Modify reported refused (quantity 50" in canceled[0].text  # the old: "of 0"
    assert (order.state, order.leaves_qty) == (OrderState.CANCELED, 0)
    wrote = len(link.wire)
    link.venue.data_received(execution, link.clock())  # older than the late Modified (the refusal is unsequenced)
    link.pump()
    assert _fills(link) == [(60, 1)]
    assert link.venue.status()["live_after_end"] == 0  # the old code: 1
    assert _cancels_sent(link, wrote) == 0
