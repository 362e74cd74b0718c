"""What another host left on the account answers no request of this host's, after a failback (rev60ouch).

* MEDIUM 1: host A's Replace (UserRefNum 3) is lost in flight at its stop; the standby that took over enters an order
  under 3 that the venue refuses (Rejected "Invalid Symbol", which uses the number up), then trades under 4. A comes
  back: the Rejected names its waiting Replace's number. Before, A's strategy got ``CancelRejected 0x0017 Invalid
  Symbol`` for its Replace (a reason that is not true: the venue never saw that Replace); now, as for an Accepted
  naming that number (ouchrep59), ``CancelRejected OUCH_NOT_RECEIVED``: the Rejected carries the other host's
  ClOrdID, not the order's, which every Replace of the order carries.
* MEDIUM 3: the order-id margin at a replay gap that hides who took a doubted Replace's number (``_taken_in_gap``)
  was taken above the highest order still open, not above the highest id issued: after an earlier jump the same day
  (an earlier gap's margin, an unclean stop's skip) it did nothing, and A's next order went out under the ClOrdID
  the standby had numbered just above A's last.

The strict venue of ``test_replace_number_taken_by_other_host`` on real loopback sockets, real engines and journals.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, OrderAccepted, Replace, Replaced
from tests.ouch.harness import TS
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_replace_number_taken_by_other_host import (
    Inbox,
    ReplaceVenue,
    _back,
    _primary_with_a_replace_lost,
)
from tests.ouch.test_standby_unseen_numbers import RESTING, Host
from venues.ouch.adapter import UNSEEN_ORDER_ID_MARGIN
from venues.ouch.codec import encode_message
from venues.ouch.messages import REJECT_INVALID_SYMBOL, OrderRejected


async def test_other_hosts_rejected_enter_under_a_lost_replaces_number_answers_it_not_received(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MEDIUM 1: the other host's Rejected is not the Replace's answer: OUCH_NOT_RECEIVED, old terms, logged."""
    venue = ReplaceVenue()
    await venue.start()
    root = tmp_path / "a"
    await _primary_with_a_replace_lost(venue, root, doubt=False)
    venue.next_user_ref_num = 4  # the standby's Enter under 3, refused: its number used up (OUCH 5.0 2.2)
    venue.publish(encode_message(OrderRejected(TS, 3, REJECT_INVALID_SYMBOL, "3")))
    venue.take_enter(4, "4", answer=True)  # its next order, which trades
    venue.execute(4, 3)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        back = await _back(venue, root)
    try:
        inbox = Inbox(back)
        await wait_until(lambda: inbox(CancelRejected), "the Replace answered")
        (answer,) = inbox(CancelRejected)
        assert (answer.cl_ord_id, answer.code) == ("a1", "OUCH_NOT_RECEIVED")  # before: 0x0017 Invalid Symbol
        assert "Invalid Symbol" not in answer.text
        assert not inbox(Executed, Replaced)  # the standby's fill under 4 is not A's
        order = back.rig.order("S1", "a1")
        assert (order.qty, order.price, order.cum_qty, order.venue_ref) == (100, RESTING, 0, "1")
        assert "an Order Rejected (sequence 3) names UserRefNum 3, the number of its replace" in caplog.text
        assert "with ClOrdID '3', not this order's '1'" in caplog.text
        sent = len(venue.inbound)
        back.send(Cancel("a1"))
        await wait_until(lambda: inbox(Canceled), "a1 canceled")
        assert venue.cancels(sent) == [1]
        assert venue.live.get(4) == "4"  # the standby's order untouched
        urn, cl_ord_id = await back.enter(venue, "a3")
        assert urn > 4 and venue.ignored == [] and int(cl_ord_id) > 4  # above the Rejected's ClOrdID too
    finally:
        await back.stop()
        await venue.stop()


async def test_own_replace_rejected_keeps_the_venues_reason(tmp_path: Path) -> None:
    """The Rejected of this order's own Replace (its ClOrdID) is still the Replace's answer, with the venue's reason."""
    venue = ReplaceVenue()
    await venue.start()
    root = tmp_path / "a"
    await _primary_with_a_replace_lost(venue, root, doubt=False)
    venue.next_user_ref_num = 4  # the venue got A's Replace after all and refused it (ClOrdID '1', a1's)
    venue.publish(encode_message(OrderRejected(TS, 3, REJECT_INVALID_SYMBOL, "1")))
    back = await _back(venue, root)
    try:
        inbox = Inbox(back)
        await wait_until(lambda: inbox(CancelRejected), "the Replace answered")
        (answer,) = inbox(CancelRejected)
        assert (answer.cl_ord_id, answer.code) == ("a1", "0x0017")
        assert back.rig.order("S1", "a1").venue_ref == "1"
    finally:
        await back.stop()
        await venue.stop()


async def _primary_after_a_jump(venue: ReplaceVenue, root: Path) -> int:
    """A: a1 live (order id 1, UserRefNum 1); its order ids jump (an earlier margin of the day); a2 (UserRefNum 2)
    entered under the jumped id and canceled; a1's Replace (3) answered in doubt; A stops. Return a2's order id."""
    primary = Host(venue, root)
    try:
        await primary.start()
        assert await primary.enter(venue, "a1") == (1, "1")
        raise_ids = primary.venue.order_ids_above
        assert raise_ids is not None
        raise_ids((UNSEEN_ORDER_ID_MARGIN + 10,))  # as a first gap's margin (or an unclean stop's skip) would
        urn, cl_ord_id = await primary.enter(venue, "a2")
        assert (urn, int(cl_ord_id)) == (2, UNSEEN_ORDER_ID_MARGIN + 11)
        inbox = Inbox(primary)
        await wait_until(lambda: len(inbox(OrderAccepted)) == 2, "the primary's orders accepted")
        primary.send(Cancel("a2"))
        await wait_until(lambda: inbox(Canceled), "a2 canceled")
        venue.lose_replaces = True
        primary.send(Replace("a1", 150, RESTING + 100))
        await wait_until(lambda: inbox(CancelRejected), "the Replace answered in doubt")
        assert inbox(CancelRejected)[0].code == "OUCH_IN_DOUBT"
    finally:
        await primary.stop()
    venue.drop()
    venue.lose_replaces = False
    assert venue.next_user_ref_num == 3
    return int(cl_ord_id)


async def test_margin_at_a_second_gap_is_above_the_ids_issued_not_the_open_orders(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MEDIUM 3: only a1 (order id 1) is open at A's return; A issued ids up to a2's, far above. The standby, which
    read A's ClOrdIDs in its replay, entered under 3 with the ClOrdID just above a2's; a replay gap hides it. Before:
    the margin was taken above order 1 (below a2's id), and A's next order reused the standby's ClOrdID."""
    venue = ReplaceVenue()
    await venue.start()
    root = tmp_path / "a"
    highest = await _primary_after_a_jump(venue, root)
    standbys = str(highest + 1)
    venue.take_enter(3, standbys, answer=True)
    venue.replay_from = len(venue.history) + 1  # A's login asks for the standby's Accepted: a REPLAY GAP
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        back = await _back(venue, root)
    try:
        assert "may have been taken by the venue behind a replay gap (NextUserRefNum 4)" in caplog.text
        urn, cl_ord_id = await back.enter(venue, "a3")
        assert urn > 3 and venue.ignored == []
        assert cl_ord_id != standbys, "the standby's ClOrdID entered again"
        assert int(cl_ord_id) > highest + UNSEEN_ORDER_ID_MARGIN  # the margin above the highest id issued
        assert len(set(venue.entered)) == len(venue.entered)
    finally:
        await back.stop()
        await venue.stop()
