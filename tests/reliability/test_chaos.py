"""Chaos: bursts with ``gateway run`` SIGKILLed at random points and restarted (a few cycles here).

The long run behind the figure in docs/reliability.md is ``python -m tests.reliability.chaos``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.reliability.chaos import Chaos
from tests.reliability.support import BoeSimulatorProcess, Gateway, Simulator


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 23])
def test_chaos_when_gateway_killed_at_random_points_then_nothing_lost_duplicated_or_unknown(
    workdir: Path, sim: Simulator, gateways: list[Gateway], seed: int
) -> None:
    chaos = Chaos(workdir, sim, seed, burst=40)
    gateways.append(chaos.gateway)
    report = asyncio.run(chaos.run(cycles=3))
    assert report.problems == []
    assert report.kills == 3
    assert report.orders_known > 0 and report.filled > 0 and report.canceled > 0
    assert report.unanswered == 0 and report.never_reached_gateway == 0  # re-sent, not probed
    assert report.events >= report.orders_known


@pytest.mark.slow
def test_chaos_when_orders_also_go_to_a_boe_venue_then_nothing_lost_duplicated_or_sent_to_it_twice(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    boe = BoeSimulatorProcess(workdir)
    try:
        chaos = Chaos(workdir, sim, 31, burst=40, boe=boe)
        gateways.append(chaos.gateway)
        report = asyncio.run(chaos.run(cycles=3))
    finally:
        boe.stop()
    assert report.problems == []
    assert report.kills == 3 and report.boe_orders > 0
    assert report.unanswered == 0 and report.never_reached_gateway == 0
    assert report.orders_known > 0 and report.filled > 0
