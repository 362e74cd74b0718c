"""Load-generator wires against real peers without sockets: the sans-IO OUCH simulator, gateway frames."""

from __future__ import annotations

from benchmarks.harness.plan import QTY, REJECT_QTY, REPLACE_QTY, Action
from benchmarks.harness.simproc import ReceiveClock
from benchmarks.harness.wires import (
    ACCEPTED,
    CANCEL_REJECTED,
    CANCELED,
    REJECTED,
    REPLACED,
    OuchWire,
    Results,
    StrategyWire,
)
from gateway.protocol.framing import encode_frame, strategy_message_decoder
from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    Replace,
    Replaced,
)
from model.clock import FakeClock
from model.enums import RejectSource
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig, SimulatorCore
from venues.ouch.soupbin import encode_login_request


def _simulator(clock: FakeClock, **exchange: object) -> SimulatorCore:
    return SimulatorCore(
        SimulatorConfig(exchange=ExchangeConfig(**exchange)),  # type: ignore[arg-type]
        clock=clock,
        timestamp=lambda: 34_200_000_000_000,
    )


def test_ouch_wire_when_new_cancel_replace_against_simulator_then_every_answer_recorded() -> None:
    clock = FakeClock()
    core = _simulator(clock)
    connection = core.connect(clock())
    core.receive(connection, encode_login_request("USER", "PASS", "", 0), clock())
    core.output(connection, clock())  # Login Accepted
    wire = OuchWire("127.0.0.1", 1)
    results = Results(4)
    out = bytearray()
    wire.encode(out, 0, Action.NEW, -1, clock())
    wire.encode(out, 1, Action.NEW, -1, clock())
    core.receive(connection, bytes(out), clock())
    assert wire.feed(bytes(core.output(connection, clock.advance(5))[0]), clock(), results) == 2
    out.clear()
    wire.encode(out, 2, Action.CANCEL, 0, clock())
    wire.encode(out, 3, Action.REPLACE, 1, clock())
    core.receive(connection, bytes(out), clock())
    assert wire.feed(bytes(core.output(connection, clock.advance(5))[0]), clock(), results) == 2
    assert list(results.outcome) == [ACCEPTED, ACCEPTED, CANCELED, REPLACED]
    assert all(results.done) and results.venue_id[0] != results.venue_id[1] != 0
    records = core.exchange.records
    assert [r.type for r in records] == ["O", "O", "X", "U"]
    assert records[0].qty == QTY and records[3].qty == REPLACE_QTY


def test_ouch_wire_when_simulator_rejects_then_rejected() -> None:
    clock = FakeClock()
    core = _simulator(clock, reject_symbols=frozenset({"AAPL"}))
    connection = core.connect(clock())
    core.receive(connection, encode_login_request("USER", "PASS", "", 0), clock())
    core.output(connection, clock())
    wire = OuchWire("127.0.0.1", 1)
    results = Results(1)
    out = bytearray()
    wire.encode(out, 0, Action.NEW, -1, clock())
    core.receive(connection, bytes(out), clock())
    assert wire.feed(bytes(core.output(connection, clock())[0]), clock(), results) == 1
    assert results.outcome[0] == REJECTED


def test_receive_clock_when_reads_then_order_reference_number_joins_to_read_time() -> None:
    clock = FakeClock()
    core = _simulator(clock)
    receive = ReceiveClock(core)
    connection = core.connect(clock())
    core.receive(connection, encode_login_request("USER", "PASS", "", 0), clock())
    core.output(connection, clock())
    wire = OuchWire("127.0.0.1", 1)
    results = Results(3)
    for index in range(3):
        out = bytearray()
        wire.encode(out, index, Action.NEW, -1, clock())
        core.receive(connection, bytes(out), clock.advance(1_000))
        wire.feed(bytes(core.output(connection, clock())[0]), clock(), results)
    times = receive.receive_times()
    joined = dict(
        zip(
            memoryview(times.order_reference_numbers).cast("q").tolist(),
            memoryview(times.read_ns).cast("q").tolist(),
            strict=True,
        )
    )
    assert [joined[results.venue_id[i]] for i in range(3)] == [clock.now - 2_000, clock.now - 1_000, clock.now]


def test_strategy_wire_when_actions_encoded_then_strategy_protocol_requests() -> None:
    wire = StrategyWire("/nonexistent", "bench", venue="OUCH", prefix="r0-", account="ACC1")
    out = bytearray()
    wire.encode(out, 4, Action.NEW, -1, 111)
    wire.encode(out, 5, Action.REJECT, -1, 222)
    wire.encode(out, 6, Action.CANCEL, 4, 333)
    wire.encode(out, 7, Action.REPLACE, 4, 444)
    messages = []
    pos = 0
    while pos < len(out):
        length = int.from_bytes(out[pos : pos + 4], "big")
        messages.append(strategy_message_decoder.decode(bytes(out[pos + 4 : pos + 4 + length])))
        pos += 4 + length
    new, reject, cancel, replace = messages
    assert isinstance(new, NewOrder) and new.cl_ord_id == "r0-4" and new.account == "ACC1" and new.sent_ns == 111
    assert isinstance(reject, NewOrder) and reject.qty == REJECT_QTY
    assert isinstance(cancel, Cancel) and cancel.cl_ord_id == "r0-4"
    assert isinstance(replace, Replace) and replace.cl_ord_id == "r0-4" and replace.qty == REPLACE_QTY
    wire.sock.close()


def test_strategy_wire_when_gateway_answers_then_outcomes_by_action() -> None:
    wire = StrategyWire("/nonexistent", "bench", venue="OUCH", prefix="r0-")
    results = Results(5)
    out = bytearray()
    for index, action, target in ((0, Action.NEW, -1), (1, Action.REJECT, -1), (2, Action.CANCEL, 0)):
        wire.encode(out, index, action, target, 1)
    wire.encode(out, 3, Action.NEW, -1, 1)
    wire.encode(out, 4, Action.REPLACE, 3, 1)
    frames = b"".join(
        encode_frame(m)
        for m in (
            OrderAccepted(1, "r0-0", "100000001", 100, 1),
            OrderRejected(2, "r0-1", RejectSource.RISK, "MAX_QTY", "too big"),
            Canceled(3, "r0-0", 100, 0, "USER", ""),
            OrderAccepted(4, "r0-3", "100000002", 100, 1),
            Replaced(5, "r0-3", 200, 1, 200),
            CancelRejected(6, "r0-3", RejectSource.GATEWAY, "UNKNOWN_ORDER", ""),  # nothing pending: ignored
        )
    )
    assert wire.feed(frames, 99, results) == 5
    assert list(results.outcome) == [ACCEPTED, REJECTED, CANCELED, ACCEPTED, REPLACED]
    assert list(results.venue_id[:1]) == [100000001] and set(results.done) == {99}
    assert CANCEL_REJECTED not in results.outcome
    wire.sock.close()
