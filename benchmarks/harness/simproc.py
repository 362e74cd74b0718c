"""The OUCH simulator as a benchmark process, with a receive clock the harness can join to strategy orders.

``python -m benchmarks.harness.simproc --port-file P --out O`` runs the same ``OuchSimulator`` as
``gateway sim ouch`` (uvloop, no reference prices: every order rests and is answered by Accepted).
For one-way latency it notes, per socket read, the monotonic time the bytes were read and which
inbound messages they carried (the exchange's ``records`` already hold every inbound message in
order). On SIGTERM it writes, for every accepted Enter Order, the venue's Order Reference Number
and the read time: the load generator learns the same number from the acknowledgement (OUCH
Accepted on the floor, ``OrderAccepted.venue_order_id`` through the gateway), which joins the two
without adding anything to the gateway's hot path.

The simulator is test equipment: automatic garbage collection is off while it runs (as in the load
generator) so its pauses do not land on whichever path happens to be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from array import array
from pathlib import Path

import msgspec
import uvloop

from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig, SimulatorCore
from simulators.ouch.soup_server import SoupServerConnection
from venues.ouch.codec import decode_accepted
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
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(args.port_file, args.out, args.host))


if __name__ == "__main__":
    sys.exit(main())
