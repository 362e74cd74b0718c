"""The OUCH venue as a benchmark process, with a receive clock the harness can join to strategy orders.

``python -m benchmarks.harness.simproc --port-file P --out O [--venue fast|full]``:

* ``fast`` (the default): ``simulators.ouch.fast.FastOuchCore`` behind a plain ``epoll`` loop
  (``benchmarks.harness.venueloop``: no event-loop callbacks, one ``recv`` and one ``send`` per
  wake-up, reads up to 1 MiB): answers
  every order as the full simulator answers a resting order, at several hundred thousand orders
  per second on one core;
* ``fix``: the benchmark's FIX venue (``simulators.fix.fast_venue``: our own FIX session as
  acceptor, ExecutionReports from templates) behind the same loop; its receive times join on
  OrderID (37), which the gateway passes on as ``OrderAccepted.venue_order_id``;
* ``boe``: the benchmark's BOE venue (``simulators.boe.fast``: templates patched per answer)
  behind the same loop; its receive times join on OrderID, which the gateway passes on as
  ``OrderAccepted.venue_order_id``;
* ``full``: the same ``OuchSimulator`` as ``gateway sim ouch`` (uvloop, the full exchange core, no
  reference prices: every order rests and is answered by Accepted); it saturates at about 48,000
  orders/s together with the load generator on one vCPU.

For one-way latency both note, per socket read, the monotonic time the bytes were read and which
Order Reference Numbers the answers to them carry. On SIGTERM they write, for every accepted
Enter Order, the venue's Order Reference Number and the read time: the load generator learns the
same number from the acknowledgement (OUCH Accepted on the floor, ``OrderAccepted.venue_order_id``
through the gateway), which joins the two without adding anything to the gateway's hot path.

The simulator is test equipment: automatic garbage collection is off while it runs (as in the load
generator) so its pauses do not land on whichever path happens to be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
import time
from array import array
from pathlib import Path

import msgspec
import uvloop

from benchmarks.harness import venueloop
from simulators.boe.fast import FastBoeCore
from simulators.fix.fast_venue import FastFixVenue
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.fast import FastOuchCore
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig, SimulatorCore
from simulators.ouch.soup_server import SoupServerConnection
from venues.fix.dialect import load_dialect
from venues.ouch.codec import decode_accepted
from venues.ouch.daytime import NsSinceMidnight
from venues.ouch.errors import DecodeError


class ReceiveTimes(msgspec.Struct):
    """Order Reference Number and read time of every accepted Enter Order (native int64 arrays)."""

    order_reference_numbers: bytes
    read_ns: bytes
    inbound_messages: int
    reads: int


class ReceiveClock:
    """Wrap a simulator core's ``receive`` to note (first record, end record, read time) per read."""

    def __init__(self, core: SimulatorCore) -> None:
        self.core = core
        self.marks = array("q")
        self._receive = core.receive
        core.receive = self.receive  # type: ignore[method-assign]

    def receive(self, connection: SoupServerConnection, data: bytes, now_ns: int) -> None:
        """Feed the core; remember which records this read produced and when it was read."""
        records = self.core.exchange.records
        before = len(records)
        self._receive(connection, data, now_ns)
        self.marks.extend((before, len(records), now_ns))

    def receive_times(self) -> ReceiveTimes:
        """Join reads, inbound records and the outbound stream into (Order Reference Number, read time)."""
        records = self.core.exchange.records
        read_at = array("q", bytes(8 * len(records)))
        marks = self.marks
        for k in range(0, len(marks), 3):
            for i in range(marks[k], marks[k + 1]):
                read_at[i] = marks[k + 2]
        by_urn = {
            r.user_ref_num: read_at[i] for i, r in enumerate(records) if r.type == "O" and r.outcome == "accepted"
        }
        stream = self.core.stream
        orns = array("q")
        times = array("q")
        for sequence in range(1, stream.next_sequence):
            message = stream.message(sequence)
            if message[:1] != b"A":
                continue
            accepted = decode_accepted(message)
            if isinstance(accepted, DecodeError):
                continue
            t = by_urn.get(accepted.user_ref_num)
            if t is not None:
                orns.append(accepted.order_reference_number)
                times.append(t)
        return ReceiveTimes(orns.tobytes(), times.tobytes(), len(records), len(marks) // 3)


async def serve(port_file: Path, out: Path, host: str) -> int:
    """Run until SIGTERM/SIGINT, then write the receive times."""
    simulator = OuchSimulator(
        SimulatorConfig(host=host, port=0, client_timeout_ms=60_000, login_timeout_ms=60_000, exchange=ExchangeConfig())
    )
    clock = ReceiveClock(simulator.core)
    await simulator.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    gc.collect()
    gc.freeze()
    gc.disable()
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(simulator.port))
    tmp.rename(port_file)
    await stop.wait()
    await simulator.stop()
    gc.enable()
    out.write_bytes(msgspec.msgpack.encode(clock.receive_times()))
    return 0


def serve_fast(port_file: Path, out: Path, host: str) -> int:
    """Run the fast OUCH venue until SIGTERM/SIGINT, then write the receive times."""
    core = FastOuchCore(timestamp=NsSinceMidnight())
    venueloop.serve(port_file, core.connect, host, ready=_quiet_gc)
    gc.enable()
    orns, times = core.order_reference_read_times()
    out.write_bytes(
        msgspec.msgpack.encode(
            ReceiveTimes(orns.tobytes(), times.tobytes(), core.counters["enters"], core.counters["reads"])
        )
    )
    return 0


def serve_fix(port_file: Path, out: Path, host: str, dialect: str, sender: str, targets: list[str]) -> int:
    """Run the fast FIX venue until SIGTERM/SIGINT, then write the receive times (OrderID -> read ns)."""
    venue = FastFixVenue(load_dialect(dialect), sender_comp_id=sender, targets=tuple(targets), clock=time.monotonic_ns)
    venue.wall_offset_ns = time.time_ns() - time.monotonic_ns()
    venueloop.serve(port_file, venue.connect, host, ready=_quiet_gc)
    gc.enable()
    ids, times = venue.order_id_read_times()
    out.write_bytes(msgspec.msgpack.encode(ReceiveTimes(ids.tobytes(), times.tobytes(), venue.counters["new"], 0)))
    return 0


def serve_boe(port_file: Path, out: Path, host: str) -> int:
    """Run the fast BOE venue until SIGTERM/SIGINT, then write the receive times (OrderID -> read ns)."""
    core = FastBoeCore()
    venueloop.serve(port_file, core.connect, host, ready=_quiet_gc)
    gc.enable()
    ids, times = core.order_id_read_times()
    out.write_bytes(
        msgspec.msgpack.encode(
            ReceiveTimes(ids.tobytes(), times.tobytes(), core.counters["new"], core.counters["reads"])
        )
    )
    return 0


def _quiet_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.disable()


def read_receive_times(path: str | Path) -> dict[int, int]:
    """Return Order Reference Number -> read time from a file ``simproc`` wrote."""
    data = msgspec.msgpack.decode(Path(path).read_bytes(), type=ReceiveTimes)
    orns = array("q")
    orns.frombytes(data.order_reference_numbers)
    times = array("q")
    times.frombytes(data.read_ns)
    return dict(zip(orns, times, strict=True))


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the simulator."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness.simproc")
    parser.add_argument("--port-file", type=Path, required=True, help="write the listening port here")
    parser.add_argument("--out", type=Path, required=True, help="write receive times here on SIGTERM")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--venue",
        choices=("fast", "full", "fix", "boe"),
        default="fast",
        help="fast OUCH venue (default), the full OUCH simulator, the fast FIX venue or the fast BOE venue",
    )
    parser.add_argument("--dialect", default="broker-fix44", help="FIX venue: dialect")
    parser.add_argument("--sender", default="BRKR", help="FIX venue: its SenderCompID")
    parser.add_argument("--target", action="append", default=[], help="FIX venue: an initiator's CompID (repeat)")
    args = parser.parse_args(argv)
    if args.venue == "fast":
        return serve_fast(args.port_file, args.out, args.host)
    if args.venue == "boe":
        return serve_boe(args.port_file, args.out, args.host)
    if args.venue == "fix":
        return serve_fix(args.port_file, args.out, args.host, args.dialect, args.sender, args.target)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(args.port_file, args.out, args.host))


if __name__ == "__main__":
    sys.exit(main())
