"""The latency histograms in a sealed memfd (``gateway.stats_map``): readers map it instead of the reply carrying them.

A reader copies the memfd (``/proc/<pid>/fd/<n>``) while the loop counts (no lock): it must never see a low byte and
its ``mid`` byte half carried. The memfd has all its pages from the start and cannot be truncated (no ``SIGBUS`` on
a full file system or a truncation). ``gateway status``/``metrics`` read it through ``fetch_snapshot``; where it
cannot be read they ask for the reply with the bytes, as before.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import gc
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.admin import _binary_request, fetch_snapshot, snapshot_request
from gateway.app import GatewayProcess
from gateway.latency import STAGES, StageLatencies
from gateway.server import SocketInUseError
from gateway.snapshot import decode_snapshot, metrics_snapshot, stats_file, status_document
from gateway.stats_map import SharedReadError, StatsMap, read_shared
from obs.histogram import BUCKETS, TABLE_SHIFT, index_table
from tests.e2e.support import e2e_limits, gateway_config, running_gateway, short_tmp
from tests.test_status_snapshot import VOLATILE_STATUS, _in_thread, _orders

_COUNTER = r"""
import sys
from gateway.latency import StageLatencies

latencies = StageLatencies(shared=True)
orders = int(sys.argv[1])
print(repr(latencies.storage.descriptor()), flush=True)
sys.stdin.readline()
for _ in range(orders):  # the engine's calls: eight order stages, journal_write and venue_write per order
    latencies.orders.add(0, 1_000, 2_000, 3_000, 4_000)
    latencies.orders.wire(5_000, 4_500, 4_800)
    latencies.delivered(0, 2_000, 0, 1)
print("done", flush=True)
sys.stdin.readline()
"""


def _bucket_counts(low: bytes, mid: bytes, indexes: list[int]) -> list[int]:
    return [low[i] + 256 * mid[i] for i in indexes]


def test_reader_of_the_stats_memfd_when_orders_are_counted_meanwhile_then_no_count_is_ever_seen_torn() -> None:
    """Another process counts 60,000 orders (234 carries per bucket); every copy is monotone, the last exact."""
    orders = 60_000
    child = subprocess.Popen(
        [sys.executable, "-c", _COUNTER, str(orders)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        descriptor = eval(child.stdout.readline())
        assert descriptor[1] == child.pid  # the reply names the counting process's pid and its memfd's number
        table = index_table()
        # each stage's one bucket: flat index = stage * BUCKETS + bucket
        values = {
            "decode": 1_000, "order_checks": 1_000, "risk": 1_000, "encode": 1_000, "ingress_to_risk": 3_000,
            "risk_to_wire": 2_000, "encode_to_wire": 1_000, "ingress_to_wire": 5_000, "journal_write": 300,
            "venue_write": 200, "strategy_write": 2_000, "venue_to_strategy": 2_000,
        }  # fmt: skip
        indexes = [STAGES.index(stage) * BUCKETS + table[ns >> TABLE_SHIFT] for stage, ns in values.items()]
        child.stdin.write("go\n")
        child.stdin.flush()
        seen = [0] * len(indexes)
        reads = 0
        deadline = time.monotonic() + 120
        os.set_blocking(child.stdout.fileno(), False)
        while not child.stdout.readline():
            assert time.monotonic() < deadline, "the counting process did not finish"
            low, mid = read_shared(descriptor, None)
            now = _bucket_counts(low, mid, indexes)
            assert all(a <= b <= orders for a, b in zip(seen, now, strict=True)), (seen, now)
            seen = now
            reads += 1
        low, mid = read_shared(descriptor, None)
        assert _bucket_counts(low, mid, indexes) == [orders] * len(indexes)
        assert sum(low) + 256 * sum(mid) == orders * len(indexes)  # nothing counted anywhere else
        assert reads >= 10, reads  # copies made while it counted
    finally:
        child.kill()
        child.wait(timeout=30)


def test_stats_memfd_when_made_then_every_page_allocated_sealed_and_a_truncation_refused() -> None:
    """rev61merge11 HIGH 1 and 2: no page is left to fault in later (a full file system) and nobody can shrink it."""
    storage = StageLatencies(shared=True).storage
    st = os.fstat(storage.fd)
    assert st.st_size == storage.size == 64 + 2 * len(STAGES) * BUCKETS
    assert st.st_blocks * 512 >= storage.size, st.st_blocks  # given its pages at start, not at a bucket's 256th count
    assert stat.S_IMODE(st.st_mode) == 0o600
    seals = fcntl.fcntl(storage.fd, fcntl.F_GET_SEALS)
    assert seals & (fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL) == (
        fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
    )
    link = f"/proc/{os.getpid()}/fd/{storage.fd}"
    assert os.readlink(link).startswith("/memfd:gateway-stats ")
    with pytest.raises(PermissionError):
        os.ftruncate(storage.fd, 0)
    with pytest.raises(PermissionError):  # `: > file`, `cp saved file`: an open with O_TRUNC
        os.close(os.open(link, os.O_WRONLY | os.O_TRUNC))
    other = os.open(link, os.O_RDWR)
    try:
        with pytest.raises(PermissionError):
            os.ftruncate(other, 4096)
        with pytest.raises(PermissionError):  # F_SEAL_SEAL: the seals cannot be taken off or added to
            fcntl.fcntl(other, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE)
    finally:
        os.close(other)
    assert os.fstat(storage.fd).st_size == storage.size


def test_stats_memfd_when_it_cannot_be_made_then_os_error_for_the_anonymous_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No memory for the pages (ENOSPC in a tiny memory cgroup): an ``OSError`` the gateway logs, then anonymous."""

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    before = set(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="No space"):
        StageLatencies(shared=True)
    monkeypatch.delattr(os, "memfd_create")
    with pytest.raises(OSError, match="memfd_create"):
        StatsMap(len(STAGES), True)
    gc.collect()
    assert set(os.listdir("/proc/self/fd")) <= before  # the memfd closed again


def test_read_shared_when_the_memfd_is_another_runs_or_not_a_memfd_then_shared_read_error() -> None:
    latencies = StageLatencies(shared=True)
    descriptor = latencies.storage.descriptor()
    assert descriptor is not None
    latencies.orders.add(0, 1_000, 2_000, 3_000, 4_000)
    latencies.orders.wire(5_000)
    low, _mid = read_shared(descriptor, 0)
    assert sum(low) == 8
    version, pid, number, token = descriptor
    with pytest.raises(SharedReadError, match="not this gateway's"):
        read_shared((version, pid, number, token + 1), 0)
    with pytest.raises(SharedReadError, match="changed since the reply"):
        read_shared(descriptor, 1)
    read_fd, write_fd = os.pipe()  # another process's descriptor under that number: a FIFO is never opened
    try:
        with pytest.raises(SharedReadError, match="not the gateway's stats memfd"):
            read_shared((version, pid, read_fd, token), 0)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    with pytest.raises(SharedReadError, match="cannot see"):  # no such process (another pid namespace's number)
        read_shared((version, 2**22 + 1, number, token), 0)
    with pytest.raises(SharedReadError, match="layout"):
        read_shared((1, pid, number, token), 0)
    assert StatsMap(len(STAGES)).descriptor() is None  # anonymous: nothing to read


def _without_volatile(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in VOLATILE_STATUS}


async def test_status_and_metrics_when_read_through_the_stats_memfd_then_no_histogram_bytes_and_same_docs() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        await _orders(process, 5)
        admin = process.config.path(process.config.admin_socket)
        assert sorted(p.name for p in admin.parent.iterdir() if p.name.startswith(admin.name)) == [admin.name]
        assert snapshot_request("status", True) == b'{"cmd":"status","reply":"snapshot","shared":true}\n'  # on the wire
        for cmd in ("status", "metrics"):
            shared = (await _in_thread(_binary_request, admin, snapshot_request(cmd, True), 10.0))["snapshot"]
            full = (await _in_thread(_binary_request, admin, snapshot_request(cmd), 10.0))["snapshot"]
            hist = 2 * BUCKETS * len(STAGES)  # 92,160 bytes not sent (the live parts differ by a few bytes)
            assert hist <= len(full) - len(shared) <= hist + 64 and len(shared) < 16_384, (len(full), len(shared))
            assert decode_snapshot(shared).low == b""
            named = stats_file(decode_snapshot(shared))
            assert named is not None and named[1] == os.getpid()  # the gateway's pid and its memfd's number
            assert os.readlink(f"/proc/{named[1]}/fd/{named[2]}").startswith("/memfd:gateway-stats ")
        gc.disable()
        try:
            mapped = await _in_thread(fetch_snapshot, admin, "status")
            copied = await _in_thread(fetch_snapshot, admin, "status", 10.0, False)
            mapped_metrics = await _in_thread(fetch_snapshot, admin, "metrics")
            copied_metrics = await _in_thread(fetch_snapshot, admin, "metrics", 10.0, False)
        finally:
            gc.enable()
        assert mapped.low == copied.low and mapped.mid == copied.mid and sum(mapped.latency().counts()["risk"]) == 5
        assert _without_volatile(status_document(mapped)) == _without_volatile(status_document(copied))
        new, old = metrics_snapshot(mapped_metrics), metrics_snapshot(copied_metrics)
        assert new.latency.counts() == old.latency.counts()
        assert process.admin_stats.requests["status"] == 4 and process.admin_stats.requests["metrics"] == 4


_READER = r"""
import sys
from gateway.admin import fetch_snapshot
snap = fetch_snapshot(sys.argv[1], "status")
print(sum(snap.latency().counts()["risk"]), flush=True)
"""


async def test_status_when_the_reader_is_in_another_pid_namespace_then_the_reply_with_the_bytes_as_before() -> None:
    """A reader that cannot see the gateway's ``/proc/<pid>`` (a container sharing the socket): one request more."""
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], check=False, capture_output=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a pid namespace here: {probe.stderr.decode().strip()}")
    async with running_gateway(short_tmp()) as (process, _sim):
        await _orders(process, 3)
        admin = process.config.path(process.config.admin_socket)
        reader = await asyncio.create_subprocess_exec(
            *("unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", _READER, str(admin)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        out, err = await asyncio.wait_for(reader.communicate(), 60)
        assert reader.returncode == 0, err.decode()
        assert out.decode().split() == ["3"]
        requests = process.admin_stats.requests["status"]
        assert requests == 2, requests  # the shared ask, then the reply with the bytes
        snap = await _in_thread(fetch_snapshot, admin, "status")  # a reader that sees it: one request
        assert sum(snap.latency().counts()["risk"]) == 3 and process.admin_stats.requests["status"] == 3


async def test_status_when_the_gateway_could_not_make_the_memfd_then_every_reply_carries_the_bytes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = os.memfd_create

    def no_memfd(name: str, flags: int) -> int:  # no memory for the stats memfd (the journal's own stays real)
        if name == "gateway-stats":
            raise OSError(errno.ENOMEM, "Cannot allocate memory")
        return real(name, flags)

    monkeypatch.setattr(os, "memfd_create", no_memfd)
    async with running_gateway(short_tmp()) as (process, _sim):
        await _orders(process, 3)
        warnings = [r for r in caplog.records if "latency histograms kept in this process only" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].levelname == "WARNING", warnings
        assert process.engine is not None and process.engine.latency.storage.descriptor() is None
        admin = process.config.path(process.config.admin_socket)
        shared = (await _in_thread(_binary_request, admin, snapshot_request("status", True), 10.0))["snapshot"]
        assert len(decode_snapshot(shared).low) == BUCKETS * len(STAGES)  # the bytes, as before stop 62
        snap = await _in_thread(fetch_snapshot, admin, "status")
        assert sum(snap.latency().counts()["risk"]) == 3
        assert process.admin_stats.requests["status"] == 2  # one each: no second ask


async def test_a_second_gateway_on_the_same_admin_socket_when_it_fails_to_start_then_the_first_reads_as_ever() -> None:
    """rev61merge11 MEDIUM 3: the memfd has no path, so a second gateway cannot remove or replace it."""
    async with running_gateway(short_tmp()) as (process, sim):
        await _orders(process, 2)
        admin = process.config.path(process.config.admin_socket)
        second_dir = short_tmp()
        config = gateway_config(second_dir, sim.port, e2e_limits(second_dir))
        second = GatewayProcess(msgspec.structs.replace(config, admin_socket=str(admin)))
        try:
            with pytest.raises(SocketInUseError):
                await second.start()
        finally:
            await second.stop()
        assert admin.exists()
        await _orders(process, 1)
        snap = await _in_thread(fetch_snapshot, admin, "status")
        assert sum(snap.latency().counts()["risk"]) == 3
        assert process.admin_stats.requests["status"] == 1  # read from the first gateway's memfd: no fallback


async def test_latency_reset_when_read_through_the_stats_memfd_then_zero() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        await _orders(process, 2)
        admin = process.config.path(process.config.admin_socket)
        assert process.engine is not None
        process.engine.latency.reset()
        snap = await _in_thread(fetch_snapshot, admin, "status")
        assert not any(snap.low) and not any(snap.mid)
        await asyncio.sleep(0)
