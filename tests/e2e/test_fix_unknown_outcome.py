"""FIX requests whose outcome the gateway cannot know: the venue asks again for messages the dialect never replays.

A strategy trades through a real gateway (``GatewayProcess``) with a FIX venue: the QuickFIX acceptor
of ``gateway sim fix`` behind its raw relay. The fault is injected on the wire: the relay hands the
gateway a ResendRequest from the acceptor for numbers the acceptor has already processed (or loses
one of our messages on its way, so the acceptor asks for it itself). The dialect does not replay
business messages (``broker-fix44``: never; a copy of ``equities-fix42`` whose replays go stale after
1 ms), so the gateway gap-fills them. A gap-filled order message has an unknown outcome: the gateway
keeps tracking the order and asks the venue (OrderStatusRequest where the dialect allows, otherwise a
cancel naming the request), and only reports NOT_SENT once the venue says it does not know it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from msgspec.structs import replace

from gateway.app import GatewayProcess
from gateway.client import GatewayClient, OrderHandle
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.messages import Canceled, CancelRejected, Executed, OrderAccepted, OrderRejected, Replaced
from gateway.protocol.prices import to_fixed
from model.enums import RejectSource, Side
from model.venue_events import VenueState
from simulators.fix.simulator import FixSimulator, SimMessage
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for
from venues.fix.adapter import FixVenue
from venues.fix.dialect import DIALECT_DIR
from venues.fix.fields import MsgType

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)

RESTING = "229.00"  # below AAPL's reference 230.10: rests on the book


def _stale_equities(directory: Path) -> Path:
    """The shipped equities dialect, with replays going stale after 1 ms (so they are gap-filled)."""
    text = (DIALECT_DIR / "equities-fix42.yaml").read_text()
    text = text.replace("name: equities-fix42", "name: equities-stale").replace(
        "stale_after_ms: 30000", "stale_after_ms: 1"
    )
    path = directory / "equities-stale.yaml"
    path.write_text(text)
    return path


DIALECTS = ["broker-fix44", "equities-stale"]
"""broker-fix44 never replays and answers OrderStatusRequest; equities-stale replays nothing fresh
enough and has no OrderStatusRequest (the gateway asks with a cancel)."""


@contextlib.asynccontextmanager
async def gateway_with_fix(
    dialect: str, **venue_settings: object
) -> AsyncIterator[tuple[GatewayProcess, FixSimulator, GatewayClient]]:
    """A gateway whose only venue ``FIXV`` is a FIX session to a QuickFIX acceptor with a raw relay.

    ``venue_settings`` override or add to the venue's configuration (e.g. ``schedule``).
    """
    workdir = short_tmp()
    source = str(_stale_equities(workdir)) if dialect == "equities-stale" else dialect
    sim = FixSimulator(
        dialect=source,
        reference_prices={"AAPL": to_fixed("230.10")},
        raw_channel=True,
        work_dir=str(workdir / "sim"),
    )
    sim.start()
    config = gateway_config(workdir, 1, e2e_limits(workdir, ("S1",)))
    venue = {
        "protocol": "fix",
        "name": "FIXV",
        "host": "127.0.0.1",
        "port": sim.port,
        "dialect": source,
        "heartbeat_interval_s": 1,
        "store_dir": str(workdir / "fix"),
        "username": "user1",
        "password": "pw",
        **venue_settings,
    }
    config = replace(
        config,
        venues=[venue],
        strategies={"S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()])},
    )
    process = GatewayProcess(config)
    try:
        await process.start()
        await wait_for(lambda: process.venues[0].state is VenueState.UP, what="FIX logon")
        # QuickFIX's acceptor marks the session logged on after its Logon answer is sent; a message the
        # simulator sends before that is stored but never sent. Its on_logon comes after the mark.
        await wait_for(lambda: bool(sim.logged_on), what="the acceptor to mark the session logged on")
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            yield process, sim, client
        assert sim.callback_errors == 0
        assert sim.messages("out", MsgType.REJECT) == []  # the acceptor found nothing wrong in what we sent
    finally:
        await process.stop()
        sim.close()


def _ours(sim: FixSimulator, msg_type: bytes) -> list[SimMessage]:
    return sim.messages("in", msg_type)


async def _venue_asks_again_from(process: GatewayProcess, sim: FixSimulator, begin: int) -> None:
    """The acceptor asks (on the wire) for our messages from ``begin`` on, though it processed them."""
    venue = process.venues[0]
    assert isinstance(venue, FixVenue)
    counters = venue.session.counters
    before = counters["gap_fills_sent"]
    sim.inject_message(MsgType.RESEND_REQUEST, [(b"7", b"%d" % begin), (b"16", b"0")])
    await wait_for(lambda: counters["gap_fills_sent"] > before, 15.0, "the gateway's gap fill")


async def _resting(client: GatewayClient, qty: int = 100) -> OrderHandle:
    order = await client.submit("ACC1", "FIXV", "AAPL", Side.BUY, qty, RESTING)
    assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
    return order


def _venue_status(process: GatewayProcess) -> dict[str, object]:
    return process.venues[0].status()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_fill_when_venue_asks_again_for_an_order_it_had_then_fill_reaches_the_strategy_and_cancel_agrees(
    dialect: str,
) -> None:
    async with gateway_with_fix(dialect) as (process, sim, client):
        order = await _resting(client)
        (new_order,) = _ours(sim, MsgType.NEW_ORDER_SINGLE)
        await _venue_asks_again_from(process, sim, new_order.seq)  # gap-filled: the dialect does not replay it
        assert sim.execute(new_order.get(b"11").decode(), 40)  # 35=8|11=<the order>|32=40
        await wait_for(lambda: order.cum_qty == 40, what="the 40-share fill")
        await order.cancel()
        final = await order.wait_done(timeout=15)
        assert isinstance(final, Canceled)
        assert (final.canceled_qty, final.leaves_qty) == (60, 0)
        assert [type(e) for e in order.events] == [OrderAccepted, Executed, Canceled]
        assert process.engine is not None
        assert process.engine.counters.venue_events_out_of_place == 0
        assert _venue_status(process)["unknown_cl_ord_id"] == 0
        assert not sim.book.orders  # nothing left working at the venue either


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_cancel_when_venue_asked_again_for_an_order_and_its_accepted_replace_then_names_the_replace(
    dialect: str,
) -> None:
    async with gateway_with_fix(dialect) as (process, sim, client):
        order = await _resting(client)
        await order.replace(200, "229.50")
        await wait_for(lambda: order.qty == 200, what="Replaced")
        (new_order,) = _ours(sim, MsgType.NEW_ORDER_SINGLE)
        (replace_request,) = _ours(sim, MsgType.ORDER_CANCEL_REPLACE_REQUEST)
        await _venue_asks_again_from(process, sim, new_order.seq)  # covers the order and its replace
        await order.cancel()
        await wait_for(lambda: bool(_ours(sim, MsgType.ORDER_CANCEL_REQUEST)), what="the cancel at the venue")
        (cancel,) = _ours(sim, MsgType.ORDER_CANCEL_REQUEST)
        assert cancel.get(b"41") == replace_request.get(b"11")  # the ClOrdID the venue knows the order by
        final = await order.wait_done(timeout=15)
        assert isinstance(final, Canceled)
        assert [type(e) for e in order.events] == [OrderAccepted, Replaced, Canceled]
        assert not sim.book.orders


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_replace_when_lost_and_the_venue_asks_again_for_it_and_the_order_then_resolved_and_cancel_goes_out(
    dialect: str,
) -> None:
    async with gateway_with_fix(dialect) as (process, sim, client):
        order = await _resting(client)
        (new_order,) = _ours(sim, MsgType.NEW_ORDER_SINGLE)
        sim.drop_next_input(1)  # the replace is lost on its way: the venue never sees it
        await order.replace(200, "229.50")
        await wait_for(lambda: bool(sim.relay.dropped_input), what="the lost replace")
        await _venue_asks_again_from(process, sim, new_order.seq)  # covers the order and the replace in flight
        await order.cancel()  # held behind the replace until it resolves
        final = await order.wait_done(timeout=15)
        assert isinstance(final, Canceled)
        rejected = [e for e in order.events if isinstance(e, CancelRejected)]
        assert [(e.source, e.code) for e in rejected] == [(RejectSource.VENUE, "NOT_SENT")]
        assert [type(e) for e in order.events] == [OrderAccepted, CancelRejected, Canceled]
        assert order.qty == 100  # the venue never had the replace
        assert not sim.book.orders  # and the order is not left live at the venue
        assert _ours(sim, MsgType.ORDER_CANCEL_REPLACE_REQUEST) == []


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_new_order_when_lost_and_gap_filled_then_not_sent_only_after_the_venue_says_it_does_not_know_it(
    dialect: str,
) -> None:
    async with gateway_with_fix(dialect) as (process, sim, client):
        await _resting(client)  # the session is in use
        sim.drop_next_input(1)
        lost = await client.submit("ACC1", "FIXV", "AAPL", Side.BUY, 30, RESTING)
        await wait_for(lambda: bool(sim.relay.dropped_input), what="the lost order")
        venue = process.venues[0]
        assert isinstance(venue, FixVenue) and process.engine is not None
        venue.session.send_test_request(process.clock())  # our next message: the acceptor sees the gap
        process.engine.flush()
        final = await lost.wait_done(timeout=15)
        assert isinstance(final, OrderRejected)
        assert (final.source, final.code) == (RejectSource.VENUE, "NOT_SENT")
        (lost_ref,) = [o.venue_ref for o in process.engine.orders.values() if o.cl_ord_id == lost.cl_ord_id]
        if dialect == "broker-fix44":  # asked with OrderStatusRequest before the strategy was told
            assert [m.get(b"11").decode() for m in _ours(sim, MsgType.ORDER_STATUS_REQUEST)] == [lost_ref]
        else:  # asked with a cancel naming it
            assert [m.get(b"41").decode() for m in _ours(sim, MsgType.ORDER_CANCEL_REQUEST)] == [lost_ref]
        assert len(_ours(sim, MsgType.NEW_ORDER_SINGLE)) == 1  # and it was never sent again
