"""UserRefNum store with ``prefetch``: the next block is reserved in the background, never handed out early."""

from __future__ import annotations

import json
import time
from pathlib import Path

from venues.ouch.refstore import UserRefNumStore

DAY = "2024-05-01"


def _store(path: Path, *, day: str = DAY, block: int = 10) -> UserRefNumStore:
    store = UserRefNumStore(path, "nasdaq", today=lambda: day, block=block, prefetch=True)
    store.wait_limit = 10.0  # a write that lands is waited for, however loaded the machine
    return store


def _on_disk(store: UserRefNumStore) -> int:
    return int(json.loads(store.path.read_text())["reserved"])


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 15
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def test_next_when_prefetch_then_every_number_is_durably_reserved_before_it_is_handed_out(tmp_path: Path) -> None:
    store = _store(tmp_path, block=10)
    for expected in range(1, 301):
        number = store.next()
        assert number == expected
        assert _on_disk(store) >= number


def test_next_when_half_a_block_used_then_next_block_reserved_in_the_background(tmp_path: Path) -> None:
    store = _store(tmp_path, block=10)
    for _ in range(6):  # the 5th number (10 - 10 // 2) posts the next reservation
        store.next()
    _wait_until(lambda: store.writes == 2, "the background reservation of 11..20")
    assert _on_disk(store) == 20
    assert [store.next() for _ in range(5)] == [7, 8, 9, 10, 11]
    assert store.writes == 2  # 11 was reserved already: no write on the caller's thread


def test_new_store_when_crash_after_prefetch_then_starts_above_prefetched_block(tmp_path: Path) -> None:
    first = _store(tmp_path, block=10)
    issued = [first.next() for _ in range(6)]
    _wait_until(lambda: _on_disk(first) == 20, "the background reservation")
    restarted = UserRefNumStore(tmp_path, "nasdaq", today=lambda: DAY, block=10)
    assert restarted.next() == 21 > max(issued)


def test_bind_when_new_session_during_prefetch_then_numbers_continue_and_old_reservation_is_void(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path, block=10)
    store.bind("SESS1")
    for _ in range(6):
        store.next()
    store.bind("SESS2")  # waits for the writer; the same day's numbers continue in the new session (ouchstandby57)
    assert store.session == "SESS2"
    assert store.next() == 7
    state = json.loads(store.path.read_text())
    assert state["session"] == "SESS2"
    assert state["reserved"] >= 7
