"""A Cboe message of a known type that does not decode is not taken as received (boebad33).

Session (sans-IO, fake clock): the unit's number stays at the last message read, the session asks for a
disconnect, and drops for the same broken message back off like failed logins. Adapter with the BOE
simulator core (``tests.boe.harness.Link``, fake clock): a fill cut short is read intact from the replay
after the re-login, once; a short unsequenced Order Rejected leaves the New Order in doubt, and the
in-doubt handling answers it exactly once. Then the fill cut short once on loopback, through the whole
gateway.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from gateway.client import GatewayClient
from gateway.protocol.messages import Executed, OrderAccepted
from model.clock import FakeClock
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueExecuted, VenueRejected, VenueState
from simulators.boe.server import BoeServerConnection
from simulators.boe.simulator import SimulatorCore
from tests.boe.harness import PX, connected_link, make_order
from tests.e2e.support import short_tmp, wait_for
from tests.e2e.test_boe_pipeline import running_boe_gateway
from venues.boe.codec import MESSAGE_NAMES, REPLAY_COMPLETE_BYTES, BoeSplitter, decode_outbound, encode_message
from venues.boe.errors import DecodeError
from venues.boe.messages import (
    ORDER_EXECUTION,
    ORDER_REJECTED,
    LoginResponse,
    Logout,
    OrderAcknowledgment,
    OrderExecution,
    OrderRejected,
)
from venues.boe.session import BoeClientSession, BoeSessionConfig, BoeSessionState, SequenceIssue

MS = 1_000_000
CONFIG = BoeSessionConfig("0010", "BATS", "test", reconnect_initial_ns=100 * MS, reconnect_max_ns=10_000 * MS)


def cut(raw: bytes, count: int) -> bytes:
    """Return ``raw`` without its last ``count`` bytes, its MessageLength made to agree (framing stays intact)."""
    short = bytearray(raw[:-count])
    struct.pack_into("<H", short, 2, len(short) - 2)
    return bytes(short)


def execution(unit: int, sequence: int) -> bytes:
    return encode_message(OrderExecution(unit, sequence, 1, "C1", 7, 100, PX, 0, "A", "", ""))


def ack(unit: int, sequence: int) -> bytes:
    return encode_message(OrderAcknowledgment(unit, sequence, 1, "C1", 99))


def rejected() -> bytes:
    return encode_message(OrderRejected(0, 0, 1, "C1", "Y", "unknown symbol"))


@dataclass
class Decoding:
    """A listener that decodes each application message as the adapter does and returns why it failed."""

    read: list[tuple[int, int, bool]] = field(default_factory=list)
    failed: list[tuple[int, int]] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    issues: list[SequenceIssue] = field(default_factory=list)

    def on_login_accepted(self, response: LoginResponse) -> None:
        del response

    def on_login_rejected(self, status: str, text: str) -> None:
        del status, text

    def on_application(self, message: memoryview, unit: int, sequence: int, replay: bool) -> str | None:
        if message[4] not in MESSAGE_NAMES:  # a type not known: no handler, ignored (as the adapter does)
            self.read.append((unit, sequence, replay))
            return None
        decoded = decode_outbound(message)
        if isinstance(decoded, DecodeError):
            self.failed.append((unit, sequence))
            return decoded.text
        self.read.append((unit, sequence, replay))
        return None

    def on_replay_complete(self) -> None:
        pass

    def on_sequence_issue(self, issue: SequenceIssue) -> None:
        self.issues.append(issue)

    def on_logout(self, logout: Logout) -> None:
        del logout

    def on_disconnect_wanted(self, reason: str) -> None:
        self.disconnects.append(reason)

    def on_protocol_error(self, text: str) -> None:
        self.errors.append(text)


def _login(
    client: BoeClientSession, clock: FakeClock, replay: bytes = b"", units: tuple[tuple[int, int], ...] = ()
) -> None:
    client.connection_made(clock())
    client.take(clock())
    client.data_received(encode_message(LoginResponse("A", "ok", 0, 0, units or ((1, 0),))) + replay, clock())


def _logged_in() -> tuple[BoeClientSession, Decoding, FakeClock]:
    listener = Decoding()
    client, clock = BoeClientSession(CONFIG, listener), FakeClock()
    _login(client, clock, REPLAY_COMPLETE_BYTES)
    assert client.ready
    return client, listener, clock


# ---- session ------------------------------------------------------------------------------------


def test_sequenced_message_when_cut_short_in_its_fixed_part_then_not_received_and_disconnect_asked() -> None:
    client, listener, clock = _logged_in()
    short = cut(execution(1, 2), 20)
    client.data_received(ack(1, 1) + short + ack(1, 3), clock())
    assert client.units == {1: 1}  # the last message read; the message after the bad one is not read either
    assert listener.read == [(1, 1, False)] and listener.failed == [(1, 2)]
    [reason] = listener.disconnects
    assert reason.startswith(f"undecodable Order Execution (unit 1, sequence 2, {len(short)} bytes): Order Execution:")
    assert reason.endswith("; the next login lists 1 so that Cboe sends it again")
    assert listener.errors == [reason] and client.protocol_errors == 1 and client.undecodable == 1
    client.connection_lost(clock())
    client.connection_made(clock())
    login = client.login_request()
    assert login.param_groups[0].units == ((1, 1),)  # type: ignore[union-attr]


def test_sequenced_message_when_replayed_intact_after_the_drop_then_read_and_received() -> None:
    client, listener, clock = _logged_in()
    client.data_received(cut(execution(1, 1), 1), clock())
    client.connection_lost(clock())
    _login(client, clock, execution(1, 1) + REPLAY_COMPLETE_BYTES, ((1, 1),))
    assert client.ready and client.units == {1: 1}
    assert listener.read == [(1, 1, True)] and listener.issues == []


def test_unsequenced_message_when_cut_short_then_disconnect_asked_and_no_number_recorded() -> None:
    client, listener, clock = _logged_in()
    client.data_received(cut(rejected(), 1), clock())
    assert listener.failed == [(0, 0)] and client.units == {1: 0}
    [reason] = listener.disconnects
    assert reason.startswith("undecodable Order Rejected (unit 0, sequence 0, ")
    assert reason.endswith("unsequenced, never replayed: requests in doubt are settled after the next login")


def test_repeated_message_when_cut_short_then_protocol_error_only() -> None:
    client, listener, clock = _logged_in()
    client.data_received(ack(1, 1) + ack(1, 2) + cut(execution(1, 2), 20), clock())
    assert client.units == {1: 2} and listener.disconnects == [] and client.state is BoeSessionState.LOGGED_IN
    assert listener.errors[0].startswith("undecodable Order Execution repeated (unit 1, sequence 2): ")


def test_reconnect_when_the_same_broken_message_keeps_coming_then_backoff_grows_until_one_decodes_live() -> None:
    client, _listener, clock = _logged_in()
    client.data_received(cut(execution(1, 1), 20), clock())  # live: the first drop
    client.connection_lost(clock())
    delays = [client.reconnect_delay_ns(1)]
    for _ in range(3):  # Cboe replays it broken every time
        _login(client, clock, cut(execution(1, 1), 20))
        client.connection_lost(clock())
        delays.append(client.reconnect_delay_ns(1))
    assert delays == [200 * MS, 400 * MS, 800 * MS, 1_600 * MS]  # as refused logins: doubling
    assert client.undecodable == 4 and client.units == {1: 0}
    _login(client, clock, execution(1, 1) + REPLAY_COMPLETE_BYTES)  # intact at last: past it
    client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == 100 * MS


def test_reconnect_when_unsequenced_messages_keep_breaking_then_backoff_grows_until_one_is_read_live() -> None:
    client, _listener, clock = _logged_in()
    for _ in range(2):
        client.data_received(cut(rejected(), 1), clock())
        client.connection_lost(clock())
        _login(client, clock, ack(1, 1) + REPLAY_COMPLETE_BYTES)  # a message read in the replay is not enough
    client.data_received(cut(rejected(), 1), clock())
    client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == 800 * MS
    _login(client, clock, REPLAY_COMPLETE_BYTES, ((1, 1),))
    client.data_received(ack(1, 2), clock())
    client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == 100 * MS


def test_unknown_message_type_when_sequenced_then_ignored_and_counted_received() -> None:
    client, listener, clock = _logged_in()
    unknown = bytearray(ack(1, 1))
    unknown[4] = 0x77
    client.data_received(bytes(unknown) + ack(1, 2), clock())
    # handed over with its number like any other (the adapter admits it, no handler): no gap left open
    assert client.units == {1: 2} and listener.read == [(1, 1, False), (1, 2, False)]
    assert listener.issues == [] and listener.disconnects == []
    assert listener.errors == ["unknown message type 0x77 from Cboe while LOGGED_IN; ignored"]


# ---- adapter with the simulator -------------------------------------------------------------------


def _break_once(core: SimulatorCore, message_type: int, count: int) -> list[bytes]:
    """Make the simulator's next message of ``message_type`` arrive ``count`` bytes short, once; return it."""
    passed = core.output
    splitters: dict[int, BoeSplitter] = {}
    broken: list[bytes] = []

    def output(connection: BoeServerConnection, now_ns: int) -> tuple[bytearray, bool]:
        data, closing = passed(connection, now_ns)
        if broken:
            return data, closing
        splitter = splitters.setdefault(id(connection), BoeSplitter())
        out = bytearray()
        for message in splitter.feed(bytes(data)):
            whole = bytes(message)
            if whole[4] == message_type and not broken:
                whole = cut(whole, count)
                broken.append(whole)
            out += whole
        return out, closing

    core.output = output  # type: ignore[method-assign]
    return broken


def test_execution_when_cut_short_then_dropped_and_the_fill_arrives_once_from_the_replay(tmp_path: Path) -> None:
    link = connected_link(tmp_path)
    broken = _break_once(link.core, ORDER_EXECUTION, 20)  # inside its fixed part (LeavesQty on)
    order = make_order(1, price=PX + 100)  # marketable: acknowledged and filled at once
    link.send_new(order)
    assert broken and link.connection is None  # the adapter had the connection closed
    assert [type(e).__name__ for e in link.events] == ["VenueAccepted"]
    assert link.venue.counters["decode_errors"] == 1 and link.venue.status()["undecodable_drops"] == 1
    unit = 1  # AAPL's
    assert link.venue.session.units[unit] == 1  # the Acknowledgment; not the Execution
    assert link.venue.reconnect_delay_ns(1) == 2 * link.config.session_config().reconnect_initial_ns
    link.connect()  # Cboe replays from the Execution on
    assert link.venue.state is VenueState.UP
    fills = [e for e in link.events if isinstance(e, VenueExecuted)]
    assert len(fills) == 1 and fills[0].qty == 100
    assert order.state is OrderState.FILLED and order.cum_qty == 100
    assert link.venue.session.units[unit] == 2 and link.core.exchange.violations == []
    link.disconnect()
    link.connect()  # a later login replays nothing twice
    assert len([e for e in link.events if isinstance(e, VenueExecuted)]) == 1


def test_unsequenced_reject_when_cut_short_then_the_new_order_gets_exactly_one_answer(tmp_path: Path) -> None:
    link = connected_link(tmp_path, reject_symbols=frozenset({"SPY"}))
    broken = _break_once(link.core, ORDER_REJECTED, 1)
    order = make_order(1, symbol="SPY")
    link.send_new(order)
    assert broken and link.connection is None  # not UP with the New Order left unanswered
    assert link.events == []
    link.connect()  # Cboe reports the New Order received: it is probed (a Cancel), never re-sent
    for _ in range(12):  # the probe's bound (PROBE_TIMEOUT_NS) on the fake clock
        link.clock.advance_ms(500)
        link.poll()
    [answer] = [e for e in link.events if e.order_id == 1]
    assert isinstance(answer, VenueRejected) and answer.code == "BOE_ANSWER_LOST"
    assert order.state is OrderState.REJECTED
    assert [r.outcome for r in link.exchange_records] == ["rejected:Y", "cancel-rejected:O"]
    assert link.core.exchange.violations == []


# ---- loopback: the whole gateway against the BOE simulator -------------------------------------------


async def test_gateway_when_a_fill_arrives_cut_short_then_the_strategy_gets_it_once_after_the_relogin() -> None:
    async with running_boe_gateway(short_tmp()) as (process, sim):  # reconnect_initial_ms 20
        venue = process.venues[0]
        broken = _break_once(sim.core, ORDER_EXECUTION, 20)
        async with GatewayClient(process.config.path(process.config.strategy_socket), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "230.15")  # marketable
            final = await order.wait_done(timeout=15)
            assert broken, "the simulator sent no Order Execution"
            assert isinstance(final, Executed) and final.leaves_qty == 0
            assert [type(e) for e in order.events] == [OrderAccepted, Executed]
            await wait_for(lambda: venue.state is VenueState.UP, what="venue UP again")
            status = venue.status()
            assert (status["undecodable_drops"], status["decode_errors"], status["logins"]) == (1, 1, 2)
        assert sim.exchange.violations == []
