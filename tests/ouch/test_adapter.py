"""OUCH venue adapter against the sans-IO simulator core: mapping, sessions, resend, recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.clock import FakeClock
from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.exactly_once import ResumePoint, VenueSequence
from model.order import apply_ack, mark_sent, request_replace
from model.send_result import Refused, Sent
from model.venue_events import (
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    VenueState,
)
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.harness import sent_ref
from tests.ouch.harness import PX, TS, Link, make_order, venue_config
from venues.ouch.adapter import OuchVenue, _cl_ord_id, build_ouch_venue
from venues.ouch.codec import decode_inbound, encode_message
from venues.ouch.messages import (
    AccountQueryResponse,
    CancelOrder,
    EnterOrder,
    OrderExecuted,
    PriorityUpdate,
    ReplaceOrder,
)
from venues.ouch.options import Options
from venues.ouch.soupbin import SoupSplitter

REPLACE_REFUSED = Refused(
    "OUCH_REPLACE",
    "replace to 1000000 @ 150.25 is outside OUCH's limits (quantity 1..999999, price 0.0001..199999.99)",
    RejectSource.GATEWAY,  # never sent: what OUCH can carry (strategy-protocol 8.2), not the exchange refusing
)


def _inbound(link: Link) -> list[object]:
    """Decode every OUCH message the venue wrote (logins skipped)."""
    messages: list[object] = []
    for packet in SoupSplitter().feed(b"".join(link.wire)):
        if packet[0] == ord("U"):
            messages.append(decode_inbound(packet[1:]))
    return messages


def _up(tmp_path: Path, **kwargs: object) -> Link:
    link = Link(tmp_path, **kwargs)  # type: ignore[arg-type]
    link.connect()
    assert link.venue.state is VenueState.UP
    return link


def test_check_order_when_order_fits_ouch_then_none() -> None:
    venue = build_ouch_venue(venue_config(Path("/nonexistent-ouch-state")), FakeClock())
    assert venue.check_order(make_order(1)) is None
    assert venue.check_order(make_order(2, tif=TimeInForce.IOC, qty=999_999, price=1_999_999_900)) is None
    assert venue.check_order(make_order(2**64 - 1)) is None  # the largest id a ClOrdID carries
    assert venue.check_order(make_order(2**62)) is None


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"ord_type": OrderType.MARKET}, "OUCH_ORD_TYPE"),
        ({"tif": TimeInForce.GTC}, "OUCH_TIF"),
        ({"tif": TimeInForce.FOK}, "OUCH_TIF"),
        ({"qty": 1_000_000}, "OUCH_QTY"),
        ({"price": 1_999_999_901}, "OUCH_PRICE"),
        ({"price": 0}, "OUCH_PRICE"),
        ({"symbol": "TOOLONGSY"}, "OUCH_SYMBOL"),
        ({"symbol": "AB CD"}, "OUCH_SYMBOL"),
        ({"order_id": -1}, "OUCH_ORDER_ID"),
        ({"order_id": 2**64}, "OUCH_ORDER_ID"),
        ({"order_id": 2**70 + 5}, "OUCH_ORDER_ID"),
    ],
    ids=[
        "market",
        "gtc",
        "fok",
        "qty-million",
        "price-above-max",
        "price-zero",
        "symbol-9",
        "symbol-space",
        "id",
        "id-2-64",
        "id-above-2-64",
    ],
)
def test_check_order_when_ouch_cannot_carry_it_then_unsupported_with_clear_text(
    fields: dict[str, object], code: str
) -> None:
    venue = build_ouch_venue(venue_config(Path("/nonexistent-ouch-state")), FakeClock())
    result = venue.check_order(make_order(**({"order_id": 1} | fields)))  # type: ignore[arg-type]
    assert isinstance(result, Refused)
    assert result.code == code
    assert result.text


@pytest.mark.parametrize(
    ("price", "text"),
    [
        (2_000_000_000, "price 200000 outside 0.0001..199999.99"),
        (1_999_999_901, "price 199999.9901 outside 0.0001..199999.99"),
        (0, "price 0 outside 0.0001..199999.99"),
    ],
)
def test_check_order_when_price_outside_ouch_range_then_text_in_currency_units_as_the_strategy_means_it(
    price: int, text: str
) -> None:
    """The strategy's fixed-point price (4 implied decimals, protocol doc 2) and the range in one unit."""
    venue = build_ouch_venue(venue_config(Path("/nonexistent-ouch-state")), FakeClock())
    assert venue.check_order(make_order(1, price=price)) == Refused("OUCH_PRICE", text, RejectSource.GATEWAY)


def test_connect_when_login_accepted_then_logging_in_then_up_with_session(tmp_path: Path) -> None:
    link = _up(tmp_path)
    assert [state for state, _ in link.states] == [VenueState.LOGGING_IN, VenueState.UP]
    # the first login of the day reads the replay first (fixouch51: it could hold another host's traffic)
    assert link.states[-1][1] == "logged in to session 'OUCHSIM'; no earlier traffic in the replay"
    assert link.store.session == "OUCHSIM"
    assert link.venue.status()["session"] == "OUCHSIM"


def test_send_new_when_up_then_enter_order_bytes_follow_config_and_order(tmp_path: Path) -> None:
    link = _up(tmp_path, firm="ABCD", capacity="P", display="N")
    ref = link.venue.send_new(make_order(1234, side=Side.SELL, tif=TimeInForce.IOC, qty=300, price=PX + 7))
    link.pump()
    assert ref == Sent("1")
    assert _inbound(link) == [
        EnterOrder(1, "S", 300, "AAPL", PX + 7, "3", "N", "P", "N", "N", "1234", Options(firm="ABCD"))
    ]


def test_send_new_when_short_sale_then_shares_located_sent_on_enter_and_every_replace(tmp_path: Path) -> None:
    link = _up(tmp_path, shares_located=True, locate_broker="LBRK")
    order = make_order(7, side=Side.SELL_SHORT, price=PX + 500)
    link.send_new(order)
    link.venue.send_replace(order, 200, PX + 400)
    link.pump()
    enter, replace = _inbound(link)
    assert isinstance(enter, EnterOrder)
    assert isinstance(replace, ReplaceOrder)
    assert enter.side == "T"
    assert (enter.options.shares_located, enter.options.locate_broker) == ("Y", "LBRK")
    assert (replace.options.shares_located, replace.options.locate_broker) == ("Y", "LBRK")
    assert (replace.orig_user_ref_num, replace.user_ref_num, replace.quantity) == (1, 2, 200)


def test_new_when_marketable_then_accepted_and_executed_events_with_stream_sequence(tmp_path: Path) -> None:
    link = _up(tmp_path)
    link.send_new(make_order(11, price=PX + 100, qty=300))
    accepted, executed = link.events
    stream = dict(link.core.outbound())
    assert isinstance(accepted, VenueAccepted)
    assert isinstance(executed, VenueExecuted)
    assert (accepted.venue_seq, accepted.order_id, accepted.qty, accepted.price) == (1, 11, 300, PX + 100)
    assert accepted.venue_order_id == str(stream[1].order_reference_number)  # type: ignore[union-attr]
    match = stream[2]
    assert isinstance(match, OrderExecuted)
    assert executed == VenueExecuted(2, 11, 300, PX, "R", str(match.match_number))


def test_cancel_when_order_resting_then_cancel_qty_0_and_canceled_event(tmp_path: Path) -> None:
    link = _up(tmp_path)
    order = make_order(12)
    link.send_new(order)
    link.venue.send_cancel(order)
    link.pump()
    assert _inbound(link)[1] == CancelOrder(1, 0)
    assert link.events[-1] == VenueCanceled(2, 12, 100, "U", "user requested", TS)


def test_replace_when_original_executes_first_then_both_map_to_the_order(tmp_path: Path) -> None:
    link = _up(tmp_path)
    order = make_order(13, qty=500)
    link.send_new(order)
    new_ref = link.venue.send_replace(order, 500, PX - 50)
    link.core.exchange.execute(1, 100)  # the original trades while the Replace is in flight
    link.pump()
    assert new_ref == Sent("2")
    executed, replaced = link.events[1:]
    assert isinstance(executed, VenueExecuted)
    assert (executed.order_id, executed.qty) == (13, 100)
    assert isinstance(replaced, VenueReplaced)
    assert (replaced.order_id, replaced.leaves_qty, replaced.price) == (13, 400, PX - 50)
    link.venue.send_cancel(order)
    link.pump()
    assert _inbound(link)[-1] == CancelOrder(2, 0)
    assert link.events[-1] == VenueCanceled(4, 13, 400, "U", "user requested", TS)


def test_new_when_venue_rejects_then_rejected_event_with_code_and_text(tmp_path: Path) -> None:
    link = _up(tmp_path, exchange=ExchangeConfig(reject_symbols=frozenset({"BAD"})))
    link.send_new(make_order(14, symbol="BAD"))
    assert link.events == [VenueRejected(1, 14, "0x0017", "Invalid Symbol")]


def test_replace_when_venue_rejects_it_then_cancel_rejected_and_order_unchanged(tmp_path: Path) -> None:
    link = _up(tmp_path, exchange=ExchangeConfig(reject_replace_symbols=frozenset({"AAPL"})))
    order = make_order(15)
    link.send_new(order)
    link.venue.send_replace(order, 200, PX - 200)
    link.pump()
    assert link.events[-1] == VenueCancelRejected(2, 15, "0x0015", "Replace Not Allowed")
    link.venue.send_cancel(order)
    link.pump()
    assert _inbound(link)[-1] == CancelOrder(1, 0)


def test_replace_when_details_invalid_at_venue_then_original_canceled_event(tmp_path: Path) -> None:
    link = _up(tmp_path, exchange=ExchangeConfig(max_order_qty=1000))
    order = make_order(16)
    link.send_new(order)
    link.venue.send_replace(order, 5000, PX)
    link.pump()
    assert link.events[-1] == VenueCanceled(2, 16, 100, "U", "user requested", TS)


def test_replace_when_outside_ouch_limits_then_refused_and_not_sent(tmp_path: Path) -> None:
    link = _up(tmp_path)
    order = make_order(17)
    link.send_new(order)
    assert link.venue.check_replace(order, 1_000_000, PX) == REPLACE_REFUSED
    assert link.venue.send_replace(order, 1_000_000, PX) == REPLACE_REFUSED  # the same answer, nothing sent
    link.pump()
    assert len(_inbound(link)) == 1
    assert not any(isinstance(e, VenueCancelRejected) for e in link.events)  # refusals are returned, not emitted


def test_new_when_ioc_accepted_dead_then_one_accepted_event_that_carries_the_cancel(tmp_path: Path) -> None:
    link = _up(tmp_path)
    link.send_new(make_order(18, tif=TimeInForce.IOC))
    (accepted,) = link.events  # one message, one event: venue_seq stays a unique key of the journal
    assert isinstance(accepted, VenueAccepted)
    assert accepted.venue_seq == 1
    assert (accepted.qty, accepted.canceled_reason) == (100, "DEAD")
    assert accepted.canceled_text.startswith("accepted and canceled at once")


def test_new_when_ioc_partially_filled_then_executed_then_canceled_reason_i(tmp_path: Path) -> None:
    link = _up(tmp_path, exchange=ExchangeConfig(reference_prices={"AAPL": PX}, partial_fills=True, seed=3))
    link.send_new(make_order(19, tif=TimeInForce.IOC, qty=1000, price=PX))
    _accepted, executed, canceled = link.events
    assert isinstance(executed, VenueExecuted)
    assert isinstance(canceled, VenueCanceled)
    assert executed.qty + canceled.canceled_qty == 1000
    assert (canceled.reason, canceled.text) == ("I", "immediate or cancel")


def test_cancel_when_venue_refuses_then_cancel_rejected(tmp_path: Path) -> None:
    link = _up(tmp_path, exchange=ExchangeConfig(cancel_reject_symbols=frozenset({"AAPL"})))
    order = make_order(20)
    link.send_new(order)
    link.venue.send_cancel(order)
    link.pump()
    assert link.events[-1] == VenueCancelRejected(
        2, 20, "I", "cancel rejected by the venue (cross order in the late period)"
    )


def test_cancel_when_order_unknown_then_refused_without_sending(tmp_path: Path) -> None:
    link = _up(tmp_path)
    assert link.venue.send_cancel(make_order(21)) == Refused(
        "OUCH_UNKNOWN_ORDER", "order was never sent to OUCH", RejectSource.GATEWAY
    )
    link.pump()
    assert _inbound(link) == []
    assert link.events == []  # the refusal is the return value: the adapter never calls the sink from send_*


def test_messages_without_events_when_received_then_counted_not_raised(tmp_path: Path) -> None:
    link = _up(tmp_path, max_refetches=0)  # UserRefNum 999, never issued: taken as not ours at once (no refetch)
    link.send_new(make_order(22, price=PX))
    link.core.exchange.system_event("E")
    assert link.core.exchange.break_trade(next(iter(link.core.exchange.executions)))
    link.core.stream.append(encode_message(PriorityUpdate(TS, 1, PX, "Y", 99)))
    link.core.stream.append(encode_message(OrderExecuted(TS, 999, 1, PX, "A", 1)))
    link.pump()
    status = link.venue.status()
    assert status["ignored_by_type"] == {"S": 1, "T": 1}
    assert status["broken_trades"] == 1  # no event either, but an ERROR line (tests/ouch/test_broken_trade.py)
    assert status["unknown_user_ref_num"] == 1
    assert [type(e) for e in link.events] == [VenueAccepted, VenueExecuted]


def test_sequenced_when_message_malformed_then_counted_and_later_messages_still_processed(
    tmp_path: Path,
) -> None:
    link = _up(
        tmp_path, max_refetches=0
    )  # a message that cannot be read: taken as lost at once (the path after max_refetches; see test_refetch.py)
    link.core.stream.append(b"A\x00\x01")
    link.core.stream.append(b"\x00")
    link.core.stream.append(b"")
    link.send_new(make_order(23))
    assert link.venue.status()["decode_errors"] == 3
    assert isinstance(link.events[-1], VenueAccepted)
    assert link.events[-1].venue_seq == 4


def test_account_query_response_when_received_then_user_ref_nums_continue_above_it(tmp_path: Path) -> None:
    link = _up(tmp_path)
    link.core.stream.append(encode_message(AccountQueryResponse(TS, 500)))
    link.pump()
    assert link.venue.send_new(make_order(24)) == Sent("500")


def test_reconnect_when_cut_before_the_venue_read_the_order_then_order_resent_once(tmp_path: Path) -> None:
    link = _up(tmp_path)
    order = make_order(25)
    link.venue.send_new(order)
    link.venue.flush()
    link.disconnect()  # the Enter Order was written but never reached the exchange
    assert link.core.exchange.records == []
    assert link.venue.reconnect_delay_ns(1) == 100_000_000
    assert link.venue.state is VenueState.CONNECTING
    link.connect()  # replay read (nothing), Account Query: the venue has seen no UserRefNum, so 1 goes again
    assert [(r.type, r.outcome) for r in link.core.exchange.records] == [("Q", "answered"), ("O", "accepted")]
    assert [type(e) for e in link.events] == [VenueAccepted]
    assert link.venue.status()["resent"] == 1


def test_reconnect_when_venue_had_the_order_then_not_sent_again_and_answer_replayed_once(
    tmp_path: Path,
) -> None:
    link = _up(tmp_path)
    link.venue.send_new(make_order(26))
    link.venue.flush()
    link.core.receive(link.connection, link._to_server, link.clock())  # type: ignore[arg-type]
    link._to_server.clear()
    link.disconnect()  # the exchange accepted it but the Accepted never reached us
    link.connect()
    assert [r.outcome for r in link.core.exchange.records] == ["accepted"]  # the replay answered it: no Query
    assert link.events == [VenueAccepted(1, 26, "100000001", 100, PX - 100)]


def test_reconnect_when_stream_cut_mid_packet_repeatedly_then_events_have_no_gaps_or_duplicates(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path, sim=SimulatorConfig(drop_after=3, exchange=ExchangeConfig(reference_prices={"AAPL": PX})))
    orders = [make_order(100 + i, price=PX if i % 2 else PX - 1) for i in range(40)]
    pending = list(orders)
    for _ in range(200):
        if link.connection is None:
            link.connect()
        if pending and link.venue.state is VenueState.UP:
            link.venue.send_new(pending.pop(0))
        link.pump()
        if not pending and link.venue.status()["awaiting_answer"] == 0 and link.connection is not None:
            break
    assert not pending
    assert link.core.cuts > 5
    seqs = sorted({e.venue_seq for e in link.events})
    assert seqs == list(range(1, link.core.stream.next_sequence))
    assert sorted(e.order_id for e in link.events if isinstance(e, VenueAccepted)) == [o.order_id for o in orders]
    fills = [e for e in link.events if isinstance(e, VenueExecuted)]
    assert len(fills) == len({e.exec_id for e in fills}) == 20


def test_end_of_session_when_received_then_ended_and_no_reconnect(tmp_path: Path) -> None:
    link = _up(tmp_path)
    link.core.end_session(link.clock())
    link.pump()
    assert link.connection is None
    assert link.venue.state is VenueState.ENDED
    assert link.venue.reconnect_delay_ns(1) is None
    assert link.states[-1] == (VenueState.ENDED, "end of session")


def test_login_when_password_wrong_then_disconnected_with_clear_reason(tmp_path: Path) -> None:
    link = Link(tmp_path, password="WRONG")
    link.connect()
    assert link.venue.state is VenueState.DISCONNECTED
    assert link.venue.reason == "login rejected: not authorized (A)"
    assert link.states[-1] == (VenueState.DISCONNECTED, "login rejected: not authorized (A)")
    assert link.venue.reconnect_delay_ns(1) == 200_000_000


def test_poll_when_idle_one_second_then_heartbeat_and_server_timeout_disconnects(tmp_path: Path) -> None:
    link = _up(tmp_path, server_timeout_ms=3000)
    link.clock.advance_ms(1000)
    link.venue.poll(link.clock())
    link.venue.flush()
    assert link.wire[-1] == b"\x00\x01R"
    link.core.disconnected(link.connection, link.clock())  # type: ignore[arg-type]
    link.clock.advance_ms(3000)
    link.venue.poll(link.clock())
    assert not link.close_requested()  # the close waits for the core's flush (journal before wire)
    link.venue.flush()
    assert link.close_requested()
    assert link.venue.status()["heartbeats_sent"] == 1


def test_restart_when_restored_and_resumed_then_only_new_events_and_higher_user_ref_nums(
    tmp_path: Path,
) -> None:
    first = _up(tmp_path)
    resting = make_order(30)
    first.send_new(resting)
    unanswered = make_order(31)
    first.venue.send_new(unanswered)
    first.venue.flush()
    first.disconnect()  # crash: Enter 2 never reached the venue, the journal has venue_seq 1
    core = first.core

    second = Link(tmp_path, core=core, clock=first.clock)
    mark_sent(resting, "1")
    apply_ack(resting, "100000001")
    mark_sent(unanswered, "2")
    second.venue.restore(resting, "1")
    second.venue.restore(unanswered, "2")
    second.venue.resume("OUCHSIM", 2)
    second.connect()  # sequence 2 is the Account Query's answer: the venue never saw UserRefNum 2
    assert second.events == [VenueAccepted(3, 31, "100000002", 100, PX - 100)]
    assert int(sent_ref(second.venue.send_new(make_order(32)))) == 51  # above the crashed store's whole block (1..50)
    second.pump()
    second.venue.send_cancel(resting)
    second.pump()
    assert second.events[-1] == VenueCanceled(5, 30, 100, "U", "user requested", TS)


def test_restore_when_replace_was_in_flight_then_replace_resent_with_both_numbers_known(
    tmp_path: Path,
) -> None:
    first = _up(tmp_path)
    order = make_order(40, qty=300)
    first.send_new(order)
    first.venue.send_replace(order, 200, PX - 300)
    first.venue.flush()
    first.disconnect()
    second = Link(tmp_path, core=first.core, clock=first.clock)
    mark_sent(order, "1")
    apply_ack(order, "100000001")
    request_replace(order, 200, PX - 300, "2")
    second.venue.restore(order, "1")
    second.venue.restore(order, "2")
    second.venue.resume("OUCHSIM", 2)
    second.connect()
    assert second.events == [VenueReplaced(3, 40, 200, PX - 300, "100000002")]


def test_restore_when_several_numbers_may_be_live_then_cancel_names_all_of_them(tmp_path: Path) -> None:
    link = Link(tmp_path)
    order = make_order(41)
    mark_sent(order, "5")
    apply_ack(order, "")
    link.venue.restore(order, "5")
    link.venue.restore(order, "7")
    link.connect()
    link.venue.send_cancel(order)
    link.pump()
    assert _inbound(link) == [CancelOrder(5, 0), CancelOrder(7, 0)]
    assert link.venue.send_new(make_order(42)) == Sent("8")


def test_send_new_when_user_ref_num_store_cannot_persist_then_check_order_refuses(tmp_path: Path) -> None:
    link = _up(tmp_path)
    link.store.error = "cannot persist UserRefNum reservation: disk full"
    result = link.venue.check_order(make_order(50))
    assert isinstance(result, Refused)
    assert result.code == "OUCH_REFNUM_STORE"


def test_replace_when_user_ref_num_store_cannot_persist_then_refused_and_no_unpersisted_number_sent(
    tmp_path: Path,
) -> None:
    link = _up(tmp_path)
    order = make_order(51)
    link.send_new(order)  # UserRefNum 1 of the block 1..50 on file
    link.store.ensure_above(50)  # the block is used up: the replace needs the next one
    (tmp_path / "blocker").write_text("")
    link.store.path = tmp_path / "blocker" / link.store.path.name  # ENOTDIR: the reservation fails
    result = link.venue.send_replace(order, 200, PX)
    assert isinstance(result, Refused) and result.code == "OUCH_REFNUM_STORE", result
    assert result.source is RejectSource.GATEWAY  # nothing reached the venue (strategy-protocol §6.1, §8.2)
    verdict = link.venue.check_replace(order, 200, PX)  # and, like check_order, while the store is failing
    assert isinstance(verdict, Refused) and verdict.code == "OUCH_REFNUM_STORE", verdict
    link.pump()
    assert len(_inbound(link)) == 1  # only the Enter Order went out
    assert link.store.last_issued == 50


def test_event_sink_when_not_set_then_events_counted_as_dropped_not_raised(tmp_path: Path) -> None:
    venue = OuchVenue(venue_config(tmp_path), FakeClock())
    venue.on_logged_in("FIRST", 1)
    venue.send_new(make_order(60))  # waits for an answer ...
    venue.on_logged_in("SECOND", 1)  # ... that a new session never gives: a synthesized reject, no sink
    assert venue.status()["dropped_events"] == 1


def test_cl_ord_id_when_order_id_fits_then_decimal_else_z_base36_and_unique() -> None:
    assert _cl_ord_id(1234) == b"1234          "
    assert _cl_ord_id(10**14 - 1) == b"99999999999999"
    big = _cl_ord_id(2**64 - 1)
    assert big.startswith(b"Z")
    assert len(big) == 14
    assert len({_cl_ord_id(n) for n in (10**14, 10**14 + 1, 2**63)}) == 3


@pytest.mark.parametrize("order_id", [0, 7, 10**13, 10**14 - 1, 10**14, 10**14 + 1, 2**63 - 1])
def test_send_new_when_order_id_near_fourteen_digits_then_enter_order_cl_ord_id_as_cl_ord_id_makes_it(
    tmp_path: Path, order_id: int
) -> None:
    """The send path formats ids of up to 14 digits inline: the same bytes as ``_cl_ord_id`` on either side."""
    link = _up(tmp_path)
    assert link.venue.send_new(make_order(order_id)) == Sent("1")
    link.pump()
    (enter,) = _inbound(link)
    assert isinstance(enter, EnterOrder)
    assert enter.cl_ord_id == _cl_ord_id(order_id).decode("ascii").rstrip()
    if order_id < 10**14:
        assert enter.cl_ord_id == str(order_id)
    else:
        assert enter.cl_ord_id.startswith("Z")  # base 36, padded to the 14 characters on the wire


def test_restart_when_venue_is_in_a_new_session_then_waiting_requests_rejected_and_numbers_continue(
    tmp_path: Path,
) -> None:
    first = _up(tmp_path)
    first.send_new(make_order(69))
    waiting = make_order(70)
    first.venue.send_new(waiting)
    first.venue.flush()
    first.disconnect()
    second = Link(tmp_path, sim=SimulatorConfig(session="NEXTSESS"))
    mark_sent(waiting, "2")
    second.venue.restore(waiting, "2")
    second.connect()
    assert second.venue.state is VenueState.UP
    assert second.events == [
        VenueRejected(0, 70, "OUCH_SESSION_CHANGED", "session changed from 'OUCHSIM' to 'NEXTSESS'")
    ]
    # the venue's NextUserRefNum asked first (fixouch50: a session change the same day keeps the account's numbers);
    # this venue's new session knows none of them; the numbers continue above the store's (gaps are allowed, and a
    # venue whose query goes unanswered may still know the day's: ouchstandby57; before, they restarted at 1)
    assert [(r.type, r.outcome) for r in second.core.exchange.records] == [("Q", "answered")]
    assert second.venue.send_new(make_order(71)) == Sent("51")  # above the first life's reservation (block 50)


# ---- exactly-once ---------------------------------------------------------------------------------


def test_sequenced_when_the_server_sends_a_message_again_then_not_acted_on_twice(tmp_path: Path) -> None:
    link = _up(tmp_path, exchange=ExchangeConfig(reference_prices={"AAPL": PX}, partial_fills=True, seed=3))
    order = make_order(90, qty=1000, price=PX)
    link.send_new(order)
    executions = [e for e in link.events if isinstance(e, VenueExecuted)]
    assert executions
    seq = executions[0].venue_seq
    events_before = list(link.events)
    link.venue.on_sequenced(seq, memoryview(link.core.stream.message(seq)))  # e.g. a replay from too early
    assert link.events == events_before
    assert link.venue.sequence.duplicates == 1
    assert link.venue.status()["duplicates_dropped"] == 1


def test_sequenced_when_bound_to_the_cores_keeper_then_admitted_inline_and_a_copy_not_acted_on(tmp_path: Path) -> None:
    """Bound (as the engine binds it), a new message is admitted inline (the keeper's high water moves) and the
    Order Accepted fast path acts on it once; the same message again is a duplicate, counted by the keeper."""
    link = _up(tmp_path)
    keeper = VenueSequence("OUCH")
    link.venue.bind_sequence(keeper)
    link.send_new(make_order(93))
    accepted = [e for e in link.events if isinstance(e, VenueAccepted)]
    assert [(e.order_id, e.qty) for e in accepted] == [(93, 100)]
    seq = accepted[0].venue_seq
    assert (keeper.high_water, keeper.duplicates) == (seq, 0)
    events_before = list(link.events)
    link.venue.on_sequenced(seq, memoryview(link.core.stream.message(seq)))  # e.g. a replay from too early
    assert link.events == events_before
    assert (keeper.high_water, keeper.duplicates) == (seq, 1)
    assert link.venue.status()["duplicates_dropped"] == 1
    link.venue.on_sequenced(0, memoryview(link.core.stream.message(seq)))  # number 0 is always new: acted on
    assert [(e.venue_seq, e.order_id) for e in link.events[len(events_before) :]] == [(0, 93)]
    assert (keeper.high_water, keeper.duplicates) == (seq, 1)


def test_login_when_accepted_then_session_names_the_numbering_and_a_new_session_restarts_it(tmp_path: Path) -> None:
    first = _up(tmp_path)
    first.send_new(make_order(91))
    assert (first.venue.sequence.epoch, first.venue.sequence.high_water) == ("OUCHSIM", 1)
    first.disconnect()
    second = Link(tmp_path, sim=SimulatorConfig(session="NEXTSESS"))
    epochs: list[tuple[str, str]] = []
    second.venue.sequence.on_epoch = lambda venue, epoch: epochs.append((venue, epoch))
    second.venue.sequence.adopt(ResumePoint("OUCHSIM", 1))
    second.connect()
    assert epochs == [("nasdaq", "NEXTSESS")]
    # message 1 of the new session (the Account Query Response: a session change asks the venue's NextUserRefNum,
    # fixouch50) is new, not a repeat of the old 1
    assert (second.venue.sequence.epoch, second.venue.sequence.high_water) == ("NEXTSESS", 1)
    second.send_new(make_order(92))
    assert second.events[-1].venue_seq == 2


def test_resume_after_when_journal_holds_up_to_n_then_login_asks_for_n_plus_one(tmp_path: Path) -> None:
    first = _up(tmp_path)
    orders = [make_order(order_id) for order_id in (93, 94, 95)]
    for order in orders:
        first.send_new(order)
    first.disconnect()
    second = Link(tmp_path, core=first.core, clock=first.clock)
    for ref, order in enumerate(orders, start=1):
        mark_sent(order, str(ref))
        if ref < 3:  # the journal lost message 3, the Accepted of the last order (never flushed)
            apply_ack(order, "")
        second.venue.restore(order, str(ref))
    second.venue.resume_after(ResumePoint("OUCHSIM", 2))
    second.connect()
    login = SoupSplitter().feed(second.wire[0])[0]  # the Login Request is the first thing written
    assert bytes(login[-20:]).strip() == b"3"
    assert [e.venue_seq for e in second.events] == [3]
    assert second.venue.sequence.resume_point() == ResumePoint("OUCHSIM", 3)
    assert [r.type for r in second.core.exchange.records] == ["O", "O", "O"]  # the replay answered everything


def test_resume_after_when_journal_saw_another_session_then_login_asks_this_one_from_1(tmp_path: Path) -> None:
    first = _up(tmp_path)
    order = make_order(96)
    first.send_new(order)
    first.disconnect()
    second = Link(tmp_path, core=first.core, clock=first.clock)
    mark_sent(order, "1")
    second.venue.restore(order, "1")
    second.venue.resume_after(ResumePoint("OLDSESS", 40))
    second.connect()
    assert [e.venue_seq for e in second.events] == [1]


def test_forget_when_the_engine_releases_a_terminal_order_then_its_chain_and_numbers_go(tmp_path: Path) -> None:
    link = _up(tmp_path)
    order = make_order(12)
    link.send_new(order)
    link.venue.send_cancel(order)
    link.pump()
    venue = link.venue
    assert 12 in venue._chains and venue._refs
    venue.forget(order)
    assert 12 not in venue._chains and not venue._refs
    venue.forget(order)  # twice: harmless
