"""Venue reports (not fills) about orders that ended here, over loopback (QuickFIX acceptor, equities-fix42).

rev43fix 1: an ExecutionReport New or Canceled for an order that had ended here (REJECTED, or CANCELED already) was
counted as a report for an unknown order (``unknown_cl_ord_id``, the core's ``venue_events_unknown_order``: the
critical alert "the venue holds orders the journal does not") with a WARNING "... for unknown ClOrdID ... ignored",
though its ClOrdID names a journaled order. Now it reaches that order, which cannot take it: counted out of place
(``venue_events_out_of_place``). A report showing the order working at the venue (New, Replaced, Restated) is also
canceled there (``live_after_end``, ERROR line), as the OUCH and BOE adapters do.

rev43fix 2: the Logouts a venue sends to refuse a Logon were read here, yet the next logon's gap fill over them
called them "never received" and raised the reconcile alarm (``gap_fills_with_open_orders``,
``orders_unchecked_after_gap_fill``). Since fixfix54b the logon takes them as received without asking for them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, OrderAccepted
from model.order import OrderState
from model.venue_events import VenueState
from simulators.fix.simulator import FixSimulator
from tests.harness import Rig
from venues.fix.fields import MsgType

from .live import GatewaySide, running_simulator, wait_until
from .loopback import resting_order

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)

_LOGGER = "venues.fix.adapter"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[FixSimulator]:
    with running_simulator(tmp_path / "sim", "equities-fix42", reject_symbols=["BAD"]) as simulator:
        yield simulator


def _report(
    cl_ord_id: str, exec_type: bytes, ord_status: bytes, symbol: bytes, leaves: bytes
) -> list[tuple[bytes, bytes]]:
    """The body of a venue's ExecutionReport (FIX 4.2) that is not a fill."""
    return [
        (b"37", b"VENUE-OID-7"),
        (b"17", b"EXEC-" + exec_type + ord_status),
        (b"20", b"0"),
        (b"150", exec_type),
        (b"39", ord_status),
        (b"11", cl_ord_id.encode()),
        (b"55", symbol),
        (b"54", b"1"),
        (b"38", b"100"),
        (b"151", leaves),
        (b"14", b"0"),
        (b"6", b"0"),
    ]


def _cancel_requests(sim: FixSimulator) -> list[dict[bytes, bytes]]:
    return [m.message.fields for m in list(sim.received) if m.msg_type == MsgType.ORDER_CANCEL_REQUEST]


async def test_new_then_canceled_for_an_order_rejected_here_then_out_of_place_and_canceled_at_the_venue(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    venue = gateway.venue
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100, venue="FIXV", symbol="BAD")
    order = rig.order("S1", "A")
    await wait_until(lambda: order.state is OrderState.REJECTED, 15.0, "the venue's reject")
    rig.engine.flush()
    link.received()
    counters = rig.engine.counters
    assert (counters.venue_events_unknown_order, counters.venue_events_out_of_place) == (0, 0)

    # the venue acknowledges it anyway: it works there, no strategy manages it, risk does not count it
    events = venue.counters["events"]
    with caplog.at_level(logging.WARNING, logger=_LOGGER):
        sim.inject_message(MsgType.EXECUTION_REPORT, _report(order.venue_ref, b"0", b"0", b"BAD", b"100"))
        await wait_until(lambda: venue.counters["events"] > events, 15.0, "the New to be read")  # old: never
        await wait_until(lambda: _cancel_requests(sim), 15.0, "the cancel at the venue")
        # the simulator's book never held it: it refuses the cancel (unknown order)
        await wait_until(lambda: venue.counters["events"] >= events + 2, 15.0, "the cancel's answer")
    rig.engine.flush()
    (cancel,) = _cancel_requests(sim)
    assert cancel[b"41"] == order.venue_ref.encode()
    assert cancel[b"11"].startswith(order.venue_ref.encode() + b"-") and b".L" in cancel[b"11"]
    assert venue.counters["live_after_end"] == 1
    assert venue.counters["unknown_cl_ord_id"] == 0
    assert (counters.venue_events_unknown_order, counters.venue_events_out_of_place) == (0, 2)
    errors = [r.getMessage() for r in caplog.records if r.name == _LOGGER and r.levelno == logging.ERROR]
    assert any(
        f"shows order {order.order_id} working at the venue as ClOrdID {order.venue_ref!r}" in line
        and "ended here REJECTED" in line
        and "canceling it at the venue" in line
        for line in errors
    ), errors
    assert any("the venue refused" in line and "ask the venue desk" in line for line in errors), errors
    assert not any("unknown ClOrdID" in r.getMessage() for r in caplog.records)

    # then reports it canceled: out of place again, still no unknown order, nothing to the strategy
    sim.inject_message(MsgType.EXECUTION_REPORT, _report(order.venue_ref, b"4", b"4", b"BAD", b"0"))
    await wait_until(lambda: venue.counters["events"] >= events + 3, 15.0, "the Canceled to be read")
    rig.engine.flush()
    assert (counters.venue_events_unknown_order, counters.venue_events_out_of_place) == (0, 3)
    assert venue.counters["live_after_end"] == 1
    assert order.state is OrderState.REJECTED
    assert [m for m in link.received() if isinstance(m, (OrderAccepted, Canceled, CancelRejected))] == []


async def test_second_canceled_of_an_order_canceled_here_then_out_of_place_not_unknown(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    venue = gateway.venue
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.send(link, Cancel("A"))
    await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the cancel")
    rig.engine.flush()
    link.received()
    counters = rig.engine.counters
    events = venue.counters["events"]

    sim.inject_message(MsgType.EXECUTION_REPORT, _report(order.venue_ref, b"4", b"4", b"MSFT", b"0"))
    await wait_until(lambda: venue.counters["events"] > events, 15.0, "the second Canceled")  # old: never
    rig.engine.flush()
    assert (counters.venue_events_unknown_order, counters.venue_events_out_of_place) == (0, 1)
    assert (venue.counters["unknown_cl_ord_id"], venue.counters["live_after_end"]) == (0, 0)
    assert len(_cancel_requests(sim)) == 1  # the strategy's: nothing canceled at the venue again
    assert [m for m in link.received() if isinstance(m, (Canceled, CancelRejected))] == []

    # the same ClOrdID with another symbol is not this order's report: still unknown
    sim.inject_message(MsgType.EXECUTION_REPORT, _report(order.venue_ref, b"4", b"4", b"IBM", b"0"))
    await wait_until(lambda: venue.counters["unknown_cl_ord_id"] == 1, 15.0, "the other symbol's report")
    assert (counters.venue_events_unknown_order, counters.venue_events_out_of_place) == (1, 1)


async def test_order_canceled_here_the_venue_still_works_then_canceled_there(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    venue = gateway.venue
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    # the venue says Canceled (the gateway ends the order) though its book keeps working it ...
    sim.inject_message(MsgType.EXECUTION_REPORT, _report(order.venue_ref, b"4", b"4", b"MSFT", b"0"))
    await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the Canceled")
    events = venue.counters["events"]
    # ... and then restates it working: the gateway cancels it at the venue, whose book then drops it
    sim.inject_message(MsgType.EXECUTION_REPORT, _report(order.venue_ref, b"D", b"0", b"MSFT", b"100"))
    await wait_until(lambda: venue.counters["events"] > events, 15.0, "the venue's Canceled of the late cancel")
    rig.engine.flush()
    (cancel,) = _cancel_requests(sim)
    answers = [m.message.fields for m in list(sim.sent) if m.get(b"11") == cancel[b"11"]]
    assert [(a[b"150"], a[b"39"]) for a in answers] == [(b"4", b"4")]  # the simulator's book canceled it
    assert venue.counters["live_after_end"] == 1
    counters = rig.engine.counters
    assert (counters.venue_events_unknown_order, counters.venue_events_out_of_place) == (0, 1)
    assert venue._late_cancels == {}  # answered: not replayed any more


async def test_gap_fill_over_logouts_that_refused_logons_then_no_reconcile_alarm(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    venue = gateway.venue
    session = venue.session
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    expected = session.next_target_seq
    resends = session.counters["resend_requests_sent"]

    sim.refuse_logons = 2
    with caplog.at_level(logging.ERROR, logger=_LOGGER):
        sim.drop_connection()
        await wait_until(lambda: venue.state is not VenueState.UP, 15.0, "the link to drop")
        await wait_until(lambda: sim.refuse_logons == 0, 10.0, "two refused logons")
        await gateway.wait_up(10.0)
        await wait_until(lambda: not session.gap.open, 15.0, "the gap to be filled")
    refusals = [m for m in list(sim.sent) if m.msg_type == MsgType.LOGOUT and m.seq >= expected]
    assert len(refusals) == 2  # read here: they refused our Logons
    # fixfix54b: taken as received at the logon, not asked for (before: a ResendRequest, answered with a gap fill)
    assert session.counters["resend_requests_sent"] == resends
    assert session.counters["gap_filled_unseen"] == 0  # old: 2, the refusing Logouts "never received"
    assert venue.counters["gap_fills_with_open_orders"] == 0
    assert venue.counters["orders_unchecked_after_gap_fill"] == 0  # old: 1, the open order
    assert not [r for r in caplog.records if "gap-filled" in r.getMessage()]
    assert order.state is OrderState.LIVE
