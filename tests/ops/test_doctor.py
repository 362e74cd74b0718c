"""``gateway doctor``: on this VM for real, and each check's decision on fake /proc and /sys trees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.ops.doctor import (
    CHECKS,
    CheckResult,
    DoctorContext,
    Status,
    Venue,
    check_busy_poll,
    check_clocksource,
    check_coalescing,
    check_cstates,
    check_governor,
    check_hugepages,
    check_io_uring,
    check_irq_affinity,
    check_irqbalance,
    check_isolcpus,
    check_nohz_full,
    check_onload,
    check_onload_device,
    check_rcu_nocbs,
    check_rt_throttling,
    check_swap,
    check_thp,
    check_venue_routes,
    default_route_interface,
    run_doctor,
    validate_targets,
)
from gateway.ops.host import CommandOutput, HostView
from gateway.ops.onload import Identity, OnloadEnvironment, identity_of
from tests.ops.conftest import Writer

# ------------------------------------------------------------------------------------------ this VM


def _doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_doctor_when_run_on_this_host_then_reports_every_check_without_crashing() -> None:
    result = _doctor("--json", "--cpu", "0")
    report = json.loads(result.stdout)
    assert result.returncode == report["exit_code"]
    assert result.returncode == (1 if report["summary"]["FAIL"] else 0)
    names = [c["name"] for c in report["checks"]]
    assert len(names) == len(CHECKS) == len(set(names))
    for check in report["checks"]:
        assert check["status"] in {"PASS", "WARN", "FAIL", "UNKNOWN"}
        assert check["reason"]
        assert not check["reason"].startswith("check failed"), check
        if check["status"] in {"WARN", "FAIL"}:
            assert check["fix"], check
    assert report["cpu"] == 0
    assert sum(report["summary"].values()) == len(CHECKS)


def test_doctor_when_text_output_then_one_line_per_check_and_a_summary() -> None:
    result = _doctor()
    lines = result.stdout.splitlines()
    assert lines[0].startswith("gateway doctor: host ")
    verdicts = [line for line in lines if line.split(" ", 1)[0] in {"PASS", "WARN", "FAIL", "UNKNOWN"}]
    assert len(verdicts) == len(CHECKS)
    assert lines[-1].startswith("summary: ")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--cpu", "4096"], "--cpu 4096: no such CPU"),
        (["--interface", "no-such-if0"], "--interface no-such-if0: no such interface"),
        (["--cpu", "two"], "invalid int value: 'two'"),
        (["--cpus", "1"], "unrecognized arguments: --cpus"),
    ],
)
def test_doctor_when_flag_is_bad_then_exits_2_and_says_why(args: list[str], said: str) -> None:
    result = _doctor(*args)
    assert result.returncode == 2
    assert said in result.stderr


def test_doctor_when_host_root_is_empty_then_everything_is_unknown_or_judged_never_crashes(
    tmp_path: Path,
) -> None:
    result = _doctor("--json", "--host-root", str(tmp_path))
    report = json.loads(result.stdout)
    assert all(not c["reason"].startswith("check failed") for c in report["checks"])
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["isolcpus"] == statuses["clocksource"] == statuses["swap"] == "UNKNOWN"


# ------------------------------------------------------------------------------------ decision logic


class FakeRunner:
    """Answers commands from a table; records what was asked."""

    def __init__(self, answers: dict[str, CommandOutput | None]) -> None:
        self.answers = answers
        self.asked: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> CommandOutput | None:
        self.asked.append(list(argv))
        return self.answers.get(" ".join(argv))


def _ctx(
    tmp_path: Path,
    cpu: int | None = None,
    interface: str | None = None,
    runner: FakeRunner | None = None,
    onload: OnloadEnvironment | None = None,
) -> DoctorContext:
    host = HostView(tmp_path / "root", run=runner or FakeRunner({}))
    ctx = DoctorContext(host, cpu, interface, probe_io_uring=None)
    ctx._onload = onload or OnloadEnvironment(None, None, False, None)
    return ctx


def test_isolcpus_when_cpu_isolated_then_pass_else_warn_with_fix_for_that_cpu(
    tmp_path: Path, fake_root: Writer
) -> None:
    fake_root("/sys/devices/system/cpu/isolated", "2-3\n")
    assert check_isolcpus(_ctx(tmp_path, cpu=2)).status is Status.PASS
    warn = check_isolcpus(_ctx(tmp_path, cpu=1))
    assert (warn.status, warn.reason) == (Status.WARN, "CPU 1 is not isolated (isolated: 2-3)")
    assert warn.fix is not None and "isolcpus=managed_irq,domain,1 nohz_full=1 rcu_nocbs=1" in warn.fix


def test_isolcpus_when_only_cmdline_with_flags_then_cpus_parsed(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/proc/cmdline", "BOOT_IMAGE=/vmlinuz isolcpus=domain,managed_irq,3 quiet\n")
    assert check_isolcpus(_ctx(tmp_path, cpu=3)).status is Status.PASS


def test_isolcpus_when_nothing_readable_then_unknown(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/etc/hostname", "x")
    assert check_isolcpus(_ctx(tmp_path, cpu=3)).status is Status.UNKNOWN


def test_nohz_full_when_kernel_says_null_then_warn(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/sys/devices/system/cpu/nohz_full", "(null)\n")
    assert check_nohz_full(_ctx(tmp_path, cpu=2)).status is Status.WARN
    fake_root("/sys/devices/system/cpu/nohz_full", "2-3\n")
    assert check_nohz_full(_ctx(tmp_path, cpu=2)).status is Status.PASS


def test_rcu_nocbs_when_implied_by_nohz_full_then_pass(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/proc/cmdline", "nohz_full=2 rcu_nocbs=5\n")
    assert check_rcu_nocbs(_ctx(tmp_path, cpu=2)).reason == "RCU callbacks offloaded from CPU 2 (nohz_full)"
    assert check_rcu_nocbs(_ctx(tmp_path, cpu=5)).reason == "RCU callbacks offloaded from CPU 5 (rcu_nocbs)"
    assert check_rcu_nocbs(_ctx(tmp_path, cpu=1)).status is Status.WARN


def test_irqbalance_when_running_then_warn_unless_it_bans_the_cpu(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/proc/1/comm", "systemd\n")
    fake_root("/proc/812/comm", "irqbalance\n")
    assert check_irqbalance(_ctx(tmp_path, cpu=2)).status is Status.WARN
    fake_root("/etc/default/irqbalance", 'IRQBALANCE_BANNED_CPULIST="2-3"\n')
    assert check_irqbalance(_ctx(tmp_path, cpu=2)).status is Status.PASS
    assert check_irqbalance(_ctx(tmp_path, cpu=1)).status is Status.WARN


def test_irqbalance_when_not_running_then_pass(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/proc/1/comm", "systemd\n")
    assert check_irqbalance(_ctx(tmp_path)).status is Status.PASS


def test_irq_affinity_when_interrupts_may_hit_the_cpu_then_warn_with_count(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/proc/irq/30/smp_affinity_list", "0-1\n")
    fake_root("/proc/irq/31/smp_affinity_list", "0\n")
    fake_root("/proc/irq/default_smp_affinity", "3\n")
    fake_root("/sys/devices/system/cpu/online", "0-3\n")
    warn = check_irq_affinity(_ctx(tmp_path, cpu=1))
    assert (warn.status, warn.reason) == (Status.WARN, "1 interrupt(s) may fire on CPU 1 (IRQ 30)")
    assert warn.fix is not None and warn.fix.startswith("for irq in /proc/irq/[0-9]*; do echo 0,2-3 >")
    assert check_irq_affinity(_ctx(tmp_path, cpu=2)).status is Status.PASS
    assert check_irq_affinity(_ctx(tmp_path)).status is Status.UNKNOWN


def test_governor_when_performance_then_pass_powersave_warn_missing_unknown(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/sys/devices/system/cpu/online", "0-1\n")
    assert check_governor(_ctx(tmp_path)).status is Status.UNKNOWN
    fake_root("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "performance\n")
    fake_root("/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "powersave\n")
    assert check_governor(_ctx(tmp_path, cpu=0)).status is Status.PASS
    warn = check_governor(_ctx(tmp_path, cpu=1))
    assert warn.status is Status.WARN
    assert warn.fix == "cpupower -c 1 frequency-set -g performance"
    assert check_governor(_ctx(tmp_path)).reason.startswith("governor: performance on CPU 0; powersave on CPU 1")


def _cstate(fake_root: Writer, index: int, name: str, latency: int, disabled: int = 0) -> None:
    base = f"/sys/devices/system/cpu/cpu2/cpuidle/state{index}"
    fake_root(f"{base}/name", f"{name}\n")
    fake_root(f"{base}/latency", f"{latency}\n")
    fake_root(f"{base}/disable", f"{disabled}\n")


def test_cstates_when_deep_state_enabled_then_warn_and_when_disabled_then_pass(
    tmp_path: Path, fake_root: Writer
) -> None:
    _cstate(fake_root, 0, "POLL", 0)
    _cstate(fake_root, 1, "C1", 2)
    _cstate(fake_root, 2, "C6", 133)
    warn = check_cstates(_ctx(tmp_path, cpu=2))
    assert warn.status is Status.WARN
    assert "C6 (133 us)" in warn.reason
    assert warn.fix is not None and warn.fix.startswith("cpupower -c 2 idle-set -D 2")
    _cstate(fake_root, 2, "C6", 133, disabled=1)
    assert check_cstates(_ctx(tmp_path, cpu=2)).status is Status.PASS


def test_cstates_when_idle_poll_then_pass_and_when_no_cpuidle_then_unknown(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/sys/devices/system/cpu/online", "0\n")
    assert check_cstates(_ctx(tmp_path)).status is Status.UNKNOWN
    fake_root("/proc/cmdline", "idle=poll\n")
    assert check_cstates(_ctx(tmp_path)).status is Status.PASS


@pytest.mark.parametrize(
    ("enabled", "defrag", "status"),
    [
        ("always [madvise] never", "always defer [madvise] never", Status.PASS),
        ("always madvise [never]", "[never]", Status.PASS),
        ("[always] madvise never", "[madvise]", Status.WARN),
        ("always [madvise] never", "[always] defer madvise never", Status.WARN),
    ],
)
def test_thp_when_mode_then_verdict(
    tmp_path: Path, fake_root: Writer, enabled: str, defrag: str, status: Status
) -> None:
    fake_root("/sys/kernel/mm/transparent_hugepage/enabled", enabled + "\n")
    fake_root("/sys/kernel/mm/transparent_hugepage/defrag", defrag + "\n")
    assert check_thp(_ctx(tmp_path)).status is status


def test_hugepages_when_onload_installed_without_huge_pages_then_warn(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/proc/meminfo", "MemTotal: 1000 kB\nHugePages_Total:       0\nHugepagesize:    2048 kB\n")
    with_onload = OnloadEnvironment("/usr/bin/onload", "8.1", True, "8.1")
    assert check_hugepages(_ctx(tmp_path, onload=with_onload)).status is Status.WARN
    assert check_hugepages(_ctx(tmp_path)).status is Status.PASS
    fake_root("/proc/meminfo", "HugePages_Total:     512\nHugePages_Free:   500\nHugepagesize:    2048 kB\n")
    assert check_hugepages(_ctx(tmp_path, onload=with_onload)).reason == "512 huge pages of 2048 kB reserved, 500 free"


def test_swap_when_device_active_then_warn_else_pass(tmp_path: Path, fake_root: Writer) -> None:
    header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    fake_root("/proc/swaps", header)
    assert check_swap(_ctx(tmp_path)).status is Status.PASS
    fake_root("/proc/swaps", header + "/swapfile  file  1048572  0  -2\n")
    warn = check_swap(_ctx(tmp_path))
    assert warn.status is Status.WARN and "/swapfile" in warn.reason


ETHTOOL_ADAPTIVE = """Coalesce parameters for eth0:
Adaptive RX: on  TX: on
stats-block-usecs: 0
rx-usecs: 50
rx-frames: 0
"""

ETHTOOL_FIXED = ETHTOOL_ADAPTIVE.replace("Adaptive RX: on  TX: on", "Adaptive RX: off  TX: off").replace(
    "rx-usecs: 50", "rx-usecs: 0"
)


def test_coalescing_when_adaptive_then_warn_with_the_ethtool_fix(tmp_path: Path) -> None:
    runner = FakeRunner({"ethtool -c eth0": CommandOutput(0, ETHTOOL_ADAPTIVE)})
    warn = check_coalescing(_ctx(tmp_path, interface="eth0", runner=runner))
    assert warn.status is Status.WARN
    assert warn.reason.startswith("eth0: adaptive-rx on, rx-usecs 50")
    assert warn.fix is not None and warn.fix.startswith("ethtool -C eth0 adaptive-rx off rx-usecs 0")
    assert runner.asked == [["ethtool", "-c", "eth0"]]


def test_coalescing_when_fixed_then_pass(tmp_path: Path) -> None:
    runner = FakeRunner({"ethtool -c eth0": CommandOutput(0, ETHTOOL_FIXED)})
    assert check_coalescing(_ctx(tmp_path, interface="eth0", runner=runner)).reason == (
        "eth0: adaptive-rx off, rx-usecs 0"
    )


def test_coalescing_when_ethtool_missing_or_driver_unsupported_then_unknown(tmp_path: Path) -> None:
    missing = check_coalescing(_ctx(tmp_path, interface="eth0"))
    assert (missing.status, missing.reason) == (Status.UNKNOWN, "ethtool is not installed")
    runner = FakeRunner({"ethtool -c eth0": CommandOutput(94, "netlink error: Operation not supported\n")})
    unsupported = check_coalescing(_ctx(tmp_path, interface="eth0", runner=runner))
    assert unsupported.reason == "ethtool -c eth0: netlink error: Operation not supported"
    assert check_coalescing(_ctx(tmp_path)).status is Status.UNKNOWN


def test_busy_poll_when_zero_then_warn_when_set_then_pass(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/proc/sys/net/core/busy_read", "0\n")
    fake_root("/proc/sys/net/core/busy_poll", "0\n")
    assert check_busy_poll(_ctx(tmp_path)).status is Status.WARN
    fake_root("/proc/sys/net/core/busy_poll", "50\n")
    assert check_busy_poll(_ctx(tmp_path)).status is Status.PASS


def test_io_uring_when_disabled_by_sysctl_then_pass_explaining_epoll_ctl(tmp_path: Path, fake_root: Writer) -> None:
    assert check_io_uring(_ctx(tmp_path)).status is Status.UNKNOWN
    fake_root("/proc/sys/kernel/io_uring_disabled", "2\n")
    result = check_io_uring(_ctx(tmp_path))
    assert result.status is Status.PASS
    assert result.reason.startswith("kernel.io_uring_disabled=2 (disabled): libuv falls back to epoll_ctl")


@pytest.mark.parametrize(
    ("env", "status"),
    [
        (OnloadEnvironment(None, None, False, None), Status.WARN),
        (OnloadEnvironment("/usr/bin/onload", "8.1.2.26", False, None), Status.FAIL),
        (OnloadEnvironment("/usr/bin/onload", "8.1.2.26", True, "8.0.0.1"), Status.WARN),
        (OnloadEnvironment("/usr/bin/onload", "8.1.2.26", True, "8.1.2.26"), Status.PASS),
    ],
)
def test_onload_when_state_then_verdict(tmp_path: Path, env: OnloadEnvironment, status: Status) -> None:
    assert check_onload(_ctx(tmp_path, onload=env)).status is status


def test_report_when_onload_driver_missing_then_exit_code_1(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, onload=OnloadEnvironment("/usr/bin/onload", "8.1", False, None))
    report = run_doctor(ctx, (check_onload,))
    assert report.exit_code == 1
    assert "fix: onload_tool reload (as root)" in report.render()


@pytest.mark.parametrize(
    ("current", "status"), [("tsc", Status.PASS), ("kvm-clock", Status.PASS), ("hpet", Status.WARN)]
)
def test_clocksource_when_source_then_verdict(tmp_path: Path, fake_root: Writer, current: str, status: Status) -> None:
    fake_root("/sys/devices/system/clocksource/clocksource0/current_clocksource", current + "\n")
    fake_root("/sys/devices/system/clocksource/clocksource0/available_clocksource", "tsc hpet acpi_pm\n")
    result = check_clocksource(_ctx(tmp_path))
    assert result.status is status
    if status is Status.WARN:
        assert result.fix is not None and result.fix.startswith("echo tsc >")


def test_rt_throttling_when_default_then_warn_when_off_then_pass(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/proc/sys/kernel/sched_rt_runtime_us", "950000\n")
    fake_root("/proc/sys/kernel/sched_rt_period_us", "1000000\n")
    warn = check_rt_throttling(_ctx(tmp_path))
    assert warn.status is Status.WARN
    assert "a spinning gateway is stopped for 50000 us in every period" in warn.reason
    fake_root("/proc/sys/kernel/sched_rt_runtime_us", "-1\n")
    assert check_rt_throttling(_ctx(tmp_path)).status is Status.PASS


def test_run_doctor_when_a_check_raises_then_unknown_and_the_rest_still_run(tmp_path: Path, fake_root: Writer) -> None:
    def check_exploding(ctx: DoctorContext) -> CheckResult:
        raise ValueError("bad sysfs format")

    fake_root("/proc/sys/kernel/sched_rt_runtime_us", "-1\n")
    report = run_doctor(_ctx(tmp_path), (check_exploding, check_rt_throttling))
    assert report.checks[0] == CheckResult("exploding", Status.UNKNOWN, "check failed: ValueError: bad sysfs format")
    assert report.checks[1].status is Status.PASS


def test_default_route_when_route_table_then_interface_of_default(tmp_path: Path, fake_root: Writer) -> None:
    fake_root(
        "/proc/net/route",
        "Iface\tDestination\tGateway\tFlags\nens1f0\t0000A8C0\t00000000\t0001\nens1f1\t00000000\t0100A8C0\t0003\n",
    )
    assert default_route_interface(HostView(tmp_path / "root")) == "ens1f1"


def test_validate_targets_when_cpu_or_interface_absent_then_error(tmp_path: Path, fake_root: Writer) -> None:
    fake_root("/sys/devices/system/cpu/present", "0-3\n")
    (tmp_path / "root" / "sys" / "class" / "net" / "eth0").mkdir(parents=True)
    host = HostView(tmp_path / "root")
    assert validate_targets(host, 3, "eth0") is None
    assert validate_targets(host, 4, None) == "--cpu 4: no such CPU (present: 0-3)"
    assert validate_targets(host, None, "eth9") == "--interface eth9: no such interface (have: eth0)"


# ----------------------------------------------------------------------- Onload for the gateway's user

PASSWD = "root:x:0:0:root:/root:/bin/bash\ngateway:x:1234:1234:gateway:/opt/gateway:/bin/sh\n"


def _device(tmp_path: Path, fake_root: Writer, mode: int, members: str) -> None:
    """A fake /dev/onload owned by this test's uid and gid, and that gid named onload_users."""
    device = fake_root("/dev/onload", "")
    device.chmod(mode)
    fake_root("/etc/passwd", PASSWD)
    fake_root("/etc/group", f"gateway:x:1234:\nonload_users:x:{os.getgid()}:{members}\n")


def _gateway_user(tmp_path: Path) -> Identity:
    identity = identity_of("gateway", HostView(tmp_path / "root"))
    assert identity is not None
    return identity


INSTALLED = OnloadEnvironment("/usr/bin/onload", "8.1.2.26", True, "8.1.2.26")


def test_onload_device_when_user_in_the_device_group_then_pass(tmp_path: Path, fake_root: Writer) -> None:
    _device(tmp_path, fake_root, 0o660, "gateway")
    ctx = _ctx(tmp_path, onload=INSTALLED)
    ctx.identity = _gateway_user(tmp_path)
    result = check_onload_device(ctx)
    assert (result.status, result.reason) == (Status.PASS, "user gateway (uid 1234) can open /dev/onload read-write")


def test_onload_device_when_user_not_in_the_group_then_fail_with_the_usermod_fix(
    tmp_path: Path, fake_root: Writer
) -> None:
    _device(tmp_path, fake_root, 0o660, "")
    ctx = _ctx(tmp_path, onload=INSTALLED)
    ctx.identity = _gateway_user(tmp_path)
    result = check_onload_device(ctx)
    assert result.status is Status.FAIL
    owner = "root" if os.getuid() == 0 else str(os.getuid())
    assert result.reason.startswith(
        f"/dev/onload is {owner}:onload_users mode 0660 and user gateway (uid 1234, not in group onload_users)"
        " cannot open it read-write"
    )
    assert result.fix is not None and result.fix.startswith("usermod -aG onload_users gateway")
    _device(tmp_path, fake_root, 0o666, "")  # Onload's default ONLOAD_MODE: anyone
    assert check_onload_device(ctx).status is Status.PASS


def test_onload_device_when_no_device_then_pass_without_onload_unknown_without_its_driver(tmp_path: Path) -> None:
    assert check_onload_device(_ctx(tmp_path)).status is Status.PASS
    no_driver = OnloadEnvironment("/usr/bin/onload", "8.1.2.26", False, None)
    result = check_onload_device(_ctx(tmp_path, onload=no_driver))
    assert (result.status, result.reason) == (
        Status.UNKNOWN,
        "no /dev/onload: the driver is not loaded (see the onload check)",
    )


def test_onload_device_when_driver_loaded_but_no_device_then_warn_without_saying_the_driver_is_not_loaded(
    tmp_path: Path,
) -> None:
    # /sys/module/onload only: the onload check passes with "driver 8.1.2.26"; this one must not contradict it
    result = check_onload_device(_ctx(tmp_path, onload=INSTALLED))
    assert result.status is Status.WARN
    assert result.reason.startswith("the driver is loaded (/sys/module/onload) but there is no /dev/onload")
    assert "not loaded" not in result.reason
    assert result.fix is not None and "udevadm trigger --subsystem-match=onload" in result.fix


def test_doctor_when_run_for_a_user_who_cannot_open_dev_onload_then_exit_1_naming_it(
    tmp_path: Path, fake_root: Writer
) -> None:
    _device(tmp_path, fake_root, 0o660, "")
    result = _doctor("--json", "--host-root", str(tmp_path / "root"), "--user", "gateway")
    report = json.loads(result.stdout)
    device = next(c for c in report["checks"] if c["name"] == "onload-device")
    assert device["status"] == "FAIL" and "user gateway (uid 1234, not in group onload_users)" in device["reason"]
    assert result.returncode == 1
    unknown = _doctor("--host-root", str(tmp_path / "root"), "--user", "nosuch")
    assert unknown.returncode == 2 and "--user nosuch: no such user" in unknown.stderr


# ------------------------------------------------------------------------- routes to the venues

ROUTES: dict[str, CommandOutput | None] = {
    "ip route get 10.9.0.20": CommandOutput(0, "10.9.0.20 via 10.1.0.1 dev ens1f0 src 10.1.0.5 uid 0 \n    cache \n"),
    "ip route get 192.0.2.7": CommandOutput(0, "192.0.2.7 via 192.0.2.1 dev eth0 src 192.0.2.5 uid 0 \n    cache \n"),
    "ip route get 127.0.0.1": CommandOutput(0, "local 127.0.0.1 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n"),
}


def _routes_ctx(tmp_path: Path, venues: list[Venue], onload: OnloadEnvironment = INSTALLED) -> DoctorContext:
    for interface, driver in (("ens1f0", "sfc"), ("eth0", "virtio_net")):
        device = tmp_path / "root" / "sys" / "class" / "net" / interface / "device"
        device.mkdir(parents=True, exist_ok=True)
        if not (device / "driver").is_symlink():
            (device / "driver").symlink_to(f"../../../../bus/pci/drivers/{driver}")
    ctx = _ctx(tmp_path, runner=FakeRunner(ROUTES), onload=onload)
    ctx.venues = venues
    ctx.resolve = lambda name: {"venue.example": ["10.9.0.20"]}.get(name, [name])
    return ctx


def test_venue_routes_when_every_venue_leaves_through_a_solarflare_interface_then_pass(tmp_path: Path) -> None:
    result = check_venue_routes(_routes_ctx(tmp_path, [Venue("OUCH", "venue.example")]))
    assert result.status is Status.PASS
    assert result.reason == "OUCH 10.9.0.20 -> ens1f0 (sfc: AMD Solarflare X2/X4/8000 series, accelerated by Onload)"


def test_venue_routes_when_a_venue_leaves_through_another_nic_then_fail_with_the_route_fix(tmp_path: Path) -> None:
    venues = [Venue("OUCH", "10.9.0.20"), Venue("EQX", "192.0.2.7")]
    result = check_venue_routes(_routes_ctx(tmp_path, venues))
    assert result.status is Status.FAIL
    assert "EQX 192.0.2.7 -> eth0 (driver virtio_net: not a Solarflare/AMD adapter, Onload hands the socket to the" in (
        result.reason
    )
    assert result.fix is not None and "ip route add 192.0.2.7/32 via <gateway> dev <sfc interface>" in result.fix
    assert "echo eth0 > /sys/module/sfc_resource/afxdp/register" in result.fix
    without = check_venue_routes(_routes_ctx(tmp_path, venues, OnloadEnvironment(None, None, False, None)))
    assert without.status is Status.WARN  # no Onload on this host: the kernel path is expected anyway


def test_venue_routes_when_venue_on_loopback_then_warn(tmp_path: Path) -> None:
    result = check_venue_routes(_routes_ctx(tmp_path, [Venue("SIM", "127.0.0.1")]))
    assert result.status is Status.WARN
    assert result.reason == "SIM 127.0.0.1 -> lo (loopback: a venue on this host, never through a NIC)"


def test_venue_routes_when_no_config_unresolvable_or_no_ip_tool_then_unknown_or_fail(tmp_path: Path) -> None:
    assert check_venue_routes(_ctx(tmp_path)).status is Status.UNKNOWN
    ctx = _routes_ctx(tmp_path, [Venue("OUCH", "no.such.host")])
    ctx.resolve = lambda name: []
    assert check_venue_routes(ctx).status is Status.FAIL
    ctx = _ctx(tmp_path, onload=INSTALLED)
    ctx.venues = [Venue("OUCH", "10.9.0.20")]
    ctx.resolve = lambda name: [name]
    result = check_venue_routes(ctx)
    assert (result.status, result.reason) == (Status.UNKNOWN, "OUCH 10.9.0.20: ip route get: ip is not installed")


def test_doctor_when_config_given_then_checks_the_route_of_each_venue() -> None:
    result = _doctor("--json", "--config", str(Path(__file__).resolve().parents[2] / "deploy" / "gateway.yaml"))
    routes = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "venue-routes")
    assert routes["status"] in {"WARN", "UNKNOWN"}, routes  # deploy/gateway.yaml's OUCH venue is 127.0.0.1
    if routes["status"] == "WARN":
        assert routes["reason"] == "OUCH 127.0.0.1 -> lo (loopback: a venue on this host, never through a NIC)"
