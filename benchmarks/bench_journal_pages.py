"""The memory-mapped journal's resident pages: RssFile per order, the release step's cost, the growth stall.

``MmapJournal`` maps its whole file; the pages ``flush`` writes stay resident in the process until they
are released (``MmapJournal.release_pages``, from ``gateway run``'s 0.25 s journal check) or the mapping
is replaced at a growth step. Measured here, on a journal in ``--dir`` (default: the system's temporary
directory, a disk on most hosts; tmpfs pages count as RssShmem, not RssFile):

* ``journal RSS/order``: the resident bytes of the journal's mapping (``/proc/self/smaps``, ``Rss`` of
  the mapping of the journal file) over ``--orders`` records of ``--record`` bytes each, with the
  release step run every ``--tick-orders`` records (as the 0.25 s timer would at ~30,000 orders/s),
  or never (``--no-release``, how the journal was before stop 43);
* ``release step``: the time of one ``release_pages`` call releasing a full step (``TRIM_STEP_BYTES``);
* ``growth stall``: the time of the growth inside ``flush`` (``_grow``: ``posix_fallocate`` of a step,
  the new mapping, the old one closed) with the step's pages resident (never released) and with them
  released, and the time of ``grow_ahead`` (the same work from the timer) and of the next order's ``flush``.

Run: ``.venv/bin/python -m benchmarks.bench_journal_pages [--orders 300000] [--no-release] [--json]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gateway.journal import JTradingState, MmapJournal
from gateway.journal_mmap import TRIM_STEP_BYTES
from gateway.journal_read import GROW_BYTES
from model.fsync import FsyncPolicy

MIB = 1 << 20


def mapping_rss(path: Path) -> int:
    """Return the resident bytes of this process's mappings of ``path`` (``/proc/self/smaps``)."""
    name = str(path)
    total = 0
    inside = False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            if line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                inside = line.rstrip("\n").endswith(name)
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
    return total


def _record(size: int) -> JTradingState:
    """Return a record whose journal entry is about ``size`` bytes."""
    return JTradingState("ACC", "halted", "ops", "x" * max(0, size - 30))


def fill(journal: MmapJournal, count: int, record: JTradingState) -> None:
    """Append and flush ``count`` records, one flush per record (as a single-order batch)."""
    append, flush = journal.append, journal.flush
    for _ in range(count):
        append(record)
        flush()


def resident_run(directory: Path, orders: int, size: int, tick: int, release: bool) -> dict[str, object]:
    """Write ``orders`` records; sample the journal mapping's RSS after each tick; release on each tick if asked."""
    path = directory / "rss.journal"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)
    record = _record(size)
    fill(journal, 1, record)
    base = journal.bytes_written
    samples: list[int] = []
    steps: list[float] = []
    done = 0
    while done < orders:
        n = min(tick, orders - done)
        fill(journal, n, record)
        done += n
        if release:
            t0 = time.perf_counter()
            journal.release_pages()
            steps.append(time.perf_counter() - t0)
        samples.append(mapping_rss(path))
    per_record = (journal.bytes_written - base) / orders
    journal.close()
    path.unlink()
    return {
        "orders": orders,
        "record_bytes": round(per_record, 1),
        "journal_rss_highest": max(samples),
        "journal_rss_end": samples[-1],
        "journal_rss_per_order_end": round(samples[-1] / orders, 2),
        "journal_rss_per_order_highest": round(max(samples) / orders, 2),
        "release_call_us_max": round(max(steps) * 1e6, 1) if steps else None,
        "release_call_us_median": round(statistics.median(steps) * 1e6, 1) if steps else None,
    }


def release_step(directory: Path, size: int, repeats: int) -> dict[str, float]:
    """Time ``release_pages`` releasing a full step of freshly written pages, ``repeats`` times."""
    path = directory / "step.journal"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)
    record = _record(size)
    step = TRIM_STEP_BYTES
    times: list[float] = []
    for _ in range(repeats):
        fill(journal, step // len_of(journal, record) + 2, record)
        before = mapping_rss(path)
        t0 = time.perf_counter()
        journal.release_pages()
        times.append(time.perf_counter() - t0)
        assert mapping_rss(path) < before
    journal.close()
    path.unlink()
    return {
        "step_mib": step / MIB,
        "us_median": round(statistics.median(times) * 1e6, 1),
        "us_max": round(max(times) * 1e6, 1),
        "us_per_mib": round(statistics.median(times) * 1e6 / (step / MIB), 1),
    }


def len_of(journal: MmapJournal, record: JTradingState) -> int:
    """Return the bytes one ``record`` takes in the journal."""
    before = journal.bytes_written
    journal.append(record)
    journal.flush()
    return journal.bytes_written - before


def growth_stall(directory: Path, size: int, release: bool, ahead: bool, repeats: int) -> dict[str, float]:
    """Time the growth of a journal whose step is written (released on the way, or not); median and max in us."""
    times: list[float] = []
    after: list[float] = []
    record = _record(size)
    for i in range(repeats):
        path = directory / f"grow{i}.journal"
        journal = MmapJournal(path, fsync=FsyncPolicy.NONE)
        one = len_of(journal, record)
        room = journal._size - journal.tell()
        margin = GROW_BYTES // 2 if ahead else one
        count = max(0, (room - margin) // one)
        chunk = max(1, MIB // one)
        while count > 0:
            n = min(chunk, count)
            fill(journal, n, record)
            count -= n
            if release:
                while journal.release_pages():
                    pass
        size_before = journal._size
        journal.append(record)
        if ahead:
            journal.flush()
            t0 = time.perf_counter()
            journal.grow_ahead()
            times.append(time.perf_counter() - t0)
            journal.append(record)
            t0 = time.perf_counter()
            journal.flush()  # the next order's flush: the file has grown, nothing left to do
            after.append(time.perf_counter() - t0)
        else:
            while journal.tell() + journal.pending_bytes <= size_before:  # the next flush grows
                journal.flush()
                journal.append(record)
            t0 = time.perf_counter()
            journal.flush()
            times.append(time.perf_counter() - t0)
        assert journal._size > size_before, (journal._size, size_before)
        journal.close()
        path.unlink()
    out = {"us_median": round(statistics.median(times) * 1e6, 1), "us_max": round(max(times) * 1e6, 1)}
    if after:
        out["next_flush_us_median"] = round(statistics.median(after) * 1e6, 1)
        out["next_flush_us_max"] = round(max(after) * 1e6, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=300_000, help="records written in the RSS run")
    parser.add_argument("--record", type=int, default=218, help="bytes per record (~a new+cancel order's share)")
    parser.add_argument("--tick-orders", type=int, default=7_500, help="records between two release steps")
    parser.add_argument("--no-release", action="store_true", help="never release pages (the journal before stop 43)")
    parser.add_argument("--repeats", type=int, default=5, help="growths and release steps timed")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the journals are written")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="gwpages", dir=args.dir))
    try:
        release = not args.no_release
        result: dict[str, object] = {
            "resident": resident_run(directory, args.orders, args.record, args.tick_orders, release),
            "grow_in_flush_resident": growth_stall(directory, args.record, False, False, args.repeats),
        }
        if release:
            result["release_step"] = release_step(directory, args.record, args.repeats * 4)
            result["grow_in_flush_released"] = growth_stall(directory, args.record, True, False, args.repeats)
            result["grow_ahead_released"] = growth_stall(directory, args.record, True, True, args.repeats)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return 0
    res = result["resident"]
    assert isinstance(res, dict)
    print(
        f"{res['orders']:,} records of {res['record_bytes']} B, "
        f"release {'every ' + str(args.tick_orders) if release else 'never'}: "
        f"journal mapping RSS at the end {res['journal_rss_end'] / MIB:.2f} MiB "
        f"({res['journal_rss_per_order_end']} B/order), highest {res['journal_rss_highest'] / MIB:.2f} MiB; "
        f"release call median {res['release_call_us_median']} us, max {res['release_call_us_max']} us"
    )
    for key, value in result.items():
        if key != "resident":
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
