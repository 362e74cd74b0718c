"""``gateway launch`` run as ops run it: a fake ``onload`` on PATH and a recording child show what was run."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from gateway.ops.acceleration import KERNEL, ONLOAD
from gateway.ops.launch import (
    EXIT_REFUSED,
    EXIT_USAGE,
    LaunchOptions,
    LaunchPlan,
    LaunchRefused,
    find_for_exec,
    plan_launch,
    unexecutable,
)
from gateway.ops.onload import OnloadEnvironment, ProfileError, ResolvedProfile, gateway_profile_dir
from gateway.ops.onload_env import observe_onload_environment
from tests.ops.conftest import LaunchRig

REPO_PROFILE = gateway_profile_dir() / "gateway-latency.opf"
REPO_CONFIG = str(Path(__file__).resolve().parents[2] / "deploy" / "gateway.yaml")


def _onload_argv(rig: LaunchRig) -> list[str]:
    """What onload must get for ``gateway launch -- --config deploy/gateway.yaml`` (default profile)."""
    return [
        f"--profile={REPO_PROFILE.resolve()}",
        str(rig.child),
        "-m",
        "gateway",
        "run",
        "--config",
        "deploy/gateway.yaml",
    ]


def test_launch_when_onload_present_then_execs_onload_with_profile_and_gateway_command(
    rig: LaunchRig,
) -> None:
    onload = rig.install_onload()
    rig.load_driver()
    rig.install_onload_profiles()  # a complete Onload install (else the launch refuses)
    proc = rig.popen("--", "--config", "deploy/gateway.yaml")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    seen = rig.record(rig.onload_record)
    child = rig.record(rig.child_record)
    assert seen is not None and child is not None
    assert seen["argv"] == _onload_argv(rig)
    assert seen["env"]["GATEWAY_ACCEL_MODE"] == "onload"
    assert seen["env"]["GATEWAY_ONLOAD_PROFILE"] == str(REPO_PROFILE.resolve())
    assert "EF_NO_FAIL" not in seen["env"]
    # exec all the way down: launcher, onload and the gateway are one process (systemd tracks the right pid)
    assert seen["pid"] == child["pid"] == proc.pid
    assert child["argv"] == ["-m", "gateway", "run", "--config", "deploy/gateway.yaml"]
    assert f"launch: onload: Onload 8.1.2.26 at {onload}, driver 8.1.2.26" in stderr
    assert "sh.command" not in stderr  # one line per decision, not one per probe


def test_launch_when_onload_absent_then_runs_gateway_on_kernel_sockets_and_says_why(rig: LaunchRig) -> None:
    proc = rig.popen("--", "--config", "deploy/gateway.yaml")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    child = rig.record(rig.child_record)
    assert child is not None
    assert child["pid"] == proc.pid
    assert child["argv"] == ["-m", "gateway", "run", "--config", "deploy/gateway.yaml"]
    assert child["env"]["GATEWAY_ACCEL_MODE"] == "kernel"
    assert child["env"]["GATEWAY_ACCEL_REASON"] == "onload executable not found on PATH"
    assert "GATEWAY_ONLOAD_PROFILE" not in child["env"]
    lines = [line for line in stderr.splitlines() if "launch: kernel fallback" in line]
    assert len(lines) == 1
    assert "onload executable not found on PATH" in lines[0]


def test_launch_when_driver_not_loaded_then_falls_back_without_calling_onload(rig: LaunchRig) -> None:
    rig.install_onload()
    result = rig.launch("--", "--config", "x.yaml")
    assert result.returncode == 0, result.stderr
    assert rig.record(rig.onload_record) is None
    child = rig.record(rig.child_record)
    assert child is not None
    assert child["env"]["GATEWAY_ACCEL_MODE"] == "kernel"
    assert "driver is not loaded" in child["env"]["GATEWAY_ACCEL_REASON"]
    assert "Onload 8.1.2.26 is installed but its driver is not loaded" in result.stderr


def test_launch_when_require_onload_and_driver_missing_then_exits_nonzero_with_reason(rig: LaunchRig) -> None:
    rig.install_onload()
    result = rig.launch("--require-onload", "--", "--config", "x.yaml")
    assert result.returncode == EXIT_REFUSED
    assert "refusing to start: --require-onload given and Onload is not usable" in result.stderr
    assert "driver is not loaded" in result.stderr
    assert rig.record(rig.onload_record) is None
    assert rig.record(rig.child_record) is None


def test_launch_when_require_onload_and_onload_absent_then_exits_nonzero(rig: LaunchRig) -> None:
    result = rig.launch("--require-onload", "--", "--config", "x.yaml")
    assert result.returncode == EXIT_REFUSED
    assert "onload executable not found on PATH" in result.stderr
    assert rig.record(rig.child_record) is None


def test_launch_when_custom_opf_path_then_onload_gets_its_absolute_path(rig: LaunchRig) -> None:
    rig.install_onload()
    rig.load_driver()
    rig.install_onload_profiles()  # a complete Onload install (else the launch refuses)
    custom = rig.tmp / "profiles" / "venue-x.opf"
    custom.parent.mkdir()
    custom.write_text("onload_set EF_NAME gwx\nonload_import latency\n")
    result = rig.launch("--profile", "profiles/venue-x.opf", "--", "--config", "x.yaml")
    assert result.returncode == 0, result.stderr
    seen = rig.record(rig.onload_record)
    assert seen is not None
    assert seen["argv"][0] == f"--profile={custom.resolve()}"


def test_launch_when_onload_builtin_profile_then_passes_the_name_through(rig: LaunchRig) -> None:
    rig.install_onload()
    rig.load_driver()
    rig.install_onload_profiles()  # a complete Onload install (else the launch refuses)
    result = rig.launch("--profile", "latency-best", "--")
    assert result.returncode == 0, result.stderr
    seen = rig.record(rig.onload_record)
    assert seen is not None
    assert seen["argv"][:2] == ["--profile=latency-best", str(rig.child)]


def test_launch_when_profile_missing_then_exits_2_and_names_it(rig: LaunchRig) -> None:
    rig.install_onload()
    rig.load_driver()
    for profile, words in (
        ("gateway-latncy", "unknown profile 'gateway-latncy'"),
        ("/nope/x.opf", "profile file /nope/x.opf does not exist"),
    ):
        result = rig.launch("--profile", profile, "--", "--config", "x.yaml")
        assert result.returncode == EXIT_USAGE
        assert words in result.stderr
        assert rig.record(rig.onload_record) is None
        assert rig.record(rig.child_record) is None


def test_launch_when_strict_acceleration_then_sets_ef_no_fail_zero(rig: LaunchRig) -> None:
    rig.install_onload()
    rig.load_driver()
    rig.install_onload_profiles()  # a complete Onload install (else the launch refuses)
    result = rig.launch("--strict-acceleration", "--", "--config", "x.yaml")
    assert result.returncode == 0, result.stderr
    seen = rig.record(rig.onload_record)
    assert seen is not None
    assert seen["env"]["EF_NO_FAIL"] == "0"
    assert seen["env"]["GATEWAY_STRICT_ACCELERATION"] == "1"


def test_launch_when_strict_acceleration_without_onload_then_refuses(rig: LaunchRig) -> None:
    result = rig.launch("--strict-acceleration", "--")
    assert result.returncode == EXIT_REFUSED
    assert "--strict-acceleration given and Onload is not usable" in result.stderr


def test_launch_when_stale_launch_variables_inherited_then_child_sees_only_this_decision(
    rig: LaunchRig,
) -> None:
    env = rig.env(GATEWAY_ACCEL_MODE="onload", GATEWAY_ONLOAD_PROFILE="old", GATEWAY_STRICT_ACCELERATION="1")
    result = rig.launch("--", "--config", "x.yaml", env=env)
    assert result.returncode == 0, result.stderr
    child = rig.record(rig.child_record)
    assert child is not None
    assert child["env"]["GATEWAY_ACCEL_MODE"] == "kernel"
    assert "GATEWAY_ONLOAD_PROFILE" not in child["env"]
    assert "GATEWAY_STRICT_ACCELERATION" not in child["env"]


def test_launch_when_io_uring_guard_flag_then_child_gets_the_override(rig: LaunchRig) -> None:
    result = rig.launch("--io-uring-guard", "always", "--")
    assert result.returncode == 0, result.stderr
    child = rig.record(rig.child_record)
    assert child is not None
    assert child["env"]["GATEWAY_IO_URING_GUARD"] == "always"


def test_launch_when_child_exits_nonzero_then_launcher_exit_code_is_the_childs(rig: LaunchRig) -> None:
    result = rig.launch("--", env=rig.env(FAKE_CHILD_RC="3"))
    assert result.returncode == 3


def test_launch_when_python_missing_then_exits_127_with_reason(rig: LaunchRig) -> None:
    argv = [sys.executable, "-m", "gateway", "launch", "--python", str(rig.tmp / "no-python"), "--"]
    import subprocess

    result = subprocess.run(argv, env=rig.env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 127
    assert f"cannot exec {rig.tmp / 'no-python'}" in result.stderr


@pytest.mark.parametrize("python", ["no-python", "not-executable"])
def test_dry_run_when_python_cannot_be_executed_then_exits_127_as_the_launch_would(rig: LaunchRig, python: str) -> None:
    # The dry run said "exec: ... /nonexistent -m gateway run" and exited 0; the launch itself then exited 127.
    (rig.tmp / "not-executable").write_text("#!/bin/sh\n")
    result = rig.launch("--dry-run", "--python", str(rig.tmp / python), "--", "--config", REPO_CONFIG)
    assert result.returncode == 127, result.stdout
    assert f"cannot exec {rig.tmp / python}" in result.stderr
    assert "exec:" not in result.stdout


def test_launch_when_unknown_or_abbreviated_flag_then_exits_2_and_runs_nothing(rig: LaunchRig) -> None:
    for flag in ("--bogus", "--require"):
        result = rig.launch(flag, "--")
        assert result.returncode == EXIT_USAGE
        assert f"unrecognized arguments: {flag}" in result.stderr
        assert rig.record(rig.child_record) is None


# ---------------------------------------------------------------------------------------------- dry run


def _dry_run_fields(stdout: str) -> dict[str, str]:
    fields = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition(": ")
        if sep and not line.startswith(" "):
            fields[key] = value
    return fields


def test_dry_run_when_onload_present_then_prints_exact_onload_command_and_runs_nothing(
    rig: LaunchRig,
) -> None:
    onload = rig.install_onload()
    rig.load_driver()
    rig.install_onload_profiles()
    result = rig.launch("--dry-run", "--", "--config", REPO_CONFIG)
    assert result.returncode == 0, result.stderr
    fields = _dry_run_fields(result.stdout)
    assert fields["mode"] == "onload"
    assert shlex.split(fields["argv"]) == [str(onload), *_onload_argv(rig)[:-1], REPO_CONFIG]
    assert "  GATEWAY_ACCEL_MODE=onload" in result.stdout.splitlines()
    exec_words = shlex.split(fields["exec"])
    assert exec_words[0] == "env"
    assert "GATEWAY_ACCEL_MODE=onload" in exec_words
    assert exec_words[-8:] == shlex.split(fields["argv"])
    assert rig.record(rig.onload_record) is None
    assert rig.record(rig.child_record) is None


def test_dry_run_when_no_onload_on_this_host_then_prints_kernel_fallback_command() -> None:
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    argv = [sys.executable, "-m", "gateway", "launch", "--dry-run", "--", "--config", "deploy/gateway.yaml"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    fields = _dry_run_fields(result.stdout)
    assert fields["mode"] == "kernel"
    assert fields["reason"] == "onload executable not found on PATH"
    assert shlex.split(fields["argv"]) == [
        sys.executable,
        "-m",
        "gateway",
        "run",
        "--config",
        "deploy/gateway.yaml",
    ]
    assert "  GATEWAY_ACCEL_MODE=kernel" in result.stdout.splitlines()


def test_dry_run_when_gateway_args_start_with_run_then_the_command_has_one_run(rig: LaunchRig) -> None:
    result = rig.launch("--dry-run", "--", "run", "--config", REPO_CONFIG)
    assert result.returncode == 0, result.stderr
    argv = shlex.split(_dry_run_fields(result.stdout)["argv"])
    assert argv[-4:] == ["gateway", "run", "--config", REPO_CONFIG]
    assert argv.count("run") == 1


def test_launch_when_gateway_args_start_with_run_then_the_gateway_gets_them_once(rig: LaunchRig) -> None:
    result = rig.launch("--", "run", "--config", "x.yaml")
    assert result.returncode == 0, result.stderr
    child = rig.record(rig.child_record)
    assert child is not None
    assert child["argv"] == ["-m", "gateway", "run", "--config", "x.yaml"]


def test_launch_when_gateway_args_are_not_gateway_run_arguments_then_exits_2_and_runs_nothing(
    rig: LaunchRig,
) -> None:
    for dry_run in (["--dry-run"], []):
        result = rig.launch(*dry_run, "--", "--config", REPO_CONFIG, "--no-such-flag")
        assert result.returncode == EXIT_USAGE, result.stderr
        assert "not valid for 'gateway run': unrecognized arguments: --no-such-flag" in result.stderr
        assert result.stdout == ""
        assert rig.record(rig.child_record) is None


def test_dry_run_when_config_does_not_load_then_exits_2_naming_the_problem(rig: LaunchRig) -> None:
    result = rig.launch("--dry-run", "--", "--config", "missing.yaml")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "cannot read config missing.yaml" in result.stderr
    assert result.stdout == ""
    broken = rig.tmp / "broken.yaml"
    broken.write_text("venues:\n  - protocol: ouch\n    name: X\n    port: not-a-port\n")
    result = rig.launch("--dry-run", "--", "--config", str(broken))
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "venues[0]" in result.stderr


def test_dry_run_when_limits_override_a_strategy_the_config_does_not_run_then_exits_2_naming_it(
    rig: LaunchRig,
) -> None:
    import yaml

    config = yaml.safe_load(Path(REPO_CONFIG).read_text())
    del config["strategies"]["momentum"]  # deploy/risk/limits.yaml has overrides for it
    config["risk_limits"] = str(Path(REPO_CONFIG).parent / "risk" / "limits.yaml")
    path = rig.tmp / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    result = rig.launch("--dry-run", "--", "--config", str(path))
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "strategies.momentum: strategy 'momentum' is not configured in " + str(path) in result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------------------- decision logic

_PRESENT = OnloadEnvironment("/usr/bin/onload", "8.1.2.26", True, "8.1.2.26")
_PROFILE = ResolvedProfile("/opt/gw/deploy/onload/gateway-latency.opf", "gateway")


def test_plan_when_versions_differ_then_launches_onload_with_a_warning() -> None:
    env = OnloadEnvironment("/usr/bin/onload", "8.1.2.26", True, "8.0.0.1")
    plan = plan_launch(LaunchOptions(profile="gateway-latency"), env, _PROFILE, {})
    assert isinstance(plan, LaunchPlan)
    assert plan.mode == "onload"
    assert plan.warnings == ("user-level Onload 8.1.2.26 differs from the loaded driver 8.0.0.1",)


def test_plan_when_version_unreadable_then_falls_back_with_onloads_own_words() -> None:
    env = OnloadEnvironment("/usr/bin/onload", None, True, None, "onload: libonload.so: cannot open\n")
    plan = plan_launch(LaunchOptions(profile="x", python="/py"), env, _PROFILE, {})
    assert isinstance(plan, LaunchPlan)
    assert plan.mode == "kernel"
    assert plan.reason == "'/usr/bin/onload --version' did not report a version: onload: libonload.so: cannot open"
    assert plan.argv == ("/py", "-m", "gateway", "run")


def test_plan_when_profile_error_then_refuses_with_usage_code_even_without_onload() -> None:
    absent = OnloadEnvironment(None, None, False, None)
    plan = plan_launch(LaunchOptions(profile="x"), absent, ProfileError("x", "unknown profile 'x'"), {})
    assert plan == LaunchRefused("profile error: unknown profile 'x'", EXIT_USAGE)


def test_plan_when_onload_usable_then_environment_applies_changes_to_the_base() -> None:
    plan = plan_launch(LaunchOptions(profile="p", python="/py"), _PRESENT, _PROFILE, {"GATEWAY_ACCEL_REASON": "x"})
    assert isinstance(plan, LaunchPlan)
    env = plan.environment({"PATH": "/bin", "GATEWAY_ACCEL_REASON": "stale"})
    assert env["PATH"] == "/bin"
    assert env["GATEWAY_ACCEL_REASON"] == "Onload 8.1.2.26, driver loaded"
    assert env["GATEWAY_ONLOAD_PROFILE"] == _PROFILE.argument


def test_repo_default_profile_exists() -> None:
    assert Path(REPO_PROFILE).is_file()


# ------------------------------------------------------------------------------- EF_* and the profile


def _onload_env_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """Return ``{name: (value, where it comes from)}`` from the dry run's onload environment section."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("onload environment (EF_*"))
    found = {}
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        pair, _, note = line.strip().partition("  ")
        name, _, value = pair.partition("=")
        found[name] = (value, note.strip())
    return found


def test_dry_run_when_stale_ef_inherited_then_dropped_with_a_warning_and_every_setting_says_where_from(
    rig: LaunchRig,
) -> None:
    rig.install_onload()
    rig.load_driver()
    bases = rig.install_onload_profiles()
    env = rig.env(EF_POLL_USEC="0", EF_LOG="conn_drop")
    result = rig.launch("--strict-acceleration", "--dry-run", "--", "--config", REPO_CONFIG, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "warning: inherited EF_POLL_USEC=0 dropped (the profile sets 100000); the profile's 100000 applies" in (
        result.stdout
    )
    assert "warning: inherited EF_LOG=conn_drop dropped (the profile does not set it); Onload's default applies" in (
        result.stdout
    )
    assert "  unset EF_POLL_USEC" in lines and "  unset EF_LOG" in lines
    settings = _onload_env_lines(result.stdout)
    assert settings["EF_POLL_USEC"] == ("100000", f"profile: {bases / 'latency.opf'}")
    assert settings["EF_UL_EPOLL"] == ("1", f"profile: {REPO_PROFILE.resolve()}")
    assert settings["EF_NO_FAIL"] == ("0", "launcher: --strict-acceleration")
    assert "EF_LOG" not in settings


def test_launch_when_stale_ef_inherited_then_onload_never_sees_them_and_the_gateway_gets_the_plan(
    rig: LaunchRig,
) -> None:
    rig.install_onload()
    rig.load_driver()
    rig.install_onload_profiles()
    result = rig.launch("--", "--config", "x.yaml", env=rig.env(EF_POLL_USEC="0"))
    assert result.returncode == 0, result.stderr
    seen = rig.record(rig.onload_record)
    assert seen is not None
    assert "EF_POLL_USEC" not in seen["env"]  # onload's profile decides: 100000 from latency
    assert "launch: inherited EF_POLL_USEC=0 dropped (the profile sets 100000)" in result.stderr
    assert "launch: onload environment: EF_EPOLL_MT_SAFE=1 (profile gateway-latency.opf)" in result.stderr
    # what the gateway will report once onload has exported the profile's values
    after_onload = {**seen["env"], "EF_POLL_USEC": "100000", "EF_UL_EPOLL": "1", "EF_NAME": "gateway"}
    observed = {s.name: s for s in observe_onload_environment(after_onload)}
    assert (observed["EF_POLL_USEC"].source, observed["EF_POLL_USEC"].origin.rsplit("/", 1)[1]) == (
        "profile",
        "latency.opf",
    )
    assert observed["EF_UL_EPOLL"].source == "profile"


def test_dry_run_when_keep_ef_environment_then_inherited_value_wins_and_is_reported_as_overriding(
    rig: LaunchRig,
) -> None:
    rig.install_onload()
    rig.load_driver()
    rig.install_onload_profiles()
    env = rig.env(EF_POLL_USEC="0")
    result = rig.launch("--keep-ef-environment", "--dry-run", "--", "--config", REPO_CONFIG, env=env)
    assert result.returncode == 0, result.stderr
    assert "warning: inherited EF_POLL_USEC=0 overrides the profile (the profile sets 100000): kept" in result.stdout
    assert "  unset EF_POLL_USEC" not in result.stdout.splitlines()
    assert _onload_env_lines(result.stdout)["EF_POLL_USEC"] == (
        "0",
        "environment: inherited from the caller (the profile sets 100000)",
    )


def test_launch_when_kernel_fallback_then_stale_ef_dropped_as_well(rig: LaunchRig) -> None:
    result = rig.launch("--", env=rig.env(EF_POLL_USEC="0"))
    assert result.returncode == 0, result.stderr
    child = rig.record(rig.child_record)
    assert child is not None and "EF_POLL_USEC" not in child["env"]
    dry = rig.launch("--dry-run", "--", "--config", REPO_CONFIG, env=rig.env(EF_POLL_USEC="0"))
    assert "onload environment: not used (kernel path)" in dry.stdout.splitlines()


# --------------------------------------------------------------------------------- boot: wait for Onload


def test_launch_when_driver_loads_while_waiting_then_execs_onload(rig: LaunchRig) -> None:
    rig.install_onload()
    rig.install_onload_profiles()
    proc = rig.popen("--wait-for-onload", "20", "--", "--config", "x.yaml")
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the launcher's start-up takes seconds on a loaded machine: wait for the line
    assert "launch: waiting up to 20 s for Onload: Onload 8.1.2.26 is installed but its driver is not loaded" in first
    time.sleep(0.5)
    assert proc.poll() is None  # still waiting for the driver
    rig.load_driver()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, first + stderr
    seen = rig.record(rig.onload_record)
    assert seen is not None and seen["env"]["GATEWAY_ACCEL_MODE"] == "onload"


def test_launch_when_driver_never_loads_then_falls_back_after_the_wait(rig: LaunchRig) -> None:
    rig.install_onload()
    started = time.monotonic()
    result = rig.launch("--wait-for-onload", "1", "--", "--config", "x.yaml")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.0
    child = rig.record(rig.child_record)
    assert child is not None and child["env"]["GATEWAY_ACCEL_MODE"] == "kernel"


def test_launch_when_onload_not_installed_then_does_not_wait(rig: LaunchRig) -> None:
    started = time.monotonic()
    result = rig.launch("--wait-for-onload", "30", "--", "--config", "x.yaml")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20
    assert "waiting" not in result.stderr


def test_plan_when_dev_onload_not_usable_by_this_user_then_falls_back_naming_the_fix() -> None:
    env = OnloadEnvironment(
        "/usr/bin/onload", "8.1.2.26", True, "8.1.2.26", device_problem="/dev/onload is root:onload_users mode 0660"
    )
    plan = plan_launch(LaunchOptions(profile="gateway-latency"), env, _PROFILE, {})
    assert isinstance(plan, LaunchPlan) and plan.mode == "kernel"
    assert plan.reason == "Onload 8.1.2.26 and its driver are loaded but /dev/onload is root:onload_users mode 0660"


# ------------------------------------------------------------- dry run: the exec's lookup, not this process's


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def _kernel_plan(command: str, *set_env: tuple[str, str]) -> LaunchPlan:
    return LaunchPlan(KERNEL, "test", (command, "-m", "gateway", "run"), set_env, ())


def test_unexecutable_when_python_only_on_the_plans_path_then_found_as_the_exec_would(tmp_path: Path) -> None:
    _executable(tmp_path / "plan-bin" / "site-python")
    plan = _kernel_plan("site-python", ("PATH", str(tmp_path / "plan-bin")))
    environ = {"PATH": str(tmp_path / "empty")}
    assert find_for_exec("site-python", environ) is None  # this process's PATH would not find it
    assert find_for_exec("site-python", plan.environment(environ)) == str(tmp_path / "plan-bin" / "site-python")
    assert unexecutable(plan, "site-python", environ) is None


def test_unexecutable_when_python_only_on_this_process_path_then_the_launch_would_exit_127(tmp_path: Path) -> None:
    _executable(tmp_path / "here-bin" / "site-python")
    plan = _kernel_plan("site-python", ("PATH", str(tmp_path / "plan-bin")))
    environ = {"PATH": str(tmp_path / "here-bin")}
    assert find_for_exec("site-python", environ) is not None
    problem = unexecutable(plan, "site-python", environ)
    assert problem == f"cannot exec site-python: not found on the launch environment's PATH ({tmp_path / 'plan-bin'})"


def test_unexecutable_when_command_has_a_slash_then_taken_as_it_is_whatever_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _executable(tmp_path / "bin" / "site-python")
    (tmp_path / "bin" / "plain-file").write_text("")
    monkeypatch.chdir(tmp_path)
    environ = {"PATH": str(tmp_path / "bin")}
    assert unexecutable(_kernel_plan("bin/site-python"), "bin/site-python", environ) is None
    assert unexecutable(_kernel_plan("./site-python"), "./site-python", environ) == (
        "cannot exec ./site-python: not an executable file"
    )
    assert unexecutable(_kernel_plan("bin/plain-file"), "bin/plain-file", environ) == (
        "cannot exec bin/plain-file: not an executable file"
    )


def test_unexecutable_when_onload_path_then_both_onload_and_the_python_it_execs_are_checked(tmp_path: Path) -> None:
    onload = _executable(tmp_path / "opt" / "onload")
    _executable(tmp_path / "plan-bin" / "site-python")
    environ = {"PATH": str(tmp_path / "plan-bin")}
    plan = LaunchPlan(ONLOAD, "test", (str(onload), "--profile=p", "site-python", "-m", "gateway", "run"), (), ())
    assert unexecutable(plan, "site-python", environ) is None
    assert unexecutable(plan, "other-python", environ) is not None  # onload would exit 127 exec'ing it
    onload.chmod(0o644)
    assert unexecutable(plan, "site-python", environ) == f"cannot exec {onload}: not an executable file"


def test_unexecutable_when_environment_has_no_path_then_the_default_path_is_searched_not_this_process_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_here = _executable(tmp_path / "process-bin" / "gw-only-on-process-path")
    monkeypatch.setenv("PATH", f"{only_here.parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
    assert find_for_exec(only_here.name, os.environ) == str(only_here)  # this process's PATH would find it
    assert unexecutable(_kernel_plan(only_here.name), only_here.name, {}) == (
        f"cannot exec {only_here.name}: not found on the launch environment's PATH ({os.defpath})"
    )
    assert unexecutable(_kernel_plan("sh"), "sh", {}) is None  # os.execvpe searches os.defpath (/bin:/usr/bin)


@pytest.mark.parametrize("on_path", [True, False])
def test_dry_run_when_python_is_a_bare_name_then_it_agrees_with_the_launch(rig: LaunchRig, on_path: bool) -> None:
    name = rig.child.name
    path = f"{rig.tmp}:{rig.bin_dir}:/usr/bin:/bin" if on_path else f"{rig.bin_dir}:/usr/bin:/bin"
    env = rig.env(PATH=path)
    dry = rig.launch("--dry-run", "--python", name, "--", "--config", REPO_CONFIG, env=env)
    launched = rig.launch("--python", name, "--", "--config", REPO_CONFIG, env=env)
    if on_path:
        assert (dry.returncode, launched.returncode) == (0, 0), (dry.stderr, launched.stderr)
        assert rig.record(rig.child_record) is not None
    else:
        assert (dry.returncode, launched.returncode) == (127, 127)
        assert f"cannot exec {name}: not found on the launch environment's PATH" in dry.stderr
        assert rig.record(rig.child_record) is None
