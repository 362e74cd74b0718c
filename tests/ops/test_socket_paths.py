"""Socket paths and the directories a dry run passed but the launch then failed on (opsfix33).

The ops review found ``gateway run`` unlinking whatever it could not connect to at a socket path (a typo,
``admin_socket: risk/limits.yaml``, deleted the risk limits), and dry runs that said OK for a launch that
then failed: a socket path too long for AF_UNIX, a socket path that is a directory, both sockets on one
path, and directories root may ``access`` but not ``mkdir`` in (sysfs: EPERM), including ``risk_audit_log``'s.
Each test uses real files, real sockets and the real ``gateway run`` / ``gateway launch --dry-run``.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from gateway.ops.launch import EXIT_REFUSED
from gateway.ops.paths import UNIX_PATH_MAX, check_directory, check_socket_path
from gateway.server import NotASocketError, prepare_socket_path
from tests.e2e.support import short_tmp
from tests.ops.conftest import LaunchRig
from tests.ops.test_launch_contract import DEPLOY_CONFIG, _config, _run
from tests.ops.test_startup_log_doc import _errors, documented

LIMITS_TEXT = (DEPLOY_CONFIG.parent / "risk" / "limits.yaml").read_text()


def _bound_and_closed(path: Path) -> None:
    """Leave a stale socket file at ``path``, as a gateway killed with SIGKILL does."""
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()


# ------------------------------------------------------------------ prepare_socket_path removes only a socket


def test_prepare_socket_path_when_a_regular_file_is_there_then_refused_and_the_file_is_kept(tmp_path: Path) -> None:
    limits = tmp_path / "limits.yaml"
    limits.write_text(LIMITS_TEXT)
    with pytest.raises(NotASocketError, match=r"limits\.yaml: exists and is not a socket"):
        prepare_socket_path(limits)
    assert limits.read_text() == LIMITS_TEXT


def test_prepare_socket_path_when_a_directory_or_a_symlink_is_there_then_refused_and_kept(tmp_path: Path) -> None:
    directory = tmp_path / "s.sock"
    directory.mkdir()
    with pytest.raises(NotASocketError):
        prepare_socket_path(directory)
    assert directory.is_dir()
    target = tmp_path / "real.sock"
    _bound_and_closed(target)
    link = tmp_path / "link.sock"
    link.symlink_to(target)
    with pytest.raises(NotASocketError):
        prepare_socket_path(link)
    assert link.is_symlink()


def test_prepare_socket_path_when_a_stale_socket_is_there_then_it_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    _bound_and_closed(path)
    assert prepare_socket_path(path) == path
    assert not path.exists()


# ------------------------------------------------------------------ the checks, one per setting


def test_check_socket_path_when_longer_than_sun_path_then_names_the_setting_and_the_limit(tmp_path: Path) -> None:
    fits = Path("/" + "x" * (UNIX_PATH_MAX - 1))
    assert check_socket_path("strategy_socket", fits) is None
    too_long = Path("/" + "x" * UNIX_PATH_MAX)
    assert check_socket_path("strategy_socket", too_long) == (
        f"strategy_socket {too_long}: 108 bytes, longer than the 107 bytes a Unix socket path may have"
    )
    with pytest.raises(OSError, match="too long"):  # the limit is the kernel's: one byte more does not bind
        socket.socket(socket.AF_UNIX).bind(str(too_long))


def test_check_directory_when_the_file_system_refuses_mkdir_then_the_dry_run_names_it() -> None:
    sysfs = Path("/sys/kernel")
    if not sysfs.is_dir():
        pytest.skip("no /sys/kernel on this machine")
    problem = check_directory("journal directory", sysfs / "gwjournal", create=False)
    assert problem is not None and problem.startswith(f"journal directory {sysfs / 'gwjournal'}: cannot be created")
    assert not (sysfs / "gwjournal").exists()


def test_check_directory_when_usable_then_the_dry_runs_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    assert check_directory("journal directory", tmp_path, create=False) is None
    assert check_directory("journal directory", tmp_path / "a" / "b", create=False) is None
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ gateway run and its dry run


def test_run_when_admin_socket_names_the_risk_limits_file_then_exits_1_and_the_file_is_kept(rig: LaunchRig) -> None:
    limits = rig.tmp / "limits.yaml"
    limits.write_text(LIMITS_TEXT)
    config = _config(rig.tmp, admin_socket=str(limits))  # a copy of the limits file: a typo names a real file
    dry = rig.launch("--dry-run", "--", "--config", str(config))
    assert dry.returncode == EXIT_REFUSED, dry.stdout
    assert f"refusing to start: admin_socket {limits}: exists and is not a socket" in dry.stderr
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1, run.stderr
    (error,) = _errors(run.stderr)
    assert error.endswith(f"failed to start: admin_socket {limits}: exists and is not a socket")
    assert documented(error), error
    assert limits.read_text() == LIMITS_TEXT
    assert not (rig.tmp / "run" / "s.sock").exists()  # refused before any socket was opened


def test_dry_run_when_strategy_socket_is_a_directory_then_exits_1_as_the_run_does(rig: LaunchRig) -> None:
    directory = rig.tmp / "sockdir"
    (directory / "keep").mkdir(parents=True)
    config = _config(rig.tmp, strategy_socket=str(directory))
    dry = rig.launch("--dry-run", "--", "--config", str(config))
    assert dry.returncode == EXIT_REFUSED
    assert f"refusing to start: strategy_socket {directory}: exists and is not a socket" in dry.stderr
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"failed to start: strategy_socket {directory}: exists and is not a socket" in run.stderr
    assert (directory / "keep").is_dir()


def test_dry_run_when_a_socket_path_is_too_long_then_exits_1_naming_the_setting(rig: LaunchRig) -> None:
    deep = rig.tmp / ("d" * 100) / "s.sock"
    config = _config(rig.tmp, strategy_socket=str(deep))
    dry = rig.launch("--dry-run", "--", "--config", str(config))
    assert dry.returncode == EXIT_REFUSED
    size = len(os.fsencode(deep))
    assert f"strategy_socket {deep}: {size} bytes, longer than the 107 bytes a Unix socket path may have" in (
        dry.stderr
    )
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    (error,) = _errors(run.stderr)
    assert f"strategy_socket {deep}: {size} bytes" in error and documented(error), error


def test_dry_run_when_both_sockets_are_one_path_then_exits_1_as_the_run_does(rig: LaunchRig) -> None:
    shared = rig.tmp / "run" / "s.sock"
    config = _config(rig.tmp, admin_socket=str(rig.tmp / "run" / ".." / "run" / "s.sock"))
    dry = rig.launch("--dry-run", "--", "--config", str(config))
    assert dry.returncode == EXIT_REFUSED
    assert "the same path as strategy_socket (each needs its own socket)" in dry.stderr
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1
    (error,) = _errors(run.stderr)
    assert "the same path as strategy_socket" in error and documented(error), error
    assert not shared.exists()


def test_dry_run_when_a_stale_socket_is_at_the_path_then_ok(rig: LaunchRig) -> None:
    workdir = short_tmp()  # a socket needs a short path
    config = _config(rig.tmp, strategy_socket=str(workdir / "s.sock"), admin_socket=str(workdir / "a.sock"))
    _bound_and_closed(workdir / "s.sock")
    dry = rig.launch("--dry-run", "--", "--config", str(config))
    assert dry.returncode == 0, dry.stderr


def test_dry_run_when_risk_audit_log_directory_cannot_be_created_then_exits_1_as_the_run_does(
    rig: LaunchRig,
) -> None:
    blocker = rig.tmp / "audit-file"
    blocker.write_text("in the way\n")
    config = _config(rig.tmp, risk_audit_log=str(blocker / "audit.jsonl"))
    dry = rig.launch("--dry-run", "--", "--config", str(config))
    assert dry.returncode == EXIT_REFUSED
    assert f"refusing to start: risk_audit_log directory {blocker}: exists and is not a directory" in dry.stderr
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    (error,) = _errors(run.stderr)
    assert f"failed to start: risk_audit_log directory {blocker}: " in error and documented(error), error


def test_dry_run_when_another_process_listens_on_a_socket_path_then_exits_1_as_the_run_does(rig: LaunchRig) -> None:
    # fixops35: the dry run said "nothing but a stale socket there" (exit 0) and the launch then exited 1
    workdir = short_tmp()
    config = _config(rig.tmp, strategy_socket=str(workdir / "s.sock"), admin_socket=str(workdir / "a.sock"))
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(workdir / "s.sock"))
    listener.listen(1)
    try:
        dry = rig.launch("--dry-run", "--", "--config", str(config))
        assert dry.returncode == EXIT_REFUSED, dry.stdout
        (error,) = _errors(dry.stderr)
        assert error.endswith(
            f"launch: refusing to start: strategy_socket {workdir / 's.sock'}: another process is listening on this"
            " socket"
        ), dry.stderr
        run = _run("run", "--config", str(config), cwd=rig.tmp)
        assert run.returncode == 1 and "Traceback" not in run.stderr
        (error,) = _errors(run.stderr)
        assert error.endswith(f"failed to start: {workdir / 's.sock'}: another process is listening on this socket")
        assert documented(error), error
        lines = run.stderr.splitlines()
        if "this refused start had created" in lines[-1]:  # fixboe54: then the directories it created are removed
            assert documented(lines.pop()), run.stderr
        last = lines[-1]  # fixops35: it said "gateway gw1 stopped", as if it had run
        assert last.endswith("did not start; closed what it had opened") and documented(last), run.stderr
        assert " stopped" not in run.stderr
        assert stat.S_ISSOCK(os.lstat(workdir / "s.sock").st_mode)  # left to its owner by both
    finally:
        listener.close()
    assert rig.launch("--dry-run", "--", "--config", str(config)).returncode == 0  # now stale: the launch may start


def test_run_when_a_later_directory_cannot_be_created_then_exits_1_and_creates_none_of_the_others(
    rig: LaunchRig,
) -> None:
    # rev53ops: state_dir on a read-only file system: exit 1 with the right words, but the journal, socket, audit
    # and venue directories checked before it were already created (empty) and left behind
    sysfs = Path("/sys/kernel")
    if not sysfs.is_dir():
        pytest.skip("no /sys/kernel on this machine")
    before = sorted(p.name for p in rig.tmp.iterdir())
    config = _config(rig.tmp, state_dir=str(sysfs / "gwstate"))
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    (error,) = _errors(run.stderr)
    assert f"failed to start: state_dir {sysfs / 'gwstate'}: cannot be created in {sysfs}: " in error, error
    assert documented(error), error
    assert sorted(p.name for p in rig.tmp.iterdir()) == sorted([*before, "gateway.yaml"])  # no journal/ run/ ...
    assert not (sysfs / "gwstate").exists()
