"""A UserRefNum store whose background write hangs (a dying disk, a hung NFS mount) never blocks the event loop.

The loop waits for a write at most ``wait_limit`` seconds; past it, the number is not handed out (the order is
refused ``OUCH_REFNUM_STORE``), and once the write lands, orders flow again. The hang is injected: the disk write
waits for the test's ``release``, which the test sets only after the loop's call returned (a store that waited
without a bound would wait for the disk's own safety timeout, then hand out a number).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from model.clock import FakeClock
from model.enums import RejectSource
from model.send_result import Refused, Sent
from model.venue_events import VenueState
from tests.ouch.harness import Link, make_order
from venues.atomic_file import write_file_atomically
from venues.ouch import refstore
from venues.ouch.adapter import OuchVenue
from venues.ouch.refstore import RETRY_INTERVAL_NS, UserRefNumStore

DAY = "2024-05-01"
HEALTHY = 10.0
"""The wait bound while the disk is healthy (a write that lands is waited for, however loaded the machine)."""
HUNG = 0.001
"""The wait bound once the disk hangs (the write never lands before the call returns, whatever the bound)."""


class Disk:
    """``write_file_atomically`` as the store calls it; while ``hang``, a write waits for ``release`` first.

    Records the thread of each write.
    """

    def __init__(self, real: Callable[[Path, bytes], None]) -> None:
        self.real = real
        self.hang = False
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.threads: list[threading.Thread] = []

    def __call__(self, path: Path, data: bytes) -> None:
        self.threads.append(threading.current_thread())
        if self.hang:
            self.hanging.set()
            assert self.release.wait(5), "the test never released the write"
        self.real(path, data)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    fake = Disk(write_file_atomically)
    monkeypatch.setattr(refstore, "write_file_atomically", fake)  # refstore is interpreted (not in obs.native)
    yield fake
    fake.release.set()  # never leave the writer thread hanging


def _store(path: Path, *, block: int = 10) -> UserRefNumStore:
    store = UserRefNumStore(path, "nasdaq", today=lambda: DAY, block=block, prefetch=True)
    store.wait_limit = HEALTHY
    return store


def _error(store: UserRefNumStore) -> str | None:
    return store.error  # read through a call: mypy would keep an earlier narrowing of ``store.error``


def _on_disk(store: UserRefNumStore) -> dict[str, object]:
    state: dict[str, object] = json.loads(store.path.read_text())
    return state


def _written(store: UserRefNumStore) -> None:
    assert store._job_done.wait(10), "the background write did not finish"


def _hang_the_next_block(store: UserRefNumStore, disk: Disk) -> None:
    """Use the block 1..10 up to its prefetch point; the prefetch of 11..20 hangs in the disk write."""
    assert [store.next() for _ in range(4)] == [1, 2, 3, 4]
    disk.hang = True
    store.wait_limit = HUNG
    assert store.next() == 5  # posts 11..20
    assert disk.hanging.wait(10)
    assert [store.next() for _ in range(5)] == [6, 7, 8, 9, 10]


def test_next_when_the_prefetch_write_hangs_then_no_number_and_the_numbers_resume_once_it_lands(
    tmp_path: Path, disk: Disk, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path)
    _hang_the_next_block(store, disk)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.refstore"):
        assert store.next() == 0  # 11 is not on file and the write has not landed: nothing handed out
        assert store.next() == 0
        assert "not written within" in (_error(store) or ""), _error(store)
        assert store.last_issued == 10
        assert not store._job_done.is_set()  # returned while the write was still hanging
        disk.hang = False
        disk.release.set()
        _written(store)
        assert _error(store) is None  # the write landed: no restart, no retry interval needed
        assert [store.next() for _ in range(3)] == [11, 12, 13]
    stalls = [r for r in caplog.records if "not written within" in r.getMessage()]
    assert len(stalls) == 1 and stalls[0].levelno == logging.ERROR  # once per stall, not per call
    assert len([r for r in caplog.records if "again" in r.getMessage()]) == 1  # and the recovery once
    loop = threading.current_thread()
    assert disk.threads and all(thread is not loop for thread in disk.threads)  # every block in the background
    assert _on_disk(store)["reserved"] == 20


def test_bind_when_a_write_hangs_then_returns_and_the_new_session_is_written_once_the_disk_is_back(
    tmp_path: Path, disk: Disk
) -> None:
    store = _store(tmp_path)
    store.bind("S1")
    _hang_the_next_block(store, disk)

    store.bind("S2")  # a new session the same day: the numbers continue; the write of S1's 11..20 is void

    assert store.session == "S2" and store.last_issued == 10
    assert store.next() == 0  # nothing of S2 is on file yet
    assert _error(store) is not None
    disk.hang = False
    disk.release.set()
    _written(store)
    assert store.counter.reserved == 10  # S1's reservation landed but allows nothing of S2
    assert _on_disk(store)["session"] == "S1"
    assert not store.retry(0)
    assert not store.retry(RETRY_INTERVAL_NS)  # posts S2's first block
    _written(store)
    assert _error(store) is None
    assert _on_disk(store) == {"day": DAY, "session": "S2", "reserved": 20}
    store.wait_limit = HEALTHY
    assert [store.next() for _ in range(3)] == [11, 12, 13]


def _prefetching_link(tmp_path: Path) -> Link:
    link = Link(tmp_path, clock=FakeClock())
    link.store = _store(tmp_path)
    link.venue = OuchVenue(link.config, link.clock, store=link.store)
    link.venue.event_sink = link.events.append
    link.connect()
    assert link.venue.state is VenueState.UP
    return link


def test_orders_when_the_prefetch_write_hangs_then_refused_at_once_and_accepted_again_once_it_lands(
    tmp_path: Path, disk: Disk
) -> None:
    link = _prefetching_link(tmp_path)
    venue, store, clock = link.venue, link.store, link.clock
    for order_id in range(1, 5):
        assert link.send_new(make_order(order_id)) == str(order_id)
    disk.hang = True
    store.wait_limit = HUNG
    assert link.send_new(make_order(5)) == "5"  # posts 11..20, which hangs
    assert disk.hanging.wait(10)
    for order_id in range(6, 11):
        assert link.send_new(make_order(order_id)) == str(order_id)

    refused = venue.send_new(make_order(11))  # 11 needs the write that hangs
    assert isinstance(refused, Refused) and refused.code == "OUCH_REFNUM_STORE", refused
    assert refused.source is RejectSource.GATEWAY  # told as a GATEWAY reject: nothing reached the venue
    assert "new orders stopped" in refused.text and "not written within" in refused.text
    for _ in range(3):  # refused at once, also after a retry interval (the write in flight is the attempt)
        clock.advance(RETRY_INTERVAL_NS)
        verdict = venue.check_order(make_order(12))
        assert isinstance(verdict, Refused) and verdict.code == "OUCH_REFNUM_STORE", verdict
        assert venue.poll(clock()) <= RETRY_INTERVAL_NS
    status = venue.status()
    assert "not written within" in str(status["user_ref_num_store_error"])
    assert status["user_ref_num_store_stalls"] == 1
    assert not store._job_done.is_set()  # all of it while the write was still hanging

    disk.hang = False
    disk.release.set()
    _written(store)
    assert venue.check_order(make_order(12)) is None  # no restart: the landed write lets orders in
    assert venue.send_new(make_order(12)) == Sent("11")
    assert venue.status()["user_ref_num_store_error"] is None
    assert int(str(_on_disk(store)["reserved"])) >= 11
