"""Findings of the stop-49 risk-officer review (rev49risk): start-of-day positions at a same-day restart, and more.

Real files on disk and the engine's own start (``RiskEngine.load`` with the state directory), closed as a
``kill -9`` leaves it; the gateway process itself is in tests/reliability/test_risk_positions_restart.py.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli import main
from model.clock import FakeClock
from risk.audit import read_audit_log
from risk.engine import RiskEngine
from risk.limitsfile import read_limits
from risk.loader import parse_text
from risk.model import ReferencePriceDocument, StartPositionsDocument
from tests.risk.support import BASE_LIMITS, WALL_NS, merge

POSITIONS = "as_of: 2025-06-12T20:00:00Z\naccounts:\n  ACC1:\n    MSFT: 500\n"
DAY_NS = 86_400 * 10**9


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write(directory: Path, positions: str | None = "sod.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    doc = merge(BASE_LIMITS, {})
    if positions is not None:
        doc["start_positions_file"] = positions
    limits = directory / "limits.yaml"
    limits.write_text(yaml.safe_dump(doc, sort_keys=False))
    return limits


def _load(tmp_path: Path, limits: Path | None = None, wall_ns: int = WALL_NS) -> RiskEngine:
    return RiskEngine.load(
        limits or tmp_path / "limits.yaml",
        FakeClock(),
        tmp_path / "audit.jsonl",
        wall_clock=lambda: wall_ns,
        keep=tmp_path / "state" / "gw-risk-in-force.yaml",
    )


def _startup(tmp_path: Path) -> dict[str, Any]:
    return [r for r in read_audit_log(tmp_path / "audit.jsonl") if r["event"] == "startup"][-1]


def _said(startup: dict[str, Any]) -> list[str]:
    """Return the startup record's warnings but the limits file's changes while down (listed as ever)."""
    return [w for w in startup["warnings"] if not w.startswith("the limits changed while the gateway was down")]


def _copy(tmp_path: Path) -> Path:
    return tmp_path / "state" / "gw-risk-in-force-start-positions.yaml"


def _restart(tmp_path: Path, limits: Path | None = None) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Start again: return ACC1's MSFT position, the startup record and the status."""
    engine = _load(tmp_path, limits)
    try:
        return engine.position("ACC1", "MSFT").position, _startup(tmp_path), engine.status()
    finally:
        engine.close()


def _first_day(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "sod.yaml").write_text(POSITIONS)
    engine = _load(tmp_path)
    assert engine.position("ACC1", "MSFT").position == 500
    engine.close()


def test_same_day_restart_when_limits_name_another_positions_file_then_applied_with_a_warning(tmp_path: Path) -> None:
    """rev49risk MEDIUM: start_positions_file now names another file: its positions replaced the day's, silently."""
    _first_day(tmp_path)
    other = POSITIONS.replace("500", "700")
    (tmp_path / "sod2.yaml").write_text(other)
    _write(tmp_path, "sod2.yaml")

    for _ in range(2):  # every restart of the day says it, never "the day's first start" of this one
        position, startup, status = _restart(tmp_path)
        assert position == 700
        [warning] = _said(startup)
        assert "start_positions_file names another file now" in warning and str(tmp_path / "sod.yaml") in warning
        notice = startup["start_positions"]
        assert notice["case"] == "other_file" and notice["in_force"]["sha256"] == _sha(other)
        assert notice["day_first"] == {
            "file": str(tmp_path / "sod.yaml"),
            "sha256": _sha(POSITIONS),
            "read_at": notice["day_first"]["read_at"],
            "copy": str(_copy(tmp_path)),
        }
        assert status["start_positions"]["warning"] == warning
        assert _copy(tmp_path).read_text() == POSITIONS  # the day's first read, kept


def test_same_day_restart_when_start_positions_file_removed_then_flat_with_a_warning(tmp_path: Path) -> None:
    """rev49risk MEDIUM: the reviewer's repro: the setting dropped mid-day, a restart started flat without a word."""
    _first_day(tmp_path)
    _write(tmp_path, None)
    for _ in range(2):
        position, startup, status = _restart(tmp_path)
        assert position == 0
        [warning] = _said(startup)
        assert warning.startswith("start_positions_file is not set now, but the day's first start read")
        assert startup["start_positions"]["case"] == "not_set" and status["start_positions"]["case"] == "not_set"
        assert _copy(tmp_path).read_text() == POSITIONS

    _write(tmp_path)  # named again: the day's first positions, nothing to say
    position, startup, status = _restart(tmp_path)
    assert position == 500 and _said(startup) == [] and status["start_positions"] is None


def test_same_day_restart_when_limits_file_moved_then_the_positions_beside_it_are_warned_about(tmp_path: Path) -> None:
    """rev49risk MEDIUM: risk/limits.yaml -> k8s/limits.yaml: `start-positions.yaml` is another file now."""
    _first_day(tmp_path)
    moved = _write(tmp_path / "k8s")
    (tmp_path / "k8s" / "sod.yaml").write_text(POSITIONS)  # the same content: the same positions
    position, startup, _ = _restart(tmp_path, moved)
    assert position == 500 and "start_positions" not in startup

    (tmp_path / "k8s" / "sod.new").write_text(POSITIONS.replace("500", "100"))
    (tmp_path / "k8s" / "sod.new").replace(tmp_path / "k8s" / "sod.yaml")  # mv: a complete file
    position, startup, _ = _restart(tmp_path, moved)
    assert position == 100 and startup["start_positions"]["case"] == "other_file"
    assert str(tmp_path / "sod.yaml") in _said(startup)[0]


def test_same_day_restart_when_the_first_start_read_no_positions_file_then_a_new_one_is_warned_about(
    tmp_path: Path,
) -> None:
    _write(tmp_path, None)
    _load(tmp_path).close()
    (tmp_path / "sod.yaml").write_text(POSITIONS)
    _write(tmp_path)
    position, startup, _ = _restart(tmp_path)
    assert position == 500 and startup["start_positions"]["case"] == "set_since"
    assert "the day's first start read no start_positions_file" in _said(startup)[0]


def test_same_day_restart_when_the_replacing_file_is_then_modified_in_place_then_the_replacement_stays(
    tmp_path: Path,
) -> None:
    """A file mv-ed over and read by a restart, then written in place: what that restart read stays in force."""
    _first_day(tmp_path)
    replacement = POSITIONS.replace("500", "700")
    (tmp_path / "sod.new").write_text(replacement)
    (tmp_path / "sod.new").replace(tmp_path / "sod.yaml")
    position, startup, _ = _restart(tmp_path)
    assert position == 700 and startup["start_positions"]["case"] == "replaced"
    assert "was replaced since the day's first start" in startup["warnings"][0]

    half = POSITIONS.replace("500", "7")
    with (tmp_path / "sod.yaml").open("r+") as handle:  # in place (same inode)
        handle.truncate(0)
        handle.write(half)
    position, startup, status = _restart(tmp_path)
    assert position == 700
    [flag] = status["not_applied"]
    assert flag["sha256"] == _sha(half)
    assert startup["start_positions"]["case"] == "modified_in_place"
    assert "NOT APPLIED" in startup["warnings"][0] and "the day's first start read" in startup["warnings"][0]
    assert _copy(tmp_path).read_text() == POSITIONS

    nextday = _load(tmp_path, wall_ns=WALL_NS + DAY_NS)  # a new session date reads the file as it is
    assert nextday.position("ACC1", "MSFT").position == 7 and nextday.status()["start_positions"] is None
    nextday.close()
    assert _copy(tmp_path).read_text() == half


def test_same_day_restart_when_modified_in_place_then_status_says_when_the_file_changed(tmp_path: Path) -> None:
    """rev49risk LOW: `was modified in place (since <time>)` gave the day's first start time, not the change's."""
    _first_day(tmp_path)
    with (tmp_path / "sod.yaml").open("r+") as handle:
        handle.truncate(0)
        handle.write(POSITIONS.replace("500", "50"))
    changed = datetime.datetime(2025, 6, 13, 15, 30, tzinfo=datetime.UTC)
    os.utime(tmp_path / "sod.yaml", (changed.timestamp(), changed.timestamp()))
    position, startup, status = _restart(tmp_path)
    assert position == 500
    [flag] = status["not_applied"]
    assert flag["since"] == "2025-06-13T15:30:00.000000Z"
    assert "(last at 2025-06-13T15:30:00.000000Z)" in startup["warnings"][0]
    note = json.loads((tmp_path / "state" / "gw-risk-in-force-start-positions.yaml.not-applied.json").read_text())
    assert note["since"] in flag["advice"]  # the start that read what is in force, named as such


@pytest.mark.parametrize(
    ("as_of", "stale"),
    [
        ("2025-06-12T20:00:00Z", False),  # Thursday's close, on Friday
        ("2025-06-10T20:00:00Z", True),  # Tuesday's (a close before Thursday in any time zone)
        ("2020-01-01T00:00:00Z", True),
    ],
)
def test_positions_as_of_older_than_the_last_close_then_warned_at_check_and_start(
    tmp_path: Path, as_of: str, stale: bool
) -> None:
    """rev49risk LOW: an old start-of-day positions file passed `risk check` and start-up without a word."""
    limits = _write(tmp_path)
    (tmp_path / "sod.yaml").write_text(POSITIONS.replace("2025-06-12T20:00:00Z", as_of))
    wall_now = datetime.datetime.fromtimestamp(WALL_NS / 1e9, tz=datetime.UTC)  # Friday 2025-06-13
    warnings = [w for w in read_limits(limits, wall_now).warnings if "as_of" in w]
    assert bool(warnings) == stale
    if stale:
        assert warnings[0].startswith(f"{tmp_path / 'sod.yaml'}:1:8: as_of: as_of {as_of} is older than the last close")
        _load(tmp_path).close()
        assert warnings[0] in _startup(tmp_path)["warnings"]


def test_positions_as_of_on_a_monday_when_fridays_close_then_not_stale(tmp_path: Path) -> None:
    limits = _write(tmp_path)
    (tmp_path / "sod.yaml").write_text(POSITIONS.replace("2025-06-12", "2025-06-13"))
    monday = datetime.datetime(2025, 6, 16, 14, tzinfo=datetime.UTC)
    assert not [w for w in read_limits(limits, monday).warnings if "as_of" in w]
    tuesday = monday + datetime.timedelta(days=1)
    assert [w for w in read_limits(limits, tuesday).warnings if "as_of" in w]


def test_check_when_positions_as_of_old_then_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    limits = _write(tmp_path)
    (tmp_path / "sod.yaml").write_text(POSITIONS.replace("2025-06-12T20:00:00Z", "2020-01-01T00:00:00Z"))
    assert main(["risk", "check", str(limits)]) == 0
    assert "as_of 2020-01-01T00:00:00Z is older than the last close" in capsys.readouterr().out


def test_aliases_and_anchors_when_in_any_risk_file_then_refused_at_each(tmp_path: Path) -> None:
    """rev49risk LOW: `ACC1: &a ... ACC2: *a` and `max_qty: *q` were accepted though merge keys are refused."""
    doc = yaml.safe_dump(merge(BASE_LIMITS, {}), sort_keys=False)
    aliased = doc.replace("max_qty: ", "max_qty: &q ", 1) + "symbols:\n  TSLA:\n    max_qty: *q\n"
    limits = tmp_path / "limits.yaml"
    limits.write_text(aliased)
    from risk.limitsfile import LimitsFileError

    with pytest.raises(LimitsFileError) as raised:
        read_limits(limits)
    lines = aliased.splitlines()
    anchor_line = next(i for i, line in enumerate(lines, 1) if "&q" in line)
    alias_line = next(i for i, line in enumerate(lines, 1) if "*q" in line)
    problems = [(p.line, p.message.split(" ")[1]) for p in raised.value.problems]
    assert problems == [(anchor_line, "anchors"), (alias_line, "aliases")]
    assert f"anchor &q at line {anchor_line}" in raised.value.problems[1].message

    positions = "as_of: 2025-06-12T20:00:00Z\naccounts:\n  ACC1: &a\n    MSFT: 5\n  ACC2: *a\n"
    parsed = parse_text(positions, "sod.yaml", StartPositionsDocument)
    assert [(p.line, p.column) for p in parsed.problems] == [(3, 9), (5, 9)] and parsed.value is None
    reference = "as_of: loaded\nprices:\n  AAPL: &p 100.0\n  MSFT: *p\n"
    parsed_ref = parse_text(reference, "ref.yaml", ReferencePriceDocument)
    assert [p.line for p in parsed_ref.problems] == [3, 4] and parsed_ref.value is None


def test_explain_when_strategy_or_symbol_has_no_entry_then_a_note_not_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """rev49risk LOW: `strategy=momentun` (misspelt) was explained without its overrides, silently."""
    doc = merge(BASE_LIMITS, {"strategies": {"momentum": {"max_qty": 5}}})
    limits = tmp_path / "limits.yaml"
    limits.write_text(yaml.safe_dump(doc, sort_keys=False))
    order = "account=ACC1 symbol=AAPL side=B qty=10 price=100.00 strategy=momentun"
    assert main(["risk", "explain", str(limits), "--order", order, "--reference-price", "100"]) == 0
    out = capsys.readouterr().out
    assert f"note: strategy momentun has no entry in {limits}" in out and "did you mean 'momentum'?" in out
    assert "note: symbol AAPL has no entry" in out

    order = "account=ACC1 symbol=AAPL side=B qty=10 price=100.00 strategy=momentum"
    assert main(["risk", "explain", str(limits), "--order", order, "--reference-price", "100"]) == 1  # max_qty 5
    assert "note: strategy" not in capsys.readouterr().out
