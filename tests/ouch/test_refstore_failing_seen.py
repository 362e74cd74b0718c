"""An OUCH UserRefNum store that cannot be written is seen by ops (fixouch51, item 2).

Orders were refused ``OUCH_REFNUM_STORE`` correctly, but nothing said why in ``gateway metrics`` (only the generic
reject alert, after 5 minutes) nor in ``gateway status``'s text. Now every failed write of the state file (the first
and each retry, once a second while the disk refuses) counts in the venue's ``user_ref_num_store_failures``:
``gateway_venue_user_ref_num_store_failures_total{venue}`` (alert ``GatewayUserRefNumStoreFailing``, promtool-tested in
deploy/prometheus) and the venue's line of ``gateway status``. Real adapter and simulator (fake clock); the disk
is failed by the same injected writer as tests/ouch/test_refstore_recovery.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.commands.admin import format_status
from gateway.latency_snapshot import LatencySnapshot
from model.send_result import Refused
from model.venue_events import VenueState
from tests.metrics_text import venue_metrics_text
from tests.ouch.harness import Link, gateway_over, make_order
from tests.ouch.test_refstore_recovery import Disk, _written
from venues.atomic_file import write_file_atomically
from venues.ouch import refstore
from venues.ouch.refstore import RETRY_INTERVAL_NS


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    fake = Disk(write_file_atomically)
    monkeypatch.setattr(refstore, "write_file_atomically", fake)  # refstore is interpreted (not in obs.native)
    return fake


def _metrics(link: Link, latency: LatencySnapshot) -> str:
    return venue_metrics_text(link.venue.name, link.venue.session_counters(), latency)


def _venue_line(link: Link) -> str:
    text = format_status({"venues": {link.venue.name: link.venue.status()}})
    return next(line for line in text.splitlines() if line.startswith(f"  {link.venue.name}"))


def test_store_failing_when_orders_are_refused_then_counted_per_venue_in_metrics_and_status(
    tmp_path: Path, disk: Disk
) -> None:
    link = Link(tmp_path / "ouch", heartbeat_interval_ms=5_000, server_timeout_ms=15_000)
    engine, _rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    assert link.venue.state is VenueState.UP
    latency = engine.latency.snapshot()
    assert 'gateway_venue_user_ref_num_store_failures_total{venue="nasdaq"} 0.0' in _metrics(link, latency)
    assert "FAILING" not in _venue_line(link)

    link.send_new(make_order(1))
    link.store.ensure_above(50)  # the block 1..50 is used up: the next order needs a write
    disk.full = True
    refused = link.venue.send_new(make_order(2))
    assert isinstance(refused, Refused) and refused.code == "OUCH_REFNUM_STORE", refused
    assert link.venue.session_counters()["user_ref_num_store_failures"] == 1
    for _ in range(3):  # no order arriving: the retries of the session timer fail, each counted
        link.clock.advance(RETRY_INTERVAL_NS)
        link.venue.poll(link.clock())
        _written(link.store)
    failures = link.venue.status()["user_ref_num_store_failures"]
    assert failures == 4  # the first failure, then one retry a second (the session timer), each failing
    assert f'gateway_venue_user_ref_num_store_failures_total{{venue="nasdaq"}} {failures}.0' in _metrics(link, latency)
    line = _venue_line(link)
    assert "USERREFNUM STORE FAILING (cannot persist UserRefNum reservation" in line, line
    assert "refused OUCH_REFNUM_STORE" in line and f"{failures} failed writes since start" in line

    disk.full = False
    link.clock.advance(RETRY_INTERVAL_NS)
    link.venue.poll(link.clock())
    _written(link.store)
    assert link.venue.check_order(make_order(3)) is None  # orders flow again
    assert link.venue.status()["user_ref_num_store_error"] is None
    line = _venue_line(link)
    assert "FAILING" not in line and f"(UserRefNum store: {failures} failed writes since start" in line
