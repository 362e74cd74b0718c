"""Which network path this gateway process runs on, decided from the process itself and the launcher's note.

``gateway launch`` tells the gateway what it decided through environment variables
(``GATEWAY_ACCEL_MODE`` and friends, below). The process then checks for itself:
Onload is in use only if libonload is loaded and ``onload_is_present()`` says so. The
process's own answer wins; a disagreement is logged as a warning (for example a
wrapper script that dropped ``LD_PRELOAD``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from gateway.ops.onload import OnloadExtensions, OnloadProcessInfo, probe_process

ACCEL_MODE_ENV = "GATEWAY_ACCEL_MODE"
"""``onload`` or ``kernel``: what the launcher chose."""
ACCEL_REASON_ENV = "GATEWAY_ACCEL_REASON"
"""Why the launcher chose it (the fallback reason on the kernel path)."""
ONLOAD_PROFILE_ENV = "GATEWAY_ONLOAD_PROFILE"
"""The profile passed to ``onload --profile=``."""
STRICT_ENV = "GATEWAY_STRICT_ACCELERATION"
"""``1`` when launched with ``--strict-acceleration`` (``EF_NO_FAIL=0``)."""
REQUIRE_ENV = "GATEWAY_REQUIRE_ONLOAD"
"""``1`` when launched with ``--require-onload`` or ``--strict-acceleration``: the process must be under Onload."""
IO_URING_GUARD_ENV = "GATEWAY_IO_URING_GUARD"
"""``auto``/``always``/``never``: overrides ``spin.io_uring_guard`` for this run."""
ONLOAD_ENV_ENV = "GATEWAY_ONLOAD_ENV"
"""JSON: the ``EF_*`` settings the launcher planned and where each comes from (``gateway.ops.onload_env``)."""

LAUNCH_ENV_NAMES = (
    ACCEL_MODE_ENV,
    ACCEL_REASON_ENV,
    ONLOAD_PROFILE_ENV,
    STRICT_ENV,
    REQUIRE_ENV,
    IO_URING_GUARD_ENV,
    ONLOAD_ENV_ENV,
)

ONLOAD = "onload"
KERNEL = "kernel"


class Acceleration(msgspec.Struct, frozen=True):
    """The network path of this process and why."""

    mode: str
    """``onload`` or ``kernel``."""
    reason: str
    process: OnloadProcessInfo
    launcher_mode: str | None
    """What ``gateway launch`` chose, or ``None`` when started without it."""
    profile: str | None
    strict: bool
    warning: str | None = None
    """A disagreement between the launcher's choice and the process."""
    required: bool = False
    """The launcher was told never to run on kernel sockets (``--require-onload``, ``--strict-acceleration``)."""

    def refusal(self) -> str | None:
        """Return why this process must not run (Onload required, chosen by the launcher, not loaded), or None."""
        if self.onload or self.launcher_mode != ONLOAD or not (self.required or self.strict):
            return None
        flag = "--require-onload" if not self.strict else "--strict-acceleration"
        return (
            f"{flag}: the launcher chose onload but {self.process.describe()} (was LD_PRELOAD dropped on the way,"
            " or is the onload on PATH not Onload's?); refusing to trade on kernel sockets"
        )

    @property
    def onload(self) -> bool:
        """Return True on the Onload path."""
        return self.mode == ONLOAD

    def log_line(self) -> str:
        """Return the start-up line an operator greps for."""
        if self.onload:
            extra = f"; profile {self.profile}" if self.profile else ""
            extra += "; strict (EF_NO_FAIL=0)" if self.strict else ""
            return f"acceleration: onload ({self.reason}{extra})"
        return f"acceleration: kernel (Onload not present: {self.reason})"

    def status(self) -> dict[str, object]:
        """Return JSON-able facts for ``gateway status``."""
        return {
            "mode": self.mode,
            "reason": self.reason,
            "launcher_mode": self.launcher_mode,
            "profile": self.profile,
            "strict": self.strict,
            "libonload": self.process.library,
            "onload_is_present": self.process.is_present,
            "onload_fd_stat": self.process.fd_stat,
            "warning": self.warning,
        }


def detect_acceleration(
    environ: Mapping[str, str] | None = None,
    extensions: OnloadExtensions | None = None,
    process: OnloadProcessInfo | None = None,
) -> Acceleration:
    """Decide the path from this process (libonload, ``onload_is_present()``) and the launcher's variables."""
    env = os.environ if environ is None else environ
    info = process if process is not None else probe_process(extensions)
    launcher_mode = env.get(ACCEL_MODE_ENV) or None
    launcher_reason = env.get(ACCEL_REASON_ENV) or ""
    profile = env.get(ONLOAD_PROFILE_ENV) or None
    strict = env.get(STRICT_ENV) == "1" or env.get("EF_NO_FAIL") == "0"
    required = env.get(REQUIRE_ENV) == "1"
    warning = None
    if info.active:
        mode, reason = ONLOAD, info.describe()
        if launcher_mode == KERNEL:
            warning = "launcher chose the kernel path but Onload is active in this process"
    else:
        mode = KERNEL
        reason = launcher_reason if launcher_mode == KERNEL and launcher_reason else info.describe()
        if launcher_mode == ONLOAD:
            warning = (
                f"launcher chose onload but {info.describe()} (was LD_PRELOAD dropped on the way?);"
                " running on kernel sockets"
            )
    return Acceleration(
        mode, reason, info, launcher_mode, profile if mode == ONLOAD else None, strict, warning, required
    )
