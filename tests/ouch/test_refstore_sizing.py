"""The UserRefNum block is sized so a healthy but slow disk never stalls order entry at the peak order rate.

rev40ops: with blocks of 1,000 numbers, a strategy pipelining ~50,000 orders/s used a block in 20 ms, and background
writes that took 21-75 ms on a healthy local disk refused 1,317 orders and replaces ``OUCH_REFNUM_STORE``. The
disk here is a real state file whose every write is delayed (``SlowDisk``); the orders go through the real adapter
built from its config, as ``gateway run`` builds it. The block is a validated config key, and the stalls a
``gateway metrics`` counter (pre-created at 0).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.admin import fetch_metrics
from gateway.client import GatewayClient, OrderStatus
from model.clock import FakeClock
from model.enums import Side
from model.send_result import Sent
from model.venue_events import VenueState
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.ouch.harness import Link, make_order
from venues.atomic_file import write_file_atomically
from venues.ouch import refstore
from venues.ouch.adapter import OuchVenue
from venues.ouch.refstore import DEFAULT_BLOCK, WAIT_LIMIT_S
from venues.registry import VenueConfigError, decode_venue_config

PEAK_RATE = 100_000
"""Orders per second: the gateway's documented target (docs/performance.md); its order path tops out near it."""
SLOW_WRITE_S = 0.1
"""Every write of the state file takes this long: above the 21-75 ms rev40ops saw on a healthy ext4 disk."""


class SlowDisk:
    """``write_file_atomically`` as the store calls it, each write delayed ``delay`` s; ``hang``: until ``release``."""

    def __init__(self, real: Callable[[Path, bytes], None]) -> None:
        self.real = real
        self.delay = SLOW_WRITE_S
        self.hang = False
        self.release = threading.Event()
        self.writes = 0

    def __call__(self, path: Path, data: bytes) -> None:
        if self.hang:
            assert self.release.wait(10), "the test never released the write"
        time.sleep(self.delay)
        self.real(path, data)
        self.writes += 1


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowDisk]:
    slow = SlowDisk(write_file_atomically)
    monkeypatch.setattr(refstore, "write_file_atomically", slow)  # refstore is interpreted (not in obs.native)
    yield slow
    slow.release.set()  # never leave the writer thread hanging


def test_orders_at_the_peak_rate_when_every_write_takes_100_ms_then_none_refused(
    tmp_path: Path, disk: SlowDisk
) -> None:
    link = Link(tmp_path, clock=FakeClock())
    link.venue = OuchVenue(link.config, link.clock)  # its own store, from the config (default block), as in production
    link.venue.event_sink = link.events.append
    link.connect()
    assert link.venue.state is VenueState.UP
    count = DEFAULT_BLOCK + DEFAULT_BLOCK // 4  # past a prefetch point and a block's end
    venue = link.venue
    start = time.perf_counter()
    refused: list[tuple[int, object]] = []
    for order_id in range(1, count + 1):
        if order_id % 1_000 == 0:  # never faster than the peak rate (a loaded machine is only slower)
            ahead = start + order_id / PEAK_RATE - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        result = venue.send_new(make_order(order_id))
        if not isinstance(result, Sent):
            refused.append((order_id, result))
    status = venue.status()
    assert refused == [], f"{len(refused)} orders refused, the first {refused[0]}"
    assert status["user_ref_num_store_stalls"] == 0 and status["user_ref_num_store_error"] is None
    assert status["last_user_ref_num"] == count
    assert disk.writes >= 2  # the login's block, then the next one in the background (each 100 ms)
    on_file = json.loads((tmp_path / f"{link.config.name}.userrefnum.json").read_text())
    assert on_file["reserved"] >= count  # every number handed out was on file first
    assert SLOW_WRITE_S > WAIT_LIMIT_S  # a write this slow would stall any block with less than 100 ms of headroom


def test_venue_config_user_ref_num_block_when_bad_then_clear_error_and_default_100000() -> None:
    raw = {"protocol": "ouch", "name": "n", "host": "h", "port": 1, "username": "U", "password": "P"}
    assert decode_venue_config(raw, "venues[0]").user_ref_num_block == DEFAULT_BLOCK == 100_000
    for good in (1_000, 250_000, 10_000_000):
        assert decode_venue_config({**raw, "user_ref_num_block": good}, "venues[0]").user_ref_num_block == good
    for bad, why in ((0, ">= 1000"), (999, ">= 1000"), (10_000_001, "<= 10000000"), (-5, ">= 1000")):
        with pytest.raises(VenueConfigError) as error:
            decode_venue_config({**raw, "user_ref_num_block": bad}, "venues[0]")
        assert "user_ref_num_block" in str(error.value) and why in str(error.value), str(error.value)
    for bad_type in ("big", 1.5, None):
        with pytest.raises(VenueConfigError) as error:
            decode_venue_config({**raw, "user_ref_num_block": bad_type}, "venues[0]")
        assert "user_ref_num_block" in str(error.value), str(error.value)


async def test_metrics_user_ref_num_store_stalls_when_a_write_is_overdue_then_counted_from_zero(disk: SlowDisk) -> None:
    disk.delay = 0.0
    async with running_gateway(short_tmp()) as (process, _sim):
        process.add_venue_metrics_providers()
        config = process.config
        admin = config.path(config.admin_socket)
        loop = asyncio.get_running_loop()
        before = await loop.run_in_executor(None, fetch_metrics, admin)
        assert before.extra["venue_user_ref_num_store_stalls_total"] == 0  # pre-created: increase() sees the first
        (venue,) = process.venues
        store = venue._store  # type: ignore[attr-defined]  # the OUCH adapter's own store
        disk.hang = True
        store.wait_limit = 0.001
        store.ensure_above(store.counter.reserved)  # as an Account Query: the next number needs the next block
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            event = await order.wait_done(timeout=15)
            assert order.status is OrderStatus.REJECTED and getattr(event, "code", None) == "OUCH_REFNUM_STORE", event
            during = await loop.run_in_executor(None, fetch_metrics, admin)
            disk.hang = False
            disk.release.set()
            await wait_for(lambda: store.error is None, what="the overdue write landed")
            store.wait_limit = WAIT_LIMIT_S
            order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            await order.wait_accepted(timeout=15)
        after = await loop.run_in_executor(None, fetch_metrics, admin)
    assert during.extra["venue_user_ref_num_store_stalls_total"] == 1
    assert after.extra["venue_user_ref_num_store_stalls_total"] == 1  # a counter: the stall that ended still shows
