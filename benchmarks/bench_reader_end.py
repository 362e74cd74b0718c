"""What a journal read that reaches the end of an ``mmap`` journal's data costs (rev42ops F2).

Every OUCH message for a UserRefNum the adapter no longer maps makes the engine search the journal
(``gateway.ref_lookup``), and the scan reads on to the end of the data; an ``MmapJournal`` file is
preallocated, so zeros follow its records. This writes ``--records`` records to an ``MmapJournal`` (its
64 MiB growth step of zeros after them), then times ``--lookups`` reads from the last record to the end,
as ``journal.reader(position)`` hands them out (the writer's end known) and, with ``--at-rest``, as a reader
of the file alone (``JournalReader(path, position)``: the zeros looked at). Printed: microseconds per read
(wall clock, median and max) and the bytes each asked the kernel for (``os.pread``), a deterministic count.

Run: ``.venv/bin/python benchmarks/bench_reader_end.py [--records 5000] [--lookups 200] [--at-rest]``
(``GATEWAY_PURE_PYTHON=1`` for the pure-Python reader; ``BENCH_TREE=/other/checkout``: the same script
measures that tree's reader, e.g. the one before this change).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("BENCH_TREE", str(Path(__file__).resolve().parent.parent)))

from gateway.journal import JOrderRefused, JournalReader, MmapJournal
from model.fsync import FsyncPolicy


def main() -> None:
    """Write the journal, time the reads, print the numbers."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--at-rest", action="store_true", help="a reader of the file alone (no writer's end)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        journal = MmapJournal(Path(tmp) / "bench.journal", fsync=FsyncPolicy.NONE)
        last = 0
        for i in range(args.records):
            last = journal.tell() + journal.pending_bytes
            journal.append(JOrderRefused(i))
        journal.flush()
        read = [0]
        real = os.pread

        def counting(fd: int, size: int, offset: int) -> bytes:
            data = real(fd, size, offset)
            read[0] += len(data)
            return data

        os.pread = counting
        times = []
        try:
            for _ in range(args.lookups):
                started = time.perf_counter_ns()
                reader = JournalReader(journal.path, last) if args.at_rest else journal.reader(last)
                while reader.read(512):
                    pass
                times.append(time.perf_counter_ns() - started)
        finally:
            os.pread = real
            journal.close()
    kind = "file alone" if args.at_rest else "journal.reader (writer's end)"
    print(
        f"{kind}: {args.lookups} reads to the end after {args.records} records: "
        f"median {statistics.median(times) / 1e3:.1f} us, max {max(times) / 1e3:.1f} us, "
        f"{read[0] // args.lookups} bytes read per read"
    )


if __name__ == "__main__":
    main()
