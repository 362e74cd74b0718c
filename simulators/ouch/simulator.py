"""OUCH 5.0 exchange simulator over SoupBinTCP: ``gateway sim ouch`` and an in-process API for tests.

``SimulatorCore`` is sans-IO: one SoupBinTCP session (``SequencedStream``) fed by one
``Exchange``, plus one ``SoupServerConnection`` per client. ``OuchSimulator`` is the
thin asyncio layer (``asyncio.Protocol``, TCP_NODELAY) that moves bytes and runs
timers; it works under uvloop and the stdlib loop. For reconnect tests it can cut
connections: on demand (``drop_connections``) or after every ``drop_after`` sequenced
messages on a connection, in which case the client gets half of the next packet and
then an abort, so unsent stream data and in-flight client data are lost as in a real cut.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import decimal
import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import Annotated, Final, cast

import msgspec

from model.clock import NowNs, monotonic_ns
from simulators.ouch.exchange import Exchange, ExchangeConfig
from simulators.ouch.soup_server import SequencedStream, ServerConnectionState, SoupServerConfig, SoupServerConnection
from venues.ouch.codec import decode_outbound
from venues.ouch.daytime import DEFAULT_TIMEZONE, NsSinceMidnight
from venues.ouch.errors import DecodeError
from venues.ouch.messages import MAX_PRICE, OutboundMessage

log = logging.getLogger(__name__)

MS: Final = 1_000_000
EXIT_USAGE: Final = 2
EXIT_FAILURE: Final = 1


class SimulatorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the simulator listens, who may log in, and how the exchange behaves."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    """TCP port; 0 picks a free one (see ``OuchSimulator.port``)."""
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=6)] = "USER"
    password: Annotated[str, msgspec.Meta(max_length=10)] = "PASS"
    session: Annotated[str, msgspec.Meta(min_length=1, max_length=10)] = "OUCHSIM"
    heartbeat_interval_ms: Annotated[int, msgspec.Meta(ge=1)] = 1_000
    client_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 15_000
    login_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 30_000
    drop_after: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Cut every connection after it was sent this many sequenced messages (reconnect testing)."""
    exchange: ExchangeConfig = ExchangeConfig()
    record_path: str | None = None
    """Append every inbound message the exchange receives to this file as JSON lines."""
    timezone: str = DEFAULT_TIMEZONE
    """Time zone of the midnight that OUCH timestamps count from."""


class SimulatorCore:
    """One SoupBinTCP session driven by one OUCH exchange, for any number of connections (sans-IO)."""

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        clock: NowNs = monotonic_ns,
        timestamp: Callable[[], int] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.stream = SequencedStream(config.session)
        self.exchange = Exchange(
            config.exchange,
            self.stream.append,
            clock=clock,
            timestamp=timestamp or NsSinceMidnight(config.timezone),
            record_path=config.record_path,
        )
        self.server_config = SoupServerConfig(
            username=config.username,
            password=config.password,
            heartbeat_interval_ns=config.heartbeat_interval_ms * MS,
            client_timeout_ns=config.client_timeout_ms * MS,
            login_timeout_ns=config.login_timeout_ms * MS,
        )
        self.drop_after = config.drop_after
        self.connections: list[SoupServerConnection] = []
        self.cuts = 0
        self.logins = 0

    def connect(self, now_ns: int) -> SoupServerConnection:
        """Register a new client connection."""
        connection = SoupServerConnection(self.server_config, self.stream, self)
        connection.connection_made(now_ns)
        self.connections.append(connection)
        return connection

    def receive(self, connection: SoupServerConnection, data: bytes, now_ns: int) -> None:
        """Feed client bytes (logins, orders) to the session and the exchange."""
        logged_in = connection.state is ServerConnectionState.LOGGED_IN
        connection.data_received(data, now_ns)
        if not logged_in and connection.state is ServerConnectionState.LOGGED_IN:
            self.logins += 1

    def output(self, connection: SoupServerConnection, now_ns: int) -> tuple[bytearray, bool]:
        """Return the bytes to write to ``connection`` and whether to cut it right after them."""
        limit = None
        if self.drop_after is not None:
            limit = max(self.drop_after - connection.sequenced_sent, 0)
        connection.pump(now_ns, limit)
        data = connection.take(now_ns)
        cut = self.drop_after is not None and connection.sequenced_sent >= self.drop_after and not connection.closed
        if cut:
            self.cuts += 1
            following = connection.next_to_send
            if following < self.stream.next_sequence:
                packet = self.stream.packets[following - 1]
                data += packet[: max(len(packet) // 2, 1)]
        return data, cut

    def poll(self, connection: SoupServerConnection, now_ns: int) -> int:
        """Run one connection's timers; return ns until its next deadline."""
        return connection.poll(now_ns)

    def disconnected(self, connection: SoupServerConnection, now_ns: int) -> None:
        """Forget a connection that is gone."""
        connection.connection_lost(now_ns)
        with contextlib.suppress(ValueError):
            self.connections.remove(connection)

    def end_session(self, now_ns: int) -> None:
        """Send End of Session to every client; the session accepts no more logins or messages."""
        for connection in list(self.connections):
            connection.end_session(now_ns)
        self.stream.ended = True

    def outbound(self) -> list[tuple[int, OutboundMessage]]:
        """Return the whole outbound stream decoded, as (sequence number, message)."""
        result: list[tuple[int, OutboundMessage]] = []
        for sequence in range(1, self.stream.next_sequence):
            decoded = decode_outbound(self.stream.message(sequence))
            if isinstance(decoded, DecodeError):  # pragma: no cover - our own encoder produced it
                raise AssertionError(f"simulator stream message {sequence} undecodable: {decoded.text}")
            result.append((sequence, decoded))
        return result

    # ---- SoupServerListener ----

    def on_message(self, connection: SoupServerConnection, message: memoryview) -> None:
        """Pass one client OUCH message to the exchange."""
        del connection
        if self.stream.ended:
            return
        self.exchange.on_message(message)

    def on_close_wanted(self, connection: SoupServerConnection, reason: str) -> None:
        """Log why a connection is closing (the transport closes it after writing ``out``)."""
        log.info("simulator: closing connection: %s", reason)
        del connection


class _ServerProtocol(asyncio.Protocol):
    """One client connection: bytes in and out, a poll timer, cuts and closes."""

    def __init__(self, simulator: OuchSimulator) -> None:
        self._simulator = simulator
        self._core = simulator.core
        self._clock = simulator.core.clock
        self.transport: asyncio.Transport | None = None
        self.connection: SoupServerConnection | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it: no isinstance check.
        transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport
        self.connection = self._core.connect(self._clock())
        self._simulator.protocols.add(self)
        self._schedule(self._core.server_config.heartbeat_interval_ns)

    def data_received(self, data: bytes) -> None:
        if self.connection is None:
            return
        self._core.receive(self.connection, data, self._clock())
        self._simulator.flush_all()

    def connection_lost(self, exc: Exception | None) -> None:
        del exc
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._simulator.protocols.discard(self)
        if self.connection is not None:
            self._core.disconnected(self.connection, self._clock())
        self.transport = None

    def flush(self) -> None:
        """Write pending output; cut or close the connection when the session says so."""
        transport = self.transport
        connection = self.connection
        if transport is None or connection is None or transport.is_closing():
            return
        data, cut = self._core.output(connection, self._clock())
        if data:
            transport.write(data)
        if cut:
            transport.abort()
        elif connection.closed:
            transport.close()

    def cut(self) -> None:
        """Abort the connection now (unsent data is lost)."""
        if self.transport is not None:
            self.transport.abort()

    def _schedule(self, delay_ns: int) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(delay_ns, MS) / 1e9, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.connection is None or self.transport is None:
            return
        next_ns = self._core.poll(self.connection, self._clock())
        self.flush()
        if self.transport is not None and not self.transport.is_closing():
            self._schedule(next_ns)


class OuchSimulator:
    """The simulator on a real TCP socket (in-process API for tests)."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: NowNs = monotonic_ns,
        timestamp: Callable[[], int] | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.core = SimulatorCore(self.config, clock=clock, timestamp=timestamp)
        self.protocols: set[_ServerProtocol] = set()
        self._server: asyncio.Server | None = None

    @property
    def exchange(self) -> Exchange:
        """Return the exchange (its ``records`` hold every inbound message)."""
        return self.core.exchange

    @property
    def stream(self) -> SequencedStream:
        """Return the SoupBinTCP sequenced stream (every outbound message, in order)."""
        return self.core.stream

    @property
    def port(self) -> int:
        """Return the TCP port listened on (after ``start``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("simulator is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def drop_after(self) -> int | None:
        """Return after how many sequenced messages each connection is cut (None = never)."""
        return self.core.drop_after

    @drop_after.setter
    def drop_after(self, value: int | None) -> None:
        self.core.drop_after = value

    async def start(self) -> None:
        """Listen on ``config.host:config.port``."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ServerProtocol(self), self.config.host, self.config.port, reuse_address=True
        )

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._server is not None:
            self._server.close()
        for protocol in list(self.protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.core.exchange.close()

    def flush_all(self) -> None:
        """Send new stream messages (and heartbeats) to every connection."""
        for protocol in list(self.protocols):
            protocol.flush()

    def drop_connections(self) -> int:
        """Cut every connection now, as a network failure would; return how many."""
        protocols = list(self.protocols)
        for protocol in protocols:
            protocol.cut()
        self.core.cuts += len(protocols)
        return len(protocols)

    def end_session(self) -> None:
        """Send End of Session to every client and refuse further logins."""
        self.core.end_session(self.core.clock())
        self.flush_all()

    def outbound(self) -> list[tuple[int, OutboundMessage]]:
        """Return the whole outbound stream decoded, as (sequence number, message)."""
        return self.core.outbound()

    def execute(self, user_ref_num: int, quantity: int, price: int | None = None) -> bool:
        """Execute a resting order now and send the result."""
        done = self.core.exchange.execute(user_ref_num, quantity, price)
        self.flush_all()
        return done


# --------------------------------------------------------------------------------------
# Command line: gateway sim ouch
# --------------------------------------------------------------------------------------


def _price(text: str) -> int:
    """Parse a decimal price ("150.25") into 4-implied-decimal units."""
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise argparse.ArgumentTypeError(f"invalid price {text!r}") from None
    scaled = value * 10_000
    if not value.is_finite() or scaled != scaled.to_integral_value() or not 0 < scaled <= MAX_PRICE:
        raise argparse.ArgumentTypeError(f"price {text!r} must be above 0, at most 199999.99, 4 decimals at most")
    return int(scaled)


def _reference_price(text: str) -> tuple[str, int]:
    symbol, sep, price = text.partition("=")
    if not sep or not symbol or len(symbol) > 8:
        raise argparse.ArgumentTypeError(f"expected SYMBOL=PRICE (symbol up to 8 characters), got {text!r}")
    return symbol, _price(price)


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``gateway sim ouch`` options."""
    parser.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="address to listen on (default 127.0.0.1:0 = any free port)",
    )
    parser.add_argument("--username", default="USER", help="SoupBinTCP username (default USER)")
    parser.add_argument("--password", default="PASS", help="SoupBinTCP password (default PASS)")
    parser.add_argument("--session", default="OUCHSIM", help="SoupBinTCP session id (default OUCHSIM)")
    parser.add_argument(
        "--reference-price",
        type=_reference_price,
        action="append",
        default=[],
        metavar="SYM=PRICE",
        help="price marketable orders in SYM execute at (repeatable)",
    )
    parser.add_argument(
        "--default-reference-price",
        type=_price,
        metavar="PRICE",
        help="reference price for symbols without their own (default: none, orders rest)",
    )
    parser.add_argument(
        "--fill-ratio",
        type=_fraction,
        default=1.0,
        metavar="F",
        help="probability 0..1 that a marketable order executes (default 1)",
    )
    parser.add_argument("--partial-fills", action="store_true", help="execute a random part of marketable orders")
    parser.add_argument("--seed", type=int, default=1, help="random seed for fills (default 1)")
    parser.add_argument(
        "--reject-symbol",
        action="append",
        default=[],
        metavar="SYM",
        help="reject orders in SYM with Invalid Symbol (repeatable)",
    )
    parser.add_argument(
        "--max-qty",
        type=_positive,
        metavar="N",
        help="reject orders above N shares with Shares Exceed Threshold",
    )
    parser.add_argument(
        "--price-band",
        type=_fraction,
        metavar="F",
        help="reject prices further than F (e.g. 0.1) from the reference with Fat Finger",
    )
    parser.add_argument(
        "--drop-after",
        type=_positive,
        metavar="N",
        help="cut each connection after N sequenced messages (reconnect testing)",
    )
    parser.add_argument("--heartbeat-ms", type=_positive, default=1000, help="server heartbeat interval")
    parser.add_argument(
        "--client-timeout-ms",
        type=_positive,
        default=15000,
        help="drop a client silent this long (default 15000)",
    )
    parser.add_argument("--record", metavar="PATH", help="append every inbound message to PATH as JSON lines")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="event loop (default uvloop)")


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Build the simulator configuration from parsed CLI arguments (raises msgspec.ValidationError)."""
    host, port = args.listen
    exchange: dict[str, object] = {
        "reference_prices": dict(args.reference_price),
        "default_reference_price": args.default_reference_price,
        "fill_ratio": args.fill_ratio,
        "partial_fills": args.partial_fills,
        "seed": args.seed,
        "reject_symbols": list(args.reject_symbol),
        "price_band": args.price_band,
    }
    if args.max_qty is not None:
        exchange["max_order_qty"] = args.max_qty
    return msgspec.convert(
        {
            "host": host,
            "port": port,
            "username": args.username,
            "password": args.password,
            "session": args.session,
            "heartbeat_interval_ms": args.heartbeat_ms,
            "client_timeout_ms": args.client_timeout_ms,
            "drop_after": args.drop_after,
            "exchange": exchange,
            "record_path": args.record,
        },
        SimulatorConfig,
    )


async def _serve(config: SimulatorConfig, loop_name: str) -> int:
    loop = asyncio.get_running_loop()
    simulator = OuchSimulator(config)
    try:
        await simulator.start()
    except OSError as exc:
        print(f"gateway sim ouch: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        simulator.core.exchange.close()
        return EXIT_FAILURE
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(
        f"OUCH 5.0 simulator listening on {config.host}:{simulator.port} "
        f"(SoupBinTCP session {config.session!r}, user {config.username!r}, {loop_name} loop); "
        "Ctrl-C to stop",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await simulator.stop()
    print(
        f"OUCH 5.0 simulator stopped: {len(simulator.core.exchange.records)} inbound messages, "
        f"{simulator.stream.next_sequence - 1} sequenced messages",
        flush=True,
    )
    return 0


def run_cli(args: argparse.Namespace) -> int:
    """Run the simulator until Ctrl-C / SIGTERM; return the exit code."""
    try:
        config = config_from_args(args)
    except msgspec.ValidationError as exc:
        print(f"gateway sim ouch: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.loop == "uvloop":
        import uvloop  # noqa: PLC0415 (only needed for this choice)

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_serve(config, args.loop))
