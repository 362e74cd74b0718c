"""Regression (mend26): a Cancel for an order of a venue that ENDED was held for ever, never answered.

A Cancel that arrives while a Replace is in flight is held behind it. When Cboe ends the day (Logout ``E``)
before answering the Replace, the adapter answers the Replace (``BOE_SESSION_ENDED``) and the order goes
back to LIVE with the Cancel still held: held cancels were released only when the venue came back UP, and
an ENDED venue does not. A Cancel sent after the end of the day was held the same way. Both must now be
answered at once (CancelRejected, ``VENUE_SESSION_ENDED``). Real loopback sockets and the BOE simulator.
"""

from __future__ import annotations

import time

from gateway.client import GatewayClient
from gateway.protocol.messages import CancelRejected
from model.enums import RejectSource, Side
from model.order import OrderState
from model.venue_events import VenueState
from tests.e2e.support import short_tmp, wait_for
from tests.e2e.test_boe_pipeline import _sock, running_boe_gateway
from tests.regressions.boe_swallow import swallow_boe_messages

MODIFY_ORDER = 0x3A  # BOE v2 Modify Order message type
RESTING = "229.00"  # inside the example limits' collar around AAPL's 230.10, below the offer: rests


async def test_end_of_day_when_a_cancel_is_held_behind_a_replace_then_both_get_cancel_rejected() -> None:
    async with running_boe_gateway(short_tmp()) as (process, sim):
        core = sim.core
        swallowed: list[bytes] = []
        swallow_boe_messages(core, MODIFY_ORDER, swallowed)  # Cboe ends the day before it processes the Modify
        async with GatewayClient(_sock(process), "S1") as client:
            held = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, RESTING)
            later = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, RESTING)
            await held.wait_accepted(timeout=15)
            await later.wait_accepted(timeout=15)
            await held.replace(200, RESTING)
            await wait_for(lambda: len(swallowed) == 1, what="Modify swallowed")
            await held.cancel()
            assert process.engine is not None
            order = process.engine.strategies["S1"].orders[held.cl_ord_id]
            await wait_for(lambda: order.state is OrderState.PENDING_REPLACE_HELD_CANCEL, what="cancel held")

            core.end_of_day(time.monotonic_ns())
            await wait_for(lambda: process.venues[0].state is VenueState.ENDED, what="venue ENDED")
            await wait_for(
                lambda: sum(isinstance(e, CancelRejected) for e in held.events) == 2, what="replace and cancel answered"
            )
            answers = [(e.source, e.code) for e in held.events if isinstance(e, CancelRejected)]
            assert answers == [(RejectSource.VENUE, "BOE_SESSION_ENDED"), (RejectSource.GATEWAY, "VENUE_SESSION_ENDED")]
            assert order.state is OrderState.LIVE

            await later.cancel()  # after the end of the day: answered at once, not held
            await wait_for(lambda: any(isinstance(e, CancelRejected) for e in later.events), what="cancel answered")
            final = [e for e in later.events if isinstance(e, CancelRejected)]
            assert [(e.source, e.code) for e in final] == [(RejectSource.GATEWAY, "VENUE_SESSION_ENDED")]
            later_order = process.engine.strategies["S1"].orders[later.cl_ord_id]
            assert later_order.state is OrderState.LIVE
