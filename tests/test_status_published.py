"""Status sections published by their owner when they change, not built per ``status`` request (stop 60, stat60).

Issue 13 asks for at most 100 us of event-loop time per ``status`` request; on this VM each part a request
touches costs a few cold microseconds. The disk watch's ``disks`` rows change only at its 5 s sample, so it
publishes them encoded there (``gateway.status_published.PublishedSections``) and the snapshot takes the bytes;
the snapshot reads the journal syncer's counters without looking for a gone syncer (``sync_counts(False)``): the
journal file check does that every 0.25 s; that check also publishes the ``journal_file`` section, which changes
nowhere else. A real gateway and OUCH simulator on loopback; the snapshot writer
called on the loop as the admin server calls it, so no timer runs in between.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sys
from typing import Any

import msgspec
import pytest

from gateway.admin import fetch_status
from gateway.app import JOURNAL_FILE_CHECK_S, GatewayProcess
from gateway.journal_mmap import MmapJournal
from gateway.snapshot import STATUS, decode_snapshot, status_document
from gateway.status_published import NO_SECTIONS, PublishedSections
from tests.e2e.support import running_gateway, short_tmp, wait_for


def _snapshot_document(process: Any) -> dict[str, Any]:
    """Write a status snapshot as the admin server does (on the loop, nothing else in between) and assemble it."""
    writer = process._snapshot
    assert writer is not None
    frame = bytearray()
    at, spliced = writer.write_spliced(frame, 0, STATUS)
    return status_document(decode_snapshot(bytes(frame[:at]) + b"".join(spliced) + bytes(frame[at:])))


def test_published_sections_when_published_again_unchanged_then_not_encoded_again() -> None:
    published = PublishedSections({"disks": [{"setting": "state_dir", "free_bytes": 5}]})
    fixed, live = parts = published.parts()
    assert fixed is NO_SECTIONS and isinstance(live, msgspec.Raw)
    assert msgspec.msgpack.decode(bytes(live)) == {"disks": [{"setting": "state_dir", "free_bytes": 5}]}
    assert not published.publish({"disks": [{"setting": "state_dir", "free_bytes": 5}]})
    assert published.parts() is parts  # the same bytes: nothing encoded
    assert published.publish({"disks": [{"setting": "state_dir", "free_bytes": 4}]})
    assert msgspec.msgpack.decode(bytes(published.parts()[1])) == {"disks": [{"setting": "state_dir", "free_bytes": 4}]}
    # inside the snapshot's live tuple the bytes go as they are and read back as the section
    encoded = msgspec.msgpack.encode((1, [published.parts()[1]], 2))
    assert msgspec.msgpack.decode(encoded) == [1, [{"disks": [{"setting": "state_dir", "free_bytes": 4}]}], 2]


async def test_status_snapshot_when_requested_then_no_disk_rows_built_and_no_syncer_look_on_the_loop() -> None:
    """On main each request built the disks rows (``DiskWatch.status``) and looked for a gone syncer (``Popen.poll``,
    a ``waitpid``): a few cold microseconds each of loop time per request. Now neither, and the document is the
    gateway's own."""
    async with running_gateway(short_tmp(), fsync="interval") as (process, _sim):
        journal = process.journal
        assert isinstance(journal, MmapJournal) and journal._syncer is not None
        disks = process._disks
        calls = {"rows": 0, "polls": 0}
        rows, poll = disks.status, journal._syncer.poll

        def counted_rows() -> list[dict[str, object]]:
            calls["rows"] += 1
            return rows()

        def counted_poll() -> int | None:
            calls["polls"] += 1
            return poll()

        disks.status = counted_rows  # type: ignore[method-assign]
        journal._syncer.poll = counted_poll  # type: ignore[method-assign]
        for _ in range(3):
            document = _snapshot_document(process)
        assert calls == {"rows": 0, "polls": 0}, calls
        own = process.status()  # the document path still builds it (JSON, socat)
        assert calls["rows"] == 1
        assert document["disks"] == own["disks"] and document["disk_short_growths"] == own["disk_short_growths"]
        assert list(document).index("disks") + 1 == list(document).index("disk_short_growths")
        assert [key for key in document if key in own] == [key for key in own if key in document]  # same order
        assert document["journal"]["fsync_failures"] == own["journal"]["fsync_failures"] == 0


async def test_status_snapshot_when_requested_then_the_journal_file_section_not_built_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On main each request built the ``journal_file`` section (eleven reads of the journal, its watches and the
    gateway's restore counts); now the journal file check publishes it, every 0.25 s, and only encodes a change."""
    built = {"count": 0}
    section = GatewayProcess._journal_file_status

    def counted(self: GatewayProcess) -> dict[str, Any]:
        built["count"] += 1
        return section(self)

    monkeypatch.setattr(GatewayProcess, "_journal_file_status", counted)
    async with running_gateway(short_tmp(), fsync="interval") as (process, _sim):
        before = built["count"]
        for _ in range(3):
            document = _snapshot_document(process)
        assert built["count"] == before, built["count"] - before
        own = process.status()
        assert document["journal_file"] == own["journal_file"]
        process._check_journal_file()  # the 0.25 s timer's check: published again, the same
        assert built["count"] == before + 2
        assert _snapshot_document(process)["journal_file"] == own["journal_file"]


async def test_status_when_a_disk_sample_changes_then_the_next_request_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = os.statvfs
    failing = {"on": False}

    def statvfs(path: Any) -> os.statvfs_result:
        if failing["on"] and sys._getframe(1).f_globals.get("__name__") == "gateway.disk_watch":
            raise OSError(errno.EIO, "Input/output error")
        return real(path)

    monkeypatch.setattr(os, "statvfs", statvfs)
    async with running_gateway(short_tmp()) as (process, _sim):
        admin = process.config.path(process.config.admin_socket)
        loop = asyncio.get_running_loop()
        before = await loop.run_in_executor(None, fetch_status, admin)
        assert before["disks"] and all(row["free_bytes"] >= 0 and row["error"] == "" for row in before["disks"])
        failing["on"] = True
        process._disks.check()  # the 5 s timer's sample
        failed = await loop.run_in_executor(None, fetch_status, admin)
        assert failed["disks"] == process.status()["disks"]
        assert all(row["free_bytes"] == -1 and row["error"] == "Input/output error" for row in failed["disks"])
        failing["on"] = False
        process._disks.check()
        again = await loop.run_in_executor(None, fetch_status, admin)
        assert all(row["free_bytes"] >= 0 and row["error"] == "" for row in again["disks"])


async def test_status_when_the_syncer_dies_then_counted_by_the_journal_check_without_anyone_asking() -> None:
    """The snapshot no longer looks for a gone syncer: the journal file check does, every 0.25 s, so the death is
    in the next status within that (nothing here reads ``fsync_failures``, which looks too)."""
    async with running_gateway(short_tmp(), fsync="interval") as (process, _sim):
        journal = process.journal
        assert isinstance(journal, MmapJournal) and journal._syncer is not None
        admin = process.config.path(process.config.admin_socket)
        loop = asyncio.get_running_loop()
        syncer = journal._syncer
        syncer.kill()
        await loop.run_in_executor(None, syncer.wait)
        seen: list[int] = []

        async def counted() -> None:
            seen.append((await loop.run_in_executor(None, fetch_status, admin))["journal"]["fsync_failures"])

        deadline = loop.time() + 20 * JOURNAL_FILE_CHECK_S
        while not seen or seen[-1] != 1:
            assert loop.time() < deadline, f"the dead syncer not counted in status after 5 s: {seen}"
            await counted()
            await asyncio.sleep(JOURNAL_FILE_CHECK_S / 5)
        assert journal._syncer is not None  # and started again by that check
        await wait_for(lambda: journal._syncer is not syncer, what="the syncer started again")
