"""``model.preallocate.preallocate_what_fits``: the growth of the order journal and the FIX message store (texts56:
one helper for what both did).

A real file, and a ``posix_fallocate`` that refuses (ENOSPC) any growth past a room given, as a nearly full disk
does: a whole step when it fits, else the step halved until one fits, down to what is needed alone (whole pages);
nothing changed and the first error raised when not even that fits, or at once for another error. The callers'
own tests stay as they were: tests/test_journal_nearly_full.py, tests/fix/test_store_nearly_full.py,
tests/test_disk_watch.py.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from model.preallocate import preallocate_what_fits

PAGE = mmap.PAGESIZE
STEP = 64 * PAGE


@pytest.fixture
def fd(tmp_path: Path) -> Iterator[int]:
    descriptor = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def _disk_with_room(monkeypatch: pytest.MonkeyPatch, room: int, error: int = errno.ENOSPC) -> list[int]:
    """Make ``posix_fallocate`` fail with ``error`` for a file end past ``room`` bytes; return the ends asked for."""
    real: Callable[[int, int, int], None] = os.posix_fallocate
    asked: list[int] = []

    def fallocate(descriptor: int, offset: int, length: int) -> None:
        asked.append(offset + length)
        if offset + length > room:
            raise OSError(error, os.strerror(error))
        real(descriptor, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", fallocate)
    return asked


def test_preallocate_when_the_step_fits_then_needed_plus_a_whole_step_in_pages(fd: int) -> None:
    assert preallocate_what_fits(fd, 0, 100, STEP) == (STEP, False)  # 100 + STEP, rounded down to pages
    assert os.fstat(fd).st_size == STEP
    assert preallocate_what_fits(fd, STEP, STEP + PAGE + 1, STEP) == (2 * STEP + PAGE, False)


def test_preallocate_when_the_step_does_not_fit_then_halved_until_one_fits_and_short(
    fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _disk_with_room(monkeypatch, 20 * PAGE)
    assert preallocate_what_fits(fd, 0, 100, STEP) == (16 * PAGE, True)
    assert asked == [64 * PAGE, 32 * PAGE, 16 * PAGE]  # the step halved: 64, 32, 16 pages
    assert os.fstat(fd).st_size == 16 * PAGE


def test_preallocate_when_only_what_is_needed_fits_then_that_rounded_up_to_a_page(
    fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _disk_with_room(monkeypatch, PAGE)
    assert preallocate_what_fits(fd, 0, 100, STEP) == (PAGE, True)
    assert asked[-1] == PAGE


def test_preallocate_when_not_even_what_is_needed_fits_then_the_first_error_and_nothing_changed(
    fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _disk_with_room(monkeypatch, PAGE)
    with pytest.raises(OSError) as raised:
        preallocate_what_fits(fd, 0, PAGE + 1, STEP)
    assert raised.value.errno == errno.ENOSPC and raised.value.__cause__ is None
    assert os.fstat(fd).st_size == 0


def test_preallocate_when_another_error_then_raised_at_once(fd: int, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _disk_with_room(monkeypatch, 0, errno.EIO)
    with pytest.raises(OSError) as raised:
        preallocate_what_fits(fd, 0, 100, STEP)
    assert raised.value.errno == errno.EIO and asked == [STEP]
