"""The disk-space signal (ops55): free bytes of each written directory, and the files' short growths, in metrics.

Found by an ops review: the journal's short growth step took the last free space of a shared disk (then the risk
limits' in-force copies failed with ENOSPC while ``gateway_journal_healthy`` was 1), and the "disk is nearly full"
WARNING, the early signal (docs/reliability.md 2.3a), had no ``gateway_*`` series and no alert. Now a timer samples
the free space (``gateway_disk_free_bytes``) and the journal and FIX stores count their short growths
(``gateway_disk_short_growths_total``); alert ``GatewayDiskNearlyFull`` (its promtool test:
deploy/prometheus/gateway-alerts.test.yaml).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.commands.admin import format_status
from gateway.disk_watch import DiskWatch
from gateway.journal import JTradingState, MmapJournal
from model.fsync import FsyncPolicy
from tests.e2e.support import gateway_metrics, running_gateway, short_tmp


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs; skip if this host does not let us mount."""
    mount = tmp_path / "disk"
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


def test_disk_watch_when_a_directory_is_on_a_nearly_full_disk_then_its_free_bytes_are_the_least(
    tmp_path: Path, tiny_disk: Path
) -> None:
    watch = DiskWatch([("journal directory", tiny_disk), ("state_dir", tmp_path), ("venue X state_dir", tiny_disk)])
    assert watch.least_free == -1  # not sampled yet
    watch.check()
    assert len(watch.disks) == 2  # one row per directory
    assert 0 < watch.least_free <= 2 << 20
    (tiny_disk / "filler").write_bytes(b"x" * (1 << 20))
    watch.check()
    assert watch.least_free <= 1 << 20
    rows = {row["setting"]: row for row in watch.status()}
    assert rows["journal directory"]["free_bytes"] == watch.least_free
    assert isinstance(rows["state_dir"]["free_bytes"], int) and rows["state_dir"]["free_bytes"] > watch.least_free


def test_disk_watch_when_a_directory_is_gone_then_its_error_and_no_free_space_kept(tmp_path: Path) -> None:
    """rev56merge2: the last sample was kept, so metrics and status went on showing a free space nobody knew."""
    gone = tmp_path / "gone"
    gone.mkdir()
    watch = DiskWatch([("state_dir", gone)])
    watch.check()
    assert watch.least_free > 0
    gone.rmdir()
    watch.check()
    (row,) = watch.status()
    assert row["error"] and row["free_bytes"] == -1 and watch.least_free == -1
    assert watch.metrics() == {"disk_unreadable": 1.0}


def test_journal_short_growths_when_the_step_does_not_fit_then_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real: Callable[[int, int, int], None] = os.posix_fallocate

    def fallocate(fd: int, offset: int, length: int) -> None:  # room for 3 pages, not for a 1 MiB step
        if length > 3 * 4096:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", fallocate)
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE, grow_bytes=1 << 20)
    journal.append(JTradingState("ACC1", "ACTIVE", "ops", "x"))
    journal.flush()
    assert journal.short_growths == 1
    journal.close()


def test_status_text_when_disks_sampled_then_the_least_free_named() -> None:
    text = format_status(
        {
            "disks": [
                {"setting": "state_dir", "path": "/var/state", "free_bytes": 5 << 30, "error": ""},
                {"setting": "venue EQX store_dir", "path": "/var/fix", "free_bytes": 3 << 20, "error": ""},
            ],
            "disk_short_growths": 2,
        }
    )
    (line,) = [line for line in text.splitlines() if line.startswith("disks:")]
    assert line == "disks: least free 3 MiB (venue EQX store_dir /var/fix), 2 short growths: the disk is nearly full"


def test_disk_watch_metrics_when_no_directory_can_be_read_then_no_free_bytes_and_the_count_unreadable(
    tmp_path: Path,
) -> None:
    """texts56: the free space of no directory known is no ``disk_free_bytes`` at all (it was -1, which paged
    GatewayDiskNearlyFull), and ``disk_unreadable`` counts the directories whose ``statvfs`` failed."""
    watch = DiskWatch([("state_dir", tmp_path / "gone"), ("journal directory", tmp_path / "gone too")])
    watch.check()
    assert watch.metrics() == {"disk_unreadable": 2.0}
    (tmp_path / "gone").mkdir()
    watch.check()
    metrics = watch.metrics()
    assert metrics["disk_unreadable"] == 1.0 and metrics["disk_free_bytes"] > 0


async def test_gateway_metrics_when_statvfs_fails_on_every_directory_then_unreadable_and_never_a_negative_free_space(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real gateway whose disk watch cannot read any directory (``statvfs`` fails for it, as on an unmounted or
    vanished file system), read through ``gateway metrics`` and prometheus_client's parser: no
    ``gateway_disk_free_bytes`` sample (before texts56: -1, below GatewayDiskNearlyFull's threshold, so it paged
    "nearly full"), ``gateway_disk_unreadable`` the number of directories."""
    real = os.statvfs

    def statvfs(path: Any) -> os.statvfs_result:
        if sys._getframe(1).f_globals.get("__name__") == "gateway.disk_watch":  # the watch's samples only
            raise OSError(errno.EIO, "Input/output error")
        return real(path)

    monkeypatch.setattr(os, "statvfs", statvfs)
    async with running_gateway(short_tmp()) as (process, _sim):
        samples = await gateway_metrics(process.config)
    assert "gateway_disk_free_bytes" not in samples, samples.get("gateway_disk_free_bytes")
    ((labels, unreadable),) = samples["gateway_disk_unreadable"]
    assert labels == {} and unreadable == len(process._disks.disks) >= 2


def test_status_text_when_a_directory_cannot_be_read_then_said_apart_from_the_least_free() -> None:
    text = format_status(
        {
            "disks": [
                {"setting": "state_dir", "path": "/var/state", "free_bytes": 5 << 30, "error": ""},
                {"setting": "venue EQX store_dir", "path": "/var/fix", "free_bytes": -1, "error": "Input/output error"},
            ],
            "disk_short_growths": 0,
        }
    )
    assert [line for line in text.splitlines() if line.startswith("disks:")] == [
        "disks: least free 5120 MiB (state_dir /var/state)",
        "disks: the free space of 1 cannot be read (venue EQX store_dir /var/fix: Input/output error)",
    ]
