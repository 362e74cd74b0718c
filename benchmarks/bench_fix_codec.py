"""FIX codec microbenchmark: NewOrderSingle encode and ExecutionReport decode, per call, in microseconds.

What is measured (each call timed on its own with perf_counter_ns, so ~0.05 us of timer
overhead is included in every figure):

- ``nos.template``      OrderTemplates.new_order: the precompiled template alone (bytes out).
- ``nos.send_new``      FixVenue.send_new on a logged-on session: ClOrdID, template, store
                        write (memory store; and file store without fsync), queued for flush.
- ``er.decode``         FrameDecoder.feed of one ExecutionReport (framing, checksum, fields).
- ``er.to_event``       FixVenue.data_received of one fill ExecutionReport up to the
                        VenueExecuted handed to the event sink (decode, session checks,
                        mapping, incoming sequence number stored).
- ``quickfix.*``        the same two jobs done with quickfix-python (field-by-field Message
                        build + toString; Message(string, DataDictionary) parse), for scale.

Run: ``.venv/bin/python benchmarks/bench_fix_codec.py [--count N]``. The machine is shared and
noisy: compare rows of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from model.clock import FakeClock
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from model.order import Order
from venues.fix.adapter import FixVenue
from venues.fix.codec import FrameDecoder, build_message
from venues.fix.config import FixVenueConfig, session_config
from venues.fix.dialect import load_dialect
from venues.fix.store import FileStore, MemoryStore, MessageStore
from venues.fix.templates import OrderTemplates

STAMP = b"20240102-10:00:00.000"
T = TypeVar("T")


def _order(i: int) -> Order:
    order = Order(
        i,
        "strat1",
        f"C{i}",
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


def _percentiles(samples: list[int]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    n = len(ordered)
    return (
        ordered[n // 2] / 1000,
        ordered[min(int(n * 0.99), n - 1)] / 1000,
        ordered[min(int(n * 0.999), n - 1)] / 1000,
    )


def _time_each(inputs: Sequence[T], call: Callable[[T], object]) -> list[int]:
    """Time ``call`` once per input, each call on its own."""
    clock = time.perf_counter_ns
    samples = []
    for arg in inputs:
        t0 = clock()
        call(arg)
        samples.append(clock() - t0)
    return samples


def _venue(store: MessageStore) -> tuple[FixVenue, FakeClock]:
    dialect = load_dialect("broker-fix44")
    config = FixVenueConfig(name="BENCH", host="127.0.0.1", port=1, dialect="broker-fix44")
    clock = FakeClock()
    venue = FixVenue(
        "BENCH", dialect, session_config(config, dialect), store, clock, wall_offset_ns=1_704_189_600 * 10**9
    )
    venue.attach(lambda data: None, lambda: None)
    venue.event_sink = lambda event: None
    venue.connection_made(clock())
    logon = build_message(
        b"FIX.4.4",
        b"A",
        sender=b"BRKR",
        target=b"GATEWAY",
        seq=1,
        sending_time=STAMP,
        body_fields=[(b"98", b"0"), (b"108", b"30")],
    )
    venue.data_received(logon, clock())
    return venue, clock


def _fill(seq: int, order_id: int) -> bytes:
    body = [
        (b"37", b"OID1"),
        (b"17", b"X%d" % seq),
        (b"11", b"B%d" % order_id),
        (b"150", b"F"),
        (b"39", b"1"),
        (b"55", b"AAPL"),
        (b"54", b"1"),
        (b"38", b"100"),
        (b"40", b"2"),
        (b"44", b"150.25"),
        (b"32", b"1"),
        (b"31", b"150.25"),
        (b"851", b"2"),
        (b"151", b"99"),
        (b"14", b"1"),
        (b"6", b"150.25"),
        (b"60", STAMP),
        (b"9102", b"strat1"),
    ]
    return build_message(
        b"FIX.4.4", b"8", sender=b"BRKR", target=b"GATEWAY", seq=seq, sending_time=STAMP, body_fields=body
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    count = args.count
    rows: list[tuple[str, list[int]]] = []
    gc.collect()
    gc.freeze()

    dialect = load_dialect("broker-fix44")
    templates = OrderTemplates(dialect, "GATEWAY", "BRKR")
    orders = [_order(i) for i in range(count)]
    rows.append(("nos.template", _time_each(orders, lambda o: templates.new_order(7, STAMP, b"B7", o))))

    venue, _ = _venue(MemoryStore())
    rows.append(("nos.send_new (memory store)", _time_each(orders, venue.send_new)))
    with tempfile.TemporaryDirectory() as tmp:
        file_store = FileStore(Path(tmp) / "bench.fixstore", fsync=FsyncPolicy.NONE)
        venue_file, _ = _venue(file_store)
        rows.append(("nos.send_new (file store, no fsync)", _time_each(orders, venue_file.send_new)))
        file_store.close()

    fills = [_fill(seq, 7) for seq in range(2, count + 2)]
    decoder = FrameDecoder()
    rows.append(("er.decode", _time_each(fills, decoder.feed)))

    venue2, clock2 = _venue(MemoryStore())
    venue2.send_new(_order(7))
    venue2.flush()
    rows.append(("er.to_event (VenueExecuted)", _time_each(fills, lambda raw: venue2.data_received(raw, clock2()))))
    assert venue2.counters["events"] == count, venue2.counters

    try:
        import quickfix
    except ImportError:
        quickfix = None
    if quickfix is not None:
        from venues.fix.dictionary import dictionary_path

        dd = quickfix.DataDictionary(str(dictionary_path(dialect)))

        def qf_nos(i: object) -> str:
            m = quickfix.Message()
            header = m.getHeader()
            header.setField(quickfix.BeginString("FIX.4.4"))
            header.setField(quickfix.MsgType("D"))
            header.setField(quickfix.SenderCompID("GATEWAY"))
            header.setField(quickfix.TargetCompID("BRKR"))
            header.setField(quickfix.MsgSeqNum(7))
            header.setField(quickfix.SendingTime())
            m.setField(quickfix.ClOrdID("B7"))
            m.setField(quickfix.Account("BRK-0001"))
            m.setField(quickfix.HandlInst("1"))
            m.setField(quickfix.ExDestination("SMART"))
            m.setField(quickfix.Symbol("AAPL"))
            m.setField(quickfix.Side("1"))
            m.setField(quickfix.OrderQty(100))
            m.setField(quickfix.OrdType("2"))
            m.setField(quickfix.Price(150.25))
            m.setField(quickfix.TimeInForce("0"))
            m.setField(quickfix.TransactTime())
            m.setField(528, "A")
            m.setField(9101, "DMA")
            m.setField(9102, "strat1")
            return str(m.toString())

        rows.append(("quickfix: NOS build + toString", _time_each(range(count // 4), qf_nos)))
        fill_strings = [raw.decode() for raw in fills]

        def qf_er(raw: object) -> object:
            m = quickfix.Message(raw, dd, True)
            return (m.getField(11), m.getField(150), m.getField(32), m.getField(31), m.getField(17))

        rows.append(("quickfix: ER parse (DataDictionary)", _time_each(fill_strings[: count // 4], qf_er)))

    print(f"FIX codec, {count} calls per row (quickfix rows: {count // 4}); microseconds per call")
    print(f"{'':40s} {'p50':>8s} {'p99':>8s} {'p99.9':>8s}")
    for name, samples in rows:
        p50, p99, p999 = _percentiles(samples)
        print(f"{name:40s} {p50:8.2f} {p99:8.2f} {p999:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
