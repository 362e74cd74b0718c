"""Regression (faults15): a FIX request still unanswered when the session schedule ended got no answer that day.

At the end of the schedule the session logs out and the venue becomes ENDED until the next start, when the
store's numbering resets and the venue never sends anything of the old day again. The core hands an ENDED venue
its unanswered requests (``after_session_end``), but the FIX adapter did nothing with them: a NewOrder, Cancel or
Replace the venue had not answered stayed pending overnight (over a weekend) and the strategy had no answer.

A gateway trades with the QuickFIX acceptor of ``gateway sim fix`` behind its raw relay; the gateway's schedule
ends a few seconds into the test. The acceptor's messages stop reaching the gateway (the relay drops them), so
the request's answer never arrives; the schedule then ends the session.
"""

from __future__ import annotations

import datetime as dt
import time
from contextlib import AbstractAsyncContextManager

import pytest

from gateway.app import GatewayProcess
from gateway.client import GatewayClient, OrderHandle
from gateway.protocol.messages import CancelRejected, OrderAccepted, OrderRejected
from model.enums import RejectSource, Side
from model.venue_events import VenueState
from simulators.fix.simulator import FixSimulator
from tests.e2e.support import wait_for
from tests.e2e.test_fix_unknown_outcome import gateway_with_fix
from venues.fix.fields import MsgType

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)

RESTING = "229.00"  # below AAPL's reference 230.10: rests on the book
OPEN_FOR_S = 10
"""The window runs out this long after the gateway's config is made: the acceptor, the gateway, its logon, the
strategy and its order all come first (4 s was too short on a loaded machine: the window closed before the logon,
"timed out waiting for FIX logon")."""


def _schedule_ending_soon() -> dict[str, str]:
    """A UTC session window that opened at midnight and closes ``OPEN_FOR_S`` seconds from now."""
    now = dt.datetime.now(dt.UTC)
    if (now + dt.timedelta(seconds=OPEN_FOR_S + 1)).date() != now.date():  # pragma: no cover - would wrap midnight
        time.sleep(OPEN_FOR_S + 2)
        now = dt.datetime.now(dt.UTC)
    end = now + dt.timedelta(seconds=OPEN_FOR_S)
    return {"start_time": "00:00:00", "end_time": end.strftime("%H:%M:%S")}


def _gateway(dialect: str) -> AbstractAsyncContextManager[tuple[GatewayProcess, FixSimulator, GatewayClient]]:
    """The unknown-outcome tests' gateway, its schedule ending ``OPEN_FOR_S`` seconds from now."""
    return gateway_with_fix(dialect, heartbeat_interval_s=5, logout_timeout_s=1, schedule=_schedule_ending_soon())


async def _ended(process: GatewayProcess) -> None:
    await wait_for(lambda: process.venues[0].state is VenueState.ENDED, OPEN_FOR_S + 10.0, "the session's end")


@pytest.mark.parametrize("dialect", ["equities-fix42", "broker-fix44"])
async def test_session_end_when_a_new_order_is_unanswered_then_the_strategy_gets_a_reject(dialect: str) -> None:
    async with _gateway(dialect) as (process, sim, client):
        sim.drop_output()  # the venue's answers never arrive
        order = await client.submit("ACC1", "FIXV", "AAPL", Side.BUY, 100, RESTING)
        await wait_for(lambda: len(sim.messages("in", MsgType.NEW_ORDER_SINGLE)) == 1, what="the order at the venue")
        await _ended(process)
        final = await order.wait_done(timeout=15)
        assert isinstance(final, OrderRejected), final
        assert (final.source, final.code) == (RejectSource.VENUE, "FIX_SESSION_ENDED")
        assert process.venues[0].status()["open_orders"] == 0


async def _resting(client: GatewayClient) -> OrderHandle:
    order = await client.submit("ACC1", "FIXV", "AAPL", Side.BUY, 100, RESTING)
    assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
    return order


@pytest.mark.parametrize("request_kind", ["cancel", "replace"])
async def test_session_end_when_a_cancel_or_replace_is_unanswered_then_the_strategy_gets_a_cancel_reject(
    request_kind: str,
) -> None:
    async with _gateway("broker-fix44") as (process, sim, client):
        order = await _resting(client)
        sim.drop_output()
        if request_kind == "cancel":
            await order.cancel()
            msg_type = MsgType.ORDER_CANCEL_REQUEST
        else:
            await order.replace(200, RESTING)
            msg_type = MsgType.ORDER_CANCEL_REPLACE_REQUEST
        await wait_for(lambda: len(sim.messages("in", msg_type)) == 1, what="the request at the venue")
        await _ended(process)
        await wait_for(lambda: order.last_cancel_reject is not None, 15.0, "the strategy's answer")
        reject = order.last_cancel_reject
        assert isinstance(reject, CancelRejected)
        assert (reject.source, reject.code) == (RejectSource.VENUE, "FIX_SESSION_ENDED")
        assert not order.is_terminal  # the order itself stays open: the venue keeps it (GTC) or ends it for the day
        assert (order.qty, order.leaves_qty) == (100, 100)
