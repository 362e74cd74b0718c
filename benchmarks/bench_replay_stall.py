"""Does a far-back replay stall other strategies? Replay time, and another strategy's worst round trip meanwhile.

Processes, as in production: ``gateway sim ouch`` (the exchange), ``gateway run`` (a generated config:
one OUCH venue, journal with ``fsync: interval``, uvloop, ``memory.events_kept`` 10,000), this script
as two strategies. First ``replayer`` sends ``--orders`` IOC orders (64 in flight; the simulator
acknowledges each with Order State D, so each is two events, OrderAccepted + Canceled, and is closed)
and disconnects (policy ``keep``). Then ``bench`` runs a ping-pong (one order in flight, measured with
CLOCK_MONOTONIC, as ``bench_status_stall.py``) and, after a quiet window, a child process reconnects
as ``replayer`` with ``last_seq`` 1 on a raw socket and reads its whole replay, counting frames: every
event after seq 1, in order (checked), then the venue state. Printed: the replay's time (Hello sent to
its last frame read), the ping-pong's worst and p50 round trip while the replay ran, and the same for
an equal quiet window before it (this machine's own noise).

For the before/after comparison run the same file against another checkout:
``cd /tmp && PYTHONPATH=<old checkout> <venv>/bin/python <this file> ...`` (``--replay-read`` is left
out of the config unless given, so a gateway without that setting starts).

Run: ``.venv/bin/python benchmarks/bench_replay_stall.py [--orders 300000] [--replay-read loop|thread]
[--nice -20] [--tmpfs] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.bench_status_stall import GATEWAY, PingPong, free_port, venue_up, wait_until
from benchmarks.harness.plan import ACCOUNT
from benchmarks.harness.runner import bench_limits, ouch_venue
from gateway.client import GatewayClient
from gateway.protocol.prices import to_fixed
from model.enums import Side, TimeInForce

READER = r"""
import json, socket, sys, time
from gateway.protocol.framing import LENGTH_PREFIX, encode_frame, gateway_message_decoder
from gateway.protocol.messages import PROTOCOL_VERSION, Hello, VenueStatus
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(sys.argv[1])
t0 = time.monotonic_ns()
sock.sendall(encode_frame(Hello("replayer", PROTOCOL_VERSION, 1)))
buf = bytearray()
frames = 0
replayed = -1
first = 0
seq_expected = 2
size = LENGTH_PREFIX.size
pos = 0
while True:
    data = sock.recv(1 << 20)
    if not data:
        raise SystemExit("connection closed after %d frames" % frames)
    if not first:
        first = time.monotonic_ns()
    buf += data
    done = False
    while len(buf) - pos >= size:
        (length,) = LENGTH_PREFIX.unpack_from(buf, pos)
        if len(buf) - pos - size < length:
            break
        frame = bytes(buf[pos + size : pos + size + length])
        pos += size + length
        frames += 1
        if frames == 1:
            replayed = gateway_message_decoder.decode(frame).replayed
        elif frames <= replayed + 1:
            if frames in (2, replayed + 1) or frames % 4096 == 0:  # spot-check the order
                seq = gateway_message_decoder.decode(frame).seq
                assert seq == frames, (seq, frames)
        else:
            assert isinstance(gateway_message_decoder.decode(frame), VenueStatus)
            done = True
            break
    del buf[:pos]
    pos = 0
    if done:
        break
t1 = time.monotonic_ns()
print(json.dumps({"replayed": replayed, "frames": frames, "start_ns": t0, "first_ns": first, "end_ns": t1}))
"""


def write_config(workdir: Path, port: int, replay_read: str | None, loop: str = "uvloop") -> Path:
    """Write the gateway config: one OUCH venue, strategies ``bench`` and ``replayer``, journal synced every 10 ms."""
    memory: dict[str, Any] = {"events_kept": 10_000}
    if replay_read:
        memory["replay_read"] = replay_read
    config = {
        "gateway_id": "replay",
        "strategy_socket": "s.sock",
        "admin_socket": "a.sock",
        "state_dir": "state",
        "loop": loop,
        "risk_limits": str(bench_limits(workdir / "risk")),
        "risk_audit_log": "audit.jsonl",
        "journal": {"directory": "journal", "fsync": "interval", "fsync_interval_ms": 10},
        "memory": memory,
        "strategies": {
            "bench": {"accounts": [ACCOUNT], "on_disconnect": "keep"},
            "replayer": {"accounts": [ACCOUNT], "on_disconnect": "keep"},
        },
        "venues": [ouch_venue(port)],
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def load_replayer(socket_path: Path, orders: int, window: int = 64) -> int:
    """Send ``orders`` IOC orders as ``replayer`` (``window`` in flight); return its last seq."""
    async with GatewayClient(socket_path, "replayer", heartbeat_ms=10_000) as client:
        in_flight = asyncio.Semaphore(window)

        async def one(i: int) -> None:
            try:
                if not client.connected:
                    raise RuntimeError(f"replayer disconnected: {client.close_reason}")
                price = to_fixed("200.00") + (i % 100) * 100
                handle = client.submit_nowait(
                    ACCOUNT, "OUCH", "AAPL", Side.BUY, 100, price_ticks=price, tif=TimeInForce.IOC
                )
                await handle.wait_done(60)
            finally:
                in_flight.release()

        tasks = []
        for i in range(orders):
            await in_flight.acquire()
            tasks.append(asyncio.ensure_future(one(i)))
        await asyncio.gather(*tasks)
        return client.last_seq


def stats(rts: list[int]) -> dict[str, float]:
    """Return count, p50, p99 and worst (us) of round trips in ns, and how many took over 2 ms and over 10 ms."""
    ordered = sorted(rts)
    return {
        "orders": len(ordered),
        "p50_us": round(ordered[len(ordered) // 2] / 1000, 1) if ordered else 0.0,
        "p99_us": round(ordered[int(len(ordered) * 0.99)] / 1000, 1) if ordered else 0.0,
        "worst_us": round(ordered[-1] / 1000, 1) if ordered else 0.0,
        "over_2ms": sum(1 for rt in ordered if rt > 2_000_000),
        "over_10ms": sum(1 for rt in ordered if rt > 10_000_000),
    }


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Load the replayer, start the ping-pong, then replay from seq 1 in a child; return the figures."""
    sock = workdir / "s.sock"
    loaded = time.monotonic()
    # in a child: 300,000 order handles would leave this process a heap whose collection stalls the ping-pong
    loader = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.bench_replay_stall",
        "--load",
        str(sock),
        "--orders",
        str(args.orders),
        stdout=subprocess.PIPE,
    )
    out, _ = await loader.communicate()
    if loader.returncode != 0:
        raise RuntimeError("loading the replayer failed")
    last_seq = int(out.split()[-1])
    load_s = time.monotonic() - loaded
    async with GatewayClient(sock, "bench") as client:
        pingpong = PingPong(client)
        task = asyncio.create_task(pingpong.run())
        await asyncio.sleep(args.warmup)
        env = dict(os.environ)
        reader_nice = args.reader_nice

        def niced() -> None:  # the reader's priority, whatever this script runs at
            if reader_nice is not None:
                os.setpriority(os.PRIO_PROCESS, 0, reader_nice)

        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            READER,
            str(sock),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=niced,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"replay reader failed: {err.decode()[-800:]}")
        replay = json.loads(out)
        await asyncio.sleep(0.2)
        pingpong.stop = True
        await task
    start, end = replay["start_ns"], replay["end_ns"]
    span = end - start
    during = pingpong.in_flight_during(start, end)
    quiet = pingpong.window(start - span - 200_000_000, start - 200_000_000)
    return {
        "orders": args.orders,
        "replayer_last_seq": last_seq,
        "load_s": round(load_s, 1),
        "replayed": replay["replayed"],
        "replay_ms": round(span / 1e6, 1),
        "replay_first_byte_ms": round((replay["first_ns"] - start) / 1e6, 1),
        "during": stats(during),
        "quiet": stats(quiet),
    }


def main(argv: list[str] | None = None) -> int:
    """Start the simulator and the gateway, measure, print the figures (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300_000, help="IOC orders the replayer sends first")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of ping-pong before the replay")
    parser.add_argument("--replay-read", choices=["loop", "thread"], help="memory.replay_read (default: not set)")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="the gateway's event loop (asyncio with PYTHONASYNCIODEBUG=1 logs every callback over 0.1 s)",
    )
    parser.add_argument("--nice", type=int, metavar="N", help="nice value of every process (-20 as root)")
    parser.add_argument(
        "--reader-nice",
        type=int,
        metavar="N",
        help="nice value of the replaying strategy's process (default: as this script): e.g. 0 with --nice -20 "
        "keeps its own decoding from competing with the gateway and the ping-pong for the two CPUs",
    )
    parser.add_argument("--tmpfs", action="store_true", help="working directory (journal included) on /dev/shm")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    parser.add_argument("--load", metavar="SOCKET", help=argparse.SUPPRESS)  # the child that loads the replayer
    args = parser.parse_args(argv)
    if args.load:
        print(asyncio.run(load_replayer(Path(args.load), args.orders)))
        return 0
    if args.nice is not None:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    workdir = Path(tempfile.mkdtemp(prefix="gwreplay", dir="/dev/shm" if args.tmpfs else "/tmp"))
    port = free_port()
    config = write_config(workdir, port, args.replay_read, args.loop)
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
        wait_until(lambda: venue_up(workdir / "a.sock"), 30, "the gateway's venue session")
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
        f"replay of {summary['replayed']} events after {summary['orders']} orders: {summary['replay_ms']} ms "
        f"(first byte after {summary['replay_first_byte_ms']} ms); other strategy's round trips during it: "
        f"{summary['during']}; in an equal quiet window before: {summary['quiet']}"
    )
    if args.json:
        print(json.dumps(summary))
    if not os.environ.get("GATEWAY_KEEP_WORKDIR"):
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    else:  # bench_replay_read.py reads the journal kept here
        journals = ", ".join(str(p) for p in sorted(workdir.glob("journal/*.journal")))
        print(f"kept {workdir} (journal: {journals})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
