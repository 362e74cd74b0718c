"""A file-watch reload applies only the file versions the watch decided (risk62; rev61merge4 HIGH, rev61merge9).

The watch decides from its last look, but the reload reads later (in the gateway: a worker thread, then a reader
process whose start-up takes hundreds of ms). A file written in place in that window was applied half-written
(``AAPL 230.1 -> 23``) and the watch then said it was "NOT applied". Now the bytes are hashed where they are read:
limits bytes that are not the decided version are not applied (written in place: WARNING and ``not_applied`` at
once, and the watch counts those bytes as seen, so no put-off loop where timestamps do not move); reference-price
bytes that are not the decided version are not used (the prices in force stay for that reload). Each case runs with
the reload read in this process and in the reader process (``python -m risk.reader``), as the gateway reads it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from risk.audit import read_audit_log
from risk.engine import WATCH_TRIGGER, WATCH_WHO, PendingReload, RiskEngine
from risk.reader import reader_command
from tests.risk.support import BASE_LIMITS, make_engine, merge, px, replace_file, replace_limits

pytestmark = pytest.mark.timeout(120)

REFS = {"reference_prices": {"file": "refs.yaml", "max_age_s": 60}, "symbols": {"AAPL": {"max_qty": 5}}}
READERS = [pytest.param(False, id="in-process"), pytest.param(True, id="reader-process")]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _in_place(path: Path, text: str) -> None:
    with open(path, "r+") as f:
        f.write(text)
        f.truncate()


def _engine(tmp_path: Path, price: str = "230.10") -> RiskEngine:
    (tmp_path / "refs.yaml").write_text(f"as_of: loaded\nprices:\n  AAPL: {price}\n")
    engine, _clock = make_engine(tmp_path, REFS)
    assert engine.changed_files() == []
    return engine


def _begin(engine: RiskEngine, reader: bool) -> PendingReload:
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)
    if reader:
        pending.reader = reader_command()
    return pending


def _price(engine: RiskEngine) -> int:
    reference = engine.limits_file.reference
    assert reference is not None
    return int(reference.prices["AAPL"])


def _records(tmp_path: Path, event: str) -> list[dict[str, Any]]:
    return [r for r in read_audit_log(tmp_path / "audit.jsonl") if r.get("event") == event]


def _watch_reload(engine: RiskEngine) -> Any:
    """One watch tick: a reload if the watch reports a change (what the gateway's tick does, in one step)."""
    if not engine.changed_files():
        return None
    return engine.finish_reload(_read(engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)))


def _read(pending: PendingReload) -> PendingReload:
    pending.read()
    return pending


@pytest.mark.parametrize("reader", READERS)
def test_limits_written_in_place_after_the_watch_decided_is_never_applied(tmp_path: Path, reader: bool) -> None:
    engine = _engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    replace_file(tmp_path / "refs.yaml", "as_of: loaded\nprices:\n  AAPL: 231.10\n")  # the feed
    assert engine.changed_files() == ["reference"]
    pending = _begin(engine, reader)  # the watch's reload: its last look decided the limits in force
    full = yaml.safe_dump(merge(BASE_LIMITS, {**REFS, "defaults": {"max_qty": 900}}), sort_keys=False)
    prefix = full[: full.index("symbols:")]  # the officer's `cat new > limits.yaml` so far: a valid file
    _in_place(limits, prefix)
    result = engine.finish_reload(_read(pending))
    assert not result.ok
    assert "modified in place" in result.message
    assert engine.limits_file.document.symbols["AAPL"].max_qty == 5, "the half-written limits file was applied"
    assert _price(engine) == px("230.10")  # nothing of that reload applied
    assert [(n["file"], n["sha256"]) for n in engine.status()["not_applied"]] == [(str(limits), _sha(prefix))]
    assert [r["sha256"] for r in _records(tmp_path, "not_applied")] == [_sha(prefix)]
    assert _records(tmp_path, "reload") == []
    _in_place(limits, full)  # the write ends: still written in place, never applied by the watch
    assert _watch_reload(engine) is None
    assert engine.limits_file.document.defaults.max_qty == 1000
    replace_limits(limits, {**REFS, "defaults": {"max_qty": 900}})  # the guide's way: a copy, then mv
    result = _watch_reload(engine)
    assert result is not None and result.ok, result
    assert engine.limits_file.document.defaults.max_qty == 900
    assert engine.limits_file.document.symbols["AAPL"].max_qty == 5
    assert _price(engine) == px("231.10")  # the feed's version, decided by the look
    assert engine.status()["not_applied"] == []


@pytest.mark.parametrize("reader", READERS)
def test_reference_written_in_place_during_the_read_keeps_the_prices_in_force(tmp_path: Path, reader: bool) -> None:
    engine = _engine(tmp_path)
    refs = tmp_path / "refs.yaml"
    replace_limits(tmp_path / "limits.yaml", {**REFS, "defaults": {"max_qty": 900}})  # the officer's change
    assert engine.changed_files() == ["limits"]
    pending = _begin(engine, reader)
    _in_place(refs, "as_of: loaded\nprices:\n  AAPL: 23")  # rev61merge4: the prefix of `AAPL: 230.10`
    result = engine.finish_reload(_read(pending))
    assert result.ok, result
    assert engine.limits_file.document.defaults.max_qty == 900  # the limits change is applied
    assert _price(engine) == px("230.10"), "the half-written reference-price file was applied"
    in_force = _sha("as_of: loaded\nprices:\n  AAPL: 230.10\n")
    prefix = _sha("as_of: loaded\nprices:\n  AAPL: 23")
    (reload,) = _records(tmp_path, "reload")
    assert (reload["reference_sha256"], reload["previous_reference_sha256"]) == (in_force, in_force)
    assert not [c for c in reload["changes"] if c["field"].startswith("reference_file")]
    assert [(n["file"], n["sha256"]) for n in engine.status()["not_applied"]] == [(str(refs), prefix)]
    assert [r["sha256"] for r in _records(tmp_path, "not_applied")] == [prefix]
    _in_place(refs, "as_of: loaded\nprices:\n  AAPL: 232.10\n")  # the write ends: still not the watch's to apply
    replace_limits(tmp_path / "limits.yaml", {**REFS, "defaults": {"max_qty": 800}})
    result = _watch_reload(engine)
    assert result is not None and result.ok, result
    assert engine.limits_file.document.defaults.max_qty == 800  # a reference file in place holds back only itself
    assert _price(engine) == px("230.10")
    replace_file(refs, "as_of: loaded\nprices:\n  AAPL: 233.10\n")  # replaced: applied
    result = _watch_reload(engine)
    assert result is not None and result.ok, result
    assert _price(engine) == px("233.10")
    assert engine.status()["not_applied"] == []


@pytest.mark.parametrize("reader", READERS)
def test_reference_replaced_during_the_read_by_a_rename_is_applied(tmp_path: Path, reader: bool) -> None:
    """A price feed's next version renamed into place is complete: applied at once (rev61diff: a feed replacing the
    file every second must not hold back its prices, nor a limits change)."""
    engine = _engine(tmp_path)
    refs = tmp_path / "refs.yaml"
    replace_file(refs, "as_of: loaded\nprices:\n  AAPL: 231.10\n")
    replace_limits(tmp_path / "limits.yaml", {**REFS, "defaults": {"max_qty": 900}})
    assert sorted(engine.changed_files()) == ["limits", "reference"]
    pending = _begin(engine, reader)  # decided: 231.10
    replace_file(refs, "as_of: loaded\nprices:\n  AAPL: 232.10\n")  # the feed's next version, during the read
    result = engine.finish_reload(_read(pending))
    assert result.ok, result
    assert engine.limits_file.document.defaults.max_qty == 900
    assert _price(engine) == px("232.10")
    assert engine.status()["not_applied"] == []  # a replacement is no write in place
    assert engine.changed_files() == []  # judged as read


@pytest.mark.parametrize("reader", READERS)
def test_reference_new_file_written_at_the_path_during_the_read_is_not_applied(tmp_path: Path, reader: bool) -> None:
    """``rm`` then a write (a new file at the path, not renamed into place) may be half-written: the guide counts it
    as modified in place. Read instead of the version decided, it is not used: the limits change is applied with the
    prices in force at once (never put off for a reference-price file: rev62merge), and the watch's next look
    decides that file (not applied: written at the path)."""
    engine = _engine(tmp_path)
    refs = tmp_path / "refs.yaml"
    replace_limits(tmp_path / "limits.yaml", {**REFS, "defaults": {"max_qty": 900}})
    assert engine.changed_files() == ["limits"]
    pending = _begin(engine, reader)
    refs.unlink()
    refs.write_text("as_of: loaded\nprices:\n  AAPL: 23")  # the new file's first write
    result = engine.finish_reload(_read(pending))
    assert result.ok, result
    assert [str(c) for c in result.changes] == ["defaults.max_qty: 1000 -> 900"]  # no reference_file change
    assert engine.limits_file.document.defaults.max_qty == 900
    assert _price(engine) == px("230.10")
    [record] = _records(tmp_path, "reload")
    assert record["reference_sha256"] == _sha("as_of: loaded\nprices:\n  AAPL: 230.10\n")  # the prices in force
    _watch_reload(engine)  # the next look: written at the path (in place), not applied
    assert engine.limits_file.document.defaults.max_qty == 900
    assert _price(engine) == px("230.10")
    prefix = _sha("as_of: loaded\nprices:\n  AAPL: 23")
    assert [(n["file"], n["sha256"]) for n in engine.status()["not_applied"]] == [(str(refs), prefix)]


def test_limits_written_in_place_then_a_feed_no_put_off_loop(tmp_path: Path) -> None:
    """rev61merge9 HIGH: risk61b put every watch reload off for ever where a write in place kept the signature.

    Here the bytes read are counted as seen: one WARNING and ``not_applied``, the watch reloads nothing more until
    the limits file is replaced (the guide), then the feed's latest prices come with it."""
    engine = _engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    text = limits.read_text()
    written = text.replace("max_qty: 5", "max_qty: 7", 1)
    replace_file(tmp_path / "refs.yaml", "as_of: loaded\nprices:\n  AAPL: 240.10\n")
    assert engine.changed_files() == ["reference"]
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)
    _in_place(limits, written)  # same size: on a file system with 1 s timestamps, a write the stat may not show
    result = engine.finish_reload(_read(pending))
    assert not result.ok and "modified in place" in result.message
    outcomes = []
    for k in range(1, 6):  # the feed keeps replacing the reference-price file; the watch ticks
        replace_file(tmp_path / "refs.yaml", f"as_of: loaded\nprices:\n  AAPL: {240 + k}.10\n")
        outcomes.append(_watch_reload(engine))
    assert outcomes == [None] * 5  # held back (the limits file is written in place), not started and put off
    assert [r["sha256"] for r in _records(tmp_path, "not_applied")] == [_sha(written)]
    assert engine.limits_file.document.symbols["AAPL"].max_qty == 5
    replace_file(limits, written)  # replaced as the guide says: applied, with the feed's latest prices
    result = _watch_reload(engine)
    assert result is not None and result.ok, result
    assert engine.limits_file.document.symbols["AAPL"].max_qty == 7
    assert _price(engine) == px("245.10")
    assert engine.status()["not_applied"] == []


def test_an_explicit_reload_reads_the_files_as_they_are(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    refs = tmp_path / "refs.yaml"
    pending = engine.begin_reload("gateway risk reload", "officer")
    _in_place(refs, "as_of: loaded\nprices:\n  AAPL: 235.10\n")
    result = engine.finish_reload(_read(pending))
    assert result.ok, result
    assert _price(engine) == px("235.10")
    assert engine.status()["not_applied"] == []
