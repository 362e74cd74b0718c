"""The memory-mapped journal gives its written pages back (stop 43): bounded RSS, nothing lost, growth ahead of need.

``MmapJournal.release_pages`` drops the mapping's pages wholly behind the write position from the process's
resident set (``madvise(MADV_DONTNEED)`` on the shared file mapping: the data stays in the page cache);
``grow_ahead`` grows the file from a timer before ``flush`` has to. ``gateway run`` calls both from its
0.25 s journal check. The resident bytes are read from ``/proc/self/smaps`` for the journal's mapping.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec

from benchmarks.bench_journal_pages import mapping_rss
from gateway.app import GatewayProcess
from gateway.journal import DATA_START, JOrderRefused, JTradingState, MmapJournal, read_journal
from gateway.journal_mmap import TRIM_STEP_BYTES
from model.fsync import FsyncPolicy
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for

ROOT = Path(__file__).resolve().parent.parent
PAGE = mmap.PAGESIZE
MIB = 1 << 20
AROUND = 4 * MIB + 512 * 1024
"""The most a released mapping may keep resident: the write position's page and what the kernel maps with it (the
page cache's large folios, up to 2 MiB each on ext4 with Linux 6.18: 2.0-4.3 MiB seen; 64 KiB of fault-around on
older kernels). A constant: the never-released mapping holds everything written."""


def _record(i: int, size: int = 200) -> JTradingState:
    return JTradingState(f"ACC{i}", "halted", "ops", f"{i:08d}".ljust(size, "x"))


def _write(journal: MmapJournal, start: int, count: int) -> None:
    for i in range(start, start + count):
        journal.append(_record(i))
        journal.flush()


def _accounts(path: Path) -> list[str]:
    return [r.account for r in read_journal(path) if isinstance(r, JTradingState)]


def test_release_when_megabytes_written_then_the_mapping_s_resident_pages_stay_under_a_step(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)
    try:
        highest = 0
        for chunk in range(24):  # ~24 MiB of records, released as the 0.25 s check would between chunks
            _write(journal, chunk * 4_600, 4_600)
            while journal.release_pages():
                pass
            rss = mapping_rss(path)
            highest = max(highest, rss)
            assert journal.resident_bytes() < PAGE  # only the page holding the write position is left
        assert journal.bytes_written > 20 * MIB
        assert highest <= AROUND, highest  # the write position's page, and what the kernel maps around a fault
        _write(journal, 200_000, 55_000)  # ~12 MiB more, never released: it stays resident
        assert mapping_rss(path) >= 11 * MIB
    finally:
        journal.close()


def test_release_when_steps_called_then_each_gives_back_at_most_a_step_and_says_what_is_left(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)
    try:
        _write(journal, 0, 30_000)  # ~6.5 MiB behind the write position
        end = journal.tell()
        behind = end - end % PAGE - DATA_START
        left = journal.release_pages()
        assert left == behind - TRIM_STEP_BYTES
        assert journal.resident_bytes() == end - DATA_START - TRIM_STEP_BYTES
        calls = 1
        while left:
            left = journal.release_pages()
            calls += 1
        assert calls == -(-behind // TRIM_STEP_BYTES)
        assert journal.release_pages() == 0 and journal.resident_bytes() == end % PAGE
        assert journal._released == end - end % PAGE  # never the write position's page, never the header's
    finally:
        journal.close()


def test_records_when_read_after_a_release_then_the_mapping_the_reader_and_the_file_all_have_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)
    try:
        _write(journal, 0, 20_000)
        while journal.release_pages():
            pass
        assert journal._map is not None
        end = journal.tell()
        assert journal._map[DATA_START:end] == os.pread(journal._fd, end - DATA_START, DATA_START)  # faulted back in
        reader = journal.reader(0)
        got: list[str] = []
        while batch := reader.read(4_096):
            got.extend(r.account for _, r in batch if isinstance(r, JTradingState))
        assert got == [f"ACC{i}" for i in range(20_000)]
        assert _accounts(path) == got
    finally:
        journal.close()
    assert _accounts(path) == [f"ACC{i}" for i in range(20_000)]  # and after the clean close's cut


def test_records_when_written_across_releases_and_growths_then_every_one_reads_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE, grow_bytes=256 * 1024)  # a growth every ~1,200 records
    sizes = set()
    try:
        for chunk in range(40):
            _write(journal, chunk * 500, 500)
            journal.release_pages(8 * PAGE)  # a small step: released pages and unreleased ones both remapped
            if chunk % 3 == 0:
                journal.grow_ahead()
            sizes.add(journal._size)
        assert len(sizes) > 10  # it grew, in flush and ahead of it
        assert _accounts(path) == [f"ACC{i}" for i in range(20_000)]
    finally:
        journal.close()
    assert _accounts(path) == [f"ACC{i}" for i in range(20_000)]


def test_grow_ahead_when_less_than_half_a_step_is_left_then_the_file_grows_and_flush_does_not(tmp_path: Path) -> None:
    step = 256 * 1024
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE, grow_bytes=step)
    try:
        assert not journal.grow_ahead()  # nothing mapped yet: the first flush maps the file
        _write(journal, 0, 1)
        size = journal._size
        assert not journal.grow_ahead()  # a whole step left
        i = 1
        while size - journal.tell() >= step // 2:
            _write(journal, i, 1)
            i += 1
        assert journal._size == size  # flush has not grown it
        assert journal.grow_ahead()
        assert journal._size == size + step == os.fstat(journal._fd).st_size
        assert not journal.grow_ahead()
        _write(journal, i, (step // 2) // 230)  # what was left before, and more: within the grown file
        assert journal._size == size + step
    finally:
        journal.close()


def test_kill_when_after_a_release_then_every_flushed_record_is_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "j"
    code = (
        "import sys, time\n"
        "from gateway.journal import JTradingState, MmapJournal\n"
        "from model.fsync import FsyncPolicy\n"
        f"j = MmapJournal({str(path)!r}, fsync=FsyncPolicy.NONE, grow_bytes=1 << 20)\n"
        "for i in range(30_000):\n"
        "    j.append(JTradingState(f'ACC{i}', 'halted', 'ops', f'{i:08d}'.ljust(200, 'x')))\n"
        "    j.flush()\n"
        "    if i % 2_000 == 1_999:\n"
        "        while j.release_pages():\n"
        "            pass\n"
        "        j.grow_ahead()\n"
        "assert j.resident_bytes() < 4096\n"
        "print(j.bytes_written, flush=True)\n"
        "time.sleep(60)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert writer.stdout is not None
        written = int(writer.stdout.readline())
        assert written > 6 * MIB
        writer.send_signal(signal.SIGKILL)  # no close, no sync: the pages are in the page cache only
        assert writer.wait(10) == -signal.SIGKILL
    finally:
        writer.kill()
        writer.wait(10)
    assert _accounts(path) == [f"ACC{i}" for i in range(30_000)]
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)  # reopened: appends follow the last record
    try:
        journal.append(JOrderRefused(7))
        journal.flush()
    finally:
        journal.close()
    records = list(read_journal(path))
    assert len(records) == 30_001 and records[-1] == JOrderRefused(7)


def test_release_when_the_journal_is_closed_or_not_mapped_then_nothing_happens(tmp_path: Path) -> None:
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    assert journal.release_pages() == 0 and journal.resident_bytes() == 0 and not journal.grow_ahead()
    _write(journal, 0, 10)
    journal.close()
    assert journal.release_pages() == 0 and not journal.grow_ahead()
    assert _accounts(tmp_path / "j") == [f"ACC{i}" for i in range(10)]


async def test_gateway_when_its_journal_is_written_then_the_0_25_s_check_releases_the_pages_and_grows_ahead() -> None:
    workdir = short_tmp()
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig()))
    await sim.start()
    config = gateway_config(workdir, sim.port, e2e_limits(workdir, ("S1",)))
    process = GatewayProcess(config)
    try:
        await process.start()
        await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
        journal = process.journal
        assert isinstance(journal, MmapJournal)
        size = journal._size
        big = msgspec.structs.replace(_record(0), reason="r" * 60_000)
        while journal._size - journal.tell() >= journal._grow_bytes // 2:  # past half the first step, unreleased
            journal.append(big)
            journal.flush()
            await asyncio.sleep(0)
        assert journal._size == size  # flush did not grow it
        await wait_for(lambda: journal._size > size, timeout_s=15.0, what="the file grown ahead by the check")
        for _ in range(200):  # ~12 MiB more, faster than one step per check: released over several loop turns
            journal.append(big)
            journal.flush()
        assert journal.resident_bytes() > 8 * MIB
        await wait_for(lambda: journal.resident_bytes() < PAGE, timeout_s=15.0, what="the written pages released")
        assert mapping_rss(journal.path) <= AROUND
    finally:
        await process.stop()
        await sim.stop()
