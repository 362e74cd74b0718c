"""The identity of the gateway's journal a FIX store notes where a numbering begins (fixhw60, fixid61).

``journal_identity`` names the journal file by what survives a reboot: its resolved path, its inode number and,
where the file system keeps one (ext4, xfs, btrfs, recent tmpfs; ``statx``), its birth time:
``<path> ino:<inode> born:<ns>``. Not the device number (fixhw60's ``<path> <st_dev>:<inode>``): a power failure is
a reboot, and ``st_dev`` is not stable across one (an overlay's anonymous device, loop and device-mapper minors,
disk order), so the very journal was taken for another and the venue was not asked again (rev61fix HIGH). The birth
time tells apart a later file at the same path that was given a freed inode's number.

``same_journal`` compares a noted identity with the current one; it also reads fixhw60's form, written by the
previous version: the same path and inode there is the same journal (its device number is not compared).
"""

from __future__ import annotations

import os
from pathlib import Path

from model.file_birth import birth_ns


def journal_identity(journal: str) -> str:
    """Return the identity of the journal file at ``journal`` (raises OSError if it cannot be stat'ed)."""
    inode = os.stat(journal).st_ino
    identity = f"{Path(journal).resolve()} ino:{inode}"
    born = birth_ns(journal, inode)
    return identity if born is None else f"{identity} born:{born}"


def _parts(identity: str) -> tuple[str, int, int | None] | None:
    """Return (path, inode, birth time or None) of an identity, either form; None if it is neither."""
    head, _, last = identity.rpartition(" ")
    born: int | None = None
    if last.startswith("born:"):
        if not last[5:].isdigit():
            return None
        born = int(last[5:])
        head, _, last = head.rpartition(" ")
    if last.startswith("ino:"):
        return (head, int(last[4:]), born) if last[4:].isdigit() else None
    device, colon, inode = last.partition(":")  # fixhw60's "<path> <st_dev>:<inode>"
    if born is None and colon and device.isdigit() and inode.isdigit():
        return head, int(inode), None
    return None


def same_journal(noted: str, current: str) -> bool:
    """Return True if ``noted`` (a store's record) names the journal whose identity is ``current``.

    The same path and inode, and the same birth time where the note has one (a note without one: fixhw60's form,
    or a file system that keeps none). Never for an empty or unreadable identity.
    """
    if not noted or not current:
        return False
    if noted == current:
        return True
    was, now = _parts(noted), _parts(current)
    if was is None or now is None or was[:2] != now[:2]:
        return False
    return was[2] is None or was[2] == now[2]
