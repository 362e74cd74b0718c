"""``gateway doctor``: check what this host's latency depends on, one verdict per item with the fix.

Every check reads the host through a ``HostView`` (an injectable root, so tests feed
fake /proc and /sys trees) and returns a ``CheckResult``: PASS, WARN, FAIL or UNKNOWN
(the host does not expose it: a VM without cpufreq, a driver that does not report
coalescing, a missing tool), the reason in words, and the command that fixes it. A
check that breaks reports UNKNOWN instead of crashing the report.
"""

from __future__ import annotations

import enum
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from gateway.ops.host import HostView, format_cpu_list, kernel_cmdline_options, parse_cpu_list
from gateway.ops.iouring import io_uring_usable
from gateway.ops.onload import (
    ONLOAD_DEVICE,
    ONLOAD_EPOLL_DEVICE,
    Identity,
    OnloadEnvironment,
    current_identity,
    detect_onload_environment,
    device_access_fix,
    device_access_problem,
)

DEEP_CSTATE_LATENCY_US = 2
"""Idle states whose exit latency exceeds this many microseconds count as deep."""


class Status(enum.StrEnum):
    """Verdict of one check."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


class CheckResult(msgspec.Struct, frozen=True):
    """One line of the doctor's report."""

    name: str
    status: Status
    reason: str
    fix: str | None = None


class DoctorReport(msgspec.Struct, frozen=True):
    """All checks, and the facts they were run against."""

    host: str
    kernel: str
    cpu: int | None
    interface: str | None
    checks: tuple[CheckResult, ...]

    def count(self, status: Status) -> int:
        """Return how many checks have ``status``."""
        return sum(1 for c in self.checks if c.status is status)

    @property
    def exit_code(self) -> int:
        """1 if any check failed, else 0."""
        return 1 if self.count(Status.FAIL) else 0

    def to_json(self) -> bytes:
        """Return the report as JSON, with a summary and the exit code."""
        data = msgspec.to_builtins(self)
        data["summary"] = {s.value: self.count(s) for s in Status}
        data["exit_code"] = self.exit_code
        return msgspec.json.format(msgspec.json.encode(data), indent=2)

    def render(self) -> str:
        """Return the human report."""
        target = f"cpu {self.cpu if self.cpu is not None else '(none given)'}"
        target += f", interface {self.interface or '(none found)'}"
        lines = [f"gateway doctor: host {self.host}, kernel {self.kernel}, {target}"]
        width = max((len(c.name) for c in self.checks), default=10)
        for check in self.checks:
            lines.append(f"{check.status.value:<8}{check.name:<{width + 2}}{check.reason}")
            if check.fix and check.status is not Status.PASS:
                lines.append(f"{'':<{width + 10}}fix: {check.fix}")
        counts = ", ".join(f"{self.count(s)} {s.value}" for s in Status)
        lines.append(f"summary: {counts}")
        return "\n".join(lines)


def resolve_addresses(name: str) -> list[str]:
    """Return the IP addresses of a venue host (its name resolved as the gateway would, or the address itself)."""
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


class Venue(msgspec.Struct, frozen=True):
    """A venue session the gateway connects to (from its config)."""

    name: str
    host: str


@dataclass
class DoctorContext:
    """What the checks look at."""

    host: HostView
    cpu: int | None = None
    interface: str | None = None
    probe_io_uring: Callable[[], tuple[bool, str]] | None = io_uring_usable
    """Tries io_uring in this process; ``None`` in tests with a fake tree."""
    identity: Identity | None = None
    """The user the gateway runs as (``--user``; default: whoever runs the doctor)."""
    venues: list[Venue] | None = None
    """The configured venues (``--config``); ``None``: not known."""
    resolve: Callable[[str], list[str]] = field(default=resolve_addresses)
    """Host name -> IP addresses (tests: a table)."""
    _onload: OnloadEnvironment | None = field(default=None, repr=False)
    _cmdline: dict[str, str] | None = field(default=None, repr=False)

    @property
    def user(self) -> Identity:
        """The gateway's user."""
        if self.identity is None:
            self.identity = current_identity()
        return self.identity

    @property
    def onload(self) -> OnloadEnvironment:
        """Onload on this host (looked up once), for the gateway's user."""
        if self._onload is None:
            self._onload = detect_onload_environment(self.host, identity=self.user)
        return self._onload

    @property
    def cmdline(self) -> dict[str, str] | None:
        """Kernel command-line options, or ``None`` if /proc/cmdline is unreadable."""
        if self._cmdline is None:
            text = self.host.read("/proc/cmdline")
            if text is None:
                return None
            self._cmdline = kernel_cmdline_options(text)
        return self._cmdline


Check = Callable[[DoctorContext], CheckResult]


def _cmdline_cpus(value: str) -> set[int] | None:
    """CPUs of an ``isolcpus=``-style value, skipping flags such as ``domain,managed_irq,``."""
    parts = [p for p in value.split(",") if p and (p[0].isdigit())]
    return parse_cpu_list(",".join(parts))


def _isolation_fix(cpu: int | str) -> str:
    return (
        f"add 'isolcpus=managed_irq,domain,{cpu} nohz_full={cpu} rcu_nocbs={cpu}' to the kernel command line"
        " (GRUB_CMDLINE_LINUX in /etc/default/grub; update-grub) and reboot"
    )


def _kernel_cpu_set(ctx: DoctorContext, sysfs_name: str, option: str) -> tuple[set[int] | None, bool]:
    """CPUs in /sys/devices/system/cpu/<sysfs_name>, else in ``option=`` on the kernel command line.

    Also returns whether sysfs had the list.
    """
    text = ctx.host.read_value(f"/sys/devices/system/cpu/{sysfs_name}")
    if text is not None:
        return parse_cpu_list(text), True
    if ctx.cmdline is not None:
        return _cmdline_cpus(ctx.cmdline.get(option, "")), False
    return None, False


def _core_in_set(ctx: DoctorContext, name: str, cpus: set[int], *, what: str, shown: str, none: str) -> CheckResult:
    """PASS if the gateway's core (without --cpu: any core) is in ``cpus``, else WARN with the boot fix."""
    if ctx.cpu is None:
        if cpus:
            return CheckResult(name, Status.PASS, f"{what} CPUs: {shown} (pass --cpu to check the gateway's one)")
        return CheckResult(name, Status.WARN, none, _isolation_fix("<cpu>"))
    if ctx.cpu in cpus:
        return CheckResult(name, Status.PASS, f"CPU {ctx.cpu} is {what} ({what}: {shown})")
    return CheckResult(name, Status.WARN, f"CPU {ctx.cpu} is not {what} ({what}: {shown})", _isolation_fix(ctx.cpu))


def check_isolcpus(ctx: DoctorContext) -> CheckResult:
    """The gateway's core is isolated from the scheduler (isolcpus)."""
    isolated, _ = _kernel_cpu_set(ctx, "isolated", "isolcpus")
    if isolated is None:
        return CheckResult("isolcpus", Status.UNKNOWN, "cannot read /sys/devices/system/cpu/isolated or /proc/cmdline")
    none = "no isolated CPUs: the scheduler puts other tasks on every core"
    shown = format_cpu_list(isolated) or "none"
    return _core_in_set(ctx, "isolcpus", isolated, what="isolated", shown=shown, none=none)


def check_nohz_full(ctx: DoctorContext) -> CheckResult:
    """The gateway's core runs without the periodic scheduler tick (nohz_full)."""
    cpus, in_sysfs = _kernel_cpu_set(ctx, "nohz_full", "nohz_full")
    if cpus is None:
        return CheckResult(
            "nohz_full", Status.UNKNOWN, "cannot read /sys/devices/system/cpu/nohz_full or /proc/cmdline"
        )
    shown = format_cpu_list(cpus) or "none"
    if not in_sysfs and not cpus:
        shown += ", and this kernel has no /sys/devices/system/cpu/nohz_full (built without CONFIG_NO_HZ_FULL?)"
    none = "no nohz_full CPUs: every core takes the scheduler tick"
    return _core_in_set(ctx, "nohz_full", cpus, what="tickless", shown=shown, none=none)


def check_rcu_nocbs(ctx: DoctorContext) -> CheckResult:
    """RCU callbacks are offloaded from the gateway's core (rcu_nocbs, implied by nohz_full)."""
    name = "rcu_nocbs"
    if ctx.cmdline is None:
        return CheckResult(name, Status.UNKNOWN, "cannot read /proc/cmdline")
    nocbs = _cmdline_cpus(ctx.cmdline.get("rcu_nocbs", "")) or set()
    nohz = _cmdline_cpus(ctx.cmdline.get("nohz_full", "")) or set()
    offloaded = nocbs | nohz
    shown = format_cpu_list(offloaded) or "none"
    if ctx.cpu is None:
        if offloaded:
            return CheckResult(name, Status.PASS, f"RCU callbacks offloaded from CPUs {shown}")
        return CheckResult(
            name,
            Status.WARN,
            "no rcu_nocbs= (or nohz_full=) on the kernel command line",
            _isolation_fix("<cpu>"),
        )
    if ctx.cpu in offloaded:
        via = "rcu_nocbs" if ctx.cpu in nocbs else "nohz_full"
        return CheckResult(name, Status.PASS, f"RCU callbacks offloaded from CPU {ctx.cpu} ({via})")
    return CheckResult(
        name, Status.WARN, f"RCU callbacks run on CPU {ctx.cpu} (offloaded: {shown})", _isolation_fix(ctx.cpu)
    )


def _running_commands(host: HostView) -> set[str] | None:
    pids = host.listdir("/proc")
    if pids is None:
        return None
    names = set()
    for pid in pids:
        if pid.isdigit():
            comm = host.read_value(f"/proc/{pid}/comm")
            if comm:
                names.add(comm)
    return names


def check_irqbalance(ctx: DoctorContext) -> CheckResult:
    """irqbalance is not moving interrupts onto the gateway's core."""
    name = "irqbalance"
    running = _running_commands(ctx.host)
    if running is None:
        return CheckResult(name, Status.UNKNOWN, "cannot list /proc")
    if "irqbalance" not in running:
        return CheckResult(name, Status.PASS, "irqbalance is not running")
    banned = ""
    config = ctx.host.read("/etc/default/irqbalance") or ctx.host.read("/etc/sysconfig/irqbalance") or ""
    match = re.search(r"^\s*IRQBALANCE_BANNED_CPULIST=\"?([0-9,\-]+)", config, re.MULTILINE)
    if match:
        banned = match.group(1)
        cpus = parse_cpu_list(banned) or set()
        if ctx.cpu is not None and ctx.cpu in cpus:
            return CheckResult(name, Status.PASS, f"irqbalance runs but keeps off CPU {ctx.cpu} (banned {banned})")
    return CheckResult(
        name,
        Status.WARN,
        "irqbalance is running and may move interrupts onto the gateway's core"
        + (f" (banned CPUs: {banned})" if banned else ""),
        "systemctl disable --now irqbalance, or set IRQBALANCE_BANNED_CPULIST=<cpu> in /etc/default/irqbalance",
    )


def check_irq_affinity(ctx: DoctorContext) -> CheckResult:
    """No device interrupt may be delivered to the gateway's core."""
    name = "irq-affinity"
    if ctx.cpu is None:
        return CheckResult(name, Status.UNKNOWN, "no --cpu given: nothing to check interrupts against")
    irqs = ctx.host.listdir("/proc/irq")
    if irqs is None:
        return CheckResult(name, Status.UNKNOWN, "cannot list /proc/irq")
    hitting = []
    for irq in irqs:
        if not irq.isdigit():
            continue
        text = ctx.host.read_value(f"/proc/irq/{irq}/smp_affinity_list")
        cpus = parse_cpu_list(text) if text else None
        if cpus and ctx.cpu in cpus:
            hitting.append(irq)
    if not hitting:
        return CheckResult(name, Status.PASS, f"no interrupt is routed to CPU {ctx.cpu}")
    shown = ", ".join(hitting[:8]) + (" ..." if len(hitting) > 8 else "")
    online = parse_cpu_list(ctx.host.read_value("/sys/devices/system/cpu/online") or "") or set()
    others = format_cpu_list(online - {ctx.cpu}) or "<other cpus>"
    return CheckResult(
        name,
        Status.WARN,
        f"{len(hitting)} interrupt(s) may fire on CPU {ctx.cpu} (IRQ {shown})",
        f"for irq in /proc/irq/[0-9]*; do echo {others} > $irq/smp_affinity_list; done"
        " (or IRQBALANCE_BANNED_CPULIST, or isolcpus=managed_irq,...)",
    )


def _cpus_to_check(ctx: DoctorContext) -> list[int] | None:
    if ctx.cpu is not None:
        return [ctx.cpu]
    online = ctx.host.read_value("/sys/devices/system/cpu/online")
    cpus = parse_cpu_list(online) if online else None
    return sorted(cpus) if cpus else None


def check_governor(ctx: DoctorContext) -> CheckResult:
    """The CPU frequency governor keeps the core at full speed (performance)."""
    name = "cpu-governor"
    cpus = _cpus_to_check(ctx)
    if cpus is None:
        return CheckResult(name, Status.UNKNOWN, "cannot read /sys/devices/system/cpu/online")
    governors: dict[str, list[int]] = {}
    for cpu in cpus:
        value = ctx.host.read_value(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
        if value is not None:
            governors.setdefault(value, []).append(cpu)
    if not governors:
        return CheckResult(
            name,
            Status.UNKNOWN,
            "no cpufreq scaling_governor (a VM, or frequency left to firmware/hypervisor: check the BIOS)",
        )
    shown = "; ".join(f"{g} on CPU {format_cpu_list(c)}" for g, c in sorted(governors.items()))
    if set(governors) == {"performance"}:
        return CheckResult(name, Status.PASS, f"governor: {shown}")
    cpu_arg = f" -c {ctx.cpu}" if ctx.cpu is not None else ""
    return CheckResult(
        name,
        Status.WARN,
        f"governor: {shown}: the clock slows down between bursts and the first order after a pause pays",
        f"cpupower{cpu_arg} frequency-set -g performance",
    )


def check_cstates(ctx: DoctorContext) -> CheckResult:
    """Deep idle states (long wake-up) are disabled on the gateway's core."""
    name = "c-states"
    if ctx.cmdline is not None and ctx.cmdline.get("idle") == "poll":
        return CheckResult(name, Status.PASS, "idle=poll on the kernel command line: the CPU never sleeps")
    cpus = _cpus_to_check(ctx)
    if cpus is None:
        return CheckResult(name, Status.UNKNOWN, "cannot read /sys/devices/system/cpu/online")
    deep: set[str] = set()
    seen: set[str] = set()
    found_any = False
    for cpu in cpus:
        base = f"/sys/devices/system/cpu/cpu{cpu}/cpuidle"
        for state in ctx.host.listdir(base) or []:
            if not state.startswith("state"):
                continue
            found_any = True
            state_name = ctx.host.read_value(f"{base}/{state}/name") or state
            latency = ctx.host.read_value(f"{base}/{state}/latency")
            disabled = ctx.host.read_value(f"{base}/{state}/disable")
            seen.add(f"{state_name}({latency or '?'}us)")
            if disabled == "1" or latency is None or not latency.isdigit():
                continue
            if int(latency) > DEEP_CSTATE_LATENCY_US:
                deep.add(f"{state_name} ({latency} us)")
    if not found_any:
        driver = ctx.host.read_value("/sys/devices/system/cpu/cpuidle/current_driver")
        return CheckResult(name, Status.UNKNOWN, f"no cpuidle states exposed (driver: {driver or 'none'})")
    if not deep:
        return CheckResult(name, Status.PASS, f"no deep idle state enabled (states: {', '.join(sorted(seen))})")
    cpu_arg = f" -c {ctx.cpu}" if ctx.cpu is not None else ""
    return CheckResult(
        name,
        Status.WARN,
        f"deep idle states enabled: {', '.join(sorted(deep))}: waking from them adds that much to the next packet",
        f"cpupower{cpu_arg} idle-set -D {DEEP_CSTATE_LATENCY_US}"
        " (boot: intel_idle.max_cstate=1 processor.max_cstate=1)",
    )


def _bracketed(text: str | None) -> str | None:
    match = re.search(r"\[([^\]]+)\]", text or "")
    return match.group(1) if match else None


def check_thp(ctx: DoctorContext) -> CheckResult:
    """Transparent huge pages are not 'always' (khugepaged and compaction stall the process)."""
    name = "transparent-hugepages"
    enabled = _bracketed(ctx.host.read("/sys/kernel/mm/transparent_hugepage/enabled"))
    defrag = _bracketed(ctx.host.read("/sys/kernel/mm/transparent_hugepage/defrag"))
    if enabled is None:
        return CheckResult(name, Status.UNKNOWN, "no /sys/kernel/mm/transparent_hugepage (THP not built in?)")
    shown = f"enabled={enabled}, defrag={defrag or '?'}"
    if enabled == "always" or defrag == "always":
        return CheckResult(
            name,
            Status.WARN,
            f"{shown}: page faults may stall on compaction and khugepaged rewrites the heap's page tables",
            "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled;"
            " echo madvise > /sys/kernel/mm/transparent_hugepage/defrag (boot: transparent_hugepage=madvise)",
        )
    return CheckResult(name, Status.PASS, shown)


def _meminfo(host: HostView) -> dict[str, int] | None:
    text = host.read("/proc/meminfo")
    if text is None:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        number = rest.split()
        if number and number[0].isdigit():
            values[key.strip()] = int(number[0])
    return values


def check_hugepages(ctx: DoctorContext) -> CheckResult:
    """Huge pages are reserved for Onload's packet buffers (when Onload is used)."""
    name = "hugepages"
    info = _meminfo(ctx.host)
    if info is None or "HugePages_Total" not in info:
        return CheckResult(name, Status.UNKNOWN, "cannot read HugePages_Total from /proc/meminfo")
    total, free = info["HugePages_Total"], info.get("HugePages_Free", 0)
    size = info.get("Hugepagesize", 0)
    if total > 0:
        return CheckResult(name, Status.PASS, f"{total} huge pages of {size} kB reserved, {free} free")
    if ctx.onload.executable is not None:
        return CheckResult(
            name,
            Status.WARN,
            "no huge pages reserved: Onload puts its packet buffers on 4 KiB pages (more TLB misses)",
            "sysctl -w vm.nr_hugepages=1024 (persist in /etc/sysctl.d/)",
        )
    return CheckResult(name, Status.PASS, "no huge pages reserved; only Onload's packet buffers would use them")


def check_swap(ctx: DoctorContext) -> CheckResult:
    """No swap, or the gateway locks its memory (spin.mlockall)."""
    name = "swap"
    text = ctx.host.read("/proc/swaps")
    if text is None:
        return CheckResult(name, Status.UNKNOWN, "cannot read /proc/swaps")
    devices = [line.split()[0] for line in text.splitlines()[1:] if line.strip()]
    swappiness = ctx.host.read_value("/proc/sys/vm/swappiness")
    if not devices:
        return CheckResult(name, Status.PASS, "no swap configured")
    return CheckResult(
        name,
        Status.WARN,
        f"swap active on {', '.join(devices)} (vm.swappiness={swappiness or '?'}):"
        " an idle gateway's pages can be swapped out and fault back in on the next order",
        "set spin.mlockall: true (LimitMEMLOCK=infinity in the unit), or swapoff -a",
    )


def default_route_interface(host: HostView) -> str | None:
    """Return the interface of the IPv4 default route from /proc/net/route, or ``None``."""
    text = host.read("/proc/net/route")
    for line in (text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return fields[0]
    return None


def parse_ethtool_coalesce(output: str) -> dict[str, str]:
    """Return ``ethtool -c`` settings as ``{name: value}`` (``adaptive-rx``, ``rx-usecs``, ...)."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        adaptive = re.match(r"\s*Adaptive RX:\s*(\S+)\s+TX:\s*(\S+)", line)
        if adaptive:
            values["adaptive-rx"], values["adaptive-tx"] = adaptive.group(1), adaptive.group(2)
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            values[key.strip()] = value.strip()
    return values


def check_coalescing(ctx: DoctorContext) -> CheckResult:
    """NIC interrupt coalescing is fixed (not adaptive) on the venue interface."""
    name = "nic-coalescing"
    interface = ctx.interface
    if interface is None:
        return CheckResult(name, Status.UNKNOWN, "no --interface given and no default route found")
    result = ctx.host.run(["ethtool", "-c", interface])
    if result is None:
        return CheckResult(name, Status.UNKNOWN, "ethtool is not installed", "apt-get install ethtool (or dnf install)")
    if result.exit_code != 0:
        said = result.output.strip().splitlines()
        why = said[-1] if said else f"exit {result.exit_code}"
        return CheckResult(name, Status.UNKNOWN, f"ethtool -c {interface}: {why}")
    values = parse_ethtool_coalesce(result.output)
    rx_usecs = values.get("rx-usecs", "?")
    adaptive = values.get("adaptive-rx", "?")
    shown = f"{interface}: adaptive-rx {adaptive}, rx-usecs {rx_usecs}"
    if adaptive == "on":
        return CheckResult(
            name,
            Status.WARN,
            f"{shown}: adaptive coalescing changes the interrupt delay with the load",
            f"ethtool -C {interface} adaptive-rx off rx-usecs 0"
            " (kernel path; with Onload spinning the UG1586 advice is adaptive-rx off rx-usecs 60)",
        )
    if adaptive == "?" and rx_usecs == "?":
        return CheckResult(name, Status.UNKNOWN, f"{interface}: the driver reports no coalescing settings")
    return CheckResult(name, Status.PASS, shown)


def check_busy_poll(ctx: DoctorContext) -> CheckResult:
    """Kernel busy polling is on for epoll (net.core.busy_poll) so the kernel path can spin on the NIC."""
    name = "busy-poll-sysctls"
    busy_read = ctx.host.read_value("/proc/sys/net/core/busy_read")
    busy_poll = ctx.host.read_value("/proc/sys/net/core/busy_poll")
    if busy_read is None or busy_poll is None:
        return CheckResult(name, Status.UNKNOWN, "no net.core.busy_read/busy_poll (kernel without busy polling)")
    shown = f"net.core.busy_read={busy_read}, net.core.busy_poll={busy_poll}"
    if busy_poll == "0":
        return CheckResult(
            name,
            Status.WARN,
            f"{shown}: epoll_wait does not busy-poll the NIC on the kernel path"
            " (the gateway's SO_BUSY_POLL covers reads only)",
            "sysctl -w net.core.busy_poll=50 net.core.busy_read=50 (persist in /etc/sysctl.d/)",
        )
    return CheckResult(name, Status.PASS, shown)


def check_io_uring(ctx: DoctorContext) -> CheckResult:
    """Whether uvloop can use io_uring here (it must not under Onload: the gateway blocks it then)."""
    name = "io_uring"
    disabled = ctx.host.read_value("/proc/sys/kernel/io_uring_disabled")
    probe = ctx.probe_io_uring() if ctx.probe_io_uring is not None else None
    meaning = {"0": "enabled", "1": "restricted to io_uring_group", "2": "disabled"}
    sysctl = f"kernel.io_uring_disabled={disabled} ({meaning.get(disabled or '', '?')})" if disabled else None
    if probe is None and sysctl is None:
        return CheckResult(name, Status.UNKNOWN, "no kernel.io_uring_disabled and no probe")
    facts = "; ".join(x for x in (sysctl, probe[1] if probe else None) if x)
    usable = probe[0] if probe is not None else disabled == "0"
    if usable:
        return CheckResult(
            name,
            Status.PASS,
            f"{facts}: uvloop registers sockets through io_uring here; under Onload the gateway blocks"
            " io_uring for itself (spin.io_uring_guard: auto) so Onload sees every epoll_ctl",
        )
    return CheckResult(name, Status.PASS, f"{facts}: libuv falls back to epoll_ctl, which Onload intercepts")


def check_onload(ctx: DoctorContext) -> CheckResult:
    """Onload is installed with its driver loaded (or absent: the gateway then runs on kernel sockets)."""
    name = "onload"
    env = msgspec.structs.replace(ctx.onload, device_problem=None)  # /dev/onload: check_onload_device
    reason = env.unusable_reason()
    if env.executable is None:
        return CheckResult(
            name,
            Status.WARN,
            "Onload not installed: gateway launch falls back to kernel sockets",
            "install OpenOnload (https://github.com/Xilinx-CNS/onload) if this host has Solarflare/AMD NICs",
        )
    if reason is not None:
        return CheckResult(name, Status.FAIL, reason, "onload_tool reload (as root)")
    mismatch = env.version_mismatch()
    if mismatch:
        return CheckResult(name, Status.WARN, mismatch, "onload_tool reload (load the driver matching the library)")
    return CheckResult(name, Status.PASS, env.summary())


def check_onload_device(ctx: DoctorContext) -> CheckResult:
    """The gateway's user can open /dev/onload read-write (else every socket silently stays on the kernel)."""
    name = "onload-device"
    user = ctx.user
    devices = [d for d in (ONLOAD_DEVICE, ONLOAD_EPOLL_DEVICE) if ctx.host.exists(d)]
    if not devices:
        if ctx.onload.executable is None:
            return CheckResult(name, Status.PASS, "Onload not installed: no /dev/onload to open (kernel path)")
        if ctx.onload.driver_loaded:  # /sys/module/onload: the onload check passes, the device node is what is missing
            return CheckResult(
                name,
                Status.WARN,
                "the driver is loaded (/sys/module/onload) but there is no /dev/onload: Onload cannot create a stack"
                " until it exists, and every socket stays on the kernel",
                "udevadm trigger --subsystem-match=onload, or onload_tool reload (as root)",
            )
        return CheckResult(name, Status.UNKNOWN, "no /dev/onload: the driver is not loaded (see the onload check)")
    problems = [p for p in (device_access_problem(ctx.host, user, d) for d in devices) if p]
    if problems:
        return CheckResult(
            name,
            Status.FAIL,
            "; ".join(problems) + ": Onload cannot create a stack for it and every socket stays on the kernel",
            device_access_fix(ctx.host, user),
        )
    return CheckResult(
        name, Status.PASS, f"user {user.user} (uid {user.uid}) can open {' and '.join(devices)} read-write"
    )


ONLOAD_DRIVERS: dict[str, str] = {
    "sfc": "AMD Solarflare X2/X4/8000 series",
    "xilinx_efct": "AMD X3 series",
    "sfc_ef100": "AMD EF100 (older Onload releases)",
}
"""Network drivers Onload accelerates natively (other NICs only through its AF_XDP mode)."""


def parse_route_get(output: str) -> tuple[str | None, bool]:
    """Return (interface, is_local) from ``ip route get ADDR``: ``10.9.0.20 via 10.1.0.1 dev ens1f0 src ...``."""
    words = output.split()
    device = words[words.index("dev") + 1] if "dev" in words[:-1] else None
    return device, bool(words) and words[0] in ("local", "broadcast")


def interface_driver(host: HostView, interface: str) -> str | None:
    """Return the kernel driver of a network interface (``sfc``, ``mlx5_core``), ``None`` if it has no device."""
    try:
        target = os.readlink(host.path(f"/sys/class/net/{interface}/device/driver"))
    except OSError:
        return None
    return os.path.basename(target)


def check_venue_routes(ctx: DoctorContext) -> CheckResult:
    """The route to each configured venue leaves through an interface Onload accelerates (else the kernel has it)."""
    name = "venue-routes"
    if ctx.venues is None:
        return CheckResult(
            name, Status.UNKNOWN, "no --config: the venues are not known", "gateway doctor --config deploy/gateway.yaml"
        )
    if not ctx.venues:
        return CheckResult(name, Status.PASS, "no venue in the config")
    installed = ctx.onload.executable is not None
    worst = Status.PASS
    said: list[str] = []
    fixes: list[str] = []
    for venue in ctx.venues:
        addresses = ctx.resolve(venue.host)
        if not addresses:
            said.append(f"{venue.name} {venue.host}: does not resolve")
            worst = _worse(worst, Status.FAIL)
            continue
        address = addresses[0]
        result = ctx.host.run(["ip", "route", "get", address])
        if result is None or result.exit_code != 0:
            why = "ip is not installed" if result is None else (result.output.strip() or f"exit {result.exit_code}")
            said.append(f"{venue.name} {address}: ip route get: {why}")
            worst = _worse(worst, Status.UNKNOWN)
            continue
        interface, local = parse_route_get(result.output)
        driver = interface_driver(ctx.host, interface) if interface else None
        where = f"{venue.name} {address} -> {interface or '?'}"
        if local or interface == "lo":
            said.append(f"{where} (loopback: a venue on this host, never through a NIC)")
            worst = _worse(worst, Status.WARN)
            fixes.append(
                f"{venue.name}: fine for a simulator; in production the venue address must route through the"
                " Solarflare/AMD interface"
            )
        elif driver in ONLOAD_DRIVERS:
            said.append(f"{where} ({driver}: {ONLOAD_DRIVERS[driver]}, accelerated by Onload)")
        else:
            what = f"driver {driver}" if driver else "no network device driver"
            said.append(f"{where} ({what}: not a Solarflare/AMD adapter, Onload hands the socket to the kernel)")
            worst = _worse(worst, Status.FAIL if installed else Status.WARN)
            fixes.append(
                f"{venue.name}: route {address} through the Solarflare/AMD interface (ip route add {address}/32 via"
                f" <gateway> dev <sfc interface>), or register {interface} for Onload's AF_XDP mode"
                f" (echo {interface} > /sys/module/sfc_resource/afxdp/register)"
            )
    if not installed and worst is Status.PASS:
        said.append("Onload not installed: the gateway runs on kernel sockets anyway")
    return CheckResult(name, worst, "; ".join(said), "; ".join(fixes) or None)


_ORDER = (Status.PASS, Status.UNKNOWN, Status.WARN, Status.FAIL)


def _worse(a: Status, b: Status) -> Status:
    return a if _ORDER.index(a) >= _ORDER.index(b) else b


def check_clocksource(ctx: DoctorContext) -> CheckResult:
    """The clock source lets clock_gettime run in user space (vDSO), not as a system call."""
    name = "clocksource"
    current = ctx.host.read_value("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    available = ctx.host.read_value("/sys/devices/system/clocksource/clocksource0/available_clocksource") or ""
    if not current:
        return CheckResult(name, Status.UNKNOWN, "cannot read current_clocksource")
    if current in ("tsc", "arch_sys_counter"):
        return CheckResult(name, Status.PASS, f"{current}: clock_gettime is a vDSO call (tens of ns)")
    if current == "kvm-clock":
        note = "; tsc is available and cheaper" if "tsc" in available.split() else ""
        return CheckResult(name, Status.PASS, f"kvm-clock (paravirtual, vDSO-capable){note}")
    fix = "echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource (boot: clocksource=tsc)"
    return CheckResult(
        name,
        Status.WARN,
        f"{current}: clock_gettime is a system call on this clock (about a microsecond per timestamp)"
        f" (available: {available or '?'})",
        fix if "tsc" in available.split() else "check the BIOS/hypervisor for a stable TSC",
    )


def check_rt_throttling(ctx: DoctorContext) -> CheckResult:
    """RT throttling does not pause a spinning SCHED_FIFO gateway (spin.sched_fifo_priority)."""
    name = "rt-throttling"
    runtime = ctx.host.read_value("/proc/sys/kernel/sched_rt_runtime_us")
    period = ctx.host.read_value("/proc/sys/kernel/sched_rt_period_us")
    if runtime is None:
        return CheckResult(name, Status.UNKNOWN, "cannot read kernel.sched_rt_runtime_us")
    if runtime == "-1":
        return CheckResult(name, Status.PASS, "kernel.sched_rt_runtime_us=-1: no RT throttling")
    throttled = ""
    if runtime.isdigit() and period and period.isdigit():
        throttled = f" for {int(period) - int(runtime)} us"
    return CheckResult(
        name,
        Status.WARN,
        f"kernel.sched_rt_runtime_us={runtime} of {period or '?'}:"
        f" with spin.sched_fifo_priority set, a spinning gateway is stopped{throttled} in every period",
        "sysctl -w kernel.sched_rt_runtime_us=-1 (only with an isolated core), or leave sched_fifo_priority unset",
    )


CHECKS: tuple[Check, ...] = (
    check_isolcpus,
    check_nohz_full,
    check_rcu_nocbs,
    check_irqbalance,
    check_irq_affinity,
    check_governor,
    check_cstates,
    check_thp,
    check_hugepages,
    check_swap,
    check_coalescing,
    check_busy_poll,
    check_io_uring,
    check_onload,
    check_onload_device,
    check_venue_routes,
    check_clocksource,
    check_rt_throttling,
)


def _run_check(check: Check, ctx: DoctorContext) -> CheckResult:
    try:
        return check(ctx)
    except Exception as exc:  # a broken check must not hide the others
        name = check.__name__.removeprefix("check_").replace("_", "-")
        return CheckResult(name, Status.UNKNOWN, f"check failed: {type(exc).__name__}: {exc}")


def run_doctor(ctx: DoctorContext, checks: tuple[Check, ...] = CHECKS) -> DoctorReport:
    """Run every check against ``ctx`` and return the report."""
    if ctx.interface is None:
        ctx.interface = default_route_interface(ctx.host)
    results = tuple(_run_check(check, ctx) for check in checks)
    hostname = ctx.host.read_value("/proc/sys/kernel/hostname") or "?"
    kernel = ctx.host.read_value("/proc/sys/kernel/osrelease") or "?"
    return DoctorReport(hostname, kernel, ctx.cpu, ctx.interface, results)


def validate_targets(host: HostView, cpu: int | None, interface: str | None) -> str | None:
    """Return an error for a ``--cpu`` or ``--interface`` that does not exist on this host, else ``None``."""
    if cpu is not None:
        present = host.read_value("/sys/devices/system/cpu/present")
        cpus = parse_cpu_list(present) if present else None
        if cpu < 0 or (cpus is not None and cpu not in cpus):
            return f"--cpu {cpu}: no such CPU (present: {present or 'unknown'})"
    if interface is not None:
        names = host.listdir("/sys/class/net")
        if names is not None and interface not in names:
            return f"--interface {interface}: no such interface (have: {', '.join(names) or 'none'})"
    return None


def local_context(
    cpu: int | None,
    interface: str | None,
    root: str = "/",
    identity: Identity | None = None,
    venues: list[Venue] | None = None,
) -> DoctorContext:
    """Build the context for this host (``root`` other than ``/`` skips the in-process io_uring probe)."""
    host = HostView(root)
    probe = io_uring_usable if os.path.realpath(root) == "/" else None
    return DoctorContext(host, cpu, interface, probe, identity=identity, venues=venues)
