"""``gateway launch --dry-run`` refuses a directory on a full file system, with the words the launch uses (killstop56).

Ops guide section 1: a dry run that succeeds means the launch will start. The dry run created a scratch directory
in each directory the gateway writes in, which a full file system still allows (a tmpfs; ext4's blocks reserved for
root): on a full 1 MiB tmpfs it exited 0, then the launch exited 1, ``[Errno 28] No space left on device:
.../gateway.lock`` (rev56ops). Now it also writes and fsyncs one byte there, and exits 1 naming the directory.
Real commands on a real tmpfs (skipped where mounting is not permitted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PORT = 49410  # killstop56's range: nothing listens there (the start is refused before any venue connects)

CONFIG = """\
gateway_id: gwfull
strategy_socket: var/run/strategies.sock
admin_socket: var/run/admin.sock
state_dir: var/state
loop: asyncio
risk_limits: risk/limits.yaml
risk_audit_log: var/audit/risk-audit.jsonl
journal:
  directory: {journal}
strategies:
  demo:
    accounts: [ACC1, ACC2, FUND7]
  momentum:
    accounts: [PROP3]
venues:
  - protocol: ouch
    name: OUCH
    host: 127.0.0.1
    port: {port}
    username: USER
    password: PASS
    state_dir: var/ouch
"""


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs at ``tmp_path/disk``, filled to the last block (unmounted afterwards)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)]
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:  # ENOSPC: full
            pass
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _gateway(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run this tree's ``gateway`` (not the one the interpreter has installed)."""
    argv = [sys.executable, "-m", "gateway", *args, "--", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=config.parent, env=env, check=False)


@pytest.mark.parametrize("exists", [True, False])
def test_dry_run_when_the_journal_directory_is_on_a_full_disk_then_refused_as_the_launch_is(
    tmp_path: Path, full_disk: Path, exists: bool
) -> None:
    journal = full_disk / "journal"
    if exists:
        journal.mkdir()  # a directory needs no data block on a tmpfs: made on the full disk all the same
    shutil.copytree(REPO / "deploy" / "risk", tmp_path / "risk")
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG.format(journal=journal, port=PORT))
    before = sorted(p.name for p in full_disk.rglob("*"))

    dry = _gateway(config, "launch", "--dry-run")
    assert sorted(p.name for p in full_disk.rglob("*")) == before  # the dry run left nothing on the disk
    launch = _gateway(config, "launch")

    assert dry.returncode == 1, (dry.returncode, dry.stdout, dry.stderr)  # the old code: 0
    where = "" if exists else f"cannot be created in {full_disk}: "
    said = f"journal directory {journal}: {where}No space left on device"
    assert said in dry.stdout + dry.stderr, (dry.stdout, dry.stderr)
    assert launch.returncode == 1, launch.stderr  # what the dry run foretold
    assert f"No space left on device: {journal / 'gateway.lock'}" in launch.stderr, launch.stderr
