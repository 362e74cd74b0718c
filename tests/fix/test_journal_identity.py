"""The journal a FIX store's numbering began on is known again after a reboot (fixid61, rev61fix HIGH).

fixhw60 noted the journal as ``<path> <st_dev>:<inode>``. A power failure is a reboot, and the device number is not
stable across one (an overlay's anonymous device, a loop or device-mapper minor, disk order): the restart took its
own journal for "another journal", the venue was not asked again from 1, and the day's first Accepted and fill
lost with the journal's tail stayed lost (an order PENDING_NEW for good, a fill missing from positions). Now the
journal is its path, inode and birth time; fixhw60's form is still read (the same path and inode: the same journal).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model.exactly_once import ResumePoint
from tests.fix.test_adapter import Rig, _journal
from venues.fix.fields import MsgType
from venues.fix.store.journal_id import journal_identity, same_journal


def _device_changes(monkeypatch: pytest.MonkeyPatch, journal: str) -> None:
    """From now on ``os.stat`` of ``journal`` gives another device number (the reboot's), all else the same."""
    real = os.stat

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        result = real(path, *args, **kwargs)  # type: ignore[arg-type]
        if os.fspath(path) != journal:  # type: ignore[call-overload]
            return result
        fields = list(result)
        fields[2] = result.st_dev + 1  # st_dev
        return os.stat_result(fields)

    monkeypatch.setattr(os, "stat", stat)


def test_a_reboot_gave_the_journal_s_file_system_another_device_number_then_asked_from_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The store's numbering began on this journal; after the power failure the journal's file system came back
    under another device number. Before: kept at 9, "which began on another journal" naming this very file."""
    journal = _journal(tmp_path)
    rig = Rig()
    rig.adapter.journal_opened(journal, True, False, True)  # the day's first start: the store notes the journal
    rig.store.set_next_target_seq(9)  # the venue's Logon, Accepted, fill, Heartbeats recorded
    _device_changes(monkeypatch, journal)
    rig.adapter.journal_opened(journal, False, False, False)  # the restart after the reboot
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 0))
    assert rig.store.next_target_seq == 1
    assert "another journal" not in caplog.text
    rig.peer.next_seq = 9
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())
    (resend,) = [m for m in rig.wire.take() if m.msg_type == MsgType.RESEND_REQUEST]
    assert (resend.get(b"7"), resend.get(b"16")) == (b"1", b"0")


def _legacy(journal: str, *, device: int, inode: int | None = None) -> str:
    """fixhw60's identity of ``journal``: resolved path, device number, inode."""
    found = os.stat(journal)
    return f"{Path(journal).resolve()} {device}:{found.st_ino if inode is None else inode}"


def test_a_store_noted_by_the_previous_version_on_this_journal_before_a_reboot_then_asked_from_1(
    tmp_path: Path,
) -> None:
    """An upgrade: the store's record is in fixhw60's form, with the device number before the reboot. The same
    path and inode: this journal (before: another one, kept at 9)."""
    journal = _journal(tmp_path)
    rig = Rig()
    rig.store.running_on(_legacy(journal, device=os.stat(journal).st_dev + 7))
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened(journal, False, False, False)
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 0))
    assert rig.store.next_target_seq == 1


def test_a_store_noted_by_the_previous_version_on_another_file_at_this_path_then_kept_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """fixhw60's form naming another inode at this path (a journal deleted and begun again): not this journal."""
    journal = _journal(tmp_path)
    rig = Rig()
    found = os.stat(journal)
    rig.store.running_on(_legacy(journal, device=found.st_dev, inode=found.st_ino + 1))
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened(journal, False, False, False)
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 0))
    assert rig.store.next_target_seq == 9
    assert "which began on another journal" in caplog.text


def test_a_later_file_at_the_path_given_the_freed_inode_s_number_then_another_journal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Same path, same inode number, another birth time (the numbered file was deleted, its inode reused): the
    numbering is not asked for again (it would bring back that file's messages)."""
    journal = _journal(tmp_path)
    current = journal_identity(journal)
    if " born:" not in current:
        pytest.skip("this file system keeps no birth time")
    head, _, born = current.rpartition(" born:")
    rig = Rig()
    rig.store.running_on(f"{head} born:{int(born) - 1}")  # the earlier file's
    rig.store.set_next_target_seq(9)
    rig.adapter.journal_opened(journal, False, False, False)
    rig.adapter.resume_after(ResumePoint(str(rig.store.creation_time_ns), 0))
    assert rig.store.next_target_seq == 9
    assert "which began on another journal" in caplog.text


def test_the_identity_names_path_inode_and_birth_time_not_the_device(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    found = os.stat(journal)
    current = journal_identity(journal)
    assert current.startswith(f"{Path(journal).resolve()} ino:{found.st_ino}")
    assert f"{found.st_dev}:" not in current
    assert same_journal(current, current)
    assert same_journal(_legacy(journal, device=found.st_dev + 1), current)
    assert not same_journal(_legacy(journal, device=found.st_dev, inode=found.st_ino + 1), current)
    assert not same_journal(f"{tmp_path / 'other'} ino:{found.st_ino}", current)
    assert not same_journal("", current)
    assert not same_journal(current, "")
    assert not same_journal("garbage", current)
