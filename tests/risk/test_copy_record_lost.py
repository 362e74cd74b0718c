"""A copy left stale is known at the start even when the record saying so was lost (audit58).

Found by rev58diff (F2, MEDIUM): with ``state_dir`` and the audit log on one nearly full disk, a reload's ``reload``
record (a few hundred bytes, required) fits, its copy (KBs) does not, and the ``reload_copy_not_kept`` record (not
required: the limits are already in force) is refused too and kept in memory. A crash (``kill -9``) before the disk
frees lost it: the next start found the ``reload`` as this gateway's last word on the limits, trusted the stale copy
and listed the reload's own change as made while the gateway was down (for a held-back file: the limits before the
reload back in force). The same after a crash between the reload's switch and its copies' rename. Now the start
compares the last ``reload`` record's ``sha256`` (and ``reference_sha256``) with the copies kept: a copy that is not
what the reload put in force is stale, whatever record was lost. State directory failures are injected.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from risk.audit import AuditLog
from risk.engine import RiskEngine
from risk.filewatch import file_id
from risk.inforce import InForceCopy
from risk.limitsfile import LimitsFileError
from risk.startup import Copies, copy_not_kept
from tests.e2e.support import e2e_limits, short_tmp
from tests.risk.test_reload_copy_unwritable import COPY, _built, _limits, _refuse, _refuse_all, _replace


def _records(audit: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit.read_text().splitlines()]


def _refuse_copy_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """The full disk refuses the ``reload_copy_not_kept`` record (the ``reload`` record before it fitted)."""
    real = AuditLog.write

    def full(self: AuditLog, record: dict[str, Any]) -> None:
        if record.get("event") == "reload_copy_not_kept":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, record)

    monkeypatch.setattr(AuditLog, "write", full)


@pytest.mark.parametrize("lost", [False, True], ids=["record-written", "record-lost"])
async def test_gateway_reload_whose_copy_record_is_lost_in_a_crash_then_the_start_knows_the_copy_is_stale(
    monkeypatch: pytest.MonkeyPatch, lost: bool
) -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    risk: Any = process.risk
    _replace(limits, limits.read_text().replace("max_qty: ", "max_qty: 9", 1))
    _refuse(monkeypatch, errno.ENOSPC, write=True, unlink=True)
    if lost:
        _refuse_copy_record(monkeypatch)
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    monkeypatch.undo()
    assert result.ok and result.copy_problem, result
    audit = workdir / "audit.jsonl"
    assert [r["event"] for r in _records(audit)][-1] == ("reload" if lost else "reload_copy_not_kept")
    (keep,) = list(workdir.rglob(f"*{COPY}"))
    assert keep.read_bytes() != limits.read_bytes()  # the copy left is stale; then kill -9: nothing more written
    again = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=process.config.gateway_id)
    startup = _records(audit)[-1]
    again.close()
    risk.close()
    # the old code, record lost: "the limits changed while the gateway was down ...: defaults.max_qty: 10000 -> 910000"
    assert startup["changes"] == [], startup["changes"]
    said = [w for w in startup["warnings"] if "is stale" in w]
    assert len(said) == 1 and "nothing changed while the gateway was down" in said[0], startup["warnings"]
    assert keep.read_bytes() == limits.read_bytes()  # written again by the start


def _held_back_reload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RiskEngine, str, str]:
    """A file tightened in place (noted), reloaded explicitly while state_dir is full; the copy record refused."""
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    engine = RiskEngine.load(limits, audit_log_path=tmp_path / "audit.jsonl", keep=keep, gateway_id="gw")
    old = engine.status()["sha256"]
    _limits(limits, 200)
    new = hashlib.sha256(limits.read_bytes()).hexdigest()
    InForceCopy(keep).note(str(limits), file_id(os.stat(limits)), "2026-12-07T10:00:00Z", new, old)
    _refuse_all(monkeypatch, errno.ENOSPC)
    _refuse_copy_record(monkeypatch)
    result = engine.reload("gateway risk reload", "officer")
    monkeypatch.undo()
    assert result.ok and result.sha256 == new and result.copy_problem, result
    assert _records(tmp_path / "audit.jsonl")[-1]["event"] == "reload"  # its copy record only in memory
    engine._late.clear()  # a crash: the record kept to be written late is lost
    engine.close()
    return engine, old, new


def test_restart_after_held_back_reload_whose_copy_record_was_lost_then_the_reloaded_limits_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, old, new = _held_back_reload(tmp_path, monkeypatch)
    audit = tmp_path / "audit.jsonl"
    restarted = RiskEngine.load(
        tmp_path / "limits.yaml", audit_log_path=audit, keep=tmp_path / "state" / f"gw-{COPY}", gateway_id="gw"
    )
    in_force = restarted.status()["sha256"]
    startup = _records(audit)[-1]
    restarted.close()
    assert in_force == new != old, "the stale copy's limits (before the reload) are in force"  # the old code: old
    assert not [w for w in startup["warnings"] if "NOT APPLIED" in w], startup["warnings"]
    said = [w for w in startup["warnings"] if "is stale" in w]
    assert len(said) == 1 and "nothing changed while the gateway was down" in said[0], startup["warnings"]
    assert "not written before a crash, or the record saying so lost" in said[0], said


def test_restart_after_held_back_reload_whose_copy_record_was_lost_and_file_edited_again_then_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Modified in place again while down: neither the stale copy nor the unfinished file is put in force."""
    _held_back_reload(tmp_path, monkeypatch)
    _limits(tmp_path / "limits.yaml", 300)  # the same file id: the note still names it
    with pytest.raises(LimitsFileError, match="is stale: the audit log says sha256"):  # the old code: the stale copy
        RiskEngine.load(
            tmp_path / "limits.yaml",
            audit_log_path=tmp_path / "audit.jsonl",
            keep=tmp_path / "state" / f"gw-{COPY}",
            gateway_id="gw",
        )


def test_crash_between_the_switch_and_the_copies_then_the_start_knows_the_copy_is_stale(tmp_path: Path) -> None:
    """A crash right after the reload's switch, before its copies were renamed: no error, no record, a stale copy."""
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    audit = tmp_path / "audit.jsonl"
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    _replace(limits, limits.read_text().replace("max_qty: ", "max_qty: 2", 1))
    before = keep.read_bytes()
    assert engine.reload("gateway risk reload", "officer").ok
    engine.close()
    # killed before the copies were renamed: the copy on disk is the one from before the reload (put back by
    # hand: a compiled RiskEngine's methods cannot be patched out, and the reload's audit record is as written)
    keep.write_bytes(before)
    assert keep.read_bytes() != limits.read_bytes()
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    startup = _records(audit)[-1]
    restarted.close()
    assert startup["changes"] == [], startup["changes"]  # the old code: the reload's max_qty change, as if while down
    assert [w for w in startup["warnings"] if "is stale" in w and "nothing changed" in w], startup["warnings"]


def test_copy_not_kept_compares_the_last_reload_with_the_copies(tmp_path: Path) -> None:
    keep = tmp_path / f"gw-{COPY}"
    copies = Copies.beside(keep)
    keep.write_bytes(b"limits: a\n")
    a = hashlib.sha256(b"limits: a\n").hexdigest()
    r = hashlib.sha256(b"prices: r\n").hexdigest()
    audit = tmp_path / "audit.jsonl"

    def last(**record: Any) -> None:
        base = {"time": "2026-12-07T10:00:00Z", "gateway_id": "gw", "reference_sha256": None}
        audit.write_text(json.dumps({**base, **record}, separators=(",", ":")) + "\n")

    last(event="reload", sha256=a)
    assert copy_not_kept(audit, "gw", copies) is None  # the copy is the reload's
    last(event="reload", sha256="b" * 64)
    found = copy_not_kept(audit, "gw", copies)
    assert found is not None and found["sha256"] == "b" * 64
    assert f"{keep} sha256 {a[:12]}, the reload's {'b' * 12}" in found["copy_problem"]
    assert copy_not_kept(audit, "gw") is None  # without the copies: as before, a reload is the copies' word
    copies.reference.path.write_bytes(b"prices: r\n")
    last(event="reload", sha256=a, reference_sha256=r)
    assert copy_not_kept(audit, "gw", copies) is None
    last(event="reload", sha256=a)  # no reference prices: the copy left is stale
    found = copy_not_kept(audit, "gw", copies)
    assert found is not None and f"{copies.reference.path} sha256 {r[:12]}, the reload's none" in found["copy_problem"]
    last(event="copies_kept", sha256="c" * 64)  # only a reload is compared
    assert copy_not_kept(audit, "gw", copies) is None
