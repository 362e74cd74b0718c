"""``GatewayProcess.adjust_position`` and the journal (bust39): recorded before it applies, or refused.

The journal writes go to ``/dev/full`` (every write fails with ENOSPC, as on a full disk): the correction is
refused with ``JOURNAL_UNAVAILABLE`` and changes nothing, in memory or after a restart. Once the journal can
be written again it applies, and a restart rebuilds it. Fails on the old code (no ``adjust_position``).
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from gateway.app import GatewayProcess
from gateway.config import JournalConfig
from model.clock import FakeClock
from risk import adjust
from risk.engine import RiskEngine
from tests.e2e.support import gateway_config, short_tmp
from tests.risk import support


def _started(workdir: Path, clock: FakeClock) -> GatewayProcess:
    """Build a gateway and recover today's journal (storage ``file``), as ``start`` does before any socket."""
    limits = support.write_limits(workdir / "limits.yaml", {"accounts": {"ACC1": {"symbols": {"AAPL": {}}}}})
    config = gateway_config(workdir, 1, limits)
    journal = JournalConfig(directory=str(workdir / "journal"), fsync="none", storage="file")  # type: ignore[arg-type]
    process = GatewayProcess(msgspec.structs.replace(config, journal=journal), clock=clock)
    process.lock_journal()
    process.build()
    process.recover()
    return process


def _risk(process: GatewayProcess) -> RiskEngine:
    assert isinstance(process.risk, RiskEngine)
    return process.risk


def test_adjust_when_the_journal_cannot_be_written_then_refused_and_nothing_changes_until_it_can() -> None:
    workdir = short_tmp()
    clock = FakeClock()
    process = _started(workdir, clock)
    fd: int = process.journal._fd  # type: ignore[attr-defined]  # FileJournal: one write per batch
    saved = os.dup(fd)
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, fd)
        refused = process.adjust_position("ACC1", "AAPL", -100, 0, -1, "ops [pid 1 uid 2]", "bust of exec 9")
        assert not refused.ok and refused.code == adjust.JOURNAL_UNAVAILABLE
        assert "nothing was changed" in refused.text
        assert _risk(process).position("ACC1", "AAPL").position == 0
        assert _risk(process).position_adjustments == 0
        os.dup2(saved, fd)  # space again
        applied = process.adjust_position("ACC1", "AAPL", -100, 0, -1, "ops [pid 1 uid 2]", "bust of exec 9")
        assert applied.ok and applied.position_after == -100
        assert _risk(process).position("ACC1", "AAPL").position == -100
        dry = process.adjust_position("ACC1", "AAPL", 40, 0, -1, "ops", "check", dry_run=True)
        assert dry.ok and (dry.position_before, dry.position_after) == (-100, -60)
        assert _risk(process).position("ACC1", "AAPL").position == -100  # a dry run changes nothing
    finally:
        os.close(full)
        os.close(saved)
        process._close_journal()
    again = _started(workdir, clock)
    try:
        assert _risk(again).position("ACC1", "AAPL").position == -100  # the refused one left nothing behind
        assert _risk(again).position_adjustments == 1
    finally:
        again._close_journal()
