"""A record the disk took only in part does not hide the next one (audittorn57).

Found by the review of stop 56 (rev57diff): on a nearly full disk ``AuditLog`` got a short write, raised and left the
part written, without a newline, at the file's end; the kill's record written late (or any next record) was glued
onto it on the same line. The next start (``gateway.audit_kills.audited_states``) skipped that line as undecodable:
a kill dropped from a full journal by the stop was not re-applied (fail open), and ``read_audit_log`` raised.

Now both ends: the writer blanks the part written out (spaces and a newline, in place: the log may be shared) or,
if it cannot, starts the next record on a new line; the readers recover the whole records of a damaged line
(written by an older version, or cut short by a crash) and say so in one WARNING. Real files in ``tmp_path``; the
short write is the kernel's answer a full disk gives, played by a stand-in for ``os.write``.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.audit_kills import audited_states, stricter_than_journal
from risk.audit import AuditLog, read_audit_log, records_in_line, utc_text
from risk.engine import RiskEngine
from risk.model import TradingState
from tests.risk.support import replace_file, write_limits

GW = "gw1"
DAY_NS = 86_400 * 10**9
TODAY = 20_000 * DAY_NS
"""The journal's trading day in these tests: [TODAY, TODAY + DAY_NS)."""


def _today(time_ns: int) -> bool:
    return TODAY <= time_ns < TODAY + DAY_NS


def _state(at: int, new: str, account: str | None = None, gateway_id: str = GW) -> dict[str, Any]:
    return {
        "time": utc_text(at),
        "time_ns": at,
        "event": "trading_state",
        "trigger": "kill" if new == "HALTED" else "admin",
        "who": "ops",
        "scope": "firm" if account is None else "account",
        "account": account,
        "old": "ACTIVE",
        "new": new,
        "effective": new,
        "reason": "torn drill",
        "gateway_id": gateway_id,
    }


def _line(record: dict[str, Any]) -> bytes:
    return msgspec.json.encode(record) + b"\n"


def _every_line_whole(path: Path) -> list[dict[str, Any]]:
    """Each line of ``path`` is one record or blank (``jq`` reads it); return the records."""
    records = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            records.append(msgspec.json.decode(line))
    return records


def _short_writes(monkeypatch: pytest.MonkeyPatch, fd: int, keep: int) -> None:
    """The disk fills: the kernel takes only the first ``keep`` bytes of the next write to ``fd``."""
    real_write = os.write

    def short(to: int, data: bytes) -> int:
        return real_write(to, bytes(data)[:keep]) if to == fd else real_write(to, data)

    monkeypatch.setattr(os, "write", short)


def test_short_write_is_blanked_out_then_next_record_whole_on_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    audit.write(_state(TODAY + 1, "ACTIVE", "ACC1"))
    _short_writes(monkeypatch, audit._fd, 40)
    with pytest.raises(OSError, match=r"short write .*: 40 of \d+ bytes; the part written was blanked out"):
        audit.write(_state(TODAY + 2, "HALTED", "ACC2"))
    monkeypatch.undo()
    audit.write(_state(TODAY + 3, "HALTED"))  # the firm-wide kill, once the disk takes it
    audit.close()
    # the old code: the kill glued onto 40 bytes of the torn record, one line that does not decode
    assert [(r["account"], r["new"]) for r in _every_line_whole(path)] == [("ACC1", "ACTIVE"), (None, "HALTED")]
    assert path.read_bytes().splitlines()[1] == b" " * 39  # the 40 bytes written: spaces and the newline
    (lost,) = stricter_than_journal(audited_states(path, _today, GW), [])
    assert (lost.account, lost.state) == (None, "HALTED")


def test_kill_whose_audit_record_was_short_written_then_written_late_is_reapplied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The risk engine's own path: ``gateway kill`` on a nearly full disk, its record kept and written late
    (``"late": true``) once there is room; the journal's HALTED record then dropped by a stop (journalstop56)."""
    wall = [TODAY + 10]
    engine = RiskEngine.load(
        write_limits(tmp_path / "limits.yaml"),
        audit_log_path=tmp_path / "a.jsonl",
        wall_clock=lambda: wall[0],
        gateway_id=GW,
    )
    assert engine._audit is not None
    _short_writes(monkeypatch, engine._audit._fd, 50)
    engine.halt(None, "ops", "disk full drill")  # in force in memory; its audit record kept, written late
    monkeypatch.undo()
    assert engine.flush_late_audit() == 0
    engine.close()
    late = _every_line_whole(tmp_path / "a.jsonl")[-1]  # the old code: msgspec.DecodeError, the kill glued on
    assert (late["event"], late["new"], late["late"]) == ("trading_state", "HALTED", True)
    lost = stricter_than_journal(audited_states(tmp_path / "a.jsonl", _today, GW), [])
    assert [(s.account, s.state, s.reason) for s in lost] == [(None, "HALTED", "disk full drill")]


def test_short_write_that_cannot_be_blanked_out_then_next_record_starts_on_a_new_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    audit.write(_state(TODAY + 1, "ACTIVE", "ACC1"))
    _short_writes(monkeypatch, audit._fd, 30)

    def refused(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")  # a copy-on-write file system: no room to overwrite

    monkeypatch.setattr(os, "pwrite", refused)
    with pytest.raises(OSError, match=r"could not be blanked out .*: the next record starts on a new line"):
        audit.write(_state(TODAY + 2, "REDUCING", "ACC2"))
    monkeypatch.undo()
    audit.write(_state(TODAY + 3, "HALTED"))
    audit.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3 and len(lines[1]) == 30  # the torn part alone on its line
    assert msgspec.json.decode(lines[2])["new"] == "HALTED"  # the old code: glued onto the 30 bytes
    assert set(audited_states(path, _today, GW)) == {None, "ACC1"}  # the torn record is not read as one


def test_record_cut_short_by_a_crash_then_next_start_writes_on_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(_line(_state(TODAY + 1, "ACTIVE")) + _line(_state(TODAY + 2, "HALTED"))[:70])  # power lost
    audit = AuditLog(path)  # the next run
    audit.write(_state(TODAY + 3, "HALTED", "ACC1"))
    audit.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3 and msgspec.json.decode(lines[2])["account"] == "ACC1"  # the old code: glued on


def test_short_write_then_another_gateways_record_in_the_shared_log_is_kept_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blanked out in place, not cut off: another gateway's record appended right after the part written (the log
    is shared, ops guide section 6) stays whole; cutting the file back to its size before the write would lose it."""
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    audit.write(_state(TODAY + 1, "ACTIVE"))
    other = os.open(path, os.O_WRONLY | os.O_APPEND)
    real_write = os.write

    def short_then_other(fd: int, data: bytes) -> int:
        if fd != audit._fd:
            return real_write(fd, data)
        done = real_write(fd, bytes(data)[:60])
        real_write(other, _line(_state(TODAY + 5, "HALTED", gateway_id="gwK")))  # gwK's kill, on disk
        return done

    monkeypatch.setattr(os, "write", short_then_other)
    with pytest.raises(OSError, match="blanked out"):
        audit.write(_state(TODAY + 2, "REDUCING"))
    monkeypatch.undo()
    os.close(other)
    audit.write(_state(TODAY + 3, "HALTED", "ACC1"))
    audit.close()
    records = _every_line_whole(path)
    assert [(r["gateway_id"], r["new"]) for r in records] == [(GW, "ACTIVE"), ("gwK", "HALTED"), (GW, "HALTED")]
    assert set(audited_states(path, _today, "gwK")) == {None}


def _damaged_log(tmp_path: Path) -> Path:
    """What an older version left: a record cut short, the firm-wide kill written late glued onto it."""
    path = tmp_path / "audit.jsonl"
    first = _line(_state(TODAY + 1, "ACTIVE", "ACC1"))
    torn = _line({**_state(TODAY + 2, "HALTED", "ACC2"), "who": "root (cli pid 4711)"})[:90]
    late = _line({**_state(TODAY + 3, "HALTED"), "late": True, "written_time": utc_text(TODAY + 9)})
    path.write_bytes(first + torn + late + _line(_state(TODAY + 4, "HALTED", "ACC3")))
    return path


def test_kill_glued_onto_a_torn_line_is_reapplied_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _damaged_log(tmp_path)
    offset = len(path.read_bytes().splitlines(keepends=True)[0])
    with caplog.at_level(logging.WARNING):
        found = audited_states(path, _today, GW)
    # the old code: {"ACC1": ACTIVE, "ACC3": HALTED}, the firm-wide kill on the damaged line skipped (fail open)
    assert {account: state.state for account, state in found.items()} == {
        "ACC1": "ACTIVE",
        None: "HALTED",
        "ACC3": "HALTED",
    }
    (lost,) = stricter_than_journal(found, [("ACC3", "HALTED")])  # the journal dropped the firm-wide kill
    assert (lost.account, lost.state) == (None, "HALTED")
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{path}: 1 lines are not one whole record" in warning.getMessage()
    assert f"byte offset {offset}, line 2: 1 whole records recovered" in warning.getMessage()


def test_damaged_line_in_the_middle_of_a_long_log_read_from_its_tail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    filler = b"".join(_line(_state(TODAY + 1, "ACTIVE", f"A{i}")) for i in range(50))
    torn = _line(_state(TODAY + 2, "ACTIVE"))[:33]
    path.write_bytes(filler + torn + _line(_state(TODAY + 3, "HALTED")))
    with caplog.at_level(logging.WARNING):
        found = audited_states(path, _today, GW, limit=1_000)
    assert found[None].state == "HALTED"
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"byte offset {len(filler)}: 1 whole records recovered" in warning.getMessage()  # no line number


def test_records_in_line_recovers_each_whole_record() -> None:
    one, two = _line(_state(TODAY + 1, "HALTED")).strip(), _line(_state(TODAY + 2, "ACTIVE", "ACC1")).strip()
    assert records_in_line(one + b"\n") == ([msgspec.json.decode(one)], False)
    assert records_in_line(b"    \n") == ([], False)
    found, damaged = records_in_line(one[:25] + one[:80] + two + b"garbage" + one)  # two torn, two whole
    assert damaged and [r["time_ns"] for r in found] == [TODAY + 2, TODAY + 1]
    assert records_in_line(one[:25]) == ([], True)


def test_read_audit_log_reads_around_a_damaged_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _damaged_log(tmp_path)
    with caplog.at_level(logging.WARNING, logger="risk"):
        records = read_audit_log(path)  # the old code: msgspec.DecodeError
    assert [(r["account"], r.get("late", False)) for r in records] == [("ACC1", False), (None, True), ("ACC3", False)]
    assert "line 2 (byte offset" in caplog.text and "1 whole records recovered" in caplog.text
    assert "an earlier version of the gateway wrote the next record on the same line" in caplog.text
    assert "audittorn57" not in caplog.text  # worded for operators: no internal branch name (rev57merge2)


def test_record_cut_short_by_a_crash_then_the_next_on_its_own_line_is_worded_so_at_each_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev57merge LOW: a record a crash cut short, the next one on a new line (this version's writer): nothing glued.

    The WARNING used to say the next record was written on the same line, and did not say it comes back at every
    start; now it names the older versions' glue as the other cause and says the line stays in the file.
    """
    path = tmp_path / "audit.jsonl"
    cut = _line(_state(TODAY + 1, "ACTIVE", "ACC1"))[:60] + b"\n"  # the next record started on a new line
    path.write_bytes(cut + _line(_state(TODAY + 2, "HALTED")))
    for _start in range(2):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            found = audited_states(path, _today, GW)
        assert found[None].state == "HALTED"
        (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
        text = warning.getMessage()
        assert "byte offset 0, line 1: 0 whole records recovered" in text
        assert "an earlier version of the gateway wrote the next record on the same line" in text
        assert "audittorn57" not in text  # worded for operators: no internal branch name (rev57merge2)
        assert "logged at every start until the file is rotated" in text


def _refuse_blank_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy-on-write file system on a full disk: no room to overwrite the bytes a short write left."""

    def refused(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", refused)


@pytest.mark.parametrize("after_torn", [False, True], ids=["after-whole", "after-cut"])
def test_short_write_missing_only_the_newline_is_a_written_record_and_the_next_starts_a_new_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, after_torn: bool
) -> None:
    """audit58 (rev58diff F1): the disk took the whole record but its final newline, and the blank-out was refused:
    ``write`` raised "could not be blanked out" while the record was whole on disk, and the next record's leading
    newline made it a whole line: a write reported failed, read back as written. Now it is written (no error), the
    next record on a line of its own; after a record a crash cut short (``after-cut``) too."""
    path = tmp_path / "audit.jsonl"
    first = _line(_state(TODAY + 1, "ACTIVE", "ACC1"))
    path.write_bytes(first[:50] if after_torn else first)
    audit = AuditLog(path)
    record = _state(TODAY + 2, "HALTED", "ACC2")
    wanted = len(_line(record)) + (1 if after_torn else 0)  # a newline first after a cut record
    _short_writes(monkeypatch, audit._fd, wanted - 1)
    _refuse_blank_out(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="risk"):
        audit.write(record)  # the old code: OSError "short write ... could not be blanked out"
    monkeypatch.undo()
    assert "the disk took the record but not its newline" in caplog.text
    assert not path.read_bytes().endswith(b"\n")
    audit.write(_state(TODAY + 3, "ACTIVE", "ACC2"))
    audit.close()
    lines = path.read_bytes().splitlines()
    assert lines[-2:] == [_line(record).strip(), _line(_state(TODAY + 3, "ACTIVE", "ACC2")).strip()]
    assert [(r["account"], r["new"]) for r in read_audit_log(path)] == [("ACC1", "ACTIVE")] * (not after_torn) + [
        ("ACC2", "HALTED"),
        ("ACC2", "ACTIVE"),
    ]


@pytest.mark.parametrize("short_by", [2, 3], ids=["no-brace", "no-quote"])
@pytest.mark.parametrize("blank", [True, False], ids=["blanked", "blank-refused"])
def test_short_write_missing_more_than_the_newline_is_still_reported_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, short_by: int, blank: bool
) -> None:
    """The other partial lengths, down to the closing brace, are no record: blanked out (or, refused, left on a line
    of their own) and reported failed as before."""
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    record = _state(TODAY + 2, "HALTED", "ACC2")
    _short_writes(monkeypatch, audit._fd, len(_line(record)) - short_by)
    if not blank:
        _refuse_blank_out(monkeypatch)
    with pytest.raises(OSError, match="blanked out" if blank else "could not be blanked out"):
        audit.write(record)
    monkeypatch.undo()
    audit.write(_state(TODAY + 3, "ACTIVE", "ACC2"))
    audit.close()
    assert [(r["account"], r["new"]) for r in read_audit_log(path)] == [("ACC2", "ACTIVE")]


def _missing_only_the_newline(monkeypatch: pytest.MonkeyPatch, fd: int) -> None:
    """Every write to ``fd`` takes all but its last byte (the newline), and no blank-out can be written."""
    real_write = os.write

    def short(to: int, data: bytes) -> int:
        return real_write(to, bytes(data)[:-1]) if to == fd else real_write(to, data)

    monkeypatch.setattr(os, "write", short)
    _refuse_blank_out(monkeypatch)


def test_reload_whose_record_missed_only_its_newline_is_applied_as_its_record_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rev58diff F1: the reload was refused (old limits in force) while its whole ``reload`` record was on disk,
    read back as applied (the start's last word on the limits in force). Now the record is written: applied."""
    limits = write_limits(tmp_path / "limits.yaml")
    engine = RiskEngine.load(limits, audit_log_path=tmp_path / "a.jsonl", gateway_id=GW)
    assert engine._audit is not None
    replace_file(limits, limits.read_text().replace("max_qty: 1000", "max_qty: 2000", 1))
    _missing_only_the_newline(monkeypatch, engine._audit._fd)
    result = engine.reload("gateway risk reload", "ops")
    monkeypatch.undo()
    assert result.ok, result.message  # the old code: refused, "could not be blanked out"
    engine.halt(None, "ops", "next record")
    engine.close()
    records = read_audit_log(tmp_path / "a.jsonl")
    assert [r["event"] for r in records] == ["startup", "reload", "trading_state"]
    assert records[1]["sha256"] == result.sha256 == engine.status()["sha256"]


def test_kill_whose_record_missed_only_its_newline_is_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rev58diff F1: the kill's record was whole on disk yet kept as failed and written again late: twice."""
    engine = RiskEngine.load(write_limits(tmp_path / "limits.yaml"), audit_log_path=tmp_path / "a.jsonl", gateway_id=GW)
    assert engine._audit is not None
    _missing_only_the_newline(monkeypatch, engine._audit._fd)
    engine.halt(None, "ops", "drill")
    monkeypatch.undo()
    assert engine.reload_metrics()["risk_audit_records_late"] == 0  # the old code: 1, written again later
    engine.set_trading_state(TradingState.ACTIVE, None, "ops", "after")
    engine.close()
    kills = [(r["new"], r.get("late")) for r in read_audit_log(tmp_path / "a.jsonl") if r["event"] == "trading_state"]
    assert kills == [("HALTED", None), ("ACTIVE", None)]
