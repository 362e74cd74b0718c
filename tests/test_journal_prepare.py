"""The journal's pages ahead of the write position are prepared by its helper process (stop 44, tail latency).

``gateway.journal_syncer.PagePreparer`` faults the file's pages from the write position's next page to
``prepare_ahead`` past it into the page cache (``madvise(MADV_POPULATE_READ)`` on a mapping of its own), so
that ``flush`` does not allocate them on an order's path. Residency is read with ``mincore`` on a mapping of
the test's own (page-cache residency of the file, not a timing).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import mmap
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.bench_journal_pages import mapping_rss
from gateway import journal_mmap, journal_syncer
from gateway.app import GatewayProcess
from gateway.commands.admin import format_status
from gateway.journal import DATA_START, JTradingState, MmapJournal, read_journal
from gateway.journal_syncer import PagePreparer
from model.fsync import FsyncPolicy
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for

PAGE = mmap.PAGESIZE
MIB = 1 << 20
pytestmark = pytest.mark.skipif(journal_syncer.prepare_supported() != 0, reason="no MADV_POPULATE_READ here")


def _resident(path: Path, start: int, stop: int) -> list[bool]:
    """Return, page by page, whether the page cache holds ``path``'s pages in [start, stop) (``mincore``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    fd = os.open(path, os.O_RDONLY)
    try:
        length = stop - start
        addr = libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, start)
        assert addr not in (None, 2**64 - 1), os.strerror(ctypes.get_errno())
        vec = (ctypes.c_ubyte * (length // PAGE))()
        try:
            assert libc.mincore(addr, length, vec) == 0, os.strerror(ctypes.get_errno())
        finally:
            libc.munmap(addr, length)
    finally:
        os.close(fd)
    return [bool(b & 1) for b in vec]


def _fresh_file(path: Path, size: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    os.posix_fallocate(fd, 0, size)
    return fd


def _wait(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def _record(i: int) -> JTradingState:
    return JTradingState(f"ACC{i}", "halted", "ops", f"{i:08d}".ljust(190, "x"))


def test_step_when_the_write_position_is_mid_page_then_exactly_the_next_pages_up_to_ahead_are_resident(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f"
    fd = _fresh_file(path, 16 * MIB)
    try:
        assert not any(_resident(path, 0, 16 * MIB))  # fallocated: nothing in the page cache yet
        preparer = PagePreparer(fd, 4 * MIB)
        end = 3 * MIB + 100  # mid-page: that page is the loop's, never touched
        assert preparer.step(end) == 4 * MIB - PAGE
        first = 3 * MIB + PAGE
        assert preparer.done == 7 * MIB
        resident = _resident(path, 0, 16 * MIB)
        assert not any(resident[: first // PAGE])  # at and behind the write position: left alone
        assert all(resident[first // PAGE : 7 * MIB // PAGE])
        assert not any(resident[7 * MIB // PAGE :])
        assert preparer.step(end + MIB - PAGE) == 0  # less than a step (1 MiB) missing: nothing to do
        assert preparer.step(end + 2 * MIB) == 2 * MIB  # the rest, from where it stopped
        assert all(_resident(path, first, 9 * MIB))
        assert preparer.step(15 * MIB + 7) == MIB - PAGE  # from the write position's next page, not past the end
        assert preparer.done == 16 * MIB and not preparer.failed
    finally:
        os.close(fd)


def test_step_when_the_kernel_refuses_the_advice_then_it_stops_for_good_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "f"
    fd = _fresh_file(path, 8 * MIB)
    try:
        preparer = PagePreparer(fd, 4 * MIB)
        libc = preparer._libc
        assert libc is not None
        real_mmap, real_munmap = libc.mmap, libc.munmap
        calls: list[int] = []

        class _Old:  # a kernel before 5.14: EINVAL for the advice
            mmap, munmap = real_mmap, real_munmap

            @staticmethod
            def madvise(addr: int, length: int, advice: int) -> int:
                if advice != journal_syncer.MADV_POPULATE_READ:
                    return 0
                calls.append(advice)
                ctypes.set_errno(errno.EINVAL)
                return -1

        monkeypatch.setattr(preparer, "_libc", _Old)
        assert preparer.step(DATA_START) == 0
        assert preparer.failed == errno.EINVAL and preparer.done == 0
        assert preparer.step(2 * MIB) == 0 and calls == [journal_syncer.MADV_POPULATE_READ]  # not asked again
        assert "stopped: Invalid argument" in capsys.readouterr().err
        assert not any(_resident(path, 0, 8 * MIB))
    finally:
        os.close(fd)


def test_step_when_the_file_was_cut_under_it_then_nothing_is_prepared_and_it_tries_again(tmp_path: Path) -> None:
    path = tmp_path / "f"
    fd = _fresh_file(path, 8 * MIB)
    try:
        preparer = PagePreparer(fd, 4 * MIB)
        preparer._libc = None  # off: 0 prepared, whatever the end
        assert preparer.step(MIB) == 0
        preparer = PagePreparer(fd, 4 * MIB)
        os.ftruncate(fd, MIB)  # shorter than the write position: nothing past the end
        assert preparer.step(2 * MIB) == 0 and not preparer.failed
        os.posix_fallocate(fd, 0, 8 * MIB)
        assert preparer.step(2 * MIB) == 4 * MIB
    finally:
        os.close(fd)


@pytest.mark.parametrize("fsync", [FsyncPolicy.INTERVAL, FsyncPolicy.NONE, FsyncPolicy.BATCH])
def test_journal_when_written_then_its_helper_keeps_the_pages_ahead_resident_outside_the_gateway_s_mapping(
    tmp_path: Path, fsync: FsyncPolicy
) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=fsync, fsync_interval_ms=2, prepare_ahead=16 * MIB)
    try:
        helper = journal._syncer
        assert helper is not None and helper.poll() is None
        for i in range(2_000):
            journal.append(_record(i))
            journal.flush()
        end = journal.tell()
        assert _wait(lambda: journal.prepared_end() >= end + 8 * MIB)
        prepared = journal.prepared_end()
        assert all(_resident(path, -(-end // PAGE) * PAGE, prepared))
        assert not any(_resident(path, prepared, prepared + 8 * MIB))  # nothing was written or read there
        assert journal.prepare_state() == "16 MiB ahead"
        journal.release_pages()
        assert mapping_rss(path) < 8 * MIB  # the prepared pages are in the helper's (unmapped) range, not here
        if fsync is not FsyncPolicy.INTERVAL:
            assert journal._ctrl[journal_syncer.FSYNCS] == 0  # the helper only prepares pages
    finally:
        journal.close()
    assert helper.poll() is not None  # stopped and reaped on close
    assert [r.account for r in read_journal(path) if isinstance(r, JTradingState)] == [f"ACC{i}" for i in range(2_000)]


def test_journal_when_many_mib_written_across_growths_and_releases_then_every_record_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=1, grow_bytes=MIB, prepare_ahead=2 * MIB)
    read: list[str] = []
    mark = [DATA_START]

    def take() -> list[str]:  # a reader from the last mark to the end the journal has reached (read_journal's way)
        reader, out = journal.reader(mark[0]), []
        while batch := reader.read(10_000):
            out += [r.account for _, r in batch if isinstance(r, JTradingState)]
        mark[0] = journal.tell()
        return out

    try:
        count = 60_000  # ~13 MiB: a dozen growths of 1 MiB, each prepared ahead while the records are written
        for i in range(count):
            journal.append(_record(i))
            journal.flush()
            if i % 3_000 == 2_999:
                while journal.release_pages():
                    pass
                journal.grow_ahead()
                read += take()
                time.sleep(0.005)  # the helper's turn
        assert journal.prepared_end() > 0 and journal.prepare_state() == "2 MiB ahead"
        read += take()
    finally:
        journal.close()
    expected = [f"ACC{i}" for i in range(count)]
    assert read == expected
    assert [r.account for r in read_journal(path) if isinstance(r, JTradingState)] == expected


@contextmanager
def _old_kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(journal_mmap, "_prepare_supported", lambda: errno.EINVAL)
    monkeypatch.setattr(journal_mmap, "_PREPARE_LOGGED", set())
    yield


def test_journal_when_the_kernel_lacks_the_advice_then_today_s_behaviour_logged_once_and_shown_in_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.journal")
    with _old_kernel(monkeypatch):
        none = MmapJournal(tmp_path / "a", fsync=FsyncPolicy.NONE)
        interval = MmapJournal(tmp_path / "b", fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=2)
    try:
        assert none._syncer is None  # nothing to sync and nothing to prepare: no process, as before
        assert interval._syncer is not None  # the syncer, which does not prepare pages
        for journal in (none, interval):
            journal.append(_record(1))
            journal.flush()
            assert journal.prepare_state() == "off: the kernel lacks MADV_POPULATE_READ (EINVAL)"
        time.sleep(0.05)
        assert interval.prepared_end() == 0
        lines = [r.getMessage() for r in caplog.records if "not prepared" in r.getMessage()]
        assert len(lines) == 1 and "MADV_POPULATE_READ (EINVAL)" in lines[0]
        status = {"journal": {"records_written": 1, "pages_ahead": none.prepare_state()}}
        assert "pages ahead not prepared (off: the kernel lacks MADV_POPULATE_READ (EINVAL))" in format_status(status)
        ok = {"journal": {"records_written": 1, "pages_ahead": "8 MiB ahead"}}
        assert "pages ahead" not in format_status(ok)
    finally:
        none.close()
        interval.close()


def test_helper_when_it_dies_under_none_then_started_again_and_not_counted_as_a_failed_sync(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    try:
        first = journal._syncer
        assert first is not None
        first.kill()
        first.wait()
        with caplog.at_level(logging.WARNING, logger="gateway.journal"):
            assert journal.sync_counts() == (0, 0, 0)
        second = journal._syncer
        assert second is not None and second is not first and second.poll() is None
        assert any("helper process" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    finally:
        journal.close()
    assert second.poll() is not None


def test_helper_when_it_cannot_start_then_started_again_with_a_backoff_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    try:
        first = journal._syncer
        assert first is not None
        monkeypatch.setattr(sys, "executable", "/bin/false")  # every helper started from now on exits at once
        first.kill()
        first.wait()
        started = {first.pid}
        deadline = time.monotonic() + 2.0
        with caplog.at_level(logging.WARNING, logger="gateway.journal"):
            while time.monotonic() < deadline:
                journal.sync_counts()  # what the journal-file timer does every 0.25 s, here every 10 ms
                syncer = journal._syncer
                assert syncer is not None
                started.add(syncer.pid)
                time.sleep(0.01)
        # at once, then 0.25 s and 0.5 s later (and 1 s after that): 2-4 new ones, not one per check (~200)
        assert 3 <= len(started) <= 5, len(started)
        lines = [r for r in caplog.records if "helper process" in r.getMessage()]
        assert len(lines) == 1 and lines[0].levelno == logging.WARNING
        assert "starting a new one" in lines[0].getMessage()
        assert journal.sync_counts() == (0, 0, 0)  # under "none" an exit is not a failed sync
        monkeypatch.undo()
        deadline = time.monotonic() + 10.0  # the backoff reached 2 s at most
        while time.monotonic() < deadline:  # the next one, started with the real interpreter, stays up
            journal.sync_counts()
            syncer = journal._syncer
            if syncer is not None and "/bin/false" not in str(syncer.args) and syncer.poll() is None:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no helper started again after the backoff")
    finally:
        journal.close()


@pytest.mark.parametrize("read_around", [False, True])
def test_mapping_when_not_read_around_then_a_write_fault_reads_only_its_folio_not_megabytes_of_zeros(
    tmp_path: Path, read_around: bool
) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE, prepare_ahead=0, read_around=read_around)
    try:
        assert journal._syncer is None  # nothing to sync, nothing to prepare: no helper
        for i in range(200):  # ~40 KiB: faults in the first pages only
            journal.append(_record(i))
            journal.flush()
        far = _resident(path, 4 * MIB, 16 * MIB)  # past any folio of the first 2 MiB
        if read_around:  # the kernel's read-around, as before stop 44 (this device's read_ahead_kb decides)
            ra = Path(f"/sys/dev/block/{os.major(os.stat(path).st_dev)}:0/queue/read_ahead_kb")
            if ra.exists() and int(ra.read_text()) * 1024 > 5 * MIB:
                assert any(far)
        else:
            assert not any(far)
    finally:
        journal.close()


async def test_gateway_when_running_then_its_journal_pages_are_prepared_ahead_and_the_helper_stops_with_it() -> None:
    workdir = short_tmp()
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig()))
    await sim.start()
    config = gateway_config(workdir, sim.port, e2e_limits(workdir, ("S1",)))
    process = GatewayProcess(config)
    helper = None
    try:
        await process.start()
        await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
        journal = process.journal
        assert isinstance(journal, MmapJournal)
        helper = journal._syncer
        assert helper is not None and helper.poll() is None
        for i in range(5_000):  # ~1 MiB
            journal.append(_record(i))
            journal.flush()
        end = journal.tell()
        await wait_for(lambda: journal.prepared_end() >= end + 2 * MIB, timeout_s=15.0, what="pages prepared ahead")
        assert all(_resident(journal.path, -(-end // PAGE) * PAGE, journal.prepared_end()))
        status = process.status()
        assert status["journal"]["pages_ahead"] == "8 MiB ahead"
        assert "pages ahead" not in format_status(status)
    finally:
        await process.stop()
        await sim.stop()
    assert helper is not None and helper.poll() is not None
