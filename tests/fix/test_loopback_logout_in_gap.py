"""A venue Logout inside an open gap, then the venue's gap fill over it after the next logon (rev49fix 2), loopback.

The gateway side is the real FixVenue driven by VenueConnector (``live.GatewaySide``); the venue is the raw socket
acceptor of ``test_loopback_gaps`` (QuickFIX does not log out in the middle of its own resend). Before fixfix49 the
Logout, acted on at once and never in sequence, was not remembered: the venue's gap fill over its number after the
next logon was taken for a message never received, logged at ERROR ("reconcile them") and counted
``orders_unchecked_after_gap_fill``, though nothing was lost.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from model.order import mark_sent
from model.venue_events import VenueAccepted, VenueExecuted, VenueState
from venues.fix.fields import MsgType

from .helpers import make_order
from .live import wait_until
from .test_loopback_gaps import _POSS_DUP, RawVenue, _copy, _gateway, _report

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def venue() -> AsyncIterator[RawVenue]:
    raw = await RawVenue().start()
    yield raw
    await raw.close()


def _fill(venue: RawVenue, cl_ord_id: bytes, exec_id: bytes, cum: int, *, seq: int) -> bytes:
    return _report(
        venue,
        cl_ord_id,
        b"1",
        ord_status=b"1",
        last_qty=10,
        last_px=b"150.25",
        leaves=100 - cum,
        cum=cum,
        exec_id=exec_id,
        seq=seq,
    )


async def test_logout_inside_a_gap_then_gap_filled_after_the_next_logon_then_no_false_reconcile_error(
    venue: RawVenue,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    side = await _gateway(venue, tmp_path)
    try:
        await wait_until(lambda: side.venue.state is VenueState.UP, 15.0, "the session to be UP")
        order = make_order(7)
        side.apply_to(order, must_apply=True)  # the engine's part
        ref = side.send(order)
        mark_sent(order, ref)
        cl_ord_id = ref.encode()
        await wait_until(lambda: venue.messages(MsgType.NEW_ORDER_SINGLE), 15.0, "the order at the venue")
        venue.send(_report(venue, cl_ord_id, b"0", exec_id=b"N1"))  # 2
        await side.wait_events(1, 15.0)
        # fills 3 and 4 lost on the way; 5 arrives: a gap, held, and the gateway asks for 3..
        e1, e2 = _fill(venue, cl_ord_id, b"E1", 10, seq=3), _fill(venue, cl_ord_id, b"E2", 20, seq=4)
        e3 = _fill(venue, cl_ord_id, b"E3", 30, seq=5)
        venue.send(e3)
        await wait_until(lambda: venue.messages(MsgType.RESEND_REQUEST), 15.0, "the gateway's ResendRequest")
        assert venue.messages(MsgType.RESEND_REQUEST)[0].get(b"7") == b"3"
        # the venue resends 3, then logs out (6) in the middle of its resend
        venue.logon_seq = 7  # the next logon's number
        asked = len(venue.messages(MsgType.RESEND_REQUEST))
        venue.send(_copy(venue, e1))
        venue.send(venue.peer.message(MsgType.LOGOUT, [(b"58", b"going down mid-resend")], seq=6))
        await side.wait_events(2, 15.0)
        await wait_until(lambda: side.venue.state is not VenueState.UP, 15.0, "the logout")
        # the next logon is numbered 7: the gateway asks for 4..; the venue resends 4 and 5, gap-fills its Logout
        await wait_until(lambda: len(venue.messages(MsgType.RESEND_REQUEST)) > asked, 15.0, "the second ResendRequest")
        assert venue.messages(MsgType.RESEND_REQUEST)[-1].get(b"7") == b"4"
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            venue.send(_copy(venue, e2))
            venue.send(_copy(venue, e3))
            fill = [(b"123", b"Y"), (b"36", b"7")]
            venue.send(venue.peer.message(MsgType.SEQUENCE_RESET, fill, seq=6, header=_POSS_DUP))
            await side.wait_events(4, 15.0)
            await wait_until(lambda: side.venue.state is VenueState.UP, 15.0, "the gap filled")
        assert [type(e) for e in side.events] == [VenueAccepted, VenueExecuted, VenueExecuted, VenueExecuted]
        assert side.venue.session.next_target_seq == 8  # past the Logon (7)
        assert order.cum_qty == 30
        counters = side.venue.counters
        assert (counters["gap_fills_with_open_orders"], counters["orders_unchecked_after_gap_fill"]) == (0, 0)
        assert side.venue.session.counters["gap_filled_unseen"] == 0
        assert not [r for r in caplog.records if "gap-filled MsgSeqNum" in r.getMessage()]
    finally:
        await side.connector.stop()
        side.venue.close()


async def test_gap_fill_over_a_number_never_received_with_orders_open_then_still_reported(
    venue: RawVenue,
    tmp_path: Path,
) -> None:
    # the other side of the judgement: a number that never arrived (lost on the link) gap-filled still counts
    side = await _gateway(venue, tmp_path)
    try:
        await wait_until(lambda: side.venue.state is VenueState.UP, 15.0, "the session to be UP")
        cl_ord_id = side.send(make_order(7)).encode()
        await wait_until(lambda: venue.messages(MsgType.NEW_ORDER_SINGLE), 15.0, "the order at the venue")
        venue.send(_report(venue, cl_ord_id, b"0", exec_id=b"N1"))  # 2
        await side.wait_events(1, 15.0)
        venue.send(_fill(venue, cl_ord_id, b"E3", 30, seq=4))  # 3 lost
        await wait_until(lambda: venue.messages(MsgType.RESEND_REQUEST), 15.0, "the gateway's ResendRequest")
        venue.send(venue.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"4")], seq=3, header=_POSS_DUP))
        await side.wait_events(2, 15.0)
        assert side.venue.counters["orders_unchecked_after_gap_fill"] == 1
        assert side.venue.session.counters["gap_filled_unseen"] == 1
    finally:
        await side.connector.stop()
        side.venue.close()
