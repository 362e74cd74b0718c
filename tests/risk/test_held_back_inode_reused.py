"""A file mv-ed over the path while the gateway was down is read as it is, even with the held-back file's inode number.

Found by rev58merge3 (HIGH 2): a limits file modified in place (held back, NOT APPLIED), a crash, then the risk
officer's documented workflow twice while down (write ``limits.yaml.new`` completely, ``mv`` it over the path; the
second a tightening). The first ``mv`` frees the held-back file's inode; ext4 gives that number to the second
``.new`` file. The start identified the held-back file by (device, inode) only: it said the file "was modified in
place and NOT applied" and put the older, looser limits in force. The note (and the ``not_applied`` record) now
also keep the held-back file's birth time; a file born otherwise is another file. Where the file system gives no
birth time, a file with the noted id but other content than noted and in force is not started on (fail closed).

Real files throughout. The inode number is reused by the file system in practice (as in the report); where it is
not, the note (or record) is made to name the new file's number, the one fact a test cannot force.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from model.file_birth import birth_ns
from risk.engine import RiskEngine
from risk.filewatch import file_id
from risk.inforce import InForceCopy
from risk.limitsfile import LimitsFileError
from tests.e2e.support import e2e_limits
from tests.risk.test_held_back_note_lost import _held_back_while_unwritable
from tests.risk.test_reload_copy_unwritable import COPY, _limits, _replace


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _records(audit: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit.read_text().splitlines()]


def _max_qty(path: Path, qty: int) -> str:
    text = path.read_text()
    start = text.index("max_qty: ")
    return f"{text[:start]}max_qty: {qty}{text[text.index(chr(10), start) :]}"


def _mv_twice_while_down(limits: Path) -> int:
    """The officer's workflow twice (the second sets max_qty 150); return the held-back file's id."""
    held = file_id(os.stat(limits))
    _replace(limits, _max_qty(limits, 160))  # frees the held-back file's inode
    _replace(limits, _max_qty(limits, 150))  # its .new file usually gets that number
    return held


def _held_back_and_noted(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """A gateway started on the limits, the file modified in place (held back, noted), a crash."""
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    audit = tmp_path / "audit.jsonl"
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    in_force = engine.status()["sha256"]
    _limits(limits, 300)  # in place: held back
    assert engine.changed_files() == []
    note = InForceCopy(keep).noted()
    assert note is not None and note["file_id"] == file_id(os.stat(limits)), note
    engine.close()  # a crash
    return limits, keep, audit, in_force


def test_mv_twice_while_down_reusing_the_held_back_inode_then_the_new_file_is_in_force(tmp_path: Path) -> None:
    limits, keep, audit, in_force = _held_back_and_noted(tmp_path)
    held = _mv_twice_while_down(limits)
    now = file_id(os.stat(limits))
    if now != held:  # not reused this time: the note names the new file's number, as it would
        copy = InForceCopy(keep)
        note = copy.noted()
        assert note is not None
        copy.write_note({**note, "file_id": now})
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    status = restarted.status()
    startup = _records(audit)[-1]
    restarted.close()
    assert status["sha256"] == _sha(limits) != in_force, "the copy in force, the mv-ed file NOT APPLIED"
    assert not status["not_applied"] and "max_qty: 150" in limits.read_text()
    assert not [w for w in startup["warnings"] if "NOT applied before the gateway stopped" in w], startup
    assert InForceCopy(keep).noted() is None


def test_held_back_file_edited_in_place_again_while_down_then_still_held_back(tmp_path: Path) -> None:
    """Its birth time is the noted one: the same file, edited again (maybe half-written): never applied."""
    limits, keep, audit, in_force = _held_back_and_noted(tmp_path)
    note = InForceCopy(keep).noted()
    assert note is not None and note["born_ns"] == birth_ns(limits, note["file_id"]), note
    _limits(limits, 400)
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    status = restarted.status()
    restarted.close()
    assert status["sha256"] == in_force and [n["sha256"] for n in status["not_applied"]] == [_sha(limits)]


def test_without_a_birth_time_the_noted_content_is_held_back_and_other_content_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without birth times: the noted content is held back; other content under the noted id may be
    either file, so the start refuses (fail closed) and names the remedy, which works."""
    limits, keep, audit, in_force = _held_back_and_noted(tmp_path)
    monkeypatch.setattr("risk.inforce.birth_ns", lambda path, file_id: None)
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    assert restarted.status()["sha256"] == in_force
    restarted.close()
    _limits(limits, 400)  # the same file edited again, or another file with its number: cannot tell
    with pytest.raises(LimitsFileError) as refused:
        RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw").close()
    text = str(refused.value)
    assert "has the same inode number but other content" in text, text
    assert f"write {limits} completely, then mv it over the path once more" in text, text
    assert _records(audit)[-1]["event"] != "startup" or _records(audit)[-1]["sha256"] == in_force
    _replace(limits, limits.read_text())  # the remedy
    again = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    assert again.status()["sha256"] == _sha(limits) and not again.status()["not_applied"]
    again.close()


async def test_note_not_kept_then_mv_twice_while_down_reusing_the_inode_then_the_new_file_is_in_force(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit log's ``not_applied`` record stands for the note (audit58b): it keeps the birth time too."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(monkeypatch, copy_kept=True)
    audit = workdir / "audit.jsonl"
    record = [r for r in _records(audit) if r["event"] == "not_applied"][-1]
    assert record["born_ns"] == birth_ns(limits, record["file_id"]), record
    held = _mv_twice_while_down(limits)
    now = file_id(os.stat(limits))
    if now != held:  # not reused this time: the record names the new file's number, as it would
        lines = audit.read_text().splitlines()
        last = max(i for i, line in enumerate(lines) if json.loads(line)["event"] == "not_applied")
        lines[last] = json.dumps(
            {**json.loads(lines[last]), "file_id": now}, separators=(",", ":")
        )  # the writer's form
        audit.write_text("\n".join(lines) + "\n")
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id)
    status = restarted.status()
    restarted.close()
    assert status["sha256"] == _sha(limits) != in_force and not status["not_applied"]
    assert "max_qty: 150" in limits.read_text()
