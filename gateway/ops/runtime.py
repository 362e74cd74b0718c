"""The ops pieces wired together in start-up order: what ``gateway run`` calls.

Start-up order (the core's ``run``)::

    spin = parse_spin_config(raw_yaml.get("spin"))        # SpinConfig or SpinConfigError
    ops = OpsRuntime.prepare(spin, loop_impl=LoopImpl.UVLOOP)   # BEFORE the loop exists
    loop = uvloop.new_event_loop()                        # or asyncio.new_event_loop()
    spinner = ops.attach(loop)                            # spinner + GC quiet-period timer
    kick = spinner.kick                                   # call after every socket read
    VenueConnector(..., socket_hooks=[ops.venue_socket_hook], after_input=...)
    ...                                                   # connect venues, open the admin socket
    ops.startup_complete()                                # gc.freeze(): start-up objects leave the GC
    ...                                                   # admin "status": ops.status()
    ops.close()                                           # at shutdown

``prepare`` logs, in order: the acceleration line, the onload environment line (every
``EF_*`` and where it came from), the io_uring guard line, one line per tuning setting.
Each venue connection then logs its own socket line.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from gateway.ops.acceleration import IO_URING_GUARD_ENV, Acceleration, detect_acceleration
from gateway.ops.config import SpinConfig
from gateway.ops.gc_control import GcController
from gateway.ops.gc_control import word_status as word_gc_status
from gateway.ops.iouring import GuardResult, IoUringGuard, block_io_uring
from gateway.ops.onload import OnloadExtensions
from gateway.ops.onload_env import (
    ENVIRONMENT,
    MISSING,
    UNPLANNED,
    EfSetting,
    describe_settings,
    observe_onload_environment,
)
from gateway.ops.sockets import AccelerationRegistry, VenueSocketTuner
from gateway.ops.spinner import LoopSpinner
from gateway.ops.spinner import word_status as word_spinner_status
from gateway.ops.tuning import TuningReport, apply_process_tuning

log = logging.getLogger(__name__)


class AccelerationRequiredError(Exception):
    """Onload is required (``--require-onload`` / ``--strict-acceleration``) but not active in this process."""


class LoopImpl(enum.StrEnum):
    """The event loop the core is about to create."""

    UVLOOP = "uvloop"
    ASYNCIO = "asyncio"


def onload_env_line(acceleration: Acceleration, settings: list[EfSetting]) -> tuple[int, str]:
    """Return the level and text of the start-up line listing the ``EF_*`` of this process."""
    if not acceleration.onload:
        present = [s for s in settings if s.source != MISSING]  # planned for a stack this process has not got
        if not present:
            return logging.INFO, "onload environment: none (kernel path)"
        return logging.INFO, f"onload environment: ignored on the kernel path: {describe_settings(present)}"
    doubtful = [
        s
        for s in settings
        if s.source in (UNPLANNED, MISSING) or (s.source == ENVIRONMENT and s.profile_value not in (None, s.value))
    ]
    level = logging.WARNING if doubtful else logging.INFO
    return level, f"onload environment: {describe_settings(settings)}"


def io_uring_decision(guard: IoUringGuard, acceleration: Acceleration, loop_impl: LoopImpl) -> tuple[bool, str]:
    """Return (block?, why) for the configured guard, the network path and the loop."""
    if guard is IoUringGuard.ALWAYS:
        return True, "io_uring_guard=always"
    if guard is IoUringGuard.NEVER:
        if acceleration.onload and loop_impl is LoopImpl.UVLOOP:
            return False, (
                "io_uring_guard=never under Onload with uvloop: libuv registers sockets through io_uring"
                " and Onload will not see them"
            )
        return False, "io_uring_guard=never"
    if acceleration.onload and loop_impl is LoopImpl.UVLOOP:
        return True, "auto: uvloop under Onload must register sockets with epoll_ctl"
    if loop_impl is LoopImpl.ASYNCIO:
        return False, "auto: the stdlib loop registers sockets with epoll_ctl already"
    return False, "auto: kernel path, io_uring registrations are fine"


class OpsRuntime:
    """Acceleration, io_uring guard, process tuning, socket hook, spinner and GC control for one run."""

    def __init__(
        self,
        *,
        spin: SpinConfig,
        acceleration: Acceleration,
        io_uring: GuardResult,
        io_uring_guard: IoUringGuard,
        tuning: TuningReport,
        gc_controller: GcController,
        extensions: OnloadExtensions | None,
        loop_impl: LoopImpl = LoopImpl.UVLOOP,
        onload_env: list[EfSetting] | None = None,
    ) -> None:
        self.spin = spin
        self.acceleration = acceleration
        self.io_uring = io_uring
        self.io_uring_guard = io_uring_guard
        self.loop_impl = loop_impl
        self.onload_env = onload_env or []
        """Every ``EF_*`` of this process and where it came from (as the launcher planned it)."""
        self.tuning = tuning
        self.gc = gc_controller
        self.registry = AccelerationRegistry(on_record=self._venue_socket_recorded)
        self.venue_socket_hook = VenueSocketTuner(
            self.registry,
            onload=extensions if acceleration.onload else None,
            onload_absent_reason="Onload not present",
            so_busy_poll_us=spin.so_busy_poll_us,
            strict=acceleration.strict,
        )
        """The ``SocketHook`` to pass to every ``VenueConnector`` (``socket_hooks=[...]``)."""
        self.spinner: LoopSpinner | None = None
        self._fixed_sections: dict[str, Any] | None = None
        """The sections only a venue socket's connection changes (the settings behind them are fixed for the run):
        None once a venue socket connected (the registry says so), built again by the next status."""

    @classmethod
    def prepare(
        cls,
        spin: SpinConfig,
        *,
        loop_impl: LoopImpl,
        environ: Mapping[str, str] | None = None,
    ) -> OpsRuntime:
        """Detect the network path, guard io_uring, tune the process; call before the event loop exists.

        Raise ``AccelerationRequiredError`` (after logging it as an ERROR) when the launcher chose Onload with
        ``--require-onload`` or ``--strict-acceleration`` and libonload is not active in this process.
        """
        env = os.environ if environ is None else environ
        extensions = OnloadExtensions.load()
        acceleration = detect_acceleration(env, extensions)
        log.info(acceleration.log_line())
        refusal = acceleration.refusal()
        if refusal:
            log.error("acceleration: %s", refusal)
            raise AccelerationRequiredError(refusal)
        if acceleration.warning:
            log.warning("acceleration: %s", acceleration.warning)
        onload_env = observe_onload_environment(env)
        level, line = onload_env_line(acceleration, onload_env)
        log.log(level, line)
        guard = spin.io_uring_guard
        override = env.get(IO_URING_GUARD_ENV)
        if override:
            try:
                guard = IoUringGuard(override)
            except ValueError:
                log.warning("io_uring: ignoring %s=%r (use auto, always or never)", IO_URING_GUARD_ENV, override)
        block, why = io_uring_decision(guard, acceleration, loop_impl)
        if block:
            result = block_io_uring()
            level = logging.INFO if result.installed and not result.rings_already_open else logging.ERROR
            state = "blocked" if result.installed else "NOT blocked"
            log.log(level, "io_uring: %s for this process (%s): %s", state, why, result.detail)
        else:
            result = GuardResult(False, why)
            bad = "Onload will not see" in why
            log.log(logging.WARNING if bad else logging.INFO, "io_uring: left alone (%s)", why)
        gc_controller = GcController(spin.gc)
        tuning = apply_process_tuning(spin, gc_controller)
        return cls(
            spin=spin,
            acceleration=acceleration,
            io_uring=result,
            io_uring_guard=guard,
            tuning=tuning,
            gc_controller=gc_controller,
            extensions=extensions,
            loop_impl=loop_impl,
            onload_env=onload_env,
        )

    def attach(self, loop: asyncio.AbstractEventLoop) -> LoopSpinner:
        """Create the loop spinner and start the GC quiet-period timer on ``loop``; return the spinner.

        The core calls ``spinner.kick()`` after every socket read (venues and strategies).
        """
        spinner = LoopSpinner(loop, self.spin.loop_spin_us)
        self.spinner = spinner
        spinner.start()
        self.gc.attach(loop, lambda: spinner.last_activity_ns)
        return spinner

    def startup_complete(self) -> None:
        """Freeze the objects built during start-up out of the GC's reach (once venues and sockets are up)."""
        frozen = self.gc.freeze()
        if frozen:
            log.info("gc: start-up complete, %d objects frozen out of collection", frozen)

    def acceleration_verdict(self) -> tuple[bool | None, str]:
        """Say whether every venue socket bypasses the kernel: sockets on an Onload stack *and* seen by its epoll.

        A socket Onload accelerates is still not on the fast path when uvloop registered it through
        io_uring (``io_uring_guard: never``): Onload's user-level epoll never learns of it.
        """
        sockets = self.registry.all_accelerated()
        if sockets is None:
            return None, "no venue socket connected yet"
        if not sockets:
            kernel = [e.venue for e in self.registry.entries() if e.path != "onload"]
            return False, f"on the kernel path: {', '.join(kernel)}"
        if self.acceleration.onload and self.loop_impl is LoopImpl.UVLOOP:
            if not self.io_uring.installed:
                return False, (
                    f"io_uring not blocked (io_uring_guard: {self.io_uring_guard.value}): uvloop registers the venue"
                    " sockets through io_uring, so Onload's epoll never sees them"
                )
            if self.io_uring.rings_already_open:
                return False, "io_uring blocked too late: rings opened before the guard may hold venue sockets"
        return True, "every venue socket is on an Onload stack and registered with epoll_ctl"

    def status(self) -> dict[str, Any]:
        """Return everything ops adds to ``gateway status`` as JSON-able data.

        The acceleration, io_uring and tuning sections change only when a venue socket connects (the
        registry says so; the settings behind them are fixed for the run): built once per change and reused,
        so a status request on the event loop builds only the GC and spinner counters.
        """
        fixed, live = self.status_parts()
        return {**fixed, **word_live(live)}

    def status_parts(self) -> tuple[dict[str, Any], tuple[Any, ...]]:
        """Return ``status`` in two parts: the sections only a venue connection or a new setting changes
        (the same object until then: the status snapshot encodes it once) and the GC and spinner counters,
        unworded (``live_raw``).
        """
        fixed = self._fixed_sections
        if fixed is None:  # none built yet, or a venue socket connected since
            fixed = self._fixed_sections = self._fixed_status()
        return fixed, self.live_raw()

    def _venue_socket_recorded(self) -> None:
        """A venue socket connected (``AccelerationRegistry.record``): the fixed sections are built again when asked."""
        self._fixed_sections = None

    def live_raw(self) -> tuple[Any, ...]:
        """Return the GC and spinner counters as plain numbers (``word_live`` words them in the reading process).

        Tagged ``"ops"`` for ``gateway.snapshot.status_document``; holds the live counter lists, so
        encode it before the loop runs again.
        """
        return ("ops", self.gc.status_raw(), self.spinner.status_raw() if self.spinner is not None else None)

    def _fixed_status(self) -> dict[str, Any]:
        """Return the status sections that only a venue connection or a new setting changes."""
        verdict, why = self.acceleration_verdict()
        return {
            "acceleration": {
                **self.acceleration.status(),
                **self.registry.status(),
                "all_venue_sockets_accelerated": verdict,
                "verdict": why,
                "onload_env": [msgspec.to_builtins(s) for s in self.onload_env],
            },
            "io_uring": {
                "guard": self.io_uring_guard.value,
                "blocked": self.io_uring.installed,
                "detail": self.io_uring.detail,
            },
            "tuning": self.tuning.status(),
        }

    def close(self) -> None:
        """Stop the spinner and the GC timer; restore the GC thresholds."""
        if self.spinner is not None:
            self.spinner.stop()
        self.gc.close()


def word_live(raw: Sequence[Any]) -> dict[str, Any]:
    """Return the ``gc`` and ``spinner`` status sections from ``OpsRuntime.live_raw`` (or its decoded copy)."""
    _tag, gc_raw, spinner_raw = raw
    return {
        "gc": word_gc_status(gc_raw),
        "spinner": word_spinner_status(spinner_raw) if spinner_raw is not None else None,
    }
