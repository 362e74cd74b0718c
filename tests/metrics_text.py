"""Render ``gateway metrics`` text for one venue's session counters (tests of the per-venue session series)."""

from __future__ import annotations

from gateway.exporter import render
from gateway.latency_snapshot import LatencySnapshot
from gateway.metrics import AdminMetrics, GcMetrics, JournalMetrics, MetricsSnapshot, VenueMetrics


def venue_metrics_text(venue: str, session: dict[str, int], latency: LatencySnapshot) -> str:
    """Return the Prometheus text of a snapshot whose only venue is ``venue`` (UP) with ``session``'s counters."""
    snapshot = MetricsSnapshot(
        gateway_id="gw",
        pid=1,
        start_time=0.0,
        trading_state="ACTIVE",
        counters={},
        rejects=[],
        cancel_rejects=[],
        orders_total=0,
        orders_open=0,
        strategies_configured=0,
        strategies_connected=0,
        venues=[VenueMetrics(venue, "UP", 1, 0, session)],
        journal=JournalMetrics(False, 0, 0, 0, 0, 0, 0, 0, "", {}),
        gc=GcMetrics([0, 0, 0], [0, 0, 0], [0, 0, 0]),
        latency=latency,
        admin=AdminMetrics({}, {}, 0, 0, 0),
    )
    return render(snapshot).decode()
