"""A single host's own lost Enter stays its own after the Account Query of the same start (rev62diff HIGH 1).

ouchpf61 put a raise of the order ids by this host's own Enter the journal lost on file as its own (``own_ids``), so
a later power failure's lost Replace is still adopted. The Account Query that an Enter still unanswered after the
replay sends was settled with ``floor(settled=True)``, which wrote ``own_ids`` off as another host's: the second
power failure's lost Replace was refused, the order worked at the venue under its new number while every Cancel
(the kill switch's too) named the old one. The strict venue of ``test_lost_replace_after_failback`` on real
loopback sockets, real engines and journals.
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway.protocol.messages import Cancel, Canceled, OrderAccepted, Replace, Replaced
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_lost_replace_after_failback import LossyVenue, _back_after_unclean_stop
from tests.ouch.test_replace_number_taken_by_other_host import Inbox
from tests.ouch.test_standby_unseen_numbers import RESTING, Host


async def test_own_lost_enter_with_an_enter_unanswered_at_the_replay_end_still_adopts_a_later_lost_replace(
    tmp_path: Path,
) -> None:
    venue = LossyVenue()
    await venue.start()
    host = Host(venue, tmp_path / "a")
    try:
        await host.start()
        assert await host.enter(venue, "a1") == (1, "1")
        inbox = Inbox(host)
        await wait_until(lambda: inbox(OrderAccepted), "a1 accepted")
        venue.lose_enters = True
        assert await host.enter(venue, "a0") == (2, "2")  # lost in flight: unanswered in the journal
        host.engine.journal.flush()
        durable = host.path.read_bytes()  # what a power failure leaves
        venue.lose_enters = False
        assert await host.enter(venue, "a2") == (3, "3")
        await wait_until(lambda: len(inbox(OrderAccepted)) == 2, "a2 accepted")
        host.send(Replace("a1", 200, RESTING - 100))
        await wait_until(lambda: inbox(Replaced), "a1 replaced 1 -> 4")
    finally:
        await host.stop()
    venue.drop()
    host.path.write_bytes(durable)  # the power failure: a2 and a1's Replace gone from the journal

    back = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(back)
        await wait_until(lambda: inbox(Replaced), "the Replaced the journal lost, applied")
        assert back.rig.order("S1", "a1").venue_ref == "4"
        await wait_until(lambda: back.store.order_ids == 3, "the ids raised above a2's ClOrdID")
        assert any(m[:1] == b"Q" for m in venue.inbound), "an Account Query was sent (a0 unanswered)"
        back.engine.journal.flush()
        durable = back.path.read_bytes()  # the second power failure
        back.send(Replace("a1", 150, RESTING - 200))
        await wait_until(lambda: len(inbox(Replaced)) == 2, "a1 replaced again")
        (urn,) = [u for u, cl_ord_id in venue.live.items() if cl_ord_id == "1"]
    finally:
        await back.stop()
    venue.drop()
    back.path.write_bytes(durable)

    again = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(again)
        stored = json.loads(again.store.path.read_text())
        assert stored.get("own_ids") is True, "own_ids lost: the Account Query's settle wrote it as another host's"
        await wait_until(lambda: inbox(Replaced), "the second lost Replaced, applied")
        a1 = again.rig.order("S1", "a1")
        assert (a1.qty, a1.price, a1.venue_ref) == (150, RESTING - 200, str(urn))
        sent = len(venue.inbound)
        again.send(Cancel("a1"))
        await wait_until(lambda: inbox(Canceled), "a1 canceled")
        assert venue.cancels(sent) == [urn]
        assert urn not in venue.live
    finally:
        await again.stop()
        await venue.stop()
