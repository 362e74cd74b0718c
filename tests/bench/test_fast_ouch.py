"""The fast OUCH bench venue: answers decode with the real codec, match the spec's bytes and the full simulator's."""

from __future__ import annotations

import pytest

from benchmarks.harness import wires
from benchmarks.harness.plan import Action, Kind, Scenario, build_plan
from benchmarks.harness.wires import ACCEPTED, OuchWire, Results
from model.clock import FakeClock
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.fast import NUMPY, NUMPY_MIN_RUN, FastOuchConfig, FastOuchCore
from simulators.ouch.simulator import SimulatorConfig, SimulatorCore
from tests.ouch.golden import PRICE_150_25, TS_0930, TS_0930_NS, hexb, text
from venues.ouch.codec import (
    decode_outbound,
    encode_message,
    pack_cancel_order,
    pack_enter_order,
    pack_replace_order,
)
from venues.ouch.errors import DecodeError
from venues.ouch.messages import EnterOrder, OrderAccepted, OutboundMessage
from venues.ouch.soupbin import (
    LOGIN_ACCEPTED,
    LOGIN_REJECTED,
    SERVER_HEARTBEAT_PACKET,
    SoupSplitter,
    encode_login_request,
    encode_unsequenced,
)

PX = 1_502_500


def _core(*, use_numpy: bool = True) -> FastOuchCore:
    return FastOuchCore(timestamp=lambda: TS_0930_NS, use_numpy=use_numpy)


def _logged_in(core: FastOuchCore) -> tuple[object, bytes]:
    connection = core.connect()
    answer = connection.receive(encode_login_request("USER", "PASS", "", 0), 1)
    return connection, bytes(answer)


def _enters(first: int, count: int) -> bytes:
    out = bytearray()
    for urn in range(first, first + count):
        side = b"B" if urn % 2 else b"S"
        cl_ord_id = (b"C%d" % urn).ljust(14)
        pack_enter_order(out, urn, side, 100 + urn, b"AAPL    ", PX + urn, b"0", b"Y", b"A", b"N", b"N", cl_ord_id)
    return bytes(out)


def _sequenced(data: bytes) -> list[OutboundMessage]:
    messages = []
    for packet in SoupSplitter().feed(data):
        assert packet[0] == ord("S"), bytes(packet)
        decoded = decode_outbound(packet[1:])
        assert not isinstance(decoded, DecodeError), decoded
        messages.append(decoded)
    return messages


def test_receive_when_spec_enter_order_then_accepted_golden_bytes() -> None:
    core = _core()
    connection, login = _logged_in(core)
    assert login[2] == LOGIN_ACCEPTED
    enter = EnterOrder(7, "T", 500, "MSFT", PX, "3", "N", "P", "Y", "O", "C-7")
    answer = connection.receive(encode_unsequenced(encode_message(enter)), 2)  # type: ignore[attr-defined]
    golden = hexb(
        "00 41",  # Packet Length 65
        "53",  # Sequenced Data
        "41",  # 0 Type A
        TS_0930,  # 1 Timestamp
        "00 00 00 07",  # 9 UserRefNum
        "54",  # 13 Side T
        "00 00 01 F4",  # 14 Quantity 500
        text("MSFT", 8),  # 18 Symbol
        PRICE_150_25,  # 26 Price
        "33",  # 34 TIF IOC
        "4E",  # 35 Display N
        "00 00 00 00 05 F5 E1 01",  # 36 Order Reference Number 100,000,001
        "50",  # 44 Capacity P
        "59",  # 45 ISE Y
        "4F",  # 46 CrossType O
        "4C",  # 47 Order State L
        text("C-7", 14),  # 48 ClOrdID
        "00 00",  # 62 Appendage Length
    )
    assert bytes(answer) == golden
    assert _sequenced(bytes(answer)) == [
        OrderAccepted(TS_0930_NS, 7, "T", 500, "MSFT", PX, "3", "N", 100_000_001, "P", "Y", "O", "L", "C-7")
    ]


def _full_simulator_answers(data: list[bytes]) -> list[OutboundMessage]:
    clock = FakeClock()
    core = SimulatorCore(SimulatorConfig(exchange=ExchangeConfig()), clock=clock, timestamp=lambda: TS_0930_NS)
    connection = core.connect(clock())
    core.receive(connection, encode_login_request("USER", "PASS", "", 0), clock())
    core.output(connection, clock())
    out = b""
    for chunk in data:
        core.receive(connection, chunk, clock())
        out += bytes(core.output(connection, clock())[0])
    return _sequenced(out)


def _fast_answers(data: list[bytes], *, use_numpy: bool = True) -> bytes:
    core = _core(use_numpy=use_numpy)
    connection, _ = _logged_in(core)
    return b"".join(bytes(connection.receive(chunk, 3)) for chunk in data)  # type: ignore[attr-defined]


def _cancel(urn: int, qty: int) -> bytes:
    out = bytearray()
    pack_cancel_order(out, urn, qty)
    return bytes(out)


def _replace(orig: int, urn: int, qty: int, price: int) -> bytes:
    out = bytearray()
    pack_replace_order(out, orig, urn, qty, price, b"0", b"Y", b"N", b"R%d".ljust(14) % urn)
    return bytes(out)


SESSION = [
    _enters(1, 20),  # a numpy run
    _enters(21, 1) + _cancel(3, 0) + _enters(22, 12) + _replace(4, 100, 300, PX + 7),  # packets, then a run
    _cancel(5, 50) + _cancel(999, 0) + _replace(998, 101, 1, PX),  # partial cancel; unknown orders are ignored
    _cancel(100, 0),  # cancel the replacement
]


def test_receive_when_enters_cancels_replaces_then_same_answers_as_full_simulator() -> None:
    expected = _full_simulator_answers(SESSION)
    assert [type(m).__name__ for m in expected].count("OrderAccepted") == 33
    assert _sequenced(_fast_answers(SESSION)) == expected


@pytest.mark.skipif(NUMPY is None, reason="numpy (bench extra) not installed")
def test_receive_when_numpy_runs_then_same_bytes_as_one_pack_per_packet() -> None:
    assert _fast_answers(SESSION, use_numpy=True) == _fast_answers(SESSION, use_numpy=False)
    core = _core()
    connection, _ = _logged_in(core)
    connection.receive(_enters(1, NUMPY_MIN_RUN * 3), 4)  # type: ignore[attr-defined]
    assert core.counters["numpy_runs"] == 1 and core.counters["enters"] == NUMPY_MIN_RUN * 3


def test_receive_when_bytes_arrive_split_anywhere_then_same_answers() -> None:
    stream = b"".join(SESSION)
    whole = _fast_answers([stream])
    for cut in (1, 2, 3, 49, 50, 51, 700, 1_001, len(stream) - 1):
        assert _fast_answers([stream[:cut], stream[cut:]]) == whole, cut
    assert _fast_answers([stream[i : i + 7] for i in range(0, len(stream), 7)]) == whole


def test_login_when_bad_password_or_unavailable_sequence_then_rejected_and_closed() -> None:
    core = FastOuchCore(FastOuchConfig(password="SECRET"), timestamp=lambda: TS_0930_NS)
    connection = core.connect()
    answer = connection.receive(encode_login_request("USER", "PASS", "", 0), 1)
    assert answer[2] == LOGIN_REJECTED and answer[3:4] == b"A" and connection.close_reason
    connection = core.connect()
    answer = connection.receive(encode_login_request("USER", "SECRET", "", 5), 1)
    assert answer[2] == LOGIN_REJECTED and answer[3:4] == b"S"
    connection = core.connect()
    assert connection.receive(_enters(1, 1), 1) == b""  # nothing before the login
    answer = connection.receive(encode_login_request("USER", "SECRET", "", 1), 1)
    assert answer[2] == LOGIN_ACCEPTED and answer.endswith(b"1" + SERVER_HEARTBEAT_PACKET)  # no replay: said at once
    assert connection.poll(0, 400_000_000) == (b"", 600_000_000)
    assert connection.poll(0, 1_000_000_000) == (SERVER_HEARTBEAT_PACKET, 1_000_000_000)


def test_marks_when_reads_then_every_order_reference_number_joins_to_its_read_time() -> None:
    core = _core()
    connection, _ = _logged_in(core)
    connection.receive(_enters(1, 3), 1_000)  # type: ignore[attr-defined]
    connection.receive(_cancel(1, 0), 1_500)  # type: ignore[attr-defined]
    connection.receive(_enters(4, 10), 2_000)  # type: ignore[attr-defined]
    orns, times = core.order_reference_read_times()
    assert list(orns) == list(range(100_000_001, 100_000_014))
    assert list(times) == [1_000] * 3 + [2_000] * 10


def test_ouch_wire_when_preencoded_then_same_bytes_as_encoding_each_action() -> None:
    plan = build_plan(Scenario("r", Kind.RATE, 30, warmup=5, rate=1_000))
    wire = OuchWire("127.0.0.1", 1, first_user_ref_num=11)
    data, offsets = wire.preencode(plan.kinds) or (b"", None)
    assert offsets is not None and len(offsets) == plan.actions + 1 and offsets[-1] == len(data)
    each = OuchWire("127.0.0.1", 1, first_user_ref_num=11)
    out = bytearray()
    for i in range(plan.actions):
        each.encode(out, i, Action.NEW, -1, 0)
    assert data == bytes(out)
    wire.sock.close()
    each.sock.close()
    mixed = build_plan(Scenario("m", Kind.MIXED, 200, rate=1_000, cancel_pct=20))
    assert OuchWire("127.0.0.1", 1).preencode(mixed.kinds) is None


@pytest.mark.parametrize("use_numpy", [True, False])
def test_ouch_wire_when_fast_venue_answers_runs_then_every_action_accepted_with_its_reference(
    use_numpy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not use_numpy:
        monkeypatch.setattr(wires, "NUMPY", None)
    count = 200
    plan = build_plan(Scenario("r", Kind.RATE, count, rate=1_000))
    wire = OuchWire("127.0.0.1", 1)
    data, offsets = wire.preencode(plan.kinds) or (b"", None)
    assert offsets is not None
    core = _core(use_numpy=use_numpy)
    connection, _ = _logged_in(core)
    answers = bytes(connection.receive(data, 5))  # type: ignore[attr-defined]
    results = Results(count)
    # answers split mid-packet, and one run broken by a heartbeat
    cut = 67 * 50 + 30
    stream = answers[:cut] + answers[cut : 67 * 120] + SERVER_HEARTBEAT_PACKET + answers[67 * 120 :]
    assert wire.feed(stream[:cut], 7, results) == 50
    assert wire.feed(stream[cut:], 9, results) == count - 50
    assert wire.feed(answers[:67], 11, results) == 0  # duplicates are not counted twice
    assert set(results.outcome) == {ACCEPTED}
    assert list(results.done[:50]) == [7] * 50 and set(results.done[50:]) == {9}
    assert list(results.venue_id) == list(range(100_000_001, 100_000_001 + count))
    wire.sock.close()
