"""Fixtures: a simulator process and a gateway process in a short temporary directory."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import short_tmp
from tests.reliability.support import Gateway, Simulator


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A fresh directory with a path short enough for Unix sockets; removed afterwards."""
    path = short_tmp()
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def small_disk(workdir: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs at ``workdir/jdisk`` (unmounted afterwards); skip if this host does not let us mount."""
    mount = workdir / "jdisk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def sim(workdir: Path) -> Iterator[Simulator]:
    """``gateway sim ouch`` recording to ``workdir/venue-record.jsonl``."""
    simulator = Simulator(workdir)
    yield simulator
    simulator.stop()


@pytest.fixture
def gateways() -> Iterator[list[Gateway]]:
    """Gateways a test starts; each is stopped afterwards."""
    started: list[Gateway] = []
    yield started
    for gateway in started:
        gateway.stop()
