"""OUCH 5.0 codec hot path: per-message cost of encoding and decoding on this machine.

What it measures (all in one process, one case after the other, same run):

* ``encode Enter (pack_into)``: ``pack_enter_order`` writing a whole SoupBinTCP
  Unsequenced Data packet (header + 47-byte Enter Order) into an output bytearray.
* ``encode Enter (generic)``: the table-driven ``encode_message`` + ``encode_unsequenced``
  for the same message, for comparison.
* ``decode Accepted`` / ``decode Executed``: ``decode_outbound`` of a 64-byte Order
  Accepted / 36-byte Order Executed into a message struct (one ``unpack_from`` each).
* ``adapter send_new``: ``OuchVenue.send_new`` end to end (UserRefNum, ClOrdID,
  pack_into, keeping the packet for re-send), logged in, no socket.
* ``adapter Executed -> event``: ``OuchVenue.on_sequenced`` of an Order Executed up to
  the ``VenueExecuted`` handed to the event sink.

Each case runs ``--batches`` batches of ``--batch`` operations; a batch is timed with
``time.perf_counter_ns`` and divided by its size. Reported: median and p99 of those
per-operation batch means, in microseconds. The machine is shared and noisy: compare
cases within one run, not across runs.

Run: ``.venv/bin/python benchmarks/bench_ouch_codec.py [--batches 2000 --batch 100]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable

from model.clock import monotonic_ns
from model.enums import OrderType, Side, TimeInForce
from model.order import Order
from model.venue_events import VenueEvent
from venues.ouch.adapter import OuchVenue
from venues.ouch.codec import decode_outbound, encode_message, pack_enter_order
from venues.ouch.config import OuchVenueConfig
from venues.ouch.messages import EnterOrder, OrderAccepted, OrderExecuted
from venues.ouch.refstore import UserRefNumStore
from venues.ouch.soupbin import encode_login_accepted, encode_packet, encode_unsequenced

PX = 1_502_500
TS = 34_200_000_000_000


def measure(name: str, batch: int, batches: int, run_batch: Callable[[], None]) -> tuple[str, float, float]:
    """Time ``batches`` calls of ``run_batch`` (each doing ``batch`` operations); return per-op us."""
    for _ in range(max(batches // 10, 10)):
        run_batch()
    gc.collect()
    samples = []
    for _ in range(batches):
        start = time.perf_counter_ns()
        run_batch()
        samples.append((time.perf_counter_ns() - start) / batch / 1000)
    samples.sort()
    return name, statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    """Run every case and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    batch, batches = args.batch, args.batches

    def enter_pack_into() -> None:
        buf = bytearray()
        for urn in range(batch):
            pack_enter_order(buf, urn, b"B", 100, b"AAPL    ", PX, b"0", b"Y", b"A", b"N", b"N", b"123456        ")

    enter = EnterOrder(1, "B", 100, "AAPL", PX, "0", "Y", "A", "N", "N", "123456")

    def enter_generic() -> None:
        buf = bytearray()
        for _ in range(batch):
            buf += encode_unsequenced(encode_message(enter))

    accepted = encode_message(
        OrderAccepted(TS, 1, "B", 100, "AAPL", PX, "0", "Y", 1234567, "A", "N", "N", "L", "123456")
    )
    executed = encode_message(OrderExecuted(TS, 1, 100, PX, "R", 7654321))

    def decode_accepted() -> None:
        for _ in range(batch):
            decode_outbound(accepted)

    def decode_executed() -> None:
        for _ in range(batch):
            decode_outbound(executed)

    with tempfile.TemporaryDirectory() as state_dir:
        config = OuchVenueConfig(
            name="bench", host="127.0.0.1", port=1, username="U", password="P", state_dir=state_dir
        )
        store = UserRefNumStore(state_dir, "bench", today=lambda: "2024-05-01", block=1_000_000)
        venue = OuchVenue(config, monotonic_ns, store=store)
        events: list[VenueEvent] = []
        venue.event_sink = events.append
        venue.connection_made(monotonic_ns())
        venue.data_received(encode_login_accepted("BENCH", 1) + encode_packet(b"H"), monotonic_ns())  # no replay
        orders = [
            Order(i, "s", f"c{i}", "a", "bench", "AAPL", Side.BUY, 100, PX, TimeInForce.DAY, OrderType.LIMIT)
            for i in range(batch)
        ]
        for order in orders:
            venue.send_new(order)
        session = venue._session
        executed_view = memoryview(executed)
        venue._refs[1].open_qty = 10**15  # keep the executed order open across every batch

        def adapter_send_new() -> None:
            session.out = bytearray()
            venue._inflight.clear()
            for order in orders:
                venue.send_new(order)

        def adapter_executed() -> None:
            events.clear()
            for seq in range(batch):
                venue.on_sequenced(seq, executed_view)

        results = [
            measure("encode Enter (pack_into)", batch, batches, enter_pack_into),
            measure("encode Enter (generic)", batch, batches, enter_generic),
            measure("decode Accepted", batch, batches, decode_accepted),
            measure("decode Executed", batch, batches, decode_executed),
            measure("adapter send_new", batch, batches, adapter_send_new),
            measure("adapter Executed -> event", batch, batches, adapter_executed),
        ]
    print(f"{batches} batches x {batch} ops; per-op time of each batch, microseconds")
    print(f"{'case':<28} {'median':>8} {'p99':>8}")
    for name, median, p99 in results:
        print(f"{name:<28} {median:8.3f} {p99:8.3f}")


if __name__ == "__main__":
    main()
