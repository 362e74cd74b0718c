"""Which kill switches the start re-applies from the risk audit log (``gateway.audit_kills``, killstop56).

The audit log is the real ``risk.audit.AuditLog`` format (one JSON record a line); the journal's trading-state
records are given as (account, state). A kill pending on a full journal is dropped by a stop or a crash; its audit
record was written first, so the start finds the audit log's last word for the scope stricter than the journal's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.audit_kills import FROM_AUDIT, audited_states, stricter_than_journal
from risk.audit import AuditLog, utc_text
from risk.engine import RESTORED

DAY_NS = 86_400 * 10**9
TODAY = 20_000 * DAY_NS
"""The journal's trading day in these tests: [TODAY, TODAY + DAY_NS)."""


def _today(time_ns: int) -> bool:
    return TODAY <= time_ns < TODAY + DAY_NS


def _state(at: int, new: str, account: str | None = None, who: str = "ops", **extra: Any) -> dict[str, Any]:
    return {
        "time": utc_text(at),
        "time_ns": at,
        "event": "trading_state",
        "trigger": extra.pop("trigger", "kill" if new == "HALTED" else "admin"),
        "who": who,
        "scope": "firm" if account is None else "account",
        "account": account,
        "old": "ACTIVE",
        "new": new,
        "effective": new,
        "reason": extra.pop("reason", "drill"),
        **extra,
    }


def _log(tmp_path: Path, *records: dict[str, Any]) -> Path:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.write({"time": utc_text(TODAY), "time_ns": TODAY, "event": "startup", "trigger": "start", "who": "gw"})
    for record in records:
        audit.write(record)
    audit.close()
    return audit.path


def test_kill_in_audit_log_not_in_journal_then_reapplied(tmp_path: Path) -> None:
    path = _log(tmp_path, _state(TODAY + 5, "HALTED", reason="disk full drill"))
    (lost,) = stricter_than_journal(audited_states(path, _today), [])
    assert (lost.account, lost.state, lost.who, lost.reason, lost.trigger) == (
        None,
        "HALTED",
        "ops",
        "disk full drill",
        "kill",
    )


def test_kill_in_journal_too_then_nothing_to_reapply(tmp_path: Path) -> None:
    path = _log(tmp_path, _state(TODAY + 5, "HALTED"), _state(TODAY + 6, "HALTED", "ACC1"))
    assert stricter_than_journal(audited_states(path, _today), [("", "HALTED"), ("ACC1", "HALTED")]) == []


def test_kill_after_the_journals_last_resume_then_reapplied_for_that_account_only(tmp_path: Path) -> None:
    path = _log(
        tmp_path,
        _state(TODAY + 1, "HALTED", "ACC1"),
        _state(TODAY + 2, "ACTIVE", "ACC1"),
        _state(TODAY + 3, "HALTED", "ACC1"),  # its journal record dropped
        _state(TODAY + 4, "HALTED", "ACC2"),
        _state(TODAY + 5, "ACTIVE", "ACC2"),
    )
    journaled = [("ACC1", "HALTED"), ("ACC1", "ACTIVE"), ("ACC2", "HALTED"), ("ACC2", "ACTIVE")]
    assert [(s.account, s.state) for s in stricter_than_journal(audited_states(path, _today), journaled)] == [
        ("ACC1", "HALTED")
    ]


def test_resume_in_audit_log_not_in_journal_then_journals_halt_stays(tmp_path: Path) -> None:
    path = _log(tmp_path, _state(TODAY + 1, "HALTED"), _state(TODAY + 2, "ACTIVE"))
    assert stricter_than_journal(audited_states(path, _today), [("", "HALTED")]) == []  # never less strict


def test_kill_of_another_day_then_not_reapplied(tmp_path: Path) -> None:
    path = _log(tmp_path, _state(TODAY - 5, "HALTED"), _state(TODAY + DAY_NS + 1, "HALTED", "ACC1"))
    assert audited_states(path, _today) == {}  # a run-time halt does not carry over to the next session date


def test_records_a_start_reapplied_then_not_an_operators_word(tmp_path: Path) -> None:
    path = _log(
        tmp_path,
        _state(TODAY + 1, "HALTED"),
        _state(TODAY + 2, "ACTIVE"),  # resumed
        _state(TODAY + 3, "HALTED", who="ops" + RESTORED),  # a start re-applying an older journal record
        _state(TODAY + 4, "HALTED", who="ops" + FROM_AUDIT),
    )
    assert audited_states(path, _today)[None].state == "ACTIVE"


def test_record_written_late_then_ordered_by_its_own_time(tmp_path: Path) -> None:
    late = _state(TODAY + 1, "ACTIVE", late=True, written_time=utc_text(TODAY + 9))
    path = _log(tmp_path, _state(TODAY + 2, "HALTED"), late)  # the resume refused by the audit log came first
    assert audited_states(path, _today)[None].state == "HALTED"


def test_tail_only_then_the_part_line_skipped_and_the_last_records_read(tmp_path: Path) -> None:
    path = _log(tmp_path, *[_state(TODAY + i, "ACTIVE", "ACC1", reason="x" * 200) for i in range(50)])
    with path.open("ab") as handle:
        handle.write(b'{"event": "trading_state", broken\n')
    found = audited_states(path, _today, limit=2_000)
    assert found[("ACC1")].time_ns == TODAY + 49


def test_no_audit_log_then_nothing(tmp_path: Path) -> None:
    assert audited_states(tmp_path / "none.jsonl", _today) == {}
