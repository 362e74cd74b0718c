"""``gateway demo``'s FIX venue: a ``gateway sim fix`` child that picks its own port and names it."""

from __future__ import annotations

import asyncio

import pytest

from gateway.commands.demo import start_fix_simulator
from gateway.demo_strategy import DemoMarket


async def test_demo_fix_simulator_when_started_then_listens_on_the_port_its_line_names() -> None:
    pytest.importorskip("quickfix")
    child, port = await start_fix_simulator(DemoMarket())
    try:
        assert port > 0
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        writer.close()
        await writer.wait_closed()
    finally:
        child.terminate()
        assert await asyncio.wait_for(child.wait(), 15) == 0
