"""A clean stop with risk audit records still kept late (the audit log cannot be written) says so (ops59c).

Found by rev59merge12 (HIGH 3, double fault, also on main): the stop dropped them silently and exited 0, and its
ERROR on the copies not kept said the next start would know the limits in force from the audit log, which lacked
the ``not_applied`` record of a held-back file: the next start put that file (maybe half-written) in force. Now the
stop tries a last flush, then a CRITICAL ``RISK AUDIT RECORDS LOST AT STOP`` names each record and what the next
start does without it, and ``gateway run`` exits 4 (``EXIT_RISK_AUDIT_LOST``).
"""

from __future__ import annotations

import errno
import logging
from typing import Any

import pytest

from gateway.app import EXIT_RISK_AUDIT_LOST
from risk.audit import AuditLog
from risk.model import TradingState
from tests.e2e.support import short_tmp
from tests.risk.test_held_back_note_lost import _immutable
from tests.risk.test_reload_copy_unwritable import _built, _limits


def _audit_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(self: AuditLog, record: dict[str, Any]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(AuditLog, "write", refused)


async def test_stop_with_late_audit_records_then_critical_naming_them_and_exit_4(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    risk: Any = process.risk
    _audit_refused(monkeypatch)
    _immutable(monkeypatch)  # the held-back note cannot be kept either: the audit record was the only word
    risk.halt("ACC1", "officer", "late")
    risk.set_trading_state(TradingState.ACTIVE, "ACC1", "officer", "late", trigger="resume")
    _limits(limits, 300)  # in place: held back
    process._watch_risk_file()
    if process._risk_keeping is not None:
        await process._risk_keeping
    assert risk.flush_late_audit() >= 2
    caplog.set_level(logging.INFO)
    await process.stop()
    assert process.exit_code == EXIT_RISK_AUDIT_LOST  # the old code: 0, nothing said
    critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1, critical
    assert critical[0].startswith("RISK AUDIT RECORDS LOST AT STOP: "), critical
    assert f"the not_applied record of {limits}" in critical[0], critical
    assert "NOTHING ON DISK SAYS THE FILE IS HELD BACK and the next start puts it in force" in critical[0], critical
    assert "the trading_state record of account ACC1 ACTIVE -> HALTED" in critical[0], critical
    assert "the trading_state record of account ACC1 HALTED -> ACTIVE" in critical[0], critical
    # a kill and its resume both lost: one story, the journal holds both (rev59merge18: "kill again" and "may halt it
    # again" were both said, both wrong)
    assert "(superseded by the later one of the same scope, lost too)" in critical[0], critical
    assert "the next start takes them from the journal (ACTIVE)" in critical[0], critical
    assert "may halt it again" not in critical[0] and "kill again" not in critical[0], critical
    assert "(exit code 4; 3 if the journal's stop fails too)" in critical[0], critical
    errors = [r.getMessage() for r in caplog.records if "are still NOT kept" in r.getMessage()]
    assert errors and "which lacks" in errors[0] and "RISK AUDIT RECORDS LOST AT STOP" in errors[0], errors


async def test_stop_after_the_audit_log_is_writable_again_then_the_late_records_are_written_and_exit_0(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    workdir = short_tmp()
    process, _ = _built(workdir)
    risk: Any = process.risk
    _audit_refused(monkeypatch)
    risk.halt("ACC1", "officer", "late")
    assert risk.flush_late_audit() == 1
    monkeypatch.undo()  # the disk freed: the stop's last flush writes it
    await process.stop()
    assert process.exit_code == 0
    assert risk.flush_late_audit() == 0
    assert not [r for r in caplog.records if r.levelno == logging.CRITICAL]
    text = (workdir / "audit.jsonl").read_text() if (workdir / "audit.jsonl").exists() else ""
    assert '"late":true' in text.replace(" ", ""), text
