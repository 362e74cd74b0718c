"""Same-run A/B of the in-process hot path: an older commit against the working tree, alternating.

Exports ``--base`` (any git revision) into a temporary directory and runs
``benchmarks/bench_hotpath.py --json`` from each tree in turn (base, new, new, base, ...: ABBA),
``--rounds`` times,
each in a fresh interpreter pinned to one CPU, so both see the same machine at about the same
time; then counts the calls per order round trip of each tree (``benchmarks.hotpath_calls``,
deterministic). Prints each round and the median of the rounds per tree.

Run: ``.venv/bin/python -m benchmarks.ab_hotpath --base HEAD~1 [--rounds 2] [--orders 30000] [--cpu 1]``

``--native`` compares the working tree with itself instead: base = pure Python
(``GATEWAY_PURE_PYTHON=1``), new = the mypyc-compiled modules (``make venv`` builds them; the run
stops if they are not built or stale). The calls per order are then counted pure (the comparable
figure) and as the profiler sees the compiled side (not comparable: compiled functions are invisible
to it). ``--compiled`` runs both trees compiled: an exported revision is built first
(``build_native.py`` in its temporary tree, about a minute), the working tree must be built and current.
For a per-module A/B, shorten ``obs.native.MODULES``, ``make venv``, and run it again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    ("order_path", "order path median, us"),
    ("ack_path", "ack path median, us"),
    ("round_trip", "order + ack medians, us"),
    ("batched_both_us", "batched both directions, us/order"),
    ("batched_rate", "batched both directions, orders/s"),
)


def export(revision: str, into: Path) -> Path:
    """Write the tree of ``revision`` into ``into`` (git archive) and return it."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _env(tree: Path, pure_python: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env["OPENBLAS_NUM_THREADS"] = "1"  # numpy (imported by the harness) must not start worker threads
    if pure_python:
        env["GATEWAY_PURE_PYTHON"] = "1"
    else:
        env.pop("GATEWAY_PURE_PYTHON", None)
    return env


def _pin(cpu: int | None) -> Any:
    if cpu is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


def child(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a child bench; when it fails, print its stderr (the reason) before raising."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if out.returncode != 0:
        print(
            f"ab_hotpath: {' '.join(cmd)} (in {kwargs.get('cwd', ROOT)}) exited {out.returncode}; its stderr:\n"
            + out.stderr,
            file=sys.stderr,
            flush=True,
        )
        raise subprocess.CalledProcessError(out.returncode, cmd, out.stdout, out.stderr)
    return out


def timed(tree: Path, orders: int, batch: int, cpu: int | None, pure_python: bool) -> dict[str, float]:
    """Run bench_hotpath from ``tree``; return the figures compared."""
    out = child(
        [sys.executable, "benchmarks/bench_hotpath.py", "--orders", str(orders), "--batch", str(batch), "--json"],
        cwd=tree,
        env=_env(tree, pure_python),
        preexec_fn=_pin(cpu),
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    order = result["order_path"]["median"]
    ack = result["ack_path"]["median"]
    both = result["batched_both_us"]
    return {
        "order_path": order,
        "ack_path": ack,
        "round_trip": order + ack,
        "batched_both_us": both,
        "batched_rate": 1e6 / both,
    }


def calls(tree: Path, pure_python: bool) -> dict[str, Any]:
    """Count calls per order round trip of ``tree`` with this tree's counter (works on older trees too)."""
    out = child(
        [sys.executable, str(ROOT / "benchmarks" / "hotpath_calls.py"), "--here", "--json"],
        cwd=tree,
        env=_env(tree, pure_python),
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--base", default="", help="git revision to compare against (e.g. HEAD~1, main)")
    parser.add_argument("--new", default="", help="git revision for the new side (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--orders", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--cpu", type=int, default=1 if (os.cpu_count() or 1) > 1 else None)
    parser.add_argument(
        "--compiled", action="store_true", help="each tree uses its compiled modules (exported trees are built first)"
    )
    parser.add_argument("--native", action="store_true", help="working tree: pure Python (base) vs compiled (new)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.base and not args.native:
        parser.error("give --base REV, or --native")
    work = Path(tempfile.mkdtemp(prefix="gwab", dir="/tmp"))
    try:
        if args.native:
            trees = {"base": ROOT, "new": ROOT}
            pures = {"base": True, "new": False}
            args.base = "pure Python"
            args.new = "compiled"
            check = subprocess.run([sys.executable, str(ROOT / "build_native.py"), "--check"], check=False, cwd=ROOT)
            if check.returncode != 0:
                print("ab_hotpath --native: the compiled modules are not built or stale: run make venv")
                return 1
        else:
            trees = {
                "base": export(args.base, work / "base"),
                "new": export(args.new, work / "new") if args.new else ROOT,
            }
            pures = dict.fromkeys(trees, not args.compiled)
        if args.compiled:  # an exported tree has no build/native: build it, or it would silently run pure
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run([sys.executable, "build_native.py"], cwd=tree, env=_env(tree, False), check=True)
                elif subprocess.run([sys.executable, "build_native.py", "--check"], cwd=ROOT, check=False).returncode:
                    print("ab_hotpath --compiled: the working tree's compiled modules are stale: run make venv")
                    return 1
        for name, tree in trees.items():  # compile every module once, outside the measured runs
            subprocess.run(
                [sys.executable, "-c", "import benchmarks.bench_hotpath"],
                cwd=tree,
                env=_env(tree, pures[name]),
                check=True,
            )
        rounds: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
        for r in range(args.rounds):
            order = ("base", "new") if r % 2 == 0 else ("new", "base")  # ABBA: drift hits both alike
            for name in order:
                tree = trees[name]
                figures = timed(tree, args.orders, args.batch, args.cpu, pures[name])
                rounds[name].append(figures)
                if not args.json:
                    shown = ", ".join(f"{key} {figures[key]:,.2f}" for key, _ in FIGURES)
                    print(f"round {r + 1} {name:<4} {shown}", flush=True)
        counted = {name: calls(tree, pures[name]) for name, tree in trees.items()}
        if args.native:  # the comparable count is the pure one; the compiled side as the profiler sees it
            counted["pure"] = counted.pop("base")
            counted["visible"] = counted.pop("new")
        summary = {
            name: {key: statistics.median(run[key] for run in runs) for key, _ in FIGURES}
            for name, runs in rounds.items()
        }
        report = {"base": args.base, "new": args.new or "working tree", "rounds": rounds, "median": summary}
        report["calls"] = {name: {k: c[k] for k in ("calls", "python_calls", "c_calls")} for name, c in counted.items()}
        if args.json:
            print(json.dumps(report))
            return 0
        print(f"\nmedians of {args.rounds} rounds, alternating, {args.orders} orders each (base = {args.base}):")
        for key, label in FIGURES:
            old, now = summary["base"][key], summary["new"][key]
            print(f"  {label:<38} {old:>12,.2f} -> {now:>12,.2f}  ({(now - old) / old * 100:+.1f} %)")
        for name, c in counted.items():
            split = f"{c['python_calls']:.1f} Python + {c['c_calls']:.1f} C"
            note = " (compiled: calls visible to the profiler, not comparable)" if name == "visible" else ""
            print(f"  calls/order round trip, {name:<7}: {c['calls']:.1f} ({split}){note}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
