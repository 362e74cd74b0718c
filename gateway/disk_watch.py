"""Free space on the file systems the gateway writes to: the early signal before a disk fills (ops55).

The journal and the FIX message stores grow by what fits once a whole growth step no longer does (their
WARNING "the disk is nearly full"), and so take the last free space of a shared disk: then the files written
whole (the risk limits' in-force copies, the venues' state files) fail with ENOSPC while the journal still
writes. ``DiskWatch.check`` runs from a timer (``gateway run``, every ``DISK_CHECK_S``), never on an order's
path: one ``statvfs`` per directory. ``gateway status`` shows each directory's free bytes (``disks``),
``gateway metrics`` the least of them (``gateway_disk_free_bytes``, alert ``GatewayDiskNearlyFull``) and how many
directories could not be read (``gateway_disk_unreadable``, alert ``GatewayDiskUnreadable``). An unknown free space
is no value, never a number: before texts56 it was -1, below every threshold, and paged "disk nearly full".
The ``disks`` section is published at each sample (``published``, stat60): a ``status`` request does not build it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.status_published import PublishedSections

DISK_CHECK_S: Final = 5.0
"""How often the free space is sampled."""


@dataclass(slots=True)
class DiskSpace:
    """One directory the gateway writes files in, and the free space of its file system when last sampled."""

    setting: str
    path: Path
    free_bytes: int = -1
    """Bytes an unprivileged writer may still allocate (``f_bavail * f_frsize``); -1: not sampled (yet)."""
    error: str = ""
    """Why ``statvfs`` failed at the last sample ("": it did not)."""


class DiskWatch:
    """Sample the free space of every directory of ``directories`` (setting, path); directories on one file
    system are sampled once each all the same (one ``statvfs`` each: cheap, and each row names its setting)."""

    def __init__(self, directories: list[tuple[str, Path]]) -> None:
        seen: set[Path] = set()
        self.disks: list[DiskSpace] = []
        for setting, path in directories:
            if path in seen:
                continue
            seen.add(path)
            self.disks.append(DiskSpace(setting, path))
        self.published = PublishedSections({"disks": self.status()})
        """The ``disks`` status section as of the last sample, encoded once per change (the status snapshot's)."""

    def check(self) -> None:
        """Sample each directory's file system (a timer's call, off the order path)."""
        for disk in self.disks:
            try:
                st = os.statvfs(disk.path)
            except OSError as exc:
                disk.error = exc.strerror or str(exc)
                disk.free_bytes = -1  # unknown now: not the last value sampled (rev56merge2)
                continue
            disk.free_bytes = st.f_bavail * st.f_frsize
            disk.error = ""
        self.published.publish({"disks": self.status()})

    @property
    def least_free(self) -> int:
        """Return the least free space sampled over every directory (-1: none sampled: ``metrics`` leaves it out)."""
        sampled = [disk.free_bytes for disk in self.disks if disk.free_bytes >= 0]
        return min(sampled) if sampled else -1

    @property
    def unreadable(self) -> int:
        """Return how many directories could not be sampled at the last check (``statvfs`` failed)."""
        return sum(1 for disk in self.disks if disk.error)

    def metrics(self) -> dict[str, float]:
        """Return ``gateway metrics``' part: ``disk_unreadable`` always, ``disk_free_bytes`` only when a directory
        was sampled (an unknown free space has no value: a -1 would read as a full disk, texts56)."""
        out = {"disk_unreadable": float(self.unreadable)}
        least = self.least_free
        if least >= 0:
            out["disk_free_bytes"] = float(least)
        return out

    def status(self) -> list[dict[str, object]]:
        """Return one row per directory for ``gateway status``'s ``disks`` section."""
        return [
            {"setting": disk.setting, "path": str(disk.path), "free_bytes": disk.free_bytes, "error": disk.error}
            for disk in self.disks
        ]
