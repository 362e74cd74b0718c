"""Run a set of scenarios over a set of paths, interleaved, and build the report."""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import msgspec

from benchmarks.harness.plan import FULL_SCENARIOS, Scenario
from benchmarks.harness.report import Report, build_report, machine_info
from benchmarks.harness.runner import PathSpec, RunData, default_paths, placement, run_one


class BenchOptions(msgspec.Struct, frozen=True):
    """What ``gateway bench`` was asked to do."""

    scenarios: tuple[Scenario, ...] = FULL_SCENARIOS
    paths: tuple[str, ...] = (
        "floor",
        "relay",
        "relay-spin",
        "gw-kernel",
        "gw-spin",
        "fix-quickfix",
        "fix-gw-kernel",
        "fix-gw-spin",
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
    if any(p.venue == "fix" for p in paths) and not quickfix_available():
        log("gateway bench: the 'quickfix' package is not installed (pip install '.[fix]'): FIX paths skipped")
        paths = [p for p in paths if p.venue != "fix"]
    cpus = msgspec.structs.replace(
        placement(options.pin, options.fifo, options.gateway_fifo, options.nice), journal_fsync=options.journal_fsync
    )
    started = dt.datetime.now(dt.UTC)
    machine = machine_info()
    out_dir = Path(options.out_dir) if options.out_dir else Path(tempfile.mkdtemp(prefix="gwbench-", dir="/tmp"))
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
        )
    finally:
        if not options.out_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
    if options.out_dir:
        (out_dir / "report.json").write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    return report
