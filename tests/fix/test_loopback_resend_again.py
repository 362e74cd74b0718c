"""Two ResendRequests of the venue in one read, over loopback: every number of both answered (rev59fix MEDIUM).

The venue (a raw socket acceptor, ``RawVenue``) asks 100..200 and 300..400 in one write, then sends a TestRequest:
its Heartbeat is numbered behind the answer, so its arrival marks the answer's end. Before fixresend59 the second
request was "answered by" the first, whose end did not move: 300..400 never came (no copy, no gap fill, no Reject).
The gateway side is the real FixVenue driven by VenueConnector (``live.GatewaySide``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .test_loopback_resend_slices import RawVenue, answer_two_requests

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
    covered, last = await answer_two_requests(raw_venue, tmp_path, ORDERS, (b"100", b"200"), (b"300", b"400"))
    assert last > 400
    # the old code: 100..200 only
    assert covered == list(range(100, 401)), covered[-3:]
