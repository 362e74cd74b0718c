"""The memory-mapped journal writes with the descriptor table full: mapping and growth take no new descriptor.

Python's ``mmap.mmap`` dup()s the file's descriptor. Before, the journal mapped its file on the first flush and on
every growth step, so with every descriptor taken (a gateway at ``RLIMIT_NOFILE``: 290 sessions and an idle flood,
rev47strat) the flush failed with EMFILE: ``JOURNAL WRITE FAILED`` and orders held for seconds. The journal now
keeps a reserve descriptor that it closes just before each mapping.

Each case runs in a child process (its own ``RLIMIT_NOFILE``, lowered there, and a descriptor table filled with
``/dev/null`` until ``open`` fails), so the test runner's limit is never touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.journal import read_journal

_CHILD = textwrap.dedent(
    """
    import errno, json, os, resource, sys
    from gateway.journal import JournalScan, JOrderRefused, MmapJournal
    from model.fsync import FsyncPolicy

    path, records, remaps = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "remap"
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE, grow_bytes=8192, prepare_ahead=0)
    scan = JournalScan()  # as the gateway starts (``GatewayProcess``): where appending continues is known
    for _ in journal.records(scan):
        pass
    journal.cut_torn_tail(scan)
    if remaps:  # a first mapping made before the table fills: what follows are growths only
        journal.append(JOrderRefused(0))
        journal.flush()
    filler = []
    while True:  # every descriptor taken
        try:
            filler.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == errno.EMFILE, exc
            break
    failures = []
    for i in range(int(remaps), records):
        journal.append(JOrderRefused(i))
        try:
            journal.flush()
        except OSError as exc:
            failures.append(str(exc))
            break
    try:
        os.open(os.devnull, os.O_RDONLY)
        spare = True
    except OSError:
        spare = False
    for fd in filler:
        os.close(fd)
    journal.close()
    print(json.dumps({"failures": failures, "written": journal.records_written, "grew": journal._size,
                      "fd_left_free": spare}))
    """
)


def _run(path: Path, records: int, mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(records), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("mode", ["first", "remap"])
def test_flush_when_every_descriptor_is_taken_then_first_mapping_and_growths_still_write(
    tmp_path: Path, mode: str
) -> None:
    path = tmp_path / "j.journal"
    result = _run(path, 2000, mode)  # ~20 bytes a record, 8 KiB steps: a few growths (each a new mapping)
    assert result["failures"] == [], result
    assert result["written"] == 2000
    assert isinstance(result["grew"], int) and result["grew"] > 4 * 8192  # it did grow while the table was full
    assert result["fd_left_free"] is False  # the reserve is the journal's own: nothing else got it
    assert [record.order_id for record in read_journal(path)] == list(range(2000))  # type: ignore[union-attr]
