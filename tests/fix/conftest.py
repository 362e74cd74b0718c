"""Loopback set-up shared by the FIX tests: the simulators, and the gateway side logged on to the module's ``sim``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from simulators.fix.simulator import FixSimulator
from tests.harness import Rig

from .live import GatewaySide, running_simulator


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[FixSimulator]:
    """Run a broker-fix44 simulator (a real QuickFIX acceptor, in ``tmp_path / "sim"``) for the test."""
    with running_simulator(tmp_path / "sim", "broker-fix44") as simulator:
        yield simulator


@pytest.fixture
def equities(tmp_path: Path) -> Iterator[FixSimulator]:
    """Run an equities-fix42 simulator (a real QuickFIX acceptor, in ``tmp_path / "sim"``) for the test."""
    with running_simulator(tmp_path / "sim", "equities-fix42") as simulator:
        yield simulator


@pytest.fixture
def sim(broker: FixSimulator) -> FixSimulator:
    """Return the simulator ``gateway`` logs on to: ``broker``, unless the module defines its own ``sim``."""
    return broker


@pytest.fixture
async def gateway(sim: FixSimulator, tmp_path: Path) -> AsyncIterator[GatewaySide]:
    """Log a ``GatewaySide`` (file store in ``tmp_path``) on to the module's ``sim``; log it out after."""
    side = GatewaySide(sim, tmp_path / "gateway-store")
    await side.start()
    yield side
    await side.stop()


@pytest.fixture
def rig(gateway: GatewaySide) -> Rig:
    """Return an engine (in-memory journal) over ``gateway``'s real FixVenue, logged on already."""
    return Rig(venues=[gateway.venue])  # type: ignore[list-item]  # a real FixVenue where the harness scripts one
