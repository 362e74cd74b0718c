"""A venue event carrying a number the journal cannot encode never raises out of the engine's sink."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.journal import JVenueApplied, MmapJournal
from gateway.journal_read import read_journal
from gateway.protocol.messages import Executed
from model.fsync import FsyncPolicy
from model.venue_events import VenueExecuted
from tests.harness import Rig


@pytest.mark.parametrize(("qty", "price"), [(2**64, 100), (1, 2**64), (1, -(2**63) - 1)])
def test_venue_event_when_value_beyond_the_journal_then_counted_not_raised_and_later_fill_delivered(
    tmp_path: Path, qty: int, price: int
) -> None:
    journal = MmapJournal(tmp_path / "journal", fsync=FsyncPolicy.NONE)
    rig = Rig(journal=journal)
    link = rig.connect("S1")
    link.received()
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.engine.flush()
    link.received()
    written = journal.records_written
    rig.venue.emit(VenueExecuted(rig.venue._next(), 1, qty, price, "A", "M"))
    rig.engine.flush()
    assert link.received() == []
    assert journal.records_written == written
    assert rig.engine.counters.venue_events_out_of_place == 1
    rig.venue.fill(1, 10, 100)
    rig.engine.flush()
    (executed,) = link.received()
    assert isinstance(executed, Executed) and (executed.qty, executed.price) == (10, 100)
    journal.flush()
    applied = [r.event for r in read_journal(journal.path) if isinstance(r, JVenueApplied)]
    assert [(type(e), e.venue_seq) for e in applied] == [(type(applied[0]), 1), (VenueExecuted, 3)]
