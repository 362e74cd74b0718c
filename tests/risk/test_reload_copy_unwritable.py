"""A reload applied while its copy in ``state_dir`` cannot be kept is answered APPLIED, never refused (riskreload57).

Found by rev57ops (MEDIUM): with ``state_dir`` immutable (``chattr +i``: ``EPERM``; a read-only mount: ``EROFS``)
``InForceCopy.commit`` removed the old copy again in its ``except OSError`` handler, which raised again (the full
disk, the tested case, does not), so the exception escaped after the switch: ``gateway risk reload`` answered
``refused: PermissionError ...`` (exit 1) and the log said "old limits stay in force" while the new limits were in
force. Now every failure after the switch is the outcome's ``copy_problem`` (exit 3), logged, and audited
(``reload_copy_not_kept``). The failures are injected (no ``chattr`` needed); the real-process case with
``chattr`` is in tests/reliability/test_risk_reload_copy.py.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayProcess
from risk.engine import RiskEngine
from risk.filewatch import file_id
from risk.inforce import InForceCopy
from tests.e2e.support import e2e_limits, gateway_config, short_tmp

COPY = "risk-in-force.yaml"


def _refuse(monkeypatch: pytest.MonkeyPatch, code: int, *, write: bool, unlink: bool, rename: bool = False) -> None:
    """Make the copy's writes, removals and/or rename fail with ``code`` (as an immutable or read-only state_dir)."""
    error = OSError(code, os.strerror(code))
    real_open, real_unlink, real_replace = Path.open, Path.unlink, os.replace

    def refused_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if write and self.name.endswith(COPY + ".next") and "w" in mode:
            raise OSError(error.errno, error.strerror, str(self))
        return real_open(self, mode, *args, **kwargs)

    def refused_unlink(self: Path, missing_ok: bool = False) -> None:
        if unlink and COPY in self.name and not self.name.endswith(".json"):
            raise OSError(error.errno, error.strerror, str(self))
        real_unlink(self, missing_ok=missing_ok)

    def refused_replace(src: Any, dst: Any) -> None:
        if rename and str(dst).endswith(COPY):
            raise OSError(error.errno, error.strerror, str(src), None, str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(Path, "open", refused_open)
    monkeypatch.setattr(Path, "unlink", refused_unlink)
    monkeypatch.setattr(os, "replace", refused_replace)


@pytest.mark.parametrize("code", [errno.EPERM, errno.EROFS])
@pytest.mark.parametrize("write", [True, False], ids=["write-refused", "write-ok"])
def test_commit_when_the_old_copy_cannot_be_removed_then_says_so_and_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, write: bool
) -> None:
    copy = InForceCopy(tmp_path / f"gw-{COPY}")
    copy.path.write_bytes(b"old: limits\n")
    _refuse(monkeypatch, code, write=write, unlink=True, rename=not write)
    problem = copy.commit(copy.prepare(b"new: limits\n"))  # raised OSError before
    assert os.strerror(code) in problem, problem
    assert f"the old copy {copy.path} cannot be removed" in problem, problem
    if write:
        assert f"cannot write the copy of the limits {copy.path}.next" in problem, problem
    else:
        assert f"cannot keep the copy of the limits in force {copy.path}" in problem, problem
        assert f"the new copy {copy.path}.next cannot be removed" in problem, problem
    assert copy.path.read_bytes() == b"old: limits\n"  # what is left is said, not hidden


def _built(workdir: Path) -> tuple[GatewayProcess, Path]:
    config = gateway_config(workdir, 1, Path())
    limits = e2e_limits(workdir, config.strategies)
    process = GatewayProcess(gateway_config(workdir, 1, limits))
    process.build()
    return process, limits


def _replace(path: Path, text: str) -> None:
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(text)
    fresh.replace(path)


@pytest.mark.parametrize("code", [errno.EPERM, errno.EROFS])
@pytest.mark.parametrize(
    "where",
    [
        {"write": True, "unlink": True},  # an immutable state_dir: nothing can be created nor removed
        {"write": False, "unlink": True, "rename": True},  # made immutable between the read and the switch
        {"write": False, "unlink": False, "rename": True},
    ],
    ids=["write+unlink", "rename+unlink", "rename"],
)
async def test_gateway_reload_when_the_copy_cannot_be_kept_then_applied_with_copy_problem_and_audited(
    monkeypatch: pytest.MonkeyPatch, code: int, where: dict[str, bool]
) -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    risk: Any = process.risk
    assert risk is not None
    before = risk.status()["sha256"]
    _replace(limits, limits.read_text() + "\n# max_qty raised\n")
    _refuse(monkeypatch, code, **where)
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    monkeypatch.undo()
    assert result.ok, result  # was: the task failed with PermissionError, answered refused
    assert risk.status()["sha256"] == result.sha256 != before
    assert os.strerror(code) in result.copy_problem, result.copy_problem
    assert "they are in force, but their copy in the state directory is NOT kept" in result.message
    assert risk.status()["last_reload"]["copy_problem"] == result.copy_problem
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    events = [r["event"] for r in records]
    assert events[-2:] == ["reload", "reload_copy_not_kept"], events
    note = records[-1]
    assert (note["sha256"], note["who"], note["copy_problem"]) == (result.sha256, "officer", result.copy_problem)
    again = await process.reload_risk_soon("gateway risk reload", "officer")  # writable again: kept, no problem
    assert again.ok and again.copy_problem == "", again
    copies = list(workdir.rglob(f"*{COPY}"))
    assert len(copies) == 1 and copies[0].read_bytes() == limits.read_bytes()
    risk.close()


async def test_gateway_reload_when_keeping_the_copy_raises_anything_then_still_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    risk: Any = process.risk
    assert risk is not None

    def broken(self: InForceCopy, prepared: bool, raw: bytes | None = None) -> str:
        raise RuntimeError("unexpected")

    _replace(limits, limits.read_text() + "\n# edited\n")
    monkeypatch.setattr(InForceCopy, "commit", broken)
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    assert result.ok, result
    assert risk.status()["sha256"] == result.sha256
    assert "RuntimeError: unexpected" in result.copy_problem
    risk.close()


@pytest.mark.parametrize("code", [errno.EPERM, errno.EROFS])
def test_start_when_the_copy_cannot_be_replaced_nor_removed_then_starts_and_the_startup_record_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """The copy itself immutable (``chattr +i`` on the file): its rename and removal fail; the start went down with
    the second ``unlink``'s error before."""
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    keep.parent.mkdir()
    keep.write_text(limits.read_text().replace("max_qty: ", "max_qty: 9", 1))  # the last stop's limits
    audit = tmp_path / "audit.jsonl"
    _refuse(monkeypatch, code, write=False, unlink=True, rename=True)
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep)
    monkeypatch.undo()
    assert engine.status()["sha256"] == hashlib.sha256(limits.read_bytes()).hexdigest()
    startup = json.loads(audit.read_text().splitlines()[0])
    assert startup["event"] == "startup" and len(startup["changes"]) == 1  # changed while down: listed
    said = [w for w in startup["warnings"] if "copy of the limits in force in the state directory is NOT kept" in w]
    assert len(said) == 1 and f"the old copy {keep} cannot be removed" in said[0], startup["warnings"]
    assert startup["copy_problem"] in said[0]
    engine.close()
    again = RiskEngine.load(limits, audit_log_path=audit, keep=keep)  # writable again: not listed twice
    startup = json.loads(audit.read_text().splitlines()[-1])
    assert startup["changes"] == [] and "copy_problem" not in startup, startup
    assert any(f"the copy {keep} is stale: the start at " in w for w in startup["warnings"]), startup["warnings"]
    assert keep.read_bytes() == limits.read_bytes()
    again.close()


def _refuse_all(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """An immutable state directory: no file in it can be created, replaced or removed (the note neither)."""
    _refuse(monkeypatch, code, write=True, unlink=True, rename=True)
    real_unlink = Path.unlink

    def refused_unlink(self: Path, missing_ok: bool = False) -> None:
        if COPY in self.name:
            raise OSError(code, os.strerror(code), str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refused_unlink)


def _limits(path: Path, max_qty: int) -> None:
    text = path.read_text()
    start = text.index("max_qty: ")
    end = text.index("\n", start)
    path.write_text(f"{text[:start]}max_qty: {max_qty}{text[end:]}")  # in place: the same file id


def test_restart_after_a_reload_whose_copy_and_note_were_not_kept_then_the_reloaded_limits_not_the_stale_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held-back file (its note written) reloaded explicitly while state_dir is immutable: the old copy and the
    note stay. A restart once the directory is writable again put the stale copy in force, saying the file reloaded
    is NOT APPLIED; now the audit log's ``reload_copy_not_kept`` says what was in force: the file, nothing changed."""
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    audit = tmp_path / "audit.jsonl"
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    old = engine.status()["sha256"]
    copy = InForceCopy(keep)
    _limits(limits, 200)  # modified in place: the watch holds it back and notes it
    new = hashlib.sha256(limits.read_bytes()).hexdigest()
    copy.note(str(limits), file_id(os.stat(limits)), "2026-12-07T10:00:00Z", new, old)
    _refuse_all(monkeypatch, errno.EPERM)
    result = engine.reload("gateway risk reload", "officer")  # explicit: applied
    monkeypatch.undo()
    assert result.ok and result.sha256 == new and "cannot be removed" in result.copy_problem, result
    assert keep.exists() and copy.noted() is not None  # both left behind, stale
    engine.close()

    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    assert restarted.status()["sha256"] == new  # was the stale copy's (old), the file "NOT APPLIED"
    startup = json.loads(audit.read_text().splitlines()[-1])
    assert startup["event"] == "startup"
    assert not any("NOT APPLIED" in w for w in startup["warnings"]), startup["warnings"]
    said = [w for w in startup["warnings"] if f"the copy {keep} is stale" in w]
    assert len(said) == 1 and "nothing changed while the gateway was down" in said[0], startup["warnings"]
    assert keep.read_bytes() == limits.read_bytes() and copy.noted() is None  # written again
    restarted.close()


def test_restart_after_a_reload_whose_copy_was_not_kept_then_no_change_while_down_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rev57ops: after the reload 100 -> 200 with state_dir immutable, the restart said "the limits changed while
    the gateway was down ... max_qty: 100 -> 200", listing the reload it had applied as a change while down."""
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    audit = tmp_path / "audit.jsonl"
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    _replace(limits, limits.read_text().replace("max_qty: ", "max_qty: 2", 1))
    _refuse_all(monkeypatch, errno.EROFS)
    assert engine.reload("gateway risk reload", "officer").ok
    monkeypatch.undo()
    engine.close()
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    startup = json.loads(audit.read_text().splitlines()[-1])
    assert startup["changes"] == [], startup  # was: the reload's change, as if made while down
    assert not any(w.startswith("the limits changed while the gateway was down") for w in startup["warnings"])
    restarted.close()
    _replace(limits, limits.read_text().replace("max_qty: 2", "max_qty: 3", 1))  # a real change while down
    again = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    startup = json.loads(audit.read_text().splitlines()[-1])
    assert [c["field"] for c in startup["changes"]] and any(
        w.startswith("the limits changed while the gateway was down") for w in startup["warnings"]
    ), startup  # the copy was written again at the restart: listed as before
    again.close()


def test_copy_not_kept_reads_this_gateways_last_word_on_the_limits_torn_lines_included(tmp_path: Path) -> None:
    from risk.startup import copy_not_kept  # here: the other cases run against code without it (failing first)

    def line(**record: Any) -> str:
        return json.dumps({"time": "2026-12-07T10:00:00Z", **record}, separators=(",", ":"))

    audit = tmp_path / "audit.jsonl"
    not_kept = {"event": "reload_copy_not_kept", "sha256": "b" * 64, "gateway_id": "gw"}
    audit.write_text(
        line(event="startup", sha256="a" * 64, gateway_id="gw")
        + "\n"
        + line(event="trading_state", gateway_id="gw")[:30]  # a record cut short, the next glued onto it
        + line(**not_kept)
        + "\n"
        + line(event="reload", sha256="c" * 64, gateway_id="other")  # another gateway's, sharing the log
        + "\n"
        + line(event="trading_state", gateway_id="gw")
        + "\n"
    )
    found = copy_not_kept(audit, "gw")
    assert found is not None and found["sha256"] == "b" * 64
    assert copy_not_kept(audit, "other") is None and copy_not_kept(tmp_path / "none.jsonl", "gw") is None
    with audit.open("a") as handle:
        handle.write(line(event="reload", sha256="d" * 64, gateway_id="gw") + "\n")  # a later reload: copies kept
    assert copy_not_kept(audit, "gw") is None
