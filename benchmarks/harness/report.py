"""Turn runs into the report: tables per scenario, gateway added latency and ratios, stages, targets, files.

Everything here works on the ``RunData`` the harness collected; nothing is measured here.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import msgspec

from benchmarks.harness.counters import PathCounters
from benchmarks.harness.plan import Kind, Scenario
from benchmarks.harness.runner import PathSpec, Placement, RunData, RunFigures, figures
from benchmarks.harness.stats import PERCENTILE_KEYS, Summary, compare, histogram, summarize, write_hgrm

FLOOR: Final = "floor"
STAGE_ORDER: Final = (
    "decode",
    "order_checks",
    "risk",
    "encode",
    "encode_to_wire",
    "journal_write",
    "venue_write",
    "ingress_to_wire",
    "venue_to_strategy",
    "strategy_write",
)
TARGET_FLOOR_RATE: Final = 250_000
"""The load generator and the venue together must offer and answer this many orders/s (rate-250k, floor)."""
TARGET_GATEWAY_RATE: Final = 100_000
"""The gateway must answer an offered 100,000 orders/s (rate-100k) with zero loss."""
KEEPS_UP: Final = 0.97
"""A path keeps up with an offered rate when it answers at least this share of it per second, losing nothing."""
TARGET_RELAY_RATIO_P50: Final = 1.5
"""OUCH ping-pong: gateway added round trip <= 1.5x the do-nothing relay's added round trip at p50."""
TARGET_RELAY_RATIO_P999: Final = 1.0
"""... and <= 1x at p99.9 (the relay already pays the hop)."""
TARGET_FIX_RATIO: Final = 0.5
"""FIX ping-pong: the gateway's added round trip <= 0.5x quickfix-python's, at p50 and at p99.9."""
TARGET_FIX_HOTPATH_US: Final = 15.0
"""In-process FIX order round trip (benchmarks/bench_hotpath.py) median."""
TARGET_SYSCALLS: Final = 5.0
"""Issue 12: system calls per ping-pong order of the gateway in kernel mode (``gw-kernel``), at most."""
RATE_LADDER: Final = ("rate-100k", "rate-150k", "rate-200k", "rate-250k")


class PathResult(msgspec.Struct):
    """One scenario on one path, all repeats merged."""

    path: str
    label: str
    runs: int
    round_trip: dict[str, float]
    round_trip_corrected: dict[str, float]
    one_way: dict[str, float]
    reject_round_trip: dict[str, float]
    cancel_round_trip: dict[str, float]
    replace_round_trip: dict[str, float]
    counts: dict[str, int]
    lost: int
    throughput: float
    send_rate: float
    errors: int
    stages_us: dict[str, dict[str, float]] | None
    gc: dict[str, Any] | None
    gateway_counters: dict[str, int] | None


class ScenarioResult(msgspec.Struct):
    """One scenario across every path."""

    name: str
    description: str
    kind: str
    actions: int
    corrected: bool
    primary: str
    """Which series the tables lead with: ``round_trip_corrected`` (rate, mixed) or ``round_trip``."""
    paths: dict[str, PathResult]
    added: dict[str, dict[str, list[dict[str, float | str]]]]
    """path -> series -> per percentile: baseline, value, added (value - baseline), ratio (value / baseline)."""
    baselines: dict[str, str]
    """path -> the path it is compared with (floor for OUCH, fix-floor for FIX, boe-floor for BOE)."""


class Target(msgspec.Struct):
    """One of the issue's targets and whether this run met it."""

    name: str
    met: bool | None
    """None: not measured in this run."""
    detail: str


class RateRow(msgspec.Struct):
    """One open-loop rate scenario on one path: offered vs answered, loss, coordinated-omission-corrected latency."""

    scenario: str
    path: str
    offered: int
    """Orders per second the plan asks for."""
    sent: float
    """Orders per second the load generator got onto the socket (below ``offered`` when the target pushes back)."""
    answered: float
    lost: int
    p50_us: float
    p99_us: float
    p999_us: float
    keeps_up: bool
    """Answered >= ``KEEPS_UP`` x offered and nothing lost."""


class Report(msgspec.Struct):
    """The whole ``gateway bench`` result (``--json`` prints this)."""

    started_at: str
    command: str
    machine: dict[str, Any]
    placement: str
    paths: list[dict[str, Any]]
    scenarios: list[ScenarioResult]
    targets: list[Target]
    files: dict[str, str]
    notes: list[str]
    rates: list[RateRow] = []
    counters: list[PathCounters] = []
    """Deterministic counters per counted path (Python calls and system calls per order)."""
    hotpath: dict[str, Any] | None = None
    """``benchmarks/bench_hotpath.py --json`` run as part of this bench (None: not run)."""
    commit: str = ""
    hot_path: str = ""
    """Which hot modules the timed gateway runs used (``gateway status``'s ``hot_path``): compiled or pure Python."""


def hot_path_of(runs: list[RunData]) -> str:
    """Say which hot modules the timed gateway runs used, from their ``status`` (\"\" when none reported it)."""
    seen: dict[str, int] = {}
    for run in runs:
        hot = (run.gateway_status or {}).get("hot_path")
        if not isinstance(hot, dict):
            continue
        modules = hot.get("modules") or []
        text = (
            f"compiled ({len(modules)} modules)"
            if hot.get("path") == "compiled"
            else f"pure Python ({hot.get('why', '?')})"
        )
        seen[text] = seen.get(text, 0) + 1
    if not seen:
        return ""
    if len(seen) == 1:
        return next(iter(seen))
    return "mixed: " + ", ".join(f"{text} in {count} runs" for text, count in seen.items())


def _merge(runs: list[RunData]) -> tuple[RunFigures, list[RunFigures]]:
    each = [figures(run) for run in runs]
    merged = each[0]
    for other in each[1:]:
        merged = RunFigures(
            round_trip=merged.round_trip + other.round_trip,
            round_trip_corrected=merged.round_trip_corrected + other.round_trip_corrected,
            one_way=merged.one_way + other.one_way,
            reject_round_trip=merged.reject_round_trip + other.reject_round_trip,
            cancel_round_trip=merged.cancel_round_trip + other.cancel_round_trip,
            replace_round_trip=merged.replace_round_trip + other.replace_round_trip,
            counts={k: merged.counts[k] + other.counts[k] for k in merged.counts},
            lost=merged.lost + other.lost,
            throughput=min(merged.throughput, other.throughput),
            send_rate=min(merged.send_rate, other.send_rate),
        )
    return merged, each


SERIES: Final = ("round_trip", "round_trip_corrected", "one_way")


def machine_info() -> dict[str, Any]:
    """Describe the host the run happened on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def build_report(
    runs: list[RunData],
    scenarios: list[Scenario],
    paths: list[PathSpec],
    *,
    command: str,
    placement_: Placement,
    started_at: dt.datetime,
    machine: dict[str, Any],
    out_dir: Path | None,
    plot: bool,
    counters: list[PathCounters] | None = None,
    hotpath: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    commit: str = "",
) -> Report:
    """Aggregate runs into the report and write ``.hgrm`` files and the plot under ``out_dir``."""
    results: list[ScenarioResult] = []
    files: dict[str, str] = {}
    series_for_plot: dict[str, dict[str, list[int]]] = {}
    for scenario in scenarios:
        per_path: dict[str, PathResult] = {}
        summaries: dict[str, dict[str, Summary]] = {}
        primary = "round_trip_corrected" if scenario.corrected else "round_trip"
        for path in paths:
            mine = [r for r in runs if r.scenario == scenario.name and r.path == path.name]
            if not mine:
                continue
            merged, _each = _merge(mine)
            sums = {name: summarize(getattr(merged, name)) for name in SERIES}
            summaries[path.name] = sums
            status = mine[0].gateway_status
            per_path[path.name] = PathResult(
                path=path.name,
                label=path.label,
                runs=len(mine),
                round_trip=sums["round_trip"].as_dict(),
                round_trip_corrected=sums["round_trip_corrected"].as_dict(),
                one_way=sums["one_way"].as_dict(),
                reject_round_trip=summarize(merged.reject_round_trip).as_dict(),
                cancel_round_trip=summarize(merged.cancel_round_trip).as_dict(),
                replace_round_trip=summarize(merged.replace_round_trip).as_dict(),
                counts=merged.counts,
                lost=merged.lost,
                throughput=round(merged.throughput, 1),
                send_rate=round(merged.send_rate, 1),
                errors=sum(r.errors for r in mine),
                stages_us=status.get("latency_us") if status else None,
                gc=_gc_summary([r.gateway_status for r in mine if r.gateway_status]),
                gateway_counters=status.get("counters") if status else None,
            )
            series_for_plot.setdefault(scenario.name, {})[path.name] = getattr(merged, primary)
            if out_dir is not None:
                for name in SERIES:
                    values = getattr(merged, name)
                    if values:
                        target = out_dir / "hgrm" / f"{scenario.name}.{path.name}.{name}.hgrm"
                        write_hgrm(histogram(values), target)
                        files[f"{scenario.name}.{path.name}.{name}"] = str(target.relative_to(out_dir))
        added: dict[str, dict[str, list[dict[str, float | str]]]] = {}
        for path in paths:
            base = summaries.get(path.baseline) if path.baseline else None
            mine_sums = summaries.get(path.name)
            if base is None or mine_sums is None:
                continue
            added[path.name] = {
                series: [msgspec.to_builtins(c) for c in compare(base[series], mine_sums[series])] for series in SERIES
            }
        baselines = {p.name: p.baseline for p in paths}
        results.append(
            ScenarioResult(
                name=scenario.name,
                description=scenario.description,
                kind=scenario.kind.value,
                actions=scenario.actions,
                corrected=scenario.corrected,
                primary=primary,
                paths=per_path,
                added=added,
                baselines={name: baselines[name] for name in added},
            )
        )
    if plot and out_dir is not None and series_for_plot:
        png = plot_percentiles(series_for_plot, out_dir / "percentiles.png", {s.name: s.corrected for s in scenarios})
        if png is not None:
            files["plot"] = str(png.relative_to(out_dir))
    rates = rate_rows(results, scenarios)
    counted = counters or []
    return Report(
        started_at=started_at.isoformat(timespec="seconds"),
        command=command,
        machine=machine,
        placement=placement_.describe(),
        paths=[msgspec.to_builtins(p) for p in paths],
        scenarios=results,
        targets=evaluate_targets(results, runs, rates=rates, counters=counted, hotpath=hotpath),
        files=files,
        notes=list(notes or []),
        rates=rates,
        counters=counted,
        hotpath=hotpath,
        commit=commit,
        hot_path=hot_path_of(runs),
    )


def rate_rows(results: list[ScenarioResult], scenarios: list[Scenario]) -> list[RateRow]:
    """Return offered vs answered for every open-loop rate scenario and path, in rate order."""
    rates = {s.name: s.rate for s in scenarios if s.kind is Kind.RATE}
    rows: list[RateRow] = []
    for result in sorted((r for r in results if r.name in rates), key=lambda r: rates[r.name]):
        offered = rates[result.name]
        for name, path in result.paths.items():
            summary = path.round_trip_corrected
            rows.append(
                RateRow(
                    scenario=result.name,
                    path=name,
                    offered=offered,
                    sent=path.send_rate,
                    answered=path.throughput,
                    lost=path.lost,
                    p50_us=summary["p50"],
                    p99_us=summary["p99"],
                    p999_us=summary["p99.9"],
                    keeps_up=path.lost == 0 and path.throughput >= KEEPS_UP * offered,
                )
            )
    return rows


def drop_point(rates: list[RateRow], path: str) -> tuple[int | None, float]:
    """Return (lowest offered rate the path did not keep up with, None if it kept up with all; best answered/s)."""
    mine = [r for r in rates if r.path == path]
    failed = [r.offered for r in mine if not r.keeps_up]
    best = max((r.answered for r in mine), default=0.0)
    return (min(failed) if failed else None), best


def _gc_summary(statuses: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not statuses:
        return None
    gcs = [s.get("gc", {}) for s in statuses]
    return {
        "hot_path_full_collections": sum(int(g.get("hot_path_full_collections", 0)) for g in gcs),
        "automatic_by_generation": [
            sum(int(g.get("automatic_by_generation", [0, 0, 0])[k]) for g in gcs) for k in range(3)
        ],
        "quiet_by_generation": [sum(int(g.get("quiet_by_generation", [0, 0, 0])[k]) for g in gcs) for k in range(3)],
        "pause_ms_max": max(float(g.get("pause_ms_max", 0.0)) for g in gcs),
    }


def _added(result: ScenarioResult | None, path: str, base: str, key: str) -> float | None:
    """Return ``path`` minus ``base`` at percentile ``key`` of the scenario's primary series (None if missing)."""
    if result is None or path not in result.paths or base not in result.paths:
        return None
    series = result.primary
    return float(getattr(result.paths[path], series)[key]) - float(getattr(result.paths[base], series)[key])


def _stage(result: ScenarioResult | None, path: str, stage: str) -> str:
    if result is None or path not in result.paths or not result.paths[path].stages_us:
        return "n/a"
    stages = result.paths[path].stages_us or {}
    return f"{float(stages.get(stage, {}).get('p50', 0.0)):.1f}"


def _counter_text(counters: dict[str, PathCounters], path: str) -> str:
    c = counters.get(path)
    if c is None:
        return ""
    syscalls = f", {c.syscalls_total:.1f} system calls" if c.syscalls_total is not None else ""
    return f"{c.python_calls:.0f} Python calls{syscalls} per order"


def _ratio_target(
    name: str,
    result: ScenarioResult | None,
    path: str,
    base: str,
    floor: str,
    key: str,
    limit: float,
    evidence: str,
) -> Target:
    mine = _added(result, path, floor, key)
    theirs = _added(result, base, floor, key)
    if mine is None or theirs is None:
        return Target(name, None, f"pingpong with {floor}, {base} and {path} not run")
    if theirs <= 0:
        return Target(name, None, f"{base} added {theirs:.1f} us over {floor} at {key}: no ratio (noise)")
    ratio = mine / theirs
    detail = f"{ratio:.2f}x: {path} adds {mine:.1f} us over {floor}, {base} adds {theirs:.1f} us ({key})"
    return Target(name, ratio <= limit, detail + (f"; {evidence}" if evidence else ""))


def _pieces_text(pieces: dict[str, float]) -> str:
    if not pieces:
        return ""
    store = float(pieces.get("store_sent", 0.0)) + float(pieces.get("store_target", 0.0))
    return (
        f"; on their own: template encode {float(pieces.get('encode', 0.0)):.1f}, frame decode "
        f"{float(pieces.get('decode', 0.0)):.1f}, the two store records {store:.1f} us"
    )


def evaluate_targets(
    results: list[ScenarioResult],
    runs: list[RunData],
    *,
    rates: list[RateRow] | None = None,
    counters: list[PathCounters] | None = None,
    hotpath: dict[str, Any] | None = None,
) -> list[Target]:
    """Check the issue's targets against this run's figures; each detail carries this run's evidence."""
    by_name = {r.name: r for r in results}
    rate_list = rates or []
    by_counter = {c.path: c for c in counters or []}
    targets: list[Target] = []
    # ---- load generator + venue capacity
    floor = [r for r in rate_list if r.path == FLOOR and r.offered >= TARGET_FLOOR_RATE]
    if floor:
        at = next((r for r in floor if r.offered == TARGET_FLOOR_RATE), max(floor, key=lambda r: r.answered))
        top = max((r.answered for r in rate_list if r.path == FLOOR), default=0.0)
        targets.append(
            Target(
                f"floor (load generator + venue) offers and answers >= {TARGET_FLOOR_RATE:,} orders/s",
                at.keeps_up,
                f"{at.scenario}: answered {at.answered:,.0f}/s, lost {at.lost}, CO-corrected p50 {at.p50_us:,.0f} us "
                f"p99 {at.p99_us:,.0f} us; highest answered/s in this run {top:,.0f}",
            )
        )
    else:
        targets.append(Target(f"floor offers and answers >= {TARGET_FLOOR_RATE:,} orders/s", None, "rate-250k not run"))
    # ---- gateway throughput
    for path in ("gw-spin", "gw-kernel"):
        at100 = next((r for r in rate_list if r.path == path and r.offered == TARGET_GATEWAY_RATE), None)
        if at100 is None:
            continue
        drop, most = drop_point(rate_list, path)
        where = "kept up with every offered rate" if drop is None else f"first fell behind at an offered {drop:,}/s"
        counts = _counter_text(by_counter, path)
        both = float((hotpath or {}).get("batched_both_us") or 0.0)
        one_core = (
            f"; in one process, batched, both directions cost {both:.1f} us per order = {1e6 / both:,.0f} orders/s "
            "on one core (bench_hotpath)"
            if both
            else ""
        )
        targets.append(
            Target(
                f"{path}: answers an offered {TARGET_GATEWAY_RATE:,} orders/s, zero loss",
                at100.keeps_up,
                f"answered {at100.answered:,.0f}/s, lost {at100.lost}; {where}; best {most:,.0f} answered/s"
                + (f"; {counts}" if counts else "")
                + one_core,
            )
        )
    # ---- OUCH ping-pong against the do-nothing relay
    pingpong = by_name.get("pingpong")
    order_path = (hotpath or {}).get("order_path") or {}
    ack_path = (hotpath or {}).get("ack_path") or {}
    in_process = (
        f"in one process the order costs {float(order_path['median']):.1f} + {float(ack_path['median']):.1f} us "
        "(order + ack path medians, bench_hotpath)"
        if order_path and ack_path
        else ""
    )

    def relay_evidence(gateway_path: str, relay_path: str) -> str:
        return "; ".join(
            part
            for part in (
                f"{gateway_path} {_counter_text(by_counter, gateway_path)}" if gateway_path in by_counter else "",
                f"{relay_path} {_counter_text(by_counter, relay_path)}" if relay_path in by_counter else "",
                f"stages p50 ingress_to_wire {_stage(pingpong, gateway_path, 'ingress_to_wire')} us, "
                f"venue_to_strategy {_stage(pingpong, gateway_path, 'venue_to_strategy')} us"
                if pingpong is not None and gateway_path in pingpong.paths
                else "",
                in_process,
            )
            if part
        )

    for gateway_path, relay_path in (("gw-spin", "relay-spin"), ("gw-kernel", "relay")):
        if gateway_path != "gw-spin" and (pingpong is None or gateway_path not in pingpong.paths):
            continue  # the production pair is always listed, the no-spin pair when it ran
        for key, limit in (("p50", TARGET_RELAY_RATIO_P50), ("p99.9", TARGET_RELAY_RATIO_P999)):
            targets.append(
                _ratio_target(
                    f"OUCH ping-pong: {gateway_path} added round trip <= {limit:g}x {relay_path}'s at {key}",
                    pingpong,
                    gateway_path,
                    relay_path,
                    FLOOR,
                    key,
                    limit,
                    relay_evidence(gateway_path, relay_path),
                )
            )
    # ---- system calls per ping-pong order in kernel mode (issue 12)
    kernel = by_counter.get("gw-kernel")
    if kernel is not None and kernel.syscalls is not None and kernel.syscalls_total is not None:
        names = ", ".join(f"{name} {value:g}" for name, value in kernel.syscalls.items())
        spin = by_counter.get("gw-spin")
        polls = (spin.time_driven or {}).get("epoll_pwait", 0.0) if spin is not None else 0.0
        spun = (
            f"; gw-spin {spin.syscalls_total:.1f} per order plus {polls:g} epoll_pwait polls (time-driven)"
            if spin is not None and spin.syscalls_total is not None
            else ""
        )
        targets.append(
            Target(
                f"system calls per OUCH ping-pong order, gw-kernel <= {TARGET_SYSCALLS:g} (issue 12)",
                kernel.syscalls_total <= TARGET_SYSCALLS,
                f"{kernel.syscalls_total:.1f} per order ({names}): one wait, one read, one write per direction, "
                "the floor of a loop that blocks (section 9a)" + spun,
            )
        )
    # ---- FIX against quickfix-python, both over the FIX floor
    hop = _added(pingpong, "relay-spin", FLOOR, "p50")
    hop_tail = _added(pingpong, "relay-spin", FLOOR, "p99.9")
    fix_evidence = "; ".join(
        part
        for part in (
            f"one extra do-nothing Python hop (relay-spin - floor, this run) adds {hop:.1f} us at p50, "
            f"{hop_tail:.1f} us at p99.9"
            if hop is not None and hop_tail is not None
            else "",
            f"fix-gw-spin {_counter_text(by_counter, 'fix-gw-spin')}" if "fix-gw-spin" in by_counter else "",
            f"stages p50 ingress_to_wire {_stage(pingpong, 'fix-gw-spin', 'ingress_to_wire')} us, "
            f"venue_to_strategy {_stage(pingpong, 'fix-gw-spin', 'venue_to_strategy')} us"
            if pingpong is not None and "fix-gw-spin" in pingpong.paths
            else "",
        )
        if part
    )
    for key in ("p50", "p99.9"):
        targets.append(
            _ratio_target(
                f"FIX ping-pong: fix-gw-spin added round trip <= {TARGET_FIX_RATIO:g}x fix-quickfix's at {key}",
                pingpong,
                "fix-gw-spin",
                "fix-quickfix",
                "fix-floor",
                key,
                TARGET_FIX_RATIO,
                fix_evidence,
            )
        )
    # ---- in-process FIX round trip
    fix_rt = (hotpath or {}).get("fix_round_trip")
    if fix_rt:
        out = (hotpath or {}).get("fix_new_order", {})
        back = (hotpath or {}).get("fix_report", {})
        targets.append(
            Target(
                f"in-process FIX order round trip (bench_hotpath) median <= {TARGET_FIX_HOTPATH_US:g} us",
                float(fix_rt["median"]) <= TARGET_FIX_HOTPATH_US,
                f"median {float(fix_rt['median']):.1f} us (NewOrderSingle out {float(out.get('median', 0)):.1f}, "
                f"ExecutionReport in {float(back.get('median', 0)):.1f}); p99 {float(fix_rt['p99']):.1f} us"
                + _pieces_text((hotpath or {}).get("fix_parts_median_us") or {}),
            )
        )
    else:
        targets.append(
            Target(f"in-process FIX order round trip median <= {TARGET_FIX_HOTPATH_US:g} us", None, "hot path not run")
        )
    # ---- kept from before
    burst = by_name.get("burst-50k")
    gwb = burst.paths.get("gw-spin") if burst else None
    if gwb is not None:
        targets.append(
            Target(
                "50,000-order burst absorbed: zero lost, zero rejected (gw-spin)",
                gwb.lost == 0 and gwb.counts.get("rejected", 0) == 0,
                f"lost {gwb.lost}, rejected {gwb.counts.get('rejected', 0)} (the verdict checks these two only); "
                f"round trip p99.99 {gwb.round_trip['p99.99']:,.0f} us, drained at {gwb.throughput:,.0f}/s: no "
                "latency bound is set for the burst, so none is claimed",
            )
        )
    statuses = [r.gateway_status for r in runs if r.gateway_status]
    if statuses:
        full = sum(int(s.get("gc", {}).get("hot_path_full_collections", 0)) for s in statuses)
        targets.append(
            Target(
                "zero full garbage collections during the bench (every gateway run)",
                full == 0,
                f"{full} full (automatic generation-2 collections; young ones are not counted here)",
            )
        )
    lost = sum(p.lost for r in results for p in r.paths.values())
    targets.append(Target("zero lost orders (every run)", lost == 0, f"{lost} lost"))
    return targets


# --------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------

_HEAD = (
    f"{'path':<13}{'count':>8}{'answered/s':>12}"
    + "".join(f"{k:>11}" for k in (*PERCENTILE_KEYS, "max"))
    + f"{'lost':>6}"
)


def _row(name: str, summary: dict[str, float], result: PathResult) -> str:
    return (
        f"{name:<13}{int(summary['count']):>8}{result.throughput:>12,.0f}"
        + "".join(f"{summary[k]:>11,.1f}" for k in (*PERCENTILE_KEYS, "max"))
        + f"{result.lost:>6}"
    )


# --------------------------------------------------------------------------------------------------
# Summary tables (text and Markdown share them)
# --------------------------------------------------------------------------------------------------

Table = tuple[list[str], list[list[str]]]
"""(header, rows) of one summary table."""


def rates_table(report: Report) -> Table:
    """Offered vs answered per rate scenario and path."""
    head = ["scenario", "path", "offered/s", "sent/s", "answered/s", "lost", "p50", "p99", "p99.9", "keeps up"]
    rows = [
        [
            r.scenario,
            r.path,
            f"{r.offered:,}",
            f"{r.sent:,.0f}",
            f"{r.answered:,.0f}",
            str(r.lost),
            f"{r.p50_us:,.0f}",
            f"{r.p99_us:,.0f}",
            f"{r.p999_us:,.0f}",
            "yes" if r.keeps_up else "**no**",
        ]
        for r in report.rates
    ]
    return head, rows


def added_table(report: Report, floor: str, paths: tuple[str, ...]) -> Table:
    """Ping-pong round trip of ``floor`` and ``paths``, then each path's added round trip over the floor."""
    pingpong = next((sc for sc in report.scenarios if sc.name == "pingpong"), None)
    head = ["path", *_MD_KEYS]
    rows: list[list[str]] = []
    if pingpong is None or floor not in pingpong.paths:
        return head, rows
    base = pingpong.paths[floor].round_trip
    rows.append([f"{floor} (round trip)", *(f"{base[k]:,.1f}" for k in _MD_KEYS)])
    for name in paths:
        if name in pingpong.paths:
            mine = pingpong.paths[name].round_trip
            rows.append([f"{name} (round trip)", *(f"{mine[k]:,.1f}" for k in _MD_KEYS)])
    for name in paths:
        if name in pingpong.paths:
            mine = pingpong.paths[name].round_trip
            rows.append([f"{name} - {floor}", *(f"{mine[k] - base[k]:,.1f}" for k in _MD_KEYS)])
    return head, rows


def ratio_rows(report: Report, floor: str, pairs: tuple[tuple[str, str], ...]) -> list[list[str]]:
    """Rows ``a / b`` of the added round trips (over ``floor``) at every percentile."""
    pingpong = next((sc for sc in report.scenarios if sc.name == "pingpong"), None)
    rows: list[list[str]] = []
    if pingpong is None:
        return rows
    for mine, theirs in pairs:
        cells = []
        for key in _MD_KEYS:
            a = _added(pingpong, mine, floor, key)
            b = _added(pingpong, theirs, floor, key)
            cells.append(f"{a / b:.2f}x" if a is not None and b is not None and b > 0 else "n/a")
        if any(c != "n/a" for c in cells):
            rows.append([f"({mine} - {floor}) / ({theirs} - {floor})", *cells])
    return rows


def counters_table(report: Report) -> Table:
    """Per counted path: Python calls, builtin calls and system calls per order."""
    head = [
        "path",
        "Python calls/order",
        "C calls/order",
        "syscalls/order",
        "syscalls by name, per order",
        "time-driven, per order of the larger run (not a cost of the order)",
    ]
    rows = []
    for c in report.counters:
        timed = [f"spinner calls {c.spinner_calls:g}"] if c.spinner_calls else []
        if c.syscalls is None:
            sys_cells = ["n/a", c.note or "n/a"]
        else:
            sys_cells = [
                f"{c.syscalls_total or 0.0:.2f}",
                ", ".join(f"{name} {value:g}" for name, value in c.syscalls.items()),
            ]
            timed += [f"{name} {value:g}" for name, value in (c.time_driven or {}).items()]
        rows.append([c.path, f"{c.python_calls:.1f}", f"{c.builtin_calls:.1f}", *sys_cells, ", ".join(timed)])
    return head, rows


def packages_table(report: Report) -> Table:
    """Python calls per order by package, one column per counted path."""
    paths = [c.path for c in report.counters]
    packages: list[str] = []
    for c in report.counters:
        packages += [p for p in c.packages if p not in packages]
    head = ["package", *paths]
    rows = [[package, *(f"{c.packages.get(package, 0.0):.1f}" for c in report.counters)] for package in packages]
    return head, rows


def hotpath_table(report: Report) -> Table:
    """In-process CPU per order (benchmarks/bench_hotpath.py)."""
    head = ["measured", "median", "p90", "p99", "p99.9", "max"]
    hot = report.hotpath or {}
    rows = []
    for key, label in (
        ("order_path", "OUCH order path, one order per read"),
        ("ack_path", "OUCH ack path, one answer per read"),
        ("fix_round_trip", "FIX order round trip (adapter: NOS out + ER in)"),
        ("fix_new_order", "  FIX NewOrderSingle out (encode, session, store)"),
        ("fix_report", "  FIX ExecutionReport in (decode, session, store, event)"),
        ("boe_round_trip", "BOE order round trip (adapter: New Order out + Ack in)"),
        ("boe_new_order", "  BOE New Order out (packer, sequence)"),
        ("boe_ack", "  BOE Order Acknowledgment in (framing, session, exactly-once, event)"),
    ):
        st = hot.get(key)
        if st:
            rows.append([label, *(f"{float(st[k]):,.2f}" for k in ("median", "p90", "p99", "p99.9", "max"))])
    pieces = hot.get("fix_parts_median_us") or {}
    if pieces:
        text = ", ".join(f"{k} {float(v):.2f}" for k, v in pieces.items())
        rows.append([f"  FIX pieces on their own (median): {text}", ""])
    if hot.get("batched_order_path_us"):
        per = float(hot["batched_order_path_us"])
        rows.append(
            [f"OUCH batched {hot.get('batch')}, order path: {1e6 / per:,.0f} orders/s on one core", f"{per:.2f}"]
        )
        per = float(hot["batched_both_us"])
        rows.append([f"OUCH batched, both directions: {1e6 / per:,.0f} orders/s on one core", f"{per:.2f}"])
    return head, rows


def _text_table(title: str, table: Table) -> list[str]:
    head, rows = table
    if not rows:
        return []
    widths = [max(len(str(x).replace("**", "")) for x in column) for column in zip(head, *rows, strict=False)]
    lines = [title]
    lines.append("   " + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)))
    lines += [
        "   " + "  ".join(c.replace("**", "").ljust(w) for c, w in zip(row, widths, strict=False)) for row in rows
    ]
    return [*lines, ""]


def _md_table(title: str, table: Table, extra: list[list[str]] | None = None) -> list[str]:
    head, rows = table
    rows = rows + (extra or [])
    if not rows:
        return []
    numeric = [
        all(not cell or cell[:1].isdigit() or cell[:1] == "-" or cell in ("n/a", "yes", "**no**") for cell in column)
        for column in zip(*[row + [""] * (len(head) - len(row)) for row in rows], strict=True)
    ]
    out = [title, "", _md_row(head), _md_row(["---:" if n and k else "---" for k, n in enumerate(numeric)])]
    out += [_md_row(row + [""] * (len(head) - len(row))) for row in rows]
    return [*out, ""]


OUCH_PATHS: Final = ("relay", "relay-spin", "gw-kernel", "gw-spin")
FIX_PATHS: Final = ("fix-quickfix", "fix-gw-kernel", "fix-gw-spin")
RATIO_PAIRS: Final = (("gw-spin", "relay-spin"), ("gw-kernel", "relay"))
FIX_RATIO_PAIRS: Final = (("fix-gw-spin", "fix-quickfix"), ("fix-gw-kernel", "fix-quickfix"))
BOE_FLOOR: Final = "boe-floor"
BOE_PATHS: Final = ("boe-gw-kernel", "boe-gw-spin")


def _summary_text(report: Report) -> list[str]:
    lines: list[str] = []
    lines += _text_table(
        "offered vs answered (open loop; latency from the intended send, coordinated omission corrected, us)",
        rates_table(report),
    )
    head, rows = added_table(report, FLOOR, OUCH_PATHS)
    lines += _text_table(
        "OUCH ping-pong: round trip and added over the floor (us)",
        (head, rows + ratio_rows(report, FLOOR, RATIO_PAIRS)),
    )
    head, rows = added_table(report, "fix-floor", FIX_PATHS)
    lines += _text_table(
        "FIX ping-pong: round trip and added over the FIX floor (us)",
        (head, rows + ratio_rows(report, "fix-floor", FIX_RATIO_PAIRS)),
    )
    lines += _text_table(
        "BOE ping-pong: round trip and added over the BOE floor (us)", added_table(report, BOE_FLOOR, BOE_PATHS)
    )
    lines += _text_table("deterministic counters (counting runs, per order)", counters_table(report))
    lines += _text_table("Python calls per order by package", packages_table(report))
    lines += _text_table("in-process CPU per order (bench_hotpath, us)", hotpath_table(report))
    return lines


def render_text(report: Report) -> str:
    """Return the human report (microseconds)."""
    lines = [
        f"gateway bench  {report.started_at}  {report.machine.get('cpu_model', '')}, "
        f"{report.machine.get('cpus')} CPUs, kernel {report.machine.get('kernel')}, "
        f"Python {report.machine.get('python')}",
        f"placement: {report.placement}; load average at start {report.machine.get('load_average_at_start')}",
        _hot_path_text(report),
        "all figures in microseconds, CLOCK_MONOTONIC on this host; nearest-rank percentiles over every sample",
        "",
        *_summary_text(report),
    ]
    for sc in report.scenarios:
        series_name = "intended send -> ack (coordinated omission corrected)" if sc.corrected else "send -> ack"
        lines.append(f"== {sc.name}: {sc.description} ({sc.actions:,} actions per run)")
        lines.append(f"   round trip, new orders, {series_name}")
        lines.append("   " + _HEAD)
        for name, result in sc.paths.items():
            lines.append("   " + _row(name, getattr(result, sc.primary), result))
        for name, per_series in sc.added.items():
            rows = per_series[sc.primary]
            base = sc.baselines.get(name, FLOOR)
            lines.append(f"   {name} - {base}")
            lines.append(
                f"   {'':<33}" + "".join(f"{float(r['added_us']):>11,.1f}" for r in rows) + "   (difference, us)"
            )
            lines.append(f"   {'':<33}" + "".join(f"{float(r['ratio']):>10.2f}x" for r in rows) + "   (ratio)")
        lines.append("   one way, new orders, send -> simulator read")
        lines.append("   " + _HEAD)
        for name, result in sc.paths.items():
            if result.one_way["count"]:
                lines.append("   " + _row(name, result.one_way, result))
        for name, per_series in sc.added.items():
            rows = per_series["one_way"]
            if sc.paths[name].one_way["count"]:
                lines.append(
                    f"   {name + ' - ' + sc.baselines.get(name, FLOOR):<33}"
                    + "".join(f"{float(r['added_us']):>11,.1f}" for r in rows)
                    + "   (difference, us)"
                )
        extra = []
        for name, result in sc.paths.items():
            for label, summary in (
                ("risk reject", result.reject_round_trip),
                ("cancel", result.cancel_round_trip),
                ("replace", result.replace_round_trip),
            ):
                if summary["count"]:
                    extra.append(
                        f"   {name:<10} {label:<12} n={int(summary['count']):>6} p50 {summary['p50']:>8.1f} "
                        f"p99 {summary['p99']:>8.1f} p99.9 {summary['p99.9']:>8.1f} max {summary['max']:>8.1f}"
                    )
        if extra:
            lines.append("   other round trips (send -> answer)")
            lines.extend(extra)
        for name, result in sc.paths.items():
            if result.stages_us:
                lines.append(f"   {name}: gateway stages (gateway's own timestamps)")
                lines.append(f"   {'stage':<20}{'count':>8}" + "".join(f"{k:>9}" for k in (*PERCENTILE_KEYS, "max")))
                for stage in STAGE_ORDER:
                    s = result.stages_us.get(stage)
                    if s and s.get("count"):
                        lines.append(
                            f"   {stage:<20}{int(s['count']):>8}"
                            + "".join(f"{s.get(k, 0.0):>9.1f}" for k in (*PERCENTILE_KEYS, "max"))
                        )
            if result.gc:
                lines.append(
                    f"   {name}: gc automatic by generation {result.gc['automatic_by_generation']}, "
                    f"full collections on the hot path {result.gc['hot_path_full_collections']}, "
                    f"counts {result.counts}"
                )
        lines.append("")
    for note in report.notes:
        lines.append(f"note: {note}")
    lines.append("targets")
    for target in report.targets:
        mark = "n/a " if target.met is None else ("MET " if target.met else "MISS")
        lines.append(f"  [{mark}] {target.name}: {target.detail}")
    if report.files:
        lines.append("")
        lines.append(
            f"files: {len(report.files)} written" + (f"; plot {report.files['plot']}" if "plot" in report.files else "")
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Markdown (the tables of docs/performance.md)
# --------------------------------------------------------------------------------------------------

_MD_KEYS: Final = (*PERCENTILE_KEYS, "max")


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _md_series(sc: ScenarioResult, series: str, title: str) -> list[str]:
    lines = [f"{title}", "", _md_row(["path", "count", "answered/s", *_MD_KEYS, "lost"])]
    lines.append(_md_row(["---"] + ["---:"] * (len(_MD_KEYS) + 3)))
    for name, result in sc.paths.items():
        summary = getattr(result, series)
        if not summary["count"]:
            continue
        lines.append(
            _md_row(
                [
                    name,
                    f"{int(summary['count']):,}",
                    f"{result.throughput:,.0f}",
                    *(f"{summary[k]:,.1f}" for k in _MD_KEYS),
                    str(result.lost),
                ]
            )
        )
    for name, per_series in sc.added.items():
        if not sc.paths[name].__getattribute__(series)["count"]:
            continue
        rows = per_series[series]
        base = sc.baselines.get(name, FLOOR)
        lines.append(_md_row([f"{name} - {base}", "", "", *(f"{float(r['added_us']):,.1f}" for r in rows), ""]))
        lines.append(_md_row([f"{name} / {base}", "", "", *(f"{float(r['ratio']):.2f}x" for r in rows), ""]))
    return [*lines, ""]


def render_markdown(report: Report, part: str = "all") -> str:
    """Return the report as Markdown tables (microseconds), as docs/performance.md shows them.

    ``part``: ``summary`` (targets, ladder, ping-pong and FIX comparisons, counters, hot path),
    ``tables`` (every scenario's full tables and stage breakdowns) or ``all`` (both).
    """
    summary = _markdown_summary(report)
    tables = _markdown_tables(report)
    if part == "summary":
        return summary
    if part == "tables":
        return tables
    return summary + "\n" + tables


def _hot_path_text(report: Report) -> str:
    timed = report.hot_path or "not reported"
    return (
        f"gateway hot modules in the timed runs: {timed}; the counting runs profile the pure-Python modules "
        "(cProfile), bench_hotpath uses what is built"
    )


def _markdown_summary(report: Report) -> str:
    commit = f" at commit {report.commit}" if report.commit else ""
    out = [
        f"Run {report.started_at}{commit}: `{report.command}`. {report.machine.get('cpu_model', '')}, "
        f"{report.machine.get('cpus')} vCPUs, kernel {report.machine.get('kernel')}, Python "
        f"{report.machine.get('python')}; {report.placement}; load average at start "
        f"{report.machine.get('load_average_at_start')}; {_hot_path_text(report)}. All figures in µs unless "
        "marked; percentiles are nearest-rank over every sample of every repeat.",
        "",
    ]
    out += ["### Targets", "", _md_row(["target", "result", "this run's figures and evidence"])]
    out.append(_md_row(["---", "---", "---"]))
    for target in report.targets:
        mark = "n/a" if target.met is None else ("**met**" if target.met else "**missed**")
        out.append(_md_row([target.name, mark, target.detail]))
    out.append("")
    for note in report.notes:
        out += [f"Note: {note}", ""]
    out += _md_table(
        "### Offered vs answered (open loop; latency from the intended send time, coordinated omission corrected)",
        rates_table(report),
    )
    out += _md_table(
        "### OUCH ping-pong: round trip, and added over the floor (the relay: a do-nothing Python hop)",
        added_table(report, FLOOR, OUCH_PATHS),
        ratio_rows(report, FLOOR, RATIO_PAIRS),
    )
    out += _md_table(
        "### FIX ping-pong: round trip, and added over the FIX floor",
        added_table(report, "fix-floor", FIX_PATHS),
        ratio_rows(report, "fix-floor", FIX_RATIO_PAIRS),
    )
    out += _md_table(
        "### BOE ping-pong: round trip, and added over the BOE floor (load generator -> fast BOE venue)",
        added_table(report, BOE_FLOOR, BOE_PATHS),
    )
    if report.counters:
        small, large = report.counters[0].orders
        out += _md_table(
            f"### Deterministic counters (ping-pong counting runs of {small:,} and {large:,} orders; per order = "
            "difference of the two runs / difference of their orders; calls of the pure-Python modules; a loop "
            "that does not spin waits in epoll_pwait per order, a spinning loop's polls are time-driven)",
            counters_table(report),
        )
        out += _md_table("### Python calls per order, by package", packages_table(report))
        for c in report.counters:
            if c.top_functions:
                out += [
                    f"Most-called functions per order, {c.path}: "
                    + ", ".join(f"`{name}` {calls:g}" for name, calls in c.top_functions)
                    + ".",
                    "",
                ]
    out += _md_table(
        "### In-process CPU per order (`benchmarks/bench_hotpath.py`, pinned to the gateway's CPU), µs",
        hotpath_table(report),
    )
    return "\n".join(out)


def _markdown_tables(report: Report) -> str:
    commit = f" at commit {report.commit}" if report.commit else ""
    out = [f"Every scenario of the run of {report.started_at}{commit}.", ""]
    for sc in report.scenarios:
        if not sc.paths:
            continue
        out.append(f"### {sc.name}: {sc.description}")
        out.append("")
        corrected = "intended send -> ack, coordinated omission corrected" if sc.corrected else "send -> ack"
        out += _md_series(sc, sc.primary, f"Round trip, new orders ({corrected}), µs:")
        if any(p.one_way["count"] for p in sc.paths.values()):
            out += _md_series(sc, "one_way", "One way, new orders (send -> simulator read), µs:")
        others = []
        for name, result in sc.paths.items():
            for label, summary in (
                ("risk reject", result.reject_round_trip),
                ("cancel", result.cancel_round_trip),
                ("replace", result.replace_round_trip),
            ):
                if summary["count"]:
                    others.append(
                        _md_row([name, label, f"{int(summary['count']):,}", *(f"{summary[k]:,.1f}" for k in _MD_KEYS)])
                    )
        if others:
            out += [
                "Other round trips (send -> answer), µs:",
                "",
                _md_row(["path", "request", "count", *_MD_KEYS]),
                _md_row(["---", "---", "---:"] + ["---:"] * len(_MD_KEYS)),
                *others,
                "",
            ]
        for name, result in sc.paths.items():
            if not result.stages_us:
                continue
            out += [
                f"Gateway stages, {name} (the gateway's own timestamps), µs:",
                "",
                _md_row(["stage", "count", *_MD_KEYS]),
                _md_row(["---", "---:"] + ["---:"] * len(_MD_KEYS)),
            ]
            for stage in STAGE_ORDER:
                st = result.stages_us.get(stage)
                if st and st.get("count"):
                    out.append(_md_row([stage, f"{int(st['count']):,}", *(f"{st.get(k, 0.0):,.1f}" for k in _MD_KEYS)]))
            gc_info = result.gc or {}
            out += [
                "",
                f"GC during the run ({name}): automatic collections by generation "
                f"{gc_info.get('automatic_by_generation')}, full collections on the hot path "
                f"{gc_info.get('hot_path_full_collections')}.",
                "",
            ]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------------


def plot_percentiles(series: dict[str, dict[str, list[int]]], target: Path, corrected: dict[str, bool]) -> Path | None:
    """Draw one percentile curve per path for each scenario (log x: 1/(1-p)); return the PNG path."""
    try:
        import matplotlib  # noqa: PLC0415 - bench-only dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    names = list(series)
    cols = 2 if len(names) > 1 else 1
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 4 * rows), squeeze=False)
    ticks = [0.0, 90.0, 99.0, 99.9, 99.99, 99.999]
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        for path, values in series[name].items():
            if not values:
                continue
            ordered = sorted(values)
            n = len(ordered)
            xs = [1 / (1 - (i + 0.5) / n) for i in range(n)]
            ax.plot(xs, [v / 1000 for v in ordered], label=path, linewidth=1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([1 / (1 - p / 100) for p in ticks])
        ax.set_xticklabels([f"{p:g}" for p in ticks])
        ax.set_xlabel("percentile")
        ax.set_ylabel("round trip (us)" + (", from intended send" if corrected.get(name) else ""))
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=90)
    plt.close(fig)
    return target


DOC_PARTS: Final = ("summary", "tables")
"""The generated regions of a document, each between its own markers (``doc_markers``)."""


def doc_markers(part: str) -> tuple[str, str]:
    """Return the (begin, end) markers of generated region ``part``."""
    return (
        f"<!-- BEGIN {part}: generated by gateway bench --doc (make bench-doc); edits inside are overwritten -->",
        f"<!-- END {part} -->",
    )


def splice(document: str, generated: dict[str, str]) -> str:
    """Return ``document`` with each generated region ``part`` replaced by ``generated[part]``."""
    for part, text in generated.items():
        begin, end_marker = doc_markers(part)
        start = document.find(begin)
        end = document.find(end_marker)
        if start < 0 or end < start:
            raise ValueError(f"the document has no generated region {part!r} ({begin!r} ... {end_marker!r})")
        document = document[: start + len(begin)] + "\n\n" + text.rstrip("\n") + "\n\n" + document[end:]
    return document


def names(items: Iterable[Any]) -> list[str]:
    """Return the ``name`` of each item."""
    return [item.name for item in items]
