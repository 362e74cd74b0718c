"""FIX: a report resent after a crash (PossDupFlag=Y) about an order that ended here is the past, not a live order.

The gateway can crash after journaling a report and before committing its MsgSeqNum (``session.py``: a crash may
repeat a message, never skip one). The venue then resends the New and the Canceled of an order the journal already
has CANCELED. Before (rev43diff 1), the resent New was taken as the order working at the venue after its end: an
ERROR, ``live_after_end`` (the alert), and an OrderCancelRequest the venue then refused (a second ERROR).
Sans-IO adapter, fake clock; the restart is a new adapter over the same store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from model.order import Order, OrderState
from tests.fix.helpers import WALL_OFFSET_NS, Recorder
from tests.fix.test_adapter import Rig
from tests.fix.test_reset_lost_reports import _order
from venues.fix.adapter import FixVenue
from venues.fix.config import FixVenueConfig, StoreKind, session_config
from venues.fix.fields import MsgType


def _restarted_over(first: Rig, order_source: Callable[[int, str], Order | None]) -> Rig:
    """Return a new adapter over ``first``'s store, connected, as a restarted gateway builds it."""
    second = Rig("equities-fix42")
    config = FixVenueConfig(name="FIXV", host="127.0.0.1", port=1, dialect="equities-fix42", store=StoreKind.MEMORY)
    second.store = first.store
    second.venue_adapter = FixVenue(
        "FIXV", second.dialect, session_config(config, second.dialect), first.store, second.clock,
        wall_offset_ns=WALL_OFFSET_NS,
    )  # fmt: skip
    second.recorder = Recorder()
    second.venue_adapter.event_sink = second.recorder.event
    second.venue_adapter.state_sink = second.recorder.state
    second.venue_adapter.order_source = order_source
    second.connect()
    second.wire.take()
    return second


def test_resent_new_when_the_order_ended_here_then_out_of_place_and_no_cancel_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = Rig("equities-fix42").up()
    order, ref = _order(first, acked=False)
    first.feed(first.peer.execution_report(ref.encode(), b"0"))  # MsgSeqNum 2: New
    first.feed(first.peer.execution_report(ref.encode(), b"4", ord_status=b"4", leaves=0, exec_id=b"E2"))  # 3
    assert order.state is OrderState.CANCELED
    first.store.set_next_target_seq(2)  # crashed after the journal write, before the inbound commit
    second = _restarted_over(first, lambda order_id, _ref: order if order_id == order.order_id else None)
    second.peer.next_seq = 4
    second.feed(second.peer.logon())
    second.wire.take()  # the ResendRequest for 2..3
    stamp = second.peer.stamps.format(second.peer.wall_ns)
    stamp = stamp if isinstance(stamp, bytes) else stamp.encode()
    plain = second.peer.message

    def resent(
        msg_type: bytes, body: list[tuple[bytes, bytes]] | None = None, *, seq: int | None = None, header: object = None
    ) -> bytes:
        return plain(msg_type, body, seq=seq, header=[(b"43", b"Y"), (b"122", stamp)])  # PossDupFlag, OrigSendingTime

    second.peer.message = resent  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        second.feed(second.peer.execution_report(ref.encode(), b"0", seq=2))
        second.feed(second.peer.execution_report(ref.encode(), b"4", ord_status=b"4", leaves=0, exec_id=b"E2", seq=3))
    second.adapter.flush()
    sent = second.wire.take()
    assert not any(m.msg_type == MsgType.ORDER_CANCEL_REQUEST for m in sent)
    assert second.adapter.counters["live_after_end"] == 0
    assert not [r for r in caplog.records if "working at the venue" in r.getMessage()]
    assert len(second.recorder.events) == 2  # both go to the ended order: counted out of place by the core
