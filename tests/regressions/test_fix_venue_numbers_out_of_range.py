"""Regression (found feeding a FIX venue's ExecutionReports with absurd numbers): quantities and prices the
strategy protocol cannot carry went straight into the core.

``parse_qty`` / ``parse_price`` take any number of digits and a sign, so a LastQty of 10^40 or a LastPx of
10^70 became a ``VenueExecuted`` whose journal record cannot be encoded (MessagePack integers stop at 2^64):
the ``OverflowError`` escaped the core's venue-event sink into the connection's read loop. A negative or
2^53 price reached the strategy although section 2 of docs/strategy-protocol.md promises prices 0 to 2^53-1
and no negative integer. Now the adapter refuses such a field like any malformed one: a session Reject naming
the tag, no event, the session goes on.
"""

from __future__ import annotations

import pytest

from model.venue_events import VenueAccepted, VenueExecuted
from venues.fix.fields import MsgType

from ..fix.test_adapter import Rig, _sent


@pytest.mark.parametrize(
    ("last_qty", "last_px", "tag"),
    [
        (b"9" * 40, b"150", b"32"),
        (b"2147483648", b"150", b"32"),  # 2^31: above the protocol's qty
        (b"40", b"9" * 70, b"31"),
        (b"40", b"900719925474.0992", b"31"),  # 2^53 ten-thousandths
        (b"40", b"-5", b"31"),
    ],
)
def test_fill_when_quantity_or_price_out_of_protocol_range_then_rejected_no_event(
    last_qty: bytes, last_px: bytes, tag: bytes
) -> None:
    rig = Rig("equities-fix42").up()
    _sent(rig, 7)
    report = rig.peer.execution_report(
        b"Q6rj7", b"F", ord_status=b"1", leaves=60, cum=40, extra=[(b"32", last_qty), (b"31", last_px)]
    )
    rig.feed(report)
    assert rig.events() == []
    (reject,) = rig.wire.take()
    assert (reject.msg_type, reject.get(b"371")) == (MsgType.REJECT, tag)
    assert rig.adapter.state.name == "UP"


def test_fill_when_largest_protocol_price_and_quantity_then_applied() -> None:
    rig = Rig("equities-fix42").up()
    _sent(rig, 7)
    rig.feed(
        rig.peer.execution_report(
            b"Q6rj7", b"F", ord_status=b"1", leaves=60, cum=40, extra=[(b"32", b"40"), (b"31", b"900719925474.0991")]
        )
    )
    (event,) = rig.events()
    assert isinstance(event, VenueExecuted) and (event.qty, event.price) == (40, 2**53 - 1)


def test_accepted_when_order_qty_above_protocol_range_then_rejected_no_event() -> None:
    rig = Rig("equities-fix42").up()
    _sent(rig, 7, acked=False)
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"0", order_qty=2**40))
    assert not [e for e in rig.events() if isinstance(e, VenueAccepted)]
    (reject,) = rig.wire.take()
    assert (reject.msg_type, reject.get(b"371")) == (MsgType.REJECT, b"38")
