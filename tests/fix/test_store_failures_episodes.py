"""``store_failures`` counts episodes of the message store refusing writes, not each refused write (fixfix46).

A question the store refused is tried again each second while the store refuses (``poll``): before fixfix46 each
try counted, so ``store_failures`` grew about once a second for as long as the disk was full, and said nothing
about how many times the store had failed. It now counts once per episode: from the first refused write to the next
one the store takes.
"""

from __future__ import annotations

from model.send_result import Refused, Sent

from .helpers import make_order
from .test_questions_asked_again import _failing_rig, _gap_filled, _polled
from .test_reset_lost_reports import _order


def test_store_refusing_for_a_while_then_one_failure_counted_per_episode() -> None:
    rig, store = _failing_rig()
    _order(rig, acked=True)
    store.failing = True  # a full disk: the question about the order cannot be stored
    assert _gap_filled(rig) == []
    assert _polled(rig, 10) == []  # tried again each second, refused each time
    refused = rig.adapter.send_new(make_order(8))  # the strategy's order is refused too, in the same episode
    assert isinstance(refused, Refused) and refused.code == "FIX_STORE"
    assert rig.adapter.counters["store_failures"] == 1  # before fixfix46: 12
    store.failing = False
    assert len(_polled(rig, 2)) == 1  # the question goes out: the episode is over
    store.failing = True
    refused = rig.adapter.send_new(make_order(9))
    assert isinstance(refused, Refused)
    assert rig.adapter.counters["store_failures"] == 2  # a second episode
    store.failing = False
    assert isinstance(rig.adapter.send_new(make_order(10)), Sent)
    assert rig.adapter.counters["store_failures"] == 2
