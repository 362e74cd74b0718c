"""A copy in force the state directory could not keep is written again once it can be (riskcopy57).

Found by rev57merge2 (HIGH): a file modified in place and held back (its note written), then `gateway risk reload`
APPLIED (exit 3) while ``state_dir`` could not be written: the copy and the note left there are stale. The next
start knew it only from the audit log's ``reload_copy_not_kept`` record, read in the current audit file alone: after
a rotation (``mv audit.jsonl audit.jsonl.1``, the guide's recipe) the stale copy (the limits before the
tightening) was put back in force and the reloaded file shown NOT APPLIED. Now the gateway writes the copies and
notes it owes as soon as the state directory can be written (``RiskEngine.keep_owed``, at the file watch's ticks
and at a clean stop), and the start reads the audit log's previous file where the current one has no word of
this gateway. Also (LOW): a reference-price copy alone not kept was listed as a change while down; a positions
copy not kept was not said by the start. State directory failures are injected (no ``chattr`` needed); the
real-process case is tests/reliability/test_risk_copy_kept_again.py.
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
from risk.filewatch import file_id
from risk.inforce import InForceCopy
from risk.limitsfile import LimitsFileError
from tests.e2e.support import e2e_limits, short_tmp
from tests.risk.test_reload_copy_unwritable import COPY, _built, _limits, _refuse_all, _replace


def _records(audit: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit.read_text().splitlines()]


def _held_back_reload_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RiskEngine, str, str]:
    """A file tightened in place (noted), then reloaded explicitly while state_dir refuses every write (exit 3)."""
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    engine = RiskEngine.load(limits, audit_log_path=tmp_path / "audit.jsonl", keep=keep, gateway_id="gw")
    old = engine.status()["sha256"]
    _limits(limits, 200)
    new = hashlib.sha256(limits.read_bytes()).hexdigest()
    InForceCopy(keep).note(str(limits), file_id(os.stat(limits)), "2026-12-07T10:00:00Z", new, old)
    _refuse_all(monkeypatch, errno.ENOSPC)
    result = engine.reload("gateway risk reload", "officer")
    assert result.ok and result.sha256 == new and result.copy_problem, result
    return engine, old, new


@pytest.mark.parametrize("rotated", [False, True], ids=["same-audit-file", "audit-rotated"])
def test_restart_after_unkept_reload_then_the_reloaded_limits_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rotated: bool
) -> None:
    """No chance to write the copies again (a crash right after the reload): the audit log, also once rotated."""
    engine, _, new = _held_back_reload_not_kept(tmp_path, monkeypatch)
    monkeypatch.undo()
    engine.close()
    audit = tmp_path / "audit.jsonl"
    if rotated:
        audit.rename(tmp_path / "audit.jsonl.1")  # logrotate overnight (guide section 12)
    restarted = RiskEngine.load(
        tmp_path / "limits.yaml", audit_log_path=audit, keep=tmp_path / "state" / f"gw-{COPY}", gateway_id="gw"
    )
    startup = _records(audit)[-1]
    in_force = restarted.status()["sha256"]
    restarted.close()
    assert in_force == new, "the stale copy's limits (before the reload) are in force"
    assert not [w for w in startup["warnings"] if "NOT APPLIED" in w], startup["warnings"]
    assert [w for w in startup["warnings"] if "is stale" in w and "nothing changed" in w], startup["warnings"]


def test_copies_owed_when_state_dir_writable_again_then_kept_and_the_note_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine, _, new = _held_back_reload_not_kept(tmp_path, monkeypatch)
    assert engine.copies_owed
    assert not engine.keep_owed()  # still unwritable: owed, quietly
    monkeypatch.undo()
    keep = tmp_path / "state" / f"gw-{COPY}"
    assert InForceCopy(keep).noted() is not None  # the stale note is still there
    caplog.set_level("WARNING", logger="risk")
    assert engine.keep_owed()
    engine.copies_kept_again()
    assert (engine.copies_owed, engine.keep_owed()) == (False, False)
    assert hashlib.sha256(keep.read_bytes()).hexdigest() == new
    assert InForceCopy(keep).noted() is None
    assert "risk the copies in force are kept again in " in caplog.text
    last = _records(tmp_path / "audit.jsonl")[-1]
    assert (last["event"], last["sha256"]) == ("copies_kept", new)
    assert "copy_problem" not in (engine.status().get("last_reload") or {})
    engine.close()
    (tmp_path / "audit.jsonl").rename(tmp_path / "audit.jsonl.1")
    (tmp_path / "audit.jsonl.1").rename(tmp_path / "rotated-twice")  # the audit log cannot help: the copy does
    restarted = RiskEngine.load(
        tmp_path / "limits.yaml", audit_log_path=tmp_path / "audit.jsonl", keep=keep, gateway_id="gw"
    )
    startup = _records(tmp_path / "audit.jsonl")[-1]
    assert restarted.status()["sha256"] == new
    restarted.close()
    assert not [w for w in startup["warnings"] if "NOT APPLIED" in w or "changed while" in w], startup["warnings"]


REF = "risk-in-force-reference.yaml"
POS = "risk-in-force-start-positions.yaml"


def _refuse_named(monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> None:
    """Refuse every write, rename over and removal of the copy ``name`` (its note beside it can be written)."""
    real_open, real_unlink, real_replace = Path.open, Path.unlink, os.replace

    def refused_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith((name + ".next", name + ".tmp")) and "w" in mode:
            raise OSError(code, os.strerror(code), str(self))
        return real_open(self, mode, *args, **kwargs)

    def refused_unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name.endswith(name):
            raise OSError(code, os.strerror(code), str(self))
        real_unlink(self, missing_ok=missing_ok)

    def refused_replace(src: Any, dst: Any) -> None:
        if str(dst).endswith(name):
            raise OSError(code, os.strerror(code), str(src), None, str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(Path, "open", refused_open)
    monkeypatch.setattr(Path, "unlink", refused_unlink)
    monkeypatch.setattr(os, "replace", refused_replace)


def test_restart_after_reload_whose_reference_copy_alone_was_not_kept_then_nothing_changed_while_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / "gw-risk-in-force.yaml"
    audit = tmp_path / "audit.jsonl"
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    ref = tmp_path / "reference-prices.yaml"
    fresh = tmp_path / "ref.new"
    fresh.write_text(ref.read_text().replace("AAPL: 230.10", "AAPL: 231.10"))
    fresh.replace(ref)
    _refuse_named(monkeypatch, REF, errno.ENOSPC)
    result = engine.reload("gateway risk reload", "officer")
    monkeypatch.undo()
    assert result.ok and result.copy_problem, result
    engine.close()
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    startup = _records(audit)[-1]
    restarted.close()
    assert startup.get("changes", []) == [], startup["changes"]
    said = [w for w in startup["warnings"] if "changed" in w or "is stale" in w]
    assert len(said) == 1 and f"the copy {keep.with_name('gw-' + REF)} is stale" in said[0], said
    assert "nothing changed while the gateway was down" in said[0], said
    assert keep.with_name("gw-" + REF).read_bytes() == ref.read_bytes()  # written again by the start
    assert result.copy_problem.startswith("cannot write the copy of the reference prices "), result  # was "limits"


def test_start_that_cannot_keep_the_positions_copy_then_says_so_and_keeps_it_once_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / "gw-risk-in-force.yaml"
    audit = tmp_path / "audit.jsonl"
    _refuse_named(monkeypatch, POS, errno.EPERM)
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    startup = _records(audit)[-1]
    assert "cannot write the copy of the start-of-day positions " in startup.get("copy_problem", ""), startup
    assert [w for w in startup["warnings"] if "NOT kept (cannot write the copy of the start-of-day positions" in w]
    assert engine.copies_owed and not engine.keep_owed()
    monkeypatch.undo()
    assert engine.keep_owed()  # the state directory can be written again: the watch's next tick keeps it
    engine.copies_kept_again()
    engine.close()
    positions = tmp_path / "start-positions.yaml"
    assert keep.with_name("gw-" + POS).read_bytes() == positions.read_bytes()
    positions.write_text(positions.read_text() + "\n# edited in place\n")  # same file id
    try:
        RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw").close()
    except LimitsFileError as exc:  # before: the copy was missing, the start refused (fail closed)
        pytest.fail(f"the second start was refused: {exc}")
    assert any("NOT APPLIED" in w for w in _records(audit)[-1]["warnings"])


@pytest.mark.parametrize("when", ["watch-tick", "clean-stop"])
async def test_gateway_keeps_the_owed_copy_at_the_watch_tick_or_at_a_clean_stop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, when: str
) -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    risk: Any = process.risk
    _replace(limits, limits.read_text() + "\n# edited\n")
    _refuse_all(monkeypatch, errno.ENOSPC)
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    assert result.ok and result.copy_problem, result
    process._watch_risk_file()  # still full: tried off the loop, owed, quiet
    assert process._risk_keeping is not None
    await process._risk_keeping
    monkeypatch.undo()
    assert risk.copies_owed
    caplog.set_level("WARNING", logger="risk")
    if when == "watch-tick":
        process._watch_risk_file()
        assert process._risk_keeping is not None
        await process._risk_keeping
    else:
        await process._keep_owed_copies_at_stop()
    assert not risk.copies_owed
    assert caplog.text.count("risk the copies in force are kept again in ") == 1
    copies = list(workdir.rglob(f"*{COPY}"))
    assert len(copies) == 1 and copies[0].read_bytes() == limits.read_bytes()
    process._watch_risk_file()  # nothing owed: nothing started
    keeping: Any = process._risk_keeping
    assert keeping is None
    risk.close()


def test_held_back_note_not_written_then_written_once_it_can_be_and_a_restart_holds_the_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mirror case: the watch's note of a file modified in place could not be written (state_dir full)."""
    limits = e2e_limits(tmp_path, ["S1"])
    keep = tmp_path / "state" / f"gw-{COPY}"
    audit = tmp_path / "audit.jsonl"
    engine = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    old = engine.status()["sha256"]

    def refused(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr("risk.inforce._write_atomically", refused)
    _limits(limits, 200)  # in place: held back, its note not written
    engine.changed_files()
    assert InForceCopy(keep).noted() is None and engine.copies_owed
    monkeypatch.undo()
    assert engine.keep_owed()
    assert InForceCopy(keep).noted() is not None
    engine.close()
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id="gw")
    assert restarted.status()["sha256"] == old  # the file modified in place stays NOT APPLIED
    restarted.close()
