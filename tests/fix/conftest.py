"""Loopback set-up shared by the FIX tests: the gateway side logged on to the module's ``sim`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulators.fix.simulator import FixSimulator

from .live import GatewaySide


@pytest.fixture
async def gateway(sim: FixSimulator, tmp_path: Path) -> AsyncIterator[GatewaySide]:
    """Log a ``GatewaySide`` (file store in ``tmp_path``) on to the module's ``sim``; log it out after."""
    side = GatewaySide(sim, tmp_path / "gateway-store")
    await side.start()
    yield side
    await side.stop()
