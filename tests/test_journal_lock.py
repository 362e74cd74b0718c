"""One gateway per journal directory: the lock ``GatewayProcess.start`` takes first (``gateway.journal_lock``)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.journal import JournalInUseError, journal_in_use, lock_journal_directory
from gateway.journal_lock import LOCK_FILE
from tests.harness import open_fds_on


def test_lock_when_held_then_a_second_taker_is_refused_naming_the_directory_and_the_holders_pid(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "journal"
    lock = lock_journal_directory(directory)  # creates the directory
    assert (directory / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    with pytest.raises(JournalInUseError) as refused:  # its own open file: flock conflicts as across processes
        lock_journal_directory(directory, retry_s=0)
    assert str(directory) in str(refused.value)
    assert f"pid {os.getpid()}" in str(refused.value)
    assert journal_in_use(directory) == str(refused.value)  # what the dry run prints
    lock.release()
    assert not lock.held
    assert journal_in_use(directory) is None
    lock_journal_directory(directory, retry_s=0).release()  # free again


def test_journal_in_use_when_nothing_ever_ran_then_none_and_nothing_created(tmp_path: Path) -> None:
    assert journal_in_use(tmp_path / "missing") is None
    assert not (tmp_path / "missing").exists()
    assert journal_in_use(tmp_path) is None
    assert not (tmp_path / LOCK_FILE).exists()


def test_lock_when_taken_then_its_descriptor_is_close_on_exec_and_no_child_keeps_it(tmp_path: Path) -> None:
    lock = lock_journal_directory(tmp_path)
    held = open_fds_on(tmp_path / LOCK_FILE)
    assert len(held) == 1
    assert fcntl.fcntl(held[0], fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    code = "import sys; from gateway.journal import journal_in_use; print(journal_in_use(sys.argv[1]) is not None)"
    child = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "True"  # another process sees it held
    lock.release()
    child = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "False"


def test_lock_when_holder_killed_then_released_by_the_kernel(tmp_path: Path) -> None:
    code = (
        "import sys, time; from gateway.journal import lock_journal_directory; "
        "lock_journal_directory(sys.argv[1]); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        message = journal_in_use(tmp_path)
        assert message is not None and f"pid {holder.pid}" in message
    finally:
        holder.kill()
        holder.wait(10)
    lock_journal_directory(tmp_path, retry_s=0).release()  # no stale lock after kill -9


def test_check_when_lock_file_deleted_then_put_back_locked_and_a_second_taker_refused(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    lock = lock_journal_directory(directory)
    assert lock.check() == ("", False)
    (directory / LOCK_FILE).unlink()
    problem, restored = lock.check()  # the old code: no check; a second gateway locked a new file
    assert restored and "was deleted while the gateway held it" in problem
    assert (directory / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    assert [p.name for p in directory.iterdir()] == [LOCK_FILE]  # no temporary file left
    with pytest.raises(JournalInUseError):
        lock_journal_directory(directory, retry_s=0)
    assert lock.check() == ("", False)
    lock.release()


def test_check_when_another_process_holds_a_new_lock_file_then_problem_not_restored(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    lock = lock_journal_directory(directory)
    (directory / LOCK_FILE).unlink()
    other = lock_journal_directory(directory, retry_s=0)  # another "gateway" got there first
    problem, restored = lock.check()
    assert not restored and f"pid {os.getpid()} holds the new one" in problem
    other.release()
    problem, restored = lock.check()  # nobody holds it now: taken over in place
    assert restored and "replaced by another file" in problem
    with pytest.raises(JournalInUseError):
        lock_journal_directory(directory, retry_s=0)
    lock.release()


def test_journal_in_use_when_the_lock_file_is_gone_but_a_journal_file_is_held_then_refused(tmp_path: Path) -> None:
    # a running gateway whose gateway.lock was deleted still holds its journal file's lock: the dry run says so
    journal = tmp_path / "gw1-20261205.journal"
    journal.write_bytes(b"GWJ\x02")
    holder = os.open(journal, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another open file: flock conflicts as across processes
        refusal = journal_in_use(tmp_path)
        assert refusal is not None
        assert f"journal directory {tmp_path} is in use by another gateway" in refusal
        assert f"(it holds the journal {journal})" in refusal
        assert not (tmp_path / LOCK_FILE).exists()  # the probe creates nothing
    finally:
        os.close(holder)
    assert journal_in_use(tmp_path) is None
