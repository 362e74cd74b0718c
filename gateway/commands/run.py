"""``gateway run --config deploy/gateway.yaml``: run the gateway until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import uvloop

from gateway.app import GatewayProcess
from gateway.config import ConfigError, GatewayConfig, decode_venues, load_config
from gateway.journal import JournalCorruptError
from gateway.ops.paths import check_paths, remove_made_directories
from gateway.ops.runtime import AccelerationRequiredError, LoopImpl, OpsRuntime
from gateway.server import NotASocketError, SocketInUseError
from gateway.signals import STOP_SIGNALS, stop_signal_at_startup
from risk.limitsfile import LimitsFileError
from venues.state_error import VenueStateError

log = logging.getLogger(__name__)

EXIT_STARTUP_FAILED = 1
"""The gateway could not start on this host (a directory, a socket in use, Onload required but missing...)."""
EXIT_BAD_CONFIG = 2
"""The config, a venue section or the risk limits do not load: restarting will not fix it (systemd does not)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run``."""
    parser = subparsers.add_parser("run", help="run the gateway")
    add_run_arguments(parser)
    parser.set_defaults(func=run)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``gateway run`` (shared with ``gateway launch``, which checks them first)."""
    parser.add_argument("--config", default="deploy/gateway.yaml", help="gateway config file")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], help="event loop (overrides the config)")


def new_loop(loop_impl: LoopImpl) -> asyncio.AbstractEventLoop:
    """Create the event loop the config asks for."""
    return uvloop.new_event_loop() if loop_impl is LoopImpl.UVLOOP else asyncio.new_event_loop()


def run(args: argparse.Namespace) -> int:
    """Load the config, prepare the process, run until told to stop."""
    try:
        config = load_config(args.config)
        decode_venues(config)  # a bad venue section is the operator's to fix: same form, same exit code
    except ConfigError as exc:
        print(f"gateway run: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    loop_impl = LoopImpl(args.loop or config.loop)
    return run_process(config, loop_impl)


def run_process(config: GatewayConfig, loop_impl: LoopImpl) -> int:
    """Run one gateway process with the ops runtime around it; return the exit code."""
    early = stop_signal_at_startup()
    if early is not None:
        log.info("gateway %s: %s received before start-up; not starting", config.gateway_id, early)
        return 0
    made: list[Path] = []
    """The directories this start created: a refused start removes those still empty (``refused``)."""

    def refused(code: int, process: GatewayProcess | None = None) -> int:
        if process is not None:  # stopped: the files of its own nothing depends on go first (ops55)
            files = process.remove_unused_files()
            if files:
                log.info(
                    "gateway %s: removed the %s this refused start had created: %s",
                    config.gateway_id,
                    "unused file" if len(files) == 1 else f"{len(files)} unused files",
                    ", ".join(map(str, files)),
                )
        removed = remove_made_directories(made)
        if removed:
            log.info(
                "gateway %s: removed the %s this refused start had created: %s",
                config.gateway_id,
                "empty directory" if len(removed) == 1 else f"{len(removed)} empty directories",
                ", ".join(map(str, removed)),
            )
        return code

    problems = check_paths(config, create=True, made=made)
    for problem in problems:
        log.error("gateway %s failed to start: %s", config.gateway_id, problem)
    if problems:
        return refused(EXIT_STARTUP_FAILED)
    try:
        ops = OpsRuntime.prepare(config.spin, loop_impl=loop_impl)
    except AccelerationRequiredError:
        return refused(EXIT_STARTUP_FAILED)  # logged by prepare
    loop = new_loop(loop_impl)
    asyncio.set_event_loop(loop)
    spinner = ops.attach(loop)
    process = GatewayProcess(config, socket_hooks=[ops.venue_socket_hook], on_activity=spinner.kick)
    process.add_status_provider(ops.status, ops.status_parts)
    process.add_memory_providers()
    process.add_venue_metrics_providers()
    gc_control = ops.gc
    process.add_metrics_provider(
        lambda: {
            "gc_hot_path_full_collections_total": gc_control.hot_path_full_collections,
            "gc_pause_seconds_total": gc_control.pause_ns_total / 1e9,
            "gc_pause_max_seconds": gc_control.pause_ns_max / 1e9,
        }
    )

    async def main() -> int:
        # The loop takes SIGTERM/SIGINT from here on: one arriving while the start-up runs is noted (stopping once
        # started, below) and never also handed to ``request_stop`` later, in the middle of the stop (uvloop writes
        # each signal to its wakeup descriptor: a signal noted by gateway.signals' handler came back that way).
        noted: list[str] = []
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, noted.append, sig.name)
        try:
            await process.start()
        except (ConfigError, LimitsFileError) as exc:
            log.error("gateway %s failed to start: %s", config.gateway_id, exc)
            await process.stop()
            # a damaged journal comes as a ConfigError too (gateway.app), but it is not the config's
            return refused(
                EXIT_STARTUP_FAILED if isinstance(exc.__cause__, JournalCorruptError) else EXIT_BAD_CONFIG, process
            )
        except (SocketInUseError, NotASocketError, OSError, VenueStateError) as exc:
            # VenueStateError: a venue's state file is corrupt or unreadable (its message names the file and what to do)
            log.error("gateway %s failed to start: %s", config.gateway_id, exc)
            await process.stop()
            return refused(EXIT_STARTUP_FAILED, process)
        loop.add_signal_handler(signal.SIGINT, process.request_stop)  # process.start took SIGTERM
        early = stop_signal_at_startup() or (noted[0] if noted else None) or process.stop_signal_at_start
        if early is not None:  # noted (gateway.signals, the handlers above, process.start's) while it started
            log.info("gateway %s: %s received during start-up; stopping now", config.gateway_id, early)
            process.request_stop()
        ops.startup_complete()
        try:
            await process.serve()
        finally:
            await process.stop()
        return process.exit_code  # 0, EXIT_JOURNAL_NOT_DURABLE or EXIT_RISK_AUDIT_LOST (the stop logged what)

    try:
        return loop.run_until_complete(main())
    finally:
        ops.close()
        loop.close()
