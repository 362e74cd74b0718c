"""Findings of the stop-47 risk-officer review (rev47risk): every file the guide's section 13 promise covers.

Real files on disk and the engine's own start (``RiskEngine.load`` with the state directory), closed as a
``kill -9`` leaves it; the gateway process itself is in tests/reliability/test_risk_held_back_restart.py.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli import main
from gateway.commands.output import EXIT_PIPE_CLOSED
from model.clock import FakeClock
from risk.audit import read_audit_log
from risk.engine import RiskEngine
from risk.limitsfile import LimitsFileError
from tests.risk.support import BASE_LIMITS, WALL_NS, merge, px

REFERENCE = "as_of: loaded\nprices:\n  AAPL: 100.00\n"
POSITIONS = "as_of: 2025-06-13T13:00:00Z\naccounts:\n  ACC1:\n    MSFT: 500\n"
DAY_NS = 86_400 * 10**9


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write(tmp_path: Path, *, reference: bool = False, positions: bool = False, **overrides: object) -> Path:
    doc = merge(BASE_LIMITS, dict(overrides))
    if reference:
        doc["reference_prices"] = {"max_age_s": 60, "file": "reference-prices.yaml"}
        (tmp_path / "reference-prices.yaml").write_text(REFERENCE)
    if positions:
        doc["start_positions_file"] = "sod.yaml"
        (tmp_path / "sod.yaml").write_text(POSITIONS)
    limits = tmp_path / "limits.yaml"
    limits.write_text(yaml.safe_dump(doc, sort_keys=False))
    return limits


def _load(tmp_path: Path, wall_ns: int = WALL_NS) -> RiskEngine:
    return RiskEngine.load(
        tmp_path / "limits.yaml",
        FakeClock(),
        tmp_path / "audit.jsonl",
        wall_clock=lambda: wall_ns,
        keep=tmp_path / "state" / "gw-risk-in-force.yaml",
    )


def _startup(tmp_path: Path) -> dict[str, Any]:
    return [r for r in read_audit_log(tmp_path / "audit.jsonl") if r["event"] == "startup"][-1]


def _in_place(path: Path, text: str) -> None:
    """Write ``text`` into the file at ``path`` (same inode), as `cp` over it or an editor saving in place."""
    with path.open("r+") as handle:
        handle.truncate(0)
        handle.write(text)


def test_restart_when_reference_file_held_back_then_the_reference_in_force_stays_not_applied(tmp_path: Path) -> None:
    """rev47risk HIGH: `AAPL: 10` (a prefix of `AAPL: 100.00`) was put in force by a kill -9 and restart."""
    _write(tmp_path, reference=True)
    reference = tmp_path / "reference-prices.yaml"
    engine = _load(tmp_path)
    half = REFERENCE[: REFERENCE.index("100.00") + 2]  # "AAPL: 10"
    _in_place(reference, half)
    assert engine.changed_files() == []
    assert [n["file"] for n in engine.status()["not_applied"]] == [str(reference)]
    engine.close()  # kill -9

    restarted = _load(tmp_path)
    status = restarted.status()
    assert status["reference_sha256"] == _sha(REFERENCE)
    assert [(n["file"], n["sha256"]) for n in status["not_applied"]] == [(str(reference), _sha(half))]
    assert restarted.limits_file.reference is not None
    assert restarted.limits_file.reference.prices["AAPL"] == px("100.00")
    startup = _startup(tmp_path)
    assert startup["reference_sha256"] == _sha(REFERENCE)
    [warning] = startup["warnings"]
    assert "NOT applied before the gateway stopped" in str(warning) and _sha(half) in str(warning)
    assert restarted.changed_files() == []  # still held back: no second not_applied record
    assert [r["event"] for r in read_audit_log(tmp_path / "audit.jsonl")].count("not_applied") == 1
    reloaded = restarted.reload("gateway risk reload", "alice")  # the write is complete
    assert reloaded.ok and restarted.status()["reference_sha256"] == _sha(half)
    assert restarted.status()["not_applied"] == []
    restarted.close()
    again = _load(tmp_path)
    assert again.status()["reference_sha256"] == _sha(half) and again.status()["not_applied"] == []
    again.close()


def test_restart_when_reference_copy_altered_then_refused_at_the_copy(tmp_path: Path) -> None:
    _write(tmp_path, reference=True)
    engine = _load(tmp_path)
    _in_place(tmp_path / "reference-prices.yaml", "as_of: loaded\n")
    assert engine.changed_files() == []
    engine.close()
    copy = tmp_path / "state" / "gw-risk-in-force-reference.yaml"
    copy.write_text(REFERENCE.replace("100.00", "10.00"))
    with pytest.raises(LimitsFileError) as raised:
        _load(tmp_path)
    [problem] = raised.value.problems
    assert problem.file == str(copy) and "is not what was in force" in problem.message


def test_restart_when_limits_copy_altered_then_refused_at_the_copy(tmp_path: Path) -> None:
    """rev47risk LOW: an altered copy (max_qty 9999) was put in force as "the limits in force when it stopped"."""
    limits = _write(tmp_path)
    engine = _load(tmp_path)
    _in_place(limits, limits.read_text().replace("max_qty: 1000", "max_qty: 6000", 1))
    assert engine.changed_files() == []
    engine.close()
    copy = tmp_path / "state" / "gw-risk-in-force.yaml"
    copy.write_text(copy.read_text().replace("max_qty: 1000", "max_qty: 9999", 1))
    with pytest.raises(LimitsFileError) as raised:
        _load(tmp_path)
    [problem] = raised.value.problems
    assert problem.file == str(copy)
    assert "NOT applied before the gateway stopped" in problem.message and "is not what was in force" in problem.message


def test_restart_when_limits_edited_while_down_then_changes_audited_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev47risk MEDIUM: max_qty 1000 -> 4000 while down took effect with no diff, no previous_sha256, no warning."""
    limits = _write(tmp_path, reference=True)
    _load(tmp_path).close()
    before = limits.read_text()
    after = before.replace("max_qty: 1000", "max_qty: 4000", 1)
    limits.write_text(after)
    (tmp_path / "reference-prices.yaml").write_text(REFERENCE.replace("100.00", "101.00"))
    with caplog.at_level(logging.WARNING, logger="risk"):
        restarted = _load(tmp_path)
    startup = _startup(tmp_path)
    assert startup["sha256"] == _sha(after) and startup["previous_sha256"] == _sha(before)
    assert startup["previous_reference_sha256"] == _sha(REFERENCE)
    assert startup["changes"] == [
        {"field": "defaults.max_qty", "kind": "changed", "old": 1000, "new": 4000},
        {"field": "reference_file.prices.AAPL", "kind": "changed", "old": "100", "new": "101"},
    ]
    [warning] = startup["warnings"]
    assert "changed while the gateway was down" in str(warning) and "defaults.max_qty: 1000 -> 4000" in str(warning)
    assert any("defaults.max_qty: 1000 -> 4000" in r.getMessage() for r in caplog.records)
    restarted.close()
    _load(tmp_path).close()  # unchanged since: a plain startup record
    plain = _startup(tmp_path)
    assert "changes" not in plain and plain["warnings"] == []


def test_same_day_restart_when_positions_file_written_in_place_then_the_days_positions_stay(tmp_path: Path) -> None:
    """rev47risk MEDIUM: `MSFT: 500` -> `MSFT: 50` in place, then a crash: the restart used 50, silently."""
    _write(tmp_path, positions=True)
    engine = _load(tmp_path)
    assert engine.position("ACC1", "MSFT").position == 500
    engine.close()
    half = POSITIONS.replace("500", "50")
    _in_place(tmp_path / "sod.yaml", half)

    restarted = _load(tmp_path)
    assert restarted.position("ACC1", "MSFT").position == 500
    [flag] = restarted.status()["not_applied"]
    assert flag["file"] == str(tmp_path / "sod.yaml") and flag["sha256"] == _sha(half)
    [warning] = _startup(tmp_path)["warnings"]
    assert "start_positions_file" in str(warning) and "NOT APPLIED" in str(warning) and _sha(half) in str(warning)
    assert restarted.reload("gateway risk reload", "alice").ok
    assert restarted.status()["not_applied"] != []  # a reload never reads the positions file
    restarted.close()

    nextday = _load(tmp_path, WALL_NS + DAY_NS)  # a new session date reads the file as it is
    assert nextday.position("ACC1", "MSFT").position == 50 and nextday.status()["not_applied"] == []
    nextday.close()


def test_same_day_restart_when_positions_file_replaced_then_read_with_a_warning(tmp_path: Path) -> None:
    _write(tmp_path, positions=True)
    _load(tmp_path).close()
    new = tmp_path / "sod.new"
    new.write_text(POSITIONS.replace("500", "700"))
    new.replace(tmp_path / "sod.yaml")  # mv: complete
    restarted = _load(tmp_path)
    assert restarted.position("ACC1", "MSFT").position == 700 and restarted.status()["not_applied"] == []
    [warning] = _startup(tmp_path)["warnings"]
    assert "was replaced since the day's first start" in str(warning)
    restarted.close()


def test_same_day_restart_when_positions_copy_lost_and_file_written_in_place_then_refused(tmp_path: Path) -> None:
    _write(tmp_path, positions=True)
    _load(tmp_path).close()
    _in_place(tmp_path / "sod.yaml", POSITIONS.replace("500", "50"))
    copy = tmp_path / "state" / "gw-risk-in-force-start-positions.yaml"
    note = json.loads((copy.parent / (copy.name + ".not-applied.json")).read_text())
    assert note["day"] == datetime.datetime.fromtimestamp(WALL_NS / 1e9).date().isoformat()
    copy.unlink()
    with pytest.raises(LimitsFileError) as raised:
        _load(tmp_path)
    assert raised.value.problems[0].file == str(copy)


def test_cli_when_stdout_closed_early_then_no_traceback(tmp_path: Path) -> None:
    """rev47risk LOW: `gateway risk check ... | head -1` ended in a BrokenPipeError traceback."""
    limits = _write(tmp_path)
    commands = (
        ["risk", "check", str(limits)],
        ["risk", "explain", str(limits), "--order", "account=ACC1 symbol=AAPL side=B qty=10 price=100 strategy=S1"],
    )
    for command in commands:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before the first line (`| head -0`)
        err = proc.stderr.read().decode()
        assert proc.wait(60) == EXIT_PIPE_CLOSED, err
        assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_adjust_position_cli_when_no_gateway_or_price_too_precise_then_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """rev47risk LOW: the error named `gateway risk adjust position`; 1.00001 was "must be a non-negative number"."""
    args = ["risk", "adjust-position", "--account", "ACC1", "--symbol", "AAPL", "--qty", "-1", "--reason", "bust"]
    target = ["--admin-socket", str(tmp_path / "none.sock")]
    assert main([*args, *target]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gateway risk adjust-position: no gateway admin socket at"), err
    assert main([*args, "--price", "1.00001", *target]) == 2
    err = capsys.readouterr().err
    assert "has more than 4 decimals" in err and "non-negative" not in err, err
