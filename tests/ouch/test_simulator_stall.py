"""The simulator's ``stall_first_after``: answers lost in flight while every request is read (a test tool)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from model.order import mark_sent
from model.venue_events import VenueAccepted, VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.ouch.harness import PX, Link, make_order

RESTING = PX - 100


def test_stall_first_after_when_the_first_connection_is_held_then_the_next_login_replays_the_rest(
    tmp_path: Path,
) -> None:
    sim = SimulatorConfig(stall_first_after=2, exchange=ExchangeConfig(reference_prices={"AAPL": PX}))
    link = Link(tmp_path, sim=sim)
    link.connect()
    for i in range(5):
        order = make_order(100 + i, price=RESTING)
        mark_sent(order, link.send_new(order))
    for _ in range(3):  # heartbeats flow, the connection stays up, the held answers stay held
        link.clock.advance_ms(1_000)
        link.poll()
    assert [r.type for r in link.core.exchange.records] == ["O"] * 5  # the venue read and answered all five
    assert [e.order_id for e in link.events if isinstance(e, VenueAccepted)] == [100, 101]
    assert link.venue.state is VenueState.UP and link.core.cuts == 0
    link.disconnect()
    link.connect()  # the second login is not held: its replay brings the other three
    assert [e.order_id for e in link.events if isinstance(e, VenueAccepted)] == [100, 101, 102, 103, 104]


def test_stall_first_after_when_negative_then_the_cli_refuses_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "sim", "ouch", "--stall-first-after", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "argument --stall-first-after: expected a whole number (0 or more), got '-1'" in result.stderr
