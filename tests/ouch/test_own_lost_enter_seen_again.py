"""A single host's own lost Enter, seen again at a later unclean start, stays its own (rev62chaos HIGH).

A power failure cut an Enter and its Accepted from the journal; the restart's replay raised the order ids with that
ClOrdID, on file as this host's own (``own_ids``, ouchpf61). A later order id the journal took with no OUCH message
(an order refused by risk), then a plain ``kill -9``: the next start's replay brings the same Accepted again (unknown
messages are not journaled), now with a ClOrdID below the journal's highest order id. It was taken for another
host's, ``own_ids`` went off, and the next power failure's lost Replace was not adopted: the order worked at the
venue under its new number while the kill switch's Cancel named the old one. An id at or below the store's raised
order ids while ``own_ids`` holds is that same Enter seen again. The strict venue of
``test_lost_replace_after_failback`` on real loopback sockets, real engines and journals.
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway.protocol.messages import Cancel, Canceled, NewOrder, OrderAccepted, OrderRejected, Replace, Replaced
from model.enums import Side
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_lost_replace_after_failback import LossyVenue, _back_after_unclean_stop
from tests.ouch.test_replace_number_taken_by_other_host import Inbox
from tests.ouch.test_standby_unseen_numbers import RESTING, Host


async def test_own_lost_enter_seen_again_after_a_crash_with_a_new_order_id_keeps_the_adoption(tmp_path: Path) -> None:
    venue = LossyVenue()
    await venue.start()
    host = Host(venue, tmp_path / "a")
    try:
        await host.start()
        assert await host.enter(venue, "a1") == (1, "1")
        inbox = Inbox(host)
        await wait_until(lambda: inbox(OrderAccepted), "a1 accepted")
        host.engine.journal.flush()
        durable = host.path.read_bytes()  # what the first power failure leaves
        assert await host.enter(venue, "a2") == (2, "2")
        await wait_until(lambda: len(inbox(OrderAccepted)) == 2, "a2 accepted")
    finally:
        await host.stop()
    venue.drop()
    host.path.write_bytes(durable)  # power failure 1: a2's Enter and Accepted gone from the journal

    back = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(back)
        await wait_until(lambda: back.store.order_ids == 2, "the ids raised above a2's ClOrdID")
        assert back.store.own_ids
        back.send(NewOrder("big", "ACC1", "nasdaq", "AAPL", Side.BUY, 3_000_000, RESTING))  # refused by risk
        await wait_until(lambda: inbox(OrderRejected), "the order refused by risk: an order id with no OUCH message")
        back.engine.journal.flush()
    finally:
        await back.stop()  # kill -9: nothing lost this time
    venue.drop()

    again = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(again)
        await wait_until(lambda: again.venue.counters["unknown_user_ref_num"] >= 1, "a2's Accepted replayed again")
        again.engine.journal.flush()
        durable = again.path.read_bytes()  # the second power failure
        again.send(Replace("a1", 200, RESTING - 100))
        await wait_until(lambda: inbox(Replaced), "a1 replaced")
        assert json.loads(again.store.path.read_text()).get("own_ids") is True, "a2 seen again taken as another host's"
        (urn,) = [u for u, cl_ord_id in venue.live.items() if cl_ord_id == "1"]
    finally:
        await again.stop()
    venue.drop()
    again.path.write_bytes(durable)

    last = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(last)
        await wait_until(lambda: inbox(Replaced), "the lost Replaced, applied")
        a1 = last.rig.order("S1", "a1")
        assert (a1.qty, a1.price, a1.venue_ref) == (200, RESTING - 100, str(urn))
        sent = len(venue.inbound)
        last.send(Cancel("a1"))
        await wait_until(lambda: inbox(Canceled), "a1 canceled")
        assert venue.cancels(sent) == [urn]
        assert urn not in venue.live
    finally:
        await last.stop()
        await venue.stop()
