"""Process tuning applied once at start-up, before the event loop runs.

``apply_process_tuning(cfg)`` sets CPU affinity, SCHED_FIFO, ``mlockall`` and the GC
policy, then reports every spin setting with its effective value (or why it could not
be applied) in a ``TuningReport`` and one log line per setting. It never raises: on a
host or in a unit where a setting is not permitted, the gateway still starts, and the
report and log say what is missing and how to grant it.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
from typing import Any

import msgspec

from gateway.ops.config import SpinConfig
from gateway.ops.gc_control import GcController
from gateway.ops.host import format_cpu_list

log = logging.getLogger(__name__)

MCL_CURRENT = 1
MCL_FUTURE = 2


class SettingResult(msgspec.Struct, frozen=True):
    """One tuning setting: what was asked, what is in effect, and whether it took."""

    name: str
    requested: str
    effective: str
    applied: bool
    """False when the request could not be honoured (``detail`` says why and how to fix it)."""
    detail: str = ""

    def log_line(self) -> str:
        """Return the start-up log line for this setting."""
        if not self.applied:
            return (
                f"tuning {self.name}: NOT APPLIED, requested {self.requested},"
                f" in effect {self.effective}: {self.detail}"
            )
        text = f"tuning {self.name}: {self.effective}"
        return f"{text}; {self.detail}" if self.detail else text


class TuningReport(msgspec.Struct, frozen=True):
    """Every setting ``apply_process_tuning`` handled, in the order applied."""

    settings: tuple[SettingResult, ...]

    def get(self, name: str) -> SettingResult | None:
        """Return the setting called ``name``."""
        return next((s for s in self.settings if s.name == name), None)

    def status(self) -> list[dict[str, Any]]:
        """Return JSON-able settings for ``gateway status``."""
        return [msgspec.to_builtins(s) for s in self.settings]


def _thread_ids() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def apply_affinity(cpus: tuple[int, ...] | None) -> SettingResult:
    """Pin every thread of this process to ``cpus`` (threads created later inherit it)."""
    if cpus is None:
        current = format_cpu_list(os.sched_getaffinity(0))
        return SettingResult("cpu", "unchanged", current, True, "not pinned (set spin.cpu to pin)")
    requested = format_cpu_list(cpus)
    try:
        for tid in _thread_ids():
            os.sched_setaffinity(tid, cpus)
    except OSError as exc:
        current = format_cpu_list(os.sched_getaffinity(0))
        why = f"sched_setaffinity failed: {os.strerror(exc.errno or 0)}"
        if exc.errno == errno.EINVAL:
            online = _read_text("/sys/devices/system/cpu/online") or "unknown"
            why = f"CPU(s) {requested} offline, missing or outside this process's cpuset (online: {online})"
        return SettingResult("cpu", requested, current, False, why)
    effective = format_cpu_list(os.sched_getaffinity(0))
    return SettingResult("cpu", requested, effective, effective == requested)


def apply_sched_fifo(priority: int | None) -> SettingResult:
    """Switch the calling (event-loop) thread to SCHED_FIFO at ``priority``."""
    if priority is None:
        return SettingResult("sched_fifo", "off", f"off ({_describe_policy()})", True)
    requested = f"SCHED_FIFO priority {priority}"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        why = f"sched_setscheduler failed: {os.strerror(exc.errno or 0)}"
        if exc.errno == errno.EPERM:
            why += " (needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least the priority: LimitRTPRIO= in the unit)"
        return SettingResult("sched_fifo", requested, _describe_policy(), False, why)
    detail = ""
    runtime = _read_int("/proc/sys/kernel/sched_rt_runtime_us")
    period = _read_int("/proc/sys/kernel/sched_rt_period_us")
    if runtime is not None and period is not None and 0 <= runtime < period:
        detail = (
            f"RT throttling on (kernel.sched_rt_runtime_us={runtime} of {period}): a thread that spins is"
            f" stopped for {(period - runtime) // 1000} ms in every {period // 1000} ms;"
            " 'sysctl -w kernel.sched_rt_runtime_us=-1' on a host with an isolated core"
        )
    return SettingResult("sched_fifo", requested, _describe_policy(), True, detail)


def _describe_policy() -> str:
    policy = os.sched_getscheduler(0)
    if policy == os.SCHED_FIFO:
        return f"SCHED_FIFO priority {os.sched_getparam(0).sched_priority}"
    if policy == os.SCHED_RR:
        return f"SCHED_RR priority {os.sched_getparam(0).sched_priority}"
    return "SCHED_OTHER"


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read_text(path)
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def locked_memory_kb() -> int | None:
    """Return ``VmLck`` of this process in KiB (locked memory), or ``None``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmLck:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def apply_mlockall(enabled: bool) -> SettingResult:
    """Lock all current and future pages of the process in RAM."""
    if not enabled:
        return SettingResult("mlockall", "off", "off", True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
        err = ctypes.get_errno()
        why = f"mlockall failed: {os.strerror(err)}"
        if err in (errno.ENOMEM, errno.EPERM):
            why += " (raise RLIMIT_MEMLOCK: LimitMEMLOCK=infinity in the unit, or grant CAP_IPC_LOCK)"
        return SettingResult("mlockall", "on", "off", False, why)
    locked = locked_memory_kb()
    return SettingResult("mlockall", "on", "on", True, f"{locked} KiB locked" if locked is not None else "")


def apply_process_tuning(cfg: SpinConfig, gc_controller: GcController | None = None) -> TuningReport:
    """Apply affinity, SCHED_FIFO, mlockall and the GC policy; report every spin setting; log one line each.

    Call it once, before the event loop is created (affinity and scheduling policy are
    inherited by threads started later). ``gc_controller`` applies the GC policy; pass the
    one the runtime keeps so its counters reach ``gateway status``.
    """
    settings = [
        apply_affinity(cfg.cpu),
        apply_sched_fifo(cfg.sched_fifo_priority),
        apply_mlockall(cfg.mlockall),
    ]
    if gc_controller is not None:
        settings.append(SettingResult("gc", cfg.gc.automatic.value, gc_controller.apply(), True))
    if cfg.loop_spin_us == -1:
        spin = "always (the loop never blocks; give it a dedicated core)"
    elif cfg.loop_spin_us:
        spin = f"{cfg.loop_spin_us} us after each socket read"
    else:
        spin = "off"
    settings.append(SettingResult("loop_spin", str(cfg.loop_spin_us), spin, True))
    busy = f"{cfg.so_busy_poll_us} us on kernel-path venue sockets" if cfg.so_busy_poll_us else "off"
    settings.append(SettingResult("so_busy_poll", str(cfg.so_busy_poll_us), busy, True))
    settings.append(SettingResult("tcp_nodelay", "on", "on", True, "every venue socket"))
    report = TuningReport(tuple(settings))
    for setting in report.settings:
        (log.info if setting.applied else log.warning)(setting.log_line())
    return report
