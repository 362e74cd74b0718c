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

import pytest

from venues.fix.session.session import RESEND_SLICE

from .test_loopback_resend_slices import RawVenue, answer_two_requests

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
    covered, last = await answer_two_requests(raw_venue, tmp_path, ORDERS, (b"100", b"0"), (b"130", b"0"))
    first_slice_end = 100 + RESEND_SLICE - 1  # every message from 100 is a stored order (one per number)
    assert last > first_slice_end > 130
    # merge59 (fixresend59b): 130..163 sent twice
    assert covered == list(range(100, last + 1)), (covered[60:70], covered[-3:])
