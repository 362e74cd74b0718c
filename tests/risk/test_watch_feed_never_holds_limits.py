"""A watch reload never holds an officer's limits change back for a reference-price file, and never reads a limits
file that is gone since the watch decided it (rev62merge, on risk62).

- A price feed that swaps a symlink (``ln -s`` then ``mv -T``; the guide's section 11: applied by the watch) put every
  reload off while it ran (``reload NOT started ... not renamed into place``): the swap renames the link, not the
  target, and a feed changing every tick never let the watch settle. A path that resolves to another file than at
  the watch's look (the watch's own ``swapped`` rule) is a replacement: complete, applied. Any other doubt about the
  reference-price file read keeps the prices in force for that reload; the limits are applied.
- ``rm`` then a write of the limits file during the read: the read of the decided version failed and the path was
  read again, now a new file being written: its first piece was applied. The reload is now put off.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from risk.engine import WATCH_TRIGGER, WATCH_WHO, PendingReload, RiskEngine
from risk.loader import read_identified
from risk.reader import reader_command
from tests.risk.support import BASE_LIMITS, make_engine, merge, px, replace_limits

pytestmark = pytest.mark.timeout(120)

REFS = {"reference_prices": {"file": "refs.yaml", "max_age_s": 60}, "symbols": {"AAPL": {"max_qty": 5}}}
READERS = [pytest.param(False, id="in-process"), pytest.param(True, id="reader-process")]


def _begin(engine: RiskEngine, reader: bool) -> PendingReload:
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)
    if reader:
        pending.reader = reader_command()
    return pending


def _swap(directory: Path, k: int) -> None:
    """The feed's next version: a complete file, then a symlink to it renamed over the path (``ln -s``, ``mv -T``)."""
    target = directory / f"v{k}.yaml"
    target.write_text(f"as_of: loaded\nprices:\n  AAPL: {240 + k}.10\n")
    os.symlink(target.name, directory / "refs.tmp")
    os.replace(directory / "refs.tmp", directory / "refs.yaml")


def _price(engine: RiskEngine) -> int:
    reference = engine.limits_file.reference
    assert reference is not None
    return int(reference.prices["AAPL"])


@pytest.mark.parametrize("reader", READERS)
def test_a_symlink_feed_swapping_during_each_reload_never_holds_the_limits_back(tmp_path: Path, reader: bool) -> None:
    (tmp_path / "v0.yaml").write_text("as_of: loaded\nprices:\n  AAPL: 230.10\n")
    os.symlink("v0.yaml", tmp_path / "refs.yaml")
    engine, _clock = make_engine(tmp_path, REFS)
    assert engine.changed_files() == []
    replace_limits(tmp_path / "limits.yaml", {**REFS, "symbols": {"AAPL": {"max_qty": 7}}})  # the officer's change
    assert engine.changed_files() == ["limits"]
    pending = _begin(engine, reader)
    _swap(tmp_path, 1)  # the feed swaps between the watch's look and the read
    pending.read()
    result = engine.finish_reload(pending)
    assert result.ok, result.message
    assert engine.limits_file.document.symbols["AAPL"].max_qty == 7
    assert _price(engine) == px("241.10")  # the complete file the path now resolves to
    assert engine.status()["not_applied"] == []
    for k in range(2, 6):  # and so on: each tick an officer's change, each tick a swap during the read
        replace_limits(tmp_path / "limits.yaml", {**REFS, "symbols": {"AAPL": {"max_qty": 7 + k}}})
        assert engine.changed_files() == ["limits"], k
        pending = _begin(engine, reader)
        _swap(tmp_path, k)
        pending.read()
        result = engine.finish_reload(pending)
        assert result.ok, (k, result.message)
        assert engine.limits_file.document.symbols["AAPL"].max_qty == 7 + k
        assert _price(engine) == px(f"{240 + k}.10")


def test_a_reference_file_replaced_without_a_rename_keeps_the_prices_not_the_limits(tmp_path: Path) -> None:
    """A reference file rewritten at the path by a feed on every tick (``rm`` + write, never decided complete)."""
    refs = tmp_path / "refs.yaml"
    refs.write_text("as_of: loaded\nprices:\n  AAPL: 230.10\n")
    engine, _clock = make_engine(tmp_path, REFS)
    assert engine.changed_files() == []
    replace_limits(tmp_path / "limits.yaml", {**REFS, "symbols": {"AAPL": {"max_qty": 7}}})
    assert engine.changed_files() == ["limits"]
    pending = _begin(engine, False)
    refs.unlink()
    refs.write_text("as_of: loaded\nprices:\n  AAPL: 99.10\n")
    pending.read()
    result = engine.finish_reload(pending)
    assert result.ok, result.message
    assert engine.limits_file.document.symbols["AAPL"].max_qty == 7
    assert _price(engine) == px("230.10")


@pytest.mark.parametrize("reader", READERS)
def test_limits_removed_and_written_during_the_read_are_never_read_again(
    tmp_path: Path, reader: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _clock = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    full = yaml.safe_dump(merge(BASE_LIMITS, {"symbols": {"AAPL": {"max_qty": 7}}}), sort_keys=False)
    replace_limits(limits, {"symbols": {"AAPL": {"max_qty": 7}}})  # the officer's change: decided by the watch
    assert engine.changed_files() == ["limits"]
    before = engine.limits_file
    pending = _begin(engine, reader)
    assert pending.decided is not None
    prefix = full[: full.index("\nsymbols:") + 1]  # a valid prefix: the file's first piece, no symbols

    def racing(path: Path) -> tuple[bytes, tuple[int, int, int, int]]:
        os.unlink(path)  # rm, just before the read
        try:
            return read_identified(path)
        finally:
            Path(path).write_text(prefix)  # then a write: its first piece

    monkeypatch.setattr("risk.engine.read_identified", racing)
    pending.read()
    result = engine.finish_reload(pending)
    assert not result.ok, "a half-written limits file (rm + write) applied by a watch reload"
    assert "NOT started" in result.message and "cannot be read" in result.message, result.message
    assert engine.limits_file is before  # nothing read again, nothing applied
    monkeypatch.undo()
    replace_limits(limits, {"symbols": {"AAPL": {"max_qty": 7}}})  # completed and renamed into place
    assert engine.changed_files() == ["limits"]
    result = engine.finish_reload(_read(_begin(engine, reader)))
    assert result.ok, result.message
    assert engine.limits_file.document.symbols["AAPL"].max_qty == 7


def _read(pending: PendingReload) -> PendingReload:
    pending.read()
    return pending
