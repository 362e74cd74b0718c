"""Which kill switches the start re-applies from the risk audit log (``gateway.audit_kills``, killstop56).

The audit log is the real ``risk.audit.AuditLog`` format (one JSON record a line); the journal's trading-state
records are given as (account, state). A kill pending on a full journal is dropped by a stop or a crash; its audit
record was written first, so the start finds the audit log's last word for the scope stricter than the journal's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.audit_kills import (
    FROM_AUDIT,
    HELD_MARGIN,
    TAIL_BYTES,
    audited_records,
    audited_states,
    held_ids,
    stricter_than_journal,
)
from risk.audit import AuditLog, audit_files, read_audit_log, utc_text
from risk.engine import RESTORED, RiskEngine
from risk.model import TradingState
from tests.risk.support import write_limits

GW = "gw1"
"""This gateway's ``gateway_id``: every record it writes names it (killstop56b)."""
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
        "gateway_id": extra.pop("gateway_id", GW),
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
    (lost,) = stricter_than_journal(audited_states(path, _today, GW), [])
    assert (lost.account, lost.state, lost.who, lost.reason, lost.trigger) == (
        None,
        "HALTED",
        "ops",
        "disk full drill",
        "kill",
    )


def test_kill_in_journal_too_then_nothing_to_reapply(tmp_path: Path) -> None:
    path = _log(tmp_path, _state(TODAY + 5, "HALTED"), _state(TODAY + 6, "HALTED", "ACC1"))
    assert stricter_than_journal(audited_states(path, _today, GW), [("", "HALTED"), ("ACC1", "HALTED")]) == []


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
    assert [(s.account, s.state) for s in stricter_than_journal(audited_states(path, _today, GW), journaled)] == [
        ("ACC1", "HALTED")
    ]


def test_resume_in_audit_log_not_in_journal_then_journals_halt_stays(tmp_path: Path) -> None:
    path = _log(tmp_path, _state(TODAY + 1, "HALTED"), _state(TODAY + 2, "ACTIVE"))
    assert stricter_than_journal(audited_states(path, _today, GW), [("", "HALTED")]) == []  # never less strict


def test_kill_of_another_day_then_not_reapplied(tmp_path: Path) -> None:
    path = _log(tmp_path, _state(TODAY - 5, "HALTED"), _state(TODAY + DAY_NS + 1, "HALTED", "ACC1"))
    assert audited_states(path, _today, GW) == {}  # a run-time halt does not carry over to the next session date


def test_records_a_start_reapplied_then_not_an_operators_word(tmp_path: Path) -> None:
    path = _log(
        tmp_path,
        _state(TODAY + 1, "HALTED"),
        _state(TODAY + 2, "ACTIVE"),  # resumed
        _state(TODAY + 3, "HALTED", who="ops" + RESTORED),  # a start re-applying an older journal record
        _state(TODAY + 4, "HALTED", who="ops" + FROM_AUDIT),
    )
    assert audited_states(path, _today, GW)[None].state == "ACTIVE"


def test_record_written_late_then_in_file_order(tmp_path: Path) -> None:
    # the kill refused by the audit log is written late, before the next record (the resume): as it happened
    late = _state(TODAY + 1, "HALTED", late=True, written_time=utc_text(TODAY + 2))
    path = _log(tmp_path, late, _state(TODAY + 2, "ACTIVE"))
    assert audited_states(path, _today, GW)[None].state == "ACTIVE"


def test_clock_stepped_back_between_kill_and_resume_then_the_resume_is_the_last_word(tmp_path: Path) -> None:
    # rev56merge4 K1: an NTP step back of 1 ms between them gives the resume the earlier time_ns
    path = _log(tmp_path, _state(TODAY + 5_000_000, "HALTED"), _state(TODAY + 4_000_000, "ACTIVE"))
    found = audited_states(path, _today, GW)
    assert found[None].state == "ACTIVE"  # the old code: HALTED (the latest time_ns), halted again at the start
    assert stricter_than_journal(found, [("", "HALTED"), ("", "ACTIVE")]) == []


def test_another_gateways_kill_in_a_shared_audit_log_then_not_this_gateways(tmp_path: Path) -> None:
    # rev56merge4 K3: two gateways write one audit log; gwK's kill is journaled in gwK's journal only
    path = _log(
        tmp_path,
        _state(TODAY + 1, "HALTED", gateway_id="gwK", reason="gwK only"),
        _state(TODAY + 2, "HALTED", "ACC1", gateway_id="gwK"),
    )
    assert audited_states(path, _today, GW) == {}  # the old code: gwK's halts, re-applied to this gateway
    assert stricter_than_journal(audited_states(path, _today, GW), []) == []
    assert set(audited_states(path, _today, "gwK")) == {None, "ACC1"}


def test_records_naming_no_gateway_then_ignored(tmp_path: Path) -> None:
    # written before records carried gateway_id: whose they are cannot be told, so they are not re-applied
    old = _state(TODAY + 1, "HALTED")
    del old["gateway_id"]
    path = _log(tmp_path, old, _state(TODAY + 2, "HALTED", "ACC1"))
    assert set(audited_states(path, _today, GW)) == {"ACC1"}


def test_tail_only_then_the_part_line_skipped_and_the_last_records_read(tmp_path: Path) -> None:
    path = _log(tmp_path, *[_state(TODAY + i, "ACTIVE", "ACC1", reason="x" * 200) for i in range(50)])
    with path.open("ab") as handle:
        handle.write(b'{"event": "trading_state", broken\n')
    found = audited_states(path, _today, GW, limit=2_000)
    assert found[("ACC1")].time_ns == TODAY + 49


def test_no_audit_log_then_nothing(tmp_path: Path) -> None:
    assert audited_states(tmp_path / "none.jsonl", _today, GW) == {}


def test_every_record_the_risk_engine_writes_names_its_gateway(tmp_path: Path) -> None:
    wall = [TODAY + 10]
    engine = RiskEngine.load(
        write_limits(tmp_path / "limits.yaml"),
        audit_log_path=tmp_path / "a.jsonl",
        wall_clock=lambda: wall[0],
        gateway_id=GW,
    )
    engine.halt(None, "ops", "drill")
    wall[0] = TODAY + 5  # the wall clock stepped back before the resume
    engine.set_trading_state(TradingState.ACTIVE, None, "ops", "checked")
    engine.halt("ACC1", "ops", "account drill")
    engine.close()
    records = read_audit_log(tmp_path / "a.jsonl")
    assert {record.get("gateway_id") for record in records} == {GW}  # the old code: None (no gateway_id field)
    found = audited_states(tmp_path / "a.jsonl", _today, GW)
    assert {account: state.state for account, state in found.items()} == {None: "ACTIVE", "ACC1": "HALTED"}
    assert audited_states(tmp_path / "a.jsonl", _today, "another") == {}


def test_rotated_file_read_first_then_the_current_one_within_one_tail_bound(tmp_path: Path) -> None:
    """kill58b: the start read only the current file; a kill before a rotation (``mv``, logrotate) was not seen."""
    path = _log(tmp_path, _state(TODAY + 1, "HALTED", reason="before the rotation", state_id=7))
    path.rename(tmp_path / "audit.jsonl.1")
    assert audited_states(path, _today, GW)[None].reason == "before the rotation"  # no current file (nocreate)
    path.write_bytes(b"")  # logrotate's `create`
    (found,) = audited_records(path, _today, GW)  # the old code: none
    assert (found.reason, found.file) == ("before the rotation", str(tmp_path / "audit.jsonl.1"))
    assert held_ids(path, GW, [7, 8]).where == {7: tmp_path / "audit.jsonl.1"}
    _log(tmp_path, _state(TODAY + 2, "ACTIVE", reason="resumed after it", state_id=8))  # the current file, later
    assert [(s.reason, s.file) for s in audited_records(path, _today, GW)] == [
        ("before the rotation", str(tmp_path / "audit.jsonl.1")),
        ("resumed after it", ""),
    ]
    assert audited_states(path, _today, GW)[None].state == "ACTIVE"  # file order: the current file's is the last
    current = path.stat().st_size
    assert audited_records(path, _today, GW, limit=current) == audited_records(path, _today, GW)[1:]  # one bound
    assert audit_files(path) == (tmp_path / "audit.jsonl.2", tmp_path / "audit.jsonl.1", path)


def test_files_two_rotations_leave_read_in_order_within_one_bound_and_held_ids_names_the_file(tmp_path: Path) -> None:
    """kill58d: ``<log>.2`` is read before ``<log>.1`` (a rotation during the run, one more before the start)."""
    path = _log(tmp_path, _state(TODAY + 1, "HALTED", "ACC1", reason="two rotations ago", state_id=7))
    path.rename(tmp_path / "audit.jsonl.2")
    _log(tmp_path, _state(TODAY + 2, "HALTED", "ACC2", reason="one rotation ago", state_id=8))
    path.rename(tmp_path / "audit.jsonl.1")
    _log(tmp_path, _state(TODAY + 3, "HALTED", "ACC3", reason="current", state_id=9))
    found = audited_records(path, _today, GW)
    assert [(s.reason, s.file) for s in found] == [  # the old code: .2's record not read
        ("two rotations ago", str(tmp_path / "audit.jsonl.2")),
        ("one rotation ago", str(tmp_path / "audit.jsonl.1")),
        ("current", ""),
    ]
    held = held_ids(path, GW, [7, 8, 9, 10], limit=TAIL_BYTES)
    assert held.where == {7: tmp_path / "audit.jsonl.2", 8: tmp_path / "audit.jsonl.1", 9: path}
    assert (held.unreadable, held.edge) == ([], {})
    two_newest = path.stat().st_size + (tmp_path / "audit.jsonl.1").stat().st_size
    assert audited_records(path, _today, GW, limit=two_newest) == found[1:]  # one bound over the three
    # within HELD_MARGIN of the bound: found by the start's reading, not said held (the start writes first)
    edge = held_ids(path, GW, [7, 8, 9], limit=two_newest + HELD_MARGIN)
    assert edge.where == {8: tmp_path / "audit.jsonl.1", 9: path}
    assert edge.edge == {7: tmp_path / "audit.jsonl.2"}
