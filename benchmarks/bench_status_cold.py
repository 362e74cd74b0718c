"""What a ``status`` / ``metrics`` request's own work costs the loop thread, cold: old document vs snapshot.

In one process: an OUCH simulator and a gateway (``tests.e2e.support.running_gateway``), ``--orders``
orders through it, ``--carried`` histogram buckets given a carry (as a day of trading leaves them),
then, alternately, the two ways of answering, each preceded by touching every cache line of a
64 MiB buffer (the caches and TLBs evicted, as the order path and the other processes evict them
between two polls):

* ``document``: what the gateway did before the snapshot, and still does for a JSON or
  ``"reply": "msgpack"`` request: ``GatewayProcess.status()`` / ``metrics()`` encoded into the
  reply buffer;
* ``snapshot``: ``SnapshotWriter.write_spliced`` into the reply buffer (``"reply": "snapshot"``: the
  histogram and slow bytes it returns are handed to the kernel by the admin server's ``writev``, not
  copied by the loop, so not timed here).

Printed: the median and range of the loop thread's CPU time (``CLOCK_THREAD_CPUTIME_ID``) per
call, and the reply size. No socket write, no request parsing: the work itself, same run, same
state, alternated call by call.

``--accounts N`` adds N accounts to the limits file that no strategy of the gateway trades (a limits file
shared by several gateways), ``--active M`` gives M of them a position (a book row, as an account that traded
today has): the loop's cost per request should not grow with the accounts that did nothing. The snapshot's
time includes the copy the admin server makes of a reply too large to splice (``gateway.admin.SPLICE_MAX``).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_status_cold.py [--calls 21] [--orders 2000] [--carried 300]
[--accounts 30000] [--active 100]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from gateway.admin import SPLICE_MAX, _msgpack_frame
from gateway.client import GatewayClient
from gateway.snapshot import METRICS, STATUS, SnapshotWriter
from model.enums import Side
from tests.e2e.support import e2e_limits, running_gateway, short_tmp

_THRASH = bytearray(64 << 20)


def evict() -> None:
    """Touch every cache line of 64 MiB."""
    _THRASH[::64] = bytes(len(_THRASH) // 64)


def cold_us(func: Callable[[], object]) -> float:
    """Return the loop thread's CPU time for one call after the caches were evicted (us)."""
    evict()
    started = time.thread_time_ns()
    func()
    return (time.thread_time_ns() - started) / 1000


async def measure(args: argparse.Namespace) -> None:
    """Run the comparison and print it."""
    workdir = short_tmp()
    limits = None
    if args.accounts:
        risk_dir = workdir / "risk"
        risk_dir.mkdir()
        limits = e2e_limits(risk_dir)
        rows = "".join(f"  C{i:05d}: {{}}\n" for i in range(args.accounts))
        limits.write_text(limits.read_text().replace("\naccounts:\n", "\naccounts:\n" + rows, 1))
    async with running_gateway(workdir, limits) as (process, _sim):
        config = process.config
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            order = None
            for i in range(args.orders):
                order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
                if i % 64 == 63:
                    await order.wait_accepted(timeout=10)
            if order is not None:
                await order.wait_accepted(timeout=10)
        assert process.engine is not None
        latency = process.engine.latency
        rng = random.Random(13)
        for _ in range(args.carried):
            latency.carried[rng.randrange(len(latency.mid))] = 256 * rng.randrange(1, 5000)
        risk: Any = process.risk
        for i in range(min(args.active, args.accounts)):
            risk.set_start_position(f"C{i:05d}", "AAPL", 100)
        writer = SnapshotWriter(process)
        frame = bytearray()
        for command, kind, document in (("status", STATUS, process.status), ("metrics", METRICS, process.metrics)):
            sizes = {"document": len(_msgpack_frame({"ok": True, command: document()})), "snapshot": 0}
            _at, parts = writer.write_spliced(frame, 23, kind)
            sizes["snapshot"] = len(frame) + sum(len(part) for part in parts)
            copied = " (copied whole: over SPLICE_MAX)" if sizes["snapshot"] > SPLICE_MAX else ""
            times: dict[str, list[float]] = {"document": [], "snapshot": []}

            def old_way(command: str = command, document: Callable[[], object] = document) -> None:
                _msgpack_frame({"ok": True, command: document()})

            def new_way(kind: int = kind) -> None:
                at, parts = writer.write_spliced(frame, 23, kind)
                if len(frame) + sum(len(part) for part in parts) > SPLICE_MAX:  # as the admin server does
                    frame[at:at] = b"".join(parts)  # (the next write_spliced rewrites the frame from 23 on)

            for _ in range(args.calls):
                times["document"].append(cold_us(old_way))
                times["snapshot"].append(cold_us(new_way))
            for way, values in times.items():
                print(
                    f"{command:8s} {way:9s} cold us: median {statistics.median(values):6.1f}  "
                    f"range {min(values):6.1f}-{max(values):6.1f}  reply {sizes[way]:,} bytes"
                    + (copied if way == "snapshot" else "")
                )


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=21)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--carried", type=int, default=300, help="histogram buckets given a carry (256+ counts)")
    parser.add_argument("--accounts", type=int, default=0, help="accounts no strategy of the gateway trades")
    parser.add_argument("--active", type=int, default=0, help="of those, accounts given a position (a book row)")
    asyncio.run(measure(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
