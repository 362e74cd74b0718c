"""Does ``gateway status`` stall trading? Worst order round trip while ops poll a running gateway.

Processes, as ops run them: ``gateway sim ouch`` (the exchange), ``gateway run`` (a generated
config: one OUCH venue, journal with ``fsync: interval``, uvloop, no spin), and this script as the
strategy: a ping-pong loop (one order in flight, a new order as soon as the previous one is
accepted) measuring every round trip with CLOCK_MONOTONIC. After a quiet warm-up, ``--calls``
status calls are made ``--interval`` seconds apart while the ping-pong keeps running: each call is
either the real CLI (``gateway status`` / ``gateway metrics`` as a subprocess: what an operator or a
cron job runs) or one admin-socket request from a thread of this process (``--caller socket``; no
interpreter start-up competing for the two CPUs).

Before the ping-pong, ``--preload`` orders (20,000) fill the gateway's latency samples, as a day
of trading would. Printed: per second, orders and the worst round trip, with the seconds that had a
call marked; the worst round trip over the whole window of calls; the same for an equal window
without calls (this machine's own noise); for each call, the worst round trip of the orders in
flight while it ran (the stall a call causes, separated from the machine's); the admin round trip
of each call; and the gateway's own account of what each request cost its event loop (wall and
thread CPU time, from ``status`` / ``metrics``).

It also runs against a gateway from before issue 13 (no MessagePack replies: JSON status), for the
before/after comparison: ``cd /tmp && PYTHONPATH=<old checkout> python <this file> ...``.

Run: ``.venv/bin/python benchmarks/bench_status_stall.py [--calls 10] [--interval 0.5]
[--caller cli|socket] [--command status|metrics] [--pause-us 1000] [--nice -20] [--tmpfs] [--json] [--accounts N]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import yaml

from benchmarks.harness.hiccup import Hiccup, read_hiccups, worst_overlapping
from benchmarks.harness.plan import ACCOUNT
from benchmarks.harness.runner import bench_limits, ouch_venue
from gateway.admin import AdminError, admin_request
from gateway.client import GatewayClient
from gateway.latency_snapshot import PERCENTILES, LatencySnapshot
from gateway.protocol.messages import OrderAccepted
from gateway.protocol.prices import to_fixed
from model.enums import Side
from obs.histogram import summary as histogram_summary

GATEWAY = [sys.executable, "-m", "gateway"]
SIMPROC = [sys.executable, "-m", "benchmarks.harness.simproc"]
HICCUP_PROBE = Path(__file__).resolve().parent / "harness" / "hiccup.py"


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(workdir: Path, port: int, accounts: int = 0) -> Path:
    """Write the gateway config: one OUCH venue, strategy ``bench``, journal synced every 10 ms.

    ``accounts``: that many more accounts in the limits file (``C00000``...), none of which a strategy of this
    gateway trades (a limits file shared by several gateways).
    """
    limits = bench_limits(workdir / "risk")
    if accounts:
        rows = "".join(f"  C{i:05d}: {{}}\n" for i in range(accounts))
        limits.write_text(limits.read_text().replace("\naccounts:\n", "\naccounts:\n" + rows, 1))
    config = {
        "gateway_id": "stall",
        "strategy_socket": "s.sock",
        "admin_socket": "a.sock",
        "state_dir": "state",
        "loop": "uvloop",
        "risk_limits": str(limits),
        "risk_audit_log": "audit.jsonl",
        "journal": {"directory": "journal", "fsync": "interval", "fsync_interval_ms": 10},
        "strategies": {"bench": {"accounts": [ACCOUNT], "on_disconnect": "keep"}},
        "venues": [ouch_venue(port)],
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    """Poll ``condition()`` until truthy; raise naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def venue_up(admin: Path) -> bool:
    """Return True once the gateway answers and its OUCH session is UP."""
    try:
        reply = admin_request(admin, {"cmd": "status"}, timeout_s=2)
    except (AdminError, OSError):
        return False
    return str(reply.get("status", {}).get("venues", {}).get("OUCH", {}).get("state")) == "UP"


class GcPauses:
    """The garbage collections of this process (the strategy), with CLOCK_MONOTONIC start and duration."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, int, int]] = []
        """(generation, start_ns, duration_ns) per collection."""
        self._start = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.monotonic_ns()
        else:
            self.pauses.append((info["generation"], self._start, time.monotonic_ns() - self._start))

    def worst_overlapping(self, start_ns: int, end_ns: int) -> int:
        """Return the longest collection (ns) overlapping [start_ns, end_ns], or 0."""
        return max((d for _, s, d in self.pauses if s <= end_ns and s + d >= start_ns), default=0)


class PingPong:
    """One order in flight; every round trip (submit -> OrderAccepted) noted with its end time."""

    def __init__(self, client: GatewayClient, pause_s: float = 0.0) -> None:
        self.client = client
        self.pause_s = pause_s
        self.samples: list[tuple[int, int]] = []
        """(done_ns, round_trip_ns) per order."""
        self.stop = False

    async def run(self) -> None:
        """Send orders one at a time until ``stop``."""
        client = self.client
        i = 0
        while not self.stop:
            i += 1
            t0 = time.monotonic_ns()
            price = to_fixed("220.00") + (i % 100) * 100  # 220.00 .. 220.99: rests, never trades
            handle = client.submit_nowait(ACCOUNT, "OUCH", "AAPL", Side.BUY, 100, price_ticks=price)
            answer = await handle.wait_accepted(10)
            done = time.monotonic_ns()
            if not isinstance(answer, OrderAccepted):
                raise RuntimeError(f"ping-pong order not accepted: {answer}")
            self.samples.append((done, done - t0))
            if self.pause_s:
                await asyncio.sleep(self.pause_s)

    def in_flight_during(self, start_ns: int, end_ns: int) -> list[int]:
        """Return the round trips of the orders that were in flight at some point in [start_ns, end_ns]."""
        return [rt for done, rt in self.samples if done - rt <= end_ns and done >= start_ns]

    def window(self, start_ns: int, end_ns: int) -> list[int]:
        """Return the round trips that ended in [start_ns, end_ns)."""
        return [rt for done, rt in self.samples if start_ns <= done < end_ns]


async def preload(client: GatewayClient, orders: int, window: int = 64) -> None:
    """Send ``orders`` orders, ``window`` in flight, and wait for every answer (a day's worth of samples)."""
    in_flight = asyncio.Semaphore(window)

    async def one(i: int) -> None:
        try:
            price = to_fixed("220.00") + (i % 100) * 100
            handle = client.submit_nowait(ACCOUNT, "OUCH", "AAPL", Side.BUY, 100, price_ticks=price)
            answer = await handle.wait_accepted(30)
            if not isinstance(answer, OrderAccepted):
                raise RuntimeError(f"preload order not accepted: {answer}")
        finally:
            in_flight.release()

    tasks = []
    for i in range(orders):
        await in_flight.acquire()
        tasks.append(asyncio.ensure_future(one(i)))
    await asyncio.gather(*tasks)


async def call_cli(command: str, config: Path) -> tuple[float, dict[str, Any] | None]:
    """Run ``gateway <command>`` as ops would; return (wall ms, the status document for ``status``)."""
    args = [*GATEWAY, command, "--config", str(config)]
    if command == "status":
        args.append("--json")
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_policy
    )
    out, err = await proc.communicate()
    wall_ms = (time.monotonic() - started) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"gateway {command} exited {proc.returncode}: {err.decode()[-500:]}")
    return wall_ms, (json.loads(out) if command == "status" else None)


async def call_socket(command: str, admin: Path) -> tuple[float, dict[str, Any] | None]:
    """One admin request from a worker thread; return (round trip ms, the status document).

    The reply is only decoded here, not turned into percentiles: this process is also the
    ping-pong strategy, and Python work in its worker thread would hold the GIL against it.
    """
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        from gateway.admin import fetch_snapshot
    except ImportError:
        try:
            from gateway.admin import admin_request_msgpack
        except ImportError:  # a gateway from before issue 13 (for the before/after comparison): JSON status
            reply = await loop.run_in_executor(None, admin_request, admin, {"cmd": command})
        else:  # before the snapshot: the gateway-built document in MessagePack
            reply = await loop.run_in_executor(None, admin_request_msgpack, admin, {"cmd": command})
        document = reply.get(command)
    else:  # the snapshot (what gateway status / gateway metrics ask for): only its admin counters are read
        snapshot = await loop.run_in_executor(None, fetch_snapshot, admin, command)
        document = {
            "admin": {
                "last_loop_ns": snapshot.fixed["admin_last_loop_ns"],
                "last_cpu_ns": snapshot.fixed["admin_last_cpu_ns"],
            }
        }
    return (time.monotonic() - started) * 1000, document if isinstance(document, dict) else None


def _default_policy() -> None:
    """Run a status caller under the default scheduling policy and nice 0, whatever this script runs under."""
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    os.setpriority(os.PRIO_PROCESS, 0, 0)


def per_second(
    pingpong: PingPong, start_ns: int, end_ns: int, calls_ns: list[int], hiccups: list[Hiccup] | None = None
) -> list[str]:
    """Return one line per second: orders, worst round trip, the probe's latest wake-up, and the calls in it."""
    lines = []
    second = start_ns
    while second < end_ns:
        rts = pingpong.window(second, second + 1_000_000_000)
        called = sum(1 for c in calls_ns if second <= c < second + 1_000_000_000)
        worst = max(rts, default=0) / 1000
        machine = ""
        if hiccups is not None:
            late = max((h.late_ns for h in hiccups if second <= h.end_ns < second + 1_000_000_000), default=0)
            machine = f"  machine: latest wake-up {late / 1000:>8.1f} us"
        mark = f"  <- {called} call(s)" if called else ""
        lines.append(
            f"  t+{(second - start_ns) / 1e9:4.1f} s  orders {len(rts):>6}  worst {worst:>9.1f} us{machine}{mark}"
        )
        second += 1_000_000_000
    return lines


def over_bound(
    pingpong: PingPong, start_ns: int, end_ns: int, bound_ns: int, hiccups: list[Hiccup], gc_pauses: GcPauses
) -> dict[str, Any]:
    """Count the round trips over ``bound_ns`` ending in the window, and those the machine or this process stalled.

    "Machine late" means the hiccup probe, a process doing nothing but sleep 1 ms at a time at the same
    priority, woke at least 1 ms late at some moment of that round trip: the host stalled a process that
    had no work at all, at the same time. "Strategy GC" means this process (the strategy) ran a garbage
    collection of 1 ms or more during it.
    """
    over = [(done, rt) for done, rt in pingpong.samples if start_ns <= done < end_ns and rt > bound_ns]
    machine = [(done, rt) for done, rt in over if worst_overlapping(hiccups, done - rt, done) >= 1_000_000]
    collected = [(done, rt) for done, rt in over if gc_pauses.worst_overlapping(done - rt, done) >= 1_000_000]
    unexplained = [rt for done, rt in over if (done, rt) not in machine and (done, rt) not in collected]
    pauses = [d for _, s, d in gc_pauses.pauses if start_ns <= s < end_ns]
    return {
        "over": len(over),
        "over_with_machine_late": len(machine),
        "over_with_strategy_gc": len(collected),
        "strategy_gc_count": len(pauses),
        "strategy_gc_worst_us": round(max(pauses, default=0) / 1000, 1),
        "worst_over_without_machine_late_us": round(max(unexplained, default=0) / 1000, 1),
        "probe_worst_late_us": round(
            max((h.late_ns for h in hiccups if start_ns <= h.end_ns < end_ns), default=0) / 1000, 1
        ),
        "probe_late_over_1ms": sum(1 for h in hiccups if start_ns <= h.end_ns < end_ns and h.late_ns >= 1_000_000),
    }


def stage_counts(admin: Path) -> dict[str, list[int]] | None:
    """Return the gateway's cumulative per-stage bucket counts (None from a gateway without the snapshot)."""
    try:
        from gateway.admin import fetch_snapshot
        from gateway.snapshot import status_document
    except ImportError:
        return None
    latency = status_document(fetch_snapshot(admin, "status")).get("latency")
    return None if latency is None else msgspec.convert(latency, LatencySnapshot).counts()


def stages_between(before: dict[str, list[int]], after: dict[str, list[int]]) -> dict[str, dict[str, float]]:
    """Return count, percentiles and max (us) per stage of what the gateway counted between two snapshots."""
    return {
        stage: histogram_summary([a - b for a, b in zip(after[stage], before[stage], strict=True)], PERCENTILES, 1000.0)
        for stage in after
    }


def involuntary_switches(pids: dict[str, int]) -> dict[str, int]:
    """Return each process's involuntary context switches so far (all its threads): times it was preempted."""
    out: dict[str, int] = {}
    for name, pid in pids.items():
        total = 0
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            for line in status.read_text().splitlines():
                if line.startswith("nonvoluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        out[name] = total
    return out


async def measure(args: argparse.Namespace, workdir: Path, config: Path, pids: dict[str, int]) -> dict[str, Any]:
    """Warm up, run a quiet window, then the window with status calls; return the figures."""
    admin = workdir / "a.sock"
    window_s = args.calls * args.interval
    probe_out = workdir / "hiccups.json"
    probe: subprocess.Popen[bytes] | None = None
    gc_pauses = GcPauses()
    gc.callbacks.append(gc_pauses)
    async with GatewayClient(workdir / "s.sock", "bench") as client:
        if args.preload:
            await preload(client, args.preload)
        if args.strategy_gc == "freeze":  # as the gateway does after start-up: no collection while measuring
            gc.collect()
            gc.freeze()
            gc.disable()
        pingpong = PingPong(client, args.pause_us / 1e6)
        task = asyncio.create_task(pingpong.run())
        if args.probe:  # same policy and nice as this process: it sees what the ping-pong's wake-ups see
            seconds = args.warmup + 2 * window_s + 5
            probe = subprocess.Popen(
                [sys.executable, str(HICCUP_PROBE), "--out", str(probe_out), "--seconds", f"{seconds}"]
            )
        await asyncio.sleep(args.warmup)
        counts_before = await asyncio.get_running_loop().run_in_executor(None, stage_counts, admin)
        await asyncio.sleep(0.5)
        preempted_before = involuntary_switches(pids)
        quiet_start = time.monotonic_ns()
        await asyncio.sleep(window_s)
        quiet_end = time.monotonic_ns()
        await asyncio.sleep(0.5)
        calls_start = time.monotonic_ns()
        calls_ns: list[int] = []
        walls: list[float] = []
        loop_us: list[float] = []
        cpu_us: list[float] = []
        spans: list[tuple[int, int]] = []
        for _ in range(args.calls):
            calls_ns.append(time.monotonic_ns())
            if args.caller == "cli":
                wall, document = await call_cli(args.command, config)
            else:
                wall, document = await call_socket(args.command, admin)
            spans.append((calls_ns[-1], time.monotonic_ns()))
            walls.append(wall)
            admin_doc: dict[str, Any] = (document or {}).get("admin") or {}
            if "last_loop_us" in admin_doc:  # what the previous request cost the loop (status: us)
                loop_us.append(float(admin_doc["last_loop_us"]))
                cpu_us.append(float(admin_doc["last_cpu_us"]))
            elif "last_loop_ns" in admin_doc:  # (metrics: ns)
                loop_us.append(admin_doc["last_loop_ns"] / 1000)
                cpu_us.append(admin_doc["last_cpu_ns"] / 1000)
            next_call = calls_ns[-1] + int(args.interval * 1e9)
            await asyncio.sleep(max(next_call - time.monotonic_ns(), 0) / 1e9)
        calls_end = time.monotonic_ns() + 200_000_000  # the last call's effects
        await asyncio.sleep(0.2)
        pingpong.stop = True
        await task
        preempted_after = involuntary_switches(pids)
        counts_after = await asyncio.get_running_loop().run_in_executor(None, stage_counts, admin)
    gc.callbacks.remove(gc_pauses)
    gc.enable()
    hiccups: list[Hiccup] | None = None
    if probe is not None:
        probe.send_signal(signal.SIGTERM)
        probe.wait(10)
        hiccups = read_hiccups(probe_out)
    quiet = pingpong.window(quiet_start, quiet_end)
    during = pingpong.window(calls_start, calls_end)
    overlapping = [pingpong.in_flight_during(*span) for span in spans]
    print("quiet window (no status calls):")
    print("\n".join(per_second(pingpong, quiet_start, quiet_end, [], hiccups)))
    print(f"window with {args.calls} `{args.command}` calls ({args.caller}), one every {args.interval} s:")
    print("\n".join(per_second(pingpong, calls_start, calls_end, calls_ns, hiccups)))
    summary = {
        "command": args.command,
        "caller": args.caller,
        "calls": args.calls,
        "interval_s": args.interval,
        "quiet_orders": len(quiet),
        "quiet_worst_us": round(max(quiet, default=0) / 1000, 1),
        "quiet_p50_us": round(sorted(quiet)[len(quiet) // 2] / 1000, 1) if quiet else 0.0,
        "calls_orders": len(during),
        "calls_worst_us": round(max(during, default=0) / 1000, 1),
        "calls_p50_us": round(sorted(during)[len(during) // 2] / 1000, 1) if during else 0.0,
        "call_round_trip_ms": [round(w, 1) for w in walls],
        "worst_in_flight_during_call_us": [round(max(rts, default=0) / 1000, 1) for rts in overlapping],
        "loop_us_per_status": [round(v, 1) for v in loop_us[1:]],
        "cpu_us_per_status": [round(v, 1) for v in cpu_us[1:]],
    }
    summary["preempted_in_windows"] = {name: preempted_after[name] - preempted_before[name] for name in pids}
    if counts_before is not None and counts_after is not None:  # the gateway's own part of both windows
        summary["gateway_stages_us"] = stages_between(counts_before, counts_after)
    if hiccups is not None:
        bound_ns = int(args.bound_ms * 1e6)
        summary["bound_ms"] = args.bound_ms
        summary["quiet_over_bound"] = over_bound(pingpong, quiet_start, quiet_end, bound_ns, hiccups, gc_pauses)
        summary["calls_over_bound"] = over_bound(pingpong, calls_start, calls_end, bound_ns, hiccups, gc_pauses)
        summary["probe_late_during_call_us"] = [round(worst_overlapping(hiccups, *span) / 1000, 1) for span in spans]
    return summary


def main(argv: list[str] | None = None) -> int:
    """Start the simulator and the gateway, measure, print the figures (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between calls")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of ping-pong before measuring")
    parser.add_argument("--caller", choices=["cli", "socket"], default="cli")
    parser.add_argument("--command", choices=["status", "metrics"], default="status")
    parser.add_argument(
        "--accounts", type=int, default=0, help="more accounts in the limits file, none traded here (shared file)"
    )
    parser.add_argument(
        "--pause-us",
        type=int,
        default=0,
        help="pause between an answer and the next order (default 0: back to back, three processes busy)",
    )
    parser.add_argument(
        "--preload",
        type=int,
        default=20_000,
        help="orders sent (64 in flight) before the ping-pong starts, so the gateway has a full day's "
        "window of samples (before issue 13 status summarised the last 16,384 per stage; default 20000)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    parser.add_argument(
        "--fifo",
        type=int,
        metavar="PRIO",
        help="run the gateway, the simulator and this strategy under SCHED_FIFO at PRIO (root): what a tuned "
        "host gives the gateway; the status callers keep the default policy, as an operator's shell would",
    )
    parser.add_argument(
        "--nice",
        type=int,
        metavar="N",
        help="nice value of the gateway, the simulator and this strategy (-20 as root: other tenants of a shared "
        "machine yield to them, as gateway bench --nice -20 does); the status callers run at 0",
    )
    parser.add_argument(
        "--tmpfs",
        action="store_true",
        help="put the working directory (journal included) on /dev/shm: keeps other disk users' writeback "
        "throttling out of the figures on a shared machine",
    )
    parser.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help="do not run the hiccup probe (benchmarks/harness/hiccup.py) beside the ping-pong",
    )
    parser.add_argument(
        "--sim",
        choices=["quiet", "cli"],
        default="quiet",
        help="the OUCH venue: 'quiet' runs the full simulator with its automatic GC off while serving, as "
        "`gateway bench` does (default); 'cli' runs `gateway sim ouch`, whose generation-2 collections over the "
        "resting orders stall the venue for milliseconds",
    )
    parser.add_argument(
        "--strategy-gc",
        choices=["freeze", "default"],
        default="freeze",
        help="this process (the strategy): 'freeze' collects and freezes after the preload and runs no automatic "
        "collection while measuring, as a latency-sensitive strategy would (default); 'default' keeps Python's "
        "automatic GC, whose generation-2 passes over the preloaded orders' handles stall the strategy 10-100 ms",
    )
    parser.add_argument(
        "--bound-ms", type=float, default=2.0, help="round trips over this are counted and explained (default 2)"
    )
    args = parser.parse_args(argv)
    if args.fifo is not None:  # the gateway and simulator inherit it; status callers are reset to SCHED_OTHER
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.fifo))
    if args.nice is not None:  # inherited likewise; status callers run at nice 0
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    workdir = Path(tempfile.mkdtemp(prefix="gwstall", dir="/dev/shm" if args.tmpfs else "/tmp"))
    with (workdir / "sim.log").open("wb") as sim_log:
        if args.sim == "cli":
            port = free_port()
            sim = subprocess.Popen(
                [*GATEWAY, "sim", "ouch", "--listen", f"127.0.0.1:{port}"], stdout=sim_log, stderr=subprocess.STDOUT
            )
        else:  # the same OuchSimulator, with its automatic GC off while it serves (benchmarks/harness/simproc.py)
            port_file = workdir / "sim.port"
            sim = subprocess.Popen(
                [*SIMPROC, "--venue", "full", "--port-file", str(port_file), "--out", str(workdir / "sim.out")],
                stdout=sim_log,
                stderr=subprocess.STDOUT,
            )
            wait_until(port_file.exists, 30, "the simulator's port file")
            port = int(port_file.read_text())
    config = write_config(workdir, port, args.accounts)
    with (workdir / "gateway.log").open("wb") as gw_log:
        gateway = subprocess.Popen(
            [*GATEWAY, "--log-level", "WARNING", "run", "--config", str(config)],
            stdout=gw_log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: venue_up(workdir / "a.sock"), 30, "the gateway's venue session")
        pids = {"gateway": gateway.pid, "simulator": sim.pid, "strategy": os.getpid()}
        summary = asyncio.run(measure(args, workdir, config, pids))
    finally:
        for proc in (gateway, sim):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    in_flight = summary["worst_in_flight_during_call_us"]
    print(f"worst round trip of the orders in flight during each call (us): {in_flight}")
    print(
        f"worst round trip: {summary['quiet_worst_us']} us without calls, {summary['calls_worst_us']} us during "
        f"{args.calls} calls (p50 {summary['quiet_p50_us']} / {summary['calls_p50_us']} us); "
        f"call round trips {summary['call_round_trip_ms']} ms"
    )
    for name in ("quiet", "calls"):
        if f"{name}_over_bound" in summary:
            ob = summary[f"{name}_over_bound"]
            others = ob["worst_over_without_machine_late_us"]
            print(
                f"{name} window: {ob['over']} round trips over {args.bound_ms} ms, {ob['over_with_machine_late']} of "
                f"them while the probe woke >= 1 ms late, {ob['over_with_strategy_gc']} during a strategy GC >= 1 ms "
                f"(worst of the others {others} us); the probe: {ob['probe_late_over_1ms']} wake-ups >= 1 ms late, "
                f"latest {ob['probe_worst_late_us']} us; strategy GCs {ob['strategy_gc_count']}, longest "
                f"{ob['strategy_gc_worst_us']} us"
            )
    print(f"involuntary context switches over both windows (preempted): {summary['preempted_in_windows']}")
    if "gateway_stages_us" in summary:
        print("the gateway's own stages over both windows (its histograms, us): p99.9 / max")
        for stage, figures in summary["gateway_stages_us"].items():
            if figures["count"]:
                print(f"  {stage:<18} {figures['count']:>8.0f}  {figures['p99.9']:>9.1f} / {figures['max']:>9.1f}")
    if "probe_late_during_call_us" in summary:
        print(f"the probe's latest wake-up during each call (us): {summary['probe_late_during_call_us']}")
    if summary["loop_us_per_status"]:
        print(f"gateway loop wall time per request (us): {summary['loop_us_per_status']}")
        print(f"gateway loop CPU time per request (us): {summary['cpu_us_per_status']}")
    if args.json:
        print(json.dumps(summary))
    if os.environ.get("GATEWAY_KEEP_WORKDIR"):
        print(f"workdir: {workdir}")
    else:  # the journal is a preallocated 64 MiB file: runs in a loop fill the disk
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
