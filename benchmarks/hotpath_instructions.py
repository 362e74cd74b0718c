"""Machine instructions per OUCH order round trip, counted by valgrind (callgrind), not timed.

On a shared, loaded machine a same-run timing A/B cannot resolve a change of a few per cent;
an instruction count can: it does not depend on what else runs. This runs the ping-pong of
``benchmarks/bench_hotpath.py`` (one NewOrder frame into ``Engine.link_data``, the venue's
Accepted back, ``Engine.flush``) in a fresh interpreter under ``valgrind --tool=callgrind`` for two
run sizes and reports the marginal instructions (``Ir``) per round trip: start-up, imports and
warm-up cancel. The figure includes the bench's own per-order work (building the frames and the
Accepted bytes, interpreted, the same in every tree), so compare trees, not absolute values.
Compiled modules are used when built (``GATEWAY_PURE_PYTHON=1`` for the pure ones); hash
randomisation is fixed (``PYTHONHASHSEED=0``). About 30 s per size.

Run: ``.venv/bin/python -m benchmarks.hotpath_instructions [--orders 1000,3000]`` (needs ``valgrind``);
``--batch 64 --orders 1024,3072`` counts the batched loop (64 orders per read and per venue packet) instead.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchmarks.bench_hotpath as bench

WARM_UP = 2_000


def loop(orders: int, batch: int = 1) -> None:
    """Warm a bench rig up, then run ``orders`` orders, ``batch`` per read and per venue packet (the part counted)."""
    workdir = Path(tempfile.mkdtemp(prefix="gwinstr", dir="/tmp"))
    try:
        rig = bench.Rig(workdir)
        rig.ping_pong(0, WARM_UP, 50)
        clock = time.monotonic_ns
        engine, link, venue = rig.engine, rig.link, rig.venue
        for i in range(0, orders, batch):
            engine.link_data(link, rig.frames(1_000_000 + i, batch), clock())  # type: ignore[arg-type]
            venue.data_received(rig.accepted_for_wire(), clock())
            engine.flush()
        assert engine.counters.accepted >= orders
        rig.close()
    finally:  # the journal preallocates 64 MiB
        shutil.rmtree(workdir, ignore_errors=True)


def instructions(orders: int, batch: int = 1) -> int:
    """Return the instructions callgrind counts for a whole ``loop(orders, batch)`` process."""
    env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1")
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    out = subprocess.run(
        [*command, "-m", "benchmarks.hotpath_instructions", "--loop", str(orders), "--batch", str(batch)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", default="1000,3000", help="the two run sizes (default 1000,3000)")
    parser.add_argument(
        "--batch", type=int, default=1, help="orders per read and per venue packet (default 1: ping-pong; 64: batched)"
    )
    parser.add_argument("--loop", type=int, help=argparse.SUPPRESS)  # the counted child process
    args = parser.parse_args()
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    if args.loop is not None:
        loop(args.loop, args.batch)
        return 0
    n1, n2 = (int(n) for n in args.orders.split(","))
    if n1 % args.batch or n2 % args.batch:
        parser.error(f"--orders sizes must be multiples of --batch {args.batch} (e.g. 1024,3072 for 64)")
    i1, i2 = instructions(n1, args.batch), instructions(n2, args.batch)
    per_order = (i2 - i1) / (n2 - n1)
    what = "round trip" if args.batch == 1 else f"round trip, {args.batch} per read"
    print(f"instructions per OUCH order {what} (callgrind Ir, marginal {n1} -> {n2} orders): {per_order:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
