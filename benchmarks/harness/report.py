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

from benchmarks.harness.plan import Scenario
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
TARGET_PINGPONG_P50_US: Final = 20.0
TARGET_PINGPONG_P999_US: Final = 80.0
TARGET_THROUGHPUT: Final = 100_000.0


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
    """path -> the path it is compared with (floor for OUCH, fix-quickfix for FIX)."""


class Target(msgspec.Struct):
    """One of the issue's targets and whether this run met it."""

    name: str
    met: bool | None
    """None: not measured in this run."""
    detail: str


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
                        files[f"{scenario.name}.{path.name}.{name}"] = str(target)
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
            files["plot"] = str(png)
    return Report(
        started_at=started_at.isoformat(timespec="seconds"),
        command=command,
        machine=machine,
        placement=placement_.describe(),
        paths=[msgspec.to_builtins(p) for p in paths],
        scenarios=results,
        targets=evaluate_targets(results, runs),
        files=files,
        notes=[],
    )


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


def evaluate_targets(results: list[ScenarioResult], runs: list[RunData]) -> list[Target]:
    """Check the issue's targets against this run's figures."""
    by_name = {r.name: r for r in results}
    targets: list[Target] = []
    pingpong = by_name.get("pingpong")
    spin = pingpong.added.get("gw-spin", {}).get("round_trip") if pingpong else None
    if spin:
        rows = {row["key"]: row for row in spin}
        p50 = float(rows["p50"]["added_us"])
        p999 = float(rows["p99.9"]["added_us"])
        targets.append(
            Target(
                "OUCH ping-pong, spin on: gateway added round trip p50 <= 20 us",
                p50 <= TARGET_PINGPONG_P50_US,
                f"added p50 {p50:.1f} us",
            )
        )
        targets.append(
            Target(
                "OUCH ping-pong, spin on: gateway added round trip p99.9 <= 80 us",
                p999 <= TARGET_PINGPONG_P999_US,
                f"added p99.9 {p999:.1f} us",
            )
        )
    else:
        targets.append(Target("OUCH ping-pong added latency", None, "pingpong with floor and gw-spin not run"))
    best: tuple[float, str, int] | None = None
    for name, result in by_name.items():
        if not name.startswith("rate-"):
            continue
        gw = result.paths.get("gw-spin")
        if gw is not None and (best is None or gw.throughput > best[0]):
            best = (gw.throughput, name, gw.lost)
    if best is not None:
        targets.append(
            Target(
                ">= 100,000 orders/s sustained through risk and encoding, zero loss (gw-spin)",
                best[0] >= TARGET_THROUGHPUT and best[2] == 0,
                f"best {best[0]:,.0f} answered/s in {best[1]}, lost {best[2]}",
            )
        )
    burst = by_name.get("burst-50k")
    gwb = burst.paths.get("gw-spin") if burst else None
    if gwb is not None:
        targets.append(
            Target(
                "50,000-order burst absorbed with zero loss, bounded p99.99 (gw-spin)",
                gwb.lost == 0 and gwb.counts.get("rejected", 0) == 0,
                f"lost {gwb.lost}, rejected {gwb.counts.get('rejected', 0)}, "
                f"round trip p99.99 {gwb.round_trip['p99.99']:.0f} us, max {gwb.round_trip['max']:.0f} us",
            )
        )
    statuses = [r.gateway_status for r in runs if r.gateway_status]
    if statuses:
        full = sum(int(s.get("gc", {}).get("hot_path_full_collections", 0)) for s in statuses)
        targets.append(
            Target("zero full garbage collections during the bench (every gateway run)", full == 0, f"{full} automatic")
        )
    lost = sum(p.lost for r in results for p in r.paths.values())
    targets.append(Target("zero lost orders (every run)", lost == 0, f"{lost} lost"))
    fix = pingpong.added.get("fix-gw-spin", {}).get("round_trip") if pingpong else None
    if fix:
        rows = {row["key"]: row for row in fix}
        speedups = {key: 1 / float(rows[key]["ratio"]) if float(rows[key]["ratio"]) > 0 else 0.0 for key in rows}
        targets.append(
            Target(
                "FIX path: round trip p50 and p99.9 at least 10x lower than the quickfix-python initiator",
                speedups["p50"] >= 10 and speedups["p99.9"] >= 10,
                f"quickfix / gateway FIX path: p50 {speedups['p50']:.2f}x, p99.9 {speedups['p99.9']:.2f}x "
                f"(gateway {float(rows['p50']['value_us']):.0f} / {float(rows['p99.9']['value_us']):.0f} us, "
                f"quickfix {float(rows['p50']['baseline_us']):.0f} / {float(rows['p99.9']['baseline_us']):.0f} us)",
            )
        )
    else:
        targets.append(
            Target(
                "FIX path: round trip p50 and p99.9 at least 10x lower than the quickfix-python initiator",
                None,
                "pingpong with fix-quickfix and fix-gw-spin not run",
            )
        )
    return targets


# --------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------

_HEAD = (
    f"{'path':<11}{'count':>8}{'answered/s':>12}"
    + "".join(f"{k:>9}" for k in (*PERCENTILE_KEYS, "max"))
    + f"{'lost':>6}"
)


def _row(name: str, summary: dict[str, float], result: PathResult) -> str:
    return (
        f"{name:<11}{int(summary['count']):>8}{result.throughput:>12,.0f}"
        + "".join(f"{summary[k]:>9.1f}" for k in (*PERCENTILE_KEYS, "max"))
        + f"{result.lost:>6}"
    )


def render_text(report: Report) -> str:
    """Return the human report (microseconds)."""
    lines = [
        f"gateway bench  {report.started_at}  {report.machine.get('cpu_model', '')}, "
        f"{report.machine.get('cpus')} CPUs, kernel {report.machine.get('kernel')}, "
        f"Python {report.machine.get('python')}",
        f"placement: {report.placement}; load average at start {report.machine.get('load_average_at_start')}",
        "all figures in microseconds, CLOCK_MONOTONIC on this host; nearest-rank percentiles over every sample",
        "",
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
                f"   {'':<31}" + "".join(f"{float(r['added_us']):>9.1f}" for r in rows) + "   (difference, us)"
            )
            lines.append(f"   {'':<31}" + "".join(f"{float(r['ratio']):>8.2f}x" for r in rows) + "   (ratio)")
        lines.append("   one way, new orders, send -> simulator read")
        lines.append("   " + _HEAD)
        for name, result in sc.paths.items():
            if result.one_way["count"]:
                lines.append("   " + _row(name, result.one_way, result))
        for name, per_series in sc.added.items():
            rows = per_series["one_way"]
            if sc.paths[name].one_way["count"]:
                lines.append(
                    f"   {name + ' - ' + sc.baselines.get(name, FLOOR):<31}"
                    + "".join(f"{float(r['added_us']):>9.1f}" for r in rows)
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


def render_markdown(report: Report) -> str:
    """Return the report as Markdown tables (microseconds), as docs/performance.md shows them."""
    out = [
        f"Run {report.started_at}: {report.machine.get('cpu_model', '')}, {report.machine.get('cpus')} vCPUs, "
        f"kernel {report.machine.get('kernel')}, Python {report.machine.get('python')}; {report.placement}; "
        f"load average at start {report.machine.get('load_average_at_start')}.",
        "",
    ]
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
    out += ["### Targets", "", _md_row(["target", "result", "figures"]), _md_row(["---", "---", "---"])]
    for target in report.targets:
        mark = "n/a" if target.met is None else ("met" if target.met else "missed")
        out.append(_md_row([target.name, mark, target.detail]))
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


def names(items: Iterable[Any]) -> list[str]:
    """Return the ``name`` of each item."""
    return [item.name for item in items]
