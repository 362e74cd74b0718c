"""The owed mark's all-clear only once the file holds the state a restart reads (rev60merge2 HIGH 2).

While the UserRefNum store is failing the loop does not write: ``retry`` posts the state to the background writer,
and that write landing clears ``error``. A mark (``mark_ask``: another host's higher UserRefNum and ClOrdID) or a
floor (``floor``: ClOrdIDs) changed while that write was in flight was in memory only; the write landed with the
older state, ``error`` cleared, no retry followed, and ``owed_on_file`` said True (``ask`` on file, or the
reservation): the adapter logged the all-clear although a restart would read the older mark. Now ``owed_on_file``
compares the whole state the next login reads, and the write in flight is void (``retry`` writes the current state).

A real store on a real directory; only ``write_file_atomically`` is replaced: failing, then holding the writer
thread's write until the test releases it (bounded waits).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from venues.atomic_file import write_file_atomically
from venues.ouch import refstore
from venues.ouch.refstore import RETRY_INTERVAL_NS, UserRefNumStore

DAY = "2026-12-07"


class Disk:
    """``write_file_atomically`` as the store calls it: raises EIO while ``broken``; the writer thread's writes wait
    for ``release`` while ``hold`` (``held`` set when one waits)."""

    def __init__(self, real: Callable[[Path, bytes], None]) -> None:
        self.real = real
        self.broken = False
        self.hold = False
        self.held = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: Path, data: bytes) -> None:
        if self.broken:
            raise OSError(5, "Input/output error")
        if self.hold and threading.current_thread() is not threading.main_thread():
            self.held.set()
            assert self.release.wait(10), "the test never released the write"
        self.real(path, data)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    fake = Disk(write_file_atomically)
    monkeypatch.setattr(refstore, "write_file_atomically", fake)
    return fake


def _failing(store: UserRefNumStore) -> bool:
    return store.error is not None


def _on_file(store: UserRefNumStore) -> dict[str, object]:
    state = json.loads(store.path.read_bytes())
    assert isinstance(state, dict)
    return state


def _retry_in_flight(store: UserRefNumStore, disk: Disk, now: int) -> int:
    """The disk works again; ``retry`` posts the state and its write is held in the writer thread."""
    disk.broken = False
    disk.hold = True
    store.write_failed_at(now)
    now += RETRY_INTERVAL_NS
    assert not store.retry(now)
    assert disk.held.wait(10), "the retry's write did not start"
    return now


def _land(store: UserRefNumStore, disk: Disk) -> None:
    done = store._job_done
    disk.hold = False
    disk.release.set()
    assert done.wait(10), "the retry's write did not finish"


def test_mark_changed_while_the_retry_write_is_in_flight_is_no_all_clear_and_is_written_next(
    tmp_path: Path, disk: Disk
) -> None:
    store = UserRefNumStore(tmp_path, "OUCH", today=lambda: DAY, block=1000)
    store.bind("SESS1")
    assert store.mark_ask(100, 200, 50)  # a failback replay's first mark: on file
    disk.broken = True
    assert not store.mark_ask(300, 1300, 60)  # the disk breaks: in memory only
    assert _failing(store) and not store.owed_on_file
    now = _retry_in_flight(store, disk, 0)  # its job carries other 300, ClOrdIDs 60
    assert not store.mark_ask(5000, 6000, 4_194_400)  # a later mark of the replay while the job is in flight
    _land(store, disk)
    state = _on_file(store)
    assert (state["other"], state["order_ids"]) == (300, 60)  # the older mark is what a restart would read
    assert not store.owed_on_file, "an all-clear while the file holds the older mark"  # before: True
    assert _failing(store)  # the write was void: the retry goes on
    assert not store.retry(now + RETRY_INTERVAL_NS)
    assert store._job_done.wait(10)
    state = _on_file(store)
    assert (state["ask"], state["other"], state["order_ids"]) == (True, 5000, 4_194_400)
    assert not _failing(store) and store.owed_on_file


def test_settled_floor_with_clordids_changed_while_the_retry_write_is_in_flight_is_no_all_clear(
    tmp_path: Path, disk: Disk
) -> None:
    store = UserRefNumStore(tmp_path, "OUCH", today=lambda: DAY, block=1000)
    store.bind("SESS1")
    assert store.mark_ask(100, 200, 50)
    disk.broken = True
    assert not store.floor(settled=True)  # the Account Query answered: settled in memory, not on file
    assert not store.owed_on_file
    now = _retry_in_flight(store, disk, 0)  # its job: ask cleared, ClOrdIDs 50
    assert not store.floor(0, 4_194_400)  # the other host's ClOrdIDs the answer showed: in memory only
    _land(store, disk)
    assert _on_file(store).get("order_ids") == 50
    assert not store.owed_on_file, "an all-clear while the file lacks the ClOrdIDs"  # before: True
    assert not store.retry(now + RETRY_INTERVAL_NS)
    assert store._job_done.wait(10)
    state = _on_file(store)
    assert state.get("ask", False) is False and state["order_ids"] == 4_194_400
    assert not _failing(store) and store.owed_on_file


def test_retry_write_landing_with_the_state_in_memory_gives_the_all_clear(tmp_path: Path, disk: Disk) -> None:
    """Nothing changed while the write was in flight: it clears ``error`` and the mark is on file (no void)."""
    store = UserRefNumStore(tmp_path, "OUCH", today=lambda: DAY, block=1000)
    store.bind("SESS1")
    disk.broken = True
    assert not store.mark_ask(300, 1300, 60)
    _retry_in_flight(store, disk, 0)
    _land(store, disk)
    assert not _failing(store) and store.owed_on_file
    assert (_on_file(store)["other"], _on_file(store)["order_ids"]) == (300, 60)


def test_same_mark_or_a_settled_floor_while_the_retry_write_is_in_flight_lets_it_land(
    tmp_path: Path, disk: Disk
) -> None:
    """The write in flight carries all a restart needs (the same mark again; the mark a settled floor clears: a
    restart only asks again): it is not voided, its landing ends the failure at once."""
    store = UserRefNumStore(tmp_path, "OUCH", today=lambda: DAY, block=1000)
    store.bind("SESS1")
    disk.broken = True
    assert not store.mark_ask(300, 1300, 60)
    _retry_in_flight(store, disk, 0)
    assert not store.mark_ask(300, 1300, 60)  # the replay names the same number again
    assert not store.floor(settled=True)  # the Account Query answered
    _land(store, disk)
    assert not _failing(store) and store.owed_on_file
    assert _on_file(store)["order_ids"] == 60
