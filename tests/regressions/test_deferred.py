"""Regression (found in review): events an adapter emits from its flush() must be journaled before they are sent."""

from __future__ import annotations

from pathlib import Path

from gateway.journal import FileJournal, JStrategyEvent, read_journal
from gateway.protocol.messages import OrderRejected
from model.fsync import FsyncPolicy
from model.order import Order
from model.venue_events import VenueEvent, VenueRejected
from tests.harness import Rig, ScriptedVenue


class DeferringVenue(ScriptedVenue):
    """Like FixVenue with strict=True: a refused message becomes an event emitted by the next flush()."""

    def __init__(self) -> None:
        super().__init__("V1")
        self.deferred: list[VenueEvent] = []

    def send_new(self, order: Order) -> str:
        self.deferred.append(VenueRejected(0, order.order_id, "FIX_INVALID", "refused by strict validation"))
        return "ref"

    def flush(self) -> None:
        events, self.deferred = self.deferred, []
        for event in events:
            self.event_sink(event)


def test_flush_when_adapter_emits_during_venue_flush_then_strategy_bytes_follow_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE), venues=[DeferringVenue()])
    link = rig.connect("S1")
    rig.new_order(link, "A")  # one batch: decode, send_new, flush
    sent = [m for m in link.received() if isinstance(m, OrderRejected)]
    on_disk = [r.event for r in read_journal(path) if isinstance(r, JStrategyEvent)]  # what a kill -9 now leaves
    assert sent, "strategy was told of the reject"
    assert sent[0] in on_disk, "strategy got an event the journal does not hold yet"
