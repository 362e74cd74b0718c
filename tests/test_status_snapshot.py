"""The status snapshot: ``gateway status`` and ``gateway metrics`` assembled by the reader, as the gateway built them.

The gateway answers ``"reply": "snapshot"`` with counters, histogram bytes and small live parts
(``gateway.snapshot``); the reader assembles the documents. These tests compare that with the
documents the gateway builds itself (the JSON and MessagePack replies), for the same state, and
check that the snapshot's size and the loop-side allocation do not grow with the orders.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import struct
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from gateway import admin as admin_module
from gateway import journal_syncer
from gateway.admin import (
    AdminError,
    AdminProtocol,
    AdminStats,
    admin_request_msgpack,
    fetch_metrics,
    fetch_snapshot,
    fetch_status,
    snapshot_request,
    start_admin_server,
)
from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.journal import MmapJournal
from gateway.latency import LatencySnapshot, StageLatencies
from gateway.metrics import decode_metrics
from gateway.protocol.messages import OrderAccepted
from gateway.snapshot import LAYOUT_VERSION, MAGIC, METRICS, STATUS, SnapshotWriter, decode_snapshot, metrics_snapshot
from model.enums import Side
from obs.histogram import TABLE_SHIFT, index_table
from tests.e2e.support import JOURNAL_METRICS_AT_START, running_gateway, short_tmp, without_free_bytes

VOLATILE_STATUS = ("uptime_s", "admin")


async def _orders(process: GatewayProcess, count: int, price: str = "229.00") -> None:
    config = process.config
    async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
        for _ in range(count):
            order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price)
            assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
        refused = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 10**9, price)  # a risk reject
        await refused.wait_accepted(timeout=15)


def _old_status(admin: Any) -> dict[str, Any]:
    """The status document as the gateway builds it (``reply: msgpack``), with ``latency_us`` as before."""
    reply = admin_request_msgpack(admin, {"cmd": "status"})
    assert reply["ok"], reply
    status: dict[str, Any] = reply["status"]
    status["latency_us"] = msgspec.convert(status.pop("latency"), LatencySnapshot).summaries()
    return status


async def _in_thread(func: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


_FIXED_SECTION: dict[str, Any] = {"acceleration": {"onload": False}}


def _providers(process: GatewayProcess) -> None:
    process.add_status_provider(lambda: {"ops_section": {"spinner": None, "gc": {"pauses": 3}}})
    process.add_status_provider(
        lambda: {**_FIXED_SECTION, "spinner": {"kicks": 2}}, lambda: (_FIXED_SECTION, {"spinner": {"kicks": 2}})
    )
    process.add_metrics_provider(lambda: {"gc_pause_seconds_total": 0.25, "gc_pause_max_seconds": 0.125})


async def test_status_when_assembled_from_the_snapshot_then_equals_the_gateway_built_document() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        _providers(process)
        await _orders(process, 5)
        admin = process.config.path(process.config.admin_socket)
        gc.disable()
        try:
            old = await _in_thread(_old_status, admin)
            new = await _in_thread(fetch_status, admin)
        finally:
            gc.enable()
        assert new["latency_us"]["risk"]["count"] == 5
        assert new["counters"]["orders_received"] == 6 and new["rejects"]
        assert new["risk"]["accounts"]["ACC1"]["open_orders"] == old["risk"]["accounts"]["ACC1"]["open_orders"]
        assert new["ops_section"] == {"spinner": None, "gc": {"pauses": 3}}
        assert new["acceleration"] == {"onload": False} and new["spinner"] == {"kicks": 2}
        for key in VOLATILE_STATUS:
            assert key in new
            old.pop(key)
            new.pop(key)
        assert new == old
        assert list(new) == list(old)


async def test_metrics_when_assembled_from_the_snapshot_then_equals_the_gateway_built_snapshot() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        _providers(process)
        await _orders(process, 5)
        admin = process.config.path(process.config.admin_socket)
        gc.disable()
        try:
            old_reply = await _in_thread(admin_request_msgpack, admin, {"cmd": "metrics"})
            new = await _in_thread(fetch_metrics, admin)
        finally:
            gc.enable()
        old = decode_metrics(old_reply["metrics"])
        assert new.counters["orders_received"] == 6 and new.rejects
        assert without_free_bytes(new.extra) == {
            **JOURNAL_METRICS_AT_START,
            "gc_pause_seconds_total": 0.25,
            "gc_pause_max_seconds": 0.125,
        }
        assert new.latency.counts() == old.latency.counts()
        assert new.admin.requests["metrics"] == old.admin.requests.get("metrics", 0) + 1
        assert msgspec.structs.replace(new, admin=old.admin) == old


async def test_status_snapshot_when_stages_counted_past_their_bytes_then_the_reader_reads_every_count_back() -> None:
    """The live arrays the snapshot sends (counted by the C extension when compiled) read back as the inline counts."""
    async with running_gateway(short_tmp()) as (process, _sim):
        assert process.engine is not None
        latency = process.engine.latency
        latency.reset()
        inline = StageLatencies(None)
        for target in (latency, inline):
            for _ in range(66_000):  # one bucket per stage past 256 (into mid) and past 65,536 (into carried)
                target.orders.add(0, 1_000, 2_000, 3_000, 4_000)
                target.orders.wire(5_000, 4_500, 4_800)
            for k in range(64):  # a batch of one read
                target.orders.add(10_000, 11_000, 12_000 + k, 13_000 + k, 14_000 + k)
            target.orders.wire(20_000, 19_000, 19_500)
            target.delivered(0, 2_000, 0, 300)
        snap = await _in_thread(fetch_snapshot, process.config.path(process.config.admin_socket), "status")
        counts = snap.latency().counts()
        assert counts == inline.snapshot().counts()
        assert counts["risk"][index_table()[1_000 >> TABLE_SHIFT]] == 66_064 and sum(counts["decode"]) == 66_064
        assert sum(counts["venue_to_strategy"]) == 300 and sum(counts["journal_write"]) == 66_001


def _synced_and_counted(journal: MmapJournal, injected: int) -> bool:
    """Return True once the last batch is synced and counted: fsyncs equal the timed syncs, less ``injected``."""
    sparse, _first, dense = journal.fsync_ns_parts()
    timed = sum(sparse.values()) + sum(memoryview(dense).cast("Q"))
    del dense
    return journal.bytes_synced == journal.bytes_written and journal.fsyncs == timed - injected


async def test_metrics_when_the_syncer_counted_syncs_then_its_dense_slots_are_sent_and_merged_by_the_reader() -> None:
    async with running_gateway(short_tmp(), fsync="interval") as (process, _sim):
        journal = process.journal
        assert isinstance(journal, MmapJournal) and journal._ctrl_map is not None
        for index in (3000, 700, 700, 2999):  # as the syncer counts, beside what it counts itself
            journal_syncer.count(journal._ctrl, index)
        journal._fsync_ns.record(1 << 30)  # a sync on the loop thread (close, "batch"): the sparse part
        await _orders(process, 3)
        # the last batch's sync, counted (the syncer stores the fsync count last): none between the two asks
        deadline = time.monotonic() + 10
        while not _synced_and_counted(journal, injected=5):
            assert time.monotonic() < deadline, "the last batch's sync was never counted"
            await asyncio.sleep(0.005)
        admin = process.config.path(process.config.admin_socket)
        gc.disable()
        try:
            old_reply = await _in_thread(admin_request_msgpack, admin, {"cmd": "metrics"})
            snap = await _in_thread(fetch_snapshot, admin, "metrics")
        finally:
            gc.enable()
        old = decode_metrics(old_reply["metrics"])
        new = metrics_snapshot(snap)
        first, end = journal._ctrl[journal_syncer.FIRST_BUCKET], journal._ctrl[journal_syncer.END_BUCKET]
        assert first <= 700 and end == 3001
        assert new.journal.fsync_ns[3000] == 1 and new.journal.fsync_ns[700] >= 2
        assert new.journal.fsync_ns == journal.fsync_ns.counts == old.journal.fsync_ns
        assert msgspec.structs.replace(new, admin=old.admin) == old
        for splice_max, spliced in ((0, True), (len(snap.low) * 4, True), (len(snap.low) * 2, False)):
            frame = bytearray()  # (a reply of ~96 KiB: 4 x 46 KiB takes it, 2 x does not with the range)
            SnapshotWriter(process, splice_max=splice_max).write(frame, 0, METRICS)
            bounded = decode_snapshot(bytes(frame))
            assert (bounded.fsync_dense != b"") is spliced, splice_max  # past the bound: merged on the loop
            if spliced:  # the counted range only, not all 3,840 slots
                assert bounded.live[-1] == first and len(bounded.fsync_dense) == (end - first) * 8
            assert metrics_snapshot(bounded).journal.fsync_ns == journal.fsync_ns.counts


async def test_status_snapshot_when_the_syncer_counted_syncs_then_no_dense_part() -> None:
    async with running_gateway(short_tmp(), fsync="interval") as (process, _sim):
        journal = process.journal
        assert isinstance(journal, MmapJournal)
        journal_syncer.count(journal._ctrl, 1234)
        snap = await _in_thread(fetch_snapshot, process.config.path(process.config.admin_socket), "status")
        assert snap.fsync_dense == b""


def test_decode_snapshot_when_an_older_layout_then_value_error_naming_it() -> None:
    old = struct.pack("<4sHHIIII", MAGIC, LAYOUT_VERSION - 1, METRICS, 8, 0, 0, 0) + bytes(64)
    with pytest.raises(ValueError, match=f"layout b'GWSS'/{LAYOUT_VERSION - 1}"):
        decode_snapshot(old)


async def _snapshot_cost(process: GatewayProcess, kind: int) -> tuple[int, int]:
    """Return (snapshot bytes, bytes the loop-side writer allocated and kept or peaked at) for one write."""
    writer = SnapshotWriter(process)
    frame = bytearray()
    writer.write(frame, 0, kind)  # the first write sizes the buffer and encodes the slow part
    tracemalloc.start()
    try:
        writer.write(frame, 0, kind)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return len(frame), peak


async def test_snapshot_when_ten_times_the_orders_then_same_size_and_allocation() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        await _orders(process, 20)
        small = {kind: await _snapshot_cost(process, kind) for kind in (STATUS, METRICS)}
        await _orders(process, 200)
        large = {kind: await _snapshot_cost(process, kind) for kind in (STATUS, METRICS)}
    for kind in (STATUS, METRICS):
        assert small[kind][0] <= large[kind][0] <= small[kind][0] + 32, (kind, small, large)  # wider ints only
        assert large[kind][1] <= small[kind][1] + 256, (kind, small, large)


async def test_snapshot_when_requested_then_counts_the_request_and_reports_its_loop_cost() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        admin = process.config.path(process.config.admin_socket)
        fetch: Callable[..., Awaitable[Any]] = _in_thread
        await fetch(fetch_snapshot, admin, "metrics")
        second = await fetch(fetch_snapshot, admin, "status")
        assert process.admin_stats.requests == {"metrics": 1, "status": 1}
        assert second.fixed["admin_last_loop_ns"] > 0
        assert second.live[4] == {"metrics": 1}


async def test_fetch_snapshot_when_the_server_has_none_or_answers_json_then_admin_error_saying_so() -> None:
    path = short_tmp() / "a.sock"
    server = await start_admin_server(path, {"status": lambda req, who: {"document": True}})
    try:  # no snapshot writer for status: the document comes back, in MessagePack
        with pytest.raises(AdminError, match="without a snapshot"):
            await asyncio.to_thread(fetch_snapshot, path, "status")
    finally:
        server.close()
        await server.wait_closed()

    async def json_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # a gateway from before "reply": answers every request with a JSON line
        writer.write(b'{"ok": true, "status": {}}\n')
        await writer.drain()
        writer.close()

    old = await asyncio.start_unix_server(json_only, str(path))
    try:
        with pytest.raises(AdminError, match="answered in JSON"):
            await asyncio.to_thread(fetch_snapshot, path, "status", 5.0)
    finally:
        old.close()
        await old.wait_closed()


class _CountingTransport:
    """A transport over one end of a socketpair that counts ``get_extra_info`` calls."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.extra_info_calls = 0
        self.written: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        self.extra_info_calls += 1
        return self.sock if name == "socket" else default

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass  # the admin protocol bounds what queues for a client (gateway.admin.ADMIN_WRITE_HIGH)

    def is_closing(self) -> bool:
        return False


def test_admin_when_status_snapshot_asked_then_no_peer_lookup_and_other_commands_still_name_the_caller() -> None:
    callers: list[str] = []

    def kill(request: dict[str, Any], who: str) -> dict[str, Any]:
        callers.append(who)
        return {}

    protocol = AdminProtocol(
        {"kill": kill},
        AdminStats(),
        {"status": lambda frame, offset: frame.extend(b"snap")},
    )
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    with ours, theirs:
        transport = _CountingTransport(ours)
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(snapshot_request("status"))
        assert transport.extra_info_calls == 0  # connecting and polling cost no SO_PEERCRED lookup
        assert transport.written[0].endswith(b"snap")
        protocol.data_received(b'{"cmd": "kill"}\n')
    assert callers == [f"pid {os.getpid()} uid {os.getuid()}"]


class _StuckTransport(_CountingTransport):
    """A transport with replies queued already (a client that does not read them)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.aborted = False

    def get_write_buffer_size(self) -> int:
        return 1000

    def abort(self) -> None:
        self.aborted = True


def _receive_all(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    data = b""
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return data
        data += chunk


def test_snapshot_reply_when_spliced_then_one_writev_on_the_socket_and_what_it_did_not_take_copied_at_once() -> None:
    live = (bytearray(b"H" * 100_000), bytearray(b"M" * 50))

    def write(frame: bytearray, offset: int) -> tuple[int, tuple[bytearray, ...]]:
        frame[offset:] = b"head" + b"tail"
        return offset + 4, live

    whole_reply = b"head" + b"H" * 100_000 + b"M" * 50 + b"tail"
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    with ours, theirs:
        ours.setblocking(False)  # as the event loop's sockets are
        whole = _CountingTransport(ours)
        protocol = AdminProtocol({}, AdminStats(), {"status": write})
        protocol.connection_made(whole)  # type: ignore[arg-type]
        protocol.data_received(snapshot_request("status"))
        sent = _receive_all(theirs)
        assert whole.written == []  # the socket took it all, from the live buffers: no copy
        assert msgspec.msgpack.decode(sent[4:]) == {"ok": True, "snapshot": whole_reply}
        assert int.from_bytes(sent[:4], "big") == len(sent) - 4
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # a socket that takes part of it
        part = AdminProtocol({}, AdminStats(), {"status": write})
        transport = _CountingTransport(ours)
        part.connection_made(transport)  # type: ignore[arg-type]
        part.data_received(snapshot_request("status"))
        live[0][:] = b"X" * 100_000  # the loop goes on: the live counters change
        taken = _receive_all(theirs)
        assert 0 < len(taken) < len(sent) and len(transport.written) == 1  # the rest queued on the transport
        sent_later = taken + transport.written[0]  # old: aborted (or sent later from the changed bytes: torn)
        assert msgspec.msgpack.decode(sent_later[4:]) == {"ok": True, "snapshot": whole_reply}


def test_snapshot_reply_when_replies_are_queued_ahead_then_queued_after_them_with_the_live_bytes_copied() -> None:
    live = (bytearray(b"H" * 100), bytearray(b"M" * 50))

    def write(frame: bytearray, offset: int) -> tuple[int, tuple[bytearray, ...]]:
        frame[offset:] = b"head" + b"tail"
        return offset + 4, live

    ours, theirs = socket.socketpair(socket.AF_UNIX)
    with ours, theirs:
        stuck = _StuckTransport(ours)  # a writev now would go ahead of the replies queued: the transport's to send
        protocol = AdminProtocol({}, AdminStats(), {"status": write})
        protocol.connection_made(stuck)  # type: ignore[arg-type]
        protocol.data_received(snapshot_request("status"))
        live[0][:] = b"X" * 100  # the loop goes on
        assert _receive_all(theirs) == b""
    assert not stuck.aborted and len(stuck.written) == 1
    reply = msgspec.msgpack.decode(stuck.written[0][4:])
    assert reply == {"ok": True, "snapshot": b"head" + b"H" * 100 + b"M" * 50 + b"tail"}


class _KeepingTransport(_CountingTransport):
    """A transport that keeps what it is given to queue as given (to tell a reference from a copy)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.given: list[bytes | bytearray | memoryview] = []

    def write(self, data: bytes) -> None:
        self.given.append(data)
        super().write(data)


def test_snapshot_reply_when_larger_than_the_socket_takes_then_spliced_and_its_slow_bytes_queued_uncopied() -> None:
    slow = b"S" * 600_000  # a limits file of ~80,000 account names: immutable, encoded once per load
    live = (bytearray(b"H" * 150_000), bytearray(b"M" * 50), slow)

    def write(frame: bytearray, offset: int) -> tuple[int, tuple[bytes | bytearray, ...]]:
        frame[offset:] = b"head" + b"T" * 70_000
        return offset + 4, live

    whole_reply = b"head" + b"H" * 150_000 + b"M" * 50 + slow + b"T" * 70_000
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    with ours, theirs:
        ours.setblocking(False)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65_536)  # takes part of the histogram bytes
        transport = _KeepingTransport(ours)
        protocol = AdminProtocol({}, AdminStats(), {"status": write})
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(snapshot_request("status"))
        live[0][:] = b"X" * 150_000  # the loop goes on: the live counters change, the reply buffer is reused
        reused = AdminProtocol._frame
        assert reused is not None  # the reply buffer is free for the next request: rewrite it
        reused[:] = bytes(len(reused))
        taken = _receive_all(theirs)
    sent = taken + b"".join(transport.written)
    assert msgspec.msgpack.decode(sent[4:]) == {"ok": True, "snapshot": whole_reply}
    assert 0 < len(taken) < 150_000  # the socket took part of the histogram bytes at once (old: nothing, copied)
    by_reference = [part for part in transport.given if part is slow or getattr(part, "obj", None) is slow]
    assert len(by_reference) == 1  # old: the whole reply copied into the reply buffer first
    copied = sum(len(part) for part in transport.given) - len(slow)
    assert copied == len(sent) - len(taken) - len(slow) < 220_000  # only the live bytes and the frame's tail


async def test_snapshot_reply_when_large_and_read_slowly_then_byte_exact_and_the_live_part_as_captured() -> None:
    """A reply much larger than the socket takes, read in small pieces with pauses while the loop changes the live
    buffers and answers other requests (the reply buffer rewritten): the client gets the capture's bytes."""
    slow = bytes(range(256)) * 2_000  # 512,000 immutable bytes
    low = bytearray(120_000)
    calls: list[bytes] = []

    def write(frame: bytearray, offset: int) -> tuple[int, tuple[bytes | bytearray, ...]]:
        n = len(calls)
        low[:] = bytes([n % 251]) * len(low)
        head, tail = b"head%03d" % n, (b"tail%03d" % n) * 5_000
        frame[offset:] = head + tail
        calls.append(head + bytes(low) + slow + tail)
        return offset + len(head), (low, slow)

    path = short_tmp() / "admin.sock"
    server = await start_admin_server(path, {}, AdminStats(), {"status": write})

    def read_slowly() -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(str(path))
            sock.sendall(snapshot_request("status"))
            data = b""
            while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
                chunk = sock.recv(4_096)
                assert chunk, "the gateway closed before the whole reply"
                data += chunk
                if len(data) % 65_536 < 4_096:
                    time.sleep(0.02)  # a pause: the gateway answers others, the live bytes change meanwhile
            return data

    try:
        slow_reader = asyncio.get_running_loop().run_in_executor(None, read_slowly)
        while not calls:
            await asyncio.sleep(0.005)
        others = []
        for _ in range(5):  # other requests rewrite the reply buffer and the live bytes while the first is read
            others.append(await asyncio.get_running_loop().run_in_executor(None, fetch_snapshot_bytes, path))
            low[:] = b"\xee" * len(low)
        data = await asyncio.wait_for(slow_reader, 60)
    finally:
        server.close()
        await server.wait_closed()
    assert len(data) == 4 + int.from_bytes(data[:4], "big")
    assert msgspec.msgpack.decode(data[4:]) == {"ok": True, "snapshot": calls[0]}
    for n, other in enumerate(others, 1):
        assert msgspec.msgpack.decode(other[4:]) == {"ok": True, "snapshot": calls[n]}


def fetch_snapshot_bytes(path: Any) -> bytes:
    """Return one whole ``status`` snapshot reply, read at once."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(snapshot_request("status"))
        data = b""
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
            chunk = sock.recv(1 << 20)
            assert chunk, "the gateway closed before the whole reply"
            data += chunk
        return data


def test_splice_bound_when_read_from_a_fresh_unix_socket_then_half_its_send_buffer() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        assert admin_module.SPLICE_MAX == probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2 > 0
