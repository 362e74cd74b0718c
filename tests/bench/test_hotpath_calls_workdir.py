"""The call count's work directories: a killed count's left-over is removed by the next count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks import hotpath_calls


def _dead_pid() -> int:
    """Return the pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sweep_removes_only_directories_of_processes_that_are_gone(tmp_path: Path) -> None:
    prefix = hotpath_calls.WORKDIR_PREFIX
    gone = tmp_path / f"{prefix}{_dead_pid()}-abc"
    mine = tmp_path / f"{prefix}{os.getpid()}-def"
    unparsable = tmp_path / f"{prefix}x1-ghi"
    unrelated = tmp_path / "gwother-1-jkl"
    for workdir in (gone, mine, unparsable, unrelated):
        (workdir / "journal").mkdir(parents=True)
        (workdir / "journal" / "segment").write_bytes(b"x" * 100)

    removed = hotpath_calls._sweep_left_overs(tmp_path)

    assert removed == [gone]
    assert not gone.exists()
    assert mine.exists() and unparsable.exists() and unrelated.exists()
