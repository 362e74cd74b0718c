"""The gateway's OUCH hot path in one process, without sockets: CPU cost per order, both directions.

What it measures, with the production pieces wired as ``gateway run`` wires them (``Engine``,
``StrategySession``, ``RiskEngine`` with the bench limits, ``OuchVenue`` with its UserRefNum
store, the journal as ``gateway run`` opens it by default: ``MmapJournal``, ``fsync: interval``),
only the sockets replaced by byte buffers:

* ``order path``: ``engine.link_data(frame)`` for one NewOrder frame: decode, order, journal,
  risk, OUCH encode, journal write, venue "write" (appending to a list);
* ``ack path``: ``adapter.data_received(Accepted)`` + ``engine.flush()``: SoupBinTCP/OUCH decode,
  venue event, journal, order state, OrderAccepted encode, strategy "write";
* ``batched``: the same with ``--batch`` orders per read and per venue packet, as under load (the
  median batch divided by the batch size, so a preemption by another tenant does not count):
  orders per second of one core through decode, risk, encoding and the journal (order path
  only, and both directions);
* ``FIX order round trip``: the gateway's FIX venue adapter alone (``FixVenue``, dialect
  broker-fix44, file store with ``fsync: interval`` as ``gateway bench`` configures it):
  ``send_new`` + ``flush`` (NewOrderSingle from the templates, session, store write) and then
  the venue's ExecutionReport(New) through ``data_received`` to the ``VenueAccepted`` event
  (decode, session, store, event). The reports come from the benchmark's FIX venue
  (``simulators.fix.fast_venue``), produced between the two timed halves;
* ``BOE order round trip``: the gateway's BOE venue adapter alone (``BoeVenue`` with the default
  field set): ``send_new`` + ``flush`` (New Order from the compiled packer, SequenceNumber) and then
  the venue's Order Acknowledgment through ``data_received`` (framing, session, per-unit
  exactly-once, ``ack_core``) to the ``VenueAccepted`` event. The answers come from the benchmark's
  BOE venue (``simulators.boe.fast``), produced between the two timed halves.

Two deterministic counters come with the times (noise-free, so they show a change the machine's
noise hides):

* ``calls per order``: Python and C calls the gateway's own code makes per OUCH order round trip
  (order path + ack path), counted with ``sys.setprofile`` over two run sizes
  (``benchmarks.hotpath_calls``; the bench's fake transports and its building of the venue's
  answers are not counted), on the pure-Python modules;
* ``system calls per order`` (``--syscalls``): a real ``gateway run`` doing OUCH ping-pong with
  the conformance simulator (``gateway sim ouch``'s exchange, a separate process) under
  ``strace -c -f``, two run sizes (the ``gateway bench`` counting run); every system call of the
  gateway process counts, the time-driven ones (``epoll_pwait``, the journal's fsync thread) too,
  and are also shown apart.

Socket system calls and wake-ups are not in the timed figures (``gateway bench`` measures those);
this is what the profile of the Python work looks like, and the before/after figure of each
hot-path change. The garbage collector is frozen after set-up, young collections stay on, as in
``gateway run``.

Run: ``.venv/bin/python benchmarks/bench_hotpath.py [--orders 20000] [--batch 64] [--profile] [--json]
[--no-count] [--syscalls [--spin-us US]]``
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# the harness (runner, wires) imports numpy: one OpenBLAS thread, or its idle workers steal the other core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from benchmarks.harness.plan import ACCOUNT, QTY, SYMBOL, price_of, side_of
from benchmarks.harness.runner import bench_limits
from gateway.config import MemoryConfig
from gateway.engine import Engine
from gateway.entitlements import Entitlements, PeerCredentials, StrategyEntitlement
from gateway.journal import open_journal
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import PROTOCOL_VERSION, REQ_SEQ_VERSION, Hello, NewOrder
from gateway.strategy_session import StrategySession
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from model.order import Order
from model.venue_events import VenueAccepted, VenueEvent
from obs import native
from risk.engine import RiskEngine
from simulators.boe.fast import FastBoeCore
from simulators.fix.fast_venue import FastFixVenue
from venues.boe.adapter import BoeVenue
from venues.boe.config import BoeVenueConfig
from venues.fix.adapter import FixVenue
from venues.fix.codec import FrameDecoder
from venues.fix.config import FixVenueConfig, build_fix_venue
from venues.ouch.adapter import OuchVenue
from venues.ouch.codec import encode_message
from venues.ouch.config import OuchVenueConfig
from venues.ouch.messages import OrderAccepted
from venues.ouch.soupbin import encode_login_accepted, encode_packet, encode_sequenced

SIDES = {"B": Side.BUY, "S": Side.SELL}


class Link:
    """A strategy connection whose transport is a list of written buffers."""

    def __init__(self, now_ns: int) -> None:
        self.session = StrategySession(now_ns)
        self.strategy = None
        self.peer = PeerCredentials(os.getpid(), os.getuid(), os.getgid())
        self.written = 0
        self.output_full = False  # never back-pressured: what it is written counts as read at once

    def write_buffer_size(self) -> int:
        return 0

    def write_out(self, data: bytearray) -> None:
        self.written += len(data)

    def read_rest_soon(self) -> bool:
        """Take a long read all at once (no event loop to come back on)."""
        return False

    def close_transport(self, *, drop_unread: bool = False) -> None:
        raise AssertionError("the session closed")


class Rig:
    """Engine + risk + OUCH adapter + journal, logged in, one strategy connected."""

    def __init__(
        self, workdir: Path, version: int = PROTOCOL_VERSION, clock: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self.clock = clock
        """The clock every part of the rig reads (``hotpath_calls`` gives it a counting one)."""
        self.workdir = workdir
        self.risk = RiskEngine.load(bench_limits(workdir / "risk"), clock=clock, audit_log_path=workdir / "audit")
        self.venue = OuchVenue(
            OuchVenueConfig(
                name="OUCH", host="127.0.0.1", port=1, username="USER", password="PASS", state_dir=str(workdir / "ouch")
            ),
            clock,
        )
        self.engine = Engine(
            risk=self.risk,
            venues=[self.venue],
            entitlements=Entitlements({"bench": StrategyEntitlement(accounts=[ACCOUNT], uids=[os.getuid()])}),
            clock=clock,
            journal=open_journal(workdir / "journal", fsync=FsyncPolicy.INTERVAL),
            released_ids_capacity=MemoryConfig().released_ids_capacity,  # as gateway run allocates it
        )
        self.wire: list[bytes] = []
        self.venue.attach(self._venue_write, lambda: None)
        self.venue.connection_made(clock())
        # a first login of the day reads the replay (none here) before it sends: a Server Heartbeat ends it
        self.venue.data_received(encode_login_accepted("BENCH", 1) + encode_packet(b"H"), clock())
        assert self.venue.state.value == "UP", self.venue.state
        self.link = Link(clock())
        self.engine.link_opened(self.link)  # type: ignore[arg-type]
        self.engine.link_data(self.link, encode_frame(Hello("bench", version, 0, 60_000)), clock())  # type: ignore[arg-type]
        self.numbered = version >= REQ_SEQ_VERSION
        self.req_seq = 0
        """The last request number given (protocol version 3: frames are numbered in the order they are made)."""
        self.seq = 1
        self.orn = 100_000_000

    def close(self) -> None:
        """Close the journal (its syncer stops, the preallocated 64 MiB are cut) and remove the work directory."""
        try:
            self.engine.journal.close()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _venue_write(self, data: bytes | bytearray) -> None:
        self.wire.append(bytes(data))

    def _number(self) -> int:
        if not self.numbered:
            return 0
        self.req_seq += 1
        return self.req_seq

    def frames(self, start: int, count: int) -> bytes:
        """Return ``count`` NewOrder frames back to back (numbered in order: send them as made)."""
        return b"".join(
            encode_frame(
                NewOrder(
                    f"c{i}",
                    ACCOUNT,
                    "OUCH",
                    SYMBOL,
                    SIDES[side_of(i)],
                    QTY,
                    price_of(i),
                    TimeInForce.DAY,
                    OrderType.LIMIT,
                    i,
                    self._number(),
                )
            )
            for i in range(start, start + count)
        )

    def ping_pong(self, start: int, stop: int, per_read: int) -> None:
        """Send orders ``start`` .. ``stop - 1``, ``per_read`` per strategy read, each read answered by the venue."""
        clock, engine, link, venue = self.clock, self.engine, self.link, self.venue
        for first in range(start, stop, per_read):
            engine.link_data(link, self.frames(first, per_read), clock())  # type: ignore[arg-type]
            venue.data_received(self.accepted_for_wire(), clock())
            engine.flush()

    def accepted_for_wire(self) -> bytes:
        """Return Sequenced Data packets accepting every Enter Order written since the last call."""
        out = []
        for data in self.wire:
            pos = 0
            while pos < len(data):
                length = int.from_bytes(data[pos : pos + 2], "big")
                packet = data[pos + 2 : pos + 2 + length]
                pos += 2 + length
                if packet[:2] != b"UO":
                    continue
                urn = int.from_bytes(packet[2:6], "big")
                side = chr(packet[6])
                price = int.from_bytes(packet[19:27], "big")
                self.orn += 1
                message = OrderAccepted(
                    34_200_000_000_000,
                    urn,
                    side,
                    QTY,
                    SYMBOL,
                    price,
                    "0",
                    "Y",
                    self.orn,
                    "A",
                    "N",
                    "N",
                    "L",
                    packet[30:44].decode().strip(),
                )
                out.append(encode_sequenced(encode_message(message)))
        self.wire.clear()
        return b"".join(out)


def _summary(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    n = len(ordered)
    return {
        "count": n,
        "median": statistics.median(ordered) / 1000,
        "p90": ordered[int(n * 0.9)] / 1000,
        "p99": ordered[int(n * 0.99)] / 1000,
        "p99.9": ordered[int(n * 0.999)] / 1000,
        "max": ordered[-1] / 1000,
        "mean": statistics.fmean(ordered) / 1000,
    }


def run_fix(orders: int, workdir: Path) -> dict[str, dict[str, float]]:
    """Time the FIX adapter's order round trip in one process (the venue's work is not timed)."""
    clock = time.monotonic_ns
    perf = time.perf_counter_ns
    config = FixVenueConfig(
        name="FIXV",
        host="127.0.0.1",
        port=1,
        dialect="broker-fix44",
        store_dir=str(workdir / "fix"),
        fsync=FsyncPolicy.INTERVAL,
        fsync_interval_ms=10,
    )
    adapter = build_fix_venue(config, clock)
    events: list[VenueEvent] = []
    adapter.event_sink = events.append
    wire = bytearray()
    adapter.attach(wire.extend, lambda: None)
    venue = FastFixVenue(
        adapter.dialect,
        sender_comp_id=adapter.dialect.target_comp_id,
        targets=(adapter.dialect.sender_comp_id,),
        clock=clock,
        wall_offset_ns=adapter.session.wall_offset_ns,
    )
    connection = venue.connect()
    adapter.connection_made(clock())
    answer = connection.receive(bytes(wire), clock())
    wire.clear()
    adapter.data_received(answer, clock())
    adapter.flush()
    assert adapter.state.value == "UP", adapter.state

    def order(order_id: int) -> Order:
        o = Order(
            order_id, "bench", f"c{order_id}", "ACC1", "FIXV", SYMBOL, SIDES[side_of(order_id)], QTY,
            price_of(order_id), TimeInForce.DAY, OrderType.LIMIT,
        )  # fmt: skip
        o.leaves_qty = QTY
        return o

    def one(order_id: int) -> tuple[int, int]:
        new = order(order_id)
        t0 = perf()
        adapter.send_new(new)
        adapter.flush()
        t1 = perf()
        report = connection.receive(bytes(wire), clock())
        wire.clear()
        t2 = perf()
        adapter.data_received(report, clock())
        adapter.flush()
        t3 = perf()
        return t1 - t0, t3 - t2

    for i in range(2_000):
        one(i + 1)
    gc.collect()
    gc.freeze()
    out: list[int] = []
    ins: list[int] = []
    both: list[int] = []
    events.clear()
    for i in range(orders):
        a, b = one(10_000 + i)
        out.append(a)
        ins.append(b)
        both.append(a + b)
    accepted = sum(1 for e in events if isinstance(e, VenueAccepted))
    assert accepted == orders, (accepted, orders)
    # the same pieces on their own, same process, right after: where the round trip goes
    store = adapter.session.store
    templates = adapter.templates
    sample = order(1)
    stamp = adapter.session.sending_time(clock())
    report = connection.receive(_nos(adapter, sample), clock())
    parts: dict[str, list[int]] = {"encode": [], "store_sent": [], "decode": [], "store_target": []}
    seq = store.next_sender_seq
    target = store.next_target_seq
    for _ in range(min(orders, 5_000)):
        t0 = perf()
        raw = templates.new_order(seq, stamp, b"B1", sample)
        t1 = perf()
        store.save_sent(seq, raw)
        t2 = perf()
        FrameDecoder().feed(report)
        t3 = perf()
        store.set_next_target_seq(target)
        t4 = perf()
        seq += 1
        target += 1
        for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            parts[key].append(value)
    store.close()
    return {
        "fix_round_trip": _summary(both),
        "fix_new_order": _summary(out),
        "fix_report": _summary(ins),
        "fix_parts_median_us": {key: statistics.median(values) / 1000 for key, values in parts.items()},
    }


def run_boe(orders: int, workdir: Path) -> dict[str, dict[str, float]]:
    """Time the BOE adapter's order round trip in one process (the venue's work is not timed)."""
    clock = time.monotonic_ns
    perf = time.perf_counter_ns
    config = BoeVenueConfig(
        name="BOE",
        host="127.0.0.1",
        port=1,
        session_sub_id="0001",
        username="USER",
        password="PASS",
        state_dir=str(workdir / "boe"),
    )
    adapter = BoeVenue(config, clock)
    events: list[VenueEvent] = []
    adapter.event_sink = events.append
    wire = bytearray()
    adapter.attach(wire.extend, lambda: None)
    connection = FastBoeCore().connect()
    adapter.connection_made(clock())
    answer = connection.receive(bytes(wire), clock())
    wire.clear()
    adapter.data_received(bytes(answer), clock())
    adapter.flush()
    assert adapter.state.value == "UP", adapter.state

    def order(order_id: int) -> Order:
        o = Order(
            order_id, "bench", f"c{order_id}", "ACC1", "BOE", SYMBOL, SIDES[side_of(order_id)], QTY,
            price_of(order_id), TimeInForce.DAY, OrderType.LIMIT,
        )  # fmt: skip
        o.leaves_qty = QTY
        return o

    def one(order_id: int) -> tuple[int, int]:
        new = order(order_id)
        t0 = perf()
        adapter.send_new(new)
        adapter.flush()
        t1 = perf()
        ack = bytes(connection.receive(bytes(wire), clock()))
        wire.clear()
        t2 = perf()
        adapter.data_received(ack, clock())
        adapter.flush()
        t3 = perf()
        return t1 - t0, t3 - t2

    for i in range(2_000):
        one(i + 1)
    gc.collect()
    gc.freeze()
    out: list[int] = []
    ins: list[int] = []
    both: list[int] = []
    events.clear()
    for i in range(orders):
        a, b = one(10_000 + i)
        out.append(a)
        ins.append(b)
        both.append(a + b)
    gc.unfreeze()
    accepted = sum(1 for e in events if isinstance(e, VenueAccepted))
    assert accepted == orders, (accepted, orders)
    return {"boe_round_trip": _summary(both), "boe_new_order": _summary(out), "boe_ack": _summary(ins)}


def _nos(adapter: FixVenue, order: Order) -> bytes:
    """Return a NewOrderSingle for ``order`` as the adapter would send it next (for producing one report)."""
    session = adapter.session
    return adapter.templates.new_order(session.next_sender_seq, session.sending_time(time.monotonic_ns()), b"B1", order)


def count_syscalls(n1: int = 2_000, n2: int = 6_000, spin_us: int | None = None) -> dict[str, object]:
    """System calls of a real gateway process per OUCH ping-pong order (strace; see the module docstring).

    ``spin_us`` None: kernel mode, no spin (the ``gw-kernel`` path); otherwise the ``gw-spin`` path with
    that loop spin budget (-1: always) and ``SO_BUSY_POLL`` 50 µs.
    """
    from benchmarks.harness.counters import time_driven
    from benchmarks.harness.runner import Placement, default_paths, run_counting, spins

    name = "gw-kernel" if spin_us is None else "gw-spin"
    path = next(p for p in default_paths(-1 if spin_us is None else spin_us) if p.name == name)
    placement = Placement(ouch_venue="full", journal_fsync="interval")
    workdir = Path(tempfile.mkdtemp(prefix="gwsys", dir="/tmp"))
    runs = []
    try:
        for orders in (n1, n2):
            _calls, syscalls, note = run_counting(
                path, orders, workdir / str(orders), placement, log=lambda _line: None
            )
            if syscalls is None:
                return {"note": note}
            runs.append(syscalls)
    finally:  # journals preallocate 64 MiB: never leave them in /tmp
        shutil.rmtree(workdir, ignore_errors=True)
    per_order = {
        name: round((runs[1].get(name, 0) - runs[0].get(name, 0)) / (n2 - n1), 3)
        for name in set(runs[0]) | set(runs[1])
    }
    per_order = {k: v for k, v in sorted(per_order.items(), key=lambda kv: -kv[1]) if abs(v) >= 0.01}
    return {
        "orders": [n1, n2],
        "mode": path.label,
        "total": round(sum(per_order.values()), 2),
        "not_time_driven": round(sum(v for k, v in per_order.items() if k not in time_driven(spins(path))), 2),
        "by_name": per_order,
    }


def run(
    orders: int, batch: int, profile: bool, *, as_json: bool = False, version: int = PROTOCOL_VERSION
) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="gwhot", dir="/tmp"))
    try:
        rig = Rig(workdir, version)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    thresholds = gc.get_threshold()  # restored at the end: a caller in the same process (a test) keeps its own
    try:
        clock = time.monotonic_ns
        perf = time.perf_counter_ns
        engine = rig.engine
        link = rig.link
        venue = rig.venue
        rig.ping_pong(0, 2_000, 50)  # warm-up
        gc.collect()
        gc.freeze()
        gc.set_threshold(700, 10, 2**31 - 1)  # gateway run's default policy: young collections, no full ones
        base = 1_000_000
        single_frames = [rig.frames(base + i, 1) for i in range(orders)]
        order_ns: list[int] = []
        ack_ns: list[int] = []
        pauses: dict[int, list[int]] = {0: [], 1: [], 2: []}
        started = [0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = perf()
            else:
                pauses[info["generation"]].append(perf() - started[0])

        gc.callbacks.append(on_gc)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        for i in range(orders):
            t0 = perf()
            engine.link_data(link, single_frames[i], clock())  # type: ignore[arg-type]
            t1 = perf()
            acks = rig.accepted_for_wire()
            t2 = perf()
            venue.data_received(acks, clock())
            engine.flush()
            t3 = perf()
            order_ns.append(t1 - t0)
            ack_ns.append(t3 - t2)
        batch_frames = [rig.frames(base * 2 + i, batch) for i in range(0, orders, batch)]
        batch_times: list[int] = []
        order_times: list[int] = []
        done = 0
        for frames in batch_frames:
            t0 = perf()
            engine.link_data(link, frames, clock())  # type: ignore[arg-type]
            t1 = perf()
            acks = rig.accepted_for_wire()
            t2 = perf()
            venue.data_received(acks, clock())
            engine.flush()
            t3 = perf()
            order_times.append(t1 - t0)
            batch_times.append((t1 - t0) + (t3 - t2))
            done += batch
        if profiler:
            profiler.disable()
        gc.callbacks.remove(on_gc)
        counters = engine.counters
        assert counters.rejected_risk == 0 and counters.rejected_gateway == 0, counters
        gc.unfreeze()
        fix = run_fix(orders, workdir)
        boe = run_boe(orders, workdir)
    finally:  # the journal (its syncer stops) and the directory, FIX and BOE files too: 64 MiB each, never left
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        rig.close()
    result: dict[str, object] = {
        "python": sys.version.split()[0],
        "orders": orders,
        "batch": batch,
        "order_path": _summary(order_ns),
        "ack_path": _summary(ack_ns),
        "batched_order_path_us": statistics.median(order_times) / batch / 1000,
        "batched_both_us": statistics.median(batch_times) / batch / 1000,
        "batched_both_mean_us": sum(batch_times) / done / 1000,
        "gc_collections": {str(g): len(p) for g, p in pauses.items()},
        "gc_max_pause_us": {str(g): (max(p) / 1000 if p else 0.0) for g, p in pauses.items()},
        **fix,
        **boe,
    }
    if as_json:
        return result
    print(f"python {sys.version.split()[0]}; {orders} orders one per read; then {done} in reads of {batch}")
    for name, key in (
        ("order path (link_data, 1 order)", "order_path"),
        ("ack path (venue data + flush, 1 ack)", "ack_path"),
        ("FIX order round trip (adapter)", "fix_round_trip"),
        ("  FIX NewOrderSingle out", "fix_new_order"),
        ("  FIX ExecutionReport in", "fix_report"),
        ("BOE order round trip (adapter)", "boe_round_trip"),
        ("  BOE New Order out", "boe_new_order"),
        ("  BOE Order Acknowledgment in", "boe_ack"),
    ):
        st = result[key]
        assert isinstance(st, dict)
        print(
            f"{name:<36} median {st['median']:6.2f} us  p90 {st['p90']:6.2f}  p99 {st['p99']:6.2f}"
            f"  p99.9 {st['p99.9']:7.2f}  max {st['max']:8.1f}  mean {st['mean']:6.2f}"
        )
    per_order = statistics.median(order_times) / batch
    rate = 1e9 / per_order
    print(f"{'batched, order path only':<40} {per_order / 1000:6.2f} us per order = {rate:,.0f} orders/s on one core")
    per_order = statistics.median(batch_times) / batch
    rate = 1e9 / per_order
    print(f"{'batched, both directions':<40} {per_order / 1000:6.2f} us per order = {rate:,.0f} orders/s on one core")
    collections = ", ".join(
        f"generation {g}: {len(p)} (max {max(p) / 1000:.0f} us)" if p else f"generation {g}: 0"
        for g, p in pauses.items()
    )
    print(f"{'automatic garbage collections':<40} {collections}")
    parts = result["fix_parts_median_us"]
    assert isinstance(parts, dict)
    print("FIX pieces, median us: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(30)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--profile", action="store_true", help="print the cProfile of the measured part (slower)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--no-count", action="store_true", help="skip the calls-per-order count")
    parser.add_argument("--syscalls", action="store_true", help="count system calls per order (strace, ~30 s)")
    parser.add_argument(
        "--spin-us",
        type=int,
        default=None,
        help="with --syscalls: count them with the loop spinning this long after activity (-1: always)",
    )
    parser.add_argument(
        "--protocol-version",
        type=int,
        default=PROTOCOL_VERSION,
        help=f"the strategy session's version (default {PROTOCOL_VERSION}; 2: requests without req_seq)",
    )
    args = parser.parse_args()
    result = run(
        args.orders, args.batch, args.profile and not args.json, as_json=args.json, version=args.protocol_version
    )
    if not args.no_count:  # benchmarks.hotpath_calls imports this module's rig: run it as a program
        env = {**os.environ, "GATEWAY_PURE_PYTHON": "1"}
        counted = subprocess.run(
            [sys.executable, "-m", "benchmarks.hotpath_calls", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        calls = json.loads(counted.stdout)
        result["calls_per_order"] = {k: calls[k] for k in ("calls", "python_calls", "c_calls", "orders")}
        if not args.json:
            print(
                f"{'calls per order round trip':<40} {calls['calls']:.1f} ({calls['python_calls']:.1f} Python + "
                f"{calls['c_calls']:.1f} C; gateway code only, pure Python, marginal over {calls['orders']} orders)"
            )
        if native.active():  # this process runs compiled: what the profiler still sees of it (not comparable)
            visible = json.loads(
                subprocess.run(
                    [sys.executable, "-m", "benchmarks.hotpath_calls", "--json", "--here"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            result["calls_visible_compiled"] = {k: visible[k] for k in ("calls", "python_calls", "c_calls")}
            if not args.json:
                print(
                    f"{'calls visible to the profiler, compiled':<40} {visible['calls']:.1f} "
                    f"({visible['python_calls']:.1f} Python + {visible['c_calls']:.1f} C; not comparable: compiled "
                    "functions are invisible to it)"
                )
    if args.syscalls:
        syscalls = count_syscalls(spin_us=args.spin_us)
        result["syscalls_per_order"] = syscalls
        if not args.json:
            if "by_name" not in syscalls:
                print(f"{'system calls per order':<40} not counted: {syscalls['note']}")
            else:
                names = ", ".join(f"{k} {v:g}" for k, v in syscalls["by_name"].items())  # type: ignore[attr-defined]
                print(
                    f"{'system calls per order':<40} {syscalls['total']} ({names}; "
                    f"{syscalls['not_time_driven']} without the time-driven ones; gateway run + gateway sim ouch; "
                    f"{syscalls['mode']})"
                )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
