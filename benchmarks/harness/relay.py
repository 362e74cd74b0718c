"""A do-nothing Python hop: what one extra process costs before any gateway work is done.

``python -m benchmarks.harness.relay --listen PATH --venue-port N [--spin-us -1] [--cpu C]`` accepts a load
generator connection on a Unix socket (like the gateway's strategy socket), keeps one TCP
connection to the OUCH simulator (TCP_NODELAY, like the gateway's venue connector, opened at
start-up), and copies bytes both ways from uvloop ``asyncio.Protocol`` callbacks, with the same event-loop
spinner the gateway uses (``LoopSpinner``). The floor load generator speaks OUCH through it.

The ``relay`` paths sit between the floor and the gateway: relay minus floor is the price of the
extra process and its two extra socket hops on this host (wake-ups, system calls, event loop);
gateway minus relay is what the gateway's own work (decode, risk, journal, encode) adds on top.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import socket
import sys
from pathlib import Path
from typing import cast

import uvloop

from gateway.ops.spinner import LoopSpinner


class _VenueSide(asyncio.Protocol):
    """The one TCP connection to the simulator, opened at start-up."""

    def __init__(self, spinner: LoopSpinner) -> None:
        self.spinner = spinner
        self.transport: asyncio.Transport | None = None
        self.client: _ClientSide | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.spinner.kick()
        client = self.client
        if client is not None and client.transport is not None:
            client.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.client is not None and self.client.transport is not None:
            self.client.transport.close()


class _ClientSide(asyncio.Protocol):
    """A load generator's connection, paired with the venue connection."""

    def __init__(self, venue: _VenueSide, spinner: LoopSpinner) -> None:
        self.venue = venue
        self.spinner = spinner
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.venue.client = self

    def data_received(self, data: bytes) -> None:
        self.spinner.kick()
        if self.venue.transport is not None:
            self.venue.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.venue.client is self:
            self.venue.client = None


async def serve(listen: Path, venue_port: int, spin_us: int) -> int:
    """Relay until SIGTERM."""
    loop = asyncio.get_running_loop()
    spinner = LoopSpinner(loop, spin_us)
    spinner.start()
    _, venue = await loop.create_connection(lambda: _VenueSide(spinner), "127.0.0.1", venue_port)
    if listen.exists():
        listen.unlink()
    server = await loop.create_unix_server(lambda: _ClientSide(venue, spinner), str(listen))
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    gc.collect()
    gc.freeze()
    await stop.wait()
    spinner.stop()
    server.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and relay."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness.relay")
    parser.add_argument("--listen", type=Path, required=True, help="Unix socket to accept load generators on")
    parser.add_argument("--venue-port", type=int, required=True, help="the OUCH simulator's TCP port")
    parser.add_argument("--spin-us", type=int, default=0, help="LoopSpinner budget (0 off, -1 always)")
    parser.add_argument("--cpu", type=int, action="append", default=[], help="pin to this CPU (repeatable)")
    args = parser.parse_args(argv)
    if args.cpu:
        os.sched_setaffinity(0, set(args.cpu))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(args.listen, args.venue_port, args.spin_us))


if __name__ == "__main__":
    sys.exit(main())
