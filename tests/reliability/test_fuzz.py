"""Every fuzz target: its seeds through the contract checks, hypothesis bytes, and a short atheris run.

The long coverage-guided run whose figures are in docs/reliability.md is ``python -m fuzz.run``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.run import ROOT, atheris_available
from fuzz.targets import TARGETS, run_seeds


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_when_given_its_seeds_then_contract_holds(name: str) -> None:
    assert run_seeds(name) >= 2


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600))
def test_target_when_random_bytes_then_contract_holds(name: str, data: bytes) -> None:
    TARGETS[name][0](data)


@pytest.mark.slow
@pytest.mark.skipif(not atheris_available(), reason="atheris not installed (pip install -e '.[fuzz]')")
def test_atheris_when_each_target_fuzzed_briefly_then_no_crash(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    command = [sys.executable, "-m", "fuzz.run", "--runs", "1500", "--jobs", "2", "--workdir", str(tmp_path)]
    result = subprocess.run(
        [*command, "--json", str(summary)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    rows = json.loads(summary.read_text())
    assert {row["target"] for row in rows} == set(TARGETS)
    for row in rows:
        assert not row["crashed"] and row["inputs"] >= 1500, row
        assert row["coverage_edges"] > 10, row
