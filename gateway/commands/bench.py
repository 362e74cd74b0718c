"""``gateway bench``: tail-latency benchmark of the gateway against the floor, side by side in one run.

Examples::

    gateway bench --out bench-out                      # every scenario, floor vs gateway (no spin, spin)
    gateway bench --scenarios pingpong --repeat 3      # the latency floor only, three rounds
    gateway bench --smoke --json                       # seconds: tiny scenarios, machine-readable
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import msgspec

from model.fsync import FsyncPolicy

EXIT_FAILED = 1
EXIT_USAGE = 2
SMOKE_SCALE = 0.02
DEFAULT_PATHS = (
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
SCENARIO_NAMES = (
    "pingpong",
    "rate-10k",
    "rate-50k",
    "rate-100k",
    "rate-150k",
    "rate-200k",
    "rate-250k",
    "rate-400k",
    "burst-5k",
    "burst-50k",
    "mixed",
)
"""``benchmarks.harness.plan.FULL_SCENARIOS`` by name, for ``--help`` without importing the harness
(``gateway run`` builds this parser too); tests/bench/test_plan.py keeps the two equal."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench``."""
    parser = subparsers.add_parser(
        "bench",
        help="tail-latency benchmark: floor vs gateway, percentiles, HdrHistogram files, plot",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    names = ", ".join(SCENARIO_NAMES)
    parser.add_argument("--scenarios", default="", help=f"comma-separated subset of: {names} (default all)")
    parser.add_argument(
        "--paths",
        default=",".join(DEFAULT_PATHS),
        help=f"comma-separated paths (default {','.join(DEFAULT_PATHS)}; relay, FIX and BOE paths run pingpong only)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds over every scenario and path (default 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every scenario's order count (default 1)")
    parser.add_argument("--smoke", action="store_true", help=f"tiny scenarios (scale {SMOKE_SCALE}), no plot: seconds")
    parser.add_argument("--spin-us", type=int, default=-1, help="loop_spin_us of the spin path (default -1: always)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--fifo",
        type=int,
        metavar="PRIO",
        help="run the load generator under SCHED_FIFO at PRIO and the simulator at PRIO+1 (needs root)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        metavar="N",
        help="nice value for load generator, simulator and gateway (e.g. -20: other load on the host yields)",
    )
    parser.add_argument(
        "--journal-fsync",
        choices=[p.value for p in FsyncPolicy],
        default="interval",
        help="the gateway journal's fsync policy (default interval, as deploy/gateway.yaml)",
    )
    parser.add_argument(
        "--gateway-fifo",
        type=int,
        metavar="PRIO",
        help="the gateway's spin.sched_fifo_priority (with --spin-us -1 the kernel's RT throttling then stalls it)",
    )
    parser.add_argument(
        "--ouch-venue",
        choices=("fast", "full"),
        default="fast",
        help="OUCH venue: the fast bench venue (default) or the full simulator (gateway sim ouch; ~48,000 orders/s)",
    )
    parser.add_argument(
        "--fix-venue",
        choices=("fast", "quickfix"),
        default="fast",
        help="FIX venue: our FIX session as acceptor (default) or the QuickFIX acceptor (gateway sim fix)",
    )
    parser.add_argument(
        "--counters",
        choices=("on", "off"),
        default=None,
        help="counting runs: Python calls and system calls per order per gateway path (default on; off with --smoke)",
    )
    parser.add_argument(
        "--count-orders",
        default="2000,6000",
        metavar="N1,N2",
        help="ping-pong sizes of the two counting runs (default 2000,6000; per order = difference / (N2 - N1))",
    )
    parser.add_argument(
        "--hotpath",
        choices=("on", "off"),
        default=None,
        help="run benchmarks/bench_hotpath.py as part of the bench (default on; off with --smoke)",
    )
    parser.add_argument("--out", default="", help="directory for report.json, .hgrm files and percentiles.png")
    parser.add_argument("--keep-runs", action="store_true", help="keep each run's logs, configs and journals")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    parser.add_argument(
        "--doc",
        default="",
        metavar="PATH",
        help="write the Markdown report into PATH's generated section (docs/performance.md: make bench-doc)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (as docs/performance.md)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the report; exit 1 if any order was lost or a run failed."""
    from benchmarks.harness.plan import scenarios_by_name  # noqa: PLC0415 - gateway run never loads the harness
    from benchmarks.harness.report import DOC_PARTS, render_markdown, render_text, splice  # noqa: PLC0415
    from benchmarks.harness.suite import BenchOptions, run_suite  # noqa: PLC0415

    doc = Path(args.doc) if args.doc else None
    if doc is not None:
        try:
            splice(doc.read_text(), dict.fromkeys(DOC_PARTS, ""))
        except (OSError, ValueError) as exc:
            print(f"gateway bench: --doc {doc}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    known = scenarios_by_name()
    wanted = [n.strip() for n in args.scenarios.split(",") if n.strip()] or list(known)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        print(f"gateway bench: unknown scenario(s) {unknown}; known: {', '.join(known)}", file=sys.stderr)
        return EXIT_USAGE
    if args.repeat < 1 or args.scale <= 0:
        print("gateway bench: --repeat must be >= 1 and --scale > 0", file=sys.stderr)
        return EXIT_USAGE
    scale = SMOKE_SCALE * args.scale if args.smoke else args.scale
    try:
        small, large = (int(n) for n in args.count_orders.split(","))
    except ValueError:
        print("gateway bench: --count-orders takes two numbers, N1,N2", file=sys.stderr)
        return EXIT_USAGE
    if not 0 < small < large:
        print("gateway bench: --count-orders needs 0 < N1 < N2", file=sys.stderr)
        return EXIT_USAGE
    counters = (args.counters or ("off" if args.smoke else "on")) == "on"
    hotpath = (args.hotpath or ("off" if args.smoke else "on")) == "on"
    scenarios = tuple(known[n] if scale == 1.0 else known[n].scaled(scale) for n in wanted)
    options = BenchOptions(
        scenarios=scenarios,
        paths=tuple(p.strip() for p in args.paths.split(",") if p.strip()),
        repeat=args.repeat,
        spin_us=args.spin_us,
        pin=not args.no_pin,
        fifo=args.fifo,
        nice=args.nice,
        journal_fsync=args.journal_fsync,
        gateway_fifo=args.gateway_fifo,
        out_dir=args.out,
        plot=not (args.no_plot or args.smoke),
        keep_runs=args.keep_runs,
        ouch_venue=args.ouch_venue,
        fix_venue=args.fix_venue,
        counters=counters,
        count_orders=(small, large),
        hotpath=hotpath,
        hotpath_orders=max(int(30_000 * scale), 2_000),
        command=shlex.join(
            ["gateway", "bench", *(sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "bench" else [])]
        ),
    )
    log = (lambda line: print(line, file=sys.stderr)) if args.json or args.markdown else print
    try:
        report = run_suite(options, log=log)
    except ValueError as exc:
        print(f"gateway bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (RuntimeError, OSError) as exc:
        print(f"gateway bench: run failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if doc is not None:
        doc.write_text(splice(doc.read_text(), {part: render_markdown(report, part) for part in DOC_PARTS}))
    if args.json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    elif args.markdown:
        sys.stdout.write(render_markdown(report))
    else:
        print(render_text(report))
    lost = sum(p.lost for s in report.scenarios for p in s.paths.values())
    return EXIT_FAILED if lost else 0
