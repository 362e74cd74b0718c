"""The benchmark's fast BOE venue answers as the conformance simulator answers a resting order: checked with
the real codec and the gateway's own BOE adapter."""

from __future__ import annotations

from pathlib import Path

from gateway.venue_apply import apply_venue_event
from model.clock import FakeClock
from model.order import Order, OrderState, mark_sent, request_cancel, request_replace
from model.send_result import Sent
from model.venue_events import VenueAccepted, VenueCanceled, VenueEvent, VenueReplaced, VenueState
from simulators.boe.fast import FIRST_ORDER_ID, FastBoeCore
from tests.boe.harness import DAY_NS, PX, make_order, venue_config
from venues.boe.adapter import BoeVenue
from venues.boe.codec import BoeSplitter, decode_outbound_generic
from venues.boe.messages import OrderAcknowledgment, OrderCancelled, OrderModified


def _wired(tmp_path: Path) -> tuple[BoeVenue, FastBoeCore, list[VenueEvent], list[bytes]]:
    core = FastBoeCore(wall=lambda: DAY_NS)
    connection = core.connect()
    venue = BoeVenue(venue_config(tmp_path), FakeClock(), wall=lambda: DAY_NS)
    events: list[VenueEvent] = []
    answers: list[bytes] = []
    orders: dict[int, Order] = {}

    def sink(event: VenueEvent) -> None:
        events.append(event)
        apply_venue_event(orders[event.order_id], event, 0, [])

    venue.event_sink = sink
    venue.orders = orders  # type: ignore[attr-defined]
    outbox = bytearray()

    def write(data: bytes | bytearray) -> None:
        outbox.extend(data)

    venue.attach(write, lambda: None)

    def pump() -> None:
        while outbox:
            data = bytes(outbox)
            outbox.clear()
            reply = connection.receive(data, 1)
            answers.append(bytes(reply))
            venue.data_received(bytes(reply), 1)
            venue.flush()

    venue.pump = pump  # type: ignore[attr-defined]
    venue.connection_made(0)
    pump()
    return venue, core, events, answers


def test_fast_boe_when_gateway_adapter_logs_in_and_trades_then_ack_cancel_modify_decode_and_map(
    tmp_path: Path,
) -> None:
    venue, core, events, answers = _wired(tmp_path)
    assert venue.state is VenueState.UP
    order = make_order(1)
    venue.orders[1] = order  # type: ignore[attr-defined]
    result = venue.send_new(order)
    assert isinstance(result, Sent)
    mark_sent(order, result.venue_ref)
    venue.flush()
    venue.pump()  # type: ignore[attr-defined]
    replace = venue.send_replace(order, 200, PX - 50)
    assert isinstance(replace, Sent)
    request_replace(order, 200, PX - 50, replace.venue_ref)
    venue.flush()
    venue.pump()  # type: ignore[attr-defined]
    cancel = venue.send_cancel(order)
    assert isinstance(cancel, Sent)
    request_cancel(order, cancel.venue_ref)
    venue.flush()
    venue.pump()  # type: ignore[attr-defined]
    assert [type(e) for e in events] == [VenueAccepted, VenueReplaced, VenueCanceled]
    assert events[0].venue_order_id == str(FIRST_ORDER_ID)  # type: ignore[union-attr]
    assert (events[1].leaves_qty, events[1].price) == (200, PX - 50)  # type: ignore[union-attr]
    assert order.state is OrderState.CANCELED
    splitter = BoeSplitter()
    decoded = [decode_outbound_generic(m) for chunk in answers for m in splitter.feed(chunk)]
    kinds = [type(m) for m in decoded if isinstance(m, OrderAcknowledgment | OrderModified | OrderCancelled)]
    assert kinds == [OrderAcknowledgment, OrderModified, OrderCancelled]
    ack = next(m for m in decoded if isinstance(m, OrderAcknowledgment))
    assert ack.bitfield_count > 0 and ack.optional.leaves_qty == 0  # the login's return fields, zero-filled
    assert core.counters["new"] == 1 and core.counters["cancels"] == 1 and core.counters["modifies"] == 1
    ids, times = core.order_id_read_times()
    assert list(ids) == [FIRST_ORDER_ID] and list(times) == [1]
