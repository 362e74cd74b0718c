"""FixVenue as the core sees it: orders out, venue events in, persistence and recovery (sans-IO)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.engine import Engine
from gateway.venue_apply import apply_venue_event
from model.clock import FakeClock
from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.exactly_once import RequestKind, ResumePoint, UnansweredRequest
from model.fsync import FsyncPolicy
from model.order import Order, apply_ack, mark_sent, request_cancel, request_replace
from model.send_result import Refused, Sent
from model.venue_events import (
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    VenueState,
)
from tests.harness import sent_ref
from venues.fix.adapter import _NOT_SENT_TEXT, FixVenue
from venues.fix.codec import FixMessage
from venues.fix.config import FixVenueConfig, StoreKind, build_fix_venue, session_config
from venues.fix.dialect import DialectError, load_dialect
from venues.fix.fields import MsgType
from venues.fix.session import SessionSchedule
from venues.fix.store import FileStore, MemoryStore, MessageStore

from .helpers import WALL_OFFSET_NS, Recorder, VenuePeer, decode_all, make_order

SECOND = 1_000_000_000


class Wire:
    """A fake transport: what the adapter wrote, and whether it closed."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def take(self) -> list[FixMessage]:
        messages = decode_all(self.data)
        self.data.clear()
        return messages


class Rig:
    """A FixVenue on a fake clock and wire, with a scripted venue."""

    def __init__(
        self,
        dialect: str = "equities-fix42",
        config: FixVenueConfig | None = None,
        store: MessageStore | None = None,
        **kw: object,
    ) -> None:
        self.clock = FakeClock()
        self.dialect = load_dialect(dialect)
        cfg = config or FixVenueConfig(name="FIXV", host="127.0.0.1", port=1, dialect=dialect, store=StoreKind.MEMORY)
        self.store = store if store is not None else MemoryStore()
        self.venue_adapter = FixVenue(
            "FIXV",
            self.dialect,
            session_config(cfg, self.dialect),
            self.store,
            self.clock,
            wall_offset_ns=WALL_OFFSET_NS,
            **kw,  # type: ignore[arg-type]
        )
        self.recorder = Recorder()
        self.venue_adapter.event_sink = self.recorder.event
        self.venue_adapter.state_sink = self.recorder.state
        self.wire = Wire()
        begin = self.dialect.begin_bytes
        self.peer = VenuePeer(begin, self.dialect.target_comp_id.encode(), self.dialect.sender_comp_id.encode())

    @property
    def adapter(self) -> FixVenue:
        return self.venue_adapter

    def connect(self) -> Rig:
        self.adapter.attach(self.wire.write, self.wire.close)
        self.adapter.connection_made(self.clock())
        return self

    def up(self) -> Rig:
        self.connect()
        self.wire.take()
        self.feed(self.peer.logon())
        assert self.adapter.state is VenueState.UP
        return self

    def feed(self, *raw: bytes) -> None:
        self.adapter.data_received(b"".join(raw), self.clock())
        self.adapter.flush()

    def deliver(self, engine: Engine, *raw: bytes) -> None:
        """Feed ``raw`` to the adapter, then flush ``engine`` (the engine the adapter reports to)."""
        self.adapter.data_received(b"".join(raw), self.clock())
        engine.flush()

    def applying(self, *orders: Order) -> Rig:
        """Apply each event to its order as it is reported (the engine's part), recording it too."""
        by_id = {order.order_id: order for order in orders}
        record = self.recorder.event

        def sink(event: VenueEvent) -> None:
            record(event)
            order = by_id.get(event.order_id)
            if order is not None:
                apply_venue_event(order, event, event.venue_seq, [])

        self.adapter.event_sink = sink
        return self

    def events(self) -> list[VenueEvent]:
        out = list(self.recorder.events)
        self.recorder.events.clear()
        return out


# ---- session lifecycle through the adapter ------------------------------------------------------


def test_connection_made_when_fresh_then_logon_flushed_and_state_logging_in() -> None:
    rig = Rig().connect()
    (logon,) = rig.wire.take()
    assert logon.msg_type == MsgType.LOGON
    assert rig.adapter.state is VenueState.LOGGING_IN
    assert rig.recorder.states == [("FIXV", VenueState.LOGGING_IN, "logon sent")]


def test_logon_reply_when_in_sequence_then_up_reported_once() -> None:
    rig = Rig().up()
    assert rig.recorder.states[-1] == ("FIXV", VenueState.UP, "logged on")
    assert rig.adapter.status()["next_target_seq"] == 2


def test_connection_lost_when_up_then_disconnected() -> None:
    rig = Rig().up()
    rig.adapter.detach()
    rig.adapter.connection_lost(rig.clock())
    assert rig.adapter.state is VenueState.DISCONNECTED
    assert rig.recorder.states[-1] == ("FIXV", VenueState.DISCONNECTED, "connection lost")


# ---- orders out -----------------------------------------------------------------------------------


def test_send_new_when_up_then_persisted_before_flush_and_written_on_flush() -> None:
    rig = Rig().up()
    order = make_order(7)
    ref = rig.adapter.send_new(order)
    assert ref == Sent("Q6rj7")
    assert rig.wire.data == bytearray()  # nothing on the wire before the core flushes
    ((seq, stored),) = rig.store.get_sent(1, 100)
    assert seq == 2
    rig.adapter.flush()
    (sent,) = rig.wire.take()
    assert sent.raw == stored
    assert (sent.msg_type, sent.seq, sent.get(b"11"), sent.get(b"44"), sent.get(b"38")) == (
        MsgType.NEW_ORDER_SINGLE,
        2,
        b"Q6rj7",
        b"150.25",
        b"100",
    )


def test_send_replace_and_cancel_when_order_live_then_new_clordids_chained_by_origclordid() -> None:
    rig = Rig().up()
    order = make_order(7)
    rig.adapter.send_new(order)
    replace_ref = rig.adapter.send_replace(order, 300, 1_510_000)
    rig.adapter.flush()
    _, replace = rig.wire.take()
    assert replace_ref == Sent("Q6rj7-1.1")
    assert (replace.get(b"41"), replace.get(b"11"), replace.get(b"38"), replace.get(b"44")) == (
        b"Q6rj7",
        b"Q6rj7-1.1",
        b"300",
        b"151",
    )
    rig.feed(rig.peer.execution_report(b"Q6rj7-1.1", b"5", ord_status=b"0", order_qty=300, leaves=300, price=b"151"))
    assert rig.events() == [VenueReplaced(2, 7, 300, 1_510_000, "OID1")]
    rig.adapter.send_cancel(order)
    rig.adapter.flush()
    (cancel,) = rig.wire.take()
    assert (cancel.msg_type, cancel.get(b"41"), cancel.get(b"11")) == (
        MsgType.ORDER_CANCEL_REQUEST,
        b"Q6rj7-1.1",
        b"Q6rj7-1.2",
    )


# ---- venue events in ------------------------------------------------------------------------------


def test_execution_reports_when_ack_and_fills_then_accepted_executed_with_liquidity_and_venue_seq() -> None:
    rig = Rig().up()
    order = make_order(7)
    mark_sent(order, sent_ref(rig.adapter.send_new(order)))
    rig.applying(order)
    rig.feed(
        rig.peer.execution_report(b"Q6rj7", b"0"),
        rig.peer.execution_report(
            b"Q6rj7", b"1", ord_status=b"1", leaves=60, cum=40, last_qty=40, last_px=b"150.2", exec_id=b"E2",
            extra=[(b"9730", b"A")],
        ),
        rig.peer.execution_report(
            b"Q6rj7", b"2", ord_status=b"2", leaves=0, cum=100, last_qty=60, last_px=b"150.25", exec_id=b"E3",
            extra=[(b"9730", b"R")],
        ),
    )  # fmt: skip
    assert rig.events() == [
        VenueAccepted(2, 7, "OID1", 100, 1_502_500),
        VenueExecuted(3, 7, 40, 1_502_000, "A", "E2"),
        VenueExecuted(4, 7, 60, 1_502_500, "R", "E3"),
    ]
    assert rig.adapter.status()["open_orders"] == 0  # filled: forgotten


def test_execution_report_when_canceled_then_canceled_everything_open() -> None:
    rig = Rig().up()
    order = make_order(7)
    rig.adapter.send_new(order)
    rig.adapter.send_cancel(order)
    rig.feed(rig.peer.execution_report(b"Q6rj7-1.1", b"4", ord_status=b"4", leaves=0, orig_cl_ord_id=b"Q6rj7"))
    assert rig.events() == [VenueCanceled(2, 7, 0, "CANCELED", "")]


def test_execution_report_when_rejected_then_rejected_with_reason_code() -> None:
    rig = Rig().up()
    rig.adapter.send_new(make_order(7))
    rig.feed(
        rig.peer.execution_report(
            b"Q6rj7", b"8", ord_status=b"8", leaves=0, extra=[(b"103", b"1"), (b"58", b"unknown symbol")]
        )
    )
    assert rig.events() == [VenueRejected(2, 7, "UNKNOWN_SYMBOL", "unknown symbol")]


def test_cancel_reject_when_received_then_cancel_rejected_and_next_cancel_targets_working_clordid() -> None:
    rig = Rig().up()
    order = make_order(7)
    rig.adapter.send_new(order)
    rig.adapter.send_cancel(order)
    reject = rig.peer.message(
        MsgType.ORDER_CANCEL_REJECT,
        [(b"37", b"OID1"), (b"11", b"Q6rj7-1.1"), (b"41", b"Q6rj7"), (b"39", b"0"), (b"434", b"1"), (b"102", b"0")],
    )
    rig.feed(reject)
    assert rig.events() == [VenueCancelRejected(2, 7, "TOO_LATE_TO_CANCEL", "cancel/replace refused by the venue")]
    rig.wire.take()
    rig.adapter.send_cancel(order)
    rig.adapter.flush()
    (cancel,) = rig.wire.take()
    assert cancel.get(b"41") == b"Q6rj7"


def test_execution_report_when_clordid_unknown_then_counted_and_no_event() -> None:
    rig = Rig().up()
    rig.feed(rig.peer.execution_report(b"Q6rj999", b"0"), rig.peer.execution_report(b"ZZZ", b"0"))
    assert rig.events() == []
    assert rig.adapter.counters["unknown_cl_ord_id"] == 2
    assert rig.adapter.session.next_target_seq == 4


def test_execution_report_when_fill_qty_garbled_then_session_reject_and_no_event() -> None:
    rig = Rig().up()
    rig.adapter.send_new(make_order(7))
    rig.adapter.flush()
    rig.wire.take()
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"1", last_qty=1, last_px=b"12,5"))
    assert rig.events() == []
    rig.adapter.flush()
    (reject,) = rig.wire.take()
    assert (reject.msg_type, reject.get(b"45"), reject.get(b"373"), reject.get(b"371")) == (
        MsgType.REJECT,
        b"2",
        b"6",
        b"31",
    )
    assert rig.adapter.counters["unparseable"] == 1


def test_business_message_reject_when_of_new_order_then_rejected() -> None:
    rig = Rig().up()
    rig.adapter.send_new(make_order(7))
    rig.feed(
        rig.peer.message(
            MsgType.BUSINESS_MESSAGE_REJECT,
            [(b"45", b"2"), (b"372", b"D"), (b"379", b"Q6rj7"), (b"380", b"4"), (b"58", b"not authorized")],
        )
    )
    assert rig.events() == [VenueRejected(2, 7, "BUSINESS_REJECT_4", "not authorized")]


def test_session_reject_when_of_our_order_then_rejected_via_store_lookup() -> None:
    rig = Rig().up()
    rig.adapter.send_new(make_order(7))
    rig.feed(rig.peer.message(MsgType.REJECT, [(b"45", b"2"), (b"371", b"44"), (b"373", b"5"), (b"58", b"bad px")]))
    assert rig.events() == [VenueRejected(2, 7, "SESSION_REJECT_5", "bad px")]


@pytest.mark.parametrize(
    ("msg_type", "fields", "prefix"),
    [
        (MsgType.BUSINESS_MESSAGE_REJECT, [(b"45", b"2"), (b"372", b"D"), (b"379", b"Q6rj7")], "BUSINESS_REJECT_"),
        (MsgType.REJECT, [(b"45", b"2"), (b"371", b"44")], "SESSION_REJECT_"),
    ],
    ids=["business", "session"],
)
@pytest.mark.parametrize("reason", [b"4" * 60_000, b"bad reason", b"17"], ids=["60k-digits", "not-a-number", "17"])
def test_reject_reason_when_not_a_number_of_at_most_16_digits_then_question_mark_and_a_legal_code(
    msg_type: bytes, fields: list[tuple[bytes, bytes]], prefix: str, reason: bytes
) -> None:
    """texts56: the reason number went into the code as the venue sent it: a 60,000-digit 380 or 373 made a 60,016-
    character ``code`` (the protocol's is 1 to 32 bytes: docs/strategy-protocol.md section 5), a strategy frame above
    65,536 bytes and a ``gateway_order_rejects_total`` label as long. FIX's reasons are numbers: one that is not 1 to
    16 digits is ``?``, as a missing one was."""
    rig = Rig().up()
    rig.adapter.send_new(make_order(7))
    tag = b"380" if msg_type == MsgType.BUSINESS_MESSAGE_REJECT else b"373"
    rig.feed(rig.peer.message(msg_type, [*fields, (tag, reason), (b"58", b"refused")]))
    ((event),) = rig.events()
    assert isinstance(event, VenueRejected) and event.text == "refused"
    assert event.code == prefix + (reason.decode() if reason == b"17" else "?")
    assert len(event.code.encode()) <= 32


def test_data_received_when_unsupported_message_type_then_business_message_reject_sent() -> None:
    rig = Rig().up()
    rig.feed(rig.peer.message(b"B", [(b"148", b"news")]))
    (reply,) = rig.wire.take()
    assert (reply.msg_type, reply.get(b"45"), reply.get(b"372"), reply.get(b"380")) == (
        MsgType.BUSINESS_MESSAGE_REJECT,
        b"2",
        b"B",
        b"3",
    )


def test_data_received_when_garbage_then_counted_and_session_continues() -> None:
    rig = Rig().up()
    rig.feed(b"\x00\xffnot fix at all", rig.peer.message(MsgType.HEARTBEAT))
    assert rig.adapter.session.counters["garbled"] == 1
    assert rig.adapter.session.next_target_seq == 3
    assert rig.adapter.state is VenueState.UP


# ---- check_order ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "changes", "code"),
    [
        ("equities-fix42", {"tif": TimeInForce.FOK}, "TIF_NOT_SUPPORTED"),
        ("equities-fix42", {"symbol": "TOOLONGSYMBOL"}, "BAD_SYMBOL"),
        ("equities-fix42", {"symbol": "A\x01B"}, "BAD_SYMBOL"),
        ("equities-fix42", {"order_id": 10**12}, "ORDER_ID_TOO_LONG"),
        ("broker-fix44", {"side": Side.SELL_SHORT_EXEMPT}, "SIDE_NOT_SUPPORTED"),
        ("broker-fix44", {"account": "ACC9"}, "ACCOUNT_NOT_MAPPED"),
        ("broker-fix44", {"strategy_id": "bad\x01id"}, "BAD_FIELD"),
    ],
)
def test_check_order_when_venue_cannot_carry_it_then_unsupported_with_code(
    dialect: str, changes: dict[str, object], code: str
) -> None:
    rig = Rig(dialect)
    kwargs: dict[str, object] = {"order_id": 7, **changes}
    order = make_order(**kwargs)  # type: ignore[arg-type]
    denial = rig.adapter.check_order(order)
    assert isinstance(denial, Refused)
    assert denial.code == code


def test_check_order_when_supported_then_none() -> None:
    rig = Rig("broker-fix44")
    assert rig.adapter.check_order(make_order(7, tif=TimeInForce.FOK, ord_type=OrderType.MARKET, price=0)) is None


def test_check_order_when_strict_and_validator_objects_then_fix_invalid() -> None:
    rig = Rig(validator=lambda raw: "RequiredTagMissing: 21")
    denial = rig.adapter.check_order(make_order(7))
    assert isinstance(denial, Refused)
    assert (denial.code, denial.text) == (
        "FIX_INVALID",
        "the order would not be valid FIX: RequiredTagMissing: 21",
    )


def test_send_new_when_strict_validation_fails_then_refused_and_nothing_stored_or_emitted() -> None:
    rig = Rig(validator=lambda raw: "nope").up()
    result = rig.adapter.send_new(make_order(7))
    assert result == Refused("FIX_INVALID", "refused by strict validation; not sent", RejectSource.GATEWAY)
    assert rig.store.get_sent(1, 10) == []
    rig.adapter.flush()
    assert rig.events() == []  # a refusal is the return value, never an event (not even from flush)
    assert rig.adapter.counters["strict_failures"] == 1
    assert rig.adapter.status()["open_orders"] == 0


class _FailingStore(MemoryStore):
    """A store whose next writes of business messages fail, like a full disk."""

    failing = False

    def save_sent(self, seq: int, raw: bytes) -> None:
        if self.failing:
            raise OSError(28, "No space left on device")
        super().save_sent(seq, raw)


@pytest.mark.parametrize("request_kind", ["new", "cancel", "replace"])
def test_send_when_store_cannot_be_written_then_refused_with_clear_code_and_session_unchanged(
    request_kind: str,
) -> None:
    rig = Rig()
    store = rig.venue_adapter.session.store = rig.store = _FailingStore()
    rig.up()
    order = make_order(7)
    assert isinstance(rig.adapter.send_new(order), Sent)
    rig.adapter.flush()
    rig.wire.take()
    before = (store.next_sender_seq, store.next_target_seq, store.get_sent(1, 100))
    store.failing = True
    if request_kind == "new":
        result = rig.adapter.send_new(make_order(8))
    elif request_kind == "cancel":
        result = rig.adapter.send_cancel(order)
    else:
        result = rig.adapter.send_replace(order, 200, 1_500_000)
    assert isinstance(result, Refused)
    assert (result.code, result.source) == ("FIX_STORE", RejectSource.GATEWAY)
    assert "No space left on device" in result.text
    assert (store.next_sender_seq, store.next_target_seq, store.get_sent(1, 100)) == before
    rig.adapter.flush()
    assert rig.wire.take() == []  # nothing went out
    assert rig.adapter.counters["store_failures"] == 1
    store.failing = False
    assert rig.adapter.send_cancel(order) == Sent("Q6rj7-1.1")  # the failed request used no number


def test_strict_mode_when_quickfix_dictionary_then_real_orders_pass() -> None:
    pytest.importorskip("quickfix")
    rig = Rig("broker-fix44", strict=True).up()
    order = make_order(7)
    assert rig.adapter.check_order(order) is None
    rig.adapter.send_new(order)
    rig.adapter.send_replace(order, 200, 1_400_000)
    rig.adapter.send_cancel(order)
    rig.adapter.flush()
    assert [m.msg_type for m in rig.wire.take()] == [b"D", b"G", b"F"]
    assert rig.adapter.counters["strict_failures"] == 0


# ---- persistence, restart and recovery ---------------------------------------------------------------


def _file_config(tmp_path: Path, dialect: str = "equities-fix42") -> FixVenueConfig:
    return FixVenueConfig(name="FIXV", host="127.0.0.1", port=1, dialect=dialect, store_dir=str(tmp_path))


@pytest.fixture
def file_venues() -> Iterator[Callable[[FixVenueConfig, FakeClock], FixVenue]]:
    """Build venues with file stores; close them all (their fsync threads end) after the test."""
    built: list[FixVenue] = []

    def build(config: FixVenueConfig, clock: FakeClock) -> FixVenue:
        venue = build_fix_venue(config, clock)
        built.append(venue)
        return venue

    yield build
    for venue in built:
        venue.close()


def test_restart_when_file_store_then_numbers_resume_and_restored_order_events_map(
    tmp_path: Path, file_venues: Callable[[FixVenueConfig, FakeClock], FixVenue]
) -> None:
    clock = FakeClock()
    peer = VenuePeer()
    first = file_venues(_file_config(tmp_path), clock)
    wire = Wire()
    first.attach(wire.write, wire.close)
    first.connection_made(clock())
    first.data_received(peer.logon(), clock())
    order = make_order(7)
    ref = sent_ref(first.send_new(order))
    first.flush()
    first.data_received(peer.execution_report(ref.encode(), b"0"), clock())
    first.flush()  # the core's flush after the read: its journal holds the ack before this
    # Killed here: no logout, no close.
    second = file_venues(_file_config(tmp_path), clock)
    recorder = Recorder()
    second.event_sink = recorder.event
    mark_sent(order, ref)
    apply_ack(order, "OID1")
    second.restore(order, ref)
    wire2 = Wire()
    second.attach(wire2.write, wire2.close)
    second.connection_made(clock())
    (logon,) = decode_all(wire2.data)
    assert logon.seq == 3  # 1 = logon, 2 = the order
    assert logon.get(b"141") == b""
    second.data_received(peer.logon(), clock())
    assert second.state is VenueState.UP
    second.data_received(peer.execution_report(ref.encode(), b"4", ord_status=b"4", leaves=0), clock())
    assert recorder.events == [VenueCanceled(4, 7, 0, "CANCELED", "")]  # venue: 1 logon, 2 ack, 3 logon


def test_restart_when_killed_before_the_flush_after_a_read_then_that_read_is_asked_for_again(
    tmp_path: Path, file_venues: Callable[[FixVenueConfig, FakeClock], FixVenue]
) -> None:
    clock = FakeClock()
    peer = VenuePeer()
    first = file_venues(_file_config(tmp_path), clock)
    first.event_sink = Recorder().event
    first.attach(Wire().write, Wire().close)
    first.connection_made(clock())
    first.data_received(peer.logon(), clock())
    first.flush()
    order = make_order(7)
    ref = sent_ref(first.send_new(order))
    first.flush()
    ack = peer.execution_report(ref.encode(), b"0")
    first.data_received(ack, clock())
    assert first.session.next_target_seq == 3
    # Killed here, before the core's flush: its journal never got the ack, so the store must not either.
    second = file_venues(_file_config(tmp_path), clock)
    assert second.session.next_target_seq == 2
    recorder = Recorder()
    second.event_sink = recorder.event
    second.restore(order, ref)
    wire = Wire()
    second.attach(wire.write, wire.close)
    second.connection_made(clock())
    second.data_received(peer.logon(), clock())  # venue: 1 logon, 2 ack, 3 logon
    second.flush()
    (resend,) = [m for m in decode_all(wire.data) if m.msg_type == MsgType.RESEND_REQUEST]
    assert (resend.get(b"7"), resend.get(b"16")) == (b"2", b"0")
    second.data_received(peer.execution_report(ref.encode(), b"0", seq=2), clock())  # the resent ack
    second.data_received(peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"4")], seq=3), clock())
    second.flush()
    assert recorder.events == [VenueAccepted(2, 7, "OID1", 100, 1_502_500)]
    assert second.state is VenueState.UP


def test_resume_after_when_journal_ahead_of_store_then_those_messages_not_reprocessed() -> None:
    rig = Rig()
    rig.store.set_next_target_seq(5)
    rig.adapter.resume_after(ResumePoint("", 8))
    assert rig.store.next_target_seq == 9
    rig.adapter.resume_after(ResumePoint("", 3))
    assert rig.store.next_target_seq == 9  # a clean stop: ahead of the journal only by messages without events, kept


@pytest.mark.parametrize(("clean", "batch"), [(True, False), (True, True), (False, True)])
def test_resume_after_when_the_journal_cannot_have_lost_its_tail_then_a_store_ahead_is_kept(
    clean: bool, batch: bool
) -> None:
    rig = Rig()
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened("j", clean, batch, False)
    rig.adapter.resume_after(ResumePoint("", 3))
    assert rig.store.next_target_seq == 9


def test_resume_after_when_the_journal_may_have_lost_its_tail_then_the_venue_resends_from_the_journal_s_last() -> None:
    """fixjournal59: a power failure took events the store had recorded; they are asked for again (ResendRequest)."""
    rig = Rig()
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened("j", False, False, False)  # not closed cleanly, fsync interval/none
    rig.adapter.resume_after(ResumePoint("", 3))
    assert rig.store.next_target_seq == 4  # before: 9, and messages 4..8 never asked for again
    assert rig.adapter.sequence.high_water == 3
    rig.peer.next_seq = 9
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())
    (resend,) = [m for m in rig.wire.take() if m.msg_type == MsgType.RESEND_REQUEST]
    assert (resend.get(b"7"), resend.get(b"16")) == (b"4", b"0")


def _restarted_with_an_order_open(dialect: str) -> Rig:
    """A restart after a kill -9 (fsync interval): the journal's last venue message is 5, the store had 6..8 too
    (the venue's Heartbeats after the order's ack); one order open; the venue's Logon is 9."""
    rig = Rig(dialect)
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened("j", False, False, False)
    order = make_order(7)
    mark_sent(order, "Q7")
    apply_ack(order, "OID1")
    rig.adapter.restore(order, "Q7")
    rig.adapter.resume_after(ResumePoint("", 5))
    assert rig.store.next_target_seq == 6
    rig.peer.next_seq = 9
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())
    (resend,) = [m for m in rig.wire.take() if m.msg_type == MsgType.RESEND_REQUEST]
    assert (resend.get(b"7"), resend.get(b"16")) == (b"6", b"0")
    return rig


@pytest.mark.parametrize("dialect", ["equities-fix42", "broker-fix44"])
def test_gap_fill_after_a_restart_over_numbers_received_before_it_then_nothing_counted_nor_asked(
    dialect: str, caplog: pytest.LogCaptureFixture
) -> None:
    """fixjournal59b: the numbers asked for again were received before the kill; the venue gap-fills its admin
    messages among them. Before: ERROR "(3 never received here)", the open order counted unchecked (the critical
    alert) or, with OrderStatusRequest, asked about, at every kill -9 with an order open."""
    rig = _restarted_with_an_order_open(dialect)
    caplog.set_level(logging.INFO, logger="venues.fix.adapter")
    caplog.clear()  # the WARNING of resume_after: the venue resends 6..8
    rig.feed(rig.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"10")], seq=6))
    counters = rig.adapter.counters
    assert (counters["gap_fills_with_open_orders"], counters["orders_unchecked_after_gap_fill"]) == (0, 0)
    assert [m for m in rig.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST] == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "the venue gap-filled MsgSeqNum 6..9, all received here (6..8 before the restart" in caplog.text
    assert rig.adapter.session.next_target_seq == 10
    assert rig.adapter.state is VenueState.UP


def test_gap_fill_after_a_restart_when_the_numbering_restarted_since_then_those_numbers_count() -> None:
    """The numbers received before the restart belong to the store's numbering then: after a reset, 6..9 are new."""
    rig = _restarted_with_an_order_open("equities-fix42")
    rig.store.reset(rig.store.creation_time_ns + 1)  # a new numbering (ResetSeqNumFlag, the daily reset)
    rig.adapter.on_gap_filled(6, 9, 3)  # the session's call for a gap fill 6 -> 9 of the new numbering
    counters = rig.adapter.counters
    assert (counters["gap_fills_with_open_orders"], counters["orders_unchecked_after_gap_fill"]) == (1, 1)


def test_gap_fill_after_a_restart_over_numbers_never_received_then_those_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The venue's 9..11, sent while the gateway was down, were never received: a gap fill over them counts them."""
    rig = Rig()
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened("j", False, False, False)
    order = make_order(7)
    mark_sent(order, "Q7")
    apply_ack(order, "OID1")
    rig.adapter.restore(order, "Q7")
    rig.adapter.resume_after(ResumePoint("", 5))
    rig.peer.next_seq = 12
    rig.connect()
    rig.feed(rig.peer.logon())
    rig.feed(rig.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"13")], seq=6))
    counters = rig.adapter.counters
    assert (counters["gap_fills_with_open_orders"], counters["orders_unchecked_after_gap_fill"]) == (1, 1)
    assert "the venue gap-filled MsgSeqNum 6..12 (3 never received here) with 1 order(s) open" in caplog.text


def test_resume_after_when_the_journal_holds_no_message_of_the_numbering_then_a_store_ahead_is_kept() -> None:
    """Nothing journaled of the numbering (named at the day's first connection or not), and the store does not say
    it began on this journal: a store kept across days numbers other days' messages too; asking from 1 would bring
    all of them back."""
    rig = Rig()
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened("j", False, False, False)
    rig.adapter.resume_after(ResumePoint("", 0))
    assert rig.store.next_target_seq == 9
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 0))
    assert rig.store.next_target_seq == 9


def _journal(tmp_path: Path, day: str = "20240501") -> str:
    path = tmp_path / f"journal-{day}"
    path.write_bytes(b"")
    return str(path)


def _numbering_begun_on(journal: str) -> Rig:
    """The day's first start on ``journal`` (the store created with it), the venue's Logon, Accepted and fill and a
    Heartbeat recorded by the store (8 expected), then a power failure under ``fsync: interval``."""
    rig = Rig()
    rig.adapter.journal_opened(journal, True, False, True)
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened(journal, False, False, False)  # the restart's (the same store)
    return rig


def test_resume_after_when_the_journal_lost_the_first_messages_of_a_numbering_begun_on_it_then_asked_from_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """fixhw60: ``high_water`` 0, the store's numbering began on this journal: only its messages come back. Before:
    kept at 9, the day's first Accepted and fill never asked for again."""
    rig = _numbering_begun_on(_journal(tmp_path))
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 0))
    assert rig.store.next_target_seq == 1
    assert "numbering, begun on this journal at MsgSeqNum 1; the store had recorded them up to 8" in caplog.text
    rig.peer.next_seq = 9
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())
    (resend,) = [m for m in rig.wire.take() if m.msg_type == MsgType.RESEND_REQUEST]
    assert (resend.get(b"7"), resend.get(b"16")) == (b"1", b"0")


def test_resume_after_when_the_journal_names_nothing_of_the_venue_then_the_first_connection_asks_from_1(
    tmp_path: Path,
) -> None:
    """The power failure took even the record naming the numbering: ``resume_after`` is not called at all."""
    rig = _numbering_begun_on(_journal(tmp_path))
    rig.peer.next_seq = 9
    rig.connect()
    assert rig.store.next_target_seq == 1
    rig.wire.take()
    rig.feed(rig.peer.logon())
    (resend,) = [m for m in rig.wire.take() if m.msg_type == MsgType.RESEND_REQUEST]
    assert resend.get(b"7") == b"1"


def test_resume_after_when_the_store_was_reset_on_this_journal_since_its_last_numbering_then_asked_from_1(
    tmp_path: Path,
) -> None:
    """A schedule's daily reset (or ResetSeqNumFlag) on this journal, then its first messages lost with the tail:
    the journal's last numbering is the older one."""
    journal = _journal(tmp_path)
    rig = Rig()
    rig.adapter.journal_opened(journal, True, False, True)
    old = rig.store.creation_time_ns
    rig.store.reset(old + 1)
    rig.store.set_next_target_seq(5)
    rig.adapter.journal_opened(journal, False, False, False)
    rig.adapter.resume_after(ResumePoint(str(old), 40))
    assert rig.store.next_target_seq == 1  # before: 5 (its numbers stand)


def test_resume_after_when_the_store_s_numbering_began_on_another_journal_then_kept_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store kept across days: its numbering began on yesterday's journal; asking from 1 would bring them back."""
    rig = Rig()
    rig.adapter.journal_opened(_journal(tmp_path, "20240430"), True, False, True)
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened(_journal(tmp_path), False, False, False)
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 0))
    assert rig.store.next_target_seq == 9
    assert "which began on another journal" in caplog.text
    assert "not asked for again, as that would bring back other days' messages" in caplog.text


def test_resume_after_when_the_store_recorded_only_the_venue_s_logon_then_nothing_asked_nor_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Number 1 of a numbering is the venue's Logon, which carries no event: a crash right after it lost nothing."""
    journal = _journal(tmp_path)
    rig = Rig()
    rig.adapter.journal_opened(journal, True, False, True)
    rig.store.set_next_target_seq(2)
    rig.adapter.journal_opened(journal, False, False, False)
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 0))
    assert rig.store.next_target_seq == 2
    assert "venues.fix" not in caplog.text


def test_resume_after_when_the_journal_was_closed_cleanly_then_a_numbering_begun_on_it_is_kept(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    rig = _numbering_begun_on(journal)
    rig.adapter.journal_opened(journal, True, False, False)
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 0))
    assert rig.store.next_target_seq == 9


@pytest.mark.parametrize("second", ["kill9", "clean"])
def test_gap_fill_after_a_restart_stopped_before_its_logon_then_the_next_start_knows_the_range(
    tmp_path: Path, second: str, caplog: pytest.LogCaptureFixture
) -> None:
    """fixhw60 (rev59merge16): the range asked again is in the store; a start that never logged on leaves it there.
    Before: the next start found the store at the journal's last + 1 and the range gone: ERROR "(3 never received
    here)" and the open order counted unchecked (the critical alert)."""
    path = tmp_path / "s.fixstore"
    journal = _journal(tmp_path)
    first = Rig(store=FileStore(path, creation_time_ns=5))
    first.adapter.journal_opened(journal, True, False, True)
    first.store.set_next_target_seq(9)  # the venue's 6..8 (Heartbeats) recorded after the journal's last, 5
    first.store.close()
    restart = Rig(store=FileStore(path))
    restart.adapter.journal_opened(journal, False, False, False)
    restart.adapter.resume_after(ResumePoint("", 5))
    assert restart.store.next_target_seq == 6  # asked again; the venue is down: no logon
    if second == "clean":
        restart.store.close()
    rig = Rig(store=FileStore(path))
    rig.adapter.journal_opened(journal, second == "clean", False, False)
    order = make_order(7)
    mark_sent(order, "Q7")
    apply_ack(order, "OID1")
    rig.adapter.restore(order, "Q7")
    rig.adapter.resume_after(ResumePoint("", 5))
    rig.peer.next_seq = 9
    rig.connect()
    rig.feed(rig.peer.logon())
    caplog.set_level(logging.INFO, logger="venues.fix.adapter")
    caplog.clear()
    rig.feed(rig.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"10")], seq=6))
    counters = rig.adapter.counters
    assert (counters["gap_fills_with_open_orders"], counters["orders_unchecked_after_gap_fill"]) == (0, 0)
    assert "the venue gap-filled MsgSeqNum 6..9, all received here (6..8 before the restart" in caplog.text
    assert rig.store.asked_again == (0, 0)  # answered: forgotten, on file too
    rig.store.close()
    assert FileStore(path).asked_again == (0, 0)


def test_resume_after_when_the_operator_skipped_messages_then_not_asked_for_below_the_skip() -> None:
    rig = Rig()
    rig.store.set_next_target_seq(9)
    rig.store.set_skipped_by_operator(5, 7)  # set-seq --next-target 7 from 5: asked about at the logon instead
    rig.adapter.journal_opened("j", False, False, False)
    rig.adapter.resume_after(ResumePoint("", 3))
    assert rig.store.next_target_seq == 7


def test_resume_after_when_journal_names_another_numbering_then_store_numbers_stand() -> None:
    rig = Rig()
    rig.store.set_next_target_seq(5)
    rig.adapter.resume_after(ResumePoint("12345", 8))  # the store was reset since that numbering
    assert rig.store.next_target_seq == 5
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 8))
    assert rig.store.next_target_seq == 9


def test_send_new_when_disconnected_and_dialect_never_replays_then_gap_filled_asked_about_and_not_sent() -> None:
    rig = Rig("broker-fix44")
    rig.adapter.send_new(make_order(7))  # persisted as 1, not sent: not logged on
    rig.up()
    rig.feed(rig.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"1"), (b"16", b"0")]))
    assert rig.events() == []  # gap-filled: its outcome is unknown, not "not sent"
    gap_fill, status_request = rig.wire.take()
    assert (gap_fill.msg_type, gap_fill.seq, gap_fill.get(b"36")) == (MsgType.SEQUENCE_RESET, 1, b"3")
    assert (status_request.msg_type, status_request.seq, status_request.get(b"11")) == (
        MsgType.ORDER_STATUS_REQUEST,
        3,
        b"B6rj7",
    )
    unknown = [(b"150", b"I"), (b"39", b"8"), (b"103", b"5")]
    rig.feed(
        rig.peer.message(MsgType.EXECUTION_REPORT, [(b"37", b"NONE"), (b"17", b"S1"), (b"11", b"B6rj7"), *unknown])
    )
    assert rig.events() == [VenueRejected(3, 7, "NOT_SENT", _NOT_SENT_TEXT)]


def test_send_new_when_disconnected_and_dialect_replays_fresh_orders_then_replayed_with_possdup() -> None:
    rig = Rig("equities-fix42")
    rig.adapter.send_new(make_order(7))
    rig.up()
    rig.feed(rig.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"1"), (b"16", b"0")]))
    replay = [m for m in rig.wire.take() if m.msg_type == MsgType.NEW_ORDER_SINGLE]
    assert [(m.seq, m.get(b"43"), m.get(b"11")) for m in replay] == [(1, b"Y", b"Q6rj7")]
    assert rig.events() == []


# ---- timers, closing and reconnecting ----------------------------------------------------------------


def test_poll_when_close_requested_and_core_never_flushes_then_adapter_closes_itself() -> None:
    rig = Rig().up()
    rig.adapter.data_received(rig.peer.message(MsgType.LOGOUT), rig.clock())
    closed_after = []
    for _ in range(2):
        closed_after.append(rig.wire.closed)
        rig.adapter.poll(rig.clock.advance(SECOND))
    closed_after.append(rig.wire.closed)
    assert closed_after == [False, False, True]
    assert [m.msg_type for m in rig.wire.take()] == [MsgType.LOGOUT]


def test_reconnect_delay_when_failures_then_backoff_from_config() -> None:
    rig = Rig()
    assert [rig.adapter.reconnect_delay_ns(n) for n in (1, 2, 3)] == [
        500_000_000,
        1_000_000_000,
        2_000_000_000,
    ]


def _refused_logon(rig: Rig) -> None:
    """One connection the venue accepts at TCP level and then refuses the Logon on (Logout, close)."""
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.message(MsgType.LOGOUT, [(b"58", b"unknown user")], seq=1))
    assert rig.wire.closed
    rig.adapter.detach()
    rig.adapter.connection_lost(rig.clock())
    rig.wire.closed = False


def test_reconnect_delay_when_venue_keeps_refusing_the_logon_then_backs_off_like_failed_connects() -> None:
    # The connector counts failed TCP connects only (attempt 1 after every connection that was made);
    # a venue that accepts TCP but refuses the Logon must not get a Logon every initial_ms.
    rig = Rig()
    delays = []
    for _ in range(4):
        _refused_logon(rig)
        delays.append(rig.adapter.reconnect_delay_ns(1))
    assert delays == [1_000_000_000, 2_000_000_000, 4_000_000_000, 8_000_000_000]
    assert rig.adapter.reconnect_delay_ns(3) == 30 * SECOND  # failed connects on top: up to the ceiling
    rig.up()  # a logon that succeeds starts the backoff afresh
    rig.adapter.detach()
    rig.adapter.connection_lost(rig.clock())
    assert rig.adapter.reconnect_delay_ns(1) == 500_000_000


def test_reconnect_delay_when_logon_times_out_then_counted_as_a_failed_logon() -> None:
    rig = Rig().connect()
    rig.wire.take()
    rig.clock.advance(11 * SECOND)  # logon_timeout_s 10
    rig.adapter.poll(rig.clock())
    rig.adapter.flush()
    assert rig.wire.closed
    rig.adapter.detach()
    rig.adapter.connection_lost(rig.clock())
    assert rig.adapter.reconnect_delay_ns(1) == 1_000_000_000


def test_reconnect_delay_when_outside_schedule_then_waits_for_next_start() -> None:
    config = FixVenueConfig(
        name="FIXV",
        host="127.0.0.1",
        port=1,
        dialect="equities-fix42",
        store=StoreKind.MEMORY,
        schedule=SessionSchedule(start_time="13:30", end_time="20:00"),
    )
    rig = Rig(config=config).connect()
    assert rig.adapter.state is VenueState.ENDED
    assert rig.wire.closed
    assert rig.adapter.reconnect_delay_ns(1) == (3 * 3600 + 30 * 60 + 1) * SECOND


# ---- configuration ------------------------------------------------------------------------------------


def test_config_when_decoded_from_yaml_then_tagged_and_defaults_filled() -> None:
    text = b"""
protocol: fix
name: EQX
host: 127.0.0.1
port: 9878
dialect: equities-fix42
heartbeat_interval_s: 1
fsync: always
schedule: {start_time: "08:00", end_time: "18:00", timezone: America/New_York}
"""
    config = msgspec.yaml.decode(text, type=FixVenueConfig)
    assert (config.port, config.fsync, config.store, config.schedule and config.schedule.timezone) == (
        9878,
        FsyncPolicy.BATCH,  # "always", the former spelling
        "file",
        "America/New_York",
    )


def test_config_when_unknown_field_then_validation_error_names_it() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `hearbeat`"):
        msgspec.yaml.decode(b"protocol: fix\nname: A\nhost: h\nport: 1\ndialect: d\nhearbeat: 3\n", type=FixVenueConfig)


def test_build_fix_venue_when_dialect_unknown_then_dialect_error_lists_known(tmp_path: Path) -> None:
    with pytest.raises(DialectError, match="unknown dialect 'nope'; known: broker-fix44, equities-fix42"):
        build_fix_venue(_file_config(tmp_path, "nope"), FakeClock())


def test_build_fix_venue_when_password_env_then_logon_carries_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_venues: Callable[[FixVenueConfig, FakeClock], FixVenue]
) -> None:
    monkeypatch.setenv("FIX_PW", "s3cret")
    config = msgspec.structs.replace(_file_config(tmp_path, "broker-fix44"), username="u1", password_env="FIX_PW")
    venue = file_venues(config, FakeClock())
    wire = Wire()
    venue.attach(wire.write, wire.close)
    venue.connection_made(0)
    (logon,) = decode_all(wire.data)
    assert (logon.get(b"553"), logon.get(b"554"), logon.get(b"9200")) == (b"u1", b"s3cret", b"order-gateway")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=120), st.sampled_from(["heartbeat", "er", "garbled"])), max_size=12))
def test_data_received_when_any_mix_of_garbage_and_messages_then_never_raises(
    chunks: list[bytes | str],
) -> None:
    rig = Rig().up()
    rig.adapter.send_new(make_order(7))
    for chunk in chunks:
        if chunk == "heartbeat":
            data = rig.peer.message(MsgType.HEARTBEAT)
        elif chunk == "er":
            data = rig.peer.execution_report(b"Q6rj7", b"1", last_qty=1, last_px=b"150")
        elif chunk == "garbled":
            data = rig.peer.message(MsgType.EXECUTION_REPORT, [(b"11", b"Q6rj7"), (b"3x", b"?")])
        else:
            assert isinstance(chunk, bytes)
            data = chunk
        rig.adapter.data_received(data, rig.clock())
        rig.adapter.flush()
        rig.adapter.poll(rig.clock.advance(1_000_000))
    assert all(isinstance(e, VenueExecuted) for e in rig.events())


# ---- exactly-once ---------------------------------------------------------------------------------


def test_venue_logon_when_it_resets_the_numbers_then_a_new_epoch_and_its_messages_are_new() -> None:
    rig = Rig().up()
    epochs: list[str] = []
    rig.adapter.sequence.on_epoch = lambda venue, epoch: epochs.append(epoch)
    order = make_order(7)
    rig.adapter.send_new(order)
    for _ in range(3):
        rig.feed(rig.peer.message(MsgType.HEARTBEAT, []))
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"0"))
    assert rig.adapter.sequence.high_water == 5
    rig.adapter.connection_lost(rig.clock())
    rig.clock.advance_ms(10)
    rig.wire.take()
    rig.connect()
    rig.peer.next_seq = 1
    rig.feed(rig.peer.logon(reset=True))  # the venue restarts its numbering without being asked
    assert epochs == [str(rig.store.creation_time_ns)]
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"4", ord_status=b"4", leaves=0))  # its message 2
    assert rig.recorder.events[-1] == VenueCanceled(2, 7, 0, "CANCELED", "")
    assert rig.adapter.sequence.resume_point() == ResumePoint(str(rig.store.creation_time_ns), 2)


def test_app_message_when_already_admitted_then_not_acted_on_twice() -> None:
    rig = Rig().up()
    rig.adapter.send_new(make_order(7))
    report = rig.peer.execution_report(b"Q6rj7", b"0")
    rig.feed(report)
    (message,) = decode_all(report)
    rig.adapter.on_app_message(message)  # handed over again (e.g. a session bug): the component says no
    assert len(rig.recorder.events) == 1
    assert rig.adapter.sequence.duplicates == 1


# ---- requests whose outcome is unknown (gap-filled on the venue's resend request) ------------------------------


def _sent(rig: Rig, order_id: int, *, acked: bool = True) -> tuple[Order, str]:
    order = make_order(order_id)
    ref = sent_ref(rig.adapter.send_new(order))
    mark_sent(order, ref)
    if acked:
        rig.feed(rig.peer.execution_report(ref.encode(), b"0"))
        apply_ack(order, "OID1")
    rig.adapter.flush()
    rig.wire.take()
    rig.events()
    return order, ref


def _venue_asks_from(rig: Rig, begin: int) -> list[FixMessage]:
    rig.feed(rig.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"%d" % begin), (b"16", b"0")]))
    return rig.wire.take()


def test_resend_when_order_was_answered_then_gap_filled_order_stays_tracked_and_its_fill_maps() -> None:
    rig = Rig("broker-fix44").up()
    _sent(rig, 7)
    (gap_fill,) = _venue_asks_from(rig, 2)  # the venue asks again for the order it acknowledged
    assert gap_fill.msg_type == MsgType.SEQUENCE_RESET
    assert rig.events() == []  # answered: nothing unknown about it, and not "not sent"
    rig.feed(rig.peer.execution_report(b"B6rj7", b"F", ord_status=b"1", leaves=60, cum=40, last_qty=40, last_px=b"150"))
    assert [type(e) for e in rig.events()] == [VenueExecuted]
    assert rig.adapter.counters["unknown_cl_ord_id"] == 0


def test_resend_when_dialect_replays_fresh_orders_but_order_answered_then_gap_filled_not_replayed() -> None:
    rig = Rig("equities-fix42").up()
    _sent(rig, 7)
    (gap_fill,) = _venue_asks_from(rig, 2)
    assert gap_fill.msg_type == MsgType.SEQUENCE_RESET  # an answered request needs no PossDup copy


def test_resend_when_venue_has_no_status_request_then_asked_with_a_cancel_and_unknown_order_is_not_sent() -> None:
    rig = Rig("equities-fix42").up()
    rig.clock.advance(31 * SECOND)  # the order is stale by the time the venue asks: gap-filled
    order, ref = _sent(rig, 7, acked=False)
    rig.clock.advance(31 * SECOND)
    gap_fill, asking = _venue_asks_from(rig, 2)
    assert (asking.msg_type, asking.get(b"41"), asking.get(b"11")) == (
        MsgType.ORDER_CANCEL_REQUEST,
        b"Q6rj7",
        b"Q6rj7-1.1",
    )
    cancel_reject = [
        (b"37", b"NONE"),
        (b"11", b"Q6rj7-1.1"),
        (b"41", b"Q6rj7"),
        (b"39", b"8"),
        (b"434", b"1"),
        (b"102", b"1"),
    ]
    rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, cancel_reject))
    assert rig.events() == [VenueRejected(3, 7, "NOT_SENT", _NOT_SENT_TEXT)]
    assert (order.venue_ref, ref, gap_fill.msg_type) == ("Q6rj7", "Q6rj7", MsgType.SEQUENCE_RESET)


def test_resend_when_asked_with_a_cancel_and_the_venue_had_the_order_then_canceled() -> None:
    rig = Rig("equities-fix42").up()
    _sent(rig, 7, acked=False)
    rig.clock.advance(31 * SECOND)
    _, asking = _venue_asks_from(rig, 2)
    assert asking.get(b"11") == b"Q6rj7-1.1"
    rig.feed(rig.peer.execution_report(b"Q6rj7-1.1", b"4", ord_status=b"4", leaves=0, orig_cl_ord_id=b"Q6rj7"))
    assert rig.events() == [VenueCanceled(3, 7, 0, "CANCELED", "")]
    assert rig.adapter.status()["questions_open"] == 0


def test_resend_when_venue_refuses_status_requests_then_asks_again_with_a_cancel() -> None:
    rig = Rig("broker-fix44").up()
    _sent(rig, 7, acked=False)
    _, status_request = _venue_asks_from(rig, 2)
    assert status_request.msg_type == MsgType.ORDER_STATUS_REQUEST
    business_reject = [(b"45", b"%d" % status_request.seq), (b"372", b"H"), (b"380", b"3")]
    rig.feed(rig.peer.message(MsgType.BUSINESS_MESSAGE_REJECT, business_reject))
    (asking,) = rig.wire.take()
    assert (asking.msg_type, asking.get(b"41")) == (MsgType.ORDER_CANCEL_REQUEST, b"B6rj7")
    assert rig.events() == []


def _replace_in_flight() -> tuple[Rig, Order, str]:
    """Order 7 acknowledged, then a replace to 300 @ 149 sent and not answered."""
    rig = Rig("broker-fix44").up()
    order, _ = _sent(rig, 7)
    ref = sent_ref(rig.adapter.send_replace(order, 300, 1_490_000))
    request_replace(order, 300, 1_490_000, ref)
    rig.adapter.flush()
    rig.wire.take()
    return rig, order, ref


def test_resend_when_replace_in_flight_and_status_shows_a_fill_then_the_fill_before_replaced() -> None:
    rig, _, ref = _replace_in_flight()
    _venue_asks_from(rig, 2)
    status = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref.encode()), (b"150", b"I"), (b"39", b"1")]
    status += [(b"38", b"300"), (b"44", b"149"), (b"151", b"250"), (b"14", b"50"), (b"6", b"150")]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, status))
    # marked replace_pending as a reported fill is while the replace is in flight (it keeps nothing open here)
    assert rig.events() == [
        VenueExecuted(4, 7, 50, 1_500_000, "", "", True),
        VenueReplaced(4, 7, 250, 1_490_000, "OID1"),
    ]


def test_resend_when_replace_in_flight_then_status_request_and_venue_that_took_it_gives_replaced() -> None:
    rig, order, ref = _replace_in_flight()
    _, status_request = _venue_asks_from(rig, 2)  # covers the order (answered) and the replace (not)
    assert (status_request.msg_type, status_request.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, ref.encode())
    status = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref.encode()), (b"150", b"I"), (b"39", b"0")]
    status += [(b"38", b"300"), (b"44", b"149"), (b"151", b"300"), (b"14", b"0"), (b"6", b"0")]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, status))
    assert rig.events() == [VenueReplaced(4, 7, 300, 1_490_000, "OID1")]
    rig.adapter.send_cancel(order)
    rig.adapter.flush()
    (cancel,) = rig.wire.take()
    assert cancel.get(b"41") == ref.encode()


def test_resend_when_cancel_in_flight_then_sent_again_under_a_new_cl_ord_id() -> None:
    rig = Rig("broker-fix44").up()
    order, _ = _sent(rig, 7)
    ref = sent_ref(rig.adapter.send_cancel(order))
    request_cancel(order, ref)
    rig.adapter.flush()
    rig.wire.take()
    _, again = _venue_asks_from(rig, 3)
    assert (again.msg_type, again.get(b"41"), again.get(b"11")) == (
        MsgType.ORDER_CANCEL_REQUEST,
        b"B6rj7",
        b"B6rj7-1.2",
    )
    rig.feed(rig.peer.execution_report(b"B6rj7-1.2", b"4", ord_status=b"4", leaves=0, orig_cl_ord_id=b"B6rj7"))
    assert rig.events() == [VenueCanceled(4, 7, 0, "CANCELED", "")]


def test_numbering_reset_when_requests_unanswered_then_asked_about_once_the_session_is_up() -> None:
    rig = Rig("broker-fix44").up()
    order, ref = _sent(rig, 7, acked=False)
    rig.adapter.detach()
    rig.adapter.connection_lost(rig.clock())
    rig.connect()
    rig.wire.take()
    rig.peer.next_seq = 1
    rig.feed(rig.peer.logon(reset=True))  # the venue restarted its numbering: it will never ask for the order
    assert rig.adapter.state is VenueState.UP
    rig.adapter.after_replay([UnansweredRequest(order, RequestKind.NEW, ref)])  # what the core does on UP
    rig.adapter.flush()
    (status_request,) = rig.wire.take()
    assert (status_request.msg_type, status_request.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, b"B6rj7")


def test_cancel_and_replace_when_refused_before_sending_then_source_gateway() -> None:
    """A refusal of the gateway's own (nothing reached the venue) is source GATEWAY, as 8.2 lists it (was VENUE)."""
    rig = Rig(validator=lambda raw: "nope").up()
    order = make_order(7)
    for result in (rig.adapter.send_cancel(order), rig.adapter.send_replace(order, 50, order.price)):
        assert result == Refused("FIX_INVALID", "refused by strict validation; not sent", RejectSource.GATEWAY)
    rig = Rig().up()
    order = make_order(8)
    assert isinstance(rig.adapter.send_new(order), Sent)
    rig.adapter._tracked(order).requests = 36**40  # the next ClOrdID no longer fits the venue's length
    for result in (rig.adapter.send_cancel(order), rig.adapter.send_replace(order, 50, order.price)):
        assert isinstance(result, Refused)
        assert (result.source, result.code) == (RejectSource.GATEWAY, "FIX_CL_ORD_ID")
    assert rig.store.get_sent(3, 10) == []  # neither went out (2 is the new order)
