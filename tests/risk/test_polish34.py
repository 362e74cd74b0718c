"""polish34: what `gateway status` says about risk, and the audit log's directory sync.

1. The text status renders each account as a line (name, state, numbers with units), never a Python dict.
3. A refused reload's status line gives the reason (the audit log's error, or the file's first problem).
5. The audit log fsyncs its directory after creating a file and after a rotation (``mv`` by logrotate).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from gateway.commands.admin import format_status
from model.clock import FakeClock
from model.order import apply_ack, mark_sent
from risk.audit import AuditLog, read_audit_log
from risk.engine import RiskEngine, assemble_status
from risk.model import TradingState
from tests.risk.support import WALL_NS, fill, make_engine, order, write_limits

# ---------------------------------------------------------------- 1. accounts in the text status


def _status_as_read(engine: RiskEngine) -> dict[str, object]:
    """The risk status as `gateway status` gets it: the two parts through MessagePack, assembled by the reader."""
    wire, raw = engine.status_parts()
    return assemble_status(msgspec.msgpack.decode(msgspec.msgpack.encode(wire)), msgspec.msgpack.decode(
        msgspec.msgpack.encode(raw)
    ))  # fmt: skip


def test_text_status_when_accounts_open_traded_and_halted_then_one_readable_line_each(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100, price="100.00", account="ACC1")
    assert engine.check_and_commit_new(working, clock()) is None
    engine.on_order_opened(working)
    mark_sent(working, "1")
    apply_ack(working, "V1")
    fill(engine, working, 40, "100.00")
    engine.set_trading_state(TradingState.HALTED, "ACC2", who="alice", reason="test")
    text = format_status({"risk": _status_as_read(engine)})
    lines = text.splitlines()
    lines = lines[lines.index(next(line for line in lines if line.startswith("risk: "))) :]
    assert lines[0].startswith("risk: firm ACTIVE, 2 accounts (1 not ACTIVE), limits sha256 "), text
    assert lines[1] == "risk accounts (notional in the instrument's currency):"
    assert lines[2] == ("  ACC1       ACTIVE    1 open orders, open notional 6000, traded notional today 4000"), text
    assert lines[3] == (
        "  ACC2       HALTED    0 open orders, open notional 0, traded notional today 0; "
        "HALTED at run time (set by alice): test"
    ), text
    assert "{" not in text and "'" not in text.replace("instrument's", "")


def test_text_status_when_account_not_in_the_limits_file_then_its_line_says_so(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.set_trading_state(TradingState.HALTED, "GHOST", who="alice")
    text = format_status({"risk": _status_as_read(engine)})
    (line,) = [line for line in text.splitlines() if line.startswith("  GHOST")]
    assert line.endswith("HALTED at run time (set by alice); not in the limits file"), line


# ---------------------------------------------------------------- 3. why a reload was refused


def test_text_status_when_reload_refused_for_the_audit_log_then_the_line_gives_the_reason(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    audit = tmp_path / "audit.jsonl"
    audit.rename(tmp_path / "audit.saved")
    audit.mkdir()  # the audit log cannot be (re)opened
    write_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": 900}})
    assert not engine.reload("gateway risk reload", "alice").ok
    text = format_status({"risk": _status_as_read(engine)})
    (line,) = [line for line in text.splitlines() if line.startswith("risk last reload:")]
    assert line.startswith("risk last reload: 2025-06-13T14:00:00.000000Z gateway risk reload by alice: REFUSED, 1 ")
    assert (
        f"REFUSED, 1 error(s); the limits in force are unchanged: reload NOT applied: the audit log {audit} cannot "
        f"be written ([Errno 21] Is a directory: '{audit}'); the limits file is valid, but no change is applied "
        "without its audit record; old limits stay in force"
    ) in line, line
    assert "more" not in line


def test_text_status_when_reload_refused_with_errors_then_the_first_in_full_and_a_count_of_the_rest(
    tmp_path: Path,
) -> None:
    engine, _ = make_engine(tmp_path)
    limits = write_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": -1, "max_notional": -1}})
    result = engine.reload("SIGHUP", "pid 9 (kill)")
    assert not result.ok and len(result.errors) == 2
    text = format_status({"risk": _status_as_read(engine)})
    (line,) = [line for line in text.splitlines() if line.startswith("risk last reload:")]
    first = str(result.errors[0])
    assert first.startswith(f"{limits}:") and "defaults.max_qty" in first
    assert line.endswith(
        f"by pid 9 (kill): REFUSED, 2 error(s); the limits in force are unchanged: {first} "
        "(and 1 more: `gateway risk check` lists them)"
    ), line
    assert engine.status()["last_reload"]["first_error"] == first  # --json: the same, under last_reload


# ---------------------------------------------------------------- 5. the audit log's directory is fsynced


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record the path of every fd passed to os.fsync (the real fsync still runs)."""
    seen: list[str] = []
    real: Callable[[int], None] = os.fsync

    def recording(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    yield seen


def test_audit_log_when_file_created_then_its_directory_is_fsynced_with_the_first_record(
    tmp_path: Path, fsynced: list[str]
) -> None:
    path = tmp_path / "audit" / "audit.jsonl"
    log = AuditLog(path)
    log.write({"event": "startup"})
    assert fsynced == [str(path.parent), str(path)]
    log.write({"event": "new_day"})
    assert fsynced == [str(path.parent), str(path), str(path)]  # once: the name is on disk
    log.close()


def test_audit_log_when_file_existed_then_only_the_file_is_fsynced(tmp_path: Path, fsynced: list[str]) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    log = AuditLog(path)
    log.write({"event": "startup"})
    assert fsynced == [str(path)]
    log.close()


def test_audit_log_when_rotated_by_rename_then_the_directory_is_fsynced_before_the_record(
    tmp_path: Path, fsynced: list[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.write({"event": "startup"})
    os.rename(path, tmp_path / "audit.jsonl.1")  # logrotate
    del fsynced[:]
    log.write({"event": "reload"})
    assert fsynced == [str(tmp_path), str(path)]  # the rename and the new name, then the record
    assert [r["event"] for r in read_audit_log(path)] == ["reload"]
    assert [r["event"] for r in read_audit_log(tmp_path / "audit.jsonl.1")] == ["startup"]
    log.close()


def test_audit_log_when_directory_fsync_fails_then_write_raises_nothing_written_and_the_next_write_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    real = os.fsync
    failures = [1]

    def failing_on_directories(fd: int) -> None:
        if os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")) and failures:
            failures.pop()
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fsync", failing_on_directories)
    with pytest.raises(OSError, match="Input/output error"):
        log.write({"event": "startup"})
    assert path.read_bytes() == b""  # a reload whose record cannot be made durable leaves no record
    log.write({"event": "startup"})
    assert [r["event"] for r in read_audit_log(path)] == ["startup"]
    log.close()


def test_engine_when_started_then_the_audit_directory_is_fsynced(tmp_path: Path, fsynced: list[str]) -> None:
    audit = tmp_path / "var" / "audit.jsonl"
    RiskEngine.load(write_limits(tmp_path / "limits.yaml"), FakeClock(), audit, wall_clock=lambda: WALL_NS)
    assert fsynced[:2] == [str(audit.parent), str(audit)]
