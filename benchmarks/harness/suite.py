"""Run a set of scenarios over a set of paths, interleaved, and build the report."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import msgspec

from benchmarks.harness.counters import PathCounters, marginal
from benchmarks.harness.plan import FULL_SCENARIOS, Scenario
from benchmarks.harness.report import Report, build_report, machine_info
from benchmarks.harness.runner import (
    PathSpec,
    Placement,
    RunData,
    counted,
    default_paths,
    placement,
    run_counting,
    run_one,
    spins,
)

REPO: Final = Path(__file__).resolve().parents[2]


class BenchOptions(msgspec.Struct, frozen=True):
    """What ``gateway bench`` was asked to do."""

    scenarios: tuple[Scenario, ...] = FULL_SCENARIOS
    paths: tuple[str, ...] = (
        "floor",
        "relay",
        "relay-spin",
        "gw-kernel",
        "gw-spin",
        "fix-floor",
        "fix-quickfix",
        "fix-gw-kernel",
        "fix-gw-spin",
        "boe-floor",
        "boe-gw-kernel",
        "boe-gw-spin",
    )
    repeat: int = 1
    spin_us: int = -1
    pin: bool = True
    fifo: int | None = None
    """Load generator under SCHED_FIFO at this priority, the simulator one above (shields them from other load)."""
    gateway_fifo: int | None = None
    """The gateway's ``spin.sched_fifo_priority``."""
    nice: int | None = None
    """Nice value for every bench process."""
    journal_fsync: str = "interval"
    out_dir: str = ""
    """Where ``.hgrm`` files, the plot and report.json go ("" = a temporary directory, removed)."""
    plot: bool = True
    keep_runs: bool = False
    """Keep each run's working directory (logs, configs, journals) under ``out_dir/runs``."""
    command: str = "gateway bench"
    ouch_venue: str = "fast"
    fix_venue: str = "fast"
    counters: bool = True
    """Run the counting runs (Python calls and system calls per order) for the gateway and relay paths."""
    count_orders: tuple[int, int] = (2_000, 6_000)
    """The two ping-pong sizes of the counting runs (per-order figures are the difference over the two)."""
    hotpath: bool = True
    """Run ``benchmarks/bench_hotpath.py`` (CPU per order in one process, the FIX round trip) as part of the bench."""
    hotpath_orders: int = 30_000


def select_paths(names: tuple[str, ...], spin_us: int) -> list[PathSpec]:
    """Return the known paths named in ``names`` (in the order given); raise ValueError for unknown ones."""
    known = {p.name: p for p in default_paths(spin_us)}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown path(s) {unknown}; known: {sorted(known)}")
    return [known[n] for n in names]


def quickfix_available() -> bool:
    """Return True if the ``quickfix`` package (the ``fix`` extra) can be imported."""
    return importlib.util.find_spec("quickfix") is not None


def run_suite(options: BenchOptions, log: Callable[[str], None] = print) -> Report:
    """Run every scenario on every path (paths alternate; repeats rotate their order); return the report."""
    paths = select_paths(options.paths, options.spin_us)
    if not quickfix_available():
        if options.fix_venue == "quickfix" and any(p.venue == "fix" for p in paths):
            log("gateway bench: the 'quickfix' package is not installed (pip install '.[fix]'): FIX paths skipped")
            paths = [p for p in paths if p.venue != "fix"]
        elif any(p.wire == "quickfix" for p in paths):
            log("gateway bench: the 'quickfix' package is not installed (pip install '.[fix]'): fix-quickfix skipped")
            paths = [p for p in paths if p.wire != "quickfix"]
    cpus = msgspec.structs.replace(
        placement(options.pin, options.fifo, options.gateway_fifo, options.nice),
        journal_fsync=options.journal_fsync,
        ouch_venue=options.ouch_venue,
        fix_venue=options.fix_venue,
    )
    started = dt.datetime.now(dt.UTC)
    machine = machine_info()
    out_dir = (
        Path(options.out_dir).resolve() if options.out_dir else Path(tempfile.mkdtemp(prefix="gwbench-", dir="/tmp"))
    )
    runs_dir = out_dir / "runs"
    log(f"gateway bench: {len(options.scenarios)} scenarios x {len(paths)} paths x {options.repeat}; {cpus.describe()}")
    runs: list[RunData] = []
    try:
        for repeat in range(options.repeat):
            for scenario in options.scenarios:
                order = paths[repeat % len(paths) :] + paths[: repeat % len(paths)]
                for path in order:
                    if not path.runs(scenario):
                        continue
                    workdir = runs_dir / f"{scenario.name}.{path.name}.{repeat}"
                    runs.append(run_one(scenario, path, repeat, workdir, cpus, log=log))
                    if not options.keep_runs:
                        shutil.rmtree(workdir, ignore_errors=True)
        notes: list[str] = []
        counters = count_paths(paths, options, cpus, runs_dir, notes, log) if options.counters else []
        hotpath = run_hotpath(options.hotpath_orders, cpus, log) if options.hotpath else None
        report = build_report(
            runs,
            list(options.scenarios),
            paths,
            command=options.command,
            placement_=cpus,
            started_at=started,
            machine=machine,
            out_dir=out_dir if options.out_dir else None,
            plot=options.plot,
            counters=counters,
            hotpath=hotpath,
            notes=notes,
            commit=git_commit(),
        )
    finally:
        if not options.out_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
        elif not options.keep_runs and runs_dir.is_dir() and not any(runs_dir.iterdir()):
            runs_dir.rmdir()
    if options.out_dir:
        (out_dir / "report.json").write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    return report


def count_paths(
    paths: list[PathSpec],
    options: BenchOptions,
    cpus: Placement,
    runs_dir: Path,
    notes: list[str],
    log: Callable[[str], None],
) -> list[PathCounters]:
    """Run two counting runs per gateway / relay path and return their per-order counters."""
    small, large = options.count_orders
    out: list[PathCounters] = []
    for path in paths:
        if not counted(path):
            continue
        runs = []
        for orders in (small, large):
            workdir = runs_dir / f"count.{path.name}.{orders}"
            runs.append(run_counting(path, orders, workdir, cpus, log=log))
            if not options.keep_runs:
                shutil.rmtree(workdir, ignore_errors=True)
        note = runs[0][2] or runs[1][2]
        if note and note not in notes:
            notes.append(note)
        out.append(
            marginal(
                path.name,
                (small, runs[0][0], runs[0][1]),
                (large, runs[1][0], runs[1][1]),
                spinning=spins(path),
                note=note,
            )
        )
    return out


def run_hotpath(orders: int, cpus: Placement, log: Callable[[str], None]) -> dict[str, Any] | None:
    """Run ``benchmarks/bench_hotpath.py --json`` on the gateway's CPU; return its figures (None if it failed)."""
    from benchmarks.harness.runner import _pinned  # noqa: PLC0415 - shared process set-up

    log(f"  hot path   bench_hotpath.py --orders {orders}")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_hotpath", "--orders", str(orders), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        preexec_fn=_pinned(cpus.gateway, None, cpus.nice),
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        log(f"gateway bench: bench_hotpath failed ({result.returncode}): {result.stderr[-1000:]}")
        return None
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def git_commit() -> str:
    """Return the short commit of the working tree (with ``+dirty`` when it has changes), or ""."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + ("+dirty" if dirty else "")
