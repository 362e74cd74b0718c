"""Venue answers for orders that ended here, and fills for unknown ClOrdIDs, over loopback (QuickFIX acceptor).

rev41fix F: a cancel sent again under a new ClOrdID (the documented answer to a cancel gap-filled on the venue's
resend request) is answered twice when the venue had the first: Canceled, then a too-late OrderCancelReject for the
second ClOrdID. The adapter had stopped tracking the order at the Canceled, so the reject was counted as a report
for an unknown order (``unknown_cl_ord_id`` and the core's ``venue_events_unknown_order``, the alert "the venue holds
orders the journal does not"), though its ClOrdID names a journaled order. Now it reaches that order and is counted
out of place (``venue_events_out_of_place``), as the same reject is while the adapter still tracks the order.

rev41fix G: a fill for a ClOrdID no order here has was logged at WARNING as a bytes repr, without quantity, price
or ExecID, and at most once per 10 s (a second one had no line). Now each is an ERROR line with all three and the
count so far, like BOE's.
"""

from __future__ import annotations

import logging

import pytest

from gateway.protocol.messages import Cancel, Canceled, CancelRejected
from model.order import OrderState
from simulators.fix.simulator import FixSimulator
from tests.harness import Rig
from venues.fix.fields import MsgType

from .live import GatewaySide, wait_until
from .loopback import resting_order

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)

_LOGGER = "venues.fix.adapter"


def _cancel_reject(cl_ord_id: str, orig: str) -> list[tuple[bytes, bytes]]:
    """The body of a venue's OrderCancelReject (FIX 4.4): too late to cancel, the order canceled already."""
    return [
        (b"37", b"VENUE-OID"),
        (b"11", cl_ord_id.encode()),
        (b"41", orig.encode()),
        (b"39", b"4"),
        (b"434", b"1"),
        (b"102", b"0"),
        (b"58", b"too late to cancel"),
    ]


def _fill(cl_ord_id: bytes, exec_id: bytes, last: bytes, price: bytes) -> list[tuple[bytes, bytes]]:
    """The body of a venue's ExecutionReport (FIX 4.4) of a fill for ``cl_ord_id``."""
    return [
        (b"37", b"OTHER-OID"),
        (b"17", exec_id),
        (b"11", cl_ord_id),
        (b"150", b"F"),
        (b"39", b"1"),
        (b"55", b"MSFT"),
        (b"54", b"1"),
        (b"38", b"100"),
        (b"32", last),
        (b"31", price),
        (b"151", b"50"),
        (b"14", last),
        (b"6", price),
    ]


async def test_cancel_reject_for_a_second_cancel_of_an_order_canceled_here_then_out_of_place_not_unknown(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.send(link, Cancel("A"))
    await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the cancel")
    rig.engine.flush()
    assert [type(m) for m in link.received() if isinstance(m, (Canceled, CancelRejected))] == [Canceled]
    counters = rig.engine.counters
    assert (counters.venue_events_unknown_order, counters.venue_events_out_of_place) == (0, 0)

    # the venue answers the cancel sent again (another ClOrdID of the same order): too late
    events = gateway.venue.counters["events"]
    sim.inject_message(MsgType.ORDER_CANCEL_REJECT, _cancel_reject(f"{order.venue_ref}-1.99", order.venue_ref))
    await wait_until(lambda: gateway.venue.counters["events"] > events, 15.0, "the reject to be read")  # old: never
    rig.engine.flush()
    assert (counters.venue_events_unknown_order, counters.venue_events_out_of_place) == (0, 1)
    assert gateway.venue.counters["unknown_cl_ord_id"] == 0
    assert order.state is OrderState.CANCELED
    assert [m for m in link.received() if isinstance(m, (Canceled, CancelRejected))] == []

    # a reject naming an order id this gateway never created is still an unknown order
    prefix = order.venue_ref.rstrip("0123456789")
    sim.inject_message(MsgType.ORDER_CANCEL_REJECT, _cancel_reject(f"{prefix}999-7", f"{prefix}999"))
    await wait_until(lambda: gateway.venue.counters["unknown_cl_ord_id"] == 1, 15.0, "the unknown reject")
    rig.engine.flush()
    assert (counters.venue_events_unknown_order, counters.venue_events_out_of_place) == (1, 1)


async def test_fills_for_unknown_cl_ord_ids_then_each_logged_at_error_with_qty_price_exec_id_and_count(
    sim: FixSimulator, gateway: GatewaySide, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=_LOGGER):
        sim.inject_message(MsgType.EXECUTION_REPORT, _fill(b"Q777", b"EX-1", b"30", b"230.5"))
        sim.inject_message(MsgType.EXECUTION_REPORT, _fill(b"ZZ3", b"EX-2", b"20", b"231"))  # at once: logged too
        sim.inject_message(MsgType.EXECUTION_REPORT, [(b"11", b"ZZ4"), (b"150", b"0"), (b"39", b"0")])  # no fill
        await wait_until(lambda: gateway.venue.counters["unknown_cl_ord_id"] == 3, 15.0, "the three reports")
    assert gateway.venue.counters["unknown_executions"] == 2
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == _LOGGER]
    fills = [text for level, text in lines if level == logging.ERROR]
    assert len(fills) == 2  # old code: one WARNING line for the first, none for the second
    assert "unknown ClOrdID 'Q777': 30 @ 230.5, ExecID 'EX-1'" in fills[0]
    assert "(1 such fills so far)" in fills[0]
    assert "unknown ClOrdID 'ZZ3': 20 @ 231, ExecID 'EX-2'" in fills[1]
    assert "(2 such fills so far)" in fills[1]
    assert "b'" not in "".join(text for _level, text in lines)  # names, not bytes reprs
