"""The venue asks again from a number the answer has passed, over loopback: each number once (fixresend59c).

The venue (a raw socket acceptor, ``RawVenue``) asks 100..0 and, in the same write, 130..0, then sends a TestRequest
whose Heartbeat, numbered behind the answer, marks its end. The first slice (64 stored messages, 100..163) is made as
the first request is read, so the second comes from a number the answer has passed: taken on by the answer under
way, 130..163 not sent again (fixresend59b sent them again, at a cost rev59merge10 measured:
test_session_resend_passed).
The gateway side is the real FixVenue driven by VenueConnector (``live.GatewaySide``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from model.venue_events import VenueState
from venues.fix.fields import MsgType
from venues.fix.session.session import RESEND_SLICE

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


async def test_second_request_from_a_number_the_answer_passed_then_each_number_once_to_the_end(
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
        first_slice_end = 100 + RESEND_SLICE - 1  # every message from 100 is a stored order (one per number)
        assert last > first_slice_end > 130
        seen = len(venue.received)
        peer = venue.peer
        venue.send(
            peer.message(MsgType.RESEND_REQUEST, [(b"7", b"100"), (b"16", b"0")])
            + peer.message(MsgType.RESEND_REQUEST, [(b"7", b"130"), (b"16", b"0")])
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
        # merge59 (fixresend59b): 130..163 sent twice
        assert covered == list(range(100, last + 1)), (covered[60:70], covered[-3:])
        assert (answer[-1].msg_type, answer[-1].seq, answer[-1].get(b"43")) == (MsgType.HEARTBEAT, last + 1, b"")
        assert [m for m in venue.received if m.msg_type in (MsgType.REJECT, MsgType.LOGOUT)] == []
    finally:
        await side.connector.stop()
        adapter.close()
