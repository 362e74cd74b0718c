"""ClOrdIDs never repeat (across days, restarts, numbering resets); a gap fill over a report is not silent."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.order import Order, mark_sent
from model.venue_events import VenueExecuted
from tests.harness import sent_ref
from venues.fix.adapter import FixVenue
from venues.fix.codec import FixMessage
from venues.fix.config import FixVenueConfig, StoreKind, build_fix_venue
from venues.fix.dialect import DIALECT_DIR
from venues.fix.fields import MsgType

from .helpers import make_order
from .test_adapter import SECOND, Rig, Wire, _sent

DAY_NS = 86_400 * SECOND


def _next_day() -> Rig:
    """A rig one day after the default one's (2024-01-03), logged on."""
    rig = Rig("broker-fix44")
    rig.clock.advance(DAY_NS)
    rig.peer.wall_ns += DAY_NS
    return rig.up()


@pytest.mark.parametrize("from_engine", [False, True])
def test_fill_when_yesterdays_order_has_todays_order_id_then_not_applied_and_counted_unknown(from_engine: bool) -> None:
    yesterday = Rig("broker-fix44").up()
    _, old_ref = _sent(yesterday, 1)  # a GTC order of yesterday, store and journal not kept (order ids restart)
    today = _next_day()
    order = make_order(1)
    ref = sent_ref(today.adapter.send_new(order))
    mark_sent(order, ref)
    assert ref != old_ref  # before: B1 both days; the venue refused today's as a duplicate ClOrdID
    if from_engine:  # the engine hands its order (from memory or the journal) for an order id it has
        today.adapter.order_source = lambda order_id, _: order if order_id == 1 else None
    today.applying(order)
    today.feed(today.peer.execution_report(ref.encode(), b"8", ord_status=b"8", leaves=0))  # today's ends
    today.events()
    fill = today.peer.execution_report(
        old_ref.encode(), b"F", ord_status=b"1", leaves=80, cum=20, last_qty=20, last_px=b"150", exec_id=b"Y1"
    )
    today.feed(fill)
    assert today.events() == []  # before: applied to today's rejected order 1 (Executed 20)
    assert today.adapter.counters["unknown_cl_ord_id"] == 1
    assert order.cum_qty == 0


@pytest.mark.parametrize(("account", "applied"), [(b"OTHER", False), (b"ACC1", True)])
def test_fill_after_end_when_account_is_not_the_orders_then_refused_not_applied(account: bytes, applied: bool) -> None:
    rig = Rig("equities-fix42").up()  # Account (1) = the gateway account
    order, ref = _sent(rig, 7)
    rig.applying(order)
    rig.feed(rig.peer.execution_report(ref.encode(), b"4", ord_status=b"4", leaves=0))
    rig.events()
    rig.wire.take()
    fill = rig.peer.execution_report(
        ref.encode(), b"2", ord_status=b"2", leaves=0, cum=100, last_qty=100, last_px=b"150", extra=[(b"1", account)]
    )
    rig.feed(fill)
    events = rig.events()
    assert [type(e) for e in events] == ([VenueExecuted] if applied else [])
    assert rig.adapter.counters["mismatched_reports"] == (0 if applied else 1)
    if not applied:  # answered with a session Reject naming Account
        (reject,) = rig.wire.take()
        assert (reject.msg_type, reject.get(b"371")) == (MsgType.REJECT, b"1")


def _reset_dialect(tmp_path: Path) -> str:
    text = (DIALECT_DIR / "equities-fix42.yaml").read_text()
    assert "reset_seq_num_on_logon: false" in text
    path = tmp_path / "eqreset.yaml"
    path.write_text(text.replace("reset_seq_num_on_logon: false", "reset_seq_num_on_logon: true"))
    return str(path)


def _requests(wire: Wire) -> list[FixMessage]:
    kinds = (MsgType.ORDER_CANCEL_REPLACE_REQUEST, MsgType.ORDER_CANCEL_REQUEST)
    return [m for m in wire.take() if m.msg_type in kinds]


def test_replace_cl_ord_ids_when_numbers_reset_at_every_logon_then_never_repeat(tmp_path: Path) -> None:
    rig = Rig(_reset_dialect(tmp_path)).up()
    order, _ = _sent(rig, 1)
    sent: list[bytes] = []
    for logon in range(2):
        if logon:  # the link drops; the next Logon resets both numberings (ResetSeqNumFlag=Y)
            rig.adapter.connection_lost(rig.clock())
            rig.peer.next_seq = 1
            rig.connect()
            rig.feed(rig.peer.logon(reset=True))
        for qty in (200, 300, 400):
            rig.adapter.send_replace(order, qty, 1_500_000)
        rig.adapter.send_cancel(order)
        rig.adapter.flush()
        sent += [m.get(b"11") for m in _requests(rig.wire)]
    assert len(sent) == 8
    assert len(set(sent)) == 8, sent  # before: Q1-3 .. Q1-5 again after the reset


def _memory_venue(tmp_path: Path, clock: object) -> FixVenue:
    config = FixVenueConfig(
        name="FIXV", host="127.0.0.1", port=1, dialect="equities-fix42", store=StoreKind.MEMORY, store_dir=str(tmp_path)
    )
    return build_fix_venue(config, clock)  # type: ignore[arg-type]


def test_replace_cl_ord_ids_when_restarted_on_a_memory_store_then_never_repeat(tmp_path: Path) -> None:
    rig = Rig()  # its clock and scripted venue
    order: Order = make_order(1)
    sent: list[bytes] = []
    for start in range(2):
        venue = _memory_venue(tmp_path, rig.clock)  # a restart: the store's numbering restarts at 1
        wire = Wire()
        venue.attach(wire.write, wire.close)
        rig.peer.next_seq = 1
        venue.connection_made(rig.clock())
        venue.data_received(rig.peer.logon(), rig.clock())
        if start == 0:
            mark_sent(order, sent_ref(venue.send_new(order)))
        else:
            venue.restore(order, order.venue_ref)
        venue.send_replace(order, 200, 1_500_000)
        venue.send_replace(order, 300, 1_500_000)
        venue.flush()
        sent += [m.get(b"11") for m in _requests(wire)]
        venue.close()
    assert len(set(sent)) == 4, sent  # before: Q1-3 in both processes
    assert (tmp_path / "FIXV.fix-starts.json").exists()


def _gap_filled_over_a_fill(rig: Rig) -> tuple[Order, str]:
    """Order 7 acknowledged (venue message 2); the venue's message 3 (a fill) is lost and then gap-filled."""
    order, ref = _sent(rig, 7)
    rig.applying(order)
    rig.feed(rig.peer.message(MsgType.HEARTBEAT, seq=4))  # 3 missing: ResendRequest
    (resend,) = rig.wire.take()
    assert (resend.msg_type, resend.get(b"7")) == (MsgType.RESEND_REQUEST, b"3")
    rig.feed(rig.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"4")], seq=3))
    rig.peer.next_seq = 5
    return order, ref


def test_gap_fill_over_a_number_never_received_when_status_dialect_then_logged_and_the_open_order_asked_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("broker-fix44").up()
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        order, ref = _gap_filled_over_a_fill(rig)
    (status_request,) = rig.wire.take()  # before: nothing, the fill was lost without trace
    assert (status_request.msg_type, status_request.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, ref.encode())
    assert rig.adapter.counters["gap_fills_with_open_orders"] == 1
    assert rig.adapter.session.counters["gap_filled_unseen"] == 1
    assert any(r.levelno == logging.ERROR and "gap-filled MsgSeqNum 3..3" in r.getMessage() for r in caplog.records)
    status = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref.encode()), (b"150", b"I"), (b"39", b"1")]
    status += [(b"38", b"100"), (b"151", b"70"), (b"14", b"30"), (b"6", b"150")]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, status))
    (executed,) = rig.events()
    assert isinstance(executed, VenueExecuted) and (executed.order_id, executed.qty) == (7, 30)
    assert order.cum_qty == 30


def test_gap_fill_question_when_the_order_ends_before_the_answer_then_the_answer_is_not_an_unknown_order() -> None:
    rig = Rig("broker-fix44").up()
    order, ref = _gap_filled_over_a_fill(rig)
    rig.wire.take()  # the OrderStatusRequest
    rig.feed(rig.peer.execution_report(ref.encode(), b"4", ord_status=b"4", leaves=0, cum=30))
    assert order.is_terminal
    rig.events()
    status = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref.encode()), (b"150", b"I"), (b"39", b"4")]
    status += [(b"38", b"100"), (b"151", b"0"), (b"14", b"30"), (b"6", b"150")]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, status))
    assert rig.events() == []
    assert rig.adapter.counters["unknown_cl_ord_id"] == 0  # no false "the venue holds orders we do not" alert


def test_gap_fill_over_a_number_never_received_when_no_status_request_then_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("equities-fix42").up()
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        _gap_filled_over_a_fill(rig)
    assert rig.wire.take() == []  # nothing to ask with (a cancel would end the order)
    assert rig.adapter.counters["gap_fills_with_open_orders"] == 1
    assert rig.adapter.counters["orders_unchecked_after_gap_fill"] == 1
    assert any("reconcile them with the venue" in r.getMessage() for r in caplog.records)


def test_gap_fill_when_no_order_open_then_nothing_asked_or_counted() -> None:
    rig = Rig("broker-fix44").up()
    rig.feed(rig.peer.message(MsgType.HEARTBEAT, seq=3))
    rig.wire.take()
    rig.feed(rig.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"3")], seq=2))
    assert rig.wire.take() == []
    assert rig.adapter.counters["gap_fills_with_open_orders"] == 0
    assert rig.adapter.session.counters["gap_filled_unseen"] == 1
