"""BOE: a replay of thousands of messages for orders the journal never created costs the loop no fsync per message.

A standby host started with fresh journal and state directories (ops guide section 6) logs in to a session that
carries the primary's day: Cboe replays every Acknowledgment, Execution and Cancelled of the primary's orders. Each
Acknowledgment owes a Cancel, each execution is reported (the corrections file), each Cancelled discharges the
Cancel owed. Before (rev55ops), every one of those changes rewrote the whole ``.boe-owed-cancels.json`` or
``.boe-corrections.json`` atomically, with two fsyncs and a rename, on the event loop: O(n) per message, O(n^2) per
replay; a 2,420-order day froze the gateway for 68 s (no status, no Hello answered, OUCH dropped, Cboe logged it
out for silence). Now each change is one ``write`` appended to the file, fsynced once per read from Cboe
(``venues.state_log``), compacted once the changes outgrow the snapshot.

Counted, not timed: the system calls on the state files while the sans-IO BOE simulator replays the day through a
real engine. A ``kill -9`` in the middle of a read (a subprocess killing itself while the adapter handles the
read) keeps every change made before it: the next process drops the reports on file as reported before and cancels
the owed ClOrdIDs after its Replay Complete, as docs/venues/boe.md says. Files of the earlier format still load; a
torn last line is left out with a WARNING.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.boe.harness import DAY_NS, Link, gateway_over
from tests.boe.test_modify_up_crossed_by_fill import _execution, _link
from venues.boe.adapter import day_code
from venues.boe.messages import OrderAcknowledgment, OrderCancelled
from venues.boe.state import (
    BoeStateError,
    corrections_path,
    load_corrections,
    load_owed,
    load_owed_cancels,
    owed_cancels_path,
)
from venues.state_log import COMPACT_MIN_BYTES

UNIT = 1  # AAPL's matching unit in the harness
DAY = "2024-05-01"
LOST = 4_194_400
"""Order ids past the fresh journal's last: the primary's orders, which this journal never created."""
ROOT = Path(__file__).resolve().parents[2]


def _ghost(i: int) -> str:
    return f"{day_code(DAY)}{LOST + i}"


def _primary_day(link: Link, orders: int, *, canceled: Callable[[int], bool]) -> None:
    """Put the primary's day on Cboe's unit: per order an Acknowledgment, a fill leaving 90 open, and (if
    ``canceled``) its Order Cancelled (the primary's cancel on disconnect)."""
    for i in range(orders):
        link.core.streams.append(UNIT, OrderAcknowledgment(0, 0, DAY_NS, _ghost(i), 10_000 + i))
        link.core.streams.append(UNIT, _execution(_ghost(i), 500_000 + i, 10, 90))
        if canceled(i):
            link.core.streams.append(UNIT, OrderCancelled(0, 0, DAY_NS, _ghost(i), "U"))


class _StateSyscalls:
    """Count the write, fsync, rename and open calls on files under one directory."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
        self.directory = str(directory.resolve())
        self.calls: Counter[str] = Counter()
        for name in ("write", "fsync", "replace", "open"):
            monkeypatch.setattr(os, name, self._counting(name, getattr(os, name)))

    def _mine(self, target: Any) -> bool:
        if isinstance(target, int):
            try:
                target = os.readlink(f"/proc/self/fd/{target}")
            except OSError:
                return False
        return str(target).startswith(self.directory)

    def _counting(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            target = args[1] if name == "replace" else args[0]
            if self._mine(target):
                self.calls[name] += 1
            return real(*args, **kwargs)

        return call


def test_standby_replay_of_thousands_of_unknown_orders_then_one_write_per_change_and_fsyncs_per_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = 1500
    link = _link(tmp_path)
    _primary_day(link, orders, canceled=lambda i: i % 10 != 0)  # 150 left working: owed after the replay
    engine, _rig = gateway_over(link, tmp_path / "journal")  # a fresh journal: it never created any of them
    venue = link.venue
    reads = 0
    real_read = venue.data_received

    def counted_read(data: bytes, now_ns: int) -> None:
        nonlocal reads
        reads += 1
        real_read(data, now_ns)

    monkeypatch.setattr(venue, "data_received", counted_read)
    syscalls = _StateSyscalls(monkeypatch, link.state_dir)
    link.connect()
    engine.flush()
    monkeypatch.undo()
    status = venue.status()
    assert status["state"] == "UP"
    assert status["unknown_executions"] == orders and status["live_after_end"] == orders
    changes = orders + orders + (orders - 150) + 150 + 150  # owed, reported, discharged; sent after, refused
    assert status["late_cancels_waiting"] == 0  # the 150 Cancels went after the replay, Cboe refused them (unknown)
    cancels = {r.orig_cl_ord_id for r in link.exchange_records if r.type == "Cancel Order"}
    assert cancels == {_ghost(i) for i in range(0, orders, 10)}
    calls = syscalls.calls
    assert calls["write"] <= changes + 4 * (reads + 1)  # one per change (and a few snapshots)
    assert calls["fsync"] <= 4 * (reads + 1)  # the old code: two per change, 11,700 here
    assert calls["replace"] <= 2 * (reads + 1)  # the old code: one per change
    # what is on file is what the adapter holds: none owed, every execution reported (once: a replay drops them)
    assert load_owed_cancels(link.state_dir, "cboe", DAY) == {}
    assert len(load_corrections(link.state_dir, "cboe", DAY)) == orders


def test_changes_when_they_outgrow_the_snapshot_then_compacted_at_the_end_of_a_read(tmp_path: Path) -> None:
    link = _link(tmp_path)
    _primary_day(link, 400, canceled=lambda i: True)  # every Cancel owed is discharged in the replay
    engine, _rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    engine.flush()
    owed = owed_cancels_path(link.state_dir, "cboe").read_bytes()
    assert len(owed) <= 2 * COMPACT_MIN_BYTES  # 800 changes appended (30 bytes each): compacted, not kept
    assert load_owed(link.state_dir, "cboe") == (DAY, {})


_KILLED_PROCESS = """
import os, signal, sys
from pathlib import Path
from tests.boe import test_replay_state_writes as t
from tests.boe.harness import gateway_over
from tests.boe.test_modify_up_crossed_by_fill import _link
from venues.boe.adapter import BoeVenue

tmp, orders, kill_at = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
seen = 0
handle = BoeVenue._on_execution


def killing(self, core, seq):  # kill -9 while the adapter handles the read, before its end (and its fsync)
    global seen
    seen += 1
    if seen == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    handle(self, core, seq)


BoeVenue._on_execution = killing
link = _link(tmp)
t._primary_day(link, orders, canceled=lambda i: i % 3 == 0)
engine, _rig = gateway_over(link, tmp / "journal")
link.connect()
print("not killed")
"""


def test_kill_9_in_the_middle_of_a_read_then_the_next_start_cancels_what_is_owed_and_drops_what_was_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    orders, kill_at = 1000, 700
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_PROCESS, str(tmp_path), str(orders), str(kill_at)],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    state_dir = tmp_path / "boe"
    raw = owed_cancels_path(state_dir, "cboe").read_bytes()
    assert raw.count(b"\n") > 100  # appended changes, not fsynced yet (the read never ended)
    # the Acknowledgments of orders 0..699 were read (699's fill killed it), those of i % 3 == 0 before 699
    # were also canceled in the replay: the rest are owed, on file
    owed = {_ghost(i) for i in range(kill_at) if i % 3 != 0 or i == kill_at - 1}
    assert load_owed_cancels(state_dir, "cboe", DAY) == dict.fromkeys(owed, 0)  # 0: not sent (Cboe was replaying)
    reported = load_corrections(state_dir, "cboe", DAY)
    assert len(reported) == kill_at - 1
    # the next start (fresh journal again): Cboe replays the same numbers, the messages in them no longer name
    # these orders (so what it does comes from the files alone): the reports are dropped as reported before,
    # the Cancels owed go out after Replay Complete
    link = _link(tmp_path)
    for i in range(orders):
        link.core.streams.append(UNIT, OrderAcknowledgment(0, 0, DAY_NS, f"ZZA{i}", 20_000 + i))
        link.core.streams.append(UNIT, _execution(f"ZZE{i}", 600_000 + i, 10, 90))
        if i % 3 == 0:
            link.core.streams.append(UNIT, OrderCancelled(0, 0, DAY_NS, f"ZZC{i}", "U"))
    engine, _rig = gateway_over(link, tmp_path / "journal-2")
    caplog.set_level(logging.WARNING)
    link.connect()
    engine.flush()
    status = link.venue.status()
    assert status["repeated_reports"] == kill_at - 1
    assert status["unknown_executions"] == orders - (kill_at - 1)
    sent = [r.orig_cl_ord_id for r in link.exchange_records if r.type == "Cancel Order"]
    assert sorted(sent) == sorted(owed)
    assert status["late_cancels_waiting"] == 0  # Cboe knows none of them: refused, which settles each
    assert load_owed_cancels(state_dir, "cboe", DAY) == {}


def test_files_of_the_earlier_format_load_and_the_first_change_rewrites_them(tmp_path: Path) -> None:
    # what every earlier version wrote: one JSON document, no newline
    one, two = _ghost(1), _ghost(2)
    state_dir = tmp_path / "boe"
    state_dir.mkdir()
    owed_cancels_path(state_dir, "cboe").write_text(f'{{"day":"2024-05-01","cancels":{{"{one}":7,"{two}":0}}}}')
    corrections_path(state_dir, "cboe").write_bytes(b'{"day":"2024-05-01","seen":[3,9]}')
    assert load_owed(state_dir, "cboe") == (DAY, {one: 7, two: 0})
    assert load_corrections(state_dir, "cboe", DAY) == {3, 9}
    link = _link(tmp_path)
    engine, _rig = gateway_over(link, tmp_path / "journal")
    assert link.venue.status()["late_cancels_waiting"] == 2
    link.connect()  # Replay Complete: both Cancels go out (again), Cboe refuses them (unknown), off the file
    engine.flush()
    assert sorted(r.orig_cl_ord_id for r in link.exchange_records if r.type == "Cancel Order") == [one, two]
    assert load_owed(state_dir, "cboe") == (DAY, {})
    lines = owed_cancels_path(state_dir, "cboe").read_bytes().splitlines()
    assert json.loads(lines[0])["day"] == DAY and len(lines) > 1  # a snapshot, then the changes


def test_torn_or_unwritten_lines_when_read_then_left_out_with_a_warning_and_a_damaged_line_before_is_corrupt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = owed_cancels_path(tmp_path, "cboe")
    snapshot = b'{"day":"2024-05-01","cancels":{"A":0}}\n'
    path.write_bytes(snapshot + b'["B",5]\n["A",null]\n["C",1')  # a power failure tore the last line
    caplog.set_level(logging.WARNING)
    assert load_owed(tmp_path, "cboe") == (DAY, {"B": 5})
    [warning] = [r.getMessage() for r in caplog.records if "torn or never written back" in r.getMessage()]
    assert str(path) in warning and "1 line(s)" in warning
    path.write_bytes(snapshot + b'["B",5]\n\0\0\0\0\0\0\0\n\0\0\0')  # pages never written back
    assert load_owed(tmp_path, "cboe") == (DAY, {"A": 0, "B": 5})
    path.write_bytes(snapshot + b'["B",5\n["A",null]\n')  # not the unsynced part's damage: a line cut short
    with pytest.raises(BoeStateError, match="check the venue's open orders with Cboe"):
        load_owed(tmp_path, "cboe")
    reported = corrections_path(tmp_path, "cboe")
    reported.write_bytes(b'{"day":"2024-05-01","seen":[3]}\n4\n5\n12')  # "12" of "123": torn, not taken
    assert load_corrections(tmp_path, "cboe", DAY) == {3, 4, 5}
    reported.write_bytes(b'{"day":"2024-04-30","seen":[3]}\n4\n')
    assert load_corrections(tmp_path, "cboe", DAY) == set()  # another day's


def test_disk_refusing_the_writes_during_a_replay_then_few_error_lines_the_cancels_still_go_and_the_file_caught_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    orders = 300
    link = _link(tmp_path)
    _primary_day(link, orders, canceled=lambda i: i % 10 != 0)
    engine, _rig = gateway_over(link, tmp_path / "journal")
    syscalls = _StateSyscalls(monkeypatch, link.state_dir)
    real_write, real_replace = os.write, os.replace

    def full_disk(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            if syscalls._mine(args[1] if real is real_replace else args[0]):
                raise OSError(28, "No space left on device")
            return real(*args)

        return call

    monkeypatch.setattr(os, "write", full_disk(real_write))
    monkeypatch.setattr(os, "replace", full_disk(real_replace))
    caplog.set_level(logging.ERROR)
    link.connect()
    engine.flush()
    errors = [r.getMessage() for r in caplog.records if "cannot write the" in r.getMessage()]
    assert 0 < len(errors) <= 24  # not one per message (there were 870 changes)
    cancels = {r.orig_cl_ord_id for r in link.exchange_records if r.type == "Cancel Order"}
    assert cancels == {_ghost(i) for i in range(0, orders, 10)}  # they went out all the same
    monkeypatch.undo()  # the disk has room again: the next read's end writes the whole files
    link.core.streams.append(UNIT, OrderAcknowledgment(0, 0, DAY_NS, _ghost(orders), 99_999))
    link.pump()
    engine.flush()
    assert load_owed(link.state_dir, "cboe") == (DAY, {})  # no file before: written whole (its Cancel answered)
    assert len(load_corrections(link.state_dir, "cboe", DAY)) == orders
