"""OUCH 5.0 exchange simulator over SoupBinTCP: ``gateway sim ouch`` and an in-process API for tests.

``SimulatorCore`` is sans-IO: one SoupBinTCP session (``SequencedStream``) fed by one
``Exchange``, plus one ``SoupServerConnection`` per client. ``OuchSimulator`` is the
thin asyncio layer shared by the simulators (``simulators.tcp``) that moves bytes and runs
timers; it works under uvloop and the stdlib loop. For reconnect tests it can cut
connections: on demand (``drop_connections``) or after every ``drop_after`` sequenced
messages on a connection, in which case the client gets half of the next packet and
then an abort, so unsent stream data and in-flight client data are lost as in a real cut.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import Annotated, Final

import msgspec

from model.clock import NowNs, monotonic_ns
from simulators.cli import add_venue_arguments, event_loop_factory, non_negative, price_type
from simulators.ouch.exchange import Exchange, ExchangeConfig
from simulators.ouch.soup_server import SequencedStream, ServerConnectionState, SoupServerConfig, SoupServerConnection
from simulators.tcp import TcpSimulator
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
    heartbeat_after_replay: bool = True
    """Send a Server Heartbeat right after each login's replay (``SoupServerConfig.heartbeat_after_replay``)."""
    drop_after: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Cut every connection after it was sent this many sequenced messages (reconnect testing)."""
    stall_first_after: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """Send the first logged-in connection no more than this many sequenced messages, and never cut it.

    The exchange goes on reading and answering; the held answers stay in the stream for the next
    login's replay. Models answers lost in flight without losing the client's requests (a cut can
    lose both), so a test can know the venue read every request while the client saw only some answers.
    """
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
            heartbeat_after_replay=config.heartbeat_after_replay,
        )
        self.drop_after = config.drop_after
        self.stall_first_after = config.stall_first_after
        self.stalled: SoupServerConnection | None = None
        """The first connection to log in, while ``stall_first_after`` holds its answers back."""
        self.connections: list[SoupServerConnection] = []
        self.cuts = 0
        self.logins = 0

    @property
    def first_poll_ns(self) -> int:
        """Return when to run a new connection's timers first (one heartbeat interval)."""
        return self.server_config.heartbeat_interval_ns

    def close(self) -> None:
        """Close the exchange's record file."""
        self.exchange.close()

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
            if self.logins == 1 and self.stall_first_after is not None:
                self.stalled = connection

    def output(self, connection: SoupServerConnection, now_ns: int) -> tuple[bytearray, bool]:
        """Return the bytes to write to ``connection`` and whether to cut it right after them."""
        limit = None
        if self.drop_after is not None:
            limit = max(self.drop_after - connection.sequenced_sent, 0)
        if connection is self.stalled and self.stall_first_after is not None:
            held = max(self.stall_first_after - connection.sequenced_sent, 0)
            limit = held if limit is None else min(limit, held)
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
        if connection is self.stalled:
            self.stalled = None
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


class OuchSimulator(TcpSimulator):
    """The simulator on a real TCP socket (in-process API for tests)."""

    core: SimulatorCore

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: NowNs = monotonic_ns,
        timestamp: Callable[[], int] | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        super().__init__(
            SimulatorCore(self.config, clock=clock, timestamp=timestamp), self.config.host, self.config.port
        )

    @property
    def exchange(self) -> Exchange:
        """Return the exchange (its ``records`` hold every inbound message)."""
        return self.core.exchange

    @property
    def stream(self) -> SequencedStream:
        """Return the SoupBinTCP sequenced stream (every outbound message, in order)."""
        return self.core.stream

    @property
    def drop_after(self) -> int | None:
        """Return after how many sequenced messages each connection is cut (None = never)."""
        return self.core.drop_after

    @drop_after.setter
    def drop_after(self, value: int | None) -> None:
        self.core.drop_after = value

    def drop_connections(self) -> int:
        """Cut every connection now, as a network failure would; return how many."""
        count = super().drop_connections()
        self.core.cuts += count
        return count

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


_price = price_type(MAX_PRICE, "199999.99")


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``gateway sim ouch`` options."""
    add_venue_arguments(
        parser,
        _price,
        login=(
            "SoupBinTCP username (default USER)",
            "SoupBinTCP password (default PASS)",
            "SoupBinTCP session id (default OUCHSIM)",
            "OUCHSIM",
        ),
        rejects=("Invalid Symbol", "Shares Exceed Threshold", "Fat Finger"),
        client_timeout=(15000, "drop a client silent this long (default 15000)"),
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="certification-venue mode: count every reused / non-increasing UserRefNum as a violation",
    )
    parser.add_argument(
        "--stall-first-after",
        type=non_negative,
        metavar="N",
        help="send the first connection to log in only N sequenced messages; the rest wait for the next login's replay",
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
        "strict_user_ref_num": args.strict,
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
            "stall_first_after": args.stall_first_after,
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
        simulator.core.close()
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
    with asyncio.Runner(loop_factory=event_loop_factory(args.loop)) as runner:
        return runner.run(_serve(config, args.loop))
