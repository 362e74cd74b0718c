"""benchmarks/bench_status_stall.py runs end to end (tiny): real simulator and gateway processes, status calls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_status_stall.py"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["status", "metrics"])
def test_status_stall_bench_when_run_small_then_reports_calls_and_the_loop_cost(command: str) -> None:
    args = ["--calls", "3", "--interval", "0.2", "--warmup", "0.3", "--preload", "200", "--pause-us", "1000"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--caller", "socket", "--command", command, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["command"] == command and summary["calls_orders"] > 0
    assert len(summary["worst_in_flight_during_call_us"]) == 3
    assert len(summary["cpu_us_per_status"]) == 2 and all(cpu > 0 for cpu in summary["cpu_us_per_status"])
    # the same-run evidence beside the round trips: the gateway's own stages over both windows (from two
    # snapshots of its histograms), the hiccup probe's late wake-ups, and the preemptions of each process
    stages = summary["gateway_stages_us"]
    orders, acks = stages["ingress_to_wire"]["count"], stages["venue_to_strategy"]["count"]
    assert orders > 0 and abs(orders - acks) <= 1  # one order may be in flight at either snapshot
    assert stages["ingress_to_wire"]["max"] >= stages["ingress_to_wire"]["p50"] > 0
    assert len(summary["probe_late_during_call_us"]) == 3
    for window in ("quiet_over_bound", "calls_over_bound"):
        counted = summary[window]
        assert 0 <= counted["over_with_machine_late"] <= counted["over"]
        assert counted["strategy_gc_count"] == 0  # --strategy-gc freeze (the default): no collection while measuring
    assert set(summary["preempted_in_windows"]) == {"gateway", "simulator", "strategy"}
