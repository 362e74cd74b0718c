"""The benchmark's FIX venue (our FixSession as acceptor): our adapter trades with it; its reports validate."""

from __future__ import annotations

import pytest

from model.clock import FakeClock
from model.order import apply_ack, apply_canceled, apply_replaced, mark_sent, request_replace
from model.venue_events import VenueAccepted, VenueCanceled, VenueCancelRejected, VenueReplaced, VenueState
from simulators.fix.fast_venue import FastFixConnection, FastFixVenue
from simulators.fix.sim_book import SimBook
from tests.harness import sent_ref
from venues.fix.adapter import FixVenue
from venues.fix.codec import FixMessage, build_message
from venues.fix.config import FixVenueConfig, StoreKind, session_config
from venues.fix.dialect import load_dialect
from venues.fix.fields import MsgType
from venues.fix.session import FixSessionState
from venues.fix.store import MemoryStore

from .helpers import WALL_OFFSET_NS, Recorder, decode_all, make_order

DIALECTS = ["broker-fix44", "equities-fix42"]


class Pair:
    """Our FIX adapter (initiator) connected in memory to the fast venue (acceptor)."""

    def __init__(self, dialect_name: str) -> None:
        self.clock = FakeClock()
        self.dialect = load_dialect(dialect_name)
        config = FixVenueConfig(name="FIXV", host="127.0.0.1", port=1, dialect=dialect_name, store=StoreKind.MEMORY)
        self.adapter = FixVenue(
            "FIXV",
            self.dialect,
            session_config(config, self.dialect),
            MemoryStore(),
            self.clock,
            wall_offset_ns=WALL_OFFSET_NS,
        )
        self.recorder = Recorder()
        self.adapter.event_sink = self.recorder.event
        self.adapter.state_sink = self.recorder.state
        self.venue = FastFixVenue(
            self.dialect,
            sender_comp_id=self.dialect.target_comp_id,
            targets=(self.dialect.sender_comp_id,),
            clock=self.clock,
            wall_offset_ns=WALL_OFFSET_NS,
        )
        self.connection: FastFixConnection = self.venue.connect()
        self.to_venue = bytearray()
        self.reports: list[FixMessage] = []
        self.adapter.attach(self.to_venue.extend, lambda: None)
        self.adapter.connection_made(self.clock())
        self.pump()
        assert self.adapter.state is VenueState.UP
        assert self.connection.state is FixSessionState.ACTIVE

    def pump(self) -> None:
        """Move bytes both ways until neither side has anything to say."""
        while self.to_venue:
            data = bytes(self.to_venue)
            self.to_venue.clear()
            answer = self.connection.receive(data, self.clock())
            self.reports += decode_all(answer)
            self.adapter.data_received(answer, self.clock())
            self.adapter.flush()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_adapter_when_new_cancel_replace_then_events_as_from_a_venue(dialect: str) -> None:
    pair = Pair(dialect)
    first = make_order(1)
    second = make_order(2, qty=300)
    for order in (first, second):
        pair.adapter.send_new(order)
        pair.adapter.flush()
        pair.pump()
    accepted = [e for e in pair.recorder.events if isinstance(e, VenueAccepted)]
    assert [(e.order_id, e.venue_order_id) for e in accepted] == [(1, "100000001"), (2, "100000002")]
    for order in (first, second):  # as the core's order table has them now
        mark_sent(order, f"Q{order.order_id}")
        apply_ack(order, f"{100_000_000 + order.order_id}")
    pair.adapter.send_cancel(first)
    pair.adapter.send_replace(second, 500, 1_502_600)
    pair.adapter.flush()
    pair.pump()
    assert any(isinstance(e, VenueCanceled) and e.order_id == 1 for e in pair.recorder.events)
    assert apply_canceled(first, 0) == 100  # as the core applies the Canceled: the order has ended
    replaced = [e for e in pair.recorder.events if isinstance(e, VenueReplaced)]
    assert len(replaced) == 1 and replaced[0].order_id == 2 and replaced[0].leaves_qty == 500
    assert replaced[0].price == 1_502_600
    pair.adapter.send_cancel(first)  # already canceled: the venue refuses
    pair.adapter.flush()
    pair.pump()
    assert isinstance(pair.recorder.events[-1], VenueCancelRejected)
    assert pair.venue.counters == {"new": 2, "cancel": 1, "replace": 1, "rejected": 0}
    assert [m.msg_type for m in pair.reports] == [MsgType.LOGON, *([MsgType.EXECUTION_REPORT] * 4), b"9"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_reports_when_validated_with_the_quickfix_dictionary_then_valid(dialect: str) -> None:
    dictionary = pytest.importorskip("venues.fix.dictionary")
    pytest.importorskip("quickfix")
    pair = Pair(dialect)
    validator = dictionary.FixValidator.for_dialect(pair.dialect)
    order = make_order(3)
    pair.adapter.send_new(order)
    mark_sent(order, "Q3")
    apply_ack(order, "")
    pair.adapter.flush()
    pair.pump()
    request_replace(order, 200, 1_502_700, sent_ref(pair.adapter.send_replace(order, 200, 1_502_700)))
    pair.adapter.flush()
    pair.pump()
    apply_replaced(order, 200, 1_502_700, "")
    pair.adapter.send_cancel(order)
    pair.adapter.flush()
    pair.pump()
    pair.adapter.send_cancel(order)
    pair.adapter.flush()
    pair.pump()
    assert len(pair.reports) == 5
    for report in pair.reports:
        assert validator.check(report.raw) is None, report


@pytest.mark.parametrize("dialect", DIALECTS)
def test_new_order_report_when_compared_with_the_quickfix_simulator_book_then_same_fields(dialect: str) -> None:
    pair = Pair(dialect)
    pair.adapter.send_new(make_order(4, qty=250, price=2_290_000, strategy_id="bench"))
    pair.adapter.flush()
    nos = decode_all(bytes(pair.to_venue))[0]
    pair.pump()
    ours = pair.reports[-1].fields
    book = SimBook(pair.dialect)
    msg_type, body = book.on_new("s", nos.fields)[0]
    assert msg_type == MsgType.EXECUTION_REPORT
    volatile = {b"8", b"9", b"10", b"34", b"35", b"49", b"52", b"56", b"17", b"37"}
    assert {k: v for k, v in ours.items() if k not in volatile} == {k: v for k, v in body if k not in volatile}


def test_connection_when_unknown_initiator_then_refused_without_a_session() -> None:
    pair = Pair("broker-fix44")
    other = pair.venue.connect()
    stranger = FixVenue(
        "X",
        pair.dialect,
        session_config(
            FixVenueConfig(
                name="X",
                host="127.0.0.1",
                port=1,
                dialect="broker-fix44",
                sender_comp_id="STRANGER",
                store=StoreKind.MEMORY,
            ),
            pair.dialect,
        ),
        MemoryStore(),
        pair.clock,
        wall_offset_ns=WALL_OFFSET_NS,
    )
    wire = bytearray()
    stranger.attach(wire.extend, lambda: None)
    stranger.connection_made(pair.clock())
    assert other.receive(bytes(wire[:10]), 1) == b""  # incomplete: waits
    reasons = [other.close_reason]
    assert other.receive(bytes(wire[10:]), 1) == b""
    reasons.append(other.close_reason)
    assert reasons[0] is None and "STRANGER" in str(reasons[1])


def test_marks_when_orders_then_order_ids_join_to_read_times() -> None:
    pair = Pair("broker-fix44")
    for k in range(3):
        pair.adapter.send_new(make_order(10 + k))
        pair.adapter.flush()
        pair.clock.advance(1_000)
        pair.pump()
    ids, times = pair.venue.order_id_read_times()
    assert list(ids) == [100_000_001, 100_000_002, 100_000_003]
    assert list(times) == [pair.clock.now - 2_000, pair.clock.now - 1_000, pair.clock.now]


def test_fix_floor_wire_when_preencoded_then_gateway_bytes_and_reports_recorded() -> None:
    from array import array

    from benchmarks.harness.wires import ACCEPTED, FixWire, Results

    wire = FixWire("127.0.0.1", 1, sender_comp_id="LOADGEN")
    data, offsets = wire.preencode(array("b", bytes(3))) or (b"", array("q"))
    messages = decode_all(data)
    assert [m.seq for m in messages] == [2, 3, 4] and len(offsets) == 4 and offsets[-1] == len(data)
    first = messages[0]
    assert first.msg_type == MsgType.NEW_ORDER_SINGLE
    assert (first.get(b"11"), first.get(b"1"), first.get(b"9102"), first.get(b"49")) == (
        b"B0",
        b"BRK-0001",
        b"bench",
        b"LOADGEN",
    )
    assert wire.preencode(array("b", [0, 1])) is None  # a cancel: not a floor plan
    dialect = load_dialect("broker-fix44")
    clock = FakeClock()
    venue = FastFixVenue(dialect, sender_comp_id="BRKR", targets=("LOADGEN",), clock=clock)
    connection = venue.connect()
    logon = build_message(
        b"FIX.4.4",
        b"A",
        sender=b"LOADGEN",
        target=b"BRKR",
        seq=1,
        sending_time=b"20240102-10:00:00.000",
        body_fields=[(b"98", b"0"), (b"108", b"60"), (b"141", b"Y")],
    )
    assert decode_all(connection.receive(logon, clock()))[0].msg_type == MsgType.LOGON
    reports = connection.receive(data, clock())
    results = Results(3)
    cut = len(reports) // 2 + 3
    assert wire.feed(reports[:cut], 5, results) + wire.feed(reports[cut:], 6, results) == 3
    assert list(results.outcome) == [ACCEPTED] * 3
    assert list(results.venue_id) == [100_000_001, 100_000_002, 100_000_003]
    wire.sock.close()
