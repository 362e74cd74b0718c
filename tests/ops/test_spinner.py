"""The loop spinner: spins for the budget after each kick, then lets the loop block again.

Behaviour is checked with a fake clock under both loops; that spinning really means
"poll with a zero timeout" is checked at the selector for the stdlib loop and with
strace on ``epoll_pwait`` for uvloop.
"""

from __future__ import annotations

import asyncio
import re
import selectors
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.ops.spinner import LoopSpinner, word_status
from model.clock import FakeClock
from tests.ops.conftest import run_traced


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_kick_when_budget_set_then_spins_until_budget_after_last_kick() -> None:
    clock = FakeClock()
    spinner = LoopSpinner(asyncio.get_running_loop(), 100, clock)
    spinner.kick()
    await _turns(20)
    assert spinner.spinning
    assert 10 <= spinner.iterations <= 22  # one spin callback per loop turn, never two chains
    clock.advance(60_000)
    spinner.kick()  # activity again: the budget restarts from here
    clock.advance(60_000)
    await _turns(3)
    assert spinner.spinning
    clock.advance(40_000)
    await _turns(3)
    assert spinner.status()["spinning"] is False
    assert spinner.episodes == 1
    assert spinner.spin_ns == 160_000
    assert spinner.kicks == 2


async def test_kick_when_budget_zero_then_only_records_activity() -> None:
    clock = FakeClock()
    spinner = LoopSpinner(asyncio.get_running_loop(), 0, clock)
    clock.advance(5)
    spinner.kick()
    await _turns(5)
    assert not spinner.spinning
    assert (spinner.iterations, spinner.kicks, spinner.last_activity_ns) == (0, 1, clock.now)
    assert spinner.status()["mode"] == "off"


async def test_start_when_budget_forever_then_spins_until_stopped() -> None:
    clock = FakeClock()
    spinner = LoopSpinner(asyncio.get_running_loop(), -1, clock)
    spinner.start()
    await _turns(10)
    clock.advance(10**9)
    await _turns(10)
    assert spinner.spinning
    spinner.stop()
    await _turns(3)
    assert spinner.status()["spinning"] is False
    assert spinner.episodes == 1
    assert spinner.spin_ns == 10**9
    assert spinner.status()["mode"] == "always"


def test_spinner_when_budget_below_minus_one_then_rejected() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="spin budget must be >= -1"):
            LoopSpinner(loop, -2)
    finally:
        loop.close()


class _RecordingSelector(selectors.EpollSelector):
    """The stdlib loop's selector, remembering the timeout of every poll."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def select(self, timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        return super().select(timeout)


def _poll_timeouts(budget_us: int) -> list[float | None]:
    selector = _RecordingSelector()
    loop = asyncio.SelectorEventLoop(selector)

    async def scenario() -> None:
        spinner = LoopSpinner(asyncio.get_running_loop(), budget_us)
        await asyncio.sleep(0)
        selector.timeouts.clear()
        spinner.kick()
        await asyncio.sleep(0.05)

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    return selector.timeouts


def test_stdlib_loop_when_spinning_then_polls_with_zero_timeout_and_blocks_after_budget() -> None:
    spinning = _poll_timeouts(10_000)
    first_block = next(i for i, t in enumerate(spinning) if t is None or t > 0)  # blocks again after the budget
    assert first_block >= 20
    assert all(t == 0 for t in spinning[:first_block])
    idle = _poll_timeouts(0)
    assert idle[0] is not None and idle[0] > 0  # without a spinner the loop sleeps at once
    assert len([t for t in idle if t == 0]) <= 2


UVLOOP_SPIN_PROGRAM = """
import asyncio, sys
import uvloop
from gateway.ops.spinner import LoopSpinner, word_status

async def main():
    spinner = LoopSpinner(asyncio.get_running_loop(), int(sys.argv[1]))
    await asyncio.sleep(0.01)
    spinner.kick()
    await asyncio.sleep(0.1)
    print("ITERATIONS", spinner.iterations)

uvloop.run(main())
"""


def _uvloop_zero_timeout_polls(tmp_path: Path, budget_us: int) -> tuple[int, int]:
    program = tmp_path / "spin.py"
    program.write_text(UVLOOP_SPIN_PROGRAM)
    trace = tmp_path / f"trace-{budget_us}.txt"
    result = run_traced([sys.executable, str(program), str(budget_us)], "epoll_pwait,epoll_wait", trace)
    zero = re.findall(r"epoll_p?wait\(\d+, .*?, \d+, 0[,)]", trace.read_text())
    iterations = int(result.stdout.split("ITERATIONS")[1])
    return len(zero), iterations


def test_uvloop_when_spinning_then_epoll_waits_with_zero_timeout(tmp_path: Path) -> None:
    zero_polls, iterations = _uvloop_zero_timeout_polls(tmp_path, 60_000)
    idle_polls, idle_iterations = _uvloop_zero_timeout_polls(tmp_path, 0)
    assert iterations >= 20
    assert idle_iterations == 0
    # start-up and shutdown poll with timeout 0 a few times anyway; spinning adds about one per iteration
    assert zero_polls >= idle_polls + iterations // 2


@pytest.mark.parametrize("budget_us", [-1, 0, 100])
async def test_status_raw_when_worded_by_the_reader_then_the_status_document(budget_us: int) -> None:
    clock = FakeClock()
    spinner = LoopSpinner(asyncio.get_running_loop(), budget_us, clock)
    spinner.start()
    spinner.kick()
    await _turns(3)
    clock.advance(1_234_567)
    raw = spinner.status_raw()
    assert all(isinstance(value, (bool, int)) for value in raw), raw  # nothing formatted on the loop
    assert word_status(msgspec.msgpack.decode(msgspec.msgpack.encode(raw))) == spinner.status()
    spinner.stop()
