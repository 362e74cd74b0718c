"""The latency histograms in the stats file (``gateway.stats_map``): readers map it instead of the reply carrying them.

A reader copies the file while the loop counts (no lock): it must never see a low byte and its ``mid`` byte half
carried. ``gateway status``/``metrics`` read it through ``fetch_snapshot``; where it cannot be read they ask for the
reply with the bytes, as before.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.admin import _binary_request, fetch_snapshot, snapshot_request
from gateway.latency import STAGES, StageLatencies
from gateway.snapshot import decode_snapshot, metrics_snapshot, status_document
from gateway.stats_map import SharedReadError, StatsMap, read_shared
from obs.histogram import BUCKETS, TABLE_SHIFT, index_table
from tests.e2e.support import running_gateway, short_tmp
from tests.test_status_snapshot import VOLATILE_STATUS, _in_thread, _orders

_COUNTER = r"""
import sys
from pathlib import Path
from gateway.latency import StageLatencies

latencies = StageLatencies(shared=Path(sys.argv[1]))
orders = int(sys.argv[2])
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


def test_reader_of_the_stats_file_when_orders_are_counted_meanwhile_then_no_count_is_ever_seen_torn() -> None:
    """Another process counts 60,000 orders (234 carries per bucket); every copy is monotone, the last exact."""
    orders = 60_000
    path = short_tmp() / "gw.stats"
    child = subprocess.Popen(
        [sys.executable, "-c", _COUNTER, str(path), str(orders)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        descriptor = eval(child.stdout.readline())
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
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


def test_read_shared_when_the_file_is_another_runs_or_gone_then_shared_read_error() -> None:
    path = short_tmp() / "gw.stats"
    latencies = StageLatencies(shared=path)
    descriptor = latencies.storage.descriptor()
    assert descriptor is not None
    latencies.orders.add(0, 1_000, 2_000, 3_000, 4_000)
    latencies.orders.wire(5_000)
    low, _mid = read_shared(descriptor, 0)
    assert sum(low) == 8
    with pytest.raises(SharedReadError, match="not this gateway's"):
        read_shared((descriptor[0], descriptor[1], descriptor[2], descriptor[3] + 1), 0)
    with pytest.raises(SharedReadError, match="changed since the reply"):
        read_shared(descriptor, 1)
    latencies.storage.remove()
    assert not path.exists()
    with pytest.raises(SharedReadError, match="cannot open"):
        read_shared(descriptor, 0)
    assert StatsMap(len(STAGES)).descriptor() is None  # anonymous: nothing to read


def _without_volatile(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in VOLATILE_STATUS}


async def test_status_and_metrics_when_read_through_the_stats_file_then_no_histogram_bytes_and_same_documents() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        await _orders(process, 5)
        admin = process.config.path(process.config.admin_socket)
        stats = admin.with_name(admin.name + ".stats")
        st = os.stat(stats)
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
        assert snapshot_request("status", True) == b'{"cmd":"status","reply":"snapshot","shared":true}\n'  # on the wire
        for cmd in ("status", "metrics"):
            shared = (await _in_thread(_binary_request, admin, snapshot_request(cmd, True), 10.0))["snapshot"]
            full = (await _in_thread(_binary_request, admin, snapshot_request(cmd), 10.0))["snapshot"]
            hist = 2 * BUCKETS * len(STAGES)  # 92,160 bytes not sent (the live parts differ by a few bytes)
            assert hist <= len(full) - len(shared) <= hist + 64 and len(shared) < 16_384, (len(full), len(shared))
            assert decode_snapshot(shared).low == b""
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
    assert not stats.exists()  # removed at the stop


async def test_status_when_the_stats_file_cannot_be_read_then_the_reply_with_the_bytes_as_before() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        await _orders(process, 3)
        admin = process.config.path(process.config.admin_socket)
        stats = admin.with_name(admin.name + ".stats")
        elsewhere = stats.with_name("moved.stats")
        shutil.move(stats, elsewhere)  # as a reader in another mount namespace finds it: not there
        try:
            snap = await _in_thread(fetch_snapshot, admin, "status")
            assert sum(snap.latency().counts()["risk"]) == 3
            StatsMap(len(STAGES), stats)  # a left-over of another run at the path (another token)
            await _orders(process, 1)
            snap = await _in_thread(fetch_snapshot, admin, "status")
            assert sum(snap.latency().counts()["risk"]) == 4
        finally:
            stats.unlink(missing_ok=True)
            shutil.move(elsewhere, stats)
        requests = process.admin_stats.requests["status"]
        assert requests == 4, requests  # each read: the shared ask, then the reply with the bytes


async def test_latency_reset_when_read_through_the_stats_file_then_zero() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        await _orders(process, 2)
        admin = process.config.path(process.config.admin_socket)
        assert process.engine is not None
        process.engine.latency.reset()
        snap = await _in_thread(fetch_snapshot, admin, "status")
        assert not any(snap.low) and not any(snap.mid)
        await asyncio.sleep(0)
