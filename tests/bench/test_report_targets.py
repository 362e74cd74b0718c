"""The report's targets: same-run ratios over the floors, offered vs answered, drop points, evidence."""

from __future__ import annotations

from typing import Any

from benchmarks.harness.counters import PathCounters
from benchmarks.harness.plan import Kind, Scenario
from benchmarks.harness.report import (
    PathResult,
    Report,
    ScenarioResult,
    drop_point,
    evaluate_targets,
    hot_path_of,
    rate_rows,
    render_markdown,
    render_text,
)
from benchmarks.harness.runner import RunData

KEYS = ("p50", "p90", "p99", "p99.9", "p99.99", "max")


def _summary(p50: float, p999: float) -> dict[str, float]:
    return {"count": 1000.0, "p50": p50, "p90": p50, "p99": p999, "p99.9": p999, "p99.99": p999, "max": p999}


def _path(name: str, p50: float = 0.0, p999: float = 0.0, *, throughput: float = 0.0, lost: int = 0) -> PathResult:
    empty = {k: 0.0 for k in ("count", *KEYS)}
    return PathResult(
        path=name,
        label=name,
        runs=1,
        round_trip=_summary(p50, p999),
        round_trip_corrected=_summary(p50, p999),
        one_way=empty,
        reject_round_trip=empty,
        cancel_round_trip=empty,
        replace_round_trip=empty,
        counts={"accepted": 1000},
        lost=lost,
        throughput=throughput,
        send_rate=throughput,
        errors=0,
        stages_us=None,
        gc=None,
        gateway_counters=None,
    )


def _scenario(name: str, paths: list[PathResult], *, corrected: bool = False) -> ScenarioResult:
    return ScenarioResult(
        name=name,
        description=name,
        kind="pingpong",
        actions=1000,
        corrected=corrected,
        primary="round_trip_corrected" if corrected else "round_trip",
        paths={p.path: p for p in paths},
        added={},
        baselines={},
    )


PINGPONG = _scenario(
    "pingpong",
    [
        _path("floor", 40, 200),
        _path("relay-spin", 70, 500),  # adds 30 / 300
        _path("gw-spin", 85, 450),  # adds 45 / 250: 1.5x at p50, 0.83x at p99.9
        _path("fix-floor", 60, 300),
        _path("fix-quickfix", 160, 700),  # adds 100 / 400
        _path("fix-gw-spin", 120, 600),  # adds 60 / 300: 0.6x, 0.75x
    ],
)
SCENARIOS = [
    Scenario("rate-100k", Kind.RATE, 100, rate=100_000),
    Scenario("rate-250k", Kind.RATE, 100, rate=250_000),
]
RATES = [
    _scenario("rate-100k", [_path("floor", throughput=99_800), _path("gw-spin", throughput=98_000)], corrected=True),
    _scenario("rate-250k", [_path("floor", throughput=249_000), _path("gw-spin", throughput=120_000)], corrected=True),
]


def _targets() -> dict[str, tuple[bool | None, str]]:
    counters = [
        PathCounters("gw-spin", (1, 2), 100.0, 110.0, 50.0, {"write": 4.0, "read": 2.0}, 6.0, {}, {}, []),
        PathCounters("relay-spin", (1, 2), 4.0, 2.0, 50.0, {"write": 2.0, "read": 2.0}, 4.0, {}, {}, []),
    ]
    hotpath = {
        "fix_round_trip": {"median": 14.2, "p99": 30.0},
        "fix_new_order": {"median": 6.0},
        "fix_report": {"median": 8.2},
    }
    results = [PINGPONG, *RATES]
    targets = evaluate_targets(results, [], rates=rate_rows(results, SCENARIOS), counters=counters, hotpath=hotpath)
    return {t.name: (t.met, t.detail) for t in targets}


def test_targets_when_ratios_over_the_floors_then_met_at_the_limit_and_evidence_from_counters() -> None:
    targets = _targets()
    met, detail = targets["OUCH ping-pong: gw-spin added round trip <= 1.5x relay-spin's at p50"]
    assert met is True and detail.startswith("1.50x: gw-spin adds 45.0 us over floor, relay-spin adds 30.0 us")
    assert "gw-spin 100 Python calls, 6.0 system calls per order" in detail
    assert "relay-spin 4 Python calls, 4.0 system calls per order" in detail
    met, detail = targets["OUCH ping-pong: gw-spin added round trip <= 1x relay-spin's at p99.9"]
    assert met is True and detail.startswith("0.83x")
    met, detail = targets["FIX ping-pong: fix-gw-spin added round trip <= 0.5x fix-quickfix's at p50"]
    assert met is False and detail.startswith("0.60x: fix-gw-spin adds 60.0 us over fix-floor")
    met, _ = targets["FIX ping-pong: fix-gw-spin added round trip <= 0.5x fix-quickfix's at p99.9"]
    assert met is False
    met, detail = targets["in-process FIX order round trip (bench_hotpath) median <= 15 us"]
    assert met is True and "NewOrderSingle out 6.0, ExecutionReport in 8.2" in detail


def test_targets_when_rates_then_floor_capacity_gateway_drop_point_named() -> None:
    targets = _targets()
    met, detail = targets["floor (load generator + venue) offers and answers >= 250,000 orders/s"]
    assert met is True and "answered 249,000/s" in detail
    met, detail = targets["gw-spin: answers an offered 100,000 orders/s, zero loss"]
    assert met is True
    assert "first fell behind at an offered 250,000/s; best 120,000 answered/s" in detail


def test_rate_rows_when_loss_or_short_then_does_not_keep_up() -> None:
    results = [
        _scenario("rate-100k", [_path("gw-kernel", throughput=99_000, lost=1)], corrected=True),
        _scenario("rate-250k", [_path("gw-kernel", throughput=240_000)], corrected=True),
    ]
    rows = rate_rows(results, SCENARIOS)
    assert [(r.scenario, r.keeps_up) for r in rows] == [("rate-100k", False), ("rate-250k", False)]
    assert drop_point(rows, "gw-kernel") == (100_000, 240_000)
    assert drop_point(rows, "nothing") == (None, 0.0)


def test_targets_when_relay_adds_nothing_then_no_ratio_and_said_why() -> None:
    flat = _scenario("pingpong", [_path("floor", 40, 200), _path("relay-spin", 39, 200), _path("gw-spin", 90, 400)])
    targets = {t.name: t for t in evaluate_targets([flat], [])}
    target = targets["OUCH ping-pong: gw-spin added round trip <= 1.5x relay-spin's at p50"]
    assert target.met is None and "noise" in target.detail


def test_render_when_summary_then_targets_and_ratio_rows_in_markdown_and_text() -> None:
    results = [PINGPONG, *RATES]
    report = Report(
        started_at="2026-01-01T00:00:00+00:00",
        command="gateway bench",
        machine={},
        placement="not pinned",
        paths=[],
        scenarios=results,
        targets=evaluate_targets(results, []),
        files={},
        notes=["strace not installed: system calls not counted"],
        rates=rate_rows(results, SCENARIOS),
        commit="abc1234",
    )
    markdown = render_markdown(report)
    assert "at commit abc1234" in markdown
    assert "| (gw-spin - floor) / (relay-spin - floor) | 1.50x |" in markdown
    assert "| rate-250k | gw-spin | 250,000 |" in markdown and "**no**" in markdown
    assert "Note: strace not installed" in markdown
    text = render_text(report)
    assert "(fix-gw-spin - fix-floor) / (fix-quickfix - fix-floor)" in text and "**" not in text


def _run(status: dict[str, Any] | None) -> RunData:
    return RunData("pingpong", "gw-spin", 0, b"", b"", b"", b"", b"", b"", 0, 0, 0, [], 0, True, status, 0, 1.0)


def test_targets_when_burst_then_verdict_names_only_loss_and_rejects_and_gc_counts_full_collections() -> None:
    burst = _scenario("burst-50k", [_path("gw-spin", 900_000, 1_045_390, throughput=47_819)])
    status = {"gc": {"hot_path_full_collections": 0, "automatic_by_generation": [812, 3, 0]}}
    targets = {t.name: (t.met, t.detail) for t in evaluate_targets([burst], [_run(status)])}
    met, detail = targets["50,000-order burst absorbed: zero lost, zero rejected (gw-spin)"]
    assert met is True  # a p99.99 of a second does not fail it: no bound is checked, and none is claimed
    assert "p99.99 1,045,390 us" in detail and "no latency bound" in detail
    assert not any("bounded" in name for name in targets)
    met, detail = targets["zero full garbage collections during the bench (every gateway run)"]
    assert met is True and detail.startswith("0 full") and "automatic" not in detail.split("(")[0]


def test_targets_when_kernel_mode_counters_then_system_call_target_missed_at_six() -> None:
    kernel = {"write": 2.0, "read": 2.0, "epoll_pwait": 2.0}
    counters = [
        PathCounters("gw-kernel", (1, 2), 41.0, 60.0, 0.0, kernel, 6.0, {"futex": 0.04}, {}, []),
        PathCounters(
            "gw-spin", (1, 2), 43.0, 60.0, 26.0, {"write": 2.0, "read": 2.0}, 4.0, {"epoll_pwait": 11.25}, {}, []
        ),
    ]
    targets = {t.name: (t.met, t.detail) for t in evaluate_targets([PINGPONG], [], counters=counters)}
    met, detail = targets["system calls per OUCH ping-pong order, gw-kernel <= 5 (issue 12)"]
    assert met is False and detail.startswith("6.0 per order (write 2, read 2, epoll_pwait 2)")
    assert "gw-spin 4.0 per order plus 11.25 epoll_pwait polls (time-driven)" in detail


def test_hot_path_when_status_says_then_header_names_compiled_or_pure() -> None:
    compiled = {"hot_path": {"path": "compiled", "why": "27 modules", "modules": ["a"] * 27}}
    pure = {"hot_path": {"path": "pure Python", "why": "GATEWAY_PURE_PYTHON=1", "modules": []}}
    assert hot_path_of([_run(compiled), _run(compiled), _run(None)]) == "compiled (27 modules)"
    assert hot_path_of([_run(pure)]) == "pure Python (GATEWAY_PURE_PYTHON=1)"
    assert hot_path_of([_run(compiled), _run(pure)]).startswith("mixed: compiled (27 modules) in 1 runs")
    assert hot_path_of([]) == ""
    report = Report("t", "gateway bench", {}, "p", [], [], [], {}, [], hot_path="compiled (27 modules)")
    assert "gateway hot modules in the timed runs: compiled (27 modules)" in render_markdown(report, "summary")
    assert "the counting runs profile the pure-Python modules" in render_text(report)


def test_splice_when_markers_then_only_the_generated_section_is_replaced() -> None:
    import pytest

    from benchmarks.harness.report import doc_markers, splice

    (b1, e1), (b2, e2) = doc_markers("summary"), doc_markers("tables")
    doc = f"# Title\n\n{b1}\n\nold summary\n\n{e1}\n\nprose\n\n{b2}\nold\n{e2}\n"
    once = splice(doc, {"summary": "new summary\n", "tables": "new tables"})
    assert once == f"# Title\n\n{b1}\n\nnew summary\n\n{e1}\n\nprose\n\n{b2}\n\nnew tables\n\n{e2}\n"
    assert splice(once, {"summary": "new summary", "tables": "new tables"}) == once
    with pytest.raises(ValueError, match="no generated region 'tables'"):
        splice(f"{b1}\n{e1}\n", {"summary": "x", "tables": "y"})
