"""The FIX adapter's cost per fill report in one process: ExecutionReport bytes in -> ``VenueExecuted``.

``benchmarks/bench_hotpath.py`` times an order's acknowledgement (ExecType 0); this times fills (the adapter
only: a copy's ExecID is the core's to check since fills30, docs/venues/fix.md, "Repeated fills"). Each order is
sent (``send_new`` + ``flush``, not timed), then ``--fills`` fill reports of it arrive one by one, each timed as
``data_received`` + ``flush`` (decode, session, store, mapping, event). A/B against another tree:
``PYTHONPATH=<tree> .venv/bin/python benchmarks/bench_fix_fills.py`` (the imports come from ``<tree>``).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from model.order import Order
from model.venue_events import VenueEvent, VenueExecuted
from simulators.fix.fast_venue import FastFixVenue
from venues.fix.codec import UtcTimestamps, build_message
from venues.fix.config import FixVenueConfig, build_fix_venue


def run(orders: int, fills: int, workdir: Path) -> dict[str, float]:
    """Return the median and p99 ns per fill report, and the collections during the timed part."""
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
    dialect = adapter.dialect
    venue = FastFixVenue(
        dialect,
        sender_comp_id=dialect.target_comp_id,
        targets=(dialect.sender_comp_id,),
        clock=clock,
        wall_offset_ns=adapter.session.wall_offset_ns,
    )
    connection = venue.connect()
    adapter.connection_made(clock())
    adapter.data_received(connection.receive(bytes(wire), clock()), clock())
    wire.clear()
    adapter.flush()
    assert adapter.state.value == "UP", adapter.state
    stamp = UtcTimestamps().format(clock() + adapter.session.wall_offset_ns)
    begin = dialect.begin_bytes
    sender = dialect.target_comp_id.encode()
    target = dialect.sender_comp_id.encode()
    qty = 100 * fills

    def report(seq: int, ref: bytes, exec_id: bytes, cum: int) -> bytes:
        status = b"2" if cum == qty else b"1"
        body = [
            (b"37", b"OID1"),
            (b"11", ref),
            (b"17", exec_id),
            (b"150", b"F"),
            (b"39", status),
            (b"55", b"AAPL"),
            (b"54", b"1"),
            (b"38", b"%d" % qty),
            (b"44", b"150.25"),
            (b"151", b"%d" % (qty - cum)),
            (b"14", b"%d" % cum),
            (b"6", b"150.25"),
            (b"32", b"100"),
            (b"31", b"150.25"),
            (b"851", b"1"),  # LastLiquidityInd: added
            (b"9102", b"bench"),  # the broker's echo of the strategy id (a tag the dialect requires)
        ]
        return build_message(begin, b"8", sender=sender, target=target, seq=seq, sending_time=stamp, body_fields=body)

    def one(order_id: int, timed: list[int]) -> None:
        order = Order(order_id, "bench", f"c{order_id}", "ACC1", "FIXV", "AAPL", Side.BUY, qty, 1_502_500,
                      TimeInForce.DAY, OrderType.LIMIT)  # fmt: skip
        order.leaves_qty = qty
        adapter.send_new(order)
        adapter.flush()
        wire.clear()
        ref = b"%b%d" % (dialect.orders.cl_ord_id_prefix.encode(), order_id)
        raws = [report(adapter.session.next_target_seq + i, ref, b"X%d-%d" % (order_id, i), 100 * (i + 1))
                for i in range(fills)]  # fmt: skip
        for raw in raws:
            t0 = perf()
            adapter.data_received(raw, clock())
            adapter.flush()
            timed.append(perf() - t0)

    warm: list[int] = []
    for i in range(1_000):
        one(i + 1, warm)
    gc.collect()
    gc.freeze()
    collections = 0

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        nonlocal collections
        collections += phase == "start"

    gc.callbacks.append(on_gc)
    timed: list[int] = []
    events.clear()
    for i in range(orders):
        one(10_000 + i, timed)
    gc.callbacks.remove(on_gc)
    executed = sum(1 for e in events if isinstance(e, VenueExecuted))
    assert executed == orders * fills, (executed, orders * fills)
    assert adapter.status()["open_orders"] == 0
    adapter.session.store.close()
    timed.sort()
    return {
        "fill_median_us": statistics.median(timed) / 1000,
        "fill_p99_us": timed[int(len(timed) * 0.99)] / 1000,
        "gc_collections": collections,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--fills", type=int, default=1, help="fill reports per order (1: one full fill)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gwfills", dir="/tmp") as work:
        print(json.dumps(run(args.orders, args.fills, Path(work))))


if __name__ == "__main__":
    main()
