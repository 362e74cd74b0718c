"""BOE simulator over real loopback sockets, driven by a raw client built from the codec (asyncio and uvloop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from model.clock import FakeClock
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import BoeSimulator, SimulatorConfig, SimulatorCore
from tests.boe.raw_client import ACK_RETURNS, RawClient
from venues.boe.codec import decode_outbound
from venues.boe.messages import (
    CancelOrder,
    CancelRejected,
    ClientHeartbeat,
    LoginResponse,
    Logout,
    LogoutRequest,
    ModifyOrder,
    ModifyOrderFields,
    NewOrder,
    NewOrderFields,
    OrderAcknowledgment,
    OrderCancelled,
    OrderExecution,
    OrderModified,
    OrderRejected,
    OrderRestated,
    OutboundMessage,
    ReplayComplete,
    ReturnBitfields,
    ReturnFields,
    ReturnMessage,
    ServerHeartbeat,
    TradeCancelOrCorrect,
    UserModifyRejected,
)

PX = 1_000_000  # $100.00
EXCHANGE = BoeExchangeConfig(
    units=3,
    symbol_units={"AAPL": 2, "MSFT": 1},
    reference_prices={"AAPL": PX, "MSFT": PX},
    reject_symbols=frozenset({"BAD"}),
    max_order_qty=10_000,
    cancel_reject_symbols=frozenset({"LATE"}),
)
Start = Callable[..., Awaitable[BoeSimulator]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    started: list[BoeSimulator] = []

    async def run(**fields: object) -> BoeSimulator:
        fields.setdefault("exchange", EXCHANGE)
        simulator = BoeSimulator(SimulatorConfig(**fields))  # type: ignore[arg-type]
        await simulator.start()
        started.append(simulator)
        return simulator

    yield run
    for simulator in started:
        await simulator.stop()


def sequenced(client: RawClient) -> list[tuple[int, int, str]]:
    """Return (unit, sequence, message name) of every application message the client holds."""
    return [(m.matching_unit, m.sequence, type(m).__name__) for m in client.received if isinstance(m, ReturnMessage)]


def _is(kind: type) -> Callable[[OutboundMessage], bool]:
    return lambda message: isinstance(message, kind)


# ---- login ------------------------------------------------------------------------------------------


async def test_login_when_valid_then_accepted_all_units_echo_and_replay_complete(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    response = await client.login((), no_unspecified=0)
    assert response.status == "A" and response.text == "Login Accepted"
    assert response.units == ((1, 0), (2, 0), (3, 0))
    assert response.last_received_sequence == 0
    assert ReturnBitfields(0x25, ACK_RETURNS.bitfields) in response.param_groups
    assert isinstance(await client.wait_for(_is(ReplayComplete)), ReplayComplete)
    client.close()


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"password": "WRONG"}, "N"),
        ({"session": "0002"}, "S"),
        ({"units": ((9, 0),)}, "I"),
        ({"units": ((1, 5),)}, "Q"),
        ({"returns": (ReturnBitfields(0x29, b"\x01"),)}, "F"),
    ],
    ids=["password", "session", "unit", "sequence-ahead", "return-bitfield"],
)
async def test_login_when_invalid_then_refused_with_status_and_closed(
    start: Start, kwargs: dict[str, object], status: str
) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    response = await client.login(**kwargs)  # type: ignore[arg-type]
    assert response.status == status
    assert response.units == (((1, 0), (2, 0), (3, 0)) if status == "Q" else ())  # Q: which unit is behind
    await client.wait_closed()


async def test_login_when_session_already_logged_in_then_b(start: Start) -> None:
    simulator = await start()
    first = await RawClient.connect(simulator.port)
    await first.login_and_replay()
    second = await RawClient.connect(simulator.port)
    assert (await second.login()).status == "B"
    await second.wait_closed()
    first.close()


async def test_login_when_first_message_is_not_login_then_closed(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.send(ClientHeartbeat())
    await client.wait_closed()


# ---- orders -------------------------------------------------------------------------------------------


async def test_new_order_when_marketable_then_ack_and_execution_on_the_symbols_unit(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    await client.new_order("A1", "AAPL", 100, PX)
    ack = await client.wait_for(_is(OrderAcknowledgment))
    execution = await client.wait_for(_is(OrderExecution))
    assert isinstance(ack, OrderAcknowledgment) and isinstance(execution, OrderExecution)
    assert (ack.matching_unit, ack.sequence, ack.cl_ord_id) == (2, 1, "A1")
    assert ack.bitfield_count == 5
    assert ack.optional == ReturnFields(
        side="1", price=PX, symbol="AAPL", capacity="A", order_qty=100, leaves_qty=100
    )  # exactly the negotiated fields
    assert (execution.matching_unit, execution.sequence) == (2, 2)
    assert (execution.last_shares, execution.last_px, execution.leaves_qty) == (100, PX, 0)
    assert execution.base_liquidity_indicator == "R"
    assert execution.optional == ReturnFields(side="1", symbol="AAPL")
    await client.new_order("M1", "MSFT", 10, PX - 100)  # rests
    second_ack = await client.wait_for(_is(OrderAcknowledgment))
    assert isinstance(second_ack, OrderAcknowledgment)
    assert (second_ack.matching_unit, second_ack.sequence) == (1, 1)
    client.close()


@pytest.mark.parametrize(
    ("cl_ord_id", "kwargs", "reason"),
    [
        ("R1", {"symbol": "BAD"}, "Y"),
        ("R2", {"capacity": None}, "C"),
        ("R3", {"qty": 20_000}, "M"),
        ("R4", {"ord_type": "P"}, "A"),
        ("R5", {"price": None}, "A"),
        ("R6", {"side": "9"}, "A"),
        ("R,7", {}, "A"),
    ],
    ids=["symbol", "capacity", "size", "ord-type", "price", "side", "clordid"],
)
async def test_new_order_when_bad_then_unsequenced_reject_with_cboe_reason(
    start: Start, cl_ord_id: str, kwargs: dict[str, object], reason: str
) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    await client.new_order(cl_ord_id, **kwargs)  # type: ignore[arg-type]
    reject = await client.wait_for(_is(OrderRejected))
    assert isinstance(reject, OrderRejected)
    assert (reject.matching_unit, reject.sequence, reject.cl_ord_id, reject.reason) == (0, 0, cl_ord_id, reason)
    assert reject.text
    assert simulator.exchange.records[-1].outcome == f"rejected:{reason}"
    client.close()


async def test_new_order_when_clordid_live_then_duplicate_d(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    await client.new_order("D1", "MSFT", 10, PX - 100)
    await client.wait_for(_is(OrderAcknowledgment))
    await client.new_order("D1", "MSFT", 10, PX - 100)
    reject = await client.wait_for(_is(OrderRejected))
    assert isinstance(reject, OrderRejected) and reject.reason == "D"
    client.close()


async def test_new_order_when_ioc_not_marketable_then_ack_and_cancelled(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    await client.new_order("I1", "MSFT", 10, PX - 100, time_in_force="3")
    await client.wait_for(_is(OrderAcknowledgment))
    cancelled = await client.wait_for(_is(OrderCancelled))
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason == "N"
    client.close()


async def test_cancel_when_live_unknown_or_late_then_cancelled_or_rejected(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    await client.new_order("C1", "MSFT", 10, PX - 100)
    await client.new_order("C2", "LATE", 10, PX - 100)
    await client.wait_for(_is(OrderAcknowledgment))
    await client.wait_for(_is(OrderAcknowledgment))
    await client.send(CancelOrder(0, 10, "C1"), CancelOrder(0, 11, "NOPE"), CancelOrder(0, 12, "C2"))
    cancelled = await client.wait_for(_is(OrderCancelled))
    assert isinstance(cancelled, OrderCancelled) and (cancelled.cl_ord_id, cancelled.reason) == ("C1", "U")
    unknown = await client.wait_for(lambda m: isinstance(m, CancelRejected) and m.cl_ord_id == "NOPE")
    assert isinstance(unknown, CancelRejected) and (unknown.matching_unit, unknown.reason) == (0, "O")
    late = await client.wait_for(lambda m: isinstance(m, CancelRejected) and m.cl_ord_id == "C2")
    assert isinstance(late, CancelRejected) and late.reason == "J" and late.matching_unit != 0
    client.close()


async def test_modify_when_valid_then_order_modified_with_new_clordid(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    await client.new_order("O1", "MSFT", 100, PX - 500)
    await client.wait_for(_is(OrderAcknowledgment))
    await client.send(ModifyOrder(0, 5, "O2", "O1", ModifyOrderFields(order_qty=150, price=PX - 400)))
    modified = await client.wait_for(_is(OrderModified))
    assert isinstance(modified, OrderModified)
    assert modified.cl_ord_id == "O2"
    assert modified.optional == ReturnFields(price=PX - 400, order_qty=150, orig_cl_ord_id="O1", leaves_qty=150)
    assert set(simulator.exchange.orders) == {"O2"}
    client.close()


@pytest.mark.parametrize(
    ("orig", "fields", "reason"),
    [
        ("NOPE", ModifyOrderFields(order_qty=10, price=PX), "O"),
        ("O1", ModifyOrderFields(order_qty=10), "A"),
        ("O1", ModifyOrderFields(order_qty=10, price=PX, side="1"), "A"),
    ],
    ids=["unknown", "no-price", "side"],
)
async def test_modify_when_bad_then_user_modify_rejected(
    start: Start, orig: str, fields: ModifyOrderFields, reason: str
) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    await client.new_order("O1", "MSFT", 100, PX + 500, side="2")  # rests
    await client.wait_for(_is(OrderAcknowledgment))
    await client.send(ModifyOrder(0, 5, "O2", orig, fields))
    rejected = await client.wait_for(_is(UserModifyRejected))
    assert isinstance(rejected, UserModifyRejected) and rejected.reason == reason
    client.close()


async def test_modify_when_size_cut_below_executed_then_order_cancelled(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    await client.new_order("P1", "MSFT", 100, PX - 500)
    await client.wait_for(_is(OrderAcknowledgment))
    assert simulator.execute("P1", 60)
    await client.wait_for(_is(OrderExecution))
    await client.send(ModifyOrder(0, 5, "P2", "P1", ModifyOrderFields(order_qty=50, price=PX - 500)))
    cancelled = await client.wait_for(_is(OrderCancelled))
    assert isinstance(cancelled, OrderCancelled) and cancelled.cl_ord_id == "P1"
    client.close()


# ---- sequencing, replay, session rules ---------------------------------------------------------------------


async def test_relogin_when_units_given_then_replays_after_them_then_replay_complete(start: Start) -> None:
    simulator = await start()
    first = await RawClient.connect(simulator.port)
    await first.login_and_replay()
    await first.new_order("A1", "AAPL", 100, PX)  # unit 2: ack 1, execution 2
    await first.new_order("M1", "MSFT", 10, PX - 100)  # unit 1: ack 1
    await first.wait_for(_is(OrderExecution))
    await first.wait_for(_is(OrderAcknowledgment))
    await first.send(LogoutRequest())
    logout = await first.wait_for(_is(Logout))
    assert isinstance(logout, Logout)
    assert (logout.reason, logout.last_received_sequence) == ("U", 2)
    assert logout.units == ((1, 1), (2, 2), (3, 0))
    await first.wait_closed()
    simulator.exchange.execute("M1", 4)  # unit 1: execution 2, while nobody is connected
    second = await RawClient.connect(simulator.port)
    response = await second.login(((2, 1),))
    assert response.units == ((1, 2), (2, 2), (3, 0))
    assert response.last_received_sequence == 2
    complete = await second.wait_for(_is(ReplayComplete))
    assert isinstance(complete, ReplayComplete)
    assert sequenced(second) == [
        (1, 1, "OrderAcknowledgment"),
        (1, 2, "OrderExecution"),
        (2, 2, "OrderExecution"),
    ]  # unit 1 unlisted: everything; unit 2 after 1
    second.close()


async def test_relogin_when_no_unspecified_replay_then_only_listed_units(start: Start) -> None:
    simulator = await start()
    first = await RawClient.connect(simulator.port)
    await first.login_and_replay()
    await first.new_order("A1", "AAPL", 100, PX)
    await first.new_order("M1", "MSFT", 10, PX - 100)
    await first.wait_for(_is(OrderExecution))
    await first.wait_for(lambda m: isinstance(m, OrderAcknowledgment) and m.cl_ord_id == "M1")
    first.close()
    deadline = asyncio.get_running_loop().time() + 15  # the session is free once the venue has seen the close
    while simulator.core.session.logged_in is not None:
        assert asyncio.get_running_loop().time() < deadline, "the simulator never saw the first connection close"
        await asyncio.sleep(0.005)
    second = await RawClient.connect(simulator.port)
    await second.login_and_replay(((2, 1),), no_unspecified=1)
    assert sequenced(second) == [(2, 2, "OrderExecution")]
    second.close()


async def test_inbound_sequence_when_backwards_then_logout_protocol_violation(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    order = NewOrder(0, 5, "S1", "1", 1, NewOrderFields(price=PX, symbol="MSFT", capacity="A"))
    await client.send(order, NewOrder(0, 0, "S2", "1", 1, NewOrderFields(price=PX, symbol="MSFT", capacity="A")))
    await client.send(NewOrder(0, 5, "S3", "1", 1, NewOrderFields(price=PX, symbol="MSFT", capacity="A")))
    logout = await client.wait_for(_is(Logout))
    assert isinstance(logout, Logout)
    assert (logout.reason, logout.last_received_sequence) == ("!", 5)
    assert "SequenceNumber 5" in logout.text
    await client.wait_closed()
    assert [r.cl_ord_id for r in simulator.exchange.records] == ["S1", "S2"]


async def test_heartbeats_when_idle_then_server_heartbeats_and_silent_client_logged_out(start: Start) -> None:
    simulator = await start(heartbeat_interval_ms=30, client_timeout_ms=200)
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    assert isinstance(await client.wait_for(_is(ServerHeartbeat)), ServerHeartbeat)
    logout = await client.wait_for(_is(Logout))
    assert isinstance(logout, Logout) and logout.reason == "!"
    await client.wait_closed()


async def test_drop_after_when_reached_then_connection_cut_and_replay_recovers(start: Start) -> None:
    simulator = await start(drop_after=3)
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    for i in range(3):
        await client.new_order(f"A{i}", "AAPL", 100, PX)  # 2 messages each on unit 2
    await client.wait_closed()
    assert [sequence for _, sequence, _ in sequenced(client)] == [1, 2, 3]
    assert simulator.core.cuts == 1
    simulator.drop_after = None
    again = await RawClient.connect(simulator.port)
    await again.login_and_replay(((2, 3),))
    assert [sequence for _, sequence, _ in sequenced(again)] == [4, 5, 6]
    again.close()


async def test_end_of_day_when_called_then_logout_e_and_later_logins_disabled(start: Start) -> None:
    simulator = await start()
    client = await RawClient.connect(simulator.port)
    await client.login_and_replay()
    simulator.end_of_day()
    logout = await client.wait_for(_is(Logout))
    assert isinstance(logout, Logout) and logout.reason == "E"
    await client.wait_closed()
    late = await RawClient.connect(simulator.port)
    assert (await late.login()).status == "D"
    await late.wait_closed()


# ---- sans-IO core: exchange-side messages and replay rejects ------------------------------------------------


def _core() -> tuple[SimulatorCore, object, FakeClock]:
    clock = FakeClock()
    core = SimulatorCore(SimulatorConfig(exchange=EXCHANGE), clock=clock, wall=lambda: 1_700_000_000_000_000_000)
    connection = core.connect(clock())
    return core, connection, clock


def _login_bytes() -> bytes:
    from venues.boe.codec import encode_message
    from venues.boe.messages import LoginRequest

    return encode_message(LoginRequest("0001", "USER", "PASS"))


def test_core_when_restated_and_trade_corrected_then_sequenced_on_the_unit() -> None:
    from venues.boe.codec import encode_message

    core, connection, clock = _core()
    core.receive(connection, _login_bytes(), clock())  # type: ignore[arg-type]
    core.output(connection, clock())  # type: ignore[arg-type]  # Replay Complete: orders accepted from now on
    order = NewOrder(0, 1, "T1", "1", 100, NewOrderFields(price=PX, symbol="AAPL", capacity="A"))
    core.receive(connection, encode_message(order), clock())  # type: ignore[arg-type]
    exec_id = next(iter(core.exchange.executions))
    assert core.exchange.correct_trade(exec_id, PX + 1)
    assert not core.exchange.correct_trade(1)
    core.exchange.execute("T1", 1)  # already filled: nothing
    messages = core.outbound()
    assert [type(m).__name__ for m in messages] == ["OrderAcknowledgment", "OrderExecution", "TradeCancelOrCorrect"]
    correction = messages[-1]
    assert isinstance(correction, TradeCancelOrCorrect)
    assert (correction.matching_unit, correction.sequence, correction.exec_ref_id) == (2, 3, exec_id)
    assert (correction.last_shares, correction.last_px, correction.corrected_price) == (100, PX, PX + 1)
    order = NewOrder(0, 2, "T2", "1", 100, NewOrderFields(price=PX - 1, symbol="MSFT", capacity="A"))
    core.receive(connection, encode_message(order), clock())  # type: ignore[arg-type]
    assert core.exchange.restate("T2", "L", leaves=40)
    restated = core.streams.messages[1][-1]
    assert isinstance(restated, OrderRestated)
    assert (restated.matching_unit, restated.reason, restated.optional.leaves_qty) == (1, "L", 40)
    data, cut = core.output(connection, clock())  # type: ignore[arg-type]
    assert not cut and data


def test_core_when_order_arrives_during_replay_then_rejected_y() -> None:
    from venues.boe.codec import BoeSplitter, encode_message

    core, connection, clock = _core()
    core.drop_after = 0  # nothing may be pumped: the replay cannot complete
    order = NewOrder(0, 1, "Y1", "1", 1, NewOrderFields(price=PX, symbol="AAPL", capacity="A"))
    core.streams.append(2, OrderCancelled(0, 0, 1, "OLD", "U"))
    core.receive(connection, _login_bytes() + encode_message(order), clock())  # type: ignore[arg-type]
    data = bytes(connection.take(clock()))  # type: ignore[attr-defined]
    decoded = [decode_outbound(bytes(m)) for m in BoeSplitter().feed(data)]
    assert isinstance(decoded[0], LoginResponse)
    assert isinstance(decoded[1], OrderRejected) and decoded[1].reason == "y"
    assert core.exchange.records[-1].outcome == "rejected:y"
