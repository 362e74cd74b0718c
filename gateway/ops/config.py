"""The ``spin:`` section of ``deploy/gateway.yaml``: busy polling, CPU placement, memory locking, GC policy.

Example (every field optional; the values shown are the defaults unless noted)::

    spin:
      loop_spin_us: 0            # event-loop spin budget after activity; 0 off, -1 always
      so_busy_poll_us: 50        # SO_BUSY_POLL on kernel-path venue sockets; 0 off
      cpu: null                  # e.g. [2]: pin the gateway to these CPUs
      sched_fifo_priority: null  # e.g. 10: SCHED_FIFO at this priority (1-99)
      mlockall: false            # lock all current and future pages in RAM
      io_uring_guard: auto       # auto | always | never
      gc:
        freeze_after_startup: true
        automatic: young         # young | all | off
        gen0_threshold: null     # e.g. 50000
        quiet_period_ms: 500     # 0: never collect in quiet periods
        quiet_generation: 2

Parse with ``parse_spin_config(raw)``: it returns the config or a ``SpinConfigError``
saying which field is wrong and why, never raises on bad input.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec

from gateway.ops.iouring import IoUringGuard

SpinBudgetUs = Annotated[int, msgspec.Meta(ge=-1, le=10_000_000)]
NonNegativeUs = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
CpuIndex = Annotated[int, msgspec.Meta(ge=0, le=65_535)]
FifoPriority = Annotated[int, msgspec.Meta(ge=1, le=99)]
Threshold = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
QuietMs = Annotated[int, msgspec.Meta(ge=0, le=3_600_000)]
Generation = Annotated[int, msgspec.Meta(ge=0, le=2)]


class AutomaticGc(enum.StrEnum):
    """Which collections Python may start on its own while the gateway runs."""

    YOUNG = "young"
    """Generations 0 and 1 run automatically (short); full collections only in quiet periods."""
    ALL = "all"
    """Python's default: any generation, whenever its threshold trips (full collections included)."""
    OFF = "off"
    """``gc.disable()``: nothing automatic; every collection happens in quiet periods."""


class GcConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Garbage-collector policy for deterministic latency."""

    freeze_after_startup: bool = True
    """Move every object alive at the end of start-up to the permanent generation (``gc.freeze()``)
    so later collections never walk the config, codecs and tables built at start-up."""
    automatic: AutomaticGc = AutomaticGc.YOUNG
    """Which automatic collections stay on during trading (see ``AutomaticGc``)."""
    gen0_threshold: Threshold | None = None
    """Allocations between young collections; ``None`` keeps Python's default (700). Higher means
    fewer but longer young collections."""
    quiet_period_ms: QuietMs = 500
    """Collect once the loop has seen no socket activity for this long; 0 never collects in quiet periods."""
    quiet_generation: Generation = 2
    """Generation collected in a quiet period (2 = full collection)."""


class SpinConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Busy-poll and process-placement settings, applied at start-up before the event loop runs."""

    loop_spin_us: SpinBudgetUs = 0
    """Event-loop spin budget: after each socket read the loop keeps polling with a zero timeout for
    this many microseconds before it may block again. 0 = off, -1 = spin forever (one core per gateway)."""
    so_busy_poll_us: NonNegativeUs = 50
    """``SO_BUSY_POLL`` (microseconds) on every venue socket that is on the kernel path; 0 = leave unset.
    Some kernels need CAP_NET_ADMIN to set it above ``net.core.busy_read`` (6.18 does not)."""
    cpu: tuple[CpuIndex, ...] | None = None
    """CPUs the gateway is pinned to (``sched_setaffinity``), e.g. ``[2]``; ``None`` leaves affinity alone."""
    sched_fifo_priority: FifoPriority | None = None
    """Run under SCHED_FIFO at this priority (1-99, needs CAP_SYS_NICE or LimitRTPRIO); ``None`` = normal."""
    mlockall: bool = False
    """``mlockall(MCL_CURRENT | MCL_FUTURE)``: no page faults to disk.

    Needs RLIMIT_MEMLOCK (LimitMEMLOCK=infinity) or CAP_IPC_LOCK."""
    io_uring_guard: IoUringGuard = IoUringGuard.AUTO
    """When to block io_uring for the process so uvloop registers sockets with ``epoll_ctl``."""
    gc: GcConfig = msgspec.field(default_factory=GcConfig)
    """Garbage-collector policy."""

    def __post_init__(self) -> None:
        if self.cpu is not None:
            if not self.cpu:
                raise ValueError("cpu must list at least one CPU, or be null to leave affinity alone")
            if len(set(self.cpu)) != len(self.cpu):
                raise ValueError(f"cpu lists a CPU twice: {list(self.cpu)}")


class SpinConfigError(msgspec.Struct, frozen=True):
    """A ``spin:`` section that cannot be used: where and why (the operator's fix)."""

    path: str
    """Where in the section, e.g. ``spin.gc.quiet_period_ms``."""
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def parse_spin_config(raw: Any) -> SpinConfig | SpinConfigError:
    """Validate the ``spin:`` mapping (``None`` means all defaults); return the config or the error."""
    if raw is None:
        return SpinConfig()
    try:
        return msgspec.convert(raw, SpinConfig, strict=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        message, _, where = text.rpartition(" - at `$")
        if not message:
            return SpinConfigError("spin", text)
        return SpinConfigError("spin" + where.rstrip("`"), message)
