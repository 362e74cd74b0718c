"""Regression (faults14): a request still unanswered when Cboe ended the day (Logout ``E``) never got an answer.

The core hands a venue its unanswered requests only on the way back to UP (``after_replay``); a venue that
ENDED never comes back, so a New Order Cboe never processed stayed PENDING_NEW and the strategy's request
had no answer. Real loopback sockets; the BOE simulator ends the day in place of processing the order.
"""

from __future__ import annotations

from typing import Any

from gateway.client import GatewayClient
from gateway.protocol.messages import OrderRejected
from model.enums import RejectSource, Side
from model.venue_events import VenueState
from tests.e2e.support import short_tmp, wait_for
from tests.e2e.test_boe_pipeline import _sock, running_boe_gateway

NEW_ORDER = 0x38  # BOE v2 New Order message type


async def test_end_of_day_when_a_new_order_is_unanswered_then_the_strategy_gets_a_reject() -> None:
    async with running_boe_gateway(short_tmp()) as (process, sim):
        core = sim.core
        passed = core.receive
        swallowed: list[bytes] = []

        def receive(connection: Any, data: bytes, now_ns: int) -> None:
            if len(data) > 4 and data[:2] == b"\xba\xba" and data[4] == NEW_ORDER:
                swallowed.append(data)  # Cboe ends the day before it processes the order
                core.end_of_day(now_ns)
                return
            passed(connection, data, now_ns)

        core.receive = receive  # type: ignore[method-assign]
        async with GatewayClient(_sock(process), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await wait_for(lambda: process.venues[0].state is VenueState.ENDED, what="venue ENDED")
            final = await order.wait_done(timeout=3)
        assert len(swallowed) == 1
        assert isinstance(final, OrderRejected), final
        assert (final.source, final.code) == (RejectSource.VENUE, "BOE_SESSION_ENDED")
        assert sim.exchange.records == []
