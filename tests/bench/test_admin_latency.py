"""The admin socket's ``status`` carries the stage histograms; ``latency_reset`` starts them afresh."""

from __future__ import annotations

import asyncio

from gateway.admin import admin_request, fetch_status
from gateway.client import GatewayClient
from gateway.protocol.messages import OrderAccepted
from model.enums import Side
from tests.e2e.support import running_gateway, short_tmp


async def test_latency_reset_when_called_after_orders_then_status_counts_only_later_orders() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        config = process.config
        admin = config.path(config.admin_socket)
        loop = asyncio.get_running_loop()
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            for _ in range(3):
                order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
                assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
            before = await loop.run_in_executor(None, fetch_status, admin)
            latency = before["latency_us"]
            assert latency["risk"]["count"] == 3 and latency["venue_to_strategy"]["count"] == 3
            assert latency["ingress_to_wire"]["p50"] >= latency["risk"]["p50"] > 0
            reply = await loop.run_in_executor(None, admin_request, admin, {"cmd": "latency_reset"})
            assert reply == {"ok": True, "latency_reset": True}
            order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
            after = await loop.run_in_executor(None, fetch_status, admin)
            assert after["latency_us"]["risk"]["count"] == 1
            assert after["latency_us"]["venue_to_strategy"]["count"] == 1
