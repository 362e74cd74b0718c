"""The UserRefNum store's prefetch point belongs to the event loop: no writer interleaving can lose the prefetch.

A lost prefetch leaves the end of the block to a write on the event loop (fsync, rename, directory fsync on the
order path). The interleavings are injected, not waited for: the store's counter is replaced by one whose ``next``,
when the background writer reads it, first lets the loop hand out a number (a thread switch between the writer's
read and its use of the value).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from venues.atomic_file import write_file_atomically
from venues.ouch import refstore
from venues.ouch.refcount import RefCounter
from venues.ouch.refstore import RETRY_INTERVAL_NS, UserRefNumStore

DAY = "2024-05-01"


class Disk:
    """``write_file_atomically`` as the store calls it: records the thread of each write; ``full`` fails each."""

    def __init__(self, real: Callable[[Path, bytes], None]) -> None:
        self.real = real
        self.full = False
        self.threads: list[threading.Thread] = []

    def __call__(self, path: Path, data: bytes) -> None:
        self.threads.append(threading.current_thread())
        if self.full:
            raise OSError(28, "No space left on device")
        self.real(path, data)


class PreemptedCounter:
    """A ``RefCounter`` whose ``next``, read by the writer thread, is handed back only after the loop took a number.

    Each such read keeps the value, signals ``read`` and waits for ``go``: the test hands out one number
    on the loop thread in between, as a thread switch right after the read would.
    """

    def __init__(self, counter: RefCounter) -> None:
        self._next = counter.next
        self.reserved = counter.reserved
        self.prefetch_at = counter.prefetch_at
        self.error = counter.error
        self.read = threading.Event()
        self.go = threading.Event()

    @property
    def next(self) -> int:
        value = self._next
        if threading.current_thread() is not threading.main_thread():
            self.read.set()
            assert self.go.wait(10), "the test never let the writer go on"
            self.go.clear()
        return value

    @next.setter
    def next(self, value: int) -> None:
        self._next = value


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    fake = Disk(write_file_atomically)
    monkeypatch.setattr(refstore, "write_file_atomically", fake)  # refstore is interpreted (not in obs.native)
    yield fake


def _store(path: Path, *, block: int = 10) -> UserRefNumStore:
    store = UserRefNumStore(path, "nasdaq", today=lambda: DAY, block=block, prefetch=True)
    store.wait_limit = 10.0  # a write that lands is waited for, however loaded the machine
    return store


def _error(store: UserRefNumStore) -> str | None:
    return store.error  # read through a call: mypy would keep an earlier narrowing of ``store.error``


def _on_disk(store: UserRefNumStore) -> int:
    return int(json.loads(store.path.read_text())["reserved"])


def _written(store: UserRefNumStore) -> None:
    assert store._job_done.wait(10), "the background write did not finish"


def test_retry_when_the_loop_takes_numbers_while_the_writer_reads_next_then_the_prefetch_still_starts(
    tmp_path: Path, disk: Disk
) -> None:
    store = _store(tmp_path)
    assert [store.next() for _ in range(4)] == [1, 2, 3, 4]  # 1..10 reserved on this thread (the first block)
    disk.full = True
    assert store.next() == 5  # the prefetch point: the reservation of 11..20 fails in the background
    _written(store)
    assert store.error is not None
    assert [store.next(), store.next()] == [6, 7]  # still inside the block on file
    disk.full = False
    counter = PreemptedCounter(store.counter)
    store.counter = counter  # type: ignore[assignment]  # the store is interpreted: any object with the fields
    loop = threading.current_thread()
    writes = len(disk.threads)
    assert not store.retry(0)
    assert not store.retry(RETRY_INTERVAL_NS)  # posts the current block (1..10) to the writer again
    done = store._job_done
    handed: list[int] = []
    for _ in range(1_000):  # each time the writer reads ``next``, the loop hands out a number first
        if done.is_set():
            break
        if counter.read.wait(0.01):
            counter.read.clear()
            handed.append(store.next())
            counter.go.set()
    assert done.is_set(), "the retried write did not finish"
    assert _error(store) is None
    while store.last_issued < 11:  # to the first number of the next block
        number = store.next()
        assert number == store.last_issued, number
        handed.append(number)

    assert handed == list(range(8, 12))
    assert [thread for thread in disk.threads[writes:] if thread is loop] == []  # the prefetch ran in the background
    _written(store)
    assert _on_disk(store) >= 20


def test_ensure_above_when_the_floor_jumps_past_the_prefetch_point_then_the_prefetch_still_starts(
    tmp_path: Path, disk: Disk
) -> None:
    store = _store(tmp_path)
    assert [store.next() for _ in range(2)] == [1, 2]  # 1..10 reserved on this thread; the prefetch point is 5
    loop = threading.current_thread()
    writes = len(disk.threads)
    store.ensure_above(7)  # an Account Query's NextUserRefNum: 3..7 are skipped, the prefetch point with them
    assert [store.next() for _ in range(4)] == [8, 9, 10, 11]

    assert [thread for thread in disk.threads[writes:] if thread is loop] == []  # the prefetch ran in the background
    _written(store)
    assert _on_disk(store) >= 20
