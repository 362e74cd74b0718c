"""Regression (found in review): open orders recovered for a venue no longer configured make cancels raise."""

from __future__ import annotations

from pathlib import Path

from gateway.journal import FileJournal, read_journal
from gateway.recovery import recover
from model.fsync import FsyncPolicy
from tests.harness import Rig, ScriptedVenue


def test_kill_when_a_recovered_order_is_at_a_venue_no_longer_configured_then_other_orders_still_canceled(
    tmp_path: Path,
) -> None:
    first = Rig(
        journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE), venues=[ScriptedVenue("V1"), ScriptedVenue("V2")]
    )
    link = first.connect("S1")
    first.new_order(link, "OLD", venue="V2")
    first.new_order(link, "A", venue="V1")
    first.venues[1].accept(1)
    first.venues[0].accept(2)
    first.engine.journal.close()

    rig = Rig(venues=[ScriptedVenue("V1")])  # V2 taken out of gateway.yaml before the restart
    rig.engine.adopt(recover(read_journal(tmp_path / "j")))
    rig.engine.cancel_all()  # the kill switch
    assert ("cancel", 2, 0, 0) in rig.venue.commands
