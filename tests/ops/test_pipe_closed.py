"""`gateway doctor` and `gateway launch --dry-run` piped into a reader that is gone: exit 141 quietly (rev48ops).

Both ended in a BrokenPipeError traceback and exit 1, which for them means a check FAILED or the gateway could
not start (docs/ops-guide.md, exit codes); the risk commands already exit 141 (128 + SIGPIPE) without a word.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.commands.output import EXIT_PIPE_CLOSED
from tests.ops.conftest import LaunchRig

REPO = Path(__file__).resolve().parents[2]
REPO_CONFIG = str(REPO / "deploy" / "gateway.yaml")


def _reader_gone(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str]:
    """Run ``python -m gateway ARGV`` with its stdout's reader gone before the first byte; return (code, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| true`: the reader is gone
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(60), err


def test_doctor_when_the_reader_is_gone_then_exit_141_and_no_traceback(tmp_path: Path) -> None:
    for argv in (["doctor", "--json", "--host-root", str(tmp_path)], ["doctor", "--host-root", str(tmp_path)]):
        code, err = _reader_gone(argv)
        assert code == EXIT_PIPE_CLOSED, err
        assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_launch_dry_run_when_the_reader_is_gone_then_exit_141_and_no_traceback(rig: LaunchRig) -> None:
    argv = ["launch", "--python", str(rig.child), "--dry-run", "--", "--config", REPO_CONFIG]
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *argv],
        env=rig.env(),
        cwd=rig.tmp,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr  # the same dry run, read: it prints and succeeds
    code, err = _reader_gone(argv, rig.env(), rig.tmp)
    assert code == EXIT_PIPE_CLOSED, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert rig.record(rig.child_record) is None  # nothing was run
