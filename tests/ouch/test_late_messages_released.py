"""OUCH messages other than Executed for an order the adapter no longer maps: found in the journal, settled.

A real ``Engine`` over a real ``OuchVenue`` and ``VenueConnector``, against ``OuchSimulator`` on loopback TCP,
journaling to a real file (``tests.ouch.test_late_fill_released.Gateway``). The order ends here and its memory is
released (more than ``terminal_orders_kept`` + ``RELEASE_BATCH`` newer terminal orders), or the gateway restarts
(only open orders' UserRefNums are restored); then the venue names the order's UserRefNum again.

Before, every such message but an Executed was counted ``unknown_user_ref_num`` (an alarm: "orders the journal
does not have") or, Restated and Priority Update, only counted: an order the venue still worked though it had
ended here stayed live at the venue, untracked. Now the engine finds the order in the journal and the adapter:
counts a Canceled, AIQ Canceled, Cancel Reject, Rejected or Cancel Pending after-end (nothing to apply); cancels
at the venue an order an Accepted, Replaced, Restated, Priority Update or Modified shows live (again after a
login until the venue answers); names the order of a Broken Trade with what the journal says of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.admin import fetch_metrics, fetch_status
from gateway.commands.admin import format_status
from gateway.engine import RELEASE_BATCH
from gateway.journal_read import JournalReader
from gateway.journal_records import JOrderSent, JRequest
from gateway.protocol.messages import (
    Canceled,
    CancelRejected,
    Executed,
    NewOrder,
    Replace,
    Replaced,
)
from gateway.protocol.messages import (
    OrderAccepted as Accepted,
)
from gateway.protocol.messages import (
    OrderRejected as Rejected,
)
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.harness import MemoryLink
from tests.ouch.harness import PX, TS
from tests.ouch.test_late_fill_released import Gateway, _push_out, _rest_and_cancel, wait_until
from venues.ouch.adapter import OuchVenue
from venues.ouch.codec import encode_message
from venues.ouch.messages import (
    AiqCanceled,
    CancelPending,
    CancelReject,
    OrderAccepted,
    OrderCanceled,
    OrderModified,
    OrderRejected,
    OrderReplaced,
    OrderRestated,
    OutboundMessage,
    PriorityUpdate,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sim() -> AsyncIterator[OuchSimulator]:
    simulator = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX})))
    await simulator.start()
    yield simulator
    await simulator.stop()


def _venue_says(sim: OuchSimulator, *messages: OutboundMessage) -> None:
    """The venue sends ``messages`` (sequenced) unprompted; its book is not touched."""
    for message in messages:
        sim.stream.append(encode_message(message))
    sim.flush_all()


def _order_events(link: MemoryLink) -> list[object]:
    """Return the order events the strategy got since the last look (not its session's Welcome, VenueStatus)."""
    kinds = (Accepted, Rejected, Executed, Canceled, Replaced, CancelRejected)
    return [m for m in link.received() if isinstance(m, kinds)]


def _cancels_at_venue(sim: OuchSimulator, urn: int) -> list[str]:
    """Return what the simulated exchange did with each Cancel Order naming ``urn``."""
    return [r.outcome for r in sim.exchange.records if r.type == "X" and r.user_ref_num == urn]


async def _ended_here_live_there(gw: Gateway, link: MemoryLink, cl_ord_id: str) -> tuple[int, int]:
    """Enter ``cl_ord_id`` (100 resting); the venue says Canceled without taking it off its book: ended here only."""
    gw.send(link, NewOrder(cl_ord_id, "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
    order = gw.rig.order("S1", cl_ord_id)
    await wait_until(lambda: order.state is OrderState.LIVE, "the acknowledgment")
    urn = int(order.venue_ref)
    _venue_says(gw.sim, OrderCanceled(TS, urn, 100, "S"))
    await wait_until(lambda: order.state is OrderState.CANCELED, "the order to end here")
    assert urn in gw.sim.exchange.orders  # still live at the venue
    return order.order_id, urn


def _live(kind: str, urn: int) -> OutboundMessage:
    """Return a message of type ``kind`` showing UserRefNum ``urn`` live (100 open where it says a quantity)."""
    if kind == "A":
        return OrderAccepted(TS, urn, "B", 100, "AAPL", PX - 100, "0", "Y", 77, "A", "N", "N", "L", "A")
    if kind == "R":
        return OrderRestated(TS, urn, "R")
    if kind == "T":
        return PriorityUpdate(TS, urn, PX - 100, "Y", 99)
    assert kind == "M"
    return OrderModified(TS, urn, "B", 100)


async def test_cancel_answers_when_their_order_was_released_then_counted_after_end_not_unknown(
    sim: OuchSimulator, tmp_path: Path
) -> None:
    gw = await Gateway(sim, tmp_path, kept=2).start()
    try:
        link = gw.rig.connect("S1")
        order_id, urn = await _rest_and_cancel(gw, link, "A")
        await _push_out(gw, link, RELEASE_BATCH + 20)
        assert order_id not in gw.engine.orders  # released: the adapter forgot its UserRefNum too
        unknown = gw.engine.counters.venue_events_unknown_order
        executions = list(gw.rig.risk.executions)

        _venue_says(
            sim,
            OrderCanceled(TS, urn, 10, "U"),
            AiqCanceled(TS, urn, 20, "Q", 20, PX, "A", "N"),  # shares prevented from trading: not a fill
            CancelReject(TS, urn),
            CancelPending(TS, urn),
            OrderRejected(TS, urn, 0x0001, "A"),
            OrderModified(TS, urn, "B", 0),  # reduced to nothing: nothing open
            OrderAccepted(TS, urn, "B", 100, "AAPL", PX - 100, "0", "Y", 77, "A", "N", "N", "D", "A"),  # dead
            OrderCanceled(TS, 999_999, 10, "U"),  # a number never sent (above the store's mark): unknown, as before
        )
        await wait_until(lambda: gw.venue.counters["unknown_user_ref_num"] == 1, "the messages to be read")
        gw.engine.flush()

        assert gw.venue.counters["after_end"] == 7  # old: KeyError (5 of them counted unknown_user_ref_num)
        assert gw.venue.after_end_by_type == {"C": 1, "D": 1, "I": 1, "P": 1, "J": 1, "M": 1, "A": 1}
        assert gw.engine.counters.venue_events_unknown_order == unknown + 1
        assert gw.venue.counters["live_after_end"] == 0 and gw.venue.status()["late_cancels_waiting"] == 0
        assert _order_events(link) == [] and gw.rig.risk.executions == executions
        # the journal searched once for urn (its answer kept: ouchflood42; before, 8 searches, 7 found)
        assert (gw.engine.ref_lookups, gw.engine.ref_lookups_found, gw.engine.ref_lookup_failures) == (1, 1, 0)
        assert (gw.venue.counters["ref_answers_reused"], gw.venue.counters["ref_never_issued"]) == (6, 1)
        assert _cancels_at_venue(sim, urn) == ["canceled"]  # the strategy's only: nothing sent for these
    finally:
        await gw.stop()


@pytest.mark.parametrize("kind", ["A", "R", "T", "M"])
async def test_message_showing_a_released_order_live_at_the_venue_then_canceled_there_and_its_answer_after_end(
    sim: OuchSimulator, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    gw = await Gateway(sim, tmp_path, kept=2).start()
    try:
        link = gw.rig.connect("S1")
        order_id, urn = await _ended_here_live_there(gw, link, "A")
        await _push_out(gw, link, RELEASE_BATCH + 20)
        assert order_id not in gw.engine.orders

        _venue_says(sim, _live(kind, urn))
        await wait_until(lambda: urn not in sim.exchange.orders, "the order to be canceled at the venue")
        await wait_until(lambda: gw.venue.counters["after_end"] == 1, "the venue's Canceled to be read")

        assert _cancels_at_venue(sim, urn) == ["canceled"]  # old: [] (the order stayed live at the venue)
        assert gw.venue.counters["live_after_end"] == 1
        assert gw.venue.after_end_by_type == {"C": 1}  # the answer to the gateway's cancel
        assert gw.venue.status()["late_cancels_waiting"] == 0
        assert gw.venue.counters["unknown_user_ref_num"] == 0 and gw.venue.ignored.get(kind, 0) == 0
        assert _order_events(link) == []
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any(f"shows order {order_id} live at the venue as UserRefNum {urn}" in text for text in errors)
    finally:
        await gw.stop()


async def test_replaced_showing_an_order_live_after_a_restart_then_its_new_number_canceled_at_the_venue(
    sim: OuchSimulator, tmp_path: Path
) -> None:
    gw = await Gateway(sim, tmp_path).start()
    try:
        link = gw.rig.connect("S1")
        gw.send(link, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
        order = gw.rig.order("S1", "A")
        await wait_until(lambda: order.state is OrderState.LIVE, "the acknowledgment")
        old_urn = int(order.venue_ref)
        gw.send(link, Replace("A", 80, PX - 200))
        await wait_until(lambda: order.state is OrderState.LIVE and order.qty == 80, "the replace")
        urn = int(order.venue_ref)
        assert urn != old_urn and urn in sim.exchange.orders
        _venue_says(sim, OrderCanceled(TS, urn, 80, "S"))  # ended here only
        await wait_until(lambda: order.state is OrderState.CANCELED, "the order to end here")
        last_seq = gw.engine.strategies["S1"].next_seq - 1
    finally:
        await gw.stop()

    gw = await Gateway(sim, tmp_path).start()  # only open orders' numbers are restored: none
    try:
        link = gw.rig.connect("S1", last_seq=last_seq)
        replaced = OrderReplaced(TS, old_urn, urn, "B", 80, "AAPL", PX - 200, "0", "Y", 78, "A", "N", "N", "L", "A")
        _venue_says(sim, replaced)  # a copy of the Replaced: the venue works the order under ``urn``
        await wait_until(lambda: urn not in sim.exchange.orders, "the order to be canceled at the venue")
        await wait_until(lambda: gw.venue.counters["after_end"] == 1, "the venue's Canceled to be read")
        assert _cancels_at_venue(sim, urn) == ["canceled"]  # old: [] (unknown_user_ref_num, left live)
        assert gw.venue.counters["live_after_end"] == 1 and gw.venue.counters["unknown_user_ref_num"] == 0
        assert gw.engine.ref_lookups_found == 1  # the Canceled answering the cancel needed no look-up
        assert _order_events(link) == []
    finally:
        await gw.stop()


async def test_live_after_end_when_the_venue_does_not_answer_the_cancel_then_sent_again_after_the_next_login(
    sim: OuchSimulator, tmp_path: Path
) -> None:
    gw = await Gateway(sim, tmp_path, kept=2).start()
    try:
        link = gw.rig.connect("S1")
        order_id, urn = await _rest_and_cancel(gw, link, "A")  # gone at the venue too: a cancel is not answered
        await _push_out(gw, link, RELEASE_BATCH + 20)
        assert order_id not in gw.engine.orders

        _venue_says(sim, _live("R", urn))
        await wait_until(lambda: len(_cancels_at_venue(sim, urn)) == 2, "the gateway's cancel to reach the venue")
        assert _cancels_at_venue(sim, urn) == ["canceled", "ignored:order-not-live"]
        assert gw.venue.status()["late_cancels_waiting"] == 1

        logins = sim.core.logins
        sim.drop_connections()
        await wait_until(lambda: sim.core.logins > logins and gw.venue.state is VenueState.UP, "the next login")
        await wait_until(lambda: len(_cancels_at_venue(sim, urn)) == 3, "the cancel to be sent again")
        _venue_says(sim, OrderCanceled(TS, urn, 100, "U"))  # the venue's answer at last
        await wait_until(lambda: gw.venue.status()["late_cancels_waiting"] == 0, "the answer to be read")
        assert gw.venue.counters["live_after_end"] == 1 and gw.venue.after_end_by_type == {"C": 1}
    finally:
        await gw.stop()


async def test_fill_of_an_order_canceled_at_the_venue_after_its_end_then_applied_once_and_the_rest_canceled(
    sim: OuchSimulator, tmp_path: Path
) -> None:
    gw = await Gateway(sim, tmp_path, kept=2).start()
    try:
        link = gw.rig.connect("S1")
        _order_id, urn = await _ended_here_live_there(gw, link, "A")
        await _push_out(gw, link, RELEASE_BATCH + 20)
        link.received()
        assert sim.execute(urn, 30)  # a fill the venue reports before it shows the order live again
        _venue_says(sim, _live("T", urn))
        await wait_until(lambda: urn not in sim.exchange.orders, "the rest to be canceled at the venue")
        await wait_until(lambda: gw.venue.counters["after_end"] == 1, "the venue's Canceled to be read")
        gw.engine.flush()
        assert [(m.cl_ord_id, m.qty, m.leaves_qty) for m in link.received() if isinstance(m, Executed)] == [
            ("A", 30, 0)
        ]
        assert gw.engine.counters.late_fills == 1
        assert [r.qty for r in sim.exchange.records if r.type == "X" and r.user_ref_num == urn] == [0]
        assert gw.venue.status()["late_cancels_waiting"] == 0
    finally:
        await gw.stop()


async def test_broken_trade_when_its_order_was_released_then_the_error_names_the_order_from_the_journal(
    sim: OuchSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gw = await Gateway(sim, tmp_path, kept=2).start()
    try:
        link = gw.rig.connect("S1")
        gw.send(link, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX + 100))  # fills at once
        order = gw.rig.order("S1", "A")
        await wait_until(lambda: order.state is OrderState.FILLED, "the fill")
        order_id, urn, match = order.order_id, int(order.venue_ref), int(order.exec_id)
        await _push_out(gw, link, RELEASE_BATCH + 20)
        assert order_id not in gw.engine.orders

        caplog.clear()
        assert sim.exchange.break_trade(match)
        sim.flush_all()
        await wait_until(lambda: gw.venue.counters["broken_trades"] == 1, "the Broken Trade")
        (text,) = [r.getMessage() for r in caplog.records if "BROKEN TRADE" in r.getMessage()]
        # old: "order unknown"
        assert f"order {order_id} (ended here, read back from the journal: account ACC1, AAPL BUY" in text
        assert "its fill with this match number was applied" in text and f"UserRefNum {urn}" in text
        assert gw.venue.counters["unknown_user_ref_num"] == 0
    finally:
        await gw.stop()


def _damage_after_sending(gw: Gateway, order_id: int) -> None:
    """Flip a payload byte of the journal record after the one that sent ``order_id`` (its CRC no longer holds)."""
    gw.engine.flush()
    reader = JournalReader(gw.path, 0)
    read = [pair for batch in iter(lambda: reader.read(512), []) for pair in batch]
    reader.close()
    records = [record.record if isinstance(record, JRequest) else record for _position, record in read]
    sent = next(i for i, rec in enumerate(records) if isinstance(rec, JOrderSent) and rec.order_id == order_id)
    at = read[sent + 1][0] + 12  # inside the next record, past its header
    with gw.path.open("r+b") as file:
        file.seek(at)
        byte = file.read(1)
        file.seek(at)
        file.write(bytes([byte[0] ^ 0xFF]))


async def test_look_up_when_the_journal_cannot_be_read_then_counted_failed_and_the_message_unknown(
    sim: OuchSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gw = await Gateway(sim, tmp_path, kept=2).start()
    try:
        link = gw.rig.connect("S1")
        order_id, urn = await _rest_and_cancel(gw, link, "A")
        await _push_out(gw, link, RELEASE_BATCH + 20)
        assert order_id not in gw.engine.orders
        unknown = gw.engine.counters.venue_events_unknown_order
        _damage_after_sending(gw, order_id)  # a look-up reading past the order's Enter finds a bad CRC

        _venue_says(sim, _live("A", urn))
        await wait_until(lambda: gw.venue.counters["unknown_user_ref_num"] == 1, "the Accepted to be read")
        assert (gw.engine.ref_lookups, gw.engine.ref_lookup_failures) == (0, 1)  # old: no ref_lookup_failures
        assert gw.engine.counters.venue_events_unknown_order == unknown + 1
        assert gw.venue.counters["live_after_end"] == 0 and _cancels_at_venue(sim, urn) == ["canceled"]
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any(f"reference {urn}, no longer mapped: the journal cannot be read" in text for text in errors)
    finally:
        await gw.stop()


async def test_status_and_metrics_when_the_venue_names_numbers_no_longer_mapped_then_the_look_ups_are_shown() -> None:
    async with running_gateway(short_tmp()) as (process, sim):
        process.add_venue_metrics_providers()
        (venue,) = process.venues
        assert isinstance(venue, OuchVenue)
        venue._store.ensure_above(5_000)  # as if 5,000 numbers were handed out this session (none journaled)
        sim.stream.append(encode_message(OrderCanceled(TS, 4243, 10, "U")))  # never sent: looked up, not found
        # never sent: looked up too, only counted (below 4243: above it, the first search's note would answer it
        # without a search, ``ref_above_journal``, ouchlookup56)
        sim.stream.append(encode_message(PriorityUpdate(TS, 4242, PX, "Y", 99)))
        sim.stream.append(encode_message(OrderCanceled(TS, 5_001, 10, "U")))  # above the store's mark: no look-up
        sim.flush_all()
        await wait_for(lambda: venue.status()["unknown_user_ref_num"] == 2, what="the Canceleds to be read")
        await wait_for(lambda: venue.status()["ignored_by_type"] == {"T": 1}, what="the Priority Update")
        admin = process.config.path(process.config.admin_socket)
        loop = asyncio.get_running_loop()
        status = await loop.run_in_executor(None, fetch_status, admin)
        metrics = await loop.run_in_executor(None, fetch_metrics, admin)
    lookups = status["journal_lookups"]  # old: KeyError
    assert (lookups["ref_lookups"], lookups["ref_lookups_found"], lookups["ref_lookup_failures"]) == (2, 0, 0)
    assert lookups["ref_lookup_records"] > 0 and lookups["order_rebuilds"] == 0
    assert status["venues"]["OUCH"]["late_cancels_waiting"] == 0 and status["venues"]["OUCH"]["live_after_end"] == 0
    assert metrics.extra["journal_ref_lookups_total"] == 2
    assert metrics.extra["journal_ref_lookup_records_total"] == lookups["ref_lookup_records"]
    assert metrics.extra["journal_ref_lookup_failures_total"] == 0
    assert metrics.extra["venue_orders_live_after_end_total"] == 0
    assert status["venues"]["OUCH"]["ref_never_issued"] == 1  # ouchflood42
    assert status["venues"]["OUCH"]["held_now"] == 0  # held (a loaded machine: 2 searches past 10 ms), then read
    assert metrics.extra["venue_messages_held_for_lookup_total"] == status["venues"]["OUCH"]["held_for_lookup"]
    assert "journal look-ups: 2 venue references no longer mapped (0 found" in format_status(status)
