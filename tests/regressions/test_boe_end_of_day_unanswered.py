"""Regression (faults14): a request still unanswered when Cboe ended the day (Logout ``E``) never got an answer.

The core hands a venue its unanswered requests only on the way back to UP (``after_replay``); a venue that
ENDED never comes back, so a New Order Cboe never processed stayed PENDING_NEW and the strategy's request
had no answer. Real loopback sockets; the BOE simulator ends the day in place of processing the order.
"""

from __future__ import annotations

from gateway.client import GatewayClient
from gateway.protocol.messages import OrderRejected
from model.enums import RejectSource, Side
from model.venue_events import VenueState
from tests.e2e.support import short_tmp, wait_for
from tests.e2e.test_boe_pipeline import _sock, running_boe_gateway
from tests.regressions.boe_swallow import swallow_boe_messages

NEW_ORDER = 0x38  # BOE v2 New Order message type


async def test_end_of_day_when_a_new_order_is_unanswered_then_the_strategy_gets_a_reject() -> None:
    async with running_boe_gateway(short_tmp()) as (process, sim):
        core = sim.core
        swallowed: list[bytes] = []
        swallow_boe_messages(core, NEW_ORDER, swallowed, then=core.end_of_day)  # Cboe ends the day instead
        async with GatewayClient(_sock(process), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await wait_for(lambda: process.venues[0].state is VenueState.ENDED, what="venue ENDED")
            final = await order.wait_done(timeout=15)
        assert len(swallowed) == 1
        assert isinstance(final, OrderRejected), final
        assert (final.source, final.code) == (RejectSource.VENUE, "BOE_SESSION_ENDED")
        assert sim.exchange.records == []
