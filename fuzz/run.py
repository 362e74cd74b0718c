"""Run the fuzz targets under atheris (libFuzzer, coverage-guided), one process per target.

    .venv/bin/python -m fuzz.run --runs 200000                # every target, 200,000 inputs each
    .venv/bin/python -m fuzz.run --seconds 60 fix_session      # one target for a minute
    .venv/bin/python -m fuzz.run --list

Each target starts from its seed inputs (``fuzz/targets.py``) in a fresh corpus directory, with
the code under test instrumented for coverage as it is imported. A crash (any exception that
breaks a target's contract) is saved as ``crash-*`` in the work directory and the run exits 1.
The summary gives, per target, the inputs tried, the seconds taken and the coverage reached.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_COV = re.compile(r"cov: (\d+) ft: (\d+)")


def atheris_available() -> bool:
    """Return True if atheris can be imported here."""
    return importlib.util.find_spec("atheris") is not None


def _child(name: str, libfuzzer_args: list[str]) -> None:
    """Inside the fuzzing process: instrument, import the target, run libFuzzer (never returns)."""
    import logging

    import atheris

    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports(include=["gateway", "venues", "risk", "fuzz", "tests"]):
        from fuzz import targets
        from fuzz.targets import TARGETS

        # Import what the target touches now, so it is instrumented too.
        targets.run_seeds(name)
    target = TARGETS[name][0]
    atheris.Setup([sys.argv[0], *libfuzzer_args], target)
    atheris.Fuzz()


def run_target(name: str, *, runs: int | None, seconds: int | None, workdir: Path) -> dict[str, object]:
    """Fuzz one target in a child process; return its figures."""
    from fuzz.targets import TARGETS

    corpus = workdir / f"corpus-{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(TARGETS[name][1]()):
        (corpus / f"seed-{i}").write_bytes(seed)
    args = [
        f"-artifact_prefix={workdir}/{name}-",
        "-seed=1",
        "-timeout=20",
        "-rss_limit_mb=3072",
        "-max_len=4096",
        "-print_final_stats=1",
    ]
    if runs is not None:
        args.append(f"-runs={runs}")
    if seconds is not None:
        args.append(f"-max_total_time={seconds}")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "fuzz.run", "--child", name, "--", *args, str(corpus)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        # pure Python: atheris instruments Python bytecode, and mypyc-compiled modules (the FIX decoder among them)
        # would give it no coverage to follow; the suite's hypothesis runs of each target cover the compiled code
        env={
            **os.environ,
            "PYTHONHASHSEED": "0",
            "GWFUZZ_SCRATCH": str(workdir / f"scratch-{name}"),
            "GATEWAY_PURE_PYTHON": "1",
        },
    )
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    done = _DONE.findall(output)
    coverage = _COV.findall(output)
    crashed = proc.returncode != 0
    return {
        "target": name,
        "inputs": int(done[-1][0]) if done else None,
        "seconds": round(elapsed, 1),
        "coverage_edges": int(coverage[-1][0]) if coverage else None,
        "features": int(coverage[-1][1]) if coverage else None,
        "crashed": crashed,
        "exit_code": proc.returncode,
        "tail": output[-3000:] if crashed or not done else "",
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; fuzz the chosen targets; print the summary; exit 1 on any crash."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        name, rest = argv[1], argv[2:]
        _child(name, rest[1:] if rest[:1] == ["--"] else rest)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="targets to run (default: all)")
    parser.add_argument("--runs", type=int, help="inputs per target")
    parser.add_argument("--seconds", type=int, help="time per target")
    parser.add_argument("--jobs", type=int, default=1, help="targets fuzzed at the same time (default 1)")
    parser.add_argument("--workdir", type=Path, help="where corpora and crash files go (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    args = parser.parse_args(argv)
    from fuzz.targets import TARGETS, describe

    if args.list:
        for name, text in describe().items():
            print(f"{name:<22} {text}")
        return 0
    if not atheris_available():
        print("fuzz.run: atheris is not installed (pip install -e '.[fuzz]')", file=sys.stderr)
        return 2
    if args.runs is None and args.seconds is None:
        args.runs = 10_000
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"fuzz.run: unknown targets {unknown}; known: {sorted(TARGETS)}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gwfuzz-run"))
    print(f"{'target':<22} {'inputs':>10} {'seconds':>8} {'edges':>7}  result")
    with concurrent.futures.ThreadPoolExecutor(max(args.jobs, 1)) as pool:
        futures = [pool.submit(run_target, n, runs=args.runs, seconds=args.seconds, workdir=workdir) for n in names]
        results = [future.result() for future in futures]
    for name, result in zip(names, results, strict=True):
        verdict = "CRASH" if result["crashed"] else "ok"
        print(
            f"{name:<22} {result['inputs'] or '?':>10} {result['seconds']:>8} {result['coverage_edges'] or '?':>7}  "
            f"{verdict}",
            flush=True,
        )
        if result["tail"]:
            print(result["tail"], file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(f"work directory: {workdir}")
    return 1 if any(r["crashed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
