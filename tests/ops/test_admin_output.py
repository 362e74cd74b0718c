"""``gateway status`` and ``gateway metrics`` piped into a reader that stops early (fixops35).

The ops review found ``gateway status | head`` printing a BrokenPipeError traceback. Each test runs a real
gateway on the OUCH simulator and the real command with its stdout a pipe whose reader has already gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.support import short_tmp
from tests.reliability.support import Gateway, Simulator, write_config


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    """A running gateway on the OUCH simulator, shared by the tests of this file."""
    workdir = short_tmp()
    sim = Simulator(workdir)
    running = Gateway(workdir, write_config(workdir, sim.port))
    try:
        running.start()
        yield running
    finally:
        running.stop()
        sim.stop()


def _into_a_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``gateway ARGS`` with stdout a pipe nobody reads any more (``| head -0``)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        argv = [sys.executable, "-m", "gateway", *args]
        return subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("json", [False, True])
def test_status_when_the_reader_has_gone_then_exit_0_without_a_traceback(gateway: Gateway, json: bool) -> None:
    result = _into_a_closed_pipe("status", "--config", str(gateway.config), *(["--json"] if json else []))
    assert (result.returncode, result.stderr) == (0, "")


def test_metrics_when_the_reader_has_gone_then_exit_0_without_a_traceback(gateway: Gateway) -> None:
    pytest.importorskip("prometheus_client")
    result = _into_a_closed_pipe("metrics", "--config", str(gateway.config))
    assert (result.returncode, result.stderr) == (0, "")


def test_status_when_read_to_the_end_then_the_whole_status(gateway: Gateway) -> None:
    argv = [sys.executable, "-m", "gateway", "status", "--config", str(gateway.config)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gateway rel") and result.stdout.endswith("\n"), result.stdout[:200]
