"""UserRefNum store after a failed write: retried in the background at most once a second, never a number reused."""

from __future__ import annotations

import errno
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from model.clock import FakeClock
from model.order import Order
from model.send_result import Refused, Sent
from model.venue_events import VenueState
from tests.ouch.harness import PX, Link, make_order
from venues.atomic_file import write_file_atomically
from venues.ouch import refstore
from venues.ouch.refstore import RETRY_INTERVAL_NS, UserRefNumStore

DAY = "2024-05-01"
SECOND = 1_000_000_000


class Disk:
    """``write_file_atomically`` as the store calls it, counting attempts; ``full`` makes each fail (ENOSPC).

    Each attempt records the thread it ran on; while ``hang`` is set, an attempt first waits for ``release``.
    """

    def __init__(self, real: Callable[[Path, bytes], None]) -> None:
        self.real = real
        self.full = False
        self.attempts = 0
        self.threads: list[threading.Thread] = []
        self.hang = False
        self.hanging = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: Path, data: bytes) -> None:
        self.attempts += 1
        self.threads.append(threading.current_thread())
        if self.hang:
            self.hanging.set()
            self.release.wait(10)
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real(path, data)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    fake = Disk(write_file_atomically)
    monkeypatch.setattr(refstore, "write_file_atomically", fake)  # refstore is interpreted (not in obs.native)
    return fake


def _store(path: Path, *, block: int = 2, prefetch: bool = False) -> UserRefNumStore:
    store = UserRefNumStore(path, "nasdaq", today=lambda: DAY, block=block, prefetch=prefetch)
    store.wait_limit = 10.0  # a write that lands is waited for, however loaded the machine
    return store


def _error(store: UserRefNumStore) -> str | None:
    return store.error  # read through a call: mypy would keep an earlier narrowing of ``store.error``


def _on_disk(store: UserRefNumStore) -> int:
    return int(json.loads(store.path.read_text())["reserved"])


def _written(store: UserRefNumStore) -> None:
    """Wait (bounded) until the background writer has finished the job posted last."""
    assert store._job_done.wait(10), "the background write did not finish"


def _up(tmp_path: Path, *, heartbeat_interval_ms: int = 1_000, server_timeout_ms: int = 5_000) -> Link:
    link = Link(
        tmp_path,
        clock=FakeClock(),
        heartbeat_interval_ms=heartbeat_interval_ms,
        server_timeout_ms=server_timeout_ms,
    )
    link.connect()
    assert link.venue.state is VenueState.UP
    return link


def _block_used_then_disk_full(link: Link, disk: Disk, first: Order) -> None:
    """Send ``first``, use up the block 1..50 (the next order needs a write), then make the disk fail."""
    link.send_new(first)
    link.store.ensure_above(50)
    disk.full = True


def test_retry_when_inside_the_interval_then_nothing_posted_and_after_it_the_writer_reserves_the_needed_block(
    tmp_path: Path, disk: Disk
) -> None:
    store = _store(tmp_path, block=2)
    assert [store.next(), store.next()] == [1, 2]
    disk.full = True
    assert store.next() == 0  # 3 is past the block on file: nothing handed out
    assert "No space left" in (_error(store) or "")
    attempts = disk.attempts
    t0 = 5 * SECOND
    assert not store.retry(t0)  # the first call after the failure starts the interval: nothing posted
    assert not store.retry(t0 + RETRY_INTERVAL_NS - 1)
    assert disk.attempts == attempts
    assert not store.retry(t0 + RETRY_INTERVAL_NS)  # one write posted: refused while it is pending
    _written(store)
    assert disk.attempts == attempts + 1 and _error(store) is not None  # the disk still full
    assert not store.retry(t0 + RETRY_INTERVAL_NS + RETRY_INTERVAL_NS // 2)
    assert disk.attempts == attempts + 1
    assert store.counter.reserved == 2 and store.last_issued == 2
    disk.full = False
    assert not store.retry(t0 + 2 * RETRY_INTERVAL_NS - 1)  # still inside the interval of the last post
    assert disk.attempts == attempts + 1
    assert not store.retry(t0 + 2 * RETRY_INTERVAL_NS)  # posted: the answer is still no until it is written
    _written(store)
    assert _error(store) is None
    assert store.retry(t0 + 2 * RETRY_INTERVAL_NS)  # error clear: yes, nothing posted
    assert _on_disk(store) == store.counter.reserved == 4  # the next block, on disk before any of it is used
    assert [store.next(), store.next()] == [3, 4]
    assert store.retry(t0)  # nothing to retry: no write
    assert disk.attempts == attempts + 2
    assert [thread.name for thread in disk.threads[attempts:]] == ["userrefnum-prefetch"] * 2


def test_retry_when_state_dir_replaced_by_a_file_then_recovers_once_it_is_a_directory_again(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    store = _store(state_dir, block=2)
    assert [store.next(), store.next()] == [1, 2]
    saved = store.path.read_bytes()
    for path in state_dir.iterdir():
        path.unlink()
    state_dir.rmdir()
    state_dir.write_text("")  # a real path that cannot be written (ENOTDIR/EEXIST), whoever runs the test
    assert store.next() == 0
    assert not store.retry(0) and not store.retry(RETRY_INTERVAL_NS)
    _written(store)
    assert _error(store) is not None  # the directory is still a file
    state_dir.unlink()
    state_dir.mkdir()
    (state_dir / store.path.name).write_bytes(saved)
    assert not store.retry(2 * RETRY_INTERVAL_NS)
    _written(store)
    assert store.retry(2 * RETRY_INTERVAL_NS)
    assert store.next() == 3
    assert _on_disk(store) == 4


def test_check_order_when_store_failing_then_refused_until_the_background_write_succeeded(
    tmp_path: Path, disk: Disk, caplog: pytest.LogCaptureFixture
) -> None:
    link = _up(tmp_path)
    venue, store, clock = link.venue, link.store, link.clock
    assert link.send_new(make_order(1)) == "1"
    store.ensure_above(50)  # the block 1..50 is used up: the next order needs a write
    disk.full = True
    result = venue.send_new(make_order(2))
    assert isinstance(result, Refused) and result.code == "OUCH_REFNUM_STORE", result
    attempts = disk.attempts
    for _ in range(3):  # each order inside the interval: one refusal each, nothing posted
        clock.advance(RETRY_INTERVAL_NS // 4)
        verdict = venue.check_order(make_order(3))
        assert isinstance(verdict, Refused) and verdict.code == "OUCH_REFNUM_STORE", verdict
        assert "No space left" in verdict.text
    assert disk.attempts == attempts and store._job is None
    disk.full = False
    clock.advance(RETRY_INTERVAL_NS // 4)  # a second after the first refusal
    with caplog.at_level(logging.WARNING, logger="venues.ouch.refstore"):
        verdict = venue.check_order(make_order(4))  # the write is posted; this order is refused, as before
        assert isinstance(verdict, Refused) and verdict.code == "OUCH_REFNUM_STORE", verdict
        _written(store)
        assert disk.attempts == attempts + 1
        assert venue.check_order(make_order(4)) is None
        assert venue.send_new(make_order(4)) == Sent("51")
        assert venue.check_order(make_order(5)) is None
        assert venue.send_new(make_order(5)) == Sent("52")
    recovered = [r for r in caplog.records if "again" in r.getMessage()]
    assert len(recovered) == 1  # logged once on recovery, not per order
    assert _error(store) is None and _on_disk(store) >= 52
    assert disk.threads[attempts].name == "userrefnum-prefetch"
    restarted = _store(tmp_path)
    assert restarted.next() > 52  # nothing handed out is handed out again after a restart


def test_check_replace_when_store_failing_then_refused_until_the_background_write_succeeded(
    tmp_path: Path, disk: Disk
) -> None:
    link = _up(tmp_path)
    venue, store, clock = link.venue, link.store, link.clock
    order = make_order(7)
    _block_used_then_disk_full(link, disk, order)
    refused = venue.send_replace(order, 200, PX)
    assert isinstance(refused, Refused) and refused.code == "OUCH_REFNUM_STORE", refused
    disk.full = False
    verdict = venue.check_replace(order, 200, PX)
    assert isinstance(verdict, Refused) and verdict.code == "OUCH_REFNUM_STORE", verdict
    clock.advance(RETRY_INTERVAL_NS)
    refused = venue.send_replace(order, 200, PX)  # posts the write: refused while it is pending
    assert isinstance(refused, Refused) and refused.code == "OUCH_REFNUM_STORE", refused
    _written(store)
    assert venue.send_replace(order, 200, PX) == Sent("51")
    assert _error(store) is None


def test_poll_when_store_failing_then_retried_with_no_order_arriving(tmp_path: Path, disk: Disk) -> None:
    link = _up(tmp_path, heartbeat_interval_ms=5_000, server_timeout_ms=15_000)  # the session waits longer
    store, clock = link.store, link.clock
    _block_used_then_disk_full(link, disk, make_order(1))
    assert isinstance(link.venue.send_new(make_order(2)), Refused)
    assert link.venue.poll(clock()) <= RETRY_INTERVAL_NS  # called again within the interval while failing
    attempts = disk.attempts
    disk.full = False
    clock.advance(RETRY_INTERVAL_NS // 2)
    assert link.venue.poll(clock()) <= RETRY_INTERVAL_NS
    assert store._job is None and disk.attempts == attempts
    clock.advance(RETRY_INTERVAL_NS // 2)
    assert link.venue.poll(clock()) <= RETRY_INTERVAL_NS  # posts the write
    _written(store)
    assert _error(store) is None and disk.attempts == attempts + 1
    assert link.venue.poll(clock()) > RETRY_INTERVAL_NS  # recovered: the session's own timers again
    assert _on_disk(store) == store.counter.reserved >= 51
    assert link.send_new(make_order(3)) == "51"


def test_retry_when_a_background_reservation_failed_then_that_block_written_and_the_recovery_line_names_it(
    tmp_path: Path, disk: Disk, caplog: pytest.LogCaptureFixture
) -> None:
    # rev50ops: the retry wrote the current block again (on file already) and logged "again (up to 10)"; the
    # prefetch that followed put 20 in the file, so the line named a block the file no longer held
    caplog.set_level(logging.WARNING, logger="venues.ouch.refstore")
    store = _store(tmp_path, block=10, prefetch=True)
    assert [store.next() for _ in range(4)] == [1, 2, 3, 4]
    disk.full = True
    assert store.next() == 5  # half the block used: the next block's reservation starts in the background
    store._wait_for_prefetch()
    assert _error(store) is not None  # it failed: the adapter refuses new orders from here
    assert store.counter.reserved == _on_disk(store) == 10
    disk.full = False
    assert not store.retry(0)
    assert not store.retry(RETRY_INTERVAL_NS)  # the failed prefetch's block, posted to be written
    _written(store)
    assert _error(store) is None
    assert store.counter.reserved == _on_disk(store) == 20
    assert f"UserRefNum reservation persisted to {store.path} again (up to 20)" in caplog.text
    writes = disk.attempts
    assert [store.next() for _ in range(6)] == [6, 7, 8, 9, 10, 11]
    assert store.counter.reserved == _on_disk(store) == 20 and disk.attempts == writes  # no write needed for them
    assert store.counter.prefetch_at == 15  # the next prefetch from half the block written
    assert _store(tmp_path, block=10).next() > 11


def test_orders_and_polls_when_store_failing_then_the_loop_thread_never_writes(tmp_path: Path, disk: Disk) -> None:
    link = _up(tmp_path)
    venue, store, clock = link.venue, link.store, link.clock
    order = make_order(1)
    _block_used_then_disk_full(link, disk, order)
    assert isinstance(venue.send_new(make_order(2)), Refused)  # this write is the order's own (as before)
    attempts = disk.attempts
    for _ in range(3):  # an order, a replace and a poll, each after an interval: each posts a failing write
        clock.advance(RETRY_INTERVAL_NS)
        assert isinstance(venue.check_order(make_order(3)), Refused)
        _written(store)
        clock.advance(RETRY_INTERVAL_NS)
        assert isinstance(venue.check_replace(order, 200, PX), Refused)
        _written(store)
        clock.advance(RETRY_INTERVAL_NS)
        venue.poll(clock())
        _written(store)
    assert disk.attempts == attempts + 9
    loop = threading.current_thread()
    assert all(thread is not loop and thread.name == "userrefnum-prefetch" for thread in disk.threads[attempts:])


def test_check_new_and_poll_when_the_retried_write_hangs_then_refused_at_once(tmp_path: Path, disk: Disk) -> None:
    link = _up(tmp_path)
    venue, store, clock = link.venue, link.store, link.clock
    _block_used_then_disk_full(link, disk, make_order(1))
    assert isinstance(venue.send_new(make_order(2)), Refused)
    attempts = disk.attempts
    disk.full = False
    disk.hang = True  # a hung NFS mount: the next write blocks until released
    try:
        clock.advance(RETRY_INTERVAL_NS)
        assert isinstance(venue.check_order(make_order(3)), Refused)  # posts the write
        assert disk.hanging.wait(10)  # the writer is inside the write
        for _ in range(3):  # more intervals pass: refused at once, nothing more posted while it hangs
            clock.advance(RETRY_INTERVAL_NS)
            verdict = venue.check_new(3, "AAPL", 100, PX, make_order(3).tif, make_order(3).ord_type)
            assert isinstance(verdict, Refused) and verdict.code == "OUCH_REFNUM_STORE", verdict
            assert venue.poll(clock()) <= RETRY_INTERVAL_NS
        assert not store._job_done.is_set()  # they returned while the write was still hanging
        assert disk.attempts == attempts + 1
    finally:
        disk.hang = False
        disk.release.set()
    _written(store)
    assert _error(store) is None
    assert venue.check_order(make_order(4)) is None
    assert venue.send_new(make_order(4)) == Sent("51")


def test_bind_when_a_new_day_after_a_retried_write_then_numbering_restarts_on_the_new_day(
    tmp_path: Path, disk: Disk
) -> None:
    days = [DAY]
    store = UserRefNumStore(tmp_path, "nasdaq", today=lambda: days[0], block=2)
    store.wait_limit = 10.0  # a write that lands is waited for, however loaded the machine
    store.bind("S1")
    assert [store.next(), store.next()] == [1, 2]
    disk.full = True
    assert store.next() == 0
    disk.full = False
    assert not store.retry(0) and not store.retry(RETRY_INTERVAL_NS)  # posted (with the old day's generation)
    days[0] = "2024-05-02"
    store.bind("S2")  # waits for the write in flight, then restarts: the old day's write cannot land after it
    _written(store)
    assert _error(store) is None
    assert json.loads(store.path.read_text()) == {"day": "2024-05-02", "session": "S2", "reserved": 0}
    assert [store.next(), store.next()] == [1, 2]
    assert _on_disk(store) == 2
