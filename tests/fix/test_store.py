"""The message store contract, run over every backend, plus what only the file store promises."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.fsync import FsyncPolicy
from venues.fix.store import FileStore, MemoryStore, MessageStore
from venues.fix.store.file import GROW_BYTES

BACKENDS = ["memory", "file"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageStore]:
    backend: MessageStore = (
        MemoryStore(5) if request.param == "memory" else FileStore(tmp_path / "s.fixstore", creation_time_ns=5)
    )
    yield backend
    backend.close()


# ---- the shared contract ------------------------------------------------------------------------


def test_open_when_new_store_then_both_numbers_start_at_1(store: MessageStore) -> None:
    assert (store.next_sender_seq, store.next_target_seq, store.creation_time_ns) == (1, 1, 5)
    assert store.get_sent(1, 100) == []


def test_save_sent_when_messages_saved_then_sender_number_moves_past_them_and_readable(
    store: MessageStore,
) -> None:
    store.save_sent(1, b"one")
    store.save_sent(2, b"two")
    assert store.next_sender_seq == 3
    assert store.get_sent(1, 2) == [(1, b"one"), (2, b"two")]


def test_get_sent_when_admin_numbers_skipped_then_only_stored_messages_in_order(store: MessageStore) -> None:
    store.save_sent(1, b"one")
    store.set_next_sender_seq(4)  # 2 and 3 were admin messages
    store.save_sent(4, b"four")
    assert store.get_sent(1, 10) == [(1, b"one"), (4, b"four")]
    assert store.get_sent(2, 3) == []
    assert store.get_sent(4, 4) == [(4, b"four")]
    assert store.next_sender_seq == 5


def test_set_next_target_seq_when_set_then_read_back(store: MessageStore) -> None:
    store.set_next_target_seq(42)
    assert store.next_target_seq == 42


def test_skipped_by_operator_when_set_then_read_back_cleared_and_forgotten_by_a_reset(store: MessageStore) -> None:
    assert store.skipped_by_operator == (0, 0)
    store.set_skipped_by_operator(5, 9)
    assert store.skipped_by_operator == (5, 9)
    store.set_skipped_by_operator(0, 0)
    assert store.skipped_by_operator == (0, 0)
    store.set_skipped_by_operator(5, 12)
    store.reset(77)  # a new numbering: the open orders are asked about for that reason instead
    assert store.skipped_by_operator == (0, 0)


def test_raised_by_operator_when_set_then_read_back_cleared_and_forgotten_by_a_reset(store: MessageStore) -> None:
    assert store.raised_by_operator == (0, 0)
    store.set_raised_by_operator(5, 40)
    assert store.raised_by_operator == (5, 40)
    assert store.skipped_by_operator == (0, 0)  # a mark of its own
    store.set_raised_by_operator(0, 0)
    assert store.raised_by_operator == (0, 0)
    store.set_raised_by_operator(5, 60)
    store.reset(77)  # a new numbering: the requests are asked about for that reason instead
    assert store.raised_by_operator == (0, 0)


def test_lowered_by_operator_when_set_then_read_back_cleared_and_forgotten_by_a_reset(store: MessageStore) -> None:
    assert store.lowered_by_operator == (0, 0)
    store.set_lowered_by_operator(9, 2)
    assert store.lowered_by_operator == (9, 2)
    assert (store.skipped_by_operator, store.raised_by_operator) == ((0, 0), (0, 0))  # a mark of its own
    store.set_lowered_by_operator(0, 0)
    assert store.lowered_by_operator == (0, 0)
    store.set_lowered_by_operator(9, 1)
    store.reset(77)  # a new numbering: the orders are asked about for that reason instead
    assert store.lowered_by_operator == (0, 0)


def test_asked_again_when_set_then_read_back_cleared_and_forgotten_by_a_reset(store: MessageStore) -> None:
    assert store.asked_again == (0, 0)
    store.set_asked_again(6, 9)
    assert store.asked_again == (6, 9)
    store.set_asked_again(0, 0)
    assert store.asked_again == (0, 0)
    store.set_asked_again(6, 12)
    store.reset(77)  # another numbering: those numbers are not its
    assert store.asked_again == (0, 0)


def test_numbering_begun_when_running_on_a_journal_then_a_fresh_store_and_every_reset_note_it(
    store: MessageStore,
) -> None:
    assert store.numbering_begun == ("", 0)
    store.running_on("/j/journal-20240501 1:2")  # created at this start, nothing written yet: its numbering began
    assert store.numbering_begun == ("/j/journal-20240501 1:2", 1)
    store.running_on("/j/journal-20240502 1:3")  # a later journal: the numbering began before it
    assert store.numbering_begun == ("/j/journal-20240501 1:2", 1)
    store.reset(77)
    assert store.numbering_begun == ("/j/journal-20240502 1:3", 1)


def test_save_sent_when_same_number_saved_again_then_latest_wins(store: MessageStore) -> None:
    store.save_sent(1, b"first")
    store.save_sent(1, b"second")
    assert store.get_sent(1, 1) == [(1, b"second")]


def test_reset_when_store_used_then_numbers_back_to_1_messages_gone_and_creation_time_set(
    store: MessageStore,
) -> None:
    store.save_sent(1, b"one")
    store.set_next_target_seq(9)
    store.reset(77)
    assert (store.next_sender_seq, store.next_target_seq, store.creation_time_ns) == (1, 1, 77)
    assert store.get_sent(1, 10) == []
    store.save_sent(1, b"again")
    assert store.get_sent(1, 1) == [(1, b"again")]


def test_get_sent_when_range_empty_or_inverted_then_nothing(store: MessageStore) -> None:
    store.save_sent(1, b"one")
    assert store.get_sent(5, 2) == []
    assert store.get_sent(0, 0) == []


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["send", "admin", "target"]), st.binary(min_size=1, max_size=40)),
        max_size=30,
    )
)
def test_store_when_any_operation_sequence_then_backends_agree(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, bytes]]
) -> None:
    memory = MemoryStore()
    file_store = FileStore(tmp_path_factory.mktemp("agree") / "s.fixstore")
    try:
        for kind, payload in ops:
            for backend in (memory, file_store):
                if kind == "send":
                    backend.save_sent(backend.next_sender_seq, payload)
                elif kind == "admin":
                    backend.set_next_sender_seq(backend.next_sender_seq + 1)
                else:
                    backend.set_next_target_seq(backend.next_target_seq + len(payload))
        assert file_store.get_sent(1, 1_000) == memory.get_sent(1, 1_000)
        assert (file_store.next_sender_seq, file_store.next_target_seq) == (
            memory.next_sender_seq,
            memory.next_target_seq,
        )
    finally:
        file_store.close()


# ---- the file store: survives the process ---------------------------------------------------------


def test_file_store_when_reopened_then_numbers_and_messages_resume(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    first = FileStore(path, creation_time_ns=11)
    first.save_sent(1, b"one")
    first.set_next_sender_seq(3)
    first.save_sent(3, b"three")
    first.set_next_target_seq(17)
    del first  # no close: as if the process was killed (the OS still has the writes)
    second = FileStore(path, creation_time_ns=99)
    assert (second.next_sender_seq, second.next_target_seq, second.creation_time_ns) == (4, 17, 11)
    assert second.get_sent(1, 3) == [(1, b"one"), (3, b"three")]
    second.close()


def test_file_store_when_reopened_then_operator_skip_resumes_until_cleared(tmp_path: Path) -> None:
    """fixfix54: `gateway venue set-seq --next-target` skips the venue's messages; a restart before the logon that
    asks about the open orders must still know it (before, only the adapter's memory had it)."""
    path = tmp_path / "s.fixstore"
    first = FileStore(path)
    first.save_sent(1, b"one")
    first.set_skipped_by_operator(4, 9)
    first.set_next_target_seq(9)
    del first  # killed: the OS still has the writes
    second = FileStore(path)
    assert (second.skipped_by_operator, second.next_target_seq, second.get_sent(1, 1)) == ((4, 9), 9, [(1, b"one")])
    second.set_skipped_by_operator(0, 0)  # asked about
    second.save_sent(2, b"two")
    second.close()
    third = FileStore(path)
    assert (third.skipped_by_operator, third.next_sender_seq) == ((0, 0), 3)
    third.close()


def test_file_store_when_reopened_then_operator_raise_of_our_number_resumes_until_cleared(tmp_path: Path) -> None:
    """fix55: `gateway venue set-seq --next-sender` raises our number past requests the venue will never ask for; a
    restart before the logon that asks about them must still know it (before, only the adapter's memory had it)."""
    path = tmp_path / "s.fixstore"
    first = FileStore(path)
    first.save_sent(1, b"one")
    first.set_raised_by_operator(2, 40)
    first.set_next_sender_seq(40)
    del first  # killed: the OS still has the writes
    second = FileStore(path)
    assert (second.raised_by_operator, second.next_sender_seq, second.get_sent(1, 1)) == ((2, 40), 40, [(1, b"one")])
    second.set_raised_by_operator(0, 0)  # asked about
    second.save_sent(40, b"forty")
    second.close()
    third = FileStore(path)
    assert (third.raised_by_operator, third.next_sender_seq) == ((0, 0), 41)
    third.close()


def test_file_store_when_reopened_then_operator_lowered_target_resumes_until_cleared(tmp_path: Path) -> None:
    """fixlogon56b: `gateway venue set-seq --next-target M --allow-lower-target` restarts the venue's numbering; a
    restart before the logon that asks about the open orders must still know it (the mark comes before the number)."""
    path = tmp_path / "s.fixstore"
    first = FileStore(path, creation_time_ns=100)
    first.save_sent(1, b"one")
    first.set_next_target_seq(9)
    first.set_lowered_by_operator(9, 2)
    first.renumber_inbound(2, 200)
    del first  # killed: the OS still has the writes
    second = FileStore(path)
    assert (second.lowered_by_operator, second.next_target_seq, second.creation_time_ns) == ((9, 2), 2, 200)
    assert second.get_sent(1, 1) == [(1, b"one")]
    second.set_lowered_by_operator(0, 0)  # asked about
    second.set_next_target_seq(3)
    second.close()
    third = FileStore(path)
    assert (third.lowered_by_operator, third.next_target_seq) == ((0, 0), 3)
    third.close()


def test_file_store_when_tail_torn_then_cut_at_last_whole_record(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path)
    store.save_sent(1, b"one")
    store.save_sent(2, b"two" * 20)
    store.close()
    size = path.stat().st_size
    os.truncate(path, size - 5)  # a crash in the middle of the last write
    reopened = FileStore(path)
    assert reopened.truncated_bytes > 0
    assert reopened.next_sender_seq == 2
    assert reopened.get_sent(1, 2) == [(1, b"one")]
    reopened.save_sent(2, b"again")
    reopened.close()
    assert FileStore(path).get_sent(1, 2) == [(1, b"one"), (2, b"again")]


def test_file_store_when_record_corrupted_then_ignored_from_there(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path)
    store.save_sent(1, b"one")
    store.set_next_target_seq(5)
    store.close()
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    reopened = FileStore(path)
    assert (reopened.next_sender_seq, reopened.next_target_seq) == (2, 1)
    reopened.close()


def test_file_store_when_reset_then_file_rewritten_small(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path)
    for seq in range(1, 50):
        store.save_sent(seq, b"x" * 100)
    store.close()
    big = path.stat().st_size
    store = FileStore(path)
    store.reset(5)
    store.close()
    assert path.stat().st_size < big // 10
    assert FileStore(path).creation_time_ns == 5


def test_file_store_when_fsync_always_then_every_write_synced(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "s.fixstore", fsync=FsyncPolicy.BATCH)
    store.save_sent(1, b"one")
    store.set_next_target_seq(2)
    assert store.fsyncs == 2
    store.close()


def test_file_store_when_fsync_interval_then_synced_in_background_only_when_dirty(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "s.fixstore", fsync=FsyncPolicy.INTERVAL, fsync_interval_ns=10_000_000)
    store.save_sent(1, b"one")
    store.save_sent(2, b"two")
    assert store.fsyncs == 0  # never on the caller's thread
    deadline = time.monotonic() + 15
    while store.fsyncs == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert store.fsyncs == 1
    time.sleep(0.05)
    assert store.fsyncs == 1  # nothing written since: no more syncs
    store.set_next_target_seq(2)
    store.close()
    assert store.fsyncs == 2  # close syncs what is left


def test_file_store_when_fsync_never_then_no_sync_even_on_close(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "s.fixstore", fsync=FsyncPolicy.NONE)
    store.save_sent(1, b"one")
    store.poll(10**12)
    store.close()
    assert store.fsyncs == 0


def test_file_store_when_disk_full_at_growth_then_oserror_nothing_written_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from venues.fix.store import file as file_module

    path = tmp_path / "s.store"
    store = FileStore(path, grow_bytes=4096)
    real_fallocate = os.posix_fallocate
    refused = 0

    def full_disk(fd: int, offset: int, length: int) -> None:  # the disk has no room for the next step
        nonlocal refused
        refused += 1
        raise OSError(28, "No space left on device")

    store.save_sent(1, b"first message")
    monkeypatch.setattr(file_module.os, "posix_fallocate", full_disk)  # type: ignore[attr-defined]
    saved = 1
    with pytest.raises(OSError, match="No space left"):
        for seq in range(2, 200):  # fills the preallocated page, then needs to grow
            store.save_sent(seq, b"m" * 100)
            saved = seq
    assert refused == 2 and 20 < saved < 60  # the step, then (ops55) the record alone: neither fits
    assert store.next_sender_seq == saved + 1  # the refused message did not move the number
    monkeypatch.setattr(file_module.os, "posix_fallocate", real_fallocate)  # type: ignore[attr-defined]
    store.save_sent(saved + 1, b"after the disk has room again")
    store.close()
    assert path.stat().st_size < 4096 + 200  # closed: cut back to the last record
    again = FileStore(path)
    assert again.truncated_bytes == 0  # no torn record in the middle of the file
    sent = again.get_sent(1, 1_000)
    assert [seq for seq, _ in sent] == list(range(1, saved + 2))
    assert sent[-1] == (saved + 1, b"after the disk has room again")
    again.close()


def test_file_store_when_growing_past_many_steps_then_every_message_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "s.store"
    store = FileStore(path, grow_bytes=4096)
    messages = {seq: bytes([seq % 251]) * (seq % 700) for seq in range(1, 400)}
    for seq, raw in messages.items():
        store.save_sent(seq, raw)
    assert store.get_sent(1, 400) == list(messages.items())
    store.close()
    again = FileStore(path)
    assert again.get_sent(1, 400) == list(messages.items())
    assert again.next_sender_seq == 400
    again.close()


def test_file_store_when_process_killed_then_next_open_has_every_record_and_no_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "s.store"
    script = f"""
import os
from venues.fix.store import FileStore
store = FileStore({str(path)!r}, creation_time_ns=7)
for seq in range(1, 101):
    store.save_sent(seq, b"message %d" % seq)
store.set_next_target_seq(42)
os.kill(os.getpid(), 9)
"""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], cwd=root, timeout=60, check=False)
    assert result.returncode == -9
    assert path.stat().st_size >= GROW_BYTES  # killed: the preallocated zeros are still there
    store = FileStore(path)
    assert store.truncated_bytes == 0  # zeros are not a torn tail
    assert (store.next_sender_seq, store.next_target_seq, store.creation_time_ns) == (101, 42, 7)
    assert store.get_sent(99, 100) == [(99, b"message 99"), (100, b"message 100")]
    store.close()


def test_numbering_begun_and_asked_again_when_reopened_then_read_back(tmp_path: Path) -> None:
    """fixhw60: both survive a restart; a store written before them (or a renumbering made offline) says nothing."""
    path = tmp_path / "s.fixstore"
    store = FileStore(path, creation_time_ns=5)
    store.running_on("/j/journal-a 1:2")
    store.set_next_target_seq(9)
    store.set_asked_again(6, 9)
    store.close()
    again = FileStore(path)
    assert (again.numbering_begun, again.asked_again, again.creation_time_ns) == (("/j/journal-a 1:2", 1), (6, 9), 5)
    again.running_on("/j/journal-b 1:3")
    again.renumber_inbound(4, 6)  # the operator lowered the venue's number: a numbering begun at 4 on journal b
    again.close()
    third = FileStore(path)
    assert (third.numbering_begun, third.asked_again) == (("/j/journal-b 1:3", 4), (0, 0))
    third.renumber_inbound(2, 7)  # not told the journal (an offline tool): not known
    third.close()
    assert FileStore(path).numbering_begun == ("", 0)


def test_running_on_when_the_store_was_created_at_this_start_then_a_refused_start_still_takes_it_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path, creation_time_ns=5)
    store.running_on("/j/journal-a 1:2")
    store.close()
    assert store.remove_if_unused()
    assert not path.exists()
