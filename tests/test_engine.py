"""The engine's routing, order state, bad-input handling and event sequencing (sans-IO)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from gateway.engine import reject_table
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Cancel,
    Canceled,
    CancelRejected,
    Error,
    Executed,
    Hello,
    MassCancel,
    MassCancelAck,
    MassCancelRejected,
    OrderAccepted,
    OrderRejected,
    Replace,
    Replaced,
    VenueStatus,
    Welcome,
)
from gateway.strategy_session import StrategySessionState
from model.denials import Denial
from model.enums import RejectSource
from model.exactly_once import RequestKind, UnansweredRequest
from model.order import Order, OrderState
from model.send_result import BACKPRESSURED, BackPressured, Refused, SendResult
from model.venue_events import VenueState
from tests.harness import LimitRisk, MemoryLink, Rig, ScriptedVenue


def test_hello_when_strategy_configured_then_welcome_with_next_seq() -> None:
    rig = Rig()
    link = rig.connect("S1")
    welcome, status = link.received()
    assert isinstance(welcome, Welcome) and welcome.protocol_version == PROTOCOL_VERSION
    assert welcome.next_seq == 1 and welcome.replayed == 0 and welcome.gateway_id == "test-gw"
    assert status == VenueStatus("V1", "UP", "")
    assert link.session.state is StrategySessionState.ACTIVE


def test_hello_when_uid_not_entitled_then_refused_and_closed() -> None:
    rig = Rig()
    link = rig.connect("S1", uid=4321)
    (err,) = link.received()
    assert isinstance(err, Error) and err.code == "NOT_AUTHORIZED" and err.fatal
    assert "uid 4321" in err.text
    assert link.closed


def test_hello_when_strategy_unknown_then_refused() -> None:
    rig = Rig()
    link = rig.connect("NOPE")
    (err,) = link.received()
    assert isinstance(err, Error) and err.code == "NOT_AUTHORIZED"


def test_hello_when_strategy_already_connected_then_second_refused_first_unharmed() -> None:
    rig = Rig()
    first = rig.connect("S1")
    second = rig.connect("S1")
    (err,) = second.received()
    assert isinstance(err, Error) and err.code == "ALREADY_CONNECTED"
    first.received()
    rig.new_order(first, "A")
    assert rig.venue.commands == [("new", 1, 100, 1_000_000)]


def test_new_order_when_accepted_and_filled_then_owner_gets_events_in_seq_order() -> None:
    rig = Rig()
    s1 = rig.connect("S1")
    s2 = rig.connect("S2")
    s1.received()
    s2.received()
    rig.new_order(s1, "A", qty=300)
    rig.venue.accept(1, 1_000_000)
    rig.venue.fill(1, 100, 1_000_000)
    rig.venue.fill(1, 200, 999_900)
    rig.engine.flush()
    events = s1.received()
    assert [type(e) for e in events] == [OrderAccepted, Executed, Executed]
    assert [e.seq for e in events] == [1, 2, 3]  # type: ignore[union-attr]
    last = events[-1]
    assert isinstance(last, Executed) and last.cum_qty == 300 and last.leaves_qty == 0
    assert s2.received() == []
    assert rig.order("S1", "A").state is OrderState.FILLED
    assert rig.engine.open_orders == {}


def test_new_order_when_cl_ord_id_reused_then_rejected_and_original_untouched() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.new_order(link, "A")
    rig.new_order(link, "A", qty=5)
    (rej,) = link.received()
    assert isinstance(rej, OrderRejected)
    assert rej.code == "DUPLICATE_CL_ORD_ID" and rej.source is RejectSource.GATEWAY
    assert rig.order("S1", "A").qty == 100
    assert len(rig.venue.commands) == 1


def test_new_order_when_risk_denies_then_rejected_by_risk_and_never_sent() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.new_order(link, "BIG", qty=10_001)
    (rej,) = link.received()
    assert isinstance(rej, OrderRejected)
    assert (rej.source, rej.code) == (RejectSource.RISK, "MAX_ORDER_QTY")
    assert rig.venue.commands == []
    assert rig.engine.counters.rejected_risk == 1


def test_new_order_when_account_not_entitled_then_rejected_by_gateway() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.new_order(link, "A", account="ACC2")
    (rej,) = link.received()
    assert isinstance(rej, OrderRejected) and rej.code == "ACCOUNT_NOT_PERMITTED"
    assert rig.venue.commands == []


def test_new_order_when_venue_down_unknown_or_unsupported_then_gateway_rejects() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.new_order(link, "A", venue="NOPE")
    rig.new_order(link, "B", symbol="UNSUPPORTED")
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.new_order(link, "C")
    events = link.received()
    codes = [e.code for e in events if isinstance(e, OrderRejected)]
    assert codes == ["UNKNOWN_VENUE", "UNSUPPORTED_SYMBOL", "VENUE_UNAVAILABLE"]
    assert any(isinstance(e, VenueStatus) and e.state == "DISCONNECTED" for e in events)
    assert rig.venue.commands == []


def test_venue_event_when_order_id_unknown_then_counted_and_nobody_told() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.venue.accept(99)
    rig.engine.flush()
    assert link.received() == []
    assert rig.engine.counters.venue_events_unknown_order == 1


def test_counters_when_read_between_orders_then_every_order_and_ack_counted_once() -> None:
    # the four counted per round trip are native ints of the engine, added into the Struct when read
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.engine.flush()
    first = rig.engine.counters
    assert (first.orders_received, first.orders_sent, first.venue_events, first.accepted) == (1, 1, 1, 1)
    rig.new_order(link, "B")
    rig.new_order(link, "A")  # a duplicate cl_ord_id: received, rejected, never sent
    rig.venue.accept(2)
    rig.venue.accept(99)  # unknown order: a venue event, not an accept
    rig.engine.flush()
    counters = rig.engine.counters
    assert counters is first  # one Struct, read again: nothing counted twice
    assert (counters.orders_received, counters.orders_sent, counters.venue_events, counters.accepted) == (3, 2, 3, 2)
    assert rig.engine.counter_values()["orders_received"] == 3 and counters.rejected_gateway == 1
    assert counters.venue_events_unknown_order == 1


def test_counters_when_new_order_invalid_then_received_like_any_other_and_rejects_never_exceed_received() -> None:
    """rev38mon: a NewOrder refused INVALID_FIELD raised the rejects but not orders_received (a duplicate id did)."""
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.new_order(link, "Z", qty=0)  # invalid: refused INVALID_FIELD by its id
    rig.new_order(link, "Z")  # its id was used up: DUPLICATE_CL_ORD_ID
    rig.new_order(link, "OK")
    rig.engine.flush()
    answers = [(e.cl_ord_id, e.code) for e in link.received() if isinstance(e, OrderRejected)]
    assert answers == [("Z", "INVALID_FIELD"), ("Z", "DUPLICATE_CL_ORD_ID")]
    counters = rig.engine.counters
    assert counters.orders_received == 3 and counters.orders_sent == 1
    assert counters.invalid_requests == 1 and counters.rejected_gateway == 2
    rejects = {(source, code): count for source, code, count in reject_table(rig.engine.rejects)}
    assert rejects == {("GATEWAY", "INVALID_FIELD"): 1, ("GATEWAY", "DUPLICATE_CL_ORD_ID"): 1}
    assert sum(rejects.values()) <= counters.orders_received


def test_cancel_when_live_then_sent_and_canceled_event_is_terminal() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.send(link, Cancel("A"))
    assert rig.venue.commands[-1] == ("cancel", 1, 0, 0)
    assert rig.order("S1", "A").state is OrderState.PENDING_CANCEL
    rig.send(link, Cancel("A"))
    rig.venue.cancel(1)
    rig.engine.flush()
    events = link.received()
    assert isinstance(events[-2], CancelRejected) and events[-2].code == "CANCEL_PENDING"
    last = events[-1]
    assert isinstance(last, Canceled) and last.leaves_qty == 0 and last.canceled_qty == 100
    assert rig.order("S1", "A").state is OrderState.CANCELED


def test_cancel_when_unknown_or_closed_then_cancel_rejected() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.reject(1)
    rig.send(link, Cancel("A"), Cancel("ZZZ"))
    codes = [e.code for e in link.received() if isinstance(e, CancelRejected)]
    assert codes == ["ORDER_CLOSED", "UNKNOWN_ORDER"]


def test_replace_when_live_then_replaced_with_new_total_and_price() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.venue.accept(1)
    rig.venue.fill(1, 40, 1_000_000)
    rig.send(link, Replace("A", 200, 1_010_000))
    assert rig.venue.commands[-1] == ("replace", 1, 200, 1_010_000)
    rig.venue.replaced(1, 160, 1_010_000)
    rig.engine.flush()
    rep = link.received()[-1]
    assert isinstance(rep, Replaced)
    assert (rep.qty, rep.price, rep.leaves_qty) == (200, 1_010_000, 160)
    assert rig.risk.changes[-1] == (1, 60, 160)


def test_replace_when_cancel_arrives_mid_replace_then_cancel_sent_after_replace_resolves() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.send(link, Replace("A", 150, 1_000_000))
    rig.send(link, Cancel("A"))
    assert [c[0] for c in rig.venue.commands] == ["new", "replace"]
    rig.venue.replaced(1, 150, 1_000_000)
    assert rig.venue.commands[-1][0] == "cancel"


def test_replace_when_qty_not_above_filled_then_rejected_by_gateway() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.venue.accept(1)
    rig.venue.fill(1, 60, 1_000_000)
    rig.send(link, Replace("A", 60, 1_000_000))
    rej = link.received()[-1]
    assert isinstance(rej, CancelRejected) and rej.code == "INVALID_QTY"


def test_cancel_reject_from_venue_when_pending_then_order_back_to_live() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.send(link, Cancel("A"))
    rig.venue.cancel_reject(1)
    rig.engine.flush()
    rej = link.received()[-1]
    assert isinstance(rej, CancelRejected) and rej.source is RejectSource.VENUE
    assert rig.order("S1", "A").state is OrderState.LIVE


def test_mass_cancel_when_filters_given_then_only_matching_open_orders_canceled() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A", symbol="AAPL")
    rig.new_order(link, "B", symbol="MSFT")
    rig.new_order(link, "C", symbol="AAPL")
    rig.venue.reject(3)
    rig.send(link, MassCancel(symbol="AAPL"))
    assert [c for c in rig.venue.commands if c[0] == "cancel"] == [("cancel", 1, 0, 0)]


def test_disconnect_when_policy_cancel_then_open_orders_canceled() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.engine.link_closed(link)
    assert rig.venue.commands[-1] == ("cancel", 1, 0, 0)


def test_disconnect_when_policy_keep_then_orders_stay() -> None:
    rig = Rig(strategies={"S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000], on_disconnect="keep")})
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.engine.link_closed(link)
    assert [c[0] for c in rig.venue.commands] == ["new"]


def test_cancel_when_venue_down_then_held_and_sent_when_venue_back_up() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.send(link, Cancel("A"))
    assert [c[0] for c in rig.venue.commands] == ["new"]
    rig.venue.set_state(VenueState.UP)
    assert rig.venue.commands[-1] == ("cancel", 1, 0, 0)


def test_cancel_when_venue_ended_for_the_day_then_refused_at_once() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.venue.set_state(VenueState.ENDED)
    rig.send(link, Cancel("A"))
    (refused,) = [m for m in link.received() if isinstance(m, CancelRejected)]
    assert (refused.source, refused.code) == (RejectSource.GATEWAY, "VENUE_SESSION_ENDED")
    assert [c[0] for c in rig.venue.commands] == ["new"]


def test_cancel_when_venue_login_refused_then_held_and_sent_when_back_up_and_new_orders_refused() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    link.received()
    rig.venue.set_state(VenueState.LOGIN_REFUSED)
    rig.send(link, Cancel("A"))
    rig.new_order(link, "B")
    answers = link.received()
    assert [m.state for m in answers if isinstance(m, VenueStatus)] == ["LOGIN_REFUSED"]
    assert not [m for m in answers if isinstance(m, CancelRejected)]  # held, as for any venue that is down
    (refused,) = [m for m in answers if isinstance(m, OrderRejected)]
    assert (refused.cl_ord_id, refused.code) == ("B", "VENUE_UNAVAILABLE")
    assert [c[0] for c in rig.venue.commands] == ["new"]
    rig.venue.set_state(VenueState.UP)
    assert rig.venue.commands[-1] == ("cancel", 1, 0, 0)


def test_cancel_when_venue_ended_until_its_next_window_then_held_and_sent_when_back_up() -> None:
    rig = Rig(venues=[ScriptedVenue("V1", resumes_after_end=True)])
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.venue.set_state(VenueState.ENDED)
    rig.engine.link_closed(link)  # cancel on disconnect, while the venue's session is closed
    assert [c[0] for c in rig.venue.commands] == ["new"]
    rig.venue.set_state(VenueState.UP)
    assert rig.venue.commands[-1] == ("cancel", 1, 0, 0)


def test_reconnect_when_last_seq_given_then_exactly_missed_events_replayed() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.new_order(link, "B")
    rig.venue.accept(1)
    rig.engine.flush()
    assert [e.seq for e in link.received() if isinstance(e, OrderAccepted)] == [1]  # seq 1 seen
    rig.engine.link_closed(link)  # policy cancel: cancels go out, venue answers while away
    rig.venue.cancel(1)
    rig.venue.accept(2)
    rig.venue.cancel(2)
    again = rig.connect("S1", last_seq=1)
    events = again.received()
    welcome = events[0]
    assert isinstance(welcome, Welcome) and welcome.replayed == 3 and welcome.next_seq == 5
    assert [type(e) for e in events[1:]] == [Canceled, OrderAccepted, Canceled, VenueStatus]
    assert [e.seq for e in events[1:4]] == [2, 3, 4]  # type: ignore[union-attr]


def test_invalid_new_order_when_cl_ord_id_readable_then_rejected_with_field_error() -> None:
    import msgspec

    rig = Rig()
    link = rig.connect("S1")
    link.received()
    bad = msgspec.msgpack.encode([2, "BAD1", "ACC1", "V1", "AAPL", "B", -5, 100])
    from gateway.protocol.framing import LENGTH_PREFIX

    rig.engine.link_data(link, LENGTH_PREFIX.pack(len(bad)) + bad, rig.clock())
    (rej,) = link.received()
    assert isinstance(rej, OrderRejected) and rej.code == "INVALID_FIELD"
    assert "qty" in rej.text
    assert rig.venue.commands == []


def test_bad_strategy_when_it_sends_garbage_then_other_strategy_unaffected() -> None:
    rig = Rig()
    bad = rig.connect("S1")
    good = rig.connect("S2")
    good.received()
    rig.engine.link_data(bad, b"\x00\x00\x00\x03\xc1\xc1\xc1" * 200, rig.clock())
    assert bad.closed
    rig.new_order(good, "G", account="ACC2")
    rig.venue.accept(1)
    rig.engine.flush()
    assert [type(e) for e in good.received()] == [OrderAccepted]


def test_every_order_when_flow_ends_then_each_is_acked_then_terminal_or_rejected() -> None:
    rig = Rig(venues=[ScriptedVenue("V1")])
    link = rig.connect("S1")
    for i in range(30):
        rig.new_order(link, f"O{i}", qty=20_000 if i % 7 == 0 else 100)
    for oid in list(rig.engine.open_orders):
        if oid % 3 == 0:
            rig.venue.reject(oid)
        else:
            rig.venue.accept(oid)
            rig.venue.fill(oid, 100, 1_000_000) if oid % 2 else rig.venue.cancel(oid)
    rig.engine.flush()
    finals: dict[str, str] = {}
    for event in link.received():
        if isinstance(event, OrderRejected):
            finals[event.cl_ord_id] = "rejected"
        elif isinstance(event, (Executed, Canceled)) and event.leaves_qty == 0:
            finals[event.cl_ord_id] = "done"
    assert len(finals) == 30
    assert rig.engine.open_orders == {}


def test_new_order_when_venue_socket_backed_up_then_refused_not_queued_and_cancels_still_sent() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.venue.set_write_paused(True)  # the transport's send buffer is above its high-water mark
    rig.new_order(link, "B")
    rig.send(link, Replace("A", 200, 1_000_000))
    rig.send(link, Cancel("A"))
    events = link.received()
    assert [e.code for e in events if isinstance(e, (OrderRejected, CancelRejected))] == [
        "VENUE_BACKPRESSURE",
        "VENUE_BACKPRESSURE",
    ]
    assert [c[0] for c in rig.venue.commands] == ["new", "cancel"]


# ---- send results ---------------------------------------------------------------------------------


class _AnsweringVenue(ScriptedVenue):
    """Answers send_new / send_replace with a scripted result instead of sending."""

    def __init__(self, answer: Refused | BackPressured) -> None:
        super().__init__("V1")
        self.answer = answer
        self.refuse_next = False

    def send_new(self, order: Order) -> SendResult:
        if self.refuse_next:
            return self.answer
        return super().send_new(order)

    def send_replace(self, order: Order, qty: int, price: int) -> SendResult:
        return self.answer


def test_send_new_when_adapter_refuses_after_risk_then_rejected_once_with_its_source_and_exposure_released() -> None:
    venue = _AnsweringVenue(Refused("FIX_STORE", "the FIX message store cannot be written", RejectSource.GATEWAY))
    rig = Rig(venues=[venue])
    link = rig.connect("S1")
    link.received()
    venue.refuse_next = True
    rig.new_order(link, "A")
    (rej,) = link.received()
    assert isinstance(rej, OrderRejected)
    assert (rej.source, rej.code) == (RejectSource.GATEWAY, "FIX_STORE")
    order = rig.order("S1", "A")
    assert order.state is OrderState.REJECTED and order.venue_ref == ""
    assert rig.engine.open_orders == {}
    assert rig.risk.changes == [(1, 100, 0)]  # what check_and_commit_new reserved is released
    assert rig.engine.counters.rejected_gateway == 1


def test_send_new_when_adapter_back_pressured_after_risk_then_refused_not_queued() -> None:
    venue = _AnsweringVenue(BACKPRESSURED)
    rig = Rig(venues=[venue])
    link = rig.connect("S1")
    link.received()
    venue.refuse_next = True
    rig.new_order(link, "A")
    (rej,) = link.received()
    assert isinstance(rej, OrderRejected) and rej.code == "VENUE_BACKPRESSURE"
    assert venue.commands == []


def test_replace_when_adapter_refuses_it_then_cancel_rejected_and_order_unchanged() -> None:
    venue = _AnsweringVenue(
        Refused("OUCH_REPLACE", "replace to 1000000 @ 1 is outside OUCH's limits", RejectSource.GATEWAY)
    )
    rig = Rig(venues=[venue])
    link = rig.connect("S1")
    rig.new_order(link, "A")
    venue.accept(1)
    rig.engine.flush()
    link.received()
    rig.send(link, Replace("A", 200, 1_000_000))
    (rej,) = link.received()
    assert isinstance(rej, CancelRejected)
    assert (rej.source, rej.code) == (RejectSource.GATEWAY, "OUCH_REPLACE")  # the source the adapter gave
    order = rig.order("S1", "A")
    assert (order.state, order.qty, order.pending_qty, order.pending_ref) == (OrderState.LIVE, 100, 0, "")
    assert rig.risk.changes[-1] == (1, 100, 100)  # the reservation check_replace made is released


def test_new_order_when_venue_backed_up_then_asked_before_risk_so_risk_counts_nothing() -> None:
    class CountingRisk(LimitRisk):
        checked = 0

        def check_and_commit_new(self, order: Order, now_ns: int) -> Denial | None:
            self.checked += 1
            return super().check_and_commit_new(order, now_ns)

    risk = CountingRisk()
    rig = Rig(risk=risk)
    link = rig.connect("S1")
    rig.venue.set_write_paused(True)
    rig.new_order(link, "A")
    assert risk.checked == 0  # a back-pressured order must not use up rate or duplicate budgets


def test_venue_up_when_requests_unanswered_then_adapter_told_which_after_the_replay() -> None:
    class Listening(ScriptedVenue):
        def __init__(self) -> None:
            super().__init__("V1")
            self.told: list[list[UnansweredRequest]] = []

        def after_replay(self, unanswered: list[UnansweredRequest]) -> None:
            self.told.append(unanswered)

    venue = Listening()
    rig = Rig(venues=[venue])
    link = rig.connect("S1")
    rig.new_order(link, "A")  # sent, never answered
    rig.new_order(link, "B")
    venue.accept(2)
    rig.send(link, Cancel("B"))  # a cancel in flight
    rig.new_order(link, "C")
    venue.accept(3)  # answered: nothing unknown about it
    venue.set_state(VenueState.DISCONNECTED)
    venue.set_state(VenueState.UP)
    (told,) = venue.told
    orders = rig.engine.orders
    assert told == [
        UnansweredRequest(orders[1], RequestKind.NEW, "1"),
        UnansweredRequest(orders[2], RequestKind.CANCEL, "2"),
    ]


def test_venue_up_when_nothing_unanswered_then_adapter_still_told() -> None:
    # rev43fix44 1: told only when a request was unanswered, so FIX never asked about its acknowledged orders
    # after a numbering reset (a fill the venue made meanwhile was lost)
    class Listening(ScriptedVenue):
        def __init__(self) -> None:
            super().__init__("V1")
            self.told: list[list[UnansweredRequest]] = []

        def after_replay(self, unanswered: list[UnansweredRequest]) -> None:
            self.told.append(unanswered)

    venue = Listening()
    rig = Rig(venues=[venue])
    link = rig.connect("S1")
    rig.new_order(link, "A")
    venue.accept(1)
    venue.set_state(VenueState.DISCONNECTED)
    venue.set_state(VenueState.UP)
    assert venue.told == [[]]


def test_hello_when_venues_in_different_states_then_snapshot_after_the_replay_before_anything_new() -> None:
    rig = Rig(venues=[ScriptedVenue("V1"), ScriptedVenue("V2")])
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.engine.link_closed(link)
    rig.venue.accept(1)  # while S1 is away
    rig.engine.flush()
    rig.venues[1].set_state(VenueState.DISCONNECTED)
    messages = rig.connect("S1").received()
    assert [type(m) for m in messages] == [Welcome, OrderAccepted, VenueStatus, VenueStatus]
    assert messages[2:] == [VenueStatus("V1", "UP", ""), VenueStatus("V2", "DISCONNECTED", "")]


def test_mass_cancel_when_orders_match_then_ack_counts_them_and_cancels_go_out() -> None:
    rig = Rig()
    link = rig.connect("S1")
    for cl in ("A", "B", "C"):
        rig.new_order(link, cl, symbol="MSFT" if cl == "C" else "AAPL")
    for oid in (1, 2, 3):
        rig.venue.accept(oid)
    rig.engine.flush()
    link.received()
    rig.send(link, MassCancel(symbol="AAPL", request_id="M1"))
    assert link.received() == [MassCancelAck("M1", 2)]
    assert [c[:2] for c in rig.venue.commands if c[0] == "cancel"] == [("cancel", 1), ("cancel", 2)]
    rig.send(link, MassCancel(symbol="AAPL", request_id="M2"))  # again: already being canceled
    assert link.received() == [MassCancelAck("M2", 2)]
    assert len([c for c in rig.venue.commands if c[0] == "cancel"]) == 2
    rig.send(link, MassCancel(venue="NOWHERE", request_id="M3"))
    assert link.received() == [MassCancelAck("M3", 0)]


def test_mass_cancel_when_account_not_permitted_then_rejected_and_nothing_canceled() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.engine.flush()
    link.received()
    rig.send(link, MassCancel(account="ACC2", request_id="X"))
    (answer,) = link.received()
    assert isinstance(answer, MassCancelRejected) and (answer.request_id, answer.code) == ("X", "ACCOUNT_NOT_PERMITTED")
    assert not [c for c in rig.venue.commands if c[0] == "cancel"]


def test_mass_cancel_when_session_speaks_version_1_then_carried_out_without_an_answer() -> None:
    rig = Rig()
    link = MemoryLink(rig.clock)
    rig.engine.link_opened(link)
    rig.send(link, Hello("S1", 1))
    welcome, _status = link.received()
    assert isinstance(welcome, Welcome) and welcome.protocol_version == 1
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.engine.flush()
    link.received()
    rig.send(link, MassCancel())
    assert link.received() == []
    assert [c[:2] for c in rig.venue.commands if c[0] == "cancel"] == [("cancel", 1)]


def test_invalid_requests_when_150_in_one_read_then_all_answered_in_the_replay_log_then_fatal() -> None:
    import msgspec

    from gateway.protocol.framing import LENGTH_PREFIX

    rig = Rig()
    link = rig.connect("S1")
    link.received()
    payloads = [msgspec.msgpack.encode([2, f"BAD{i}", "ACC1", "V1", "AAPL", "B", -5, 100]) for i in range(150)]
    data = b"".join(LENGTH_PREFIX.pack(len(p)) + p for p in payloads)
    assert len(data) > 4096  # the engine takes it in slices: the close waits for the last one
    rig.engine.link_data(link, data, rig.clock())
    messages = link.received()
    rejects = [m for m in messages if isinstance(m, OrderRejected)]
    assert [r.cl_ord_id for r in rejects] == [f"BAD{i}" for i in range(150)]
    assert [r.code for r in rejects] == ["INVALID_FIELD"] * 101 + ["TOO_MANY_ERRORS"] * 49
    last = messages[-1]
    assert isinstance(last, Error) and (last.code, last.fatal) == ("TOO_MANY_ERRORS", True) and link.closed
    rig.engine.link_closed(link)
    again = rig.connect("S1", last_seq=0)
    replayed = [m for m in again.received() if isinstance(m, OrderRejected)]
    assert [r.seq for r in replayed] == list(range(1, 151))


def test_new_order_when_a_field_is_not_utf8_then_rejected_by_cl_ord_id() -> None:
    from gateway.protocol.framing import LENGTH_PREFIX

    rig = Rig()
    link = rig.connect("S1")
    link.received()
    payload = b"\x98\x02\xa2C7\xa4ACC1\xa2V1\xa2\xff\xfe\xa1B\x01\x01"
    rig.engine.link_data(link, LENGTH_PREFIX.pack(len(payload)) + payload, rig.clock())
    (rej,) = link.received()
    assert isinstance(rej, OrderRejected) and (rej.cl_ord_id, rej.code) == ("C7", "INVALID_FIELD")
    assert "`symbol` is not valid UTF-8" in rej.text


def test_compiled_flag_when_module_loaded_then_true_exactly_when_compiled() -> None:
    """``_COMPILED`` picks how ``_on_new_order`` reads a NewOrder: it must follow how the module was loaded."""
    import gateway.engine as engine_module

    assert engine_module._COMPILED is engine_module.__file__.endswith(".so")


def test_execution_when_more_than_open_then_applied_filled_counted_and_logged_once_per_power_of_two(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A strict venue's review: an Executed for 500 on a 100-share order passed with no counter and no log line."""
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.new_order(link, "A", qty=100)
    rig.venue.accept(1, 1_000_000)
    rig.venue.fill(1, 40, 1_000_000)
    with caplog.at_level(logging.ERROR, logger="gateway.engine"):
        rig.venue.fill(1, 500, 1_000_000)
    rig.engine.flush()
    *_, last = link.received()
    assert isinstance(last, Executed) and (last.qty, last.cum_qty, last.leaves_qty) == (500, 540, 0)
    assert rig.order("S1", "A").state is OrderState.FILLED
    assert rig.engine.counters.overfills == 1 and rig.engine.counters.executions == 2
    (record,) = [r for r in caplog.records if "overfills so far" in r.getMessage()]
    assert "executed 500 with 60 open; applied, cum_qty now 540 of 100" in record.getMessage()
    rig.new_order(link, "B", qty=100)
    rig.venue.accept(2, 1_000_000)
    rig.venue.fill(2, 100, 1_000_000)  # exactly what is open: not an overfill
    assert rig.engine.counters.overfills == 1


class _FaultyVenue(ScriptedVenue):
    """Raises from send_new once: a fault of the gateway's own after risk let the order through (rev50b)."""

    def __init__(self) -> None:
        super().__init__("V1")
        self.fault_next = False

    def send_new(self, order: Order) -> SendResult:
        if self.fault_next:
            self.fault_next = False
            raise RuntimeError("injected fault in the venue call")
        return super().send_new(order)


class _AccountsThatFail(frozenset[str]):
    """A strategy's accounts: ``in`` works (the order path), iterating fails (the last resort's ``sorted``)."""

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("injected second fault reading the accounts")


def test_new_order_when_a_fault_stops_it_after_risk_then_fatal_error_and_what_risk_counted_released(
    caplog: pytest.LogCaptureFixture,
) -> None:
    venue = _FaultyVenue()
    rig = Rig(venues=[venue])
    link = rig.connect("S1")
    link.received()
    venue.fault_next = True
    with caplog.at_level(logging.CRITICAL, logger="gateway.engine"):
        rig.new_order(link, "A")
    (error,) = link.received()
    assert isinstance(error, Error) and error.code == "INTERNAL_ERROR" and error.fatal
    assert "nothing of it reached a venue" in error.text
    order = rig.order("S1", "A")
    assert order.state is OrderState.REJECTED and order.venue_ref == ""
    assert rig.engine.open_orders == {} and venue.commands == []
    assert rig.risk.changes == [(1, 100, 0)]  # before: nothing released, the exposure held for the day
    assert rig.engine.counters.internal_errors == 1
    assert len([r for r in caplog.records if r.levelno == logging.CRITICAL]) == 1


def test_internal_error_when_failing_closed_faults_again_then_nothing_raised_counted_once_and_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    venue = _FaultyVenue()
    rig = Rig(venues=[venue])
    link = rig.connect("S1")
    link.received()
    entitlements = rig.engine.entitlements
    entitlements._accounts = {**entitlements._accounts, "S1": _AccountsThatFail(entitlements._accounts["S1"])}
    venue.fault_next = True
    with caplog.at_level(logging.ERROR, logger="gateway.engine"):
        rig.new_order(link, "A")  # before: the second fault escaped link_data (uvloop: "Fatal error on transport")
    (error,) = link.received()
    assert isinstance(error, Error) and error.code == "INTERNAL_ERROR" and error.fatal
    assert rig.engine.counters.internal_errors == 1
    critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and "none was halted: halt them by hand" in critical[0], critical
