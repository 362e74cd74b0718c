"""A status report (ExecType I) saying an unanswered order is Filled: its CumQty is the fill, never zero or less."""

from __future__ import annotations

import pytest

from model.order import mark_sent
from model.venue_events import VenueAccepted, VenueCanceled, VenueExecuted
from tests.harness import sent_ref
from venues.fix.fields import MsgType

from .helpers import make_order
from .test_adapter import Rig


def _asked(rig: Rig) -> None:
    """Send order 7 while down, log on, and let the venue ask again: the gateway asks its status."""
    order = make_order(7)
    mark_sent(order, sent_ref(rig.adapter.send_new(order)))
    rig.up()
    rig.feed(rig.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"1"), (b"16", b"0")]))
    *_, status_request = rig.wire.take()
    assert (status_request.msg_type, status_request.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, b"B6rj7")


def _filled(cum: bytes) -> list[tuple[bytes, bytes]]:
    ids = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", b"B6rj7")]
    return [*ids, (b"150", b"I"), (b"39", b"2"), (b"14", cum), (b"6", b"150")]


def test_status_when_filled_then_one_execution_of_cum_qty() -> None:
    rig = Rig("broker-fix44")
    _asked(rig)
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _filled(b"100")))
    (event,) = rig.events()
    assert isinstance(event, VenueExecuted) and (event.order_id, event.qty, event.price) == (7, 100, 1_500_000)


@pytest.mark.parametrize("cum", [b"0", b"0.0"])
def test_status_when_filled_with_no_quantity_then_rejected_naming_cum_qty_and_no_event(cum: bytes) -> None:
    rig = Rig("broker-fix44")
    _asked(rig)
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _filled(cum)))
    assert rig.events() == []
    (reject,) = rig.wire.take()
    assert (reject.msg_type, reject.get(b"371")) == (MsgType.REJECT, b"14")


def _status(ord_status: bytes, cum: bytes) -> list[tuple[bytes, bytes]]:
    ids = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", b"B6rj7")]
    return [*ids, (b"150", b"I"), (b"39", ord_status), (b"38", b"100"), (b"44", b"150"), (b"14", cum), (b"6", b"150")]


def test_status_when_partially_filled_then_accepted_and_the_fill_of_cum_qty() -> None:
    rig = Rig("broker-fix44")
    _asked(rig)
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(b"1", b"40")))
    accepted, executed = rig.events()
    assert isinstance(accepted, VenueAccepted) and (accepted.order_id, accepted.qty) == (7, 100)
    assert isinstance(executed, VenueExecuted)
    assert (executed.order_id, executed.qty, executed.price) == (7, 40, 1_500_000)


def test_status_when_new_with_nothing_executed_then_accepted_only() -> None:
    rig = Rig("broker-fix44")
    _asked(rig)
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(b"0", b"0")))
    (accepted,) = rig.events()
    assert isinstance(accepted, VenueAccepted) and accepted.qty == 100


@pytest.mark.parametrize(("ord_status", "reason"), [(b"4", "CANCELED"), (b"C", "EXPIRED"), (b"3", "DONE_FOR_DAY")])
def test_status_when_ended_after_a_partial_fill_then_the_fill_then_the_end(ord_status: bytes, reason: str) -> None:
    rig = Rig("broker-fix44")
    _asked(rig)
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ord_status, b"40")))
    executed, canceled = rig.events()
    assert isinstance(executed, VenueExecuted) and (executed.qty, executed.price) == (40, 1_500_000)
    assert isinstance(canceled, VenueCanceled) and canceled.reason == reason


@pytest.mark.parametrize(
    ("ord_status", "fields", "tag"),
    [
        (b"1", [(b"14", b"40")], b"6"),  # a fill to report and no AvgPx to price it
        (b"4", [(b"14", b"40"), (b"6", b"abc")], b"6"),
        (b"1", [(b"14", b"4x0"), (b"6", b"150")], b"14"),
        (b"2", [(b"6", b"150")], b"14"),  # Filled without CumQty: how much is not known
    ],
)
def test_status_with_a_bad_cum_qty_or_avg_px_then_rejected_naming_that_tag_and_no_event(
    ord_status: bytes, fields: list[tuple[bytes, bytes]], tag: bytes
) -> None:
    rig = Rig("broker-fix44")
    _asked(rig)
    ids = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", b"B6rj7")]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, [*ids, (b"150", b"I"), (b"39", ord_status), *fields]))
    assert rig.events() == []
    (reject,) = rig.wire.take()
    assert (reject.msg_type, reject.get(b"371")) == (MsgType.REJECT, tag)


def test_status_without_cum_qty_and_not_filled_then_accepted_with_nothing_executed() -> None:
    rig = Rig("broker-fix44")
    _asked(rig)
    ids = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", b"B6rj7")]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, [*ids, (b"150", b"I"), (b"39", b"0"), (b"38", b"100")]))
    (accepted,) = rig.events()
    assert isinstance(accepted, VenueAccepted) and accepted.qty == 100
