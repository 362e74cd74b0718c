"""Cost of recording one order's stage latencies: the old ring, the histograms, and the hdrhistogram package.

The order path makes one call per order before the venue write (``add``: the marks) and one per
batch after it (``wire``: the write time). Three ways to keep the eight order stages:

* ``ring``: the ring buffer the gateway kept until issue 13 (copied below as it was): ``add``
  stores five marks into an ``array('q')`` row, ``wire`` stores the write time into each row of
  the batch; percentiles meant sorting the ring on the event loop (tens of ms per status call);
* ``histograms``: ``gateway.latency.StageLatencies``: ``add`` appends the five marks to a list,
  ``wire`` counts each order in eight log-linear histograms (list lookup for the bucket index,
  bytearray increment with a carry into int64 counts);
* ``hdrhistogram``: the ``hdrhistogram`` package (bench extra), one ``HdrHistogram`` per stage,
  ``record_value`` per stage and order, same add/wire split.

Two shapes: one order per batch (ping-pong: ``add`` and ``wire`` per order) and 60 orders per
batch (a 4 KiB read slice full of NewOrders). Figures are CPU time per order (``thread_time_ns``,
the best of ``--repeat`` runs of ``--orders`` orders: this machine is shared, the minimum is the
cost without interference), the empty loop subtracted.

Run: ``.venv/bin/python benchmarks/bench_latency_record.py [--orders 20000] [--repeat 25]``
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from array import array
from collections.abc import Callable
from typing import Protocol

from gateway.latency import StageLatencies


class OrderRing:
    """The ring as it was before issue 13 (gateway/latency.py at 2b4e561): six int64 marks per order."""

    __slots__ = ("_open", "capacity", "count", "rows")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rows = array("q", bytes(8 * 6 * capacity))
        self.count = 0
        self._open = 0

    def add(self, t_in: int, t_decoded: int, t_checked: int, t_risk: int, t_encoded: int) -> None:
        """Store one order's marks up to its encoding."""
        rows = self.rows
        base = (self.count % self.capacity) * 6
        rows[base] = t_in
        rows[base + 1] = t_decoded
        rows[base + 2] = t_checked
        rows[base + 3] = t_risk
        rows[base + 4] = t_encoded
        self.count += 1

    def wire(self, t_wire: int) -> None:
        """Set the write time of every order added since the previous call."""
        rows = self.rows
        capacity = self.capacity
        for k in range(self._open, self.count):
            rows[(k % capacity) * 6 + 5] = t_wire
        self._open = self.count


class HdrStages:
    """Eight ``hdrh.histogram.HdrHistogram`` (1 ns .. 68.7 s, two significant digits)."""

    def __init__(self) -> None:
        from hdrh.histogram import HdrHistogram

        self.h = [HdrHistogram(1, 1 << 36, 2) for _ in range(8)]
        self.pending: list[int] = []

    def add(self, t_in: int, t_decoded: int, t_checked: int, t_risk: int, t_encoded: int) -> None:
        """Count the five stages known before the write; keep three marks for ``wire``."""
        h = self.h
        h[0].record_value(t_decoded - t_in)
        h[1].record_value(t_checked - t_decoded)
        h[2].record_value(t_risk - t_checked)
        h[3].record_value(t_encoded - t_risk)
        h[4].record_value(t_risk - t_in)
        self.pending += (t_in, t_risk, t_encoded)

    def wire(self, t_wire: int) -> None:
        """Count the three stages that end at the write."""
        h = self.h
        p = self.pending
        for k in range(0, len(p), 3):
            h[5].record_value(t_wire - p[k])
            h[6].record_value(t_wire - p[k + 1])
            h[7].record_value(t_wire - p[k + 2])
        p.clear()


class Recorder(Protocol):
    """What the engine calls."""

    def add(self, t_in: int, t_decoded: int, t_checked: int, t_risk: int, t_encoded: int) -> None: ...

    def wire(self, t_wire: int) -> None: ...


def marks(n: int, batch: int) -> list[tuple[int, int, int, int, int, int]]:
    """Return ``n`` orders' marks (t_in, decoded, checked, risk, encoded, wire), ``batch`` orders per read.

    Stage sizes as on an unloaded gateway (µs, varied); the orders of one read share the read's
    ``t_in`` and ``t_decoded`` and the batch's write time, as in the engine.
    """
    out = []
    t = 1_000_000_000_000
    for start in range(0, n, batch):
        t += 20_000 + (start * 7919) % 10_000
        decoded = t + 1_000 + (start * 31) % 2_000 + 300 * batch
        mark = decoded
        rows = []
        for i in range(start, min(start + batch, n)):
            checked = mark + 2_000 + (i * 17) % 3_000
            risk = checked + 5_000 + (i * 13) % 4_000
            mark = encoded = risk + 1_500 + (i * 11) % 1_000
            rows.append((t, decoded, checked, risk, encoded))
        wire = mark + 15_000 + (start * 101) % 20_000
        out += [(*row, wire) for row in rows]
    return out


def run(recorder: Recorder, data: list[tuple[int, int, int, int, int, int]], batch: int, wire: bool) -> int:
    """Feed every order (``wire`` per ``batch``); return the CPU ns taken."""
    add = recorder.add
    write = recorder.wire
    started = time.thread_time_ns()
    if batch == 1:
        for t_in, t_dec, t_chk, t_risk, t_enc, t_wire in data:
            add(t_in, t_dec, t_chk, t_risk, t_enc)
            if wire:
                write(t_wire)
    else:
        for start in range(0, len(data), batch):
            chunk = data[start : start + batch]
            for t_in, t_dec, t_chk, t_risk, t_enc, _ in chunk:
                add(t_in, t_dec, t_chk, t_risk, t_enc)
            if wire:
                write(chunk[-1][5])
    elapsed = time.thread_time_ns() - started
    if not wire:
        write(data[-1][5])  # drain what add kept
    return elapsed


def empty_loop(data: list[tuple[int, int, int, int, int, int]]) -> int:
    """Return the CPU ns of the loop alone (unpacking, no call)."""
    started = time.thread_time_ns()
    for _t_in, _t_dec, _t_chk, _t_risk, _t_enc, _t_wire in data:
        pass
    return time.thread_time_ns() - started


def main(argv: list[str] | None = None) -> int:
    """Print ns per order for each recorder, shape and part."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--no-hdr", action="store_true", help="skip the hdrhistogram package (slow)")
    args = parser.parse_args(argv)
    data = {batch: marks(args.orders, batch) for batch in (1, 60)}
    recorders: dict[str, Callable[[], Recorder]] = {
        "ring": lambda: OrderRing(1 << 18),
        "histograms": lambda: StageLatencies().orders,
    }
    if not args.no_hdr:
        try:
            HdrStages()
            recorders["hdrhistogram"] = HdrStages
        except ImportError:
            print("hdrhistogram not installed (pip install '.[bench]'): skipped", file=sys.stderr)
    gc.collect()
    gc.freeze()
    best: dict[tuple[str, int, bool], int] = {}
    empty = min(empty_loop(data[1]) for _ in range(args.repeat))
    for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits every recorder alike
        for name, make in recorders.items():
            for batch in (1, 60):
                for wire in (False, True):
                    key = (name, batch, wire)
                    took = run(make(), data[batch], batch, wire)
                    best[key] = min(best.get(key, took), took)
    n = args.orders
    print(f"ns per order (CPU, best of {args.repeat} x {n} orders, loop overhead of {empty / n:.0f} ns subtracted)")
    print(f"{'recorder':<14} {'add, 1/batch':>13} {'add+wire, 1':>12} {'add, 60':>9} {'add+wire, 60':>13}")
    for name in recorders:
        cells = [(best[(name, batch, wire)] - empty) / n for batch in (1, 60) for wire in (False, True)]
        print(f"{name:<14} {cells[0]:>13.0f} {cells[1]:>12.0f} {cells[2]:>9.0f} {cells[3]:>13.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
