"""Requests Cboe received before a cut but answered only after the next login (strictboe29 finding).

Cboe's LastReceivedSequenceNumber L says a request was *received*, not that it was answered: up to
128 messages may be in flight inside Cboe (spec §7.7). The simulator's ``hold`` plays that: held
messages count in L but are processed only at ``release_held``, in order, behind nothing the client
sends later. Whatever the order of answers, the strategy must see every fill and one answer per request.
"""

from __future__ import annotations

from pathlib import Path

from model.order import OrderState
from model.venue_events import (
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    VenueState,
)
from tests.boe.harness import PX, Link, connected_link, make_order
from venues.boe.adapter import IN_DOUBT_TIMEOUT_NS, PROBE_TIMEOUT_NS, split_ref


def _cut_while_held(link: Link) -> None:
    """Cut the connection: Cboe has received everything written, processed none of it."""
    link.venue.flush()
    link.disconnect(lose_unsent=False)
    link.connect()
    assert link.venue.state is VenueState.UP
    assert link.venue.session.last_processed >= 1


def _release(link: Link) -> None:
    link.core.release_held(link.connection)
    link.pump()


def _wait_probe_timeout(link: Link) -> None:
    for _ in range(PROBE_TIMEOUT_NS // 500_000_000 + 1):
        link.clock.advance_ms(500)
        link.poll()


def _kinds(link: Link, order_id: int) -> list[str]:
    return [type(e).__name__ for e in link.events if e.order_id == order_id]


def test_new_order_when_answered_after_relogin_then_its_fill_reaches_the_strategy(tmp_path: Path) -> None:
    link = connected_link(tmp_path)
    link.core.hold = True
    order = make_order(1, price=PX + 100)  # marketable: filled on entry
    link.send_new(order)
    _cut_while_held(link)
    assert _kinds(link, 1) == []  # silence is not a refusal
    _release(link)
    assert _kinds(link, 1) == ["VenueAccepted", "VenueExecuted"]
    assert order.state is OrderState.FILLED and order.cum_qty == 100
    assert [r.type for r in link.exchange_records] == ["New Order", "Cancel Order"]
    assert link.venue.counters["late_answers"] == 0 and link.venue.counters["answers_lost"] == 0


def test_new_order_when_answered_after_relogin_and_resting_then_accepted_and_canceled_once(tmp_path: Path) -> None:
    link = connected_link(tmp_path)
    link.core.hold = True
    order = make_order(1)  # rests
    link.send_new(order)
    _cut_while_held(link)
    _release(link)
    assert _kinds(link, 1) == ["VenueAccepted", "VenueCanceled"]
    canceled = link.events[-1]
    assert isinstance(canceled, VenueCanceled) and canceled.reason == "BOE_ANSWER_LATE"
    assert order.state is OrderState.CANCELED and link.core.exchange.orders == {}
    assert link.core.exchange.violations == []


def test_new_order_when_cboe_refused_it_unsequenced_and_the_answer_was_lost_then_rejected_after_cancel_probe(
    tmp_path: Path,
) -> None:
    link = connected_link(tmp_path, reject_symbols=frozenset({"SPY"}))
    order = make_order(1, symbol="SPY")
    link.send_new(order, pump=False)
    link.venue.flush()
    link.disconnect(lose_unsent=False)  # Cboe rejected it unsequenced; the answer is lost
    link.connect()
    assert link.events == []  # the probe's Cancel Rejected (O) is not a refusal yet: Cboe may still answer
    _wait_probe_timeout(link)
    [rejected] = link.events
    assert isinstance(rejected, VenueRejected) and rejected.code == "BOE_ANSWER_LOST"
    assert order.state is OrderState.REJECTED
    assert [r.outcome for r in link.exchange_records] == ["rejected:Y", "cancel-rejected:O"]
    assert link.venue.counters["answers_lost"] == 1 and link.core.exchange.violations == []


def test_new_order_when_its_probe_overtakes_it_inside_cboe_then_the_late_fill_still_reaches_the_strategy(
    tmp_path: Path,
) -> None:
    link = connected_link(tmp_path)
    link.core.hold = True
    order = make_order(1, price=PX + 100)
    link.send_new(order)
    _cut_while_held(link)
    link.core.release_held(link.connection, newest_first=True)  # Cancel Rejected (O), then Ack and fill
    link.pump()
    _wait_probe_timeout(link)
    assert _kinds(link, 1) == ["VenueAccepted", "VenueExecuted"] and order.cum_qty == 100
    assert link.venue.counters["answers_lost"] == 0


def test_new_order_when_the_probe_is_cut_too_then_probed_again_and_filled(tmp_path: Path) -> None:
    link = connected_link(tmp_path)
    link.core.hold = True
    order = make_order(1, price=PX + 100)
    link.send_new(order)
    _cut_while_held(link)  # the probe goes out and is held too
    _cut_while_held(link)
    assert _kinds(link, 1) == []
    _release(link)
    assert _kinds(link, 1) == ["VenueAccepted", "VenueExecuted"] and order.cum_qty == 100


def test_new_order_when_no_answer_to_the_probe_in_time_then_reported_lost_and_a_late_ack_canceled(
    tmp_path: Path,
) -> None:
    link = connected_link(tmp_path)
    link.core.hold = True
    order = make_order(1)
    link.send_new(order)
    _cut_while_held(link)
    _wait_probe_timeout(link)
    [rejected] = [e for e in link.events if e.order_id == 1]
    assert isinstance(rejected, VenueRejected) and rejected.code == "BOE_ANSWER_LOST"
    _release(link)
    assert link.venue.counters["late_answers"] == 1
    assert link.core.exchange.orders == {}  # the late ack was canceled at once (the safety net)


def test_modify_when_answered_after_relogin_then_applied_and_later_fills_counted(tmp_path: Path) -> None:
    link = connected_link(tmp_path)
    order = make_order(1)
    link.send_new(order)
    link.core.hold = True
    link.send_replace(order, 400, PX - 10)
    _cut_while_held(link)
    assert _kinds(link, 1) == ["VenueAccepted"]
    _release(link)
    assert _kinds(link, 1) == ["VenueAccepted", "VenueReplaced"]
    assert (order.qty, order.state) == (400, OrderState.LIVE)
    link.core.exchange.execute(split_ref(order.venue_ref)[0], 400)
    link.pump()
    assert order.state is OrderState.FILLED and order.cum_qty == 400
    assert not [e for e in link.events if isinstance(e, VenueCancelRejected)]


def test_cancel_when_answered_after_relogin_then_canceled_with_one_answer(tmp_path: Path) -> None:
    link = connected_link(tmp_path)
    order = make_order(1)
    link.send_new(order)
    link.core.hold = True
    link.send_cancel(order)
    _cut_while_held(link)
    _release(link)
    assert _kinds(link, 1) == ["VenueAccepted", "VenueCanceled"] and order.state is OrderState.CANCELED


def test_cancel_when_cboe_refused_it_unsequenced_and_the_answer_was_lost_then_resent_and_answered(
    tmp_path: Path,
) -> None:
    link = connected_link(tmp_path, cancel_reject_symbols=frozenset({"SPY"}))
    order = make_order(1, symbol="SPY")
    link.send_new(order)
    link.send_cancel(order, pump=False)
    link.venue.flush()
    link.disconnect(lose_unsent=False)
    link.connect()
    rejects = [e for e in link.events if isinstance(e, VenueCancelRejected)]
    assert len(rejects) == 1 and rejects[0].code == "TOO_LATE_TO_CANCEL"
    assert order.state is OrderState.LIVE


def test_new_order_and_cancel_when_both_answered_after_relogin_then_one_answer_each(tmp_path: Path) -> None:
    link = connected_link(tmp_path)
    link.core.hold = True
    order = make_order(1)
    link.send_new(order)
    link.send_cancel(order)  # PENDING_NEW_CANCEL
    _cut_while_held(link)
    _release(link)
    assert _kinds(link, 1) == ["VenueAccepted", "VenueCanceled"] and order.state is OrderState.CANCELED
    assert isinstance(link.events[0], VenueAccepted) and not [e for e in link.events if isinstance(e, VenueExecuted)]
    assert not [e for e in link.events if isinstance(e, (VenueRejected, VenueReplaced, VenueCancelRejected))]


# ---- the copy's answer overtakes the original's (rev37boe s8, s8c, s17) ----
# Cboe's order handler refuses the copy of a request it still holds (Modify D, duplicate ClOrdID; Cancel J) before
# the matching engine answers the original: the simulator's ``duplicates_first``.


def _cut_then_copies_refused_first(link: Link) -> None:
    link.core.duplicates_first = True
    _cut_while_held(link)  # the copies go out after Replay Complete and are refused at once


def _wait_in_doubt_timeout(link: Link) -> None:
    for _ in range(IN_DOUBT_TIMEOUT_NS // 500_000_000 + 1):
        link.clock.advance_ms(500)
        link.poll()


def test_modify_in_doubt_when_its_copy_is_refused_before_the_original_is_answered_then_replaced_once(
    tmp_path: Path,
) -> None:
    link = connected_link(tmp_path)
    order = make_order(1)
    link.send_new(order)
    link.core.hold = True
    link.send_replace(order, 150, PX - 100)
    _cut_then_copies_refused_first(link)
    assert [r.outcome for r in link.exchange_records][-1] == "modify-rejected:D:held-duplicate"
    assert _kinds(link, 1) == ["VenueAccepted"]  # the copy's duplicate reject does not answer the Replace
    _release(link)
    assert _kinds(link, 1) == ["VenueAccepted", "VenueReplaced"]
    [live] = link.core.exchange.orders.values()
    assert (order.qty, order.state, split_ref(order.venue_ref)[0]) == (150, OrderState.LIVE, live.cl_ord_id)
    _wait_in_doubt_timeout(link)
    link.send_cancel(order)  # names the ClOrdID Cboe knows the order by
    assert _kinds(link, 1) == ["VenueAccepted", "VenueReplaced", "VenueCanceled"]
    assert order.state is OrderState.CANCELED and link.core.exchange.orders == {}
    assert link.venue.ignored["in-doubt-reject-held"] == 1 and link.venue.counters["late_answers"] == 0


def test_cancel_in_doubt_when_its_copy_is_refused_before_the_original_is_answered_then_one_answer(
    tmp_path: Path,
) -> None:
    link = connected_link(tmp_path)
    order = make_order(1)
    link.send_new(order)
    link.core.hold = True
    link.send_cancel(order)
    _cut_then_copies_refused_first(link)
    assert [r.outcome for r in link.exchange_records][-1] == "cancel-rejected:J:held-duplicate"
    assert _kinds(link, 1) == ["VenueAccepted"]
    _release(link)
    _wait_in_doubt_timeout(link)
    assert _kinds(link, 1) == ["VenueAccepted", "VenueCanceled"] and order.state is OrderState.CANCELED
    assert link.venue.status()["open_orders"] == 0


def test_modify_in_doubt_when_both_original_and_copy_are_refused_then_one_answer_with_the_originals_reason(
    tmp_path: Path,
) -> None:
    link = connected_link(tmp_path, reject_modify_symbols=frozenset({"SPY"}))
    order = make_order(1, symbol="SPY")
    link.send_new(order)
    link.core.hold = True
    link.send_replace(order, 150, PX - 100)
    _cut_then_copies_refused_first(link)
    _release(link)  # the original: refused A
    _wait_in_doubt_timeout(link)
    [rejected] = [e for e in link.events if isinstance(e, VenueCancelRejected)]
    assert rejected.code == "ADMINISTRATIVE"
    assert (order.qty, order.state) == (100, OrderState.LIVE)


def test_modify_in_doubt_when_the_original_is_answered_after_the_deadline_then_the_late_modified_is_applied(
    tmp_path: Path,
) -> None:
    """boe39: Cboe's Order Modified that comes after the 5 s deadline (reported refused by then) resizes the order,
    as Cboe has it; the old code canceled the order at Cboe instead (BOE_ANSWER_LATE)."""
    link = connected_link(tmp_path)
    order = make_order(1)
    link.send_new(order)
    link.core.hold = True
    link.send_replace(order, 150, PX - 200)
    _cut_then_copies_refused_first(link)
    _wait_in_doubt_timeout(link)
    [rejected] = [e for e in link.events if isinstance(e, VenueCancelRejected)]
    assert rejected.code == "BOE_ANSWER_LOST" and "refused as a duplicate" in rejected.text
    assert (order.qty, order.state) == (100, OrderState.LIVE)
    link.clock.advance_ms(60_000)  # however late
    _release(link)  # Cboe applies the original after all
    assert _kinds(link, 1) == ["VenueAccepted", "VenueCancelRejected", "VenueReplaced"]
    [live] = link.core.exchange.orders.values()
    assert (order.qty, order.price, order.leaves_qty, order.state) == (150, PX - 200, 150, OrderState.LIVE)
    assert split_ref(order.venue_ref)[0] == live.cl_ord_id  # known by the Modify's ClOrdID, as at Cboe
    assert link.venue.counters["late_answers"] == 1
    link.send_cancel(order)  # names the ClOrdID Cboe knows the order by
    assert order.state is OrderState.CANCELED and link.core.exchange.orders == {}
    assert link.core.exchange.violations == []


def test_modify_in_doubt_when_a_fill_took_everything_and_cboe_applies_it_after_the_deadline_then_canceled_there(
    tmp_path: Path,
) -> None:
    """boefix38: the fill (LeavesQty 0) kept the order open for the Modify; refused at the deadline it ends FILLED
    here, and the Modify Cboe applies after all (50 open again) is canceled at Cboe, not left working there."""
    link = connected_link(tmp_path, modify_reopens_filled=True)
    order = make_order(1)
    link.send_new(order)
    link.core.hold = True
    link.send_replace(order, 150, PX - 100)
    _cut_then_copies_refused_first(link)
    assert link.core.exchange.execute(split_ref(order.venue_ref)[0], 100)  # LeavesQty 0, the Modify still held
    link.pump()
    assert (order.state, order.leaves_qty) == (OrderState.PENDING_REPLACE, 50)
    _wait_in_doubt_timeout(link)
    assert (order.state, order.cum_qty) == (OrderState.FILLED, 100)
    _release(link)  # Cboe applies the original Modify: 50 open at Cboe again
    assert link.core.exchange.orders == {}  # canceled there at once (BOE_ANSWER_LATE)
    assert link.venue.counters["late_answers"] == 1
