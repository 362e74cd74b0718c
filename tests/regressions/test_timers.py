"""Regression (found in review): periodic timers keep every handle they ever created."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from gateway.app import GatewayProcess


async def test_schedule_when_ticking_for_a_while_then_timer_list_stays_bounded() -> None:
    fake = SimpleNamespace(_stopped=asyncio.Event(), _timers=[])
    GatewayProcess._schedule(fake, 0.001, lambda: None)  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    fake._stopped.set()
    assert len(fake._timers) < 5, f"{len(fake._timers)} handles kept"
