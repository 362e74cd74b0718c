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

Run: ``.venv/bin/python -m benchmarks.hotpath_instructions [--orders 1000,3000]`` (needs ``valgrind``).
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


def loop(orders: int) -> None:
    """Warm a bench rig up, then ping-pong ``orders`` orders, one per read (the part being counted)."""
    workdir = Path(tempfile.mkdtemp(prefix="gwinstr", dir="/tmp"))
    try:
        rig = bench.Rig(workdir)
        rig.ping_pong(0, WARM_UP, 50)
        clock = time.monotonic_ns
        engine, link, venue = rig.engine, rig.link, rig.venue
        for i in range(orders):
            engine.link_data(link, rig.frames(1_000_000 + i, 1), clock())  # type: ignore[arg-type]
            venue.data_received(rig.accepted_for_wire(), clock())
            engine.flush()
        assert engine.counters.accepted >= orders
        rig.close()
    finally:  # the journal preallocates 64 MiB
        shutil.rmtree(workdir, ignore_errors=True)


def instructions(orders: int) -> int:
    """Return the instructions callgrind counts for a whole ``loop(orders)`` process."""
    env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1")
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    out = subprocess.run(
        [*command, "-m", "benchmarks.hotpath_instructions", "--loop", str(orders)],
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
    parser.add_argument("--loop", type=int, help=argparse.SUPPRESS)  # the counted child process
    args = parser.parse_args()
    if args.loop is not None:
        loop(args.loop)
        return 0
    n1, n2 = (int(n) for n in args.orders.split(","))
    i1, i2 = instructions(n1), instructions(n2)
    per_order = (i2 - i1) / (n2 - n1)
    print(f"instructions per OUCH order round trip (callgrind Ir, marginal {n1} -> {n2} orders): {per_order:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
