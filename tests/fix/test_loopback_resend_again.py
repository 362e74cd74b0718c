"""Two ResendRequests of the venue in one read, over loopback: every number of both answered (rev59fix MEDIUM).

The venue (a raw socket acceptor, ``RawVenue``) asks 100..200 and 300..400 in one write, then sends a TestRequest:
its Heartbeat is numbered behind the answer, so its arrival marks the answer's end. Before fixresend59 the second
request was "answered by" the first, whose end did not move: 300..400 never came (no copy, no gap fill, no Reject).
The gateway side is the real FixVenue driven by VenueConnector (``live.GatewaySide``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from model.venue_events import VenueState
from venues.fix.fields import MsgType

from .helpers import make_order
from .live import GatewaySide, wait_until
from .test_loopback_resend_slices import RawVenue

pytestmark = pytest.mark.timeout(60)

ORDERS = 500


@pytest.fixture
async def raw_venue() -> AsyncIterator[RawVenue]:
    raw = await RawVenue().start()
    yield raw
    await raw.close()


async def test_two_resend_requests_in_one_read_then_both_ranges_answered_in_order_each_number_once(
    raw_venue: RawVenue, tmp_path: Path
) -> None:
    venue = raw_venue
    side = GatewaySide(SimpleNamespace(port=venue.port, dialect=venue.dialect), tmp_path / "store")  # type: ignore[arg-type]
    adapter = side.venue
    side.task = side.connector.start()
    try:
        await wait_until(lambda: adapter.state is VenueState.UP, 15.0, "the session to be UP")
        for n in range(ORDERS):
            side.send(make_order(n + 1))
        await wait_until(lambda: len([m for m in venue.received if m.msg_type == b"D"]) == ORDERS, 15.0, "the orders")
        last = adapter.session.next_sender_seq - 1
        assert last > 400
        seen = len(venue.received)
        peer = venue.peer
        venue.send(
            peer.message(MsgType.RESEND_REQUEST, [(b"7", b"100"), (b"16", b"200")])
            + peer.message(MsgType.RESEND_REQUEST, [(b"7", b"300"), (b"16", b"400")])
            + peer.message(MsgType.TEST_REQUEST, [(b"112", b"END")])
        )
        await wait_until(
            lambda: any(m.get(b"112") == b"END" for m in venue.received[seen:]), 15.0, "the TestRequest's answer"
        )
        answer = venue.received[seen:]
        covered: list[int] = []
        for m in answer[:-1]:
            assert m.get(b"43") == b"Y", m
            covered.extend(range(m.seq, int(m.get(b"36"))) if m.msg_type == MsgType.SEQUENCE_RESET else [m.seq])
        # the old code: 100..200 only
        assert covered == list(range(100, 401)), covered[-3:]
        assert (answer[-1].msg_type, answer[-1].seq, answer[-1].get(b"43")) == (MsgType.HEARTBEAT, last + 1, b"")
        assert [m for m in venue.received if m.msg_type in (MsgType.REJECT, MsgType.LOGOUT)] == []
    finally:
        await side.connector.stop()
        adapter.close()
