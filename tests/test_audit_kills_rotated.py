"""A kill the journal dropped, read back from a rotated risk audit log; what the gateway says when nothing holds it.

Found by the ops review of stop 58 (rev58ops, kill58b):

1. (HIGH) ``gateway kill`` pending on a full journal, a stop (its CRITICAL: the next start re-applies the kill from
   the risk audit log, which holds it), then a rotation of the audit log (``mv audit.jsonl audit.jsonl.1``, logrotate
   with or without ``create``), the disk freed, a restart: ACTIVE, every order working, nothing logged. The start read
   only the current audit file. Now it reads ``<log>.1`` then the current file (``gateway.audit_kills.audit_files``);
   the trading-state identities it gives are raised past the rotated file's too.
3. (MEDIUM) the journal and the audit log on one full disk: the kill's audit record is late (in memory), yet the
   kill's answer and the stop's CRITICAL said the audit log held it. Now the kill says so (``KillResult.audit_late``)
   and the stop reads the audit log for the kill's identity: "NOTHING ON DISK HOLDS THE KILL", with the remedy.
6. (LOW) ``gateway resume`` refused on a full journal said "trading stays halted" while trading was ACTIVE.

The in-process gateway (``GatewayProcess``: build, recover, close, recover again) on a real journal file and a real
risk audit log, as ``test_audit_kills_identity.py``; the full disk is a fake ``os.write`` (ENOSPC).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import EXIT_JOURNAL_NOT_DURABLE, GatewayProcess, ResumeRefusedError
from risk.audit import utc_text
from tests.e2e.support import short_tmp
from tests.test_audit_kills_identity import _started, _states

pytestmark = pytest.mark.timeout(60)


class _FullDisk:
    """``os.write`` failing ENOSPC while ``full`` to the journal, and with ``audit_too`` to the risk audit log."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.audit_too = False
        real = os.write

        def write(fd: int, data: bytes | bytearray | memoryview) -> int:
            name = os.readlink(f"/proc/self/fd/{fd}")
            if self.full and (name.endswith(".journal") or (self.audit_too and name.endswith("audit.jsonl"))):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd, data)

        monkeypatch.setattr("gateway.journal.os.write", write)
        monkeypatch.setattr("risk.audit.os.write", write)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[_FullDisk]:
    yield _FullDisk(monkeypatch)


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def _runtime(process: GatewayProcess, account: str | None) -> str:
    assert process.risk is not None
    return str(process.risk.runtime_state(account).name)


def _stop_dropping(process: GatewayProcess, disk: _FullDisk) -> None:
    """A stop while the journal's disk is full: the pending records are dropped (exit 3), then the disk is freed."""
    process._close_journal()
    assert process.exit_code == EXIT_JOURNAL_NOT_DURABLE
    disk.full = disk.audit_too = False


@pytest.mark.parametrize("create", [False, True], ids=["nocreate", "create"])
def test_kill_dropped_by_a_stop_then_the_audit_log_rotated_then_the_start_re_applies_it_from_the_rotated_file(
    caplog: pytest.LogCaptureFixture, disk: _FullDisk, create: bool
) -> None:
    workdir = short_tmp()
    audit = workdir / "audit.jsonl"
    process = _started(workdir)
    disk.full = True
    assert process.kill("ACC1", "ops", "rotated drill").journal_pending  # HALTED in memory, its record pending
    with caplog.at_level(logging.WARNING):
        _stop_dropping(process, disk)
    (stopped,) = _logged(caplog, "JOURNAL NOT DURABLE AT STOP")
    assert _states(workdir) == []  # the kill's record dropped from the journal

    os.rename(audit, workdir / "audit.jsonl.1")  # the ops guide's `mv`, logrotate's rename
    if create:
        audit.write_bytes(b"")  # logrotate's default `create`: a new empty file
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        assert _runtime(again, "ACC1") == "HALTED"  # the old code: ACTIVE, the kill lost without a line
        (said,) = _logged(caplog, "starts HALTED")
        assert "account ACC1 starts HALTED" in said and "rotated drill" in said, said
        assert f"the risk audit log {workdir / 'audit.jsonl.1'} says" in said, said  # the file it was read from
        # what the stop said: the start reads the file one rotation leaves
        assert "re-applies it from the risk audit log" in stopped and "audit.jsonl.1" in stopped, stopped
        again.engine.flush()  # type: ignore[union-attr]
    finally:
        again._close_journal()
    assert _states(workdir) == [("ACC1", "HALTED", "ops")]  # journaled again: held from now on

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        third = _started(workdir)
    try:
        assert _logged(caplog, "starts HALTED") == []  # held by the journal now: not re-applied twice
        assert _runtime(third, "ACC1") == "HALTED"
    finally:
        third._close_journal()


def test_identities_given_after_a_rotation_are_raised_past_the_rotated_files(tmp_path: Path) -> None:
    """kill58's floor: every identity a start gives is above those this gateway wrote before (a wall clock stepped
    back); the rotated file's identities were not read, so a new kill could take an identity the audit log held."""
    workdir = short_tmp()
    process = _started(workdir)
    process._close_journal()
    ahead = time.time_ns() + 3_600 * 10**9  # written before the host's clock was stepped back an hour
    record = {
        "time": utc_text(time.time_ns()),
        "time_ns": time.time_ns(),
        "event": "trading_state",
        "trigger": "kill",
        "who": "ops",
        "scope": "account",
        "account": "ACC2",
        "old": "ACTIVE",
        "new": "HALTED",
        "effective": "HALTED",
        "reason": "r",
        "state_id": ahead,
        "gateway_id": process.config.gateway_id,
    }
    (workdir / "audit.jsonl.1").write_text(json.dumps(record, separators=(",", ":")) + "\n")
    again = _started(workdir)
    try:
        assert again._new_state_id() > ahead  # the old code: time.time_ns(), below the rotated file's identity
    finally:
        again._close_journal()


def test_kill_on_one_full_disk_with_the_audit_log_then_the_answer_and_the_stop_say_nothing_holds_it(
    caplog: pytest.LogCaptureFixture, disk: _FullDisk
) -> None:
    workdir = short_tmp()
    process = _started(workdir)
    disk.full = disk.audit_too = True
    result = process.kill("ACC1", "ops", "both full drill")
    assert result.journal_pending and result.audit_late  # the old code: no audit_late (AttributeError)
    with caplog.at_level(logging.WARNING):
        _stop_dropping(process, disk)
    (stopped,) = _logged(caplog, "JOURNAL NOT DURABLE AT STOP")
    # the old code: "... re-applies it from the risk audit log <log>, which holds the kill's record"
    assert "which holds the kill's record" not in stopped, stopped
    assert "does NOT hold it either" in stopped and "NOTHING ON DISK HOLDS THE KILL" in stopped, stopped
    assert "run `gateway kill --account ACC1` again as soon as the gateway is started" in stopped, stopped

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        assert _runtime(again, "ACC1") == "ACTIVE"  # as the stop said: lost (docs/reliability.md 2.3a)
    finally:
        again._close_journal()


def test_kill_on_a_full_journal_with_the_audit_log_written_then_the_answer_says_it_holds_it(
    disk: _FullDisk,
) -> None:
    workdir = short_tmp()
    process = _started(workdir)
    disk.full = True
    result = process.kill(None, "ops", "journal only")
    assert result.journal_pending and not result.audit_late
    _stop_dropping(process, disk)


@pytest.mark.parametrize("halted", [False, True])
def test_resume_refused_on_a_full_journal_then_the_refusal_names_the_state_that_stays(
    disk: _FullDisk, halted: bool
) -> None:
    workdir = short_tmp()
    process = _started(workdir)
    try:
        if halted:
            process.kill(None, "ops", "before the disk filled")
        disk.full = True
        with pytest.raises(ResumeRefusedError) as refused:
            process.resume(None, "ops", "disk test")
        state = "HALTED" if halted else "ACTIVE"
        assert f"nothing was changed (trading stays {state})" in str(refused.value), refused.value  # old: "halted"
        assert _runtime(process, None) == state
    finally:
        disk.full = False
        process._close_journal()
