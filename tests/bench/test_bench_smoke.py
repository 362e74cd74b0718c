"""``gateway bench --smoke``: the whole harness end to end in seconds (completion and zero loss, never speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GATEWAY = [sys.executable, "-m", "gateway"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_bench_when_smoke_then_every_path_completes_with_zero_loss_and_writes_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *GATEWAY,
            "bench",
            "--smoke",
            "--json",
            "--no-pin",
            "--scenarios",
            "pingpong,burst-5k,mixed",
            "--paths",
            "floor,gw-kernel,gw-spin",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    scenarios = {s["name"]: s for s in report["scenarios"]}
    assert set(scenarios) == {"pingpong", "burst-5k", "mixed"}
    for scenario in scenarios.values():
        assert set(scenario["paths"]) == {"floor", "gw-kernel", "gw-spin"}
        for path in scenario["paths"].values():
            assert path["lost"] == 0
            assert path["round_trip"]["count"] > 0
            assert path["one_way"]["count"] == path["counts"]["accepted"]
        assert set(scenario["added"]) == {"gw-kernel", "gw-spin"}
    mixed = scenarios["mixed"]["paths"]
    gateway_counts = mixed["gw-spin"]["counts"]
    assert gateway_counts["rejected"] > 0  # risk rejects, on purpose
    assert gateway_counts["canceled"] > 0 and gateway_counts["replaced"] > 0
    assert mixed["floor"]["counts"]["skipped"] == gateway_counts["rejected"]  # no risk check on the floor
    stages = scenarios["pingpong"]["paths"]["gw-spin"]["stages_us"]
    assert stages["risk"]["count"] == scenarios["pingpong"]["paths"]["gw-spin"]["counts"]["accepted"]
    assert stages["venue_to_strategy"]["count"] > 0
    zero_gc = next(t for t in report["targets"] if t["name"].startswith("zero full garbage"))
    assert zero_gc["met"] is True
    assert (tmp_path / "report.json").exists()
    assert (tmp_path / "hgrm" / "pingpong.gw-spin.round_trip.hgrm").exists()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_bench_when_smoke_fix_paths_then_gateway_fix_path_and_quickfix_initiator_complete(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *GATEWAY,
            "bench",
            "--smoke",
            "--json",
            "--no-pin",
            "--scenarios",
            "pingpong,mixed",
            "--paths",
            "fix-quickfix,fix-gw-spin",
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    scenarios = {s["name"]: s for s in report["scenarios"]}
    pingpong = scenarios["pingpong"]
    assert set(pingpong["paths"]) == {"fix-quickfix", "fix-gw-spin"}
    for path in pingpong["paths"].values():
        assert path["lost"] == 0
        assert path["counts"]["accepted"] == path["round_trip"]["count"] > 0
    assert pingpong["baselines"] == {"fix-gw-spin": "fix-quickfix"}
    assert scenarios["mixed"]["paths"] == {}  # the FIX paths take part in ping-pong only
    fix_target = next(t for t in report["targets"] if t["name"].startswith("FIX path"))
    assert fix_target["met"] is not None
