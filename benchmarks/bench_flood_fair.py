"""Does one strategy flooding the gateway stall another's orders? The other's round trips with and without a flood.

Processes, as in production: ``gateway sim ouch`` (the exchange), ``gateway run`` (a generated config: one OUCH
venue, journal with ``fsync: interval``, uvloop), this script as strategy ``bench`` (a ping-pong: one order in
flight, the next ``--pause-ms`` after the previous one's OrderAccepted, measured with CLOCK_MONOTONIC) and a child
process as strategy ``flooder`` (rev44chaos's blaster): on a raw socket it writes ``--orders`` IOC orders in
``--batch``-order writes as fast as the socket takes them, while a thread reads and counts its answers (two per
order: OrderAccepted, Canceled), so that it is never cut off as a slow consumer. Printed: the ping-pong's round
trips (count, p50, p99, worst) in a quiet window before the flood and while the flood is written and answered,
and the flood's own rate.

For the before/after comparison run the same file against another checkout:
``cd /tmp && PYTHONPATH=<old checkout> <venv>/bin/python <this file> ...`` (the flooder child is this file too).

With ``--reject`` the flood's orders are refused by risk (too large), so that none reaches the venue: the ping-pong
then waits only for the gateway itself; without it, its orders also queue behind the flood's in the one OUCH session.

Run: ``.venv/bin/python benchmarks/bench_flood_fair.py [--orders 100000] [--batch 1000] [--quiet 3]
[--pause-ms 10] [--reject] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.bench_replay_stall import stats
from benchmarks.bench_status_stall import GATEWAY, PingPong, free_port, venue_up, wait_until
from benchmarks.harness.plan import ACCOUNT
from benchmarks.harness.runner import bench_limits, ouch_venue
from gateway.client import GatewayClient
from gateway.protocol.framing import LENGTH_PREFIX, encode_frame, gateway_message_decoder
from gateway.protocol.messages import PROTOCOL_VERSION, Hello, NewOrder, Welcome
from gateway.protocol.prices import to_fixed
from model.enums import Side, TimeInForce

ORDER_EVENT_TAGS = frozenset(range(17, 23))
"""OrderAccepted, OrderRejected, Executed, Canceled, Replaced, CancelRejected (docs/strategy-protocol.md 5)."""
REJECTED_QTY = 20_000
"""Above ``bench_limits``' ``max_qty`` (10,000): refused by risk, never sent to the venue (``--reject``)."""
LAST_EVENT_TAGS = frozenset((18, 20))
"""An IOC order that does not trade ends with one of these: OrderRejected, Canceled."""


def write_config(workdir: Path, port: int) -> Path:
    """Write the gateway config: one OUCH venue, strategies ``bench`` and ``flooder``, journal synced every 10 ms."""
    config = {
        "gateway_id": "flood",
        "strategy_socket": "s.sock",
        "admin_socket": "a.sock",
        "state_dir": "state",
        "loop": "uvloop",
        "risk_limits": str(bench_limits(workdir / "risk")),
        "risk_audit_log": "audit.jsonl",
        "journal": {"directory": "journal", "fsync": "interval", "fsync_interval_ms": 10},
        "strategies": {
            "bench": {"accounts": [ACCOUNT], "on_disconnect": "keep"},
            "flooder": {"accounts": [ACCOUNT], "on_disconnect": "keep"},
        },
        "venues": [ouch_venue(port)],
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def flood(path: str, orders: int, batch: int, qty: int = 100) -> dict[str, int]:
    """Be the flooder: write ``orders`` IOC orders ``batch`` at a time; read answers until each has its last."""
    price = to_fixed("219.00")  # below the ping-pong's orders: never trades with them
    batches = [
        b"".join(
            encode_frame(NewOrder(f"F{n}", ACCOUNT, "OUCH", "AAPL", Side.BUY, qty, price, TimeInForce.IOC, req_seq=n))
            for n in range(first, min(first + batch, orders + 1))
        )
        for first in range(1, orders + 1, batch)
    ]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    sock.sendall(encode_frame(Hello("flooder", PROTOCOL_VERSION, 0)))
    buf = bytearray()
    while len(buf) < 4 or len(buf) < 4 + LENGTH_PREFIX.unpack_from(buf)[0]:
        buf += sock.recv(1 << 16)
    (length,) = LENGTH_PREFIX.unpack_from(buf)
    welcome = gateway_message_decoder.decode(bytes(buf[4 : 4 + length]))
    assert isinstance(welcome, Welcome), welcome
    del buf[: 4 + length]
    answers = [0, 0]
    """Order events read, and of them the orders' last (OrderRejected, Canceled)."""

    def read() -> None:
        pending = buf
        while answers[1] < orders:
            data = sock.recv(1 << 20)
            if not data:
                return
            pending += data
            pos = 0
            while len(pending) - pos >= 4:
                (size,) = LENGTH_PREFIX.unpack_from(pending, pos)
                if len(pending) - pos - 4 < size:
                    break
                head = pending[pos + 4]  # a MessagePack array: [tag, ...] (fixarray, or array 16)
                tag = pending[pos + 5] if head < 0xDC else pending[pos + 7]
                if tag in ORDER_EVENT_TAGS:
                    answers[0] += 1
                    answers[1] += tag in LAST_EVENT_TAGS
                pos += 4 + size
            del pending[:pos]

    reader = threading.Thread(target=read, daemon=True)
    start = time.monotonic_ns()
    reader.start()
    for data in batches:
        sock.sendall(data)
    written = time.monotonic_ns()
    reader.join(300)
    end = time.monotonic_ns()
    sock.close()
    return {
        "orders": orders,
        "answers": answers[0],
        "done": answers[1],
        "start_ns": start,
        "written_ns": written,
        "end_ns": end,
    }


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Ping-pong alone for ``--quiet`` seconds, then with the flooder running; return the figures."""
    sock = workdir / "s.sock"
    async with GatewayClient(sock, "bench") as client:
        pingpong = PingPong(client, pause_s=args.pause_ms / 1000)
        task = asyncio.create_task(pingpong.run())
        await asyncio.sleep(1.0)  # warm-up, not counted
        quiet_start = time.monotonic_ns()
        await asyncio.sleep(args.quiet)
        quiet_end = time.monotonic_ns()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--flood",
            str(sock),
            "--orders",
            str(args.orders),
            "--batch",
            str(args.batch),
            "--qty",
            str(REJECTED_QTY if args.reject else 100),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"flooder failed: {err.decode()[-800:]}")
        flooded = json.loads(out)
        pingpong.stop = True
        await task
    start, end = flooded["start_ns"], flooded["end_ns"]
    return {
        "orders": args.orders,
        "batch": args.batch,
        "rejected_by_risk": args.reject,
        "flood_answers": flooded["answers"],
        "flood_done": flooded["done"],
        "flood_ms": round((end - start) / 1e6, 1),
        "flood_orders_per_s": round(args.orders / ((end - start) / 1e9)),
        "quiet": stats(pingpong.window(quiet_start, quiet_end)),
        "during": stats(pingpong.in_flight_during(start, end)),
    }


def main(argv: list[str] | None = None) -> int:
    """Start the simulator and the gateway, measure, print the figures (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000, help="IOC orders the flooder writes")
    parser.add_argument("--batch", type=int, default=1000, help="orders per write of the flooder")
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds of ping-pong alone before the flood")
    parser.add_argument("--pause-ms", type=float, default=10.0, help="the ping-pong's pause between two orders")
    parser.add_argument(
        "--reject",
        action="store_true",
        help=f"the flooder's orders are for {REJECTED_QTY} shares, refused by risk (max_qty): none reaches the venue, "
        "so the ping-pong waits only for the gateway, not behind the flood's orders in the venue session",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    parser.add_argument("--flood", metavar="SOCKET", help=argparse.SUPPRESS)  # the flooder child
    parser.add_argument("--qty", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.flood:
        print(json.dumps(flood(args.flood, args.orders, args.batch, args.qty)))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="gwflood", dir="/tmp"))
    port = free_port()
    config = write_config(workdir, port)
    with (workdir / "sim.log").open("wb") as sim_log:
        sim = subprocess.Popen(
            [*GATEWAY, "sim", "ouch", "--listen", f"127.0.0.1:{port}"], stdout=sim_log, stderr=subprocess.STDOUT
        )
    with (workdir / "gateway.log").open("wb") as gw_log:
        gateway = subprocess.Popen(
            [*GATEWAY, "--log-level", "WARNING", "run", "--config", str(config)],
            stdout=gw_log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: venue_up(workdir / "a.sock"), 60, "the gateway's venue session")
        summary = asyncio.run(measure(args, workdir))
    finally:
        for proc in (gateway, sim):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(
        f"flood of {summary['orders']} orders ({summary['batch']} per write): {summary['flood_ms']} ms, "
        f"{summary['flood_orders_per_s']} orders/s, {summary['flood_answers']} answers ({summary['flood_done']} orders "
        f"done); other strategy's round "
        f"trips while it ran: {summary['during']}; alone before it: {summary['quiet']}"
    )
    if args.json:
        print(json.dumps(summary))
    if not os.environ.get("GATEWAY_KEEP_WORKDIR"):
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
