"""rev50ouch s15: after a mid-day session change, UserRefNums continue above the venue's NextUserRefNum.

OUCH 5.0 section 2.2: an account's UserRefNums are "unique and strictly increasing throughout the trading day";
the venue silently ignores a lower one. The UserRefNum store restarts at 1 for a new SoupBinTCP session, so when
the venue puts the login in another session the same day, the adapter asks the venue's NextUserRefNum (Account
Query) before sending anything and floors the store on it: the next Enter goes out above every number the account
used that day (before, it went out as 1 and was never answered). A scripted venue on real loopback sockets.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from gateway.protocol.messages import NewOrder
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from tests.ouch.harness import PX, TS
from tests.ouch.test_late_answers_after_not_received import InteractiveVenue
from tests.ouch.test_late_fill_released import Gateway, wait_until
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderAccepted as OuchAccepted


def _accept(venue: InteractiveVenue, urn: int, cl_ord_id: str, ref: int) -> None:
    venue.send(
        encode_message(OuchAccepted(TS, urn, "B", 100, "AAPL", PX - 100, "0", "Y", ref, "A", "N", "N", "L", cl_ord_id))
    )


async def test_session_changed_the_same_day_when_orders_follow_then_numbers_continue_above_the_venues_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    venue = await InteractiveVenue().start()
    gw = await Gateway(venue, tmp_path).start()  # type: ignore[arg-type]  # duck-typed: it needs only .port
    try:
        link = gw.rig.connect("S1")
        for i in range(3):
            gw.send(link, NewOrder(f"a{i}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
            count = i + 1
            await wait_until(lambda: len(venue.inbound) >= count, "the Enter at the venue")  # noqa: B023
            _accept(venue, struct.unpack(">I", venue.inbound[-1][1:5])[0], f"a{i}", 7000 + i)
        await wait_until(lambda: gw.rig.order("S1", "a2").state is OrderState.LIVE, "the acknowledgments")
        assert venue.next_user_ref_num == 4
        venue.session, venue.next_seq = "SESS02", 1  # same trading day, same account: its next number stays 4
        sent = len(venue.inbound)
        with caplog.at_level(logging.WARNING):
            venue.drop()
            await wait_until(lambda: gw.venue.status()["session"] == "SESS02", "the login in SESS02")
            await wait_until(lambda: gw.venue.state is VenueState.UP, "UP again")
        assert [m[:1] for m in venue.inbound[sent:]] == [b"Q"]  # the Account Query before anything else
        assert any(
            "session changed from 'SESS01' to 'SESS02': asking the venue's NextUserRefNum" in r.getMessage()
            for r in caplog.records
        )
        gw.send(link, NewOrder("b1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
        await wait_until(lambda: venue.inbound[-1][:1] == b"O", "the Enter at the venue")
        assert struct.unpack(">I", venue.inbound[-1][1:5])[0] == 4
    finally:
        await gw.stop()
        await venue.stop()
