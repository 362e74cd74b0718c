"""``gateway launch``: run the gateway under OpenOnload when the host can, on tuned kernel sockets when not.

Decision, in order:

1. resolve the profile (an ``.opf`` path, a gateway profile in ``deploy/onload/``, or
   one of Onload's own); a profile that does not exist is an operator error (exit 2)
   on every host, so a typo shows up in a dry run on a laptop too;
2. look at the host: ``onload`` on PATH (through ``sh``), its ``--version``, the driver
   (``/sys/module/onload`` or ``/dev/onload``);
3. usable: exec ``onload --profile=<profile> <python> -m gateway run <args>``;
   not usable: log one line with the reason and exec ``<python> -m gateway run <args>``
   on kernel sockets (the gateway applies its kernel busy-poll settings itself), or,
   with ``--require-onload`` / ``--strict-acceleration``, refuse with the reason (exit 1).

The launcher execs (``os.execvpe``) so the gateway keeps the launcher's pid: systemd,
supervisors and ``kill`` see the real process. It tells the gateway what it decided
through ``GATEWAY_*`` variables (see ``gateway.ops.acceleration``).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

import msgspec

from gateway.ops.acceleration import (
    ACCEL_MODE_ENV,
    ACCEL_REASON_ENV,
    IO_URING_GUARD_ENV,
    KERNEL,
    LAUNCH_ENV_NAMES,
    ONLOAD,
    ONLOAD_PROFILE_ENV,
    STRICT_ENV,
)
from gateway.ops.onload import OnloadEnvironment, ProfileError, ResolvedProfile

log = logging.getLogger(__name__)

EXIT_REFUSED = 1
"""Onload required but not usable."""
EXIT_USAGE = 2
"""Bad flags or a profile that does not exist."""
EXIT_EXEC_FAILED = 127


class LaunchOptions(msgspec.Struct, frozen=True):
    """What the operator asked for."""

    profile: str
    require_onload: bool = False
    strict_acceleration: bool = False
    io_uring_guard: str | None = None
    python: str = sys.executable
    gateway_args: tuple[str, ...] = ()


class LaunchPlan(msgspec.Struct, frozen=True):
    """The exact process the launcher will exec."""

    mode: str
    """``onload`` or ``kernel``."""
    reason: str
    argv: tuple[str, ...]
    set_env: tuple[tuple[str, str], ...]
    """Variables set for the gateway, in order."""
    unset_env: tuple[str, ...]
    """Stale launcher variables removed from the inherited environment."""
    warnings: tuple[str, ...] = ()

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """Return ``base`` with this plan's changes applied."""
        env = {k: v for k, v in base.items() if k not in self.unset_env}
        env.update(self.set_env)
        return env

    def command_line(self) -> str:
        """Return the exec as one copy-pasteable shell line (``env VAR=... argv``)."""
        words = ["env", *(f"-u{name}" for name in self.unset_env), *(f"{k}={v}" for k, v in self.set_env)]
        return shlex.join([*words, *self.argv])


class LaunchRefused(msgspec.Struct, frozen=True):
    """The launcher will not start the gateway: why, and the exit code."""

    reason: str
    exit_code: int


def gateway_command(python: str, gateway_args: Sequence[str]) -> tuple[str, ...]:
    """Return ``<python> -m gateway run <args>``."""
    return (python, "-m", "gateway", "run", *gateway_args)


def plan_launch(
    options: LaunchOptions,
    onload: OnloadEnvironment,
    profile: ResolvedProfile | ProfileError,
    environ: Mapping[str, str],
) -> LaunchPlan | LaunchRefused:
    """Decide between Onload, the kernel fallback and refusing; pure function of its inputs."""
    if isinstance(profile, ProfileError):
        return LaunchRefused(f"profile error: {profile.reason}", EXIT_USAGE)
    child = gateway_command(options.python, options.gateway_args)
    extra: list[tuple[str, str]] = []
    if options.io_uring_guard:
        extra.append((IO_URING_GUARD_ENV, options.io_uring_guard))
    warnings = []
    mismatch = onload.version_mismatch()
    if mismatch:
        warnings.append(mismatch)
    unusable = onload.unusable_reason()
    if unusable is None:
        assert onload.executable is not None
        env = [
            (ACCEL_MODE_ENV, ONLOAD),
            (ACCEL_REASON_ENV, f"Onload {onload.version}, driver loaded"),
            (ONLOAD_PROFILE_ENV, profile.argument),
        ]
        if options.strict_acceleration:
            env += [(STRICT_ENV, "1"), ("EF_NO_FAIL", "0")]
        env += extra
        argv = (onload.executable, f"--profile={profile.argument}", *child)
        reason = f"{onload.summary()}; profile {profile.argument}"
        return LaunchPlan(ONLOAD, reason, argv, tuple(env), _stale(environ, env), tuple(warnings))
    if options.require_onload or options.strict_acceleration:
        flag = "--require-onload" if options.require_onload else "--strict-acceleration"
        return LaunchRefused(f"{flag} given and Onload is not usable: {unusable}", EXIT_REFUSED)
    env = [(ACCEL_MODE_ENV, KERNEL), (ACCEL_REASON_ENV, unusable), *extra]
    return LaunchPlan(KERNEL, unusable, child, tuple(env), _stale(environ, env), tuple(warnings))


def _stale(environ: Mapping[str, str], new: list[tuple[str, str]]) -> tuple[str, ...]:
    setting = {name for name, _ in new}
    return tuple(name for name in LAUNCH_ENV_NAMES if name in environ and name not in setting)


def render_dry_run(plan: LaunchPlan) -> str:
    """Return what ``--dry-run`` prints: the decision, the argv, the environment changes, one exec line."""
    lines = [f"mode: {plan.mode}", f"reason: {plan.reason}"]
    lines += [f"warning: {w}" for w in plan.warnings]
    lines.append(f"argv: {shlex.join(plan.argv)}")
    lines.append("environment (changes to the current environment):")
    lines += [f"  {name}={shlex.quote(value)}" for name, value in plan.set_env]
    lines += [f"  unset {name}" for name in plan.unset_env]
    lines.append(f"exec: {plan.command_line()}")
    return "\n".join(lines)


def log_decision(plan: LaunchPlan) -> None:
    """Log the one line that says which path the gateway will run on, and why."""
    for warning in plan.warnings:
        log.warning("launch: %s", warning)
    if plan.mode == ONLOAD:
        log.info("launch: onload: %s; exec %s", plan.reason, shlex.join(plan.argv))
    else:
        log.warning(
            "launch: kernel fallback: %s; running the gateway on kernel sockets with the spin: busy-poll"
            " settings; exec %s",
            plan.reason,
            shlex.join(plan.argv),
        )


def execute(plan: LaunchPlan, environ: Mapping[str, str]) -> NoReturn:
    """Replace this process with the plan's command (only returns by raising ``OSError``)."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(plan.argv[0], list(plan.argv), plan.environment(environ))
