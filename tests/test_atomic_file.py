"""``write_file_atomically``: the FIX store's reset and the OUCH UserRefNum state both go through it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from venues.atomic_file import write_file_atomically


def test_write_when_no_file_then_created_with_the_data(tmp_path: Path) -> None:
    path = tmp_path / "state"
    write_file_atomically(path, b"first")
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_write_when_file_exists_then_content_replaced_whole_by_a_new_inode(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.write_bytes(b"old content, longer than the new one")
    before = path.stat().st_ino
    write_file_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert path.stat().st_ino != before  # renamed over, never rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_write_when_data_large_then_all_of_it_written(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    write_file_atomically(tmp_path / "big", data)
    assert (tmp_path / "big").read_bytes() == data


def test_write_when_fsync_fails_then_old_content_kept_and_temp_file_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state"
    path.write_bytes(b"old")

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        write_file_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_write_when_rename_fails_then_temp_file_removed(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.mkdir()  # renaming a file over a directory fails
    with pytest.raises(IsADirectoryError):
        write_file_atomically(path, b"new")
    assert path.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_write_when_directory_missing_then_error_and_nothing_created(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_file_atomically(tmp_path / "absent" / "state", b"new")
    assert list(tmp_path.iterdir()) == []
