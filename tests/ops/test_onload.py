"""Onload host detection, profile resolution, in-process detection and the host view they read through."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ops.acceleration import detect_acceleration
from gateway.ops.host import HostView, format_cpu_list, kernel_cmdline_options, parse_cpu_list
from gateway.ops.onload import (
    OnloadEnvironment,
    OnloadProcessInfo,
    ProfileError,
    ResolvedProfile,
    detect_onload_environment,
    mapped_onload_library,
    parse_onload_version,
    probe_process,
    resolve_profile,
)
from tests.ops.conftest import ONLOAD_VERSION_OUTPUT, LaunchRig, Writer

# ------------------------------------------------------------------------------------------ versions


def test_parse_version_when_onload_prints_banner_then_returns_library_and_module_versions() -> None:
    assert parse_onload_version(ONLOAD_VERSION_OUTPUT) == ("8.1.2.26", "8.1.2.26")


def test_parse_version_when_module_not_loaded_then_module_version_is_none() -> None:
    output = "OpenOnload 201210-u1\nCopyright 2006-2012 Solarflare\nKernel module: [onload module not loaded]\n"
    assert parse_onload_version(output) == ("201210-u1", None)


def test_parse_version_when_output_is_not_onloads_then_nothing_is_found() -> None:
    assert parse_onload_version("sh: 1: libonload.so: not found\n") == (None, None)


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        (OnloadEnvironment(None, None, True, "8.1"), "onload executable not found on PATH"),
        (
            OnloadEnvironment("/bin/onload", None, True, None, "boom\n"),
            "'/bin/onload --version' did not report a version: boom",
        ),
        (
            OnloadEnvironment("/bin/onload", "8.1", False, None),
            "Onload 8.1 is installed but its driver is not loaded"
            " (no /sys/module/onload, no /dev/onload; load it with 'onload_tool reload')",
        ),
        (OnloadEnvironment("/bin/onload", "8.1", True, None), None),
    ],
)
def test_unusable_reason_when_piece_missing_then_names_it(env: OnloadEnvironment, reason: str | None) -> None:
    assert env.unusable_reason() == reason


def test_detect_environment_when_fake_onload_and_dev_node_then_usable(
    rig: LaunchRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    onload = rig.install_onload()
    (rig.host_root / "dev").mkdir()
    (rig.host_root / "dev" / "onload").write_text("")
    monkeypatch.setenv("PATH", f"{rig.bin_dir}:/usr/bin:/bin")
    env = detect_onload_environment(HostView(rig.host_root))
    assert env == OnloadEnvironment(str(onload), "8.1.2.26", True, "8.1.2.26", ONLOAD_VERSION_OUTPUT)
    assert env.unusable_reason() is None
    assert env.version_mismatch() is None


def test_detect_environment_when_driver_version_differs_then_mismatch_is_reported(
    rig: LaunchRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.install_onload()
    rig.load_driver("8.0.3.1")
    monkeypatch.setenv("PATH", f"{rig.bin_dir}:/usr/bin:/bin")
    env = detect_onload_environment(HostView(rig.host_root))
    assert env.version_mismatch() == "user-level Onload 8.1.2.26 differs from the loaded driver 8.0.3.1"


def test_detect_environment_when_onload_not_on_path_then_not_installed(rig: LaunchRig) -> None:
    env = detect_onload_environment(HostView(rig.host_root), executable=None)
    if env.executable is not None:
        pytest.skip("this host has a real onload on PATH")
    assert env.summary() == "not installed"


# ------------------------------------------------------------------------------------------ profiles


def test_resolve_profile_when_gateway_profile_name_then_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "gateway-latency.opf").write_text("onload_import latency\n")
    assert resolve_profile("gateway-latency", HostView(tmp_path / "root"), tmp_path) == ResolvedProfile(
        str((tmp_path / "gateway-latency.opf").resolve()), "gateway"
    )


def test_resolve_profile_when_onload_builtin_then_name_passes_through(tmp_path: Path) -> None:
    assert resolve_profile("latency", HostView(tmp_path), tmp_path) == ResolvedProfile("latency", "onload")


def test_resolve_profile_when_host_has_extra_onload_profile_then_accepted(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/usr/libexec/onload/profiles/zeromq.opf", "onload_set EF_POLL_USEC 100000\n")
    assert resolve_profile("zeromq", HostView(tmp_path / "root"), tmp_path) == ResolvedProfile("zeromq", "onload")


def test_resolve_profile_when_explicit_path_then_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.opf").write_text("")
    monkeypatch.chdir(tmp_path)
    assert resolve_profile("mine.opf", HostView(tmp_path), tmp_path / "none") == ResolvedProfile(
        str(tmp_path / "mine.opf"), "file"
    )


def test_resolve_profile_when_unknown_name_then_error_lists_what_exists(tmp_path: Path) -> None:
    (tmp_path / "gateway-latency.opf").write_text("")
    error = resolve_profile("gateway-fast", HostView(tmp_path / "root"), tmp_path)
    assert isinstance(error, ProfileError)
    assert error.reason == (
        f"unknown profile 'gateway-fast': not {tmp_path / 'gateway-fast.opf'}, not an Onload profile"
        " (gateway profiles: gateway-latency; Onload profiles: cloud, latency, latency-best, safe)"
    )


@pytest.mark.parametrize("profile", ["", "latency,gateway-latency"])
def test_resolve_profile_when_empty_or_list_then_error(tmp_path: Path, profile: str) -> None:
    assert isinstance(resolve_profile(profile, HostView(tmp_path), tmp_path), ProfileError)


# ------------------------------------------------------------------------------------------- process

MAPS_WITH_ONLOAD = (
    "7f00-7f01 r-xp 00000000 08:01 1234  /usr/lib64/libonload.so\n"
    "7f02-7f03 r-xp 00000000 08:01 1235  /usr/lib/x86_64-linux-gnu/libc.so.6\n"
)


def test_mapped_library_when_libonload_in_maps_then_returns_its_path() -> None:
    assert mapped_onload_library(MAPS_WITH_ONLOAD) == "/usr/lib64/libonload.so"


def test_mapped_library_when_only_extension_stub_mapped_then_none() -> None:
    assert mapped_onload_library("7f00-7f01 r-xp 00000000 08:01 1 /usr/lib64/libonload_ext.so.2\n") is None


def test_probe_process_when_running_without_onload_then_kernel_facts() -> None:
    info = probe_process()
    assert info == OnloadProcessInfo(None, None, False)
    assert info.describe() == "libonload.so not loaded in this process"


_UNDER_ONLOAD = OnloadProcessInfo("/usr/lib64/libonload.so", True, True)
_NO_ONLOAD = OnloadProcessInfo(None, None, False)


def test_acceleration_when_onload_active_then_onload_line_with_profile_and_strictness() -> None:
    env = {"GATEWAY_ACCEL_MODE": "onload", "GATEWAY_ONLOAD_PROFILE": "gateway-strict", "EF_NO_FAIL": "0"}
    acc = detect_acceleration(env, process=_UNDER_ONLOAD)
    assert acc.log_line() == (
        "acceleration: onload (/usr/lib64/libonload.so loaded, onload_is_present()=1;"
        " profile gateway-strict; strict (EF_NO_FAIL=0))"
    )
    assert acc.warning is None


def test_acceleration_when_started_directly_under_onload_then_onload_without_launcher() -> None:
    acc = detect_acceleration({}, process=_UNDER_ONLOAD)
    assert (acc.mode, acc.launcher_mode, acc.warning) == ("onload", None, None)


def test_acceleration_when_run_without_launcher_or_onload_then_plain_kernel_line() -> None:
    acc = detect_acceleration({}, process=_NO_ONLOAD)
    assert acc.log_line() == "acceleration: kernel (Onload not present: libonload.so not loaded in this process)"


def test_acceleration_when_launcher_said_kernel_but_onload_active_then_process_wins_with_warning() -> None:
    acc = detect_acceleration({"GATEWAY_ACCEL_MODE": "kernel"}, process=_UNDER_ONLOAD)
    assert acc.mode == "onload"
    assert acc.warning == "launcher chose the kernel path but Onload is active in this process"


# ---------------------------------------------------------------------------------------------- host


@given(st.sets(st.integers(min_value=0, max_value=300)))
def test_cpu_list_when_formatted_then_parses_back_to_the_same_set(cpus: set[int]) -> None:
    assert parse_cpu_list(format_cpu_list(cpus)) == cpus


@given(st.text(max_size=30))
def test_parse_cpu_list_when_garbage_then_none_or_a_set_never_raises(text: str) -> None:
    result = parse_cpu_list(text)
    assert result is None or isinstance(result, set)


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0-3,8", {0, 1, 2, 3, 8}), ("(null)\n", set()), ("", set()), ("3-1", None), ("a", None)],
)
def test_parse_cpu_list_when_kernel_formats_then_expected(text: str, cpus: set[int] | None) -> None:
    assert parse_cpu_list(text) == cpus


def test_cmdline_when_init_arguments_follow_double_dash_then_they_are_ignored() -> None:
    options = kernel_cmdline_options("quiet isolcpus=domain,2-3 nohz_full=2-3 -- --init-flag isolcpus=9")
    assert options == {"quiet": "", "isolcpus": "domain,2-3", "nohz_full": "2-3"}


def test_host_view_when_path_missing_or_a_directory_then_none(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    host = HostView(tmp_path)
    assert host.read("/proc") is None
    assert host.read("/proc/cmdline") is None
    assert host.listdir("/nope") is None
    assert host.exists("/proc")
