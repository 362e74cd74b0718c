"""A copy of the limits in force that cannot be written leaves no partial ``.next`` behind (rev55ops).

On a full ``state_dir`` the partial copy (up to the size of the limits file) stayed after the failed reload, holding
that disk's last free bytes until a later reload succeeded.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from risk.inforce import InForceCopy


def test_prepare_when_the_disk_refuses_after_a_partial_write_then_no_next_file_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = InForceCopy(tmp_path / "gw-risk-in-force.yaml")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    assert copy.prepare(b"accounts: {}\n" * 10_000) is False
    assert not (tmp_path / "gw-risk-in-force.yaml.next").exists()
    monkeypatch.undo()
    assert "No space left on device" in copy.commit(False)
    assert not (tmp_path / "gw-risk-in-force.yaml").exists()  # never a stale copy either


def test_prepare_then_commit_keeps_the_copy(tmp_path: Path) -> None:
    copy = InForceCopy(tmp_path / "gw-risk-in-force.yaml")
    assert copy.prepare(b"accounts: {}\n")
    assert copy.commit(True) == ""
    assert (tmp_path / "gw-risk-in-force.yaml").read_bytes() == b"accounts: {}\n"
    assert not (tmp_path / "gw-risk-in-force.yaml.next").exists()
