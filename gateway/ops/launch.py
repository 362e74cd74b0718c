"""``gateway launch``: run the gateway under OpenOnload when the host can, on tuned kernel sockets when not.

Decision, in order:

1. resolve the profile (an ``.opf`` path, a gateway profile in ``deploy/onload/``, or
   one of Onload's own); a profile that does not exist is an operator error (exit 2)
   on every host, so a typo shows up in a dry run on a laptop too;
2. look at the host: ``onload`` on PATH (through ``sh``), its ``--version``, the driver
   (``/sys/module/onload`` or ``/dev/onload``) and a ``/dev/onload`` this user may open;
3. usable: exec ``onload --profile=<profile> <python> -m gateway run <args>``, unless the profile
   imports an Onload profile the host does not have (refused, exit 1: ``onload`` would stop with
   "Cannot find profile"; the dry run refuses the same);
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
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

import msgspec

from gateway.ops.acceleration import (
    ACCEL_MODE_ENV,
    ACCEL_REASON_ENV,
    IO_URING_GUARD_ENV,
    KERNEL,
    LAUNCH_ENV_NAMES,
    ONLOAD,
    ONLOAD_ENV_ENV,
    ONLOAD_PROFILE_ENV,
    REQUIRE_ENV,
    STRICT_ENV,
)
from gateway.ops.host import HostView
from gateway.ops.onload import OnloadEnvironment, ProfileError, ResolvedProfile, refresh_driver
from gateway.ops.onload_env import PROFILE, EfSetting, OnloadEnvPlan, describe_settings

log = logging.getLogger(__name__)

EXIT_REFUSED = 1
"""Onload required but not usable."""
EXIT_USAGE = 2
"""Bad flags or a profile that does not exist."""
EXIT_EXEC_FAILED = 127
EXIT_INTERRUPTED = 130
"""Ctrl-C (SIGINT) before the exec, e.g. during ``--wait-for-onload``: 128 + SIGINT, as the shell reports it."""
EXIT_TERMINATED = 143
"""SIGTERM (``systemctl stop``) during ``--wait-for-onload``: 128 + SIGTERM, as the shell reports it."""


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
    """Stale launcher variables removed from the inherited environment (and inherited ``EF_*``)."""
    warnings: tuple[str, ...] = ()
    onload_env: tuple[EfSetting, ...] = ()
    """The ``EF_*`` the Onload stack will run with, and where each comes from (Onload path only)."""

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


def wait_for_driver(
    host: HostView,
    found: OnloadEnvironment,
    timeout_s: float,
    *,
    poll_s: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> OnloadEnvironment:
    """Wait up to ``timeout_s`` for Onload's driver and a usable /dev/onload, when Onload is installed.

    At boot the gateway may start before the driver is loaded or before udev has applied
    /dev/onload's permissions; without waiting, the launcher would fall back to kernel sockets.
    Returns at once when Onload is not installed (nothing to wait for) or already usable.
    """
    if found.executable is None or found.version is None or found.unusable_reason() is None:
        return found
    deadline = clock() + timeout_s
    log.info("launch: waiting up to %.0f s for Onload: %s", timeout_s, found.unusable_reason())
    while found.unusable_reason() is not None and clock() < deadline:
        sleep(poll_s)
        found = refresh_driver(host, found)
    if found.unusable_reason() is None:
        log.info("launch: Onload's driver and /dev/onload are ready")
    return found


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
        if options.require_onload or options.strict_acceleration:
            env.append((REQUIRE_ENV, "1"))
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


def with_onload_environment(
    plan: LaunchPlan, environ: Mapping[str, str], onload_env: OnloadEnvPlan | None, *, keep_inherited: bool
) -> LaunchPlan:
    """Add the ``EF_*`` decision to ``plan``: inherited ``EF_*`` dropped (unless kept), the settings, warnings.

    ``onload_env`` is the profile's resolution on the Onload path; on the kernel path (``None``)
    ``EF_*`` mean nothing, and inherited ones are dropped all the same unless kept.
    """
    own = {name for name, _ in plan.set_env}
    if onload_env is None:
        stale = () if keep_inherited else tuple(sorted(k for k in environ if k.startswith("EF_") and k not in own))
        return msgspec.structs.replace(plan, unset_env=plan.unset_env + stale)
    warnings = list(plan.warnings) + list(onload_env.warnings)
    if onload_env.error:
        warnings.append(f"could not resolve the profile's settings: {onload_env.error}")
    return msgspec.structs.replace(
        plan,
        set_env=(*plan.set_env, (ONLOAD_ENV_ENV, onload_env.to_env())),
        unset_env=plan.unset_env + onload_env.unset,
        warnings=tuple(warnings),
        onload_env=onload_env.settings,
    )


def render_onload_env(settings: tuple[EfSetting, ...]) -> list[str]:
    """Return one line per ``EF_*`` setting: value, source and origin, and the profile's own value if different."""
    width = max((len(f"{s.name}={s.value}") for s in settings), default=0)
    lines = []
    for setting in settings:
        note = f"{setting.source}: {setting.origin}"
        if setting.source != PROFILE and setting.profile_value not in (None, setting.value):
            note += f" (the profile sets {setting.profile_value})"
        lines.append(f"  {f'{setting.name}={setting.value}':<{width}}  {note}")
    return lines


def render_dry_run(plan: LaunchPlan) -> str:
    """Return what ``--dry-run`` prints: the decision, the argv, the environment changes, one exec line."""
    lines = [f"mode: {plan.mode}", f"reason: {plan.reason}"]
    lines += [f"warning: {w}" for w in plan.warnings]
    lines.append(f"argv: {shlex.join(plan.argv)}")
    lines.append("environment (changes to the current environment):")
    lines += [f"  {name}={shlex.quote(value)}" for name, value in plan.set_env if name != ONLOAD_ENV_ENV]
    if any(name == ONLOAD_ENV_ENV for name, _ in plan.set_env):
        lines.append(f"  {ONLOAD_ENV_ENV}=<the settings below, as JSON>")
    lines += [f"  unset {name}" for name in plan.unset_env]
    if plan.mode == ONLOAD:
        lines.append("onload environment (EF_* the stack will run with, and where each comes from):")
        lines += render_onload_env(plan.onload_env) or ["  none"]
    else:
        lines.append("onload environment: not used (kernel path)")
    lines.append(f"exec: {plan.command_line()}")
    return "\n".join(lines)


def log_decision(plan: LaunchPlan) -> None:
    """Log the one line that says which path the gateway will run on, and why (and the EF_* it gets)."""
    for warning in plan.warnings:
        log.warning("launch: %s", warning)
    if plan.mode == ONLOAD:
        log.info("launch: onload environment: %s", describe_settings(plan.onload_env))
        log.info("launch: onload: %s; exec %s", plan.reason, shlex.join(plan.argv))
    else:
        log.warning(
            "launch: kernel fallback: %s; running the gateway on kernel sockets with the spin: busy-poll"
            " settings; exec %s",
            plan.reason,
            shlex.join(plan.argv),
        )


def find_for_exec(command: str, env: Mapping[str, str]) -> str | None:
    """Return the file ``os.execvpe(command, ..., env)`` would run, or None if that exec would fail.

    A command with a slash is taken as it is (relative to the working directory); a bare name is
    looked up on ``env``'s PATH (``os.defpath`` if it has none), not on this process's PATH.
    """
    directories = [""] if os.path.dirname(command) else os.get_exec_path(dict(env))
    for directory in directories:
        path = os.path.join(directory, command)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def unexecutable(plan: LaunchPlan, python: str, environ: Mapping[str, str]) -> str | None:
    """Return why the plan's exec would exit 127, or None: each command it runs, looked up as the exec would.

    That is ``argv[0]`` (``onload`` or the Python) and, under Onload, the Python ``onload`` execs in turn,
    both with the plan's environment (``plan.environment(environ)``), whose PATH may not be this process's.
    Two edges it does not see: under Onload with no PATH in that environment, ``onload``'s ``/bin/sh`` looks
    the Python up on the shell's built-in default PATH, not ``os.defpath``; and a file without ``#!`` passes
    the check, but the exec fails (ENOEXEC).
    """
    env = plan.environment(environ)
    for command in dict.fromkeys((plan.argv[0], python)):
        if find_for_exec(command, env) is None:
            if os.path.dirname(command):
                return f"cannot exec {command}: not an executable file"
            return f"cannot exec {command}: not found on the launch environment's PATH ({env.get('PATH', os.defpath)})"
    return None


def execute(plan: LaunchPlan, environ: Mapping[str, str]) -> NoReturn:
    """Replace this process with the plan's command (only returns by raising ``OSError``)."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(plan.argv[0], list(plan.argv), plan.environment(environ))
