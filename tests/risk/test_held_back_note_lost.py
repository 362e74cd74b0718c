"""A file held back while ``state_dir`` could not keep its note is never put in force by the next start (audit58b).

Found by rev58ops (finding 2, HIGH): with ``state_dir`` immutable, a reload raising ``max_qty`` was applied (its copy
not kept), then the limits file was modified in place (``risk NOT APPLIED``, the watch's note beside the copy not
written either). After a crash (or a stop still unable to write them) and ``chattr -i``, the start saw no note, took
the file as edited while the gateway was down and put it in force: limits never applied, looser than those in force.
The same with the copy kept and only the note lost. The audit log's ``not_applied`` record (with the file's id since
audit58b) now stands for the note: with the copy of the limits in force, that copy is put in force and the file stays
NOT APPLIED; with a stale copy (the limits in force are nowhere on disk), the start refuses (fail closed), one line
naming the file, the record and the remedy. State directory failures are injected (no ``chattr`` needed).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from risk.engine import RiskEngine
from risk.inforce import InForceCopy
from risk.limitsfile import LimitsFileError
from tests.e2e.support import e2e_limits, short_tmp
from tests.risk.test_reload_copy_unwritable import COPY, _built, _limits, _refuse_all, _replace


def _records(audit: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit.read_text().splitlines()]


def _immutable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``chattr +i`` on state_dir: no copy, note nor temporary file can be created, replaced or removed there."""
    _refuse_all(monkeypatch, errno.EPERM)

    def refused(path: Path, data: bytes) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM), str(path))

    monkeypatch.setattr("risk.inforce._write_atomically", refused)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def _held_back_while_unwritable(
    monkeypatch: pytest.MonkeyPatch, *, copy_kept: bool, rewrite: bool = False
) -> tuple[Path, Path, Path, str, str]:
    """A gateway: max_qty raised by `mv` (reloaded; its copy kept or not), then the file modified in place while
    state_dir cannot be written (held back, its note not kept), then a crash. Returns (workdir, limits, copy of the
    limits, gateway_id, the sha256 in force at the crash)."""
    workdir = short_tmp()
    process, limits = _built(workdir)
    risk: Any = process.risk
    _replace(limits, limits.read_text().replace("max_qty: ", "max_qty: 9", 1))
    if not copy_kept:
        _immutable(monkeypatch)
    result = await process.reload_risk_soon("file changed on disk", "file watch")
    assert result.ok and bool(result.copy_problem) != copy_kept, result
    _immutable(monkeypatch)
    in_force = risk.status()["sha256"]
    assert in_force == _sha(limits)
    _limits(limits, 300)  # in place: the same file id
    process._watch_risk_file()
    if process._risk_keeping is not None:
        await process._risk_keeping  # the owed copies: still refused, quiet
    if rewrite:  # `rm`, then a new file written at the path: modified in place too, another file id
        text = limits.read_text().replace("max_qty: 300", "max_qty: 350", 1)
        limits.unlink()
        limits.write_text(text)
        process._watch_risk_file()
        if process._risk_keeping is not None:
            await process._risk_keeping
    assert risk.status()["sha256"] == in_force  # NOT APPLIED
    assert [n["file"] for n in risk.status()["not_applied"]] == [str(limits)]
    (keep,) = list(workdir.rglob(f"*{COPY}"))
    assert InForceCopy(keep).noted() is None  # the note was not kept
    monkeypatch.undo()  # chattr -i after the crash: nothing more written by this process
    held = [r for r in _records(workdir / "audit.jsonl") if r["event"] == "not_applied"]
    assert held[-1]["sha256"] == _sha(limits) and held[-1]["in_force_sha256"] == in_force, held
    risk.close()
    return workdir, limits, keep, process.config.gateway_id, in_force


async def test_restart_after_held_back_file_whose_copy_and_note_were_not_kept_then_refused_fail_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rev58ops a15: the limits in force at the crash (the reload's) are nowhere on disk: neither the stale copy nor
    the held-back file is put in force."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(monkeypatch, copy_kept=False)
    audit = workdir / "audit.jsonl"
    record = [r for r in _records(audit) if r["event"] == "not_applied"][-1]
    with pytest.raises(LimitsFileError) as refused:  # the old code: started on the held-back file (max_qty 300)
        RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id).close()
    text = str(refused.value)
    assert f"{limits} was modified in place and NOT applied before the gateway stopped" in text, text
    assert f"the audit log's not_applied record at {record['time']}" in text, text
    assert f"the audit log says sha256 {in_force} was in force" in text, text
    assert f"write {limits} completely, then mv it over the path" in text, text
    assert _records(audit)[-1]["event"] == "not_applied"  # no startup record: nothing put in force

    _replace(limits, limits.read_text())  # the remedy: a complete file mv-ed over the path is read as it is
    again = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id)
    assert again.status()["sha256"] == _sha(limits) and not again.status()["not_applied"]
    again.close()


async def test_restart_after_held_back_file_whose_note_alone_was_not_kept_then_the_copy_in_force(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The copy of the limits in force was kept (state_dir made immutable after the reload): it is put in force, the
    file stays NOT APPLIED, and the note is written now."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(monkeypatch, copy_kept=True)
    audit = workdir / "audit.jsonl"
    held = _sha(limits)
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id)
    status = restarted.status()
    startup = _records(audit)[-1]
    restarted.close()
    assert status["sha256"] == in_force != held, "the held-back file is in force"  # the old code: the file
    assert [n["sha256"] for n in status["not_applied"]] == [held], status["not_applied"]
    assert startup["sha256"] == in_force and not startup.get("changes"), startup
    said = [w for w in startup["warnings"] if "NOT applied before the gateway stopped" in w]
    assert len(said) == 1 and f"kept in {keep}" in said[0], startup["warnings"]
    note = InForceCopy(keep).noted()
    assert note is not None and note["in_force_sha256"] == in_force and note["file"] == str(limits), note

    _limits(limits, 400)  # edited in place again while down (no record of that content): the same file, held back
    again = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id)
    assert again.status()["sha256"] == in_force
    again.close()


async def test_restart_after_note_not_kept_and_file_edited_twice_in_place_then_held_back_by_file_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One ``not_applied`` record per episode: a second edit in place has none; the record's file id names the file."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(monkeypatch, copy_kept=True)
    _limits(limits, 400)
    restarted = RiskEngine.load(limits, audit_log_path=workdir / "audit.jsonl", keep=keep, gateway_id=gateway_id)
    assert restarted.status()["sha256"] == in_force  # the old code: the file (max_qty 400)
    restarted.close()


@pytest.mark.parametrize("copy_kept", [False, True], ids=["copy-stale", "copy-kept"])
async def test_restart_after_held_back_file_replaced_while_down_then_read_as_it_is(
    monkeypatch: pytest.MonkeyPatch, copy_kept: bool
) -> None:
    """A file mv-ed over the path while down is another file (another id): the record does not hold it back."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(monkeypatch, copy_kept=copy_kept)
    _replace(limits, limits.read_text().replace("max_qty: 300", "max_qty: 250", 1))
    restarted = RiskEngine.load(limits, audit_log_path=workdir / "audit.jsonl", keep=keep, gateway_id=gateway_id)
    status = restarted.status()
    restarted.close()
    assert status["sha256"] == _sha(limits) != in_force and not status["not_applied"]


async def test_another_file_written_at_the_path_while_held_back_and_unnoted_then_audited_again_and_held_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``rm`` and a new file written at the path (modified in place, another file id) while the note cannot be kept:
    a second ``not_applied`` record names that file, and the start holds it back."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(
        monkeypatch, copy_kept=True, rewrite=True
    )
    audit = workdir / "audit.jsonl"
    held = [r for r in _records(audit) if r["event"] == "not_applied"]
    assert len(held) == 2 and held[0]["file_id"] != held[1]["file_id"] and not held[1]["note_kept"], held
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id)
    assert restarted.status()["sha256"] == in_force  # the old code: the new file (max_qty 350)
    restarted.close()


def test_held_back_then_written_back_as_in_force_then_edited_while_down_then_applied(tmp_path: Path) -> None:
    """A record whose note was kept is not obeyed: the note removed once the file is as in force again says the file
    is no longer held back, so an edit while the gateway is down is applied and listed (as documented)."""
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    audit = tmp_path / "audit.jsonl"
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    original = limits.read_bytes()
    _limits(limits, 200)  # in place: held back, noted
    assert engine.changed_files() == [] and InForceCopy(keep).noted() is not None
    with limits.open("r+b") as handle:  # written back as in force: no longer held back, the note removed
        handle.write(original)
        handle.truncate()
    engine.changed_files()
    assert InForceCopy(keep).noted() is None and not engine.status()["not_applied"]
    engine.close()  # a crash
    _limits(limits, 300)  # edited while down
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    startup = _records(audit)[-1]
    restarted.close()
    assert restarted.status()["sha256"] == _sha(limits)
    assert [str(c) for c in startup["changes"]], startup


async def test_restart_that_cannot_write_the_note_either_then_the_next_restart_still_holds_the_file_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The start that held the file back by its record could not write the note (state_dir still immutable): its
    ``startup`` record keeps the limits the record names in force, so the record still stands at the next start."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(monkeypatch, copy_kept=True)
    audit = workdir / "audit.jsonl"
    _immutable(monkeypatch)
    second = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id)
    assert second.status()["sha256"] == in_force and second.copies_owed
    second.close()  # a crash again
    monkeypatch.undo()
    assert InForceCopy(keep).noted() is None
    assert _records(audit)[-1]["event"] == "startup"
    third = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id)
    assert third.status()["sha256"] == in_force and third.status()["not_applied"]
    third.close()
    assert InForceCopy(keep).noted() is not None


def test_reference_file_held_back_while_its_note_cannot_be_kept_then_its_copy_in_force_after_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    audit = tmp_path / "audit.jsonl"
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    reference = Path(engine.status()["reference_file"])
    in_force = engine.status()["reference_sha256"]
    _immutable(monkeypatch)
    with reference.open("a") as handle:  # in place: held back, its note not kept
        handle.write("# half-written\n")
    assert engine.changed_files() == []
    assert [n["file"] for n in engine.status()["not_applied"]] == [str(reference)]
    monkeypatch.undo()
    engine.close()  # a crash
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    status = restarted.status()
    restarted.close()
    assert status["reference_sha256"] == in_force != _sha(reference)  # the old code: the file modified in place
    assert [n["file"] for n in status["not_applied"]] == [str(reference)]
