"""The bench tools around the hot path: failures say why, and nothing is left in /tmp."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks import ab_hotpath, bench_hotpath, bench_replay_read
from gateway.journal import FileJournal
from model.fsync import FsyncPolicy
from tests.harness import Rig


def test_ab_child_when_it_fails_then_its_stderr_is_printed_before_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    script = "import sys; sys.stderr.write('the real reason: no build\\n'); sys.exit(3)"
    with pytest.raises(subprocess.CalledProcessError) as failed:
        ab_hotpath.child([sys.executable, "-c", script], cwd=Path.cwd())
    assert failed.value.returncode == 3
    err = capsys.readouterr().err
    assert "exited 3; its stderr:" in err and "the real reason: no build" in err
    assert ab_hotpath.child([sys.executable, "-c", "print(7)"]).stdout == "7\n"


def test_bench_hotpath_when_a_later_part_fails_then_its_work_directory_is_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(prefix: str = "", dir: str = "") -> str:
        path = real_mkdtemp(prefix=prefix, dir=str(tmp_path))
        made.append(Path(path))
        return path

    def broken(_orders: int, _workdir: Path) -> dict[str, dict[str, float]]:
        raise RuntimeError("FIX part failed")

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr(bench_hotpath, "run_fix", broken)
    with pytest.raises(RuntimeError, match="FIX part failed"):
        bench_hotpath.run(20, 10, False, as_json=True)
    assert len(made) == 1 and made[0].name.startswith("gwhot")
    assert not made[0].exists()  # the rig's journal (64 MiB) and the directory went with the failure


def test_replay_read_when_strategy_not_in_journal_then_clear_error_naming_the_ones_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "day.journal"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    rig.new_order(rig.connect("S1"), "A")
    rig.engine.flush()
    rig.engine.journal.close()
    assert bench_replay_read.main([str(path)]) == 2  # the default strategy "replayer" is not in it
    err = capsys.readouterr().err
    assert "strategy 'replayer' is not in" in err and "(its strategies: S1)" in err
    assert "GATEWAY_KEEP_WORKDIR=1" in err
