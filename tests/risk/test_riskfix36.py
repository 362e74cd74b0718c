"""riskfix36: what an independent risk officer found in the file watch, reload and audit trail.

1. A replacement is never taken for an in-place write because its inode number was reused: every version the
   watch looked at is held open, so its number cannot be given to a later file (ext4 reuses at once).
2. A symlink swapped on the path (a Kubernetes ConfigMap's ``..data``) is a replacement: applied.
3. A write + rename within one clock tick (``sed -i``, an atomic save in one process) is a replacement:
   inotify saw the rename; a file written at the path (``rm`` then a write) still is not.
   A reference-price file modified in place does not hold back a replaced limits file.
5. A reload refused because the audit log cannot be written says so (no "limits file" error).
6. Warnings name the gateway config by its absolute path.
7. A watch reload records the files' owner and modification time; a record the audit log refused (a kill)
   is written later, marked late.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.config import GatewayConfig
from model.clock import FakeClock
from risk.audit import read_audit_log, utc_text
from risk.engine import WATCH_TRIGGER, WATCH_WHO, RiskEngine
from risk.limitsfile import KnownNames
from risk.model import TradingState
from tests.risk.support import (
    BASE_LIMITS,
    WALL_NS,
    make_engine,
    merge,
    px,
    replace_file,
    replace_limits,
    write_limits,
)


def _audit(tmp_path: Path) -> list[dict[str, object]]:
    return read_audit_log(tmp_path / "audit.jsonl")


def _text(overrides: dict[str, object]) -> str:
    return yaml.safe_dump(merge(BASE_LIMITS, overrides), sort_keys=False)


def _held_inodes() -> set[tuple[int, int]]:
    """(device, inode) of every file this process holds open."""
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            st = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        held.add((st.st_dev, st.st_ino))
    return held


# ---------------------------------------------------------------- 1. inode reuse


def test_watch_when_a_seen_version_is_replaced_then_it_stays_open_and_its_inode_is_not_reused(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    replace_limits(limits, {"defaults": {"max_qty": 700}})  # first save
    assert engine.changed_files() == ["limits"]  # seen; the watch waits a tick before reloading
    first = os.stat(limits)
    replace_limits(limits, {"defaults": {"max_qty": 800}})  # second save, 0.1 s later: the first is unlinked
    assert (first.st_dev, first.st_ino) in _held_inodes()  # still open: its number cannot be reused
    made = [tmp_path / f"new{i}" for i in range(64)]
    for path in made:  # ext4 gives a freed inode number to the next new file in the directory
        path.write_text("x")
        assert os.stat(path).st_ino != first.st_ino
    engine.close()


def test_watch_when_third_quick_save_would_reuse_the_first_inode_then_it_is_still_applied(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    replace_limits(limits, {"defaults": {"max_qty": 700}})
    assert engine.changed_files() == ["limits"]
    first = os.stat(limits).st_ino
    replace_limits(limits, {"defaults": {"max_qty": 800}})  # not looked at before the next save
    third = None
    for i in range(64):  # the editor's copy: on the old watch this got the first save's freed inode number
        candidate = tmp_path / f".c{i}"
        candidate.write_text(_text({"defaults": {"max_qty": 50}}))
        if os.stat(candidate).st_ino == first:
            third = candidate
            break
    third = third or candidate
    st = os.stat(third)
    os.utime(third, ns=(st.st_atime_ns, st.st_mtime_ns - 1_000_000_000))  # written well before its mv
    os.replace(third, limits)
    assert engine.changed_files() == ["limits"]
    assert engine.status()["not_applied"] == []
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert engine.limits_file.document.defaults.max_qty == 50
    engine.close()


# ---------------------------------------------------------------- 2. ConfigMap symlink swap


def _configmap(directory: Path, name: str, text: str) -> None:
    """Publish ``text`` as a kubelet does: a new timestamped directory, then ``..data`` swapped to it."""
    target = directory / name
    target.mkdir()
    (target / "limits.yaml").write_text(text)  # written at its final path: change time == modification time
    os.symlink(name, directory / "..data_tmp")
    os.replace(directory / "..data_tmp", directory / "..data")


def test_watch_when_configmap_data_symlink_swapped_then_applied(tmp_path: Path) -> None:
    cm = tmp_path / "cm"
    cm.mkdir()
    _configmap(cm, "..2026_01", _text({}))
    os.symlink("..data/limits.yaml", cm / "limits.yaml")
    engine = RiskEngine.load(cm / "limits.yaml", FakeClock(), tmp_path / "audit.jsonl", wall_clock=lambda: WALL_NS)
    _configmap(cm, "..2026_02", _text({"defaults": {"max_qty": 50}}))
    shutil.rmtree(cm / "..2026_01")  # the kubelet removes the old version
    assert engine.changed_files() == ["limits"]
    assert engine.status()["not_applied"] == []
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert result.ok
    assert engine.limits_file.document.defaults.max_qty == 50
    (cm / "..2026_02" / "limits.yaml").write_text(_text({"defaults": {"max_qty": 5000}}))  # then written in place
    assert engine.changed_files() == []
    assert engine.status()["not_applied"][0]["file"] == str(cm / "limits.yaml")
    engine.close()


# ---------------------------------------------------------------- 3. same-tick renames, in-place writes


@pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")
def test_watch_when_saved_with_sed_i_then_applied(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    subprocess.run(["sed", "-i", "s/^  max_qty: 1000$/  max_qty: 50/", str(limits)], check=True)
    st = os.stat(limits)
    assert engine.changed_files() == ["limits"], (st.st_ctime_ns, st.st_mtime_ns)
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert engine.limits_file.document.defaults.max_qty == 50
    engine.close()


def test_watch_when_written_and_renamed_at_once_then_applied_and_written_after_then_not(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    new = tmp_path / "limits.yaml.tmp"
    new.write_text(_text({"defaults": {"max_qty": 50}}))
    os.replace(new, limits)  # no clock tick between: change time == modification time
    assert engine.changed_files() == ["limits"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    new.write_text(_text({"defaults": {"max_qty": 60}}))
    os.replace(new, limits)
    with limits.open("a") as handle:  # written after the rename: maybe half-written
        handle.write("# more\n")
    assert engine.changed_files() == []
    assert engine.limits_file.document.defaults.max_qty == 50
    assert [r["event"] for r in _audit(tmp_path)] == ["startup", "reload", "not_applied"]
    engine.close()


def test_watch_when_removed_and_written_at_the_path_then_still_not_applied(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    limits.unlink()
    limits.write_text(_text({"defaults": {"max_qty": 5000}}))  # rm, then a new file written at the path
    assert engine.changed_files() == []
    assert engine.limits_file.document.defaults.max_qty == 1000
    assert [r["event"] for r in _audit(tmp_path)] == ["startup", "not_applied"]
    engine.close()


def test_watch_when_reference_file_in_place_then_a_replaced_limits_file_still_applies(tmp_path: Path) -> None:
    refs = tmp_path / "refs.yaml"
    refs.write_text("as_of: loaded\nprices:\n  IBM: 100.00\n")
    engine, _ = make_engine(tmp_path, {"reference_prices": {"file": "refs.yaml"}})
    refs.write_text("as_of: loaded\nprices:\n  IBM: 1")  # a feed caught half-way, in place
    assert engine.changed_files() == []
    assert engine.status()["not_applied"][0]["file"] == str(refs)
    replace_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": 900}, "reference_prices": {"file": "refs.yaml"}})
    assert engine.changed_files() == ["limits"]
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert result.ok, result.message
    assert engine.limits_file.document.defaults.max_qty == 900
    assert engine.limits_file.reference is not None
    assert engine.limits_file.reference.prices["IBM"] == px("100.00")  # the prices in force, not the half file
    assert [row["file"] for row in engine.status()["not_applied"]] == [str(refs)]  # still flagged
    replace_file(refs, "as_of: loaded\nprices:\n  IBM: 110.00\n")
    assert engine.changed_files() == ["reference"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert engine.limits_file.reference.prices["IBM"] == px("110.00")
    assert engine.status()["not_applied"] == []
    engine.close()


# ---------------------------------------------------------------- 5. audit log not writable


def test_reload_when_audit_log_not_writable_then_no_file_error_and_the_message_names_the_log(
    tmp_path: Path,
) -> None:
    engine, _ = make_engine(tmp_path)
    audit = tmp_path / "audit.jsonl"
    audit.rename(tmp_path / "audit.saved")
    audit.mkdir()
    replace_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": 900}})
    result = engine.reload("gateway risk reload", "alice")
    assert not result.ok and result.errors == []
    assert f"the audit log {audit} cannot be written ([Errno 21] Is a directory" in result.message
    assert "the limits file is valid, but no change is applied without its audit record" in result.message
    assert engine.limits_file.document.defaults.max_qty == 1000
    engine.close()


def test_explicit_reload_when_audit_log_not_writable_then_the_watch_does_not_apply_it_later(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    audit = tmp_path / "audit.jsonl"
    audit.rename(tmp_path / "audit.saved")
    audit.mkdir()
    write_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": 900}})  # in place: only an explicit reload
    assert not engine.reload("gateway risk reload", "alice").ok
    audit.rmdir()
    (tmp_path / "audit.saved").rename(audit)
    assert engine.changed_files() == []  # the operator's reload is not retried by the watch
    assert engine.limits_file.document.defaults.max_qty == 1000
    engine.close()


# ---------------------------------------------------------------- 6. absolute config path


def test_known_names_when_config_given_relative_then_warnings_name_it_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = GatewayConfig(config_file="d/gateway.yaml")
    names = config.risk_names()
    assert isinstance(names, KnownNames)
    assert names.source == str(tmp_path / "d" / "gateway.yaml")


# ---------------------------------------------------------------- 7. audit trail


def test_watch_reload_when_applied_then_record_has_owner_and_mtime_of_the_file(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = replace_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": 900}})
    assert engine.changed_files() == ["limits"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    record = _audit(tmp_path)[-1]
    st = os.stat(limits)
    assert record["who"] == WATCH_WHO
    assert record["file_owner"] == {
        "uid": st.st_uid,
        "user": pwd.getpwuid(st.st_uid).pw_name,
        "mtime": utc_text(st.st_mtime_ns),
    }
    assert record["previous_sha256"] != record["sha256"]
    engine.close()


def test_kill_when_audit_log_not_writable_then_recorded_late_once_it_is(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    audit = tmp_path / "audit.jsonl"
    audit.rename(tmp_path / "audit.saved")
    audit.mkdir()
    engine.halt("ACC1", who="bob", reason="audit down")
    assert engine.trading_state("ACC1") == TradingState.HALTED  # the kill took effect regardless
    audit.rmdir()
    (tmp_path / "audit.saved").rename(audit)
    assert engine.changed_files() == []  # the watch's tick writes what waits
    records = _audit(tmp_path)
    assert [r["event"] for r in records] == ["startup", "trading_state"]
    late = records[-1]
    assert late["late"] is True and late["who"] == "bob" and "written_time" in late
    engine.close()


def test_help_when_asked_then_risk_names_reload(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # help text is wrapped
    assert "risk officer tools: check, diff and explain limits files; reload them in a running gateway" in out
    with pytest.raises(SystemExit):
        main(["risk", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "make a running gateway reload its limits" in out
