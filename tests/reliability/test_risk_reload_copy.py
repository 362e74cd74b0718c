"""``gateway risk reload`` whose copy of the limits in force cannot be written: applied, and it says so (exit 3).

Found by rev50ops (LOW): with ``state_dir`` full the gateway logged ``risk cannot write the copy of the limits
...`` and the command printed ``risk limits reloaded`` and exited 0; the copy is what a restart puts in force
while a limits file is held back (risk-officer-guide.md), and without it such a restart refuses to start.
Real processes: ``gateway sim ouch``, ``gateway run`` and the ``gateway`` CLI.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

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
    again = _reload(config)
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert again.stderr == ""
    assert copy.exists()
