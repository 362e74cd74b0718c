"""The OUCH venue as a benchmark process, with a receive clock the harness can join to strategy orders.

``python -m benchmarks.harness.simproc --port-file P --out O [--venue fast|full]``:

* ``fast`` (the default): ``simulators.ouch.fast.FastOuchCore`` behind a plain ``epoll`` loop
  (no event-loop callbacks, one ``recv`` and one ``send`` per wake-up, reads up to 1 MiB): answers
  every order as the full simulator answers a resting order, at several hundred thousand orders
  per second on one core;
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
import contextlib
import gc
import select
import signal
import socket
import sys
import time
from array import array
from pathlib import Path
from types import FrameType
from typing import Final

import msgspec
import uvloop

from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.fast import FastConnection, FastOuchCore
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig, SimulatorCore
from simulators.ouch.soup_server import SoupServerConnection
from venues.ouch.codec import decode_accepted
from venues.ouch.daytime import NsSinceMidnight
from venues.ouch.errors import DecodeError

RECV_SIZE: Final = 1 << 20
HEARTBEAT_NS: Final = 1_000_000_000


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


class _StopRequested(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the SIGTERM/SIGINT handler to leave the fast loop."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise _StopRequested


class _Client:
    """One accepted connection of the fast venue: socket, protocol state, unsent bytes."""

    __slots__ = ("conn", "last_sent_ns", "out", "sock")

    def __init__(self, sock: socket.socket, conn: FastConnection, now_ns: int) -> None:
        self.sock = sock
        self.conn = conn
        self.out = bytearray()
        self.last_sent_ns = now_ns


def serve_fast(port_file: Path, out: Path, host: str) -> int:
    """Run the fast venue until SIGTERM/SIGINT, then write the receive times."""
    core = FastOuchCore(timestamp=NsSinceMidnight())
    clock = time.monotonic_ns
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(16)
    listener.setblocking(False)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    clients: dict[int, _Client] = {}
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    gc.collect()
    gc.freeze()
    gc.disable()
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(listener.getsockname()[1]))
    tmp.rename(port_file)
    listen_fd = listener.fileno()

    def close(fd: int) -> None:
        client = clients.pop(fd)
        with contextlib.suppress(OSError):
            poller.unregister(fd)
        client.sock.close()

    def flush(fd: int, client: _Client, now_ns: int) -> None:
        pending = client.out
        try:
            sent = client.sock.send(pending)
        except BlockingIOError:
            sent = 0
        except OSError:
            close(fd)
            return
        if sent:
            del pending[:sent]
            client.last_sent_ns = now_ns
        poller.modify(fd, select.EPOLLIN | select.EPOLLOUT if pending else select.EPOLLIN)
        if not pending and client.conn.close_reason is not None:
            close(fd)

    try:
        while True:
            events = poller.poll(0.25)
            now = clock()
            for fd, mask in events:
                if fd == listen_fd:
                    sock, _ = listener.accept()
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    clients[sock.fileno()] = _Client(sock, core.connect(), now)
                    poller.register(sock.fileno(), select.EPOLLIN)
                    continue
                client = clients.get(fd)
                if client is None:
                    continue
                if mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    try:
                        data = client.sock.recv(RECV_SIZE)
                    except BlockingIOError:
                        data = None
                    except OSError:
                        data = b""
                    if data == b"":
                        close(fd)
                        continue
                    if data:
                        client.out += client.conn.receive(data, now)
                if client.out:
                    flush(fd, client, now)
                elif client.conn.close_reason is not None:
                    close(fd)
            for fd, client in list(clients.items()):
                if not client.out and now - client.last_sent_ns >= HEARTBEAT_NS and client.conn.logged_in:
                    client.out += core.heartbeat()
                    flush(fd, client, now)
    except _StopRequested:
        pass
    finally:
        for fd in list(clients):
            close(fd)
        listener.close()
        poller.close()
    gc.enable()
    orns, times = core.order_reference_read_times()
    out.write_bytes(
        msgspec.msgpack.encode(
            ReceiveTimes(orns.tobytes(), times.tobytes(), core.counters["enters"], core.counters["reads"])
        )
    )
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
    parser.add_argument(
        "--venue", choices=("fast", "full"), default="fast", help="fast answering venue or the full simulator"
    )
    args = parser.parse_args(argv)
    if args.venue == "fast":
        return serve_fast(args.port_file, args.out, args.host)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(args.port_file, args.out, args.host))


if __name__ == "__main__":
    sys.exit(main())
