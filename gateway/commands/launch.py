"""``gateway launch [--profile NAME|PATH.opf] [--require-onload] [--dry-run] -- <gateway run args>``.

Runs ``gateway run`` under OpenOnload when the host can, on kernel sockets when not;
see ``gateway.ops.launch`` for the decision and ``docs/ops-guide.md`` for operators.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from gateway.commands.output import piped
from gateway.commands.run import add_run_arguments
from gateway.config import ConfigError, GatewayConfig, decode_venues, load_config
from gateway.journal_lock import journal_in_use
from gateway.ops.acceleration import ONLOAD
from gateway.ops.host import HostView, add_host_root_argument
from gateway.ops.iouring import IoUringGuard
from gateway.ops.launch import (
    EXIT_EXEC_FAILED,
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    LaunchOptions,
    LaunchRefused,
    execute,
    find_for_exec,
    log_decision,
    plan_launch,
    render_dry_run,
    unexecutable,
    wait_for_driver,
    with_onload_environment,
)
from gateway.ops.onload import (
    DEFAULT_PROFILE,
    OnloadEnvironment,
    ProfileError,
    ResolvedProfile,
    detect_onload_environment,
    gateway_profile_dir,
    resolve_profile,
)
from gateway.ops.onload_env import onload_profile_dirs, plan_onload_environment
from gateway.ops.paths import check_listening, check_paths, checked_paths
from gateway.signals import block_stop_signals, stop_signal_at_startup, unblock_stop_signals
from gateway.state_lock import state_directories, state_in_use
from risk.limitsfile import LimitsFileError, read_limits

log = logging.getLogger("gateway.ops.launch")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gateway launch``."""
    parser = subparsers.add_parser(
        "launch",
        allow_abbrev=False,
        help="run the gateway under OpenOnload, or on kernel sockets when Onload is not usable",
        description=(
            "Run '<python> -m gateway run <args>' under 'onload --profile=...' when the onload executable,"
            " its version and its driver are all there; otherwise log why and run it on kernel sockets"
            " with the kernel busy-poll settings. Put the gateway's own arguments after '--'."
        ),
        epilog="example: gateway launch --profile gateway-latency -- --config deploy/gateway.yaml",
    )
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME|PATH.opf",
        help="Onload profile: a path to an .opf file, a profile in deploy/onload/"
        f" (default {DEFAULT_PROFILE}), or an Onload profile such as latency",
    )
    parser.add_argument(
        "--require-onload",
        action="store_true",
        help="refuse to start (exit 1) instead of falling back to kernel sockets",
    )
    parser.add_argument(
        "--strict-acceleration",
        action="store_true",
        help="set EF_NO_FAIL=0 so a socket Onload cannot accelerate is an error, and log an ERROR line"
        " for any venue socket on the kernel path; implies --require-onload",
    )
    parser.add_argument(
        "--io-uring-guard",
        choices=[g.value for g in IoUringGuard],
        default=None,
        help="override spin.io_uring_guard for this run (auto: block io_uring under Onload with uvloop)",
    )
    parser.add_argument(
        "--keep-ef-environment",
        action="store_true",
        help="keep the EF_* variables inherited from the caller (they then override the profile, as with"
        " plain onload); by default they are dropped so that the profile alone decides, each with a warning",
    )
    parser.add_argument(
        "--wait-for-onload",
        type=non_negative_seconds,
        default=0.0,
        metavar="SECONDS",
        help="when Onload is installed but its driver is not loaded yet (or /dev/onload not there yet, or not"
        " usable by this user), wait up to this long for both before deciding (boot ordering; the unit uses 30)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the exact command and environment, run nothing")
    parser.add_argument(
        "--python",
        default=sys.executable,
        metavar="PATH",
        help="interpreter that runs the gateway (default: this one)",
    )
    add_host_root_argument(parser, "/sys and /dev")
    parser.add_argument("gateway_args", nargs="*", metavar="-- GATEWAY-RUN-ARGS", help="arguments for gateway run")
    for option in run_options():  # ``gateway launch --config X``: say where it goes, not "unrecognized"
        parser.add_argument(option, nargs="?", action=_MisplacedRunOption, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run_options() -> list[str]:
    """Return the option strings of ``gateway run`` (``--config``, ``--loop``)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_run_arguments(parser)
    return [option for action in parser._actions for option in action.option_strings]


class _MisplacedRunOption(argparse.Action):
    """A ``gateway run`` option given before ``--``: exit 2 saying to put it after ``--``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        given = shlex.join([option_string or self.dest, *([values] if isinstance(values, str) else [])])
        parser.error(
            f"{option_string} is an argument of 'gateway run': put the gateway's arguments after '--'"
            f" (gateway launch [launcher flags] -- {given})"
        )


MAX_WAIT_S = 3600.0
"""The longest ``--wait-for-onload`` accepted (an hour: longer is a typo, and systemd would time out first)."""


def non_negative_seconds(text: str) -> float:
    """Parse ``--wait-for-onload``: a finite number of seconds, 0 to ``MAX_WAIT_S`` (argparse exits 2 otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_WAIT_S:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_WAIT_S:.0f} seconds, got {text!r}")
    return value


class GatewayArgsError(Exception):
    """The arguments after ``--`` are not valid ``gateway run`` arguments."""


class _RunArgsParser(argparse.ArgumentParser):
    """A ``gateway run`` parser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise GatewayArgsError(message)


def check_gateway_args(gateway_args: list[str]) -> tuple[list[str], argparse.Namespace]:
    """Return the ``gateway run`` arguments (a leading ``run`` dropped) and what they parse to.

    Raise ``GatewayArgsError`` when ``gateway run`` would refuse them, so that the launcher,
    and its dry run, fail the way the exec'd gateway would have, before anything is exec'd.
    """
    if gateway_args[:1] == ["run"]:  # ``gateway launch -- run --config X``: the sub-command is implied
        gateway_args = gateway_args[1:]
    parser = _RunArgsParser(prog="gateway run", add_help=False, allow_abbrev=False)
    add_run_arguments(parser)
    return gateway_args, parser.parse_args(gateway_args)


def check_config(path: str) -> tuple[GatewayConfig | None, str]:
    """Return the config and why ``gateway run --config path`` would fail to load its files ("" if they load)."""
    try:
        config = load_config(path)
        decode_venues(config)
        read_limits(config.path(config.risk_limits), known=config.risk_names())
    except ConfigError as exc:
        return None, str(exc)
    except LimitsFileError as exc:
        return None, f"risk limits: {exc}"
    return config, ""


def trading_day_problem(config: GatewayConfig) -> str:
    """Return why ``gateway run`` would refuse this config's trading day ("" if it would not): a venue's trading day
    is not the journal's (``journal.timezone``; ``gateway.trading_day.day_problem``, the same message)."""
    if not config.journal.enabled:
        return ""
    from gateway.trading_day import day_problem, journal_day  # noqa: PLC0415 - the dry run's alone

    venues = decode_venues(config)
    wall = time.time_ns()
    setting = config.journal.timezone
    return day_problem(setting, venues, journal_day(setting, venues, lambda: wall), wall)


def later_journal(config: GatewayConfig) -> str:
    """Return why ``gateway run`` would refuse to open today's journal: the journal this gateway began last is of a
    later date (``gateway.app.later_journal_problem``, the same message; "" if not)."""
    if not config.journal.enabled:
        return ""
    from gateway.app import journal_path, later_journal_problem  # noqa: PLC0415 - the dry run's alone

    path = journal_path(config)
    return later_journal_problem(config.path(config.state_dir), config.gateway_id, path, config.journal.timezone)


class _StopSignalError(Exception):
    """SIGINT or SIGTERM arrived while the launcher waited for Onload."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


STOP_SIGNALS = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: EXIT_TERMINATED}
"""The signals that end the wait for Onload, and the exit code of each (128 + the signal, as the shell says)."""


def wait_interruptibly(host: HostView, onload: OnloadEnvironment, timeout_s: float) -> OnloadEnvironment | int:
    """Wait for Onload's driver and /dev/onload; on SIGINT or SIGTERM log one line and return the exit code.

    The handlers only note the signal: the wait's own sleep raises, so the exception never surfaces
    inside a finalizer or library code that would swallow it. A signal that arrives as the wait ends
    still stops the launch (nothing is exec'd). The previous handlers are put back before returning.
    """
    received: list[int] = []

    def note(signum: int, frame: object) -> None:
        received.append(signum)

    def sleep(seconds: float) -> None:
        if not received:
            time.sleep(seconds)  # a signal interrupts it (the handler runs, the sleep resumes: at most one poll)
        if received:
            raise _StopSignalError(received[0])

    previous = {signum: signal.signal(signum, note) for signum in STOP_SIGNALS}
    try:
        try:
            found = wait_for_driver(host, onload, timeout_s, sleep=sleep)
            sleep(0)  # a signal during the last look: stop all the same
        except _StopSignalError as stop:
            name = signal.Signals(stop.signum).name
            log.error("launch: interrupted (%s) while waiting for Onload; nothing exec'd", name)
            return STOP_SIGNALS[signal.Signals(stop.signum)]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return found


def _stopped_at_startup() -> int | None:
    """Return the exit code for a SIGTERM/SIGINT the launcher noted while it started (one line logged), or None."""
    name = stop_signal_at_startup()
    if name is None:
        return None
    log.error("launch: %s received during the launcher's start-up; nothing exec'd", name)
    return STOP_SIGNALS[signal.Signals[name]]


@piped
def run(args: argparse.Namespace) -> int:
    """Check the gateway's arguments, plan the launch; print it (``--dry-run``) or exec it.

    A dry run whose reader went away early (``| head``) exits 141 quietly (``piped``), not 1 (could not start).
    """
    stopped = _stopped_at_startup()
    if stopped is not None:
        return stopped
    try:
        gateway_args, run_args = check_gateway_args(list(args.gateway_args))
    except GatewayArgsError as exc:
        log.error("launch: refusing to start: the arguments after '--' are not valid for 'gateway run': %s", exc)
        return EXIT_USAGE
    host = HostView(args.host_root)
    profile = resolve_profile(args.profile, host, gateway_profile_dir())
    if isinstance(profile, ProfileError):  # first, on every host: a typo shows whatever else the dry run finds
        log.error("launch: refusing to start: profile error: %s", profile.reason)
        return EXIT_USAGE
    if args.dry_run and os.path.dirname(args.python) and find_for_exec(args.python, os.environ) is None:
        log.error("launch: cannot exec %s: not an executable file (the launch would exit 127)", args.python)
        return EXIT_EXEC_FAILED  # a path is one whatever the PATH: said before the config and journal checks
    if args.dry_run:
        config, problem = check_config(run_args.config)
        if config is None:
            log.error("launch: refusing to start: %s", problem)
            return EXIT_USAGE
        directories = check_paths(config, create=False)
        wrong_day = ""
        in_use = None
        if config.journal.enabled:  # a gateway already running on this journal: the launch would be refused
            in_use = journal_in_use(config.path(config.journal.directory))
            if in_use:
                directories.append(in_use)
        if not in_use:  # (the run stops at the journal first) then at a state directory another gateway holds
            state = state_in_use(config)
            directories += state
            if not state:  # then at the trading day (exit 2), a journal begun last of a later date, sockets in use
                wrong_day = trading_day_problem(config)
                later = "" if wrong_day else later_journal(config)
                directories += [later] if later else [] if wrong_day else check_listening(config)
        for problem in directories:
            log.error("launch: refusing to start: %s", problem)
        if directories:
            return EXIT_REFUSED
        if wrong_day:  # `gateway run`'s refusal, the same message and exit code, before it opens anything
            log.error("launch: refusing to start: %s", wrong_day)
            return EXIT_USAGE
        print(f"config: {run_args.config} (gateway config, venues and risk limits load)")
        for line in checked_paths(config):
            print(f"  {line}")
        if config.journal.enabled:
            print(f"  journal {config.path(config.journal.directory)}: not in use by a running gateway")
        state_dirs = ", ".join(f"{label} {path}" for label, path in state_directories(config))
        print(f"  state directories ({state_dirs}): not in use by a running gateway")
    options = LaunchOptions(
        profile=args.profile,
        require_onload=args.require_onload,
        strict_acceleration=args.strict_acceleration,
        io_uring_guard=args.io_uring_guard,
        python=args.python,
        gateway_args=tuple(gateway_args),
    )
    onload = detect_onload_environment(host)
    if args.wait_for_onload > 0:
        waited = wait_interruptibly(host, onload, args.wait_for_onload)
        if isinstance(waited, int):
            return waited
        onload = waited
    plan = plan_launch(options, onload, profile, os.environ)
    if isinstance(plan, LaunchRefused):
        log.error("launch: refusing to start: %s", plan.reason)
        return plan.exit_code
    onload_env = None
    if plan.mode == ONLOAD and isinstance(profile, ResolvedProfile):
        onload_env = plan_onload_environment(
            profile.argument,
            onload_profile_dirs(host),
            os.environ,
            dict(plan.set_env),
            keep_inherited=args.keep_ef_environment,
        )
    plan = with_onload_environment(plan, os.environ, onload_env, keep_inherited=args.keep_ef_environment)
    if onload_env is not None and onload_env.missing_imports:  # the launch and its dry run alike
        assert isinstance(profile, ResolvedProfile)
        missing = ", ".join(onload_env.missing_imports)
        if profile.source == "onload" and profile.argument in onload_env.missing_imports:
            what = f"the Onload profile {args.profile} is"  # a name of Onload's own, this host lacks it
        else:
            what = f"the profile {args.profile} imports {missing},"
        log.error(
            "launch: refusing to start: %s not found in Onload's profile directories on this host (%s):"
            " onload would stop with 'Cannot find profile'",
            what,
            ", ".join(onload_profile_dirs(host)),
        )
        return EXIT_REFUSED
    if args.dry_run:
        unrunnable = unexecutable(plan, args.python, os.environ)  # looked up as execute() would: the plan's PATH
        if unrunnable is not None:
            log.error("launch: %s (the launch would exit 127)", unrunnable)
            return EXIT_EXEC_FAILED
        print(render_dry_run(plan))
        return _stopped_at_startup() or 0
    log_decision(plan)
    block_stop_signals()  # from here one reaches the exec'd gateway (pending across the exec): it stops cleanly
    try:
        stopped = _stopped_at_startup()
        if stopped is not None:
            return stopped
        execute(plan, os.environ)
    except OSError as exc:
        log.error("launch: cannot exec %s: %s", plan.argv[0], exc.strerror or exc)
        return EXIT_EXEC_FAILED
    finally:  # only when the exec was not made
        unblock_stop_signals()
