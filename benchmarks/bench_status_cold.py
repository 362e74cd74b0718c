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
today has): the loop's cost per request should not grow with the accounts that did nothing. (Before stop 53 the
snapshot's time included the copy the admin server then made of a reply over ``gateway.admin.SPLICE_MAX``, a limits
file of ~1,500 accounts and more; that copy is now the ``reply copied`` line.)

``reply`` (stop 53, big53): the whole admin reply of the snapshot on a real transport of the running loop over a
Unix socket pair, the peer drained between calls (not timed), alternated call by call: ``copied`` the admin server
before stop 53 for a reply over ``SPLICE_MAX`` (the spliced parts copied into the reply buffer, one
``transport.write``), ``spliced`` ``AdminProtocol._reply_snapshot`` now (one ``writev`` from where the parts are;
what the socket does not take queued: the slow bytes by reference, the live ones copied). ``--loop asyncio|uvloop``
picks the event loop.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_status_cold.py [--calls 21] [--orders 2000] [--carried 300]
[--accounts 30000] [--active 100] [--loop uvloop]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import time
from collections.abc import Callable
from typing import Any

import uvloop

from gateway.admin import _LENGTH, _SNAPSHOT_PREFIX, SPLICE_MAX, AdminProtocol, AdminStats, _msgpack_frame
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
            over = f" (over SPLICE_MAX, {SPLICE_MAX:,})" if sizes["snapshot"] > SPLICE_MAX else ""
            times: dict[str, list[float]] = {"document": [], "snapshot": []}

            def old_way(command: str = command, document: Callable[[], object] = document) -> None:
                _msgpack_frame({"ok": True, command: document()})

            def new_way(kind: int = kind) -> None:
                writer.write_spliced(frame, 23, kind)  # (the admin server sends the parts: the ``reply`` lines)

            for _ in range(args.calls):
                times["document"].append(cold_us(old_way))
                times["snapshot"].append(cold_us(new_way))
            for way, values in times.items():
                print(
                    f"{command:8s} {way:9s} cold us: median {statistics.median(values):6.1f}  "
                    f"range {min(values):6.1f}-{max(values):6.1f}  reply {sizes[way]:,} bytes"
                    + (over if way == "snapshot" else "")
                )
            await _replies(args, command, kind, writer, sizes["snapshot"])


def _copied_reply(protocol: AdminProtocol, write: Callable[[bytearray, int], Any]) -> None:
    """Answer as the admin server did before stop 53 with a reply over ``SPLICE_MAX``: copied whole, one write."""
    transport: Any = protocol._transport
    frame = AdminProtocol._frame
    AdminProtocol._frame = None
    if frame is None:
        frame = bytearray()
    prefix = len(_SNAPSHOT_PREFIX)
    frame[:prefix] = _SNAPSHOT_PREFIX
    at, live = write(frame, prefix)
    length = len(frame) + sum(len(part) for part in live)
    _LENGTH.pack_into(frame, 0, length - _LENGTH.size)
    _LENGTH.pack_into(frame, prefix - _LENGTH.size, length - prefix)
    frame[at:at] = b"".join(live)
    transport.write(frame)
    if not transport.get_write_buffer_size():
        AdminProtocol._frame = frame


async def _replies(args: argparse.Namespace, command: str, kind: int, writer: SnapshotWriter, size: int) -> None:
    """Time the admin reply itself on a real transport, copied whole (before) and spliced (now), alternated."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    theirs.setblocking(False)
    protocol = AdminProtocol({}, AdminStats())
    await loop.connect_accepted_socket(lambda: protocol, ours)
    transport: Any = protocol._transport

    def write(frame: bytearray, offset: int) -> Any:
        return writer.write_spliced(frame, offset, kind)

    async def drain() -> int:
        got = 0
        while True:
            try:
                chunk = theirs.recv(1 << 20)
            except BlockingIOError:
                if not transport.get_write_buffer_size():
                    return got
                await asyncio.sleep(0.0005)
                continue
            got += len(chunk)

    ways: dict[str, Callable[[], object]] = {
        "copied": lambda: _copied_reply(protocol, write),
        "spliced": lambda: protocol._reply_snapshot(write),
    }
    times: dict[str, list[float]] = {way: [] for way in ways}
    await drain()
    for _ in range(args.calls):
        for way, func in ways.items():
            times[way].append(cold_us(func))
            got = await drain()
            assert abs(got - size) < 1024, (got, size)  # (the live part varies by a few bytes)
    transport.close()
    theirs.close()
    name = type(loop).__module__.split(".")[0]
    for way, values in times.items():
        print(
            f"{command:8s} reply {way:8s} cold us: median {statistics.median(values):6.1f}  "
            f"range {min(values):6.1f}-{max(values):6.1f}  ({name} loop, reply {size:,} bytes)"
        )


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=21)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--carried", type=int, default=300, help="histogram buckets given a carry (256+ counts)")
    parser.add_argument("--accounts", type=int, default=0, help="accounts no strategy of the gateway trades")
    parser.add_argument("--active", type=int, default=0, help="of those, accounts given a position (a book row)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the event loop")
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop if args.loop == "uvloop" else None) as runner:
        runner.run(measure(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
