"""The UserRefNum store's background writer: a waiter returns only once its own job is done; no prefetch is lost.

The interleavings are injected, not waited for: the store's ``threading.Event`` is replaced by one whose ``set``
from the writer thread can be held at a gate, and the disk write by one that can hang until released.
"""

from __future__ import annotations

import json
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from venues.atomic_file import write_file_atomically
from venues.ouch import refstore
from venues.ouch.refstore import RETRY_INTERVAL_NS, UserRefNumStore

DAY = "2024-05-01"


class Disk:
    """``write_file_atomically`` as the store calls it: counts completed writes; while ``hang``, awaits ``release``."""

    def __init__(self, real: Callable[[Path, bytes], None]) -> None:
        self.real = real
        self.completed = 0
        self.hang = False
        self.hanging = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: Path, data: bytes) -> None:
        if self.hang:
            self.hanging.set()
            assert self.release.wait(10), "the test never released the write"
        self.real(path, data)
        self.completed += 1


class Gate:
    """Holds the writer thread's next ``Event.set`` until ``proceed``; releases ``disk`` when the loop must wait."""

    def __init__(self, disk: Disk) -> None:
        self.disk = disk
        self.armed = False
        self.at_set = threading.Event()
        self.proceed = threading.Event()


def _gated_event_class(gate: Gate) -> type[threading.Event]:
    class GatedEvent(threading.Event):
        def set(self) -> None:
            if gate.armed and threading.current_thread() is not threading.main_thread():
                gate.armed = False
                gate.at_set.set()
                assert gate.proceed.wait(10), "the test never let the writer go on"
            super().set()

        def wait(self, timeout: float | None = None) -> bool:
            if threading.current_thread() is threading.main_thread() and not self.is_set():
                # the loop must really wait: let the hanging write finish
                gate.disk.release.set()
            return super().wait(timeout)

    return GatedEvent


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    fake = Disk(write_file_atomically)
    monkeypatch.setattr(refstore, "write_file_atomically", fake)
    yield fake
    fake.release.set()  # never leave the writer thread hanging


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch, disk: Disk) -> Iterator[Gate]:
    gate = Gate(disk)
    patched = types.SimpleNamespace(Event=_gated_event_class(gate), Thread=threading.Thread, Lock=threading.Lock)
    monkeypatch.setattr(refstore, "threading", patched)  # only the store's events; the test's are real
    yield gate
    gate.proceed.set()


def _store(path: Path, *, block: int = 10) -> UserRefNumStore:
    store = UserRefNumStore(path, "nasdaq", today=lambda: DAY, block=block, prefetch=True)
    store.wait_limit = 10.0  # a write that lands is waited for, however loaded the machine
    return store


def _error(store: UserRefNumStore) -> str | None:
    return store.error  # read through a call: mypy would keep an earlier narrowing of ``store.error``


def _on_disk(store: UserRefNumStore) -> int:
    return int(json.loads(store.path.read_text())["reserved"])


def test_wait_for_prefetch_when_the_next_job_is_posted_before_the_last_one_is_marked_done_then_waits_for_it(
    tmp_path: Path, disk: Disk, gate: Gate
) -> None:
    store = _store(tmp_path)
    assert [store.next() for _ in range(4)] == [1, 2, 3, 4]  # 1..10 reserved on this thread
    gate.armed = True
    assert store.next() == 5  # posts job A: 11..20
    assert gate.at_set.wait(10)  # A is written and the job cleared; its done event not set yet
    assert _on_disk(store) == 20 and store.last_issued == 5
    disk.hang = True
    assert [store.next() for _ in range(10)] == list(range(6, 16))  # 15 posts job B: 21..30
    gate.proceed.set()  # A's done event is set now, B's write starts and hangs
    assert disk.hanging.wait(10)

    store._wait_for_prefetch()  # must return only once B is on disk

    assert disk.completed == 3 and _on_disk(store) == 30
    assert store.counter.reserved == 30


def test_next_when_the_prefetch_point_comes_while_a_write_is_in_flight_then_prefetched_once_it_is_done(
    tmp_path: Path, disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    assert [store.next() for _ in range(4)] == [1, 2, 3, 4]
    disk.hang = True
    store._post(store.counter.reserved)  # a write in flight (as ``retry`` posts one) when the prefetch point comes
    assert disk.hanging.wait(10)
    assert store.next() == 5  # the prefetch point: the writer is busy, so the prefetch is tried again at 6
    disk.hang = False
    disk.release.set()
    assert store._job_done.wait(10)
    assert store.next() == 6  # posts the prefetch of 11..20 now
    assert store._job_done.wait(10)
    assert _on_disk(store) == 20
    writes = disk.completed
    assert [store.next() for _ in range(5)] == [7, 8, 9, 10, 11]  # 11 was reserved already: no write here
    assert disk.completed == writes
    assert _on_disk(store) >= store.last_issued


def test_next_when_a_prefetch_failed_then_no_number_above_the_file_and_the_retry_resumes_prefetching(
    tmp_path: Path, disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    assert [store.next() for _ in range(4)] == [1, 2, 3, 4]

    def full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(refstore, "write_file_atomically", full)
    assert store.next() == 5  # the prefetch of 11..20 fails in the background
    assert store._job_done.wait(10)
    assert store.error is not None and store.counter.reserved == 10 == _on_disk(store)
    assert [store.next() for _ in range(5)] == [6, 7, 8, 9, 10]
    assert store.next() == 0  # 11 is not on file: nothing handed out
    monkeypatch.setattr(refstore, "write_file_atomically", disk)
    store.retry(0)
    store.retry(RETRY_INTERVAL_NS)  # posts the block 11..20 the next number needs
    assert store._job_done.wait(10)
    assert _error(store) is None and _on_disk(store) == 20
    numbers = [store.next() for _ in range(10)]
    assert numbers == list(range(11, 21))
    assert store._job_done.wait(10)
    assert _on_disk(store) == 30  # the prefetch point of 11..20 (15) posted 21..30 again
