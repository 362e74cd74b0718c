"""Cboe BOE v2 exchange simulator: ``gateway sim boe`` and an in-process API for tests.

``SimulatorCore`` is sans-IO: one BOE session (``UnitStreams``, one stream per matching unit) fed
by one ``BoeExchange``, plus one ``BoeServerConnection`` per client (one logged in at a time, as
on a real port). ``BoeSimulator`` is the asyncio layer shared by the simulators
(``simulators.tcp``). For reconnect tests it cuts connections on demand (``drop_connections``)
or after every ``drop_after`` sequenced messages on a connection, in which case the client gets
half of the next message and then an abort, as in a real cut.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import Annotated, Final

import msgspec

from model.clock import NowNs, monotonic_ns
from simulators.boe.exchange import BoeExchange, BoeExchangeConfig
from simulators.boe.server import (
    BoeServerConfig,
    BoeServerConnection,
    ServerConnectionState,
    SessionState,
    UnitStreams,
)
from simulators.cli import add_venue_arguments, event_loop_factory, positive, price_type
from simulators.tcp import TcpSimulator
from venues.boe.messages import ReturnMessage

log = logging.getLogger(__name__)

MS: Final = 1_000_000
EXIT_USAGE: Final = 2
EXIT_FAILURE: Final = 1
MAX_PRICE: Final = 2**63 - 1


class SimulatorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the simulator listens, who may log in, and how the exchange behaves."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    """TCP port; 0 picks a free one (see ``BoeSimulator.port``)."""
    session_sub_id: Annotated[str, msgspec.Meta(min_length=1, max_length=4, pattern=r"^[A-Za-z0-9]+$")] = "0001"
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=4, pattern=r"^[A-Za-z0-9]+$")] = "USER"
    password: Annotated[str, msgspec.Meta(max_length=10, pattern=r"^[!-~]*$")] = "PASS"
    heartbeat_interval_ms: Annotated[int, msgspec.Meta(ge=1)] = 1_000
    client_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 5_000
    login_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 30_000
    drop_after: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Cut every connection after it was sent this many sequenced messages (reconnect testing)."""
    accept_sequence_ahead: bool = False
    """Accept a login listing a unit sequence above what the unit has (a renumbered unit) instead of refusing it Q."""
    exchange: BoeExchangeConfig = BoeExchangeConfig()
    record_path: str | None = None
    """Append every inbound application message the exchange receives to this file as JSON lines."""

    def __post_init__(self) -> None:
        """Check the matching-unit settings."""
        if not 1 <= self.exchange.units <= 255:
            raise ValueError("exchange.units must be 1..255")
        for symbol, unit in self.exchange.symbol_units.items():
            if not 1 <= unit <= self.exchange.units:
                raise ValueError(f"symbol {symbol} is mapped to unit {unit}, outside 1..{self.exchange.units}")


class SimulatorCore:
    """One BOE session driven by one exchange, for any number of connections (sans-IO)."""

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        clock: NowNs = monotonic_ns,
        wall: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.clock = clock
        self.streams = UnitStreams(config.exchange.units)
        self.session = SessionState()
        self.exchange = BoeExchange(config.exchange, self._emit, clock=clock, wall=wall, record_path=config.record_path)
        self.server_config = BoeServerConfig(
            session_sub_id=config.session_sub_id,
            username=config.username,
            password=config.password,
            heartbeat_interval_ns=config.heartbeat_interval_ms * MS,
            client_timeout_ns=config.client_timeout_ms * MS,
            login_timeout_ns=config.login_timeout_ms * MS,
            accept_sequence_ahead=config.accept_sequence_ahead,
        )
        self.drop_after = config.drop_after
        self.connections: list[BoeServerConnection] = []
        self._current: BoeServerConnection | None = None
        self.cuts = 0
        self.logins = 0
        self.hold = False
        """Receive client application messages (they count in LastReceivedSequenceNumber) but process none yet."""
        self.held: list[bytes] = []
        """Messages received while ``hold`` (or behind held ones), in order, waiting for ``release_held``."""
        self.duplicates_first = False
        """While messages are held, refuse a Modify or Cancel repeating a held one at once (``D`` / ``J``): the
        answer to the copy overtakes the answer to the original."""

    @property
    def first_poll_ns(self) -> int:
        """Return when to run a new connection's timers first (one heartbeat interval)."""
        return self.server_config.heartbeat_interval_ns

    def close(self) -> None:
        """Close the exchange's record file."""
        self.exchange.close()

    def connect(self, now_ns: int) -> BoeServerConnection:
        """Register a new client connection."""
        connection = BoeServerConnection(self.server_config, self.streams, self.session, self)
        connection.connection_made(now_ns)
        self.connections.append(connection)
        return connection

    def receive(self, connection: BoeServerConnection, data: bytes, now_ns: int) -> None:
        """Feed client bytes (login, orders) to the connection and the exchange."""
        logged_in = connection.state is ServerConnectionState.LOGGED_IN
        connection.data_received(data, now_ns)
        if not logged_in and connection.state is ServerConnectionState.LOGGED_IN:
            self.logins += 1

    def output(self, connection: BoeServerConnection, now_ns: int) -> tuple[bytearray, bool]:
        """Return the bytes to write to ``connection`` and whether to cut it right after them."""
        limit = None
        if self.drop_after is not None:
            limit = max(self.drop_after - connection.sequenced_sent, 0)
        connection.pump(now_ns, limit)
        data = connection.take(now_ns)
        cut = self.drop_after is not None and connection.sequenced_sent >= self.drop_after and not connection.closed
        if cut:
            self.cuts += 1
            following = self._next_unsent(connection)
            if following is not None:
                raw = connection.encode(following)
                data += raw[: max(len(raw) // 2, 1)]
        return data, cut

    def poll(self, connection: BoeServerConnection, now_ns: int) -> int:
        """Run one connection's timers; return ns until its next deadline."""
        return connection.poll(now_ns)

    def disconnected(self, connection: BoeServerConnection, now_ns: int) -> None:
        """Forget a connection that is gone."""
        connection.connection_lost(now_ns)
        with contextlib.suppress(ValueError):
            self.connections.remove(connection)

    def end_of_day(self, now_ns: int) -> None:
        """Send Logout E to every client; the session accepts no more logins or messages."""
        for connection in list(self.connections):
            connection.end_of_day(now_ns)
        self.streams.ended = True

    def restart_numbering(self, *units: int) -> None:
        """Number ``units`` from 1 again, as a venue-side failover does: their earlier messages are gone (never
        replayed again); the book and LastReceivedSequenceNumber stay. Cut the connections first."""
        if any(connection.state is ServerConnectionState.LOGGED_IN for connection in self.connections):
            raise RuntimeError("cut the connections before restarting the numbering")
        for unit in units:
            self.streams.messages[unit] = []

    def outbound(self) -> list[ReturnMessage]:
        """Return every sequenced message of every unit (unit by unit, in sequence order)."""
        return [message for unit in sorted(self.streams.messages) for message in self.streams.messages[unit]]

    # ---- BoeServerListener ----

    def on_message(self, connection: BoeServerConnection, message: memoryview) -> None:
        """Pass one client application message to the exchange (rejected with y during replay)."""
        if self.streams.ended:
            return
        self._current = connection
        try:
            if self.hold or self.held:  # Cboe processes a port's messages in order: behind the held ones
                if not (self.duplicates_first and self.exchange.refuse_held_duplicate(message, self.held)):
                    self.held.append(bytes(message))
            elif connection.replaying:
                self.exchange.reject_during_replay(message)
            else:
                self.exchange.on_message(message)
        finally:
            self._current = None

    def release_held(self, connection: BoeServerConnection | None = None, *, newest_first: bool = False) -> int:
        """Stop holding and process the held messages in order (``newest_first``: reversed); return how many.

        Their unsequenced answers go to ``connection`` (None: no connection, they are lost), as a
        real exchange answers late on whatever connection is current. ``newest_first`` plays an
        exchange that lets a later message (a Cancel) overtake an earlier one (its New Order).
        """
        self.hold = False
        held, self.held = self.held, []
        if newest_first:
            held.reverse()
        self._current = connection
        try:
            for message in held:
                self.exchange.on_message(message)
        finally:
            self._current = None
        return len(held)

    def on_close_wanted(self, connection: BoeServerConnection, reason: str) -> None:
        """Log why a connection is closing (the transport closes it after writing ``out``)."""
        log.info("simulator: closing connection: %s", reason)
        del connection

    # ---- internals ----

    def _emit(self, unit: int, message: ReturnMessage) -> None:
        if unit == 0:
            current = self._current
            if current is not None:
                if self.drop_after is None:  # in the order generated: the sequenced answers queued so far first
                    current.pump(self.clock())
                current.send_unsequenced(message)
            return
        self.streams.append(unit, message)

    def _next_unsent(self, connection: BoeServerConnection) -> ReturnMessage | None:
        for unit, stream in self.streams.messages.items():
            sent = connection.sent.get(unit, 0)
            if sent < len(stream):
                return stream[sent]
        return None


class BoeSimulator(TcpSimulator):
    """The simulator on a real TCP socket (in-process API for tests)."""

    core: SimulatorCore

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: NowNs = monotonic_ns,
        wall: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config or SimulatorConfig()
        super().__init__(SimulatorCore(self.config, clock=clock, wall=wall), self.config.host, self.config.port)

    @property
    def exchange(self) -> BoeExchange:
        """Return the exchange (its ``records`` hold every inbound application message)."""
        return self.core.exchange

    @property
    def streams(self) -> UnitStreams:
        """Return the per-unit streams (every sequenced outbound message)."""
        return self.core.streams

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

    def restart_numbering(self, *units: int) -> None:
        """Cut every connection, then number ``units`` from 1 again (``SimulatorCore.restart_numbering``)."""
        self.drop_connections()
        for connection in list(self.core.connections):
            self.core.disconnected(connection, self.core.clock())
        self.core.restart_numbering(*units)

    def end_of_day(self) -> None:
        """Send Logout E to every client and refuse further logins."""
        self.core.end_of_day(self.core.clock())
        self.flush_all()

    def execute(self, cl_ord_id: str, quantity: int, price: int | None = None) -> bool:
        """Execute a resting order now and send the result."""
        done = self.core.exchange.execute(cl_ord_id, quantity, price)
        self.flush_all()
        return done


# --------------------------------------------------------------------------------------
# Command line: gateway sim boe
# --------------------------------------------------------------------------------------

_price = price_type(MAX_PRICE, "922337203685477.5807")


def _symbol_unit(text: str) -> tuple[str, int]:
    symbol, sep, unit = text.partition("=")
    if not sep or not symbol or len(symbol) > 8 or not unit.isdigit():
        raise argparse.ArgumentTypeError(f"expected SYMBOL=UNIT (symbol up to 8 characters), got {text!r}")
    return symbol, int(unit)


def _add_unit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--units", type=positive, default=3, metavar="N", help="matching units 1..N (default 3)")
    parser.add_argument(
        "--symbol-unit",
        type=_symbol_unit,
        action="append",
        default=[],
        metavar="SYM=UNIT",
        help="trade SYM on matching unit UNIT (repeatable; other symbols are spread by a hash)",
    )


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``gateway sim boe`` options (those of ``gateway sim ouch`` plus matching units)."""
    add_venue_arguments(
        parser,
        _price,
        login=(
            "BOE username, up to 4 characters (default USER)",
            "BOE password, up to 10 characters (default PASS)",
            "BOE SessionSubID, up to 4 characters (default 0001)",
            "0001",
        ),
        rejects=("reason Y, symbol not supported", "reason M, order size too large", "reason m, risk limit"),
        client_timeout=(5000, "log out a client silent this long (default 5000)"),
        book_extra=_add_unit_arguments,
    )
    parser.add_argument("--record", metavar="PATH", help="append every inbound message to PATH as JSON lines")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="event loop (default uvloop)")


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Build the simulator configuration from parsed CLI arguments (raises msgspec.ValidationError)."""
    host, port = args.listen
    exchange: dict[str, object] = {
        "units": args.units,
        "symbol_units": dict(args.symbol_unit),
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
            "session_sub_id": args.session,
            "username": args.username,
            "password": args.password,
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
    simulator = BoeSimulator(config)
    try:
        await simulator.start()
    except OSError as exc:
        print(f"gateway sim boe: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        simulator.core.close()
        return EXIT_FAILURE
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(
        f"Cboe BOE v2 simulator listening on {config.host}:{simulator.port} "
        f"(SessionSubID {config.session_sub_id!r}, user {config.username!r}, {config.exchange.units} matching units, "
        f"{loop_name} loop); Ctrl-C to stop",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await simulator.stop()
    sequenced = sum(len(stream) for stream in simulator.streams.messages.values())
    print(
        f"Cboe BOE v2 simulator stopped: {len(simulator.exchange.records)} inbound messages, "
        f"{sequenced} sequenced messages",
        flush=True,
    )
    return 0


def run_cli(args: argparse.Namespace) -> int:
    """Run the simulator until Ctrl-C / SIGTERM; return the exit code."""
    try:
        config = config_from_args(args)
    except (msgspec.ValidationError, ValueError) as exc:
        print(f"gateway sim boe: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with asyncio.Runner(loop_factory=event_loop_factory(args.loop)) as runner:
        return runner.run(_serve(config, args.loop))
