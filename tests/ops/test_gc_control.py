"""GC control: thresholds per policy, no automatic full collection in ``young`` mode, quiet collections."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import msgspec
import pytest

from gateway.ops.config import AutomaticGc, GcConfig
from gateway.ops.gc_control import NEVER_THRESHOLD, GcController, word_status
from model.clock import FakeClock


@pytest.fixture
def controllers() -> Iterator[list[GcController]]:
    """Controllers created by a test; closed (callbacks removed, thresholds restored) afterwards."""
    made: list[GcController] = []
    before = gc.get_threshold(), gc.isenabled()
    yield made
    for controller in made:
        controller.close()
    gc.unfreeze()
    gc.set_threshold(*before[0])
    if before[1]:
        gc.enable()


def _make(controllers: list[GcController], clock: FakeClock | None = None, **config: object) -> GcController:
    cfg = GcConfig(**config)  # type: ignore[arg-type]
    controller = GcController(cfg, clock) if clock is not None else GcController(cfg)
    controllers.append(controller)
    return controller


def _make_cyclic_garbage(count: int) -> None:
    for _ in range(count):
        cycle: list[object] = []
        cycle.append(cycle)


def test_apply_when_young_then_generation_2_never_triggers_automatically(
    controllers: list[GcController],
) -> None:
    controller = _make(controllers, automatic=AutomaticGc.YOUNG, gen0_threshold=100)
    controller.apply()
    assert gc.get_threshold()[0] == 100
    assert gc.get_threshold()[2] == NEVER_THRESHOLD
    assert gc.isenabled()
    survivors = [[i] for i in range(len(gc.get_objects()))]  # what makes "all" start full collections
    _make_cyclic_garbage(100_000)
    del survivors
    assert controller.automatic[0] > 100  # young collections still run and reclaim the cycles
    assert controller.hot_path_full_collections == 0


def test_apply_when_all_then_python_starts_full_collections_and_they_are_counted(
    controllers: list[GcController],
) -> None:
    # From Python's own state (an earlier test in this process may have left other thresholds or a long-lived
    # count of a larger heap it freed since; the fixture restores what it found): the default thresholds, and
    # the long-lived heap counted now, before any callback. Python starts a full collection only once the
    # objects promoted since the last one exceed a quarter of that count.
    gc.set_threshold(700, 10, 10)
    gc.enable()
    gc.collect()
    controller = _make(controllers, automatic=AutomaticGc.ALL, gen0_threshold=100)
    controller.apply()
    # keep enough survivors for that on pytest's heap
    survivors = [[i] for i in range(len(gc.get_objects()))]
    _make_cyclic_garbage(100_000)
    del survivors
    assert controller.hot_path_full_collections > 0
    assert controller.status()["pause_ms_max"] > 0


def test_apply_when_off_then_nothing_collects_automatically(controllers: list[GcController]) -> None:
    controller = _make(controllers, automatic=AutomaticGc.OFF)
    controller.apply()
    assert not gc.isenabled()
    _make_cyclic_garbage(20_000)
    assert controller.automatic == [0, 0, 0]


def test_close_when_applied_then_previous_thresholds_and_state_restored(
    controllers: list[GcController],
) -> None:
    gc.set_threshold(700, 10, 10)
    controller = GcController(GcConfig(automatic=AutomaticGc.OFF, gen0_threshold=5000))
    controller.apply()
    controller.close()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.isenabled()
    assert controller._on_gc not in gc.callbacks


def test_collect_if_quiet_when_activity_recent_then_waits_and_when_quiet_then_collects_once(
    controllers: list[GcController],
) -> None:
    clock = FakeClock()
    last_activity = [clock.now]
    controller = _make(controllers, clock, quiet_period_ms=100, quiet_generation=2)
    controller.apply()
    controller._last_activity_ns = lambda: last_activity[0]
    clock.advance_ms(99)
    assert controller.collect_if_quiet() is False
    clock.advance_ms(1)
    assert controller.collect_if_quiet() is True
    assert controller.quiet[2] == 1
    clock.advance_ms(500)
    assert controller.collect_if_quiet() is False  # nothing happened since: one collection per quiet period
    last_activity[0] = clock.now
    gc.collect(1)  # orders came: objects were promoted to generation 2
    clock.advance_ms(100)
    assert controller.collect_if_quiet() is True
    assert controller.quiet[2] == 2
    assert controller.hot_path_full_collections == 0  # the controller's own are not hot-path collections


def test_collect_if_quiet_when_only_heartbeats_since_the_last_one_then_no_second_full_collection(
    controllers: list[GcController],
) -> None:
    clock = FakeClock()
    last_activity = [clock.now]
    controller = _make(controllers, clock, quiet_period_ms=500, quiet_generation=2)
    controller.apply()
    controller._last_activity_ns = lambda: last_activity[0]
    gc.disable()  # no automatic young collection: nothing reaches generation 2 unless the test says so
    clock.advance_ms(500)
    assert controller.collect_if_quiet() is True
    collections = []
    for _ in range(150):  # 150 s of an idle day: a venue heartbeat every second, each read kicks the loop
        clock.advance_ms(1000)
        last_activity[0] = clock.now
        clock.advance_ms(600)
        collections.append(controller.collect_if_quiet())
    assert collections.count(True) == 0
    assert controller.quiet[2] == 1  # once for the quiet period, not once per heartbeat
    gc.collect(1)  # the market wakes: objects are promoted to generation 2
    last_activity[0] = clock.now
    clock.advance_ms(500)
    assert controller.collect_if_quiet() is True
    assert controller.quiet[2] == 2


def test_collect_if_quiet_when_automatic_collection_off_then_collects_again_once_allocations_reach_gen0_threshold(
    controllers: list[GcController],
) -> None:
    clock = FakeClock()
    last_activity = [clock.now]
    controller = _make(controllers, clock, automatic=AutomaticGc.OFF, gen0_threshold=1000, quiet_period_ms=500)
    controller.apply()
    controller._last_activity_ns = lambda: last_activity[0]
    clock.advance_ms(500)
    assert controller.collect_if_quiet() is True
    last_activity[0] = clock.now
    clock.advance_ms(500)
    assert controller.collect_if_quiet() is False  # a heartbeat's few objects
    kept = [[i] for i in range(2000)]  # real work: more tracked objects than a young collection's threshold
    last_activity[0] = clock.now
    clock.advance_ms(500)
    assert controller.collect_if_quiet() is True
    assert len(kept) == 2000


async def test_attach_when_loop_idle_then_timer_runs_quiet_collection(
    controllers: list[GcController],
) -> None:
    controller = GcController(GcConfig(quiet_period_ms=20))
    controllers.append(controller)
    controller.apply()
    loop = asyncio.get_running_loop()
    started = loop.time()
    controller.attach(loop, lambda: 0)  # no activity ever: the loop is quiet from the start
    while controller.quiet[2] == 0 and loop.time() - started < 5:
        await asyncio.sleep(0.01)
    assert controller.quiet[2] == 1
    assert controller.status()["seconds_since_quiet_collection"] is not None


def test_freeze_when_startup_complete_then_live_objects_leave_the_collector(
    controllers: list[GcController],
) -> None:
    controller = _make(controllers)
    controller.apply()
    frozen = controller.freeze()
    assert frozen > 1000
    assert controller.status()["frozen_objects"] == frozen
    # Threads left by earlier tests (fsync, prefetch, signal listeners) may drop references to frozen objects
    # meanwhile, which takes them out of the permanent generation: it can shrink, never grow.
    assert frozen // 2 < gc.get_freeze_count() <= frozen


def test_freeze_when_disabled_in_config_then_nothing_frozen(controllers: list[GcController]) -> None:
    controller = _make(controllers, freeze_after_startup=False)
    assert controller.freeze() == 0
    assert gc.get_freeze_count() == 0


def test_describe_when_each_policy_then_says_what_is_automatic(controllers: list[GcController]) -> None:
    young = _make(controllers, quiet_period_ms=500)
    assert young.apply().startswith("automatic young collections only (thresholds 700/10, generation 2 never);")
    young.close()
    off = _make(controllers, automatic=AutomaticGc.OFF, quiet_period_ms=0, freeze_after_startup=False)
    assert off.apply() == "automatic collection off; no collections in quiet periods; no freeze"


def _leaves(value: object) -> list[object]:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@pytest.mark.parametrize(
    "config",
    [
        {"automatic": AutomaticGc.YOUNG, "quiet_period_ms": 50, "freeze_after_startup": True},
        {"automatic": AutomaticGc.OFF, "quiet_period_ms": 0},
        {"automatic": AutomaticGc.ALL},
    ],
)
def test_status_raw_when_worded_by_the_reader_then_the_status_document_and_no_text_built_on_the_loop(
    controllers: list[GcController], config: dict[str, object]
) -> None:
    clock = FakeClock(5_000_000_000)
    controller = _make(controllers, clock, **config)
    controller.apply()
    _make_cyclic_garbage(50)
    gc.collect()
    controller.pause_ns_total, controller.pause_ns_max = 12_345_678, 2_345_678
    controller.last_quiet_collection_ns = 3_000_000_000
    raw = controller.status_raw()
    assert all(leaf is None or isinstance(leaf, (bool, int)) for leaf in _leaves(raw)), raw
    sent = msgspec.msgpack.decode(msgspec.msgpack.encode(raw))  # as the status snapshot carries it
    worded, document = word_status(sent), controller.status()
    assert len(worded.pop("pending_by_generation")) == len(document.pop("pending_by_generation")) == 3  # moves
    assert worded == document
    assert document["pause_ms_total"] == 12.346 and document["seconds_since_quiet_collection"] == 2.0
