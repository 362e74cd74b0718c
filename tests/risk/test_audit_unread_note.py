"""A start that cannot read the risk audit log: the note kept in ``state_dir`` tells, and the reference-price file
is judged as the limits file is (ops59c).

Found by rev59merge12:

1 (HIGH, fail open) a reference-price file modified in place and NOT applied while ``state_dir`` could not keep its
  note was put in force at the next start when the audit log could not be read: only the limits file was compared
  with its copy. Now the start refuses (exit 2) when the reference file is not its copy in force either.
2 (MEDIUM, regression of ops59b) a limits file held back while ``state_dir`` could keep its note was refused at the
  start when the audit log could not be read: the check ran before the note was read. Now the start goes on as
  when the log is readable: the copy in force, the file still NOT APPLIED.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from risk.audit import AuditLog, check_regular
from risk.engine import RiskEngine
from risk.inforce import InForceCopy
from risk.limitsfile import LimitsFileError
from tests.e2e.support import e2e_limits
from tests.risk.test_audit_log_regular import _unreadable
from tests.risk.test_held_back_note_lost import _immutable, _sha
from tests.risk.test_reload_copy_unwritable import COPY, _limits


def _started(tmp_path: Path) -> tuple[Path, Path, Path, RiskEngine]:
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    audit = tmp_path / "audit.jsonl"
    return limits, keep, audit, RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")


def test_limits_held_back_with_its_note_kept_and_the_audit_log_unreadable_then_the_copy_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits, keep, audit, engine = _started(tmp_path)
    in_force = engine.status()["sha256"]
    _limits(limits, 300)  # in place: held back, its note kept (state_dir writable)
    assert engine.changed_files() == []
    assert [n["file"] for n in engine.status()["not_applied"]] == [str(limits)]
    engine.close()  # a crash
    assert InForceCopy(keep).noted() is not None
    _unreadable(monkeypatch, audit)
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")  # old: LimitsFileError
    status = restarted.status()
    restarted.close()
    assert status["sha256"] == in_force != _sha(limits)
    assert [n["file"] for n in status["not_applied"]] == [str(limits)]


def test_reference_held_back_without_its_note_and_the_audit_log_unreadable_then_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits, keep, audit, engine = _started(tmp_path)
    reference = Path(engine.status()["reference_file"])
    _immutable(monkeypatch)
    with reference.open("a") as handle:  # in place: held back, its note not kept
        handle.write("# half-written\n")
    assert engine.changed_files() == []
    assert [n["file"] for n in engine.status()["not_applied"]] == [str(reference)]
    monkeypatch.undo()
    engine.close()  # a crash
    before = audit.read_bytes()
    _unreadable(monkeypatch, audit)
    with pytest.raises(LimitsFileError) as refused:  # the old code: started on the held-back file
        RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw").close()
    text = str(refused.value)
    assert f"the risk audit log cannot be read: {audit} ([Errno 13] Permission denied" in text, text
    assert f"{reference} is not the copy of the reference prices in force when the gateway stopped" in text, text
    assert "the gateway does not start on it (fail closed)" in text, text
    assert audit.read_bytes() == before
    monkeypatch.undo()  # the remedy: readable again, the copy in force, the file still NOT APPLIED
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    status = restarted.status()
    restarted.close()
    assert status["reference_sha256"] != _sha(reference)
    assert [n["file"] for n in status["not_applied"]] == [str(reference)]


def test_reference_held_back_with_its_note_kept_and_the_audit_log_unreadable_then_its_copy_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits, keep, audit, engine = _started(tmp_path)
    reference = Path(engine.status()["reference_file"])
    in_force = engine.status()["reference_sha256"]
    with reference.open("a") as handle:
        handle.write("# half-written\n")
    assert engine.changed_files() == []
    engine.close()
    _unreadable(monkeypatch, audit)
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    status = restarted.status()
    restarted.close()
    assert status["reference_sha256"] == in_force != _sha(reference)
    assert [n["file"] for n in status["not_applied"]] == [str(reference)]


def test_unix_socket_at_the_audit_path_then_called_a_socket_not_a_fifo(tmp_path: Path) -> None:
    """rev59merge12 LOW 5: ``AuditLog._open`` took every ENXIO for a FIFO (open(2) of a socket file is ENXIO too)."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    try:
        log.write({"event": "x"})
        path.rename(path.with_name(path.name + ".1"))  # rotated, then a socket bound at the path
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))
            with pytest.raises(OSError) as written:
                log.write({"event": "y"})
            assert f"the risk audit log {path} is not a regular file (a socket)" in str(written.value), written.value
            with pytest.raises(OSError) as checked:
                check_regular(path)
            assert "is not a regular file (a socket)" in str(checked.value), checked.value
    finally:
        log.close()
