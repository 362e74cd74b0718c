"""Cboe BOE v2 codec hot path: per-message cost of encoding and decoding on this machine.

What it measures (all in one process, one case after the other, same run):

* ``encode New Order (pack_into)``: ``NewOrderPacker.pack`` writing a whole New Order with the
  default venue field set (Price, OrdType, TimeInForce, Symbol, Capacity) into an output bytearray.
* ``encode New Order (generic)``: the table-driven ``encode_message`` for the same message.
* ``encode Cancel`` / ``encode Modify (pack_into)``: ``CancelPacker`` (ClearingFirm) and
  ``ModifyPacker`` (ClearingFirm, OrderQty, Price).
* ``decode Ack / Execution / Cancelled (hot)``: ``ReturnDecoder.decode`` compiled for the
  negotiated return bitfields of the default config: one ``unpack_from`` into a message struct.
* ``decode Ack / Execution (generic)``: ``decode_outbound_generic`` of the same bytes.
* ``execution_core``: the fixed part of an Order Execution as a tuple (what an adapter needs).

Each case runs ``--batches`` batches of ``--batch`` operations; a batch is timed with
``time.perf_counter_ns`` and divided by its size. Reported: median and p99 of those per-operation
batch means, in microseconds. The machine is shared and noisy: compare cases within one run.

Run: ``.venv/bin/python benchmarks/bench_boe_codec.py [--batches 2000 --batch 100]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

import msgspec

from venues.boe.codec import (
    CancelPacker,
    ModifyPacker,
    NewOrderPacker,
    ReturnDecoder,
    decode_outbound_generic,
    encode_message,
    execution_core,
    select_return_fields,
)
from venues.boe.config import BoeVenueConfig
from venues.boe.messages import (
    NewOrder,
    NewOrderFields,
    OrderAcknowledgment,
    OrderCancelled,
    OrderExecution,
    ReturnFields,
    ReturnMessage,
)

PX = 1_502_500
TT = 1_714_570_200_000_000_000


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


def _negotiated(message: ReturnMessage, bitfields: bytes) -> bytes:
    """Encode ``message`` as Cboe would for a session that asked for ``bitfields``."""
    chosen = select_return_fields(bitfields, message.optional)
    return encode_message(msgspec.structs.replace(message, optional=chosen, bitfield_count=len(bitfields)))


def main() -> None:
    """Run every case and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    batch, batches = args.batch, args.batches

    config = BoeVenueConfig(name="bench", host="127.0.0.1", port=1, session_sub_id="0001", username="U", password="P")
    negotiated = config.return_bitfields()
    new_packer = NewOrderPacker(config.new_order_fields())
    cancel_packer = CancelPacker(("clearing_firm",))
    modify_packer = ModifyPacker(("clearing_firm", "order_qty", "price"))
    decoder = ReturnDecoder(negotiated)

    def new_pack_into() -> None:
        buf = bytearray()
        for seq in range(batch):
            new_packer.pack(buf, seq, b"GW123456", b"1", 100, PX, b"2", b"0", b"AAPL", b"A")

    order = NewOrder(
        0,
        1,
        "GW123456",
        "1",
        100,
        NewOrderFields(price=PX, ord_type="2", time_in_force="0", symbol="AAPL", capacity="A"),
    )

    def new_generic() -> None:
        buf = bytearray()
        for _ in range(batch):
            buf += encode_message(order)

    def cancel_pack_into() -> None:
        buf = bytearray()
        for seq in range(batch):
            cancel_packer.pack(buf, seq, b"GW123456", b"CFAA")

    def modify_pack_into() -> None:
        buf = bytearray()
        for seq in range(batch):
            modify_packer.pack(buf, seq, b"GW123457", b"GW123456", b"CFAA", 200, PX)

    everything = ReturnFields(
        side="1", price=PX, symbol="AAPL", capacity="A", order_qty=100, leaves_qty=100, last_shares=0
    )
    ack = _negotiated(OrderAcknowledgment(1, 7, TT, "GW123456", 987654321, everything), negotiated[0x25])
    execution = _negotiated(
        OrderExecution(1, 8, TT, "GW123456", 55555, 100, PX, 0, "R", "", "SIMU", everything), negotiated[0x2C]
    )
    cancelled = _negotiated(OrderCancelled(1, 9, TT, "GW123456", "U", everything), negotiated[0x2A])
    assert decoder.decode(ack) == decode_outbound_generic(ack)

    def decode_hot(raw: bytes) -> Callable[[], None]:
        def run() -> None:
            for _ in range(batch):
                decoder.decode(raw)

        return run

    def decode_generic(raw: bytes) -> Callable[[], None]:
        def run() -> None:
            for _ in range(batch):
                decode_outbound_generic(raw)

        return run

    def core() -> None:
        for _ in range(batch):
            execution_core(execution)

    results = [
        measure("encode New Order (pack_into)", batch, batches, new_pack_into),
        measure("encode New Order (generic)", batch, batches, new_generic),
        measure("encode Cancel (pack_into)", batch, batches, cancel_pack_into),
        measure("encode Modify (pack_into)", batch, batches, modify_pack_into),
        measure("decode Ack (hot)", batch, batches, decode_hot(ack)),
        measure("decode Ack (generic)", batch, batches, decode_generic(ack)),
        measure("decode Execution (hot)", batch, batches, decode_hot(execution)),
        measure("decode Execution (generic)", batch, batches, decode_generic(execution)),
        measure("decode Cancelled (hot)", batch, batches, decode_hot(cancelled)),
        measure("execution_core", batch, batches, core),
    ]
    print(f"{batches} batches x {batch} ops; per-op time of each batch, microseconds")
    print(f"{'case':<30} {'median':>8} {'p99':>8}")
    for name, median, p99 in results:
        print(f"{name:<30} {median:8.3f} {p99:8.3f}")


if __name__ == "__main__":
    main()
