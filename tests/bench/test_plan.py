"""Scenario plans: pacing per phase, bursts, and the mixed flow's cancels, replaces and risk rejects."""

from __future__ import annotations

from benchmarks.harness.plan import (
    FULL_SCENARIOS,
    MIN_TARGET_AGE,
    Action,
    Kind,
    Scenario,
    build_plan,
    scenarios_by_name,
)


def test_build_plan_when_pingpong_then_new_orders_only_and_no_schedule() -> None:
    plan = build_plan(Scenario("p", Kind.PINGPONG, 10, warmup=3))
    assert plan.actions == 13 and plan.warmup == 3
    assert set(plan.kinds) == {Action.NEW}
    assert set(plan.offsets_ns) == {0}


def test_build_plan_when_rate_then_evenly_spaced_from_the_start_of_each_phase() -> None:
    plan = build_plan(Scenario("r", Kind.RATE, 5, warmup=2, rate=1_000))
    assert list(plan.offsets_ns) == [0, 1_000_000, 0, 1_000_000, 2_000_000, 3_000_000, 4_000_000]


def test_build_plan_when_burst_then_back_to_back_within_a_burst_and_interval_between() -> None:
    plan = build_plan(Scenario("b", Kind.BURST, 6, warmup=2, burst_size=3, burst_interval_ms=100))
    assert list(plan.offsets_ns[2:]) == [0, 0, 0, 100_000_000, 100_000_000, 100_000_000]
    assert list(plan.offsets_ns[:2]) == [0, 0]


def test_build_plan_when_mixed_then_each_cancel_or_replace_targets_an_older_untouched_new_order() -> None:
    scenario = scenarios_by_name()["mixed"]
    plan = build_plan(scenario)
    counts = plan.counts()
    assert counts["cancel"] > 0.10 * scenario.actions
    assert counts["replace"] > 0.06 * scenario.actions
    assert 0.03 * scenario.actions < counts["reject"] < 0.07 * scenario.actions
    seen: set[int] = set()
    for i in range(plan.warmup, plan.actions):
        if plan.kinds[i] in (Action.CANCEL, Action.REPLACE):
            target = plan.targets[i]
            assert plan.kinds[target] == Action.NEW
            assert i - target >= MIN_TARGET_AGE
            assert target not in seen
            seen.add(target)
        else:
            assert plan.targets[i] == -1


def test_build_plan_when_same_scenario_twice_then_identical() -> None:
    scenario = scenarios_by_name()["mixed"]
    first, second = build_plan(scenario), build_plan(scenario)
    assert first.kinds == second.kinds and first.targets == second.targets


def test_scaled_when_burst_then_whole_bursts_and_smaller_counts() -> None:
    scaled = scenarios_by_name()["burst-5k"].scaled(0.02)
    assert scaled.burst_size == 100 and scaled.actions % scaled.burst_size == 0
    assert scaled.actions == 1_000 and scaled.warmup == 100
    assert all(s.scaled(0.01).actions >= 100 for s in FULL_SCENARIOS)


def test_scenario_names_when_gateway_bench_lists_them_then_they_are_the_full_scenarios() -> None:
    from gateway.commands.bench import SCENARIO_NAMES

    assert tuple(s.name for s in FULL_SCENARIOS) == SCENARIO_NAMES
