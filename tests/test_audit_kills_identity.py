"""Which kills the start re-applies, judged by the kill's identity in its journal record (kill58).

The start compared the risk audit log's last trading state per scope with the journal's last (killstop56):

1. (HIGH, killstop56's design gap) a kill on a scope the journal already held HALTED (a halt after an internal
   error, an earlier kill), whose own journal record, and so its cancels, a stop during a full journal dropped, was
   not seen at the next start (the states were equal): the kill's cancels were never carried out.
2. (MEDIUM, fail closed) a resume whose audit record was lost (the audit log ends on the kill, the journal holds the
   kill then the resume) halted the scope again at the next start and canceled the orders sent after the resume.
   It still does (kill58c): a refused resume whose record reached the journal looks the same, and must not trade.

Now each change carries an identity written in both records (``state_id``); the start re-applies exactly the audit
log's kills the journal does not hold that are newer than the last record it holds. Journals and audit logs of
earlier versions (no identity) are judged as before. The in-process gateway (``GatewayProcess``: build, recover,
close, recover again) on a real journal file and a real risk audit log; the full disk is a fake ``os.write`` (ENOSPC).
"""

from __future__ import annotations

import errno
import importlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from gateway.app import EXIT_JOURNAL_NOT_DURABLE, INTERNAL_ERROR_WHO, GatewayProcess, ResumeRefusedError
from gateway.audit_kills import AuditedState, lost_states
from gateway.config import JournalConfig
from gateway.journal import FileJournal, JTradingState, read_journal
from model.clock import FakeClock
from risk.audit import read_audit_log
from tests.e2e.support import gateway_config, short_tmp
from tests.risk import support

pytestmark = pytest.mark.timeout(60)


class _FullDisk:
    """``os.write`` to a journal failing ENOSPC while ``full`` (its disk full; the risk audit log is on another)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        real = os.write

        def write(fd: int, data: bytes | bytearray | memoryview) -> int:
            if self.full and os.readlink(f"/proc/self/fd/{fd}").endswith(".journal"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd, data)

        monkeypatch.setattr("gateway.journal.os.write", write)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[_FullDisk]:
    yield _FullDisk(monkeypatch)


def _started(workdir: Path) -> GatewayProcess:
    """Build a gateway and recover today's journal (storage ``file``), as ``start`` does before any socket."""
    limits = support.write_limits(
        workdir / "limits.yaml", {"accounts": {"ACC1": {"symbols": {"AAPL": {}}}, "ACC2": {"symbols": {"AAPL": {}}}}}
    )
    config = gateway_config(workdir, 1, limits)
    journal = JournalConfig(directory=str(workdir / "journal"), fsync="interval", storage="file")  # type: ignore[arg-type]
    process = GatewayProcess(msgspec.structs.replace(config, journal=journal), clock=FakeClock())
    process.lock_journal()
    process.build()
    process.recover()
    return process


def _states(workdir: Path) -> list[tuple[str, str, str]]:
    (path,) = (workdir / "journal").glob("*.journal")
    return [(rec.account, rec.state, rec.who) for rec in read_journal(path) if isinstance(rec, JTradingState)]


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and "starts " in r.getMessage()]


def _runtime(process: GatewayProcess, account: str | None) -> str:
    assert process.risk is not None
    return str(process.risk.runtime_state(account).name)


def _stop_dropping(process: GatewayProcess, disk: _FullDisk) -> None:
    """A stop while the journal's disk is full: the pending records are dropped (exit 3), then the disk is freed."""
    process._close_journal()
    assert process.exit_code == EXIT_JOURNAL_NOT_DURABLE
    disk.full = False


def test_kill_dropped_on_a_scope_the_journal_holds_halted_by_an_internal_error_then_re_applied_once(
    caplog: pytest.LogCaptureFixture, disk: _FullDisk
) -> None:
    workdir = short_tmp()
    process = _started(workdir)
    assert process.engine is not None
    process._halt_after_fault(["ACC1"], "engine fault drill")  # journaled: HALTED, cancels nothing
    process.engine.flush()
    disk.full = True
    assert process.kill("ACC1", "ops", "kill58 drill").journal_pending  # HALTED in memory, its record pending
    _stop_dropping(process, disk)
    assert _states(workdir) == [("ACC1", "HALTED", INTERNAL_ERROR_WHO)]  # the kill's record dropped

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        (said,) = _errors(caplog)  # the old code: none (HALTED in the journal, HALTED in the audit log: "equal")
        assert "account ACC1 starts HALTED" in said and "kill58 drill" in said, said
        assert "a record the journal does not hold (its last state for it, HALTED, is older" in said, said
        assert "(it has no open order to cancel)" in said, said  # carried out: the kill's cancels queued
        assert _runtime(again, "ACC1") == "HALTED"
        again.engine.flush()  # type: ignore[union-attr]
    finally:
        again._close_journal()
    assert _states(workdir)[-1] == ("ACC1", "HALTED", "ops")  # journaled as the kill, with its identity

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        third = _started(workdir)
    try:
        assert _errors(caplog) == []  # the kill is held now: not applied twice
        assert _runtime(third, "ACC1") == "HALTED"
    finally:
        third._close_journal()
    assert len(_states(workdir)) == 2


def test_kill_dropped_after_an_earlier_kill_of_the_scope_then_re_applied(
    caplog: pytest.LogCaptureFixture, disk: _FullDisk
) -> None:
    workdir = short_tmp()
    process = _started(workdir)
    assert process.kill(None, "ops", "first").journal_pending == ""
    disk.full = True
    assert process.kill(None, "risk officer", "second").journal_pending
    _stop_dropping(process, disk)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        (said,) = _errors(caplog)  # the old code: none
        assert "all trading (firm-wide) starts HALTED" in said and "risk officer" in said, said
    finally:
        again._close_journal()
    assert _states(workdir) == [("", "HALTED", "ops"), ("", "HALTED", "risk officer")]


def test_resume_whose_audit_record_was_lost_then_the_scope_halts_again(
    caplog: pytest.LogCaptureFixture, disk: _FullDisk
) -> None:
    """kill58c: a journal ACTIVE the audit log does not hold is not proof of a resume (a refused resume looks the
    same, next test): judged by state, the audit log's last word (the kill) is stricter: halted again (fail
    closed, docs/reliability.md 2.3a)."""
    workdir = short_tmp()
    process = _started(workdir)
    process.kill("ACC1", "ops", "drill")
    process.resume("ACC1", "ops", "checked")
    process._close_journal()
    audit = workdir / "audit.jsonl"
    lines = audit.read_bytes().splitlines(keepends=True)
    (resume,) = [i for i, line in enumerate(lines) if b'"trading_state"' in line and b'"new":"ACTIVE"' in line]
    audit.write_bytes(b"".join(lines[:resume] + lines[resume + 1 :]))  # the resume's audit record lost

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        assert _runtime(again, "ACC1") == "HALTED"  # kill58: ACTIVE
        (said,) = _errors(caplog)
        assert "account ACC1 starts HALTED" in said and "while the journal's last state for it is ACTIVE" in said, said
    finally:
        again._close_journal()
    assert _states(workdir) == [("ACC1", "HALTED", "ops"), ("ACC1", "ACTIVE", "ops"), ("ACC1", "HALTED", "ops")]

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        third = _started(workdir)  # the re-applied kill is held (its identity): not applied twice
    try:
        assert _runtime(third, "ACC1") == "HALTED" and _errors(caplog) == []
        third.resume("ACC1", "ops", "checked again")
    finally:
        third._close_journal()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fourth = _started(workdir)  # the resume both hold stands
    try:
        assert _runtime(fourth, "ACC1") == "ACTIVE" and _errors(caplog) == []
    finally:
        fourth._close_journal()


def _started_mmap(workdir: Path) -> GatewayProcess:
    limits = support.write_limits(workdir / "limits.yaml", {"accounts": {"ACC1": {"symbols": {"AAPL": {}}}}})
    config = gateway_config(workdir, 1, limits)
    journal = JournalConfig(directory=str(workdir / "journal"), fsync="batch", storage="mmap")  # type: ignore[arg-type]
    process = GatewayProcess(msgspec.structs.replace(config, journal=journal), clock=FakeClock())
    process.lock_journal()
    process.build()
    process.recover()
    return process


def test_journal_ending_on_a_resume_the_audit_log_lacks_then_the_restart_stays_halted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The state the test below makes through faults, built directly (a compiled journal's methods cannot be
    patched to fail): the journal holds the kill then an ACTIVE, the audit log only the kill. Runs in both builds."""
    workdir = short_tmp()
    process = _started_mmap(workdir)
    assert process.kill("ACC1", "ops", "kill58c drill").journal_pending == ""
    process.journal.append(JTradingState("ACC1", "ACTIVE", "ops", "resume drill", process._new_state_id()))
    process.journal.flush()
    process._close_journal()
    assert _states(workdir) == [("ACC1", "HALTED", "ops"), ("ACC1", "ACTIVE", "ops")]

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started_mmap(workdir)
    try:
        assert _runtime(again, "ACC1") == "HALTED", "the refused resume is in force"  # kill58: ACTIVE
        (said,) = _errors(caplog)
        assert "account ACC1 starts HALTED" in said and "kill58c drill" in said, said
        assert "or that resume was refused as the journal failed" in said, said
    finally:
        again._close_journal()


@pytest.mark.skipif(
    str(importlib.import_module("gateway.journal_mmap").__file__).endswith(".so"),
    reason="patches MmapJournal.flush on an instance: read-only in the compiled build (the test above covers it)",
)
def test_refused_resume_on_disk_and_its_restatement_dropped_then_the_restart_stays_halted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rev58merge F1 (HIGH, fail open under kill58): the resume's ACTIVE record is copied into the mapping and its
    fdatasync fails (``take_back`` False: it may be on disk), so the resume is refused ("trading stays halted") and
    a "resume refused" re-statement is journaled after it; the disk is full, the stop drops the re-statement. The
    journal holds the kill then the ACTIVE, the audit log only the kill: the start must not trade."""
    workdir = short_tmp()
    process = _started_mmap(workdir)
    assert process.kill("ACC1", "ops", "kill58c drill").journal_pending == ""
    journal = process.journal
    real_sync = os.fdatasync
    fails = [1]

    def sync(fd: int) -> None:
        if fails[0]:
            fails[0] -= 1
            raise OSError(errno.EIO, "Input/output error")
        real_sync(fd)

    def no_room(needed: int) -> object:
        raise OSError(errno.ENOSPC, "No space left on device")

    real_flush = journal.flush

    def flush() -> None:
        if not fails[0]:  # the ACTIVE record's sync failed: from now on the file cannot grow (the disk is full)
            monkeypatch.setattr(journal, "_grow", no_room)
            journal._size = journal._end  # type: ignore[attr-defined]  # the mapping ends with the ACTIVE record
        real_flush()

    monkeypatch.setattr("gateway.journal_mmap.os.fdatasync", sync)
    monkeypatch.setattr(journal, "flush", flush)
    with pytest.raises(ResumeRefusedError):
        process.resume("ACC1", "ops", "resume drill")
    assert _runtime(process, "ACC1") == "HALTED"  # the operator is told: still halted
    process._close_journal()  # the re-statement cannot be written: dropped
    monkeypatch.undo()
    assert _states(workdir) == [("ACC1", "HALTED", "ops"), ("ACC1", "ACTIVE", "ops")]

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started_mmap(workdir)
    try:
        assert _runtime(again, "ACC1") == "HALTED", "the refused resume is in force"  # kill58: ACTIVE
        (said,) = _errors(caplog)
        assert "account ACC1 starts HALTED" in said and "kill58c drill" in said, said
        assert "or that resume was refused as the journal failed" in said, said
    finally:
        again._close_journal()


def test_kill_of_an_earlier_version_after_the_journals_last_identity_then_re_applied(
    caplog: pytest.LogCaptureFixture, disk: _FullDisk
) -> None:
    """rev58merge F2: kill and resume by this version (identities in both), then, downgraded the same day, a kill by
    the earlier version (its audit record has no identity) whose journal record a stop on a full disk dropped. Back
    on this version the journal's last record carries an identity; the id-less audit record after it must still be
    judged (by state)."""
    workdir = short_tmp()
    process = _started(workdir)
    process.kill("ACC1", "ops", "new version")
    process.resume("ACC1", "ops", "checked")
    disk.full = True
    assert process.kill("ACC1", "ops", "earlier version").journal_pending
    _stop_dropping(process, disk)
    audit = workdir / "audit.jsonl"
    lines = audit.read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1])
    assert last["event"] == "trading_state" and last["reason"] == "earlier version"
    del last["state_id"]  # as the earlier version wrote it
    audit.write_bytes(b"".join(lines[:-1]) + json.dumps(last, separators=(",", ":")).encode() + b"\n")

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        assert _runtime(again, "ACC1") == "HALTED"  # kill58: ACTIVE, nothing said
        (said,) = _errors(caplog)
        assert "account ACC1 starts HALTED" in said and "earlier version" in said, said
    finally:
        again._close_journal()


def test_kill_and_resume_both_journaled_then_nothing_re_applied(caplog: pytest.LogCaptureFixture) -> None:
    workdir = short_tmp()
    process = _started(workdir)
    process.kill(None, "ops", "drill")
    process.resume(None, "ops", "checked")
    process.kill("ACC2", "ops", "acc2")
    process._close_journal()
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        assert (_runtime(again, None), _runtime(again, "ACC2")) == ("ACTIVE", "HALTED")
        assert _errors(caplog) == []
    finally:
        again._close_journal()


def test_identity_is_in_both_records_and_unique(tmp_path: Path) -> None:
    workdir = short_tmp()
    process = _started(workdir)
    for _ in range(3):
        process.kill(None, "ops", "drill")
        process.resume(None, "ops", "checked")
    process._close_journal()
    (path,) = (workdir / "journal").glob("*.journal")
    journaled = [rec.state_id for rec in read_journal(path) if isinstance(rec, JTradingState)]
    audited = [r["state_id"] for r in read_audit_log(workdir / "audit.jsonl") if r.get("event") == "trading_state"]
    assert journaled == audited and len(set(journaled)) == 6 and all(journaled), (journaled, audited)
    assert journaled == sorted(journaled)


def _old_format(workdir: Path) -> None:
    """Strip the identities from the journal's records and the audit log's (as an earlier version wrote them)."""
    (path,) = (workdir / "journal").glob("*.journal")
    records = list(read_journal(path))
    stripped = [msgspec.structs.replace(rec, state_id=0) if isinstance(rec, JTradingState) else rec for rec in records]
    path.unlink()
    journal = FileJournal(str(path))
    for rec in stripped:
        journal.append(rec)
    journal.close()
    audit = workdir / "audit.jsonl"
    lines = []
    for record in read_audit_log(audit):
        record.pop("state_id", None)
        lines.append(json.dumps(record, separators=(",", ":")) + "\n")
    audit.write_text("".join(lines))


def test_old_format_journal_and_audit_log_then_judged_by_state_as_before(caplog: pytest.LogCaptureFixture) -> None:
    workdir = short_tmp()
    process = _started(workdir)
    process.kill(None, "ops", "drill")
    process.resume(None, "ops", "checked")
    process._close_journal()
    _old_format(workdir)
    audit = workdir / "audit.jsonl"
    lines = audit.read_bytes().splitlines(keepends=True)
    (resume,) = [i for i, line in enumerate(lines) if b'"trading_state"' in line and b'"new":"ACTIVE"' in line]
    audit.write_bytes(b"".join(lines[:resume] + lines[resume + 1 :]))
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        assert _runtime(again, None) == "HALTED"  # no identity to tell: fail closed, as before
        (said,) = _errors(caplog)
        assert "while the journal's last state for it is ACTIVE" in said, said
    finally:
        again._close_journal()


def _audited(state: str, state_id: int, account: str | None = None, trigger: str = "") -> AuditedState:
    trigger = trigger or ("kill" if state == "HALTED" else "admin")
    return AuditedState(account, state, trigger, "ops", "r", "t", state_id, state_id)


def test_lost_states_by_identity() -> None:
    kill, resume, internal = _audited("HALTED", 1), _audited("ACTIVE", 2), _audited("HALTED", 3, trigger="internal")
    kill2 = _audited("HALTED", 4)
    # a kill the journal holds is done; the journal's resume stands where the audit log holds it too
    assert lost_states([kill, resume], [("", "HALTED", 1), ("", "ACTIVE", 2)]) == []
    # a journal resume the audit log does not hold (a refused one perhaps): by state, the kill again (kill58c)
    assert [(lost.found, lost.by_identity) for lost in lost_states([kill], [("", "HALTED", 1), ("", "ACTIVE", 2)])] == [
        (kill, False)
    ]
    # an audit record without identity after the last the journal holds (an earlier version's kill): by state
    old_kill = _audited("HALTED", 0)
    assert [lost.found for lost in lost_states([kill, resume, old_kill], [("", "HALTED", 1), ("", "ACTIVE", 2)])] == [
        old_kill
    ]
    # ... and before it: done (the journal's resume held by identity after it)
    assert lost_states([old_kill, kill, resume], [("", "HALTED", 1), ("", "ACTIVE", 2)]) == []
    # a kill after the journal's internal halt, not held: lost, carried out
    assert [lost.found for lost in lost_states([internal, kill2], [("", "HALTED", 3)])] == [kill2]
    # an internal halt after a held kill, not held: as strict, nothing to carry out: not re-applied
    assert lost_states([kill, internal], [("", "HALTED", 1)]) == []
    # a resume the journal lacks is never applied; a kill before it the journal lacks is (fail closed)
    assert [lost.found for lost in lost_states([kill, resume], [])] == [kill]
    assert lost_states([kill, resume, kill2], [("", "HALTED", 1), ("", "ACTIVE", 2), ("", "HALTED", 4)]) == []
    # kills older than the last the journal holds are judged done
    assert lost_states([kill2, kill], [("", "HALTED", 1)]) == []
    # per scope: an account's kill lost, the firm's held
    acc = _audited("HALTED", 5, "ACC1")
    assert [lost.found for lost in lost_states([kill, acc], [("", "HALTED", 1)])] == [acc]
    # records without identity (an earlier version's journal): by state, as before
    old = _audited("HALTED", 0)
    assert [(lost.found, lost.by_identity) for lost in lost_states([old], [("", "ACTIVE", 0)])] == [(old, False)]
    assert lost_states([old], [("", "HALTED", 0)]) == []
