"""UserRefNum store on real files: blocks, restarts, crashes, new day, new session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from venues.ouch.refstore import RefStoreError, UserRefNumStore

DAY = "2024-05-01"


def _store(path: Path, day: str = DAY, block: int = 100) -> UserRefNumStore:
    return UserRefNumStore(path, "nasdaq", today=lambda: day, block=block)


def test_next_when_fresh_directory_then_starts_at_1_and_reserves_a_block_on_disk(tmp_path: Path) -> None:
    store = _store(tmp_path / "state")
    assert [store.next() for _ in range(3)] == [1, 2, 3]
    assert json.loads(store.path.read_text()) == {"day": DAY, "session": "", "reserved": 100}


def test_next_when_many_numbers_then_disk_written_once_per_block(tmp_path: Path) -> None:
    store = _store(tmp_path, block=100)
    numbers = [store.next() for _ in range(250)]
    assert numbers == list(range(1, 251))
    assert store.writes == 3
    assert json.loads(store.path.read_text())["reserved"] == 300


def test_new_store_when_previous_crashed_mid_block_then_never_reissues_a_number(tmp_path: Path) -> None:
    first = _store(tmp_path)
    first.bind("SESS1")
    handed_out = [first.next() for _ in range(42)]
    del first  # no shutdown hook: a crash
    second = _store(tmp_path)
    assert second.session == "SESS1"
    again = [second.next() for _ in range(5)]
    assert min(again) > max(handed_out)
    assert again == sorted(again)
    second.bind("SESS1")
    assert second.next() > again[-1]


def test_new_store_when_crash_right_at_a_block_boundary_then_still_above(tmp_path: Path) -> None:
    store = _store(tmp_path, block=10)
    issued = [store.next() for _ in range(10)]
    assert store.next() == 11
    restarted = _store(tmp_path, block=10)
    assert restarted.next() > 11 > max(issued)


def test_new_store_when_new_trading_day_then_starts_again_at_1(tmp_path: Path) -> None:
    old = _store(tmp_path, day="2024-04-30")
    old.bind("SESS0")
    for _ in range(5):
        old.next()
    today = _store(tmp_path, day=DAY)
    assert today.next() == 1
    assert json.loads(today.path.read_text())["day"] == DAY


def test_bind_when_day_changes_while_running_then_restarts_at_1(tmp_path: Path) -> None:
    day = [DAY]
    store = UserRefNumStore(tmp_path, "nasdaq", today=lambda: day[0], block=10)
    store.bind("S1")
    store.next()
    day[0] = "2024-05-02"
    store.bind("S2")
    assert store.next() == 1


def test_bind_when_session_id_differs_the_same_day_then_numbers_continue(tmp_path: Path) -> None:
    """OUCH 5.0 2.2: UserRefNums increase throughout the trading day, across sessions (ouchstandby57: was 1)."""
    store = _store(tmp_path)
    store.bind("SESS1")
    assert [store.next() for _ in range(3)] == [1, 2, 3]
    store.bind("SESS1")
    assert store.next() == 4
    store.bind("SESS2")
    assert store.next() == 5
    assert json.loads(store.path.read_text())["session"] == "SESS2"
    assert _store(tmp_path).next() > 5  # a restart in SESS2 goes on above too


def test_bind_when_session_was_unknown_then_numbers_already_issued_are_kept(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.next()
    store.bind("SESS1")
    assert store.next() == 2
    assert _store(tmp_path).session == "SESS1"


def test_ensure_above_when_recovery_reports_a_higher_number_then_continues_above_it(tmp_path: Path) -> None:
    store = _store(tmp_path, block=10)
    store.ensure_above(57)
    assert store.next() == 58
    assert json.loads(store.path.read_text())["reserved"] == 67
    store.ensure_above(3)
    assert store.next() == 59


def test_load_when_state_file_corrupt_then_refuses_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "nasdaq.userrefnum.json").write_text("{not json")
    with pytest.raises(RefStoreError, match="corrupt"):
        _store(tmp_path)


def test_reserve_when_writes_succeed_then_no_temp_files_left(tmp_path: Path) -> None:
    store = _store(tmp_path, block=5)
    for _ in range(23):
        store.next()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nasdaq.userrefnum.json"]


def test_reserve_when_state_dir_unusable_then_error_reported_and_no_number_past_the_block_on_file(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    store = _store(state_dir, block=2)
    assert [store.next() for _ in range(2)] == [1, 2]
    saved = store.path.read_bytes()
    shutil.rmtree(state_dir)
    state_dir.write_text("")  # the directory is gone and its path is now a file
    assert [store.next() for _ in range(3)] == [0, 0, 0]  # nothing handed out: 3 is not on file
    assert store.error is not None
    assert "cannot persist" in store.error
    assert (store.last_issued, store.counter.reserved) == (2, 2)
    state_dir.unlink()
    state_dir.mkdir()
    (state_dir / "nasdaq.userrefnum.json").write_bytes(saved)
    assert store.next() == 3  # the disk is back: the next write succeeds and clears the error
    assert store.error is None


def test_restart_when_a_reservation_failed_then_no_number_handed_out_before_is_handed_out_again(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path, block=2)
    issued = [store.next() for _ in range(2)]
    real_path = store.path
    (tmp_path / "blocker").write_text("")
    store.path = tmp_path / "blocker" / real_path.name  # ENOTDIR: the reservation of 3..4 fails
    issued += [n for n in (store.next() for _ in range(3)) if n]
    assert store.error is not None
    restarted = _store(tmp_path, block=2)  # the file on disk still says 2
    assert restarted.next() > max(issued)


def test_reserve_when_state_path_is_a_directory_then_error_reported(tmp_path: Path) -> None:
    (tmp_path / "nasdaq.userrefnum.json").mkdir()
    with pytest.raises(RefStoreError):
        _store(tmp_path)


def test_counter_when_numbers_handed_out_then_it_holds_the_store_state(tmp_path: Path) -> None:
    store = _store(tmp_path, block=10)
    assert [store.next() for _ in range(3)] == [1, 2, 3]
    counter = store.counter  # what the OUCH adapter reads and advances per order (compiled: a native class)
    assert (counter.next, counter.reserved, counter.error) == (4, 10, None)
    counter.next = 8  # the adapter's inline next() within the reserved block
    assert store.next() == 8
    assert store.last_issued == 8
    store.error = "disk full"  # the store's error is the counter's
    assert counter.error == "disk full"


def test_floor_notes_whose_the_order_ids_were_across_a_restart_and_another_hosts_id_ends_it(tmp_path: Path) -> None:
    """ouchpf61: ``own_ids`` holds while every raise of ``order_ids`` was this host's own lost Enter's."""
    store = _store(tmp_path)
    store.bind("SESS1")
    store.next()
    assert store.floor(0, 2, own=True)
    assert (store.order_ids, store.own_ids) == (2, True)
    assert json.loads(store.path.read_text())["own_ids"] is True
    again = _store(tmp_path)  # a restart reads it back
    assert (again.order_ids, again.own_ids) == (2, True)
    assert again.floor(0, 5, own=True)  # another own raise keeps it
    assert again.own_ids
    assert again.floor(0, 0, own=False)  # another host's id at or below the floor: written, for the day
    assert (again.order_ids, again.own_ids) == (5, False)
    assert "own_ids" not in json.loads(again.path.read_text())
    assert again.floor(0, 9, own=True)  # an own raise after another host's: still another host's day
    assert not _store(tmp_path).own_ids


def test_floor_of_another_hosts_ids_first_then_an_own_raise_stays_another_hosts(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.bind("SESS1")
    store.next()
    store.floor(0, 3)  # another host's (no ``own``), as before ouchpf61
    store.floor(0, 7, own=True)
    assert (store.order_ids, store.own_ids) == (7, False)
    store.mark_ask(other=500, above=600, order_ids=8)
    assert not store.own_ids


def test_mark_ask_with_another_hosts_ids_ends_own_ids_on_file(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.bind("SESS1")
    store.next()
    store.floor(0, 2, own=True)
    assert store.mark_ask(other=500, above=600, order_ids=2)  # the same id, now another host's: written
    assert not store.own_ids
    assert not _store(tmp_path).own_ids


def test_floor_when_only_settled_then_this_hosts_own_raise_stays_its_own(tmp_path: Path) -> None:
    """An Account Query answered (or timed out) names no id: ``own_ids`` stays as the raises left it (rev62diff)."""
    store = _store(tmp_path, block=10)
    store.bind("SESS1")
    store.next()
    assert store.floor(0, 2, own=True)  # this host's own Enter the journal lost raised the order ids
    assert (store.order_ids, store.own_ids) == (2, True)
    store.floor(settled=True)
    assert store.own_ids
    assert _store(tmp_path, block=10).own_ids  # and on file
    store.floor(0, 3)  # another host's ClOrdID: from then on another host's
    store.floor(settled=True)
    assert (store.own_ids, _store(tmp_path, block=10).own_ids) == (False, False)
