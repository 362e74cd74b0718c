"""Every example in examples/ runs against the README's set-up: ``gateway sim ouch`` and ``gateway run``.

The gateway runs with deploy/gateway.yaml and the deployed risk limits (only paths and the
venue's port are changed, so it fits in a temporary directory), as separate processes, like
a developer following the README would run them.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.support import short_tmp
from tests.reliability.support import Gateway, Simulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def readme_config(workdir: Path, venue_port: int) -> Path:
    """deploy/gateway.yaml with its paths in ``workdir`` and the simulator's port."""
    config = yaml.safe_load((ROOT / "deploy" / "gateway.yaml").read_text())
    config.update(
        strategy_socket="s.sock",
        admin_socket="a.sock",
        state_dir="state",
        risk_limits=str(ROOT / "deploy" / "risk" / "limits.yaml"),
        risk_audit_log="audit.jsonl",
    )
    config["journal"]["directory"] = "journal"
    config["spin"]["loop_spin_us"] = 0  # no busy polling on a shared test machine
    (venue,) = config["venues"]
    venue.update(port=venue_port, state_dir="ouch")
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def readme_gateway() -> Iterator[Path]:
    """The README's simulator (AAPL at 230.10) and gateway; yields the strategy socket."""
    workdir = short_tmp()
    sim = Simulator(workdir)  # gateway sim ouch --reference-price AAPL=230.10 (and MSFT)
    gateway = Gateway(workdir, readme_config(workdir, sim.port))
    try:
        gateway.start()
        yield gateway.socket
    finally:
        gateway.stop()
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _run(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout_s, cwd=ROOT, check=False
    )


def run_blocking_script(socket: Path, workdir: Path) -> None:
    result = _run(str(EXAMPLES / "blocking_script.py"), "--socket", str(socket), "AAPL", "B", "100", "230.20")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Executed(") and "leaves_qty=0" in result.stdout, result.stdout
    # a price that does not cross rests: the script gives up after --timeout, cleanly (it used to end in a traceback)
    rests = _run(
        str(EXAMPLES / "blocking_script.py"), "--socket", str(socket), "--timeout", "0.5", "AAPL", "B", "100", "229.00"
    )
    assert rests.returncode == 1 and "Traceback" not in rests.stderr, rests.stderr
    assert "gave up after 0.5 s: order " in rests.stderr and "is still LIVE; canceling it" in rests.stderr, rests.stderr
    assert rests.stdout.startswith("Canceled(") and "leaves_qty=0" in rests.stdout, rests.stdout


def run_simple_strategy(socket: Path, workdir: Path) -> None:
    state = workdir / "simple.seq"
    first = _run(str(EXAMPLES / "simple_strategy.py"), "--socket", str(socket), "--state", str(state))
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "accepted: venue order id" in out and "final: Canceled(" in out, out
    assert "filled 100 @ 230.1000" in out, out
    saved = int(state.read_text())
    assert saved >= 4
    again = _run(str(EXAMPLES / "simple_strategy.py"), "--socket", str(socket), "--state", str(state))
    assert again.returncode == 0 and "0 missed events replayed" in again.stdout, again.stdout

    watch = subprocess.Popen(
        [sys.executable, "-u", str(EXAMPLES / "simple_strategy.py"), "--socket", str(socket), "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        assert watch.stdout is not None
        deadline = time.monotonic() + 10
        seen = b""
        # A selector, not select.select: a pytest process that has run many tests may hold descriptors past 1024.
        with selectors.DefaultSelector() as waiting:
            waiting.register(watch.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline and b"venue OUCH is UP" not in seen:
                if waiting.select(0.1):
                    seen += os.read(watch.stdout.fileno(), 65536)
        assert b"venue OUCH is UP" in seen, seen  # the VenueStatus every Welcome is followed by
        assert seen.count(b"OrderAccepted(") >= 2  # and the events of the runs above, replayed
    finally:
        watch.terminate()
        watch.wait(10)


RUNS = {"blocking_script.py": run_blocking_script, "simple_strategy.py": run_simple_strategy}


def test_examples_when_listed_then_every_file_in_examples_has_a_run() -> None:
    assert {path.name for path in EXAMPLES.glob("*.py")} == set(RUNS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_example_when_run_against_the_readme_gateway_and_simulator_then_it_works(
    name: str, readme_gateway: Path, tmp_path: Path
) -> None:
    RUNS[name](readme_gateway, tmp_path)
