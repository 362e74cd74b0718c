"""``gateway demo``: the whole product on one machine with no set-up.

Starts an OUCH and a Cboe BOE exchange simulator and the gateway in this process (one
event loop), a FIX venue simulator as a child process, and the sample strategy
(``gateway.demo_strategy``) as a separate process over the real Unix socket. The
strategy sends a few thousand orders (every fourth to BOE, every fourth to FIX), including
some that risk rejects and some the venues reject; the demo prints a summary and exits 0
only if every order reached a terminal or acknowledged state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from gateway.app import GatewayProcess
from gateway.config import GatewayConfig, JournalConfig
from gateway.demo_strategy import DemoMarket
from gateway.entitlements import StrategyEntitlement
from gateway.ops.config import SpinConfig
from gateway.ops.runtime import LoopImpl, OpsRuntime
from gateway.protocol.prices import to_fixed
from model.venue_events import VenueState

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIMITS = REPO_ROOT / "deploy" / "risk" / "limits.yaml"
OUCH_USERNAME = "DEMO"
OUCH_PASSWORD = "DEMOPASS"
BOE_USERNAME = "DEMO"
BOE_PASSWORD = "DEMOPASS"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser(
        "demo", help="run gateway + OUCH, BOE and FIX simulators + a sample strategy, print a summary"
    )
    parser.add_argument("--orders", type=int, default=3000, help="orders the sample strategy sends (default 3000)")
    parser.add_argument("--window", type=int, default=64, help="orders awaiting a first answer at once")
    parser.add_argument("--limits", type=Path, default=DEFAULT_LIMITS, help="risk limits file")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--spin-us", type=int, default=0, help="event-loop spin budget in µs (0 off, -1 always)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (journal, audit log)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before giving up")
    parser.add_argument("--no-fix", action="store_true", help="do not start the FIX venue simulator")
    parser.add_argument("--no-boe", action="store_true", help="do not start the Cboe BOE venue simulator")
    parser.set_defaults(func=run_demo)


def demo_config(
    workdir: Path, ouch_port: int, limits: Path, fix_port: int | None, boe_port: int | None = None
) -> GatewayConfig:
    """Return the gateway config the demo runs with (OUCH; FIX 4.2 and BOE venues when their ports are set)."""
    market = DemoMarket()
    venues: list[dict[str, Any]] = [
        {
            "protocol": "ouch",
            "name": market.venue,
            "host": "127.0.0.1",
            "port": ouch_port,
            "username": OUCH_USERNAME,
            "password": OUCH_PASSWORD,
            "state_dir": str(workdir / "ouch"),
        }
    ]
    if fix_port is not None and market.fix_venue:
        venues.append(
            {
                "protocol": "fix",
                "name": market.fix_venue,
                "host": "127.0.0.1",
                "port": fix_port,
                "dialect": "equities-fix42",
                "heartbeat_interval_s": 1,
                "store_dir": str(workdir / "fix"),
            }
        )
    if boe_port is not None and market.boe_venue:
        venues.append(
            {
                "protocol": "boe",
                "name": market.boe_venue,
                "host": "127.0.0.1",
                "port": boe_port,
                "session_sub_id": "0001",
                "username": BOE_USERNAME,
                "password": BOE_PASSWORD,
                "state_dir": str(workdir / "boe"),
            }
        )
    return GatewayConfig(
        gateway_id="demo-gw",
        strategy_socket=str(workdir / "strategies.sock"),
        admin_socket=str(workdir / "admin.sock"),
        state_dir=str(workdir / "state"),
        risk_limits=str(limits),
        risk_audit_log=str(workdir / "risk-audit.jsonl"),
        journal=JournalConfig(directory=str(workdir / "journal")),
        strategies={
            "demo": StrategyEntitlement(accounts=list(market.accounts), uids=[os.getuid()]),
            # the example limits file also has overrides for the prop desk's strategy (no process runs it here)
            "momentum": StrategyEntitlement(accounts=["PROP3"], uids=[os.getuid()]),
        },
        venues=venues,
        base_dir=str(workdir),
    )


_FIX_LISTENING = re.compile(rb"FIX simulator listening on \S+:(\d+) ")
"""The line ``gateway sim fix`` prints once its acceptor listens; group 1 is the port."""


async def start_fix_simulator(market: DemoMarket) -> tuple[asyncio.subprocess.Process, int]:
    """Start ``gateway sim fix`` (a QuickFIX acceptor) as a child process; return it and its port.

    The child picks its own port (``--listen 127.0.0.1:0``) and names it on its listening line, so no
    port chosen here can be taken by another socket before the child binds it.
    """
    args = ["--listen", "127.0.0.1:0", "--begin-string", "FIX.4.2", "--reject-symbol", market.venue_reject_symbol]
    for symbol, price in market.prices.items():
        args += ["--reference-price", f"{symbol}={price}"]
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--log-level", "WARNING", "sim", "fix", *args, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    try:
        while True:
            line = await asyncio.wait_for(child.stdout.readline(), 20)
            if not line:
                raise RuntimeError(f"the FIX simulator did not start (exit {await child.wait()})")
            listening = _FIX_LISTENING.search(line)
            if listening is not None:
                return child, int(listening.group(1))
    except TimeoutError:
        child.kill()
        raise RuntimeError("the FIX simulator did not start within 20 s") from None


async def _wait_up(process: GatewayProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    assert process.engine is not None
    while any(v.state is not VenueState.UP for v in process.venues):
        if time.monotonic() > deadline:
            states = {v.name: v.state.value for v in process.venues}
            raise TimeoutError(f"venues not up after {timeout_s} s: {states}")
        await asyncio.sleep(0.01)


async def demo(args: argparse.Namespace, workdir: Path, ops: OpsRuntime, kick: Any) -> int:
    """Run the demo in the current loop; return the exit code."""
    from simulators.boe.exchange import BoeExchangeConfig  # noqa: PLC0415 - gateway run never loads simulators
    from simulators.boe.simulator import BoeSimulator  # noqa: PLC0415
    from simulators.boe.simulator import SimulatorConfig as BoeSimulatorConfig  # noqa: PLC0415
    from simulators.ouch.exchange import ExchangeConfig  # noqa: PLC0415
    from simulators.ouch.simulator import OuchSimulator, SimulatorConfig  # noqa: PLC0415

    market = DemoMarket()
    sim = OuchSimulator(
        SimulatorConfig(
            username=OUCH_USERNAME,
            password=OUCH_PASSWORD,
            exchange=ExchangeConfig(
                reference_prices={symbol: to_fixed(price) for symbol, price in market.prices.items()},
                reject_symbols=frozenset({market.venue_reject_symbol}),
            ),
        )
    )
    await sim.start()
    port = sim.port
    boe_sim = None
    if not args.no_boe:
        boe_sim = BoeSimulator(
            BoeSimulatorConfig(
                username=BOE_USERNAME,
                password=BOE_PASSWORD,
                exchange=BoeExchangeConfig(
                    reference_prices={symbol: to_fixed(price) for symbol, price in market.prices.items()},
                    reject_symbols=frozenset({market.venue_reject_symbol}),
                ),
            )
        )
        await boe_sim.start()
    boe_port = None if boe_sim is None else boe_sim.port
    fix_sim, fix_port = (None, None) if args.no_fix else await start_fix_simulator(market)
    process = GatewayProcess(
        demo_config(workdir, port, args.limits, fix_port, boe_port),
        socket_hooks=[ops.venue_socket_hook],
        on_activity=kick,
    )
    process.add_status_provider(ops.status, ops.status_parts)
    process.add_memory_providers()
    try:
        await process.start()
        await _wait_up(process, 10)
        ops.startup_complete()
        strategy = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.demo_strategy",
            "--socket",
            str(workdir / "strategies.sock"),
            "--orders",
            str(args.orders),
            "--window",
            str(args.window),
            "--timeout",
            str(args.timeout),
            "--fix-venue",
            "" if fix_port is None else str(market.fix_venue),
            "--boe-venue",
            "" if boe_port is None else str(market.boe_venue),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(strategy.communicate(), args.timeout + 30)
        status = process.status()
    finally:
        await process.stop()
        await sim.stop()
        if boe_sim is not None:
            await boe_sim.stop()
        if fix_sim is not None:
            fix_sim.terminate()
            await fix_sim.wait()
    try:
        summary = json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        print(f"demo: the sample strategy exited {strategy.returncode} without a summary", file=sys.stderr)
        return 1
    print_summary(summary, status, port, args.window)
    ok = strategy.returncode == 0 and summary["unresolved_count"] == 0
    print(f"\nResult: {'PASS' if ok else 'FAIL'}: ", end="")
    if ok:
        print(f"all {summary['orders']} orders reached a terminal or acknowledged state")
    else:
        print(f"{summary['unresolved_count']} orders unresolved: {summary['unresolved']}")
    return 0 if ok else 1


def print_summary(summary: dict[str, Any], status: dict[str, Any], port: int, args_window: int) -> None:
    """Print what happened, from the strategy's side and the gateway's."""
    counters = status["counters"]
    rejects = summary["rejects"]
    risk = {k.split(":", 1)[1]: v for k, v in rejects.items() if k.startswith("RISK:")}
    venue = {k.split(":", 1)[1]: v for k, v in rejects.items() if k.startswith("VENUE:")}
    gateway = {k.split(":", 1)[1]: v for k, v in rejects.items() if k.startswith("GATEWAY:")}
    st = summary["status"]
    print()
    print("Gateway demo: sample strategy (separate process) -> Unix socket -> gateway -> risk -> venues:")
    print(f"              OUCH 5.0/SoupBinTCP exchange simulator on 127.0.0.1:{port}")
    venues = summary.get("by_venue", {}).keys()
    if "CBOE" in venues:
        print("              Cboe BOE v2 exchange simulator (three matching units), venue CBOE")
    if venues - {"OUCH", "CBOE"}:
        print("              FIX 4.2 venue simulator (a real QuickFIX acceptor, separate process)")
    print(
        f"  orders sent by strategy   {summary['orders']:>7}   in {summary['elapsed_s']} s "
        f"({summary['orders_per_s']:.0f}/s)"
    )
    print(f"  accepted by venue         {counters['accepted']:>7}")
    print(f"  filled (fully)            {st.get('FILLED', 0):>7}   ({summary['filled_or_partly']} with fills)")
    print(f"  canceled                  {st.get('CANCELED', 0):>7}   (IOC remainders and mass cancel at the end)")
    print(f"  replaced                  {summary['replaced']:>7}")
    print(f"  rejected by risk          {sum(risk.values()):>7}   {risk}")
    print(f"  rejected by venue         {sum(venue.values()):>7}   {venue}")
    if gateway:
        print(f"  rejected by gateway       {sum(gateway.values()):>7}   {gateway}")
    print(f"  still open / unresolved   {summary['unresolved_count']:>7}")
    for venue_name, counts in sorted(summary.get("by_venue", {}).items()):
        print(f"    venue {venue_name:<8} " + ", ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items())))
    print("\n  latency (µs)                          p50      p90      p99    p99.9      max")
    print("  (round trip = strategy send -> first answer from the venue, CLOCK_MONOTONIC, all on this host)")
    for label, key, note in (
        ("round trip, burst", "round_trip_us", f"{args_window} in flight"),
        ("round trip, ping-pong", "ping_pong_round_trip_us", "one in flight"),
    ):
        rt = summary[key]
        print(
            f"  {label:<32} {rt['p50']:>8.1f} {rt['p90']:>8.1f} {rt['p99']:>8.1f} "
            f"{rt['p99.9']:>8.1f} {rt['max']:>8.1f}   ({note}, {int(rt['count'])} orders)"
        )
    for stage, lat in status["latency"].summaries().items():
        if lat.get("count"):
            print(
                f"  gateway {stage:<24} {lat['p50']:>8.1f} {lat['p90']:>8.1f} {lat['p99']:>8.1f} "
                f"{lat['p99.9']:>8.1f} {lat['max']:>8.1f}"
            )
    gc_info = status.get("gc", {})
    print(
        f"\n  journal records {status['journal']['records_written']}, "
        f"full GC collections on the hot path {gc_info.get('hot_path_full_collections', '?')}"
    )


def run_demo(args: argparse.Namespace) -> int:
    """Set up a working directory and an event loop, run the demo, clean up."""
    workdir = Path(tempfile.mkdtemp(prefix="gwdemo-", dir="/tmp"))
    if not args.limits.exists():
        print(f"demo: risk limits file {args.limits} not found (pass --limits)", file=sys.stderr)
        return 1
    loop_impl = LoopImpl(args.loop)
    ops = OpsRuntime.prepare(SpinConfig(loop_spin_us=args.spin_us), loop_impl=loop_impl)
    loop = uvloop.new_event_loop() if loop_impl is LoopImpl.UVLOOP else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    spinner = ops.attach(loop)
    try:
        return loop.run_until_complete(demo(args, workdir, ops, spinner.kick))
    finally:
        ops.close()
        loop.close()
        if args.keep:
            print(f"\nworking directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
