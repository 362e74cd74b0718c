"""OUCH Broken Trade: logged at ERROR every time and counted (status and metrics); nothing is corrected.

Real gateway and OUCH simulator over loopback sockets, a real strategy client.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.admin import fetch_metrics
from gateway.client import GatewayClient
from model.enums import Side
from tests.e2e.support import running_gateway, short_tmp, wait_for


async def test_broken_trade_when_the_venue_breaks_two_fills_then_each_logged_at_error_counted_and_nothing_corrected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with running_gateway(short_tmp()) as (process, sim):
        process.add_venue_metrics_providers()
        config = process.config
        (venue,) = process.venues
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            await order.wait_accepted(timeout=15)
            assert sim.execute(1, 40)
            assert sim.execute(1, 10)
            await wait_for(lambda: order.cum_qty == 50, what="two fills")
            matches = sorted(sim.core.exchange.executions)
            for match_number in matches:
                assert sim.core.exchange.break_trade(match_number)
            sim.flush_all()
            await wait_for(lambda: venue.status()["broken_trades"] == 2, what="two Broken Trades")
            await asyncio.sleep(0.1)
            assert (order.cum_qty, order.leaves_qty) == (50, 50)  # not corrected: the strategy is not told
        admin = config.path(config.admin_socket)
        metrics = await asyncio.get_running_loop().run_in_executor(None, fetch_metrics, admin)
    assert metrics.extra["venue_broken_trades_total"] == 2
    assert metrics.extra["venue_replaces_maybe_taken_total"] == 0  # pre-created, whatever the venues
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "BROKEN TRADE" in r.getMessage()]
    assert len(errors) == 2
    for text, match_number in zip(errors, matches, strict=True):
        assert f"match number {match_number}," in text
        assert "order 1 " in text and "NOT corrected" in text
