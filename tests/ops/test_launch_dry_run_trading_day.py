"""``gateway launch --dry-run`` says a start would be refused for its trading day, as ``gateway run`` does (risk56).

day55 made ``gateway run`` refuse to start while a venue's trading day is not the journal's (``journal.timezone``,
exit 2), or while the journal this gateway began last is of a later date (exit 1); the dry run, which ops run before
a start to learn whether it would be refused, printed the plan and exited 0. Each test runs the real commands on a
copy of deploy/ with one change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENUE_ZONE = "Pacific/Pago_Pago"
"""UTC-11: the OUCH venue's trading day."""
JOURNAL_ZONE = "Pacific/Kiritimati"
"""UTC+14, 25 hours ahead: its date is never the venue's."""


def _deploy_copy(tmp: Path, *changes: tuple[str, str]) -> Path:
    (tmp / "deploy").mkdir()
    shutil.copytree(DEPLOY / "risk", tmp / "deploy" / "risk")
    text = (DEPLOY / "gateway.yaml").read_text()
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    config = tmp / "deploy" / "gateway.yaml"
    config.write_text(text)
    return config


def _gateway(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run this tree's ``gateway`` (not the one the interpreter has installed) in ``cwd``."""
    argv = [sys.executable, "-m", "gateway", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd, env=env, check=False)


def _said(stderr: str, prefix: str) -> str:
    [line] = [line for line in stderr.splitlines() if prefix in line]
    return line.split(prefix, 1)[1]


def test_dry_run_when_the_journals_trading_day_is_not_the_venues_then_refused_as_the_run_is(tmp_path: Path) -> None:
    config = _deploy_copy(
        tmp_path,
        ("    state_dir: ../var/ouch ", f"    timezone: {VENUE_ZONE}\n    state_dir: ../var/ouch "),
        ("\n  fsync: interval ", f"\n  timezone: {JOURNAL_ZONE}\n  fsync: interval "),
    )
    dry = _gateway("launch", "--dry-run", "--", "--config", str(config), cwd=tmp_path)
    run = _gateway("run", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    refusal = _said(run.stderr, "gw1 failed to start: ")
    assert "the journal's trading day is" in refusal and f"venues[OUCH].timezone: {VENUE_ZONE}" in refusal
    assert dry.returncode == 2, (dry.returncode, dry.stderr)  # the old code: 0, the plan printed
    assert _said(dry.stderr, "launch: refusing to start: ") == refusal
    assert dry.stdout == ""  # no plan


def test_dry_run_when_the_journal_begun_last_is_of_a_later_date_then_refused_as_the_run_is(tmp_path: Path) -> None:
    config = _deploy_copy(tmp_path)
    journal = tmp_path / "var" / "journal" / "gw1-29991231.journal"  # begun by a host ahead of the venues' day
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b"")
    (tmp_path / "var" / "state").mkdir(parents=True)
    (tmp_path / "var" / "state" / "gw1.journal-begun").write_text(f"{journal}\n")
    dry = _gateway("launch", "--dry-run", "--", "--config", str(config), cwd=tmp_path)
    run = _gateway("run", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    refusal = _said(run.stderr, "gw1 failed to start: ")
    assert "this gateway began last is dated 29991231" in refusal
    assert dry.returncode == 1, (dry.returncode, dry.stderr)  # the old code: 0
    assert _said(dry.stderr, "launch: refusing to start: ") == refusal
    assert dry.stdout == ""


def test_dry_run_when_the_trading_days_agree_then_the_plan_is_printed(tmp_path: Path) -> None:
    config = _deploy_copy(tmp_path, ("\n  fsync: interval ", "\n  timezone: auto\n  fsync: interval "))
    dry = _gateway("launch", "--dry-run", "--", "--config", str(config), cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "refusing" not in dry.stderr
