"""The journal's fsync process (``fsync: interval``): off the gateway process, dies with it, counts into status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway import journal_syncer
from gateway.journal import MMAP_HEADER, JOrderRefused, MmapJournal, data_end, mmap_header
from model.fsync import FsyncPolicy

ROOT = Path(__file__).resolve().parent.parent


def _gone(pid: int) -> bool:
    """Return True once ``pid`` has exited (absent, or a zombie nobody reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return status.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def test_header_when_written_by_the_syncer_then_the_journal_reads_it() -> None:
    assert journal_syncer.HEADER.format == MMAP_HEADER.format
    for end in (4096, 4096 + 17, 1 << 40):
        assert journal_syncer.header(end) == mmap_header(end)


def test_interval_when_flushed_then_synced_by_another_process_and_no_thread_here(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=2)
    syncer = journal._syncer
    assert syncer is not None and syncer.pid != os.getpid() and syncer.poll() is None
    assert {t.name for t in threading.enumerate()} == before
    journal.append(JOrderRefused(1))
    journal.flush()
    assert _wait(lambda: journal.fsyncs >= 1 and journal.bytes_synced == journal.bytes_written)
    assert sum(journal.fsync_ns.snapshot().values()) == journal.fsyncs
    assert _wait(lambda: (tmp_path / "j").read_bytes()[: MMAP_HEADER.size] == mmap_header(data_end(tmp_path / "j")))
    idle = journal.fsyncs
    time.sleep(0.05)
    assert journal.fsyncs == idle  # nothing new: no sync
    journal.close()
    assert syncer.poll() is not None
    assert journal.fsyncs >= idle + 1  # close syncs on the caller's thread; the syncer's count is kept


def test_syncer_when_started_under_a_preload_then_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_PRELOAD", "libc.so.6")  # what `onload` sets (libonload.so): harmless here
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.INTERVAL)
    syncer = journal._syncer
    assert syncer is not None
    try:
        # Popen returns once the exec passed its point of no return, before the kernel has set up the new
        # program's environment: until then /proc/<pid>/environ reads empty (11 of 30 runs on a loaded machine).
        environ_file = Path(f"/proc/{syncer.pid}/environ")
        assert _wait(environ_file.read_bytes)
        environ = environ_file.read_bytes().split(b"\0")
        assert not [v for v in environ if v.startswith(b"LD_PRELOAD=")]
        assert f"PATH={os.environ['PATH']}".encode() in environ  # the rest is passed on
    finally:
        journal.close()


def test_syncer_when_it_dies_then_counted_as_a_failure_and_started_again(tmp_path: Path) -> None:
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=2)
    first = journal._syncer
    assert first is not None
    journal.append(JOrderRefused(1))
    journal.flush()
    assert _wait(lambda: journal.fsyncs >= 1)
    first.kill()
    first.wait()
    assert journal.fsync_failures == 1  # noticed where status and metrics read the counters
    second = journal._syncer
    assert second is not None and second.pid != first.pid and second.poll() is None
    synced = journal.fsyncs
    journal.append(JOrderRefused(2))
    journal.flush()
    assert _wait(lambda: journal.fsyncs > synced and journal.bytes_synced == journal.bytes_written)
    assert journal.fsync_failures == 1
    journal.close()
    assert second.poll() is not None


def test_syncer_when_the_gateway_is_killed_then_it_dies_too(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from gateway.journal import MmapJournal\n"
        "from model.fsync import FsyncPolicy\n"
        f"j = MmapJournal({str(tmp_path / 'j')!r}, fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=5)\n"
        "print(j._syncer.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    gateway = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert gateway.stdout is not None
        syncer_pid = int(gateway.stdout.readline())
        assert not _gone(syncer_pid)
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(5)
        assert _wait(lambda: _gone(syncer_pid))
    finally:
        gateway.kill()
        gateway.wait(5)


def test_count_when_buckets_counted_then_the_range_covers_exactly_them_and_the_parts_merge_to_fsync_ns(
    tmp_path: Path,
) -> None:
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=1000)
    try:
        ctrl = journal._ctrl
        slots = ctrl[journal_syncer.COUNTS :].tolist()
        assert ctrl[journal_syncer.END_BUCKET] == 0 and not any(slots)  # nothing synced yet: an empty range
        assert journal.fsync_ns_parts()[1:] == (0, b"")
        for index in (500, 17, 3839, 500):
            journal_syncer.count(ctrl, index)
        assert (ctrl[journal_syncer.FIRST_BUCKET], ctrl[journal_syncer.END_BUCKET]) == (17, 3840)
        journal._fsync_ns.record(1 << 20)
        sparse, first, dense = journal.fsync_ns_parts()
        assert first == 17 and len(dense) == (3840 - 17) * 8
        merged = dict(sparse)
        for offset, count in enumerate(memoryview(dense).cast("Q")):
            if count:
                merged[first + offset] = merged.get(first + offset, 0) + count
        assert merged == journal.fsync_ns.counts
        assert {17: 1, 500: 2, 3839: 1}.items() <= merged.items() and len(merged) == 4
        del dense
    finally:
        journal.close()
