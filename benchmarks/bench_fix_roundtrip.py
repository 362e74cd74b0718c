"""FIX round trip, side by side: our FixVenue vs a quickfix-python initiator, same acceptor, same orders.

What is measured: NewOrderSingle -> ExecutionReport(New) round trip, from the moment the
client code hands over the order to the moment it holds the normalised ``VenueAccepted``
for it, over loopback TCP against one QuickFIX acceptor (``gateway sim fix`` in its own
process, FIX 4.4, dialect broker-fix44; orders rest, so each gets exactly one report).

- ``ours``: FixVenue (file store, fsync interval 100 ms) driven by VenueConnector on uvloop;
  the next order is sent from the event sink of the previous acknowledgement.
- ``quickfix``: a quickfix-python SocketInitiator (memory store, its best case) in this
  process; the next order is built (field by field) and sent from ``fromApp`` on QuickFIX's
  own thread, the fastest way quickfix-python can be driven.

Both sessions run in alternating rounds in one run (noise hits both), after a warm-up. The
acceptor's own turnaround per session (fromApp entry to report handed to QuickFIX, measured
inside the simulator) is printed too: it is common to both paths and bounds the ratio.

Run: ``.venv/bin/python benchmarks/bench_fix_roundtrip.py [--rounds 10 --per-round 500]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvloop

from benchmarks.harness.fixpath import initiator_application
from model.clock import monotonic_ns
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from model.order import Order
from model.venue_events import VenueAccepted, VenueEvent, VenueState
from simulators.fix.simulator import free_port
from venues.connector import VenueConnector
from venues.fix.codec import parse_price, parse_qty
from venues.fix.config import FixVenueConfig, build_fix_venue
from venues.fix.dialect import load_dialect
from venues.fix.dictionary import dictionary_path

OURS = "GATEWAY"
THEIRS = "QFCLIENT"


def _percentiles(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    n = len(ordered)

    def pick(q: float) -> float:
        return ordered[min(int(q * n), n - 1)] / 1000

    return {"n": n, "p50": pick(0.5), "p99": pick(0.99), "p99.9": pick(0.999), "max": ordered[-1] / 1000}


def _order(order_id: int) -> Order:
    order = Order(
        order_id,
        "strat1",
        f"C{order_id}",
        "ACC1",
        "BRKR",
        "AAPL",
        Side.BUY,
        100,
        1_502_500,
        TimeInForce.DAY,
        OrderType.LIMIT,
    )
    order.leaves_qty = 100
    return order


class OurPath:
    """FixVenue + VenueConnector; ping-pong driven from the event sink."""

    def __init__(self, port: int, store_dir: str) -> None:
        config = FixVenueConfig(
            name="BENCH",
            host="127.0.0.1",
            port=port,
            dialect="broker-fix44",
            sender_comp_id=OURS,
            store_dir=store_dir,
            fsync=FsyncPolicy.INTERVAL,
            heartbeat_interval_s=30,
        )
        self.venue = build_fix_venue(config, monotonic_ns)
        self.venue.event_sink = self.on_event
        self.connector = VenueConnector(self.venue, "127.0.0.1", port, after_input=self.venue.flush)
        self.next_id = 1
        self.remaining = 0
        self.samples: list[int] = []
        self.costs: list[int] = []
        """Per order: ns spent in our code (send_new + flush, then report bytes in -> event out)."""
        self.t0 = 0
        self.t_sent = 0
        self.t_in = 0
        self.done: asyncio.Future[None] | None = None
        receive = self.venue.data_received

        def timed_receive(data: bytes, now_ns: int) -> None:
            self.t_in = time.perf_counter_ns()
            receive(data, now_ns)

        self.venue.data_received = timed_receive  # type: ignore[method-assign]

    async def start(self) -> None:
        self.connector.start()
        deadline = time.monotonic() + 10
        while self.venue.state is not VenueState.UP:
            if time.monotonic() > deadline:
                raise RuntimeError("our session did not come up")
            await asyncio.sleep(0.01)

    def send_one(self) -> None:
        order = _order(self.next_id)
        self.next_id += 1
        self.t0 = time.perf_counter_ns()
        self.venue.send_new(order)
        self.venue.flush()
        self.t_sent = time.perf_counter_ns()

    def on_event(self, event: VenueEvent) -> None:
        if isinstance(event, VenueAccepted):
            now = time.perf_counter_ns()
            self.samples.append(now - self.t0)
            self.costs.append((self.t_sent - self.t0) + (now - self.t_in))
            self.remaining -= 1
            if self.remaining > 0:
                self.send_one()
            elif self.done is not None and not self.done.done():
                self.done.set_result(None)

    async def run(self, count: int) -> list[int]:
        self.samples = []
        self.remaining = count
        self.done = asyncio.get_running_loop().create_future()
        self.send_one()
        await asyncio.wait_for(self.done, 60)
        return self.samples


class QuickfixPath:
    """quickfix-python SocketInitiator; ping-pong driven from fromApp on QuickFIX's thread."""

    def __init__(self, port: int, work: Path) -> None:
        import quickfix

        self.fix: Any = quickfix
        dialect = load_dialect("broker-fix44")
        settings_path = work / "initiator.cfg"
        settings_path.write_text(
            "\n".join(
                [
                    "[DEFAULT]",
                    "ConnectionType=initiator",
                    "StartTime=00:00:00",
                    "EndTime=00:00:00",
                    "UseDataDictionary=Y",
                    f"DataDictionary={dictionary_path(dialect, work)}",
                    "SocketConnectHost=127.0.0.1",
                    f"SocketConnectPort={port}",
                    "HeartBtInt=30",
                    "ReconnectInterval=1",
                    "SocketNodelay=Y",
                    "[SESSION]",
                    "BeginString=FIX.4.4",
                    f"SenderCompID={THEIRS}",
                    "TargetCompID=BRKR",
                ]
            )
            + "\n"
        )
        self.session_id = quickfix.SessionID("FIX.4.4", THEIRS, "BRKR")
        self.logged_on = threading.Event()
        self.finished = threading.Event()
        self.errors = 0
        self.next_id = 1
        self.remaining = 0
        self.samples: list[int] = []
        self.costs: list[int] = []
        """Per order: ns in Python around quickfix (build + sendToTarget, then fromApp -> event)."""
        self.t0 = 0
        self.t_sent = 0
        self.events: list[VenueAccepted] = []
        path = self

        def failed() -> None:
            path.errors += 1
            path.finished.set()

        self.application = initiator_application(quickfix, path.logged_on.set, path.on_report, failed)
        self.initiator = quickfix.SocketInitiator(
            self.application,
            quickfix.MemoryStoreFactory(),
            quickfix.SessionSettings(str(settings_path)),
            quickfix.ScreenLogFactory(False, False, False),
        )

    def start(self) -> None:
        self.initiator.start()
        if not self.logged_on.wait(10):
            raise RuntimeError("quickfix initiator did not log on")

    def new_order(self) -> Any:
        fix = self.fix
        message = fix.Message()
        message.getHeader().setField(fix.MsgType("D"))
        message.setField(fix.ClOrdID(f"QF{self.next_id}"))
        message.setField(fix.Account("BRK-0001"))
        message.setField(fix.HandlInst("1"))
        message.setField(fix.ExDestination("SMART"))
        message.setField(fix.Symbol("AAPL"))
        message.setField(fix.Side(fix.Side_BUY))
        message.setField(fix.OrderQty(100))
        message.setField(fix.OrdType(fix.OrdType_LIMIT))
        message.setField(fix.Price(150.25))
        message.setField(fix.TimeInForce(fix.TimeInForce_DAY))
        message.setField(fix.TransactTime())
        message.setField(528, "A")
        message.setField(9101, "DMA")
        message.setField(9102, "strat1")
        self.next_id += 1
        return message

    def send_one(self) -> None:
        self.t0 = time.perf_counter_ns()
        self.fix.Session.sendToTarget(self.new_order(), self.session_id)
        self.t_sent = time.perf_counter_ns()

    def on_report(self, message: Any) -> None:
        t_in = time.perf_counter_ns()
        if message.getField(150) != "0":
            return
        # What an adapter built on quickfix does with the report: map it to the gateway's event.
        cl_ord_id = message.getField(11)
        event = VenueAccepted(
            0,
            int(cl_ord_id[2:]),
            message.getField(37),
            parse_qty(message.getField(38).encode()),
            parse_price(message.getField(44).encode()),
        )
        now = time.perf_counter_ns()
        self.samples.append(now - self.t0)
        self.costs.append((self.t_sent - self.t0) + (now - t_in))
        self.events.append(event)
        self.remaining -= 1
        if self.remaining > 0:
            self.send_one()
        else:
            self.finished.set()

    def run(self, count: int) -> list[int]:
        self.samples = []
        self.remaining = count
        self.finished.clear()
        self.send_one()
        if not self.finished.wait(60) or self.errors:
            raise RuntimeError(f"quickfix round did not finish ({self.errors} callback errors)")
        return self.samples

    def stop(self) -> None:
        self.initiator.stop()


def _start_acceptor(port: int, cpu: int | None) -> subprocess.Popen[str]:
    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "--log-level",
            "WARNING",
            "sim",
            "fix",
            "--listen",
            f"127.0.0.1:{port}",
            "--begin-string",
            "FIX.4.4",
            "--target",
            OURS,
            "--target",
            THEIRS,
            "--stats",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=pin,  # noqa: PLW1509  (only sets the CPU affinity of the child)
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc


def _row(label: str, stats: dict[str, float]) -> None:
    print(f"{label:36s} {stats['p50']:9.1f} {stats['p99']:9.1f} {stats['p99.9']:9.1f} {stats['max']:9.1f}")


def _ratio(label: str, slow: dict[str, float], fast: dict[str, float]) -> None:
    cells = " ".join(f"{slow[q] / fast[q]:9.2f}" for q in ("p50", "p99", "p99.9"))
    print(f"{label:36s} {cells}")


async def _main(args: argparse.Namespace) -> int:
    port = free_port()
    cpus = sorted(os.sched_getaffinity(0))
    pinned = args.pin and len(cpus) >= 2
    acceptor = _start_acceptor(port, cpus[0] if pinned else None)
    if pinned:
        # Client and acceptor on different cores: otherwise the scheduler often runs the woken
        # client on the acceptor's core, inside the acceptor's send(), and both paths pay for it.
        os.sched_setaffinity(0, {cpus[1]})
    work = Path(tempfile.mkdtemp(prefix="bench-fix-"))
    ours = OurPath(port, str(work / "store"))
    theirs = QuickfixPath(port, work)
    loop = asyncio.get_running_loop()
    try:
        await ours.start()
        await loop.run_in_executor(None, theirs.start)
        await ours.run(args.warmup)
        await loop.run_in_executor(None, theirs.run, args.warmup)
        gc.collect()
        gc.freeze()
        ours.costs.clear()
        theirs.costs.clear()
        ours_all: list[int] = []
        theirs_all: list[int] = []
        for _ in range(args.rounds):
            ours_all += await ours.run(args.per_round)
            # Wait in a worker thread so the loop stays idle (and the GIL free) during the quickfix round.
            theirs_all += await loop.run_in_executor(None, theirs.run, args.per_round)
    finally:
        await ours.connector.stop()
        await loop.run_in_executor(None, theirs.stop)
        acceptor.send_signal(signal.SIGTERM)
        out, _ = acceptor.communicate(timeout=30)
    stats = json.loads(out.strip().splitlines()[-1])["turnaround"] if out.strip() else {}
    a, b = _percentiles(ours_all), _percentiles(theirs_all)
    ca, cb = _percentiles(ours.costs), _percentiles(theirs.costs)
    placement = f"acceptor on CPU {cpus[0]}, clients on CPU {cpus[1]}" if pinned else "not pinned"
    print(
        f"FIX NOS -> ER(New) round trip, {args.rounds} alternating rounds x {args.per_round} orders, "
        f"loopback, {placement}"
    )
    print(f"{'microseconds':36s} {'p50':>9s} {'p99':>9s} {'p99.9':>9s} {'max':>9s}")
    _row("ours (FixVenue, uvloop)", a)
    _row("quickfix-python initiator", b)
    _ratio("ratio quickfix / ours", b, a)
    print("client-side work per order (in-process, excludes wire and acceptor):")
    _row("  ours", ca)
    _row("  quickfix-python (Python side)", cb)
    _ratio("  ratio quickfix / ours", cb, ca)
    print("acceptor, common to both paths (fromApp entry to last report handed to QuickFIX):")
    for name, label in ((OURS, "  turnaround, our session"), (THEIRS, "  turnaround, quickfix session")):
        key = f"FIX.4.4:BRKR->{name}"
        if key in stats:
            s = stats[key]
            print(f"{label:36s} {s['p50_us']:9.1f} {s['p99_us']:9.1f} {s['p999_us']:9.1f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--pin", action="store_true", help="pin the acceptor and the clients to different cores")
    args = parser.parse_args()
    return uvloop.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
