"""A FIX message store on a disk with less room than a growth step: it grows by what fits (ops55).

Found by an ops review: ``FileStore`` asked ``posix_fallocate`` for the record plus a whole 4 MiB step and
nothing less, so with 3.9 MiB free the gateway refused to start (``venue EQX store_dir ...: No space left on
device``), and a running one refused every FIX order ``FIX_STORE`` until more than 4 MiB were free, although the
ops guide says the next write that succeeds ends the episode. Now the step is halved until one fits, as the
journal's (``tests/test_journal_nearly_full.py``). The disk is a fake ``posix_fallocate`` with ``room`` bytes
(as the journal's test) and a real tmpfs (skipped where mounting is not permitted).
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from venues.fix.store import FileStore
from venues.fix.store import file as file_module
from venues.fix.store.file import GROW_BYTES

STEP = 1 << 20
PAGE = 4096


def _disk_with_room(monkeypatch: pytest.MonkeyPatch, room: list[int]) -> list[int]:
    """Make ``posix_fallocate`` fail with ENOSPC beyond ``room[0]`` bytes; return the lengths it was asked for."""
    asked: list[int] = []
    real: Callable[[int, int, int], None] = os.posix_fallocate

    def fallocate(fd: int, offset: int, length: int) -> None:
        asked.append(length)
        if length > room[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, offset, length)
        room[0] -= length

    monkeypatch.setattr(file_module.os, "posix_fallocate", fallocate)  # type: ignore[attr-defined]
    return asked


def test_store_when_less_room_than_a_step_then_it_opens_grows_by_what_fits_and_logs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    room = [3 * PAGE]  # far less than a step: the old code refused to open the store (the gateway to start)
    asked = _disk_with_room(monkeypatch, room)
    with caplog.at_level(logging.WARNING, logger="venues.fix.store.file"):
        store = FileStore(tmp_path / "s.fixstore", grow_bytes=STEP)
    assert asked[0] >= STEP - PAGE and asked[-1] <= 3 * PAGE  # a step asked for first, then what fits
    assert "the disk is nearly full" in caplog.text and "grew by" in caplog.text
    assert store.short_growths == 1
    saved = 0
    while True:  # fill the room that was there: then a save fails, nothing written ...
        try:
            store.save_sent(saved + 1, b"8=FIX.4.4|" + b"m" * 200)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            break
        saved += 1
    assert saved > 20
    assert store.next_sender_seq == saved + 1
    room[0] = 2 * PAGE  # ... until a little space is freed: the next save succeeds (the old code needed 1 MiB more)
    store.save_sent(saved + 1, b"after a page was freed")
    caplog.clear()
    room[0] = 1 << 30
    with caplog.at_level(logging.WARNING, logger="venues.fix.store.file"):
        for seq in range(saved + 2, saved + 2 + 40):  # past the short steps' slack: a full step again
            store.save_sent(seq, b"m" * 200)
    assert "grows by full 1 MiB steps again" in caplog.text
    short = store.short_growths
    assert short >= 2
    path = store.path
    store.close()
    again = FileStore(path)
    assert again.truncated_bytes == 0
    sent = again.get_sent(1, 10_000)
    assert [seq for seq, _ in sent] == list(range(1, saved + 2 + 40))
    again.close()


def test_store_when_not_even_the_record_fits_then_the_first_error_and_nothing_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path / "s.fixstore", grow_bytes=STEP)
    _disk_with_room(monkeypatch, [0])
    with pytest.raises(OSError) as failed:
        for seq in range(1, 100_000):
            store.save_sent(seq, b"m" * 200)
    assert failed.value.errno == errno.ENOSPC
    assert store.short_growths == 0  # a growth that did not happen is not counted
    store.close()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (less than a 4 MiB step); skip if this host does not let us mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_store_on_a_disk_smaller_than_a_step_then_it_opens_and_keeps_every_message(
    tiny_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert GROW_BYTES > 2 << 20  # the repro's case: the whole disk holds less than one step
    with caplog.at_level(logging.WARNING, logger="venues.fix.store.file"):
        store = FileStore(tiny_disk / "EQX.fixstore")  # the old code: OSError ENOSPC (start refused)
    assert "the disk is nearly full" in caplog.text
    for seq in range(1, 2_001):  # ~0.5 MiB of messages, one short growth per page at most
        store.save_sent(seq, b"8=FIX.4.4\x019=178\x0135=D\x01" + b"x" * 200)
    store.close()
    again = FileStore(tiny_disk / "EQX.fixstore")
    assert again.next_sender_seq == 2_001
    assert len(again.get_sent(1, 2_000)) == 2_000
    again.close()


def test_store_when_not_even_its_first_page_fits_then_the_error_and_no_file_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that cannot be opened (a start refused: ``venue EQX store_dir ...``) leaves no file of its own."""
    _disk_with_room(monkeypatch, [0])
    with pytest.raises(OSError) as failed:
        FileStore(tmp_path / "s.fixstore", grow_bytes=STEP)
    assert failed.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # the old code: the 51-byte file it had just written stayed
