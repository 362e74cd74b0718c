"""Regression (found in review): a refusal an adapter gives for a new order must be journaled before it is sent.

It used to be an event the adapter emitted from its own flush(); it is now ``send_new``'s return value
(``model.send_result.Refused``): the core turns it into the strategy's OrderRejected, once, in the same
batch, and the journal holds it before any strategy byte leaves.
"""

from __future__ import annotations

from pathlib import Path

from gateway.journal import FileJournal, JOrderRefused, JStrategyEvent, read_journal
from gateway.protocol.messages import OrderRejected
from model.enums import RejectSource
from model.fsync import FsyncPolicy
from model.order import Order, OrderState
from model.send_result import Refused, SendResult
from tests.harness import Rig, ScriptedVenue


class RefusingVenue(ScriptedVenue):
    """Like FixVenue with strict=True: a message that fails validation is refused, not sent."""

    def send_new(self, order: Order) -> SendResult:
        return Refused("FIX_INVALID", "refused by strict validation; not sent", RejectSource.GATEWAY)


def test_new_order_when_adapter_refuses_it_then_journaled_before_the_strategy_hears_once(tmp_path: Path) -> None:
    path = tmp_path / "j"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE), venues=[RefusingVenue()])
    link = rig.connect("S1")
    rig.new_order(link, "A")  # one batch: decode, send_new (refused), flush
    sent = [m for m in link.received() if isinstance(m, OrderRejected)]
    on_disk = list(read_journal(path))  # what a kill -9 now leaves
    assert len(sent) == 1
    assert (sent[0].source, sent[0].code) == (RejectSource.GATEWAY, "FIX_INVALID")
    assert sent[0] in [r.event for r in on_disk if isinstance(r, JStrategyEvent)], "strategy got an event first"
    assert any(isinstance(r, JOrderRefused) for r in on_disk)
    assert rig.order("S1", "A").state is OrderState.REJECTED
    assert rig.engine.open_orders == {}
    rig.engine.flush()
    assert link.received() == []  # exactly once
