"""A watch reload reads only the versions of the files the file watch decided (risk61b).

rev61merge4 HIGH: ``begin_reload`` decided from the watch's last look, then ``PendingReload.read`` (in the gateway: a
reader process started from a worker thread, hundreds of ms later) read the files again by path. A reference-price
file (or the limits file) written in place in that window was read half-written and APPLIED (AAPL 230.1 -> 23), and
the watch then logged that the file was "modified in place and NOT applied": the opposite of what was in force. The
guide (risk-officer-guide section 11, and its table of failures) promises a file modified in place is never applied by
the file watch. Now a limits file that is not the version decided puts the reload off; a reference-price file that is
not keeps the reference prices in force for this reload; the watch then reports the file written in place.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from risk.audit import read_audit_log
from risk.engine import WATCH_TRIGGER, WATCH_WHO, RiskEngine
from risk.reader import reader_command
from tests.risk.support import BASE_LIMITS, make_engine, merge, px, replace_file

pytestmark = pytest.mark.timeout(60)

REFS = {"reference_prices": {"file": "refs.yaml", "max_age_s": 60}, "symbols": {"AAPL": {"max_qty": 5}}}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_in_place(path: Path, text: str) -> None:
    """``cat > path``: the same file, truncated and written (a write still under way leaves a prefix)."""
    with open(path, "r+") as f:
        f.write(text)
        f.truncate()


def _engine(tmp_path: Path) -> tuple[RiskEngine, Path, Path]:
    refs = tmp_path / "refs.yaml"
    refs.write_text("as_of: loaded\nprices:\n  AAPL: 230.10\n")
    engine, _clock = make_engine(tmp_path, REFS)
    assert engine.changed_files() == []
    return engine, tmp_path / "limits.yaml", refs


def _reference_price(engine: RiskEngine) -> int:
    reference = engine.limits_file.reference
    assert reference is not None
    return int(reference.prices["AAPL"])


def _records(tmp_path: Path, event: str) -> list[dict[str, object]]:
    return [r for r in read_audit_log(tmp_path / "audit.jsonl") if r.get("event") == event]


@pytest.mark.parametrize("in_child", [False, True], ids=["in_process", "reader_process"])
def test_reference_written_in_place_after_the_decision_then_prices_in_force_kept(
    tmp_path: Path, in_child: bool
) -> None:
    engine, _limits, refs = _engine(tmp_path)
    replace_file(refs, "as_of: loaded\nprices:\n  AAPL: 231.10\n")  # the feed's mv: decided by the next look
    assert engine.changed_files() == ["reference"]
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)  # its last look: the feed's version, decided
    if in_child:
        pending.reader = reader_command()
    full = "as_of: loaded\nprices:\n  AAPL: 230.10\n"
    prefix = full[: full.index("230.10") + 2]  # "AAPL: 23": a valid file
    _write_in_place(refs, prefix)  # before the read (the reader process's start-up)
    pending.read()
    result = engine.finish_reload(pending)
    assert result.ok, result.message
    assert _reference_price(engine) == px("230.10"), "a reference-price file written in place was applied"
    [reload] = _records(tmp_path, "reload")
    assert reload["reference_sha256"] == _sha(full)  # the prices in force, kept
    assert reload["reference_sha256"] != _sha(prefix)
    assert reload["changes"] == []
    _write_in_place(refs, full.replace("230.10", "232.10"))  # the write completes (other content)
    assert engine.changed_files() == []
    [note] = _records(tmp_path, "not_applied")
    assert note["file"] == str(refs)
    assert [n["file"] for n in engine.status()["not_applied"]] == [str(refs)]
    assert _reference_price(engine) == px("230.10")  # what the note says: not applied


@pytest.mark.parametrize("in_child", [False, True], ids=["in_process", "reader_process"])
def test_limits_written_in_place_after_the_decision_then_the_reload_is_put_off(tmp_path: Path, in_child: bool) -> None:
    engine, limits, refs = _engine(tmp_path)
    replace_file(refs, "as_of: loaded\nprices:\n  AAPL: 231.10\n")  # a feed
    assert engine.changed_files() == ["reference"]
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)
    if in_child:
        pending.reader = reader_command()
    full = yaml.safe_dump(merge(BASE_LIMITS, {**REFS, "defaults": {"max_qty": 900}}), sort_keys=False)
    assert full.rstrip().endswith("max_qty: 5")
    prefix = full[: full.index("symbols:")]  # the officer's `cat new > limits.yaml` so far: a valid file
    _write_in_place(limits, prefix)
    pending.read()
    result = engine.finish_reload(pending)
    assert not result.ok and "NOT started" in result.message
    assert engine.limits_file.document.symbols["AAPL"].max_qty == 5, "a half-written limits file was applied"
    assert engine.limits_file.document.defaults.max_qty == 1000
    assert _records(tmp_path, "reload") == []  # nothing applied, nothing audited as applied
    _write_in_place(limits, full)  # the write completes
    assert engine.changed_files() == []  # held back: modified in place
    assert [n["file"] for n in engine.status()["not_applied"]] == [str(limits)]
    assert engine.limits_file.document.defaults.max_qty == 1000
    replace_file(limits, full)  # the remedy: mv a complete copy over it; its reload reads the feed's version too
    assert engine.changed_files() == ["limits"]
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert result.ok, result.message
    assert engine.limits_file.document.defaults.max_qty == 900
    assert _reference_price(engine) == px("231.10")  # the feed's version, as decided


def test_reference_replaced_again_after_the_decision_then_kept_and_the_next_reload_applies_it(tmp_path: Path) -> None:
    engine, _limits, refs = _engine(tmp_path)
    replace_file(refs, "as_of: loaded\nprices:\n  AAPL: 231.10\n")
    assert engine.changed_files() == ["reference"]
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)
    replace_file(refs, "as_of: loaded\nprices:\n  AAPL: 232.10\n")  # the feed again, before the read
    pending.read()
    assert engine.finish_reload(pending).ok
    assert _reference_price(engine) == px("230.10")  # not the version decided: the prices in force for this reload
    assert engine.changed_files() == ["reference"]  # the watch decides the new version: a replacement
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert _reference_price(engine) == px("232.10")
    assert engine.status()["not_applied"] == []


def test_decided_versions_unchanged_then_applied_as_decided(tmp_path: Path) -> None:
    engine, limits, refs = _engine(tmp_path)
    feed = "as_of: loaded\nprices:\n  AAPL: 231.10\n"
    replace_file(refs, feed)
    new = yaml.safe_dump(merge(BASE_LIMITS, {**REFS, "defaults": {"max_qty": 900}}), sort_keys=False)
    replace_file(limits, new)
    assert sorted(engine.changed_files()) == ["limits", "reference"]
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)
    pending.reader = reader_command()
    pending.read()
    assert engine.finish_reload(pending).ok
    [reload] = _records(tmp_path, "reload")
    assert (reload["sha256"], reload["reference_sha256"]) == (_sha(new), _sha(feed))
    assert _reference_price(engine) == px("231.10")
    assert engine.changed_files() == []


def test_explicit_reload_reads_the_files_as_they_are(tmp_path: Path) -> None:
    """``gateway risk reload`` and SIGHUP keep their rule (guide section 11): they read the files as they are now."""
    engine, _limits, refs = _engine(tmp_path)
    pending = engine.begin_reload("gateway risk reload", "officer")
    _write_in_place(refs, "as_of: loaded\nprices:\n  AAPL: 233.10\n")  # complete, written in place
    pending.read()
    assert engine.finish_reload(pending).ok
    assert _reference_price(engine) == px("233.10")
