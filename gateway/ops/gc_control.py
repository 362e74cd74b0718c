"""Garbage-collector control: no full collections on the hot path, collections when the loop is quiet.

A full (generation 2) collection walks every tracked object; on a large heap that is
tens of milliseconds during which no order moves. The controller:

1. applies the policy at start-up (``apply()``): in ``young`` mode generation 0/1
   collections stay automatic (they are short) and the generation-2 threshold is
   raised so Python never starts a full collection by itself; ``off`` disables
   automatic collection altogether; ``all`` leaves Python's defaults;
2. freezes everything alive once start-up is over (``freeze()``), so later
   collections never walk the config, codecs and tables built at start-up;
3. runs a collection of ``quiet_generation`` from a loop timer once no socket activity
   has been seen for ``quiet_period_ms`` (``attach(loop, last_activity_ns)``), once per quiet
   period, and again only after objects entered that generation (heartbeats alone do not);
4. counts every collection by generation and by who started it (``gc.callbacks``),
   with pause times, so status shows them and a test can assert
   ``hot_path_full_collections == 0``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Sequence
from typing import Any

from gateway.ops.config import AutomaticGc, GcConfig
from model.clock import NowNs, monotonic_ns

log = logging.getLogger(__name__)

NEVER_THRESHOLD = 2_147_483_647
"""Largest threshold ``gc.set_threshold`` accepts: generation 2 is never reached automatically."""


class GcController:
    """Apply the GC policy, collect in quiet periods and count collections."""

    def __init__(self, config: GcConfig, clock: NowNs = monotonic_ns) -> None:
        self.config = config
        self._clock = clock
        self.automatic = [0, 0, 0]
        """Collections Python started on its own, by generation."""
        self.quiet = [0, 0, 0]
        """Collections this controller started in quiet periods, by generation."""
        self.pause_ns_total = 0
        self.pause_ns_max = 0
        self.collected = 0
        self.uncollectable = 0
        self.frozen_objects = 0
        self.last_quiet_collection_ns = 0
        self._in_quiet_collection = False
        self._pause_start_ns = 0
        self._previous_thresholds: tuple[int, int, int] | None = None
        self._previous_enabled = True
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_activity_ns: Callable[[], int] = clock
        self._callback_installed = False

    # ---------------------------------------------------------------------------------- start-up

    def apply(self) -> str:
        """Install the callback and the thresholds; return the effective policy in words."""
        if not self._callback_installed:
            gc.callbacks.append(self._on_gc)
            self._callback_installed = True
        self._previous_thresholds = gc.get_threshold()
        self._previous_enabled = gc.isenabled()
        gen0, gen1, _ = gc.get_threshold()
        if self.config.gen0_threshold is not None:
            gen0 = self.config.gen0_threshold
        mode = self.config.automatic
        if mode is AutomaticGc.ALL:
            gc.set_threshold(gen0, gen1, self._previous_thresholds[2])
            gc.enable()
        elif mode is AutomaticGc.YOUNG:
            gc.set_threshold(gen0, gen1, NEVER_THRESHOLD)
            gc.enable()
        else:
            gc.set_threshold(gen0, gen1, NEVER_THRESHOLD)
            gc.disable()
        return self.describe()

    def describe(self) -> str:
        """Return the effective policy in one phrase."""
        gen0, gen1, gen2 = gc.get_threshold()
        config = self.config
        return describe_policy(
            gc.isenabled(),
            gen0,
            gen1,
            gen2,
            config.quiet_generation,
            config.quiet_period_ms,
            config.freeze_after_startup,
        )

    def freeze(self) -> int:
        """Collect once, then move every live object to the permanent generation; return how many."""
        if not self.config.freeze_after_startup:
            return 0
        self._in_quiet_collection = True
        try:
            gc.collect()
        finally:
            self._in_quiet_collection = False
        gc.freeze()
        self.frozen_objects = gc.get_freeze_count()
        return self.frozen_objects

    def attach(self, loop: asyncio.AbstractEventLoop, last_activity_ns: Callable[[], int]) -> None:
        """Start the quiet-period timer on ``loop``; ``last_activity_ns`` returns the last read's time."""
        self._loop = loop
        self._last_activity_ns = last_activity_ns
        if self.config.quiet_period_ms:
            self._schedule()

    def close(self) -> None:
        """Stop the timer, remove the callback and restore the thresholds found by ``apply``."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._callback_installed:
            gc.callbacks.remove(self._on_gc)
            self._callback_installed = False
        if self._previous_thresholds is not None:
            gc.set_threshold(*self._previous_thresholds)
            if self._previous_enabled:
                gc.enable()
            else:
                gc.disable()
            self._previous_thresholds = None

    # ------------------------------------------------------------------------------ quiet periods

    def _schedule(self) -> None:
        assert self._loop is not None
        interval_s = max(self.config.quiet_period_ms / 4, 1) / 1000
        self._timer = self._loop.call_later(interval_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.collect_if_quiet()
        self._schedule()

    def collect_if_quiet(self) -> bool:
        """Collect once per quiet period: no activity for ``quiet_period_ms`` and some since the last one."""
        now = self._clock()
        last_activity = self._last_activity_ns()
        quiet_ns = self.config.quiet_period_ms * 1_000_000
        if now - last_activity < quiet_ns:
            return False
        if self.last_quiet_collection_ns and last_activity <= self.last_quiet_collection_ns:
            return False  # nothing happened since the last one: one collection per quiet period
        if self.last_quiet_collection_ns and not self.has_new_objects():
            return False  # only heartbeats since the last one: nothing new for it to find
        self.collect_now()
        return True

    def has_new_objects(self) -> bool:
        """Return True if objects entered ``quiet_generation`` since it was last collected.

        A venue's or strategy's heartbeat is socket activity but allocates next to nothing: without this,
        every heartbeat interval of an idle day ended a "quiet period" and ran another full collection
        (0.5-2 s each on a large heap). Generation 2 (1) has new objects once Python has collected
        generation 1 (0) since; with automatic collection off, once the allocations reach the generation
        0 threshold (the young collection that would have run).
        """
        generation = self.config.quiet_generation
        counts = gc.get_count()
        if counts[0] >= gc.get_threshold()[0]:
            return True
        return generation > 0 and counts[generation] > 0

    def collect_now(self) -> int:
        """Collect ``quiet_generation`` now (counted as a quiet collection); return objects collected."""
        self._in_quiet_collection = True
        try:
            found = gc.collect(self.config.quiet_generation)
        finally:
            self._in_quiet_collection = False
        self.last_quiet_collection_ns = self._clock()
        return found

    # --------------------------------------------------------------------------------- accounting

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._pause_start_ns = self._clock()
            return
        generation = int(info.get("generation", 2))
        pause = self._clock() - self._pause_start_ns
        self.pause_ns_total += pause
        self.pause_ns_max = max(self.pause_ns_max, pause)
        self.collected += int(info.get("collected", 0))
        self.uncollectable += int(info.get("uncollectable", 0))
        if self._in_quiet_collection:
            self.quiet[generation] += 1
        else:
            self.automatic[generation] += 1

    @property
    def hot_path_full_collections(self) -> int:
        """Full collections Python started by itself (the ones that stall the hot path); 0 is the goal."""
        return self.automatic[2]

    def status(self) -> dict[str, Any]:
        """Return JSON-able counters for ``gateway status``."""
        return word_status(self.status_raw())

    def status_raw(self) -> tuple[Any, ...]:
        """Return what ``status`` says as plain numbers, nothing formatted (``word_status`` words them).

        The status snapshot sends this tuple and the reading process words it: no policy phrase,
        rounding or dict built on the event loop per request.
        """
        config = self.config
        return (
            gc.isenabled(),
            gc.get_threshold(),
            config.quiet_generation,
            config.quiet_period_ms,
            config.freeze_after_startup,
            self.automatic,
            self.quiet,
            self.pause_ns_total,
            self.pause_ns_max,
            self.collected,
            self.uncollectable,
            self.frozen_objects,
            gc.get_count(),
            self.last_quiet_collection_ns,
            self._clock(),
        )


def describe_policy(
    enabled: bool, gen0: int, gen1: int, gen2: int, quiet_generation: int, quiet_period_ms: int, freeze: bool
) -> str:
    """Return the GC policy in one phrase (``GcController.describe``)."""
    if not enabled:
        automatic = "automatic collection off"
    elif gen2 >= NEVER_THRESHOLD:
        automatic = f"automatic young collections only (thresholds {gen0}/{gen1}, generation 2 never)"
    else:
        automatic = f"automatic collections of every generation (thresholds {gen0}/{gen1}/{gen2})"
    if quiet_period_ms:
        quiet = f"generation {quiet_generation} collected after {quiet_period_ms} ms without socket activity"
    else:
        quiet = "no collections in quiet periods"
    return f"{automatic}; {quiet}; {'freeze after start-up' if freeze else 'no freeze'}"


def word_status(raw: Sequence[Any]) -> dict[str, Any]:
    """Return the ``GcController.status`` document from ``GcController.status_raw`` (or its decoded copy)."""
    (
        enabled,
        (gen0, gen1, gen2),
        quiet_generation,
        quiet_period_ms,
        freeze,
        automatic,
        quiet,
        pause_ns_total,
        pause_ns_max,
        collected,
        uncollectable,
        frozen_objects,
        pending,
        last_quiet_collection_ns,
        now,
    ) = raw
    return {
        "policy": describe_policy(enabled, gen0, gen1, gen2, quiet_generation, quiet_period_ms, freeze),
        "automatic_by_generation": list(automatic),
        "quiet_by_generation": list(quiet),
        "hot_path_full_collections": automatic[2],
        "pause_ms_total": round(pause_ns_total / 1e6, 3),
        "pause_ms_max": round(pause_ns_max / 1e6, 3),
        "collected_objects": collected,
        "uncollectable_objects": uncollectable,
        "frozen_objects": frozen_objects,
        "pending_by_generation": list(pending),
        "seconds_since_quiet_collection": (
            round((now - last_quiet_collection_ns) / 1e9, 3) if last_quiet_collection_ns else None
        ),
    }
