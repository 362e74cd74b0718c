"""``gateway risk reload`` whose copy of the limits in force cannot be written: applied, and it says so (exit 3).

Found by rev50ops (LOW): with ``state_dir`` full the gateway logged ``risk cannot write the copy of the limits
...`` and the command printed ``risk limits reloaded`` and exited 0; the copy is what a restart puts in force
while a limits file is held back (risk-officer-guide.md), and without it such a restart refuses to start.
Real processes: ``gateway sim ouch``, ``gateway run`` and the ``gateway`` CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from gateway.commands.risk_admin import EXIT_RELOAD_COPY_NOT_KEPT
from tests.reliability.support import GATEWAY, Gateway, Simulator, write_config


def _reload(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, "risk", "reload", "--config", str(config)], capture_output=True, text=True, timeout=90, check=False
    )


def _replace_limits(workdir: Path) -> None:
    """Change one limit the way the guide says: write a copy, ``mv`` it over the file."""
    limits = workdir / "limits.yaml"
    doc = yaml.safe_load(limits.read_text())
    doc["accounts"]["ACC1"] = {**(doc["accounts"]["ACC1"] or {}), "trading_state": "REDUCING"}
    fresh = workdir / "limits.yaml.new"
    fresh.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.replace(fresh, limits)


def test_reload_when_the_copy_of_the_limits_cannot_be_written_then_applied_exit_3_and_says_the_copy_is_not_kept(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    config = write_config(workdir, sim.port)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    copy = workdir / "var" / "state" / "rel-risk-in-force.yaml"
    assert copy.exists()
    blocker = copy.with_name(copy.name + ".next")
    blocker.mkdir()  # the copy's new content cannot be written (as on a full state_dir)
    owed = copy.with_name(copy.name + ".tmp")
    owed.mkdir()  # nor by the watch tick's rewrite of the owed copy (riskcopy57), before `status` asks

    _replace_limits(workdir)
    reloaded = _reload(config)
    assert reloaded.returncode == EXIT_RELOAD_COPY_NOT_KEPT == 3, (reloaded.stdout, reloaded.stderr)
    assert reloaded.stdout.startswith("risk limits reloaded (sha256 "), reloaded.stdout
    assert "risk reload APPLIED (the new limits are in force), but their copy in the state directory is NOT kept: " in (
        reloaded.stderr
    )
    assert f"cannot write the copy of the limits {blocker}" in reloaded.stderr
    assert (
        "ERROR   risk: risk reload applied (the new limits are in force), but their copy in the state directory is "
        f"NOT kept (cannot write the copy of the limits {blocker}: "
    ) in gateway.log_text()

    status = subprocess.run(
        [*GATEWAY, "status", "--config", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert "its copy in the state directory is NOT kept (cannot write the copy of the limits" in status.stdout, (
        status.stdout  # a reload by the file watch has no command to say it: `gateway status` does (rev55ops)
    )

    blocker.rmdir()  # room again: the next reload keeps its copy and exits 0
    owed.rmdir()
    again = _reload(config)
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert again.stderr == ""
    assert copy.exists()


def _chattr(flag: str, path: Path) -> bool:
    try:
        return subprocess.run(["chattr", flag, str(path)], capture_output=True, timeout=30, check=False).returncode == 0
    except OSError:
        return False


def test_reload_when_the_state_dir_is_immutable_then_applied_exit_3_not_refused(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """riskreload57 (rev57ops): ``chattr +i`` on ``state_dir`` (EPERM on every create and remove there) made the
    reload answer ``refused: PermissionError ...`` (exit 1) while the new limits were in force."""
    config = write_config(workdir, sim.port)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    state = workdir / "var" / "state"
    before = gateway.status()["risk"]["sha256"]
    if not _chattr("+i", state):
        pytest.skip("chattr +i refused here (not root, or the filesystem has no immutable flag)")
    try:
        _replace_limits(workdir)
        reloaded = _reload(config)
        status = gateway.status()["risk"]
    finally:
        _chattr("-i", state)
    assert reloaded.returncode == EXIT_RELOAD_COPY_NOT_KEPT, (reloaded.stdout, reloaded.stderr)  # was 1, "refused"
    assert reloaded.stdout.startswith("risk limits reloaded (sha256 "), reloaded.stdout
    assert "risk reload APPLIED (the new limits are in force), but their copy in the state directory is NOT kept: " in (
        reloaded.stderr
    )
    assert "Operation not permitted" in reloaded.stderr and "cannot be removed" in reloaded.stderr, reloaded.stderr
    assert status["sha256"] != before
    assert status["sha256"] == hashlib.sha256((workdir / "limits.yaml").read_bytes()).hexdigest()
    log = gateway.log_text()
    assert "risk limits reload failed" not in log and "old limits stay in force" not in log
    audit = [json.loads(line) for line in next(workdir.rglob("audit.jsonl")).read_text().splitlines()]
    events = [r["event"] for r in audit]
    assert events[events.index("reload") :][:2] == ["reload", "reload_copy_not_kept"], audit[-3:]

    assert gateway.stop() == 0  # writable again: the gateway wrote the copy again by then (riskcopy57)
    assert "risk the copies in force are kept again in " in gateway.log_text()
    logged = len(gateway.log_text())
    gateway.start()
    assert gateway.status()["risk"]["sha256"] == status["sha256"]
    restart = gateway.log_text()[logged:]
    assert "the limits changed while the gateway was down" not in restart, restart  # was: the reload's change
    assert "is stale" not in restart, restart  # the copy is what was in force: the audit log is not needed
    assert (state / "rel-risk-in-force.yaml").read_bytes() == (workdir / "limits.yaml").read_bytes()

    again = _reload(config)  # the copy is kept, exit 0
    assert again.returncode == 0, (again.stdout, again.stderr)
