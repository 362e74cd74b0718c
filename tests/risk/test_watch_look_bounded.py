"""The file watch's look reads at most a bounded amount where it runs (the event loop): risk60, rev60strat 2.

A valid 31 MB limits file `mv`-ed over the path held the loop ~100 ms: ``look`` read and hashed the whole file there,
and a 60 MB file (refused for its size) still had 32 MiB read. Now a file larger than ``INLINE_BYTES`` is read and
hashed in ``look_in_thread`` (here a runner the test drives: no thread, no sleep), decided at the next look; a file
larger than the gateway reads is refused by its size, unread. What the guide promises stays: a replaced file is
reloaded, one written in place is not applied and audited with its sha256, a touch is no change, and a watch reload
never reads a file whose look is still under way.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from risk.audit import read_audit_log
from risk.engine import WATCH_TRIGGER, WATCH_WHO, RiskEngine
from risk.filewatch import INLINE_BYTES
from risk.loader import MAX_FILE_BYTES
from tests.risk.support import make_engine, px, replace_file

pytestmark = pytest.mark.timeout(60)


class Runner:
    """A ``look_in_thread`` whose work runs when the test says (``run``), in the test's thread."""

    def __init__(self) -> None:
        self.queued: list[tuple[Callable[[], str | None], concurrent.futures.Future[str | None]]] = []

    def __call__(self, work: Callable[[], str | None]) -> concurrent.futures.Future[str | None]:
        future: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        self.queued.append((work, future))
        return future

    def run(self) -> None:
        while self.queued:
            work, future = self.queued.pop(0)
            future.set_result(work())


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Count the bytes read from the limits file with ``os.pread`` / ``os.read`` (what the watch reads with)."""
    read: list[int] = [0]
    pread, plain = os.pread, os.read

    def count(fd: int, data: bytes) -> bytes:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").endswith("limits.yaml"):  # not the audit log, nor inotify
                read[0] += len(data)
        return data

    def counting_pread(fd: int, length: int, offset: int) -> bytes:
        return count(fd, pread(fd, length, offset))

    def counting_read(fd: int, length: int) -> bytes:
        return count(fd, plain(fd, length))

    monkeypatch.setattr(os, "pread", counting_pread)
    monkeypatch.setattr(os, "read", counting_read)
    yield read


def _large(base: str, size: int) -> str:
    """``base`` padded with comment lines to about ``size`` bytes (still the same limits)."""
    line = "# " + "p" * 200 + "\n"
    return base + line * (size // len(line) + 1)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _engine(tmp_path: Path) -> tuple[RiskEngine, Runner, Path]:
    engine, _clock = make_engine(tmp_path)
    runner = Runner()
    engine.look_in_thread = runner
    assert engine.changed_files() == []  # the watch's baseline
    return engine, runner, tmp_path / "limits.yaml"


def _looked(engine: RiskEngine, counted: list[int]) -> list[str]:
    """Call the watch as the gateway's tick does; assert it read no more than ``INLINE_BYTES`` (+1) there."""
    counted[0] = 0
    changed = engine.changed_files()
    assert counted[0] <= INLINE_BYTES + 1, f"the look read {counted[0]} bytes where it runs"
    return changed


def test_large_file_replaced_then_read_off_the_look_and_reloaded_at_the_next_look(
    tmp_path: Path, counted: list[int]
) -> None:
    engine, runner, limits = _engine(tmp_path)
    text = _large(limits.read_text().replace("max_qty: 1000\n", "max_qty: 700\n", 1), 2 * 1024 * 1024)
    assert "max_qty: 700\n" in text
    replace_file(limits, text)
    assert _looked(engine, counted) == []  # read and hashed in the thread: not decided yet
    assert engine.looking
    runner.run()
    assert _looked(engine, counted) == ["limits"]  # a replacement: reloaded
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert result.ok and result.sha256 == _sha(text)
    assert _looked(engine, counted) == [] and not runner.queued  # judged: the same file, nothing to look at


def test_large_file_written_in_place_then_not_applied_and_audited_with_its_sha256(
    tmp_path: Path, counted: list[int]
) -> None:
    engine, runner, limits = _engine(tmp_path)
    text = _large(limits.read_text(), 2 * 1024 * 1024)
    limits.write_text(text)  # `cp` over it: in place
    assert _looked(engine, counted) == []
    runner.run()
    assert _looked(engine, counted) == []  # not applied
    [note] = engine.status()["not_applied"]
    assert note["sha256"] == _sha(text)
    record = read_audit_log(tmp_path / "audit.jsonl")[-1]
    assert (record["event"], record["sha256"]) == ("not_applied", _sha(text))


def test_large_file_touched_then_no_change(tmp_path: Path, counted: list[int]) -> None:
    engine, runner, limits = _engine(tmp_path)
    text = _large(limits.read_text(), 2 * 1024 * 1024)
    replace_file(limits, text)
    _looked(engine, counted)
    runner.run()
    assert _looked(engine, counted) == ["limits"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    stat = limits.stat()
    os.utime(limits, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # `touch`: no new content
    assert _looked(engine, counted) == []
    runner.run()
    assert _looked(engine, counted) == [] and engine.status()["not_applied"] == []


def test_file_larger_than_the_gateway_reads_then_refused_by_its_size_unread(tmp_path: Path, counted: list[int]) -> None:
    engine, runner, limits = _engine(tmp_path)
    huge = tmp_path / "limits.yaml.new"
    with huge.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 28 * 1024 * 1024)  # 60 MiB (sparse)
    os.replace(huge, limits)
    assert _looked(engine, counted) == ["limits"]  # a replacement, decided from its stat
    assert not runner.queued
    counted[0] = 0
    before = _bytes_read()
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert not result.ok and "larger than" in str(result.errors[0])
    assert counted[0] == 0  # refused by its size: not a byte read (the reload's read, and the judging hash)
    assert _bytes_read() - before < 1024 * 1024  # nor through a Python file object (read 32 MiB before)


def _bytes_read() -> int:
    """The bytes this process read so far, by any means (``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_watch_reload_while_a_look_is_under_way_then_put_off_until_it_is_decided(
    tmp_path: Path, counted: list[int]
) -> None:
    engine, runner, limits = _engine(tmp_path)
    original = limits.read_text()
    replace_file(limits, original.replace("max_qty: 1000\n", "max_qty: 900\n", 1))  # small: decided at once
    assert _looked(engine, counted) == ["limits"]
    prefix = _large(original, 2 * 1024 * 1024)
    limits.write_text(prefix)  # then written in place before the reload begins (maybe half-written)
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)
    assert pending.result is not None and not pending.result.ok  # put off: nothing read
    assert "NOT started" in pending.result.message
    runner.run()
    assert _looked(engine, counted) == []  # held back: modified in place
    assert engine.status()["not_applied"][0]["sha256"] == _sha(prefix)
    assert engine.status()["sha256"] == _sha(original)  # neither the 9000 file nor the prefix applied


def test_large_file_refused_then_its_judging_hash_taken_in_the_reads_thread_not_on_the_loop(
    tmp_path: Path, counted: list[int]
) -> None:
    engine, runner, limits = _engine(tmp_path)
    bad = _large(limits.read_text().replace("max_qty: 1000\n", "max_qty: -8\n", 1), 2 * 1024 * 1024)
    replace_file(limits, bad)
    _looked(engine, counted)
    runner.run()
    assert _looked(engine, counted) == ["limits"]
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)
    pending.read()  # the gateway's worker thread
    counted[0] = 0
    result = engine.finish_reload(pending)  # on the loop
    assert not result.ok and result.sha256 == _sha(bad)
    assert counted[0] == 0, f"the loop read {counted[0]} bytes of the refused file"
    assert _looked(engine, counted) == [] and not runner.queued  # judged: not refused again


def test_written_in_place_with_its_modification_time_put_back_then_seen_by_its_change_time(
    tmp_path: Path, counted: list[int]
) -> None:
    engine, _runner, limits = _engine(tmp_path)
    text = limits.read_text()
    stat = limits.stat()
    prefix = text.replace("max_qty: 1000\n", "max_qty: 9999\n", 1)  # same size
    assert len(prefix) == len(text)
    limits.write_text(prefix)  # in place, then `touch -r` (or `cp -p`, `rsync` in place) puts the mtime back
    os.utime(limits, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _looked(engine, counted) == []
    assert [n["sha256"] for n in engine.status()["not_applied"]] == [_sha(prefix)]  # seen, not applied


def test_close_while_a_look_is_under_way_then_its_file_is_closed_without_waiting(tmp_path: Path) -> None:
    engine, runner, limits = _engine(tmp_path)
    replace_file(limits, _large(limits.read_text(), 2 * 1024 * 1024))
    assert engine.changed_files() == [] and engine.looking
    held = len(os.listdir("/proc/self/fd"))
    engine.close()  # the read never ran (cancelled): nothing to wait for
    assert engine.looks_pending() == [] and len(os.listdir("/proc/self/fd")) < held
    assert runner.queued[0][1].cancelled()


def _feed_prices(version: int, symbols: int = 6000) -> str:
    """A reference-price file as a price feed writes it: over ``INLINE_BYTES`` (read and hashed in the thread)."""
    lines = "".join(f"  S{i:05d}: {10 + (i + version) % 97}.01\n" for i in range(symbols))
    return f"as_of: loaded\nprices:\n  AAPL: {100 + version}.00\n{lines}"


def _fed_engine(tmp_path: Path) -> tuple[RiskEngine, Runner, Path, Path]:
    references = tmp_path / "refs.yaml"
    references.write_text(_feed_prices(0))
    assert references.stat().st_size > INLINE_BYTES
    engine, _clock = make_engine(tmp_path, {"reference_prices": {"file": "refs.yaml", "max_age_s": 60}})
    runner = Runner()
    engine.look_in_thread = runner
    assert engine.changed_files() == []
    return engine, runner, tmp_path / "limits.yaml", references


def _aapl(engine: RiskEngine) -> int:
    reference = engine.limits_file.reference
    assert reference is not None
    return reference.prices["AAPL"]


def test_reference_file_under_look_then_a_replaced_limits_file_reported_and_applied_with_the_prices_in_force(
    tmp_path: Path, counted: list[int]
) -> None:
    """risk61 (rev61diff HIGH 1): a price feed's large file always under look held every limits change back."""
    engine, runner, limits, references = _fed_engine(tmp_path)
    replace_file(references, _feed_prices(1))
    replace_file(limits, limits.read_text().replace("max_qty: 1000\n", "max_qty: 900\n", 1))
    assert _looked(engine, counted) == ["limits"]  # the reference file's look holds back nothing else
    assert not engine.looking  # the watch may start the reload
    replace_file(references, _feed_prices(2))  # the feed's next version, just before the reload begins
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert result.ok, result.message  # not put off: the limits change is in force
    assert engine.limits_file.document.defaults.max_qty == 900
    assert _aapl(engine) == px("100.00")  # the reference file, not yet decided, is not read: the prices in force stay
    runner.run()  # the look at version 1: gone from the path when decided, so version 2 is looked at at once
    assert _looked(engine, counted) == [] and engine.looks_pending()
    runner.run()
    assert _looked(engine, counted) == ["reference"]  # decided: a replacement, reloaded
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert _aapl(engine) == px("102.00") and engine.limits_file.document.defaults.max_qty == 900


def test_reference_file_replaced_while_its_look_read_then_looked_at_again_at_once_and_decided(
    tmp_path: Path, counted: list[int]
) -> None:
    """A look whose file was replaced while it read starts the next look at once: a feed replacing the file between
    any two looks left it never decided (each look found its file gone at the next one, which started none)."""
    engine, runner, _limits, references = _fed_engine(tmp_path)
    replace_file(references, _feed_prices(1))
    assert _looked(engine, counted) == []
    runner.run()
    replace_file(references, _feed_prices(2))  # replaced again before the look is decided
    assert _looked(engine, counted) == []
    assert engine.looks_pending(), "no look at the file now at the path"
    runner.run()
    assert _looked(engine, counted) == ["reference"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok and _aapl(engine) == px("102.00")


def test_reference_file_written_in_place_while_a_reload_waits_then_not_read(tmp_path: Path, counted: list[int]) -> None:
    """What a reference file's look under way still guards: a write in place is never read by a watch reload."""
    engine, runner, limits, references = _fed_engine(tmp_path)
    replace_file(limits, limits.read_text().replace("max_qty: 1000\n", "max_qty: 900\n", 1))
    assert _looked(engine, counted) == ["limits"]
    prefix = _feed_prices(7)[: INLINE_BYTES + 100]  # a prefix: a valid file, maybe half-written
    references.write_text(prefix)  # in place
    assert engine.look_again()  # the gateway's last look before the reload: under way
    runner.run()
    assert engine.look_again() == []  # decided: modified in place
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert result.ok and _aapl(engine) == px("100.00")  # the limits applied, the prefix not read
    assert [n["sha256"] for n in engine.status()["not_applied"]] == [_sha(prefix)]
