"""What the ops guide promises about ``gateway launch``: a dry run that succeeds means the launch starts; exit codes.

Run as ops run it (a fake ``onload`` on PATH, a fake ``/sys`` by ``--host-root``), with the real
``gateway run`` behind the launcher where the gateway's own decision is what is tested.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.journal_lock import lock_journal_directory
from gateway.ops.launch import EXIT_EXEC_FAILED, EXIT_REFUSED, EXIT_USAGE
from tests.ops.conftest import LaunchRig

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONFIG = REPO / "deploy" / "gateway.yaml"


def _config(tmp: Path, **changes: Any) -> Path:
    """Write deploy/gateway.yaml with every path under ``tmp`` (absolute) and ``changes`` applied."""
    config = yaml.safe_load(DEPLOY_CONFIG.read_text())
    config.update(
        strategy_socket=str(tmp / "run" / "s.sock"),
        admin_socket=str(tmp / "run" / "a.sock"),
        state_dir=str(tmp / "state"),
        risk_audit_log=str(tmp / "audit" / "audit.jsonl"),
        risk_limits=str(DEPLOY_CONFIG.parent / "risk" / "limits.yaml"),
    )
    config["journal"]["directory"] = str(tmp / "journal")
    for venue in config["venues"]:
        venue["state_dir"] = str(tmp / "ouch")
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            config[section][field] = value
        else:
            config[section] = value
    path = tmp / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd, env=env, check=False)


# ------------------------------------------------------------------ the dry run checks what the launch needs


def test_dry_run_when_journal_directory_is_a_regular_file_then_exits_1_naming_the_setting(rig: LaunchRig) -> None:
    config = _config(rig.tmp)
    (rig.tmp / "journal").write_text("not a directory\n")
    result = rig.launch("--dry-run", "--", "--config", str(config))
    assert result.returncode == EXIT_REFUSED, result.stdout
    assert f"refusing to start: journal directory {rig.tmp / 'journal'}: exists and is not a directory" in (
        result.stderr
    )
    assert result.stdout == ""
    # and the gateway itself says which setting, not a bare "[Errno 17] File exists", in the dry run's words
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1, run.stderr
    assert f"failed to start: journal directory {rig.tmp / 'journal'}: " in run.stderr
    assert "Traceback" not in run.stderr


def test_dry_run_when_journal_directory_cannot_be_created_then_exits_1_and_the_run_names_it(rig: LaunchRig) -> None:
    blocker = rig.tmp / "var"
    blocker.write_text("a file where a directory should be\n")
    journal = blocker / "journal"
    config = _config(rig.tmp, journal__directory=str(journal))
    result = rig.launch("--dry-run", "--", "--config", str(config))
    assert result.returncode == EXIT_REFUSED, result.stdout
    assert f"journal directory {journal}: cannot be created, {blocker} is not a directory" in result.stderr
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1, run.stderr
    assert f"failed to start: journal directory {journal}: cannot be created, {blocker} is not a directory" in (
        run.stderr
    )


def test_dry_run_when_journal_directory_not_writable_then_exits_1(rig: LaunchRig) -> None:
    unwritable = Path("/proc/sys")  # not writable even by root: no entry can be created there
    if os.access(unwritable, os.W_OK):
        pytest.skip(f"{unwritable} is writable here")
    journal = unwritable / "gateway-journal"
    result = rig.launch("--dry-run", "--", "--config", str(_config(rig.tmp, journal__directory=str(journal))))
    assert result.returncode == EXIT_REFUSED, result.stdout
    assert f"journal directory {journal}: cannot be created in {unwritable}: " in result.stderr


def test_dry_run_when_socket_directory_is_a_file_then_exits_1_naming_the_setting(rig: LaunchRig) -> None:
    (rig.tmp / "run").write_text("")
    result = rig.launch("--dry-run", "--", "--config", str(_config(rig.tmp)))
    assert result.returncode == EXIT_REFUSED, result.stdout
    assert f"strategy_socket directory {rig.tmp / 'run'}: exists and is not a directory" in result.stderr
    assert f"admin_socket directory {rig.tmp / 'run'}: exists and is not a directory" in result.stderr


def test_dry_run_when_a_gateway_holds_the_journal_then_exits_1_naming_its_pid(rig: LaunchRig) -> None:
    config = _config(rig.tmp)
    lock = lock_journal_directory(rig.tmp / "journal")  # as a running gateway holds it (this process's pid)
    try:
        result = rig.launch("--dry-run", "--", "--config", str(config))
    finally:
        lock.release()
    assert result.returncode == EXIT_REFUSED, result.stdout
    assert f"journal directory {rig.tmp / 'journal'} is in use by another gateway (pid {os.getpid()}" in result.stderr
    assert rig.launch("--dry-run", "--", "--config", str(config)).returncode == 0  # released: the launch may start


@pytest.mark.parametrize("bad", ["profile", "python"])
def test_dry_run_when_a_gateway_holds_the_journal_and_a_flag_is_wrong_then_the_flag_is_named_first(
    rig: LaunchRig, bad: str
) -> None:
    config = _config(rig.tmp)
    flag = ["--profile", "nosuch"] if bad == "profile" else ["--python", str(rig.tmp / "nonexistent")]
    lock = lock_journal_directory(rig.tmp / "journal")  # a running gateway: the old code said only "in use"
    try:
        result = rig.launch(*flag, "--dry-run", "--", "--config", str(config))
    finally:
        lock.release()
    if bad == "profile":
        assert result.returncode == EXIT_USAGE and "unknown profile 'nosuch'" in result.stderr
    else:
        assert result.returncode == EXIT_EXEC_FAILED and "nonexistent: not an executable file" in result.stderr
    assert "in use by another gateway" not in result.stderr


def test_dry_run_when_directories_usable_then_exits_0_lists_what_it_checked_and_creates_nothing(
    rig: LaunchRig,
) -> None:
    config = _config(rig.tmp)
    result = rig.launch("--dry-run", "--", "--config", str(config))
    assert result.returncode == 0, result.stderr
    tmp = rig.tmp
    assert result.stdout.splitlines()[:5] == [
        f"config: {config} (gateway config, venues and risk limits load)",
        "  directories (each exists or can be created, and this user can create files in it): "
        f"journal directory {tmp / 'journal'}, strategy_socket directory {tmp / 'run'}, "
        f"admin_socket directory {tmp / 'run'}, risk_audit_log directory {tmp / 'audit'}, "
        f"state_dir {tmp / 'state'}, venue OUCH state_dir {tmp / 'ouch'}",
        "  socket paths (each fits a Unix socket path, nothing there or a stale socket no process listens on): "
        f"strategy_socket {tmp / 'run' / 's.sock'}, admin_socket {tmp / 'run' / 'a.sock'}",
        f"  journal {tmp / 'journal'}: not in use by a running gateway",
        f"  state directories (state_dir {tmp / 'state'}, venue OUCH state_dir {tmp / 'ouch'}): "
        "not in use by a running gateway",
    ], result.stdout
    assert [name for name in ("journal", "run", "audit", "state", "ouch") if (tmp / name).exists()] == []


@pytest.mark.parametrize("setting", ["state_dir", "venue OUCH state_dir"])
def test_dry_run_when_a_state_directory_is_a_regular_file_then_exits_1_and_the_run_names_it(
    rig: LaunchRig, setting: str
) -> None:
    """polish34: the dry run did not look at the gateway's nor the OUCH venue's state_dir."""
    blocker = rig.tmp / "blocker"
    blocker.write_text("a file where a directory should be\n")
    if setting == "state_dir":
        config = _config(rig.tmp, state_dir=str(blocker))
    else:
        config = _config(rig.tmp)
        document = yaml.safe_load(config.read_text())
        document["venues"][0]["state_dir"] = str(blocker)
        config.write_text(yaml.safe_dump(document))
    result = rig.launch("--dry-run", "--", "--config", str(config))
    assert result.returncode == EXIT_REFUSED, result.stdout
    assert f"refusing to start: {setting} {blocker}: exists and is not a directory" in result.stderr
    assert result.stdout == ""
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1, run.stderr
    assert f"failed to start: {setting} {blocker}: exists and is not a directory" in run.stderr  # before anything
    assert "Traceback" not in run.stderr


def test_dry_run_when_ouch_state_dir_cannot_be_created_then_exits_1_naming_the_venue(rig: LaunchRig) -> None:
    unwritable = Path("/proc/sys")  # not writable even by root: no entry can be created there
    if os.access(unwritable, os.W_OK):
        pytest.skip(f"{unwritable} is writable here")
    config = _config(rig.tmp)
    document = yaml.safe_load(config.read_text())
    document["venues"][0]["state_dir"] = str(unwritable / "gateway-ouch")
    config.write_text(yaml.safe_dump(document))
    result = rig.launch("--dry-run", "--", "--config", str(config))
    assert result.returncode == EXIT_REFUSED, result.stdout
    assert f"venue OUCH state_dir {unwritable / 'gateway-ouch'}: cannot be created in {unwritable}: " in result.stderr


def test_dry_run_when_ouch_state_dir_relative_then_checked_where_the_gateway_puts_it(rig: LaunchRig) -> None:
    """A relative ``state_dir`` is resolved against the config file's directory, as ``gateway run`` does."""
    config = _config(rig.tmp)
    document = yaml.safe_load(config.read_text())
    document["venues"][0]["state_dir"] = "var/ouch"
    config.write_text(yaml.safe_dump(document))
    (rig.tmp / "var").write_text("a file where a directory should be\n")
    result = rig.launch("--dry-run", "--", "--config", str(config))
    assert result.returncode == EXIT_REFUSED, result.stdout
    assert f"venue OUCH state_dir {rig.tmp / 'var' / 'ouch'}: cannot be created, {rig.tmp / 'var'} is not a " in (
        result.stderr
    )


def test_dry_run_when_profile_imports_an_onload_profile_missing_on_the_host_then_exits_1(rig: LaunchRig) -> None:
    rig.install_onload()
    rig.load_driver()
    result = rig.launch("--dry-run", "--", "--config", str(_config(rig.tmp)))
    assert result.returncode == EXIT_REFUSED, result.stdout
    assert "refusing to start: the profile gateway-latency imports latency, not found in Onload's profile" in (
        result.stderr
    )
    assert "onload would stop with 'Cannot find profile'" in result.stderr
    assert "mode:" not in result.stdout and "exec:" not in result.stdout
    rig.install_onload_profiles()  # the host's Onload install is complete: the same dry run passes
    result = rig.launch("--dry-run", "--", "--config", str(_config(rig.tmp)))
    assert result.returncode == 0, result.stderr
    assert "mode: onload" in result.stdout.splitlines()


def test_launch_when_profile_imports_an_onload_profile_missing_on_the_host_then_refused_as_the_dry_run(
    rig: LaunchRig,
) -> None:
    """opsfix31: the launch only warned and exec'd onload, which stops with "Cannot find profile"."""
    rig.install_onload()
    rig.load_driver()
    config = str(_config(rig.tmp))
    dry = rig.launch("--dry-run", "--", "--config", config)
    launched = rig.launch("--", "--config", config)
    assert launched.returncode == dry.returncode == EXIT_REFUSED, launched.stderr

    def refusal(stderr: str) -> list[str]:
        return [line.split(": ", 1)[1] for line in stderr.splitlines() if " ERROR " in line]

    (said,) = refusal(launched.stderr)
    assert said.startswith(
        "launch: refusing to start: the profile gateway-latency imports latency, not found in Onload's profile"
        f" directories on this host ({rig.host_root}"
    )
    assert said.endswith(f"{rig.host_root}/usr/libexec/onload/profiles): onload would stop with 'Cannot find profile'")
    assert refusal(dry.stderr) == [said]  # the same words as the dry run
    assert rig.record(rig.onload_record) is None and rig.record(rig.child_record) is None  # nothing exec'd
    rig.install_onload_profiles()  # the host's Onload install is complete: the launch execs onload
    launched = rig.launch("--", "--config", config)
    assert launched.returncode == 0, launched.stderr
    seen = rig.record(rig.onload_record)
    assert seen is not None and seen["argv"][0].startswith("--profile=")
    assert rig.record(rig.child_record) is not None


# ------------------------------------------------------------------ a bad config is exit 2 on every path


@pytest.mark.parametrize("how", ["run", "launch", "dry-run"])
def test_bad_config_when_started_any_way_then_exits_2(rig: LaunchRig, how: str) -> None:
    spin = yaml.safe_load(DEPLOY_CONFIG.read_text())["spin"]
    bad_value = _config(rig.tmp, spin={**spin, "loop_spin_us": "x"})
    for config, words in ((str(bad_value), "spin.loop_spin_us"), ("/nonexist.yaml", "cannot read config")):
        if how == "run":
            result = _run("run", "--config", config, cwd=rig.tmp)
        else:
            dry = ["--dry-run"] if how == "dry-run" else []
            result = rig.launch("--python", sys.executable, *dry, "--", "--config", config)
        assert result.returncode == EXIT_USAGE, result.stderr
        assert words in result.stderr
        assert "Traceback" not in result.stderr


# --------------------------------------------------- strict / require: Onload chosen but not in the process


@pytest.mark.parametrize("flag", ["--strict-acceleration", "--require-onload"])
def test_launch_when_onload_chosen_but_libonload_not_loaded_then_the_gateway_refuses(rig: LaunchRig, flag: str) -> None:
    rig.install_onload()  # a stand-in that execs the gateway without preloading libonload
    rig.load_driver()
    rig.install_onload_profiles()
    config = _config(rig.tmp)
    argv = [sys.executable, "-m", "gateway", "launch", "--python", sys.executable, flag, "--", "--config", str(config)]
    proc = subprocess.Popen(argv, env=rig.env(), cwd=rig.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        pytest.fail(f"the gateway ran on kernel sockets with {flag}:\n{stderr}")
    assert proc.returncode == 1, stderr
    errors = [line for line in stderr.splitlines() if " ERROR " in line and "acceleration:" in line]
    assert len(errors) == 1, stderr
    assert f"{flag}: the launcher chose onload but libonload.so not loaded in this process" in errors[0]
    assert "refusing to trade on kernel sockets" in errors[0]
    assert "socket fd" not in stderr  # no venue connected
    assert not (rig.tmp / "journal").exists() or not any((rig.tmp / "journal").iterdir())


# ------------------------------------------------------------------ numeric flags


@pytest.mark.parametrize("value", ["-3", "nan", "inf", "ten", "1e9"])
def test_launch_when_wait_for_onload_invalid_then_exits_2_and_says_why(rig: LaunchRig, value: str) -> None:
    for dry in (["--dry-run"], []):
        result = rig.launch(*dry, f"--wait-for-onload={value}", "--", "--config", str(DEPLOY_CONFIG))
        assert result.returncode == EXIT_USAGE, result.stderr
        assert "argument --wait-for-onload: expected" in result.stderr
        assert repr(value) in result.stderr
        assert rig.record(rig.child_record) is None


def _refusal(stderr: str, marker: str) -> str:
    """Return the text after ``marker`` on the one ERROR line of ``stderr`` that has it."""
    (line,) = [line for line in stderr.splitlines() if " ERROR " in line and marker in line]
    return line.split(marker, 1)[1]


@pytest.mark.parametrize("case", ["file", "parent is a file", "procfs", "sysfs"])
def test_run_when_a_directory_cannot_be_used_then_it_stops_with_the_dry_runs_words(rig: LaunchRig, case: str) -> None:
    # fixops35: the run said "File exists", "Not a directory", "No such file or directory" (procfs) where the
    # dry run said "exists and is not a directory", "cannot be created, X is not a directory", "Permission denied"
    blocker = rig.tmp / "blocker"
    blocker.write_text("a file where a directory should be\n")
    where = {
        "file": blocker,
        "parent is a file": blocker / "journal",
        "procfs": Path("/proc/sys/gwjournal"),
        "sysfs": Path("/sys/kernel/gwjournal"),
    }[case]
    if not where.parent.is_dir() and case in ("procfs", "sysfs"):
        pytest.skip(f"no {where.parent} on this machine")
    config = _config(rig.tmp, journal__directory=str(where))
    dry = rig.launch("--dry-run", "--", "--config", str(config))
    assert dry.returncode == EXIT_REFUSED, dry.stdout
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1, run.stderr
    said = _refusal(dry.stderr, "launch: refusing to start: ")
    assert said.startswith(f"journal directory {where}: ")
    assert _refusal(run.stderr, "failed to start: ") == said
    assert not where.exists() or where == blocker


@pytest.mark.parametrize("given", [["--config", "x.yaml"], ["--loop=asyncio"], ["--config"]])
def test_launch_when_a_gateway_run_argument_comes_before_the_dashes_then_exit_2_saying_where_it_goes(
    rig: LaunchRig, given: list[str]
) -> None:
    # fixops35: "unrecognized arguments: --config", from the top-level parser, with no word of '--'
    result = rig.launch("--dry-run", *given)
    assert result.returncode == EXIT_USAGE
    option = given[0].split("=")[0]
    assert f"gateway launch: error: {option} is an argument of 'gateway run': put the gateway's arguments after" in (
        result.stderr
    )
    value = given[0].split("=")[1:] or given[1:]
    assert f"(gateway launch [launcher flags] -- {' '.join([option, *value])})" in result.stderr
    assert rig.record(rig.child_record) is None
