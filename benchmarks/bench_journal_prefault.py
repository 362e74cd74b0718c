"""The memory-mapped journal's per-flush time, its pages prepared ahead by the helper process or not (A/B).

``MmapJournal.flush`` copies a batch into the mapping; the first write into a page the page cache does
not hold yet faults it in on the order's path (on ext4, with ``read_ahead_kb`` 8192, the kernel's read-around
fills 8 MiB of zeros at once: ~1-4 ms every 8 MiB; docs/performance.md, stops 43 and 44). Here ``--records``
records of ``--record`` bytes are appended and flushed one by one at ``--rate`` records/s (paced with sleeps,
never timed), with the gateway's 0.25 s journal timer emulated between flushes (``release_pages`` until none
are left, then ``grow_ahead``), on a journal in ``--dir`` (a real disk: the default is the system's temporary
directory; tmpfs has no such stall). Each round runs, each on a new file, alternated: the journal as it was
before stop 44 (``before``: read-around on the mapping's faults, no pages prepared), its mapping
``MADV_RANDOM`` only (``random``: what a kernel without ``MADV_POPULATE_READ`` gets) and as it is
(``prepared``: the helper keeps ``--ahead`` bytes prepared). Printed per run: the per-flush time's
p50/p99/p99.9/p99.99/max, the flushes over 500 us and 100 us, the minor and major page faults the flushes
took (``getrusage`` of the thread around each, not timed) and those in the flushes over 500 us.

Run: ``.venv/bin/python -m benchmarks.bench_journal_prefault [--records 300000] [--rounds 2] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gateway.journal import JTradingState, MmapJournal
from gateway.journal_syncer import PREPARE_AHEAD
from model.fsync import FsyncPolicy

TICK_S = 0.25
"""The gateway's journal check (``JOURNAL_FILE_CHECK_S``): the page release and growth ahead."""


def fs_type(directory: Path) -> str:
    """Return the file system type of the mount holding ``directory`` (``/proc/mounts``; "?" if unknown)."""
    best, kind = "", "?"
    target = str(directory.resolve())
    with open("/proc/mounts") as fh:
        for line in fh:
            parts = line.split()
            mount = parts[1]
            if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                best, kind = mount, parts[2]
    return kind


def quantile(ordered: list[int], q: float) -> float:
    """Return the ``q`` quantile of the sorted ``ordered`` in us."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


VARIANTS: dict[str, tuple[int, bool]] = {
    "before": (0, True),
    "random": (0, False),
    "prepared": (PREPARE_AHEAD, False),
}
"""(``prepare_ahead``, ``read_around``) of each run: the journal before stop 44, its mapping ``MADV_RANDOM`` alone
(what a kernel without ``MADV_POPULATE_READ`` gets), and the pages prepared ahead by the helper (the default)."""


def run(
    directory: Path, records: int, size: int, rate: int, variant: str, fsync: FsyncPolicy, ahead: int
) -> dict[str, object]:
    """Append and flush ``records`` records one by one at ``rate``/s; return the per-flush distribution."""
    path = directory / f"prefault-{variant}.journal"
    prepare, read_around = VARIANTS[variant]
    journal = MmapJournal(path, fsync=fsync, prepare_ahead=ahead if prepare else 0, read_around=read_around)
    record = JTradingState("ACC", "halted", "ops", "x" * max(0, size - 30))
    append, flush = journal.append, journal.flush
    clock, usage, thread = time.perf_counter_ns, resource.getrusage, resource.RUSAGE_THREAD
    times: list[int] = []
    minflt = majflt = slow_minflt = 0
    leads: list[int] = []
    chunk = max(1, rate // 1000)
    started = time.monotonic()
    next_tick = started + TICK_S
    append(record)
    flush()
    time.sleep(0.1)  # the helper's first step (under "off": nothing)
    for i in range(records):
        append(record)
        before = usage(thread)
        t0 = clock()
        flush()
        took = clock() - t0
        after = usage(thread)
        times.append(took)
        faults = after.ru_minflt - before.ru_minflt
        minflt += faults
        majflt += after.ru_majflt - before.ru_majflt
        if took > 500_000:
            slow_minflt += faults + after.ru_majflt - before.ru_majflt
            leads.append(journal.prepared_end() - journal.tell())
        if i % chunk == chunk - 1:
            now = time.monotonic()
            if now >= next_tick:
                while journal.release_pages():
                    pass
                journal.grow_ahead()
                next_tick += TICK_S
            due = started + 0.1 + (i + 1) / rate
            if due > now:
                time.sleep(due - now)
    state = journal.prepare_state()
    journal.close()
    path.unlink()
    times.sort()
    return {
        "variant": variant,
        "prepare": state,
        "flushes": len(times),
        "p50_us": round(quantile(times, 0.5), 2),
        "p99_us": round(quantile(times, 0.99), 2),
        "p99_9_us": round(quantile(times, 0.999), 1),
        "p99_99_us": round(quantile(times, 0.9999), 1),
        "max_us": round(times[-1] / 1000, 1),
        "over_500us": sum(t > 500_000 for t in times),
        "over_100us": sum(t > 100_000 for t in times),
        "minflt": minflt,
        "majflt": majflt,
        "faults_in_over_500us": slow_minflt,
        "prepared_lead_kib_in_over_500us": [lead >> 10 for lead in leads][:20],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=300_000, help="records appended and flushed per run")
    parser.add_argument("--record", type=int, default=215, help="bytes per record (~a new+cancel order's share)")
    parser.add_argument("--rate", type=int, default=30_000, help="records per second")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs, alternated")
    parser.add_argument("--ahead", type=int, default=PREPARE_AHEAD, help="bytes prepared ahead ('prepared' runs)")
    parser.add_argument("--variants", default="before,random,prepared", help="runs of each round, in this order")
    parser.add_argument("--fsync", default="interval", choices=[p.value for p in FsyncPolicy])
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the journals are written (a disk)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="gwprefault", dir=args.dir))
    kind = fs_type(directory)
    runs: list[dict[str, object]] = []
    try:
        for _ in range(args.rounds):
            for variant in args.variants.split(","):
                fsync = FsyncPolicy(args.fsync)
                runs.append(run(directory, args.records, args.record, args.rate, variant, fsync, args.ahead))
                if not args.json:
                    print(runs[-1], flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    summary = {"fs": kind, "kernel": os.uname().release, "fsync": args.fsync, "runs": runs}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"journal on {kind} ({directory.parent}), Linux {summary['kernel']}, fsync {args.fsync}")
        print("variant  prepare          p50    p99  p99.9  p99.99      max  >500us >100us  minflt majflt (>500us)")
        for r in runs:
            cells = [r[k] for k in ("p50_us", "p99_us", "p99_9_us", "p99_99_us", "max_us", "over_500us", "over_100us")]
            faults = f"{r['minflt']:6} {r['majflt']:6} ({r['faults_in_over_500us']})"
            print(f"{r['variant']:8} {str(r['prepare'])[:14]:14} " + " ".join(f"{c:>6}" for c in cells) + " " + faults)
    return 0


if __name__ == "__main__":
    sys.exit(main())
