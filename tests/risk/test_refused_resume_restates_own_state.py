"""A refused resume re-states the scope's OWN run-time state, not its effective one (rev61diff MEDIUM 1).

``gateway resume`` journals ACTIVE first; when that record's sync fails and it cannot be taken back, it may be on
disk, so ``GatewayProcess.resume`` journals the state in force after it (``resume refused``). A restart re-applies
that record as the scope's run-time state. It re-stated the EFFECTIVE state (the limits file's halt and a firm-wide
kill included): an account resumed under a firm kill, or under the file's halt, came back after a restart as an
account-level kill switch the live process never had ("kill switch by alice: resume refused"), and a firm resume
under the file's halt as a firm-wide kill. Real gateway processes (built, recovered from the same journal), a fake
clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.app import GatewayProcess, ResumeRefusedError
from model.clock import FakeClock
from risk.engine import RiskEngine
from risk.model import TradingState
from tests.e2e.support import e2e_limits, gateway_config, short_tmp
from tests.risk.support import order, px

pytestmark = pytest.mark.timeout(120)


def _started(workdir: Path, clock: FakeClock) -> GatewayProcess:
    limits = workdir / "limits.yaml"
    process = GatewayProcess(gateway_config(workdir, 1, limits), clock=clock)
    process.lock_journal()
    process.build()
    process.recover()
    return process


def _limits(workdir: Path, account_state: str | None = None, firm_state: str | None = None) -> None:
    """The deployed example limits, ACC1 (``account_state``) or the whole firm (``firm_state``) halted by the file."""
    path = e2e_limits(workdir, ("S1", "S2"))
    doc = yaml.safe_load(path.read_text())
    if account_state is not None:
        doc["accounts"]["ACC1"]["trading_state"] = account_state
    if firm_state is not None:
        doc["defaults"]["trading_state"] = firm_state
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _refused_resume(process: GatewayProcess, account: str | None) -> None:
    """``gateway resume`` whose ACTIVE record's sync fails and cannot be taken back (it may be on disk)."""
    journal = process.journal

    class FailingSync:
        def __getattr__(self, name: str) -> Any:
            return getattr(journal, name)

        def flush(self) -> None:
            raise OSError(28, "No space left on device")

        def take_back(self, mark: int) -> bool:
            return False

    process.journal = FailingSync()
    try:
        with pytest.raises(ResumeRefusedError):
            process.resume(account, "alice", "")
    finally:
        process.journal = journal
    journal.flush()  # the disk repaired


def _risk(process: GatewayProcess) -> RiskEngine:
    risk = process.risk
    assert isinstance(risk, RiskEngine)
    return risk


def _acc1_denial(process: GatewayProcess, clock: FakeClock) -> Any:
    risk = process.risk
    assert isinstance(risk, RiskEngine)
    risk.set_reference_price("AAPL", px("230.10"), clock())
    return risk.check_and_commit_new(order(qty=10, price="230.10"), clock())


def _restart(first: GatewayProcess, workdir: Path, clock: FakeClock) -> GatewayProcess:
    first._close_journal()
    return _started(workdir, clock)


def test_refused_account_resume_under_a_firm_kill_then_no_account_kill_after_a_restart() -> None:
    workdir, clock = short_tmp(), FakeClock()
    _limits(workdir)
    first = _started(workdir, clock)
    first.kill(None, "ops", "firm drill")
    _refused_resume(first, "ACC1")
    assert first.accounts_halted() == []  # ACC1 itself never killed
    first.resume(None, "ops", "firm back")
    assert _acc1_denial(first, clock) is None  # the live process trades ACC1
    second = _restart(first, workdir, clock)
    try:
        assert second.accounts_halted() == [], "a restart invented a kill of ACC1 the live process never had"
        assert _risk(second).runtime_state("ACC1") is TradingState.ACTIVE
        assert _acc1_denial(second, clock) is None
    finally:
        second._close_journal()


def test_refused_account_resume_under_the_files_halt_then_no_account_kill_after_a_restart() -> None:
    workdir, clock = short_tmp(), FakeClock()
    _limits(workdir, account_state="HALTED")
    first = _started(workdir, clock)
    assert _risk(first).trading_state("ACC1") is TradingState.HALTED  # by the file
    _refused_resume(first, "ACC1")
    assert first.accounts_halted() == []
    second = _restart(first, workdir, clock)
    try:
        assert second.accounts_halted() == [], "the file's halt came back as a run-time kill of ACC1"
        assert _risk(second).held_by("ACC1") == ["file"]  # still halted, by the file alone, as live
    finally:
        second._close_journal()


def test_refused_firm_resume_under_the_files_halt_then_no_firm_kill_after_a_restart() -> None:
    workdir, clock = short_tmp(), FakeClock()
    _limits(workdir, firm_state="HALTED")
    first = _started(workdir, clock)
    assert _risk(first).trading_state(None) is TradingState.HALTED  # by the file
    _refused_resume(first, None)
    assert _risk(first).runtime_state(None) is TradingState.ACTIVE
    second = _restart(first, workdir, clock)
    try:
        assert _risk(second).runtime_state(None) is TradingState.ACTIVE, "the file's halt came back as a firm kill"
    finally:
        second._close_journal()


def test_refused_account_resume_of_a_killed_account_then_still_killed_after_a_restart() -> None:
    workdir, clock = short_tmp(), FakeClock()
    _limits(workdir)
    first = _started(workdir, clock)
    first.kill("ACC1", "ops", "drill")
    _refused_resume(first, "ACC1")
    assert first.accounts_halted() == [["ACC1", "HALTED", "kill"]]
    second = _restart(first, workdir, clock)
    try:
        assert second.accounts_halted() == [["ACC1", "HALTED", "kill"]]  # as strict as the live process
        assert _acc1_denial(second, clock) is not None
    finally:
        second._close_journal()
