"""Prometheus exposition of a gateway's metrics, computed outside the gateway process.

``gateway metrics`` prints the current metrics once; ``gateway metrics serve`` runs this module's
exporter: a separate process whose HTTP server, on every scrape, asks the gateway's admin socket
for a ``MetricsSnapshot`` and turns it into metric families here. Nothing of Prometheus (no HTTP
server, no exporter thread, not even the ``prometheus_client`` import) runs inside ``gateway run``:
the gateway's share of a scrape is copying its counters (tens of microseconds on its loop).

Histograms: the gateway keeps log-linear histograms (``obs.histogram``: 3,840 buckets, 0.78 %);
the exporter folds them into the fixed ``le`` bounds below (a bucket counts under a bound only if
it lies wholly below it, so a value is never reported faster than it was) and estimates ``_sum``
from bucket midpoints (within 0.4 %). Requires the ``metrics`` extra (``prometheus-client``).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gateway.admin import AdminError, fetch_metrics
from gateway.metrics import MetricsSnapshot
from obs.histogram import cumulative, dense, estimated_sum, total

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

PREFIX: Final = "gateway"


def _decades(first: int, last: int, steps: Sequence[int] = (1, 2, 3, 5, 7)) -> list[int]:
    out: list[int] = []
    scale = 1
    while scale <= last:
        out += [step * scale for step in steps if first <= step * scale <= last]
        scale *= 10
    return out


LATENCY_BOUNDS_NS: Final = [250, 500, *_decades(1_000, 1_000_000_000), 2_000_000_000, 5_000_000_000, 10_000_000_000]
"""``le`` bounds of every latency histogram: 0.25, 0.5 µs, five per decade (1, 2, 3, 5, 7) to 0.7 s, 1, 2, 5, 10 s."""
FSYNC_BOUNDS_NS: Final = _decades(10_000, 1_000_000_000)
"""``le`` bounds of the journal fsync histogram: 10 µs .. 1 s."""

ENGINE_COUNTERS: Final = {
    "orders_received": ("orders_received", "NewOrders received from strategies"),
    "orders_sent": ("orders_sent", "orders sent to venues"),
    "accepted": ("orders_accepted", "orders accepted by venues"),
    "executions": ("fills", "executions (fills and partial fills) from venues"),
    "filled": ("orders_filled", "orders completely filled"),
    "canceled": ("orders_canceled", "orders canceled (by request, IOC remainder, venue)"),
    "replaced": ("orders_replaced", "replaces confirmed by venues"),
    "cancels_sent": ("cancels_sent", "cancel requests sent to venues"),
    "replaces_sent": ("replaces_sent", "replace requests sent to venues"),
    "cancel_rejected": ("venue_cancel_rejects", "cancels or replaces refused by venues"),
    "venue_events": ("venue_events", "order events received from venues"),
    "venue_events_unknown_order": ("venue_events_unknown_order", "venue events for no known order (ignored)"),
    "venue_events_out_of_place": ("venue_events_out_of_place", "venue events not valid in the order's state"),
    "overfills": ("overfills", "executions for more than the order had open (applied; a venue error)"),
    "repeated_fills": ("repeated_fills", "executions whose execution id the order had already applied (not applied)"),
    "late_fills": ("late_fills", "executions reported after the order had ended here (applied to the position)"),
    "venue_events_duplicate": ("venue_events_duplicate", "venue events replayed after a restart and dropped"),
    "strategy_connections": ("strategy_connections", "strategy sessions opened (Hello accepted)"),
    "strategy_refused": ("strategy_refused", "strategy Hellos refused"),
    "strategy_seq_ahead": ("strategy_seq_ahead", "Hellos whose last_seq was beyond the journal's (LAST_SEQ_AHEAD)"),
    "strategy_disconnects": ("strategy_disconnects", "strategy sessions ended"),
    "invalid_requests": ("invalid_requests", "strategy requests with invalid fields"),
    "account_not_permitted": ("account_not_permitted", "orders for accounts the strategy may not trade"),
}
"""EngineCounters field -> (metric name after ``gateway_``, help). Every one is a counter (``_total``)."""

TRADING_STATES: Final = ("ACTIVE", "REDUCING", "HALTED")
VENUE_STATES: Final = ("DISCONNECTED", "CONNECTING", "LOGGING_IN", "UP", "ENDED", "LOGIN_REFUSED")


def _histogram(name: str, doc: str, label: str | None, series: dict[str, list[int]], bounds: Sequence[int]) -> Metric:
    """Return a histogram family in seconds from ns bucket counts per label value."""
    from prometheus_client.core import HistogramMetricFamily  # noqa: PLC0415 - the metrics extra, on use only

    family = HistogramMetricFamily(f"{PREFIX}_{name}", doc, labels=[label] if label else [])
    for value, counts in series.items():
        running = cumulative(counts, bounds)
        buckets = [(repr(bound / 1e9), float(n)) for bound, n in zip(bounds, running, strict=True)]
        buckets.append(("+Inf", float(total(counts))))
        family.add_metric([value] if label else [], buckets, estimated_sum(counts) / 1e9)
    return family


def families(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """Yield every metric family of one snapshot."""
    from prometheus_client.core import (  # noqa: PLC0415 - the metrics extra, on use only
        CounterMetricFamily,
        GaugeMetricFamily,
        InfoMetricFamily,
    )

    def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
        return CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)

    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)

    info = InfoMetricFamily(PREFIX, "the gateway answering this admin socket")
    info.add_metric([], {"gateway_id": snapshot.gateway_id, "pid": str(snapshot.pid)})
    yield info
    yield gauge("start_time_seconds", "Unix time the gateway process started", snapshot.start_time)
    trading = GaugeMetricFamily(
        f"{PREFIX}_trading_state",
        "firm-wide trading state (1 for the current one; HALTED: kill switch)",
        labels=["state"],
    )
    for state in TRADING_STATES:
        trading.add_metric([state], 1.0 if snapshot.trading_state == state else 0.0)
    yield trading

    for field, (name, doc) in ENGINE_COUNTERS.items():
        yield counter(name, doc, snapshot.counters.get(field, 0))
    for name, doc, rows in (
        (
            "order_rejects",
            "OrderRejected sent to strategies, by source (RISK, GATEWAY, VENUE) and code",
            snapshot.rejects,
        ),
        ("cancel_rejects", "CancelRejected sent to strategies, by source and code", snapshot.cancel_rejects),
    ):
        family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["source", "code"])
        for source, code, count in rows:
            family.add_metric([source, code], count)
        yield family
    yield gauge("orders", "orders the gateway holds today (open and closed)", snapshot.orders_total)
    yield gauge("open_orders", "orders open at venues", snapshot.orders_open)
    yield gauge("strategy_sessions", "strategies connected now", snapshot.strategies_connected)
    yield gauge("strategies_configured", "strategies in the gateway config", snapshot.strategies_configured)

    up = GaugeMetricFamily(
        f"{PREFIX}_venue_up", "1 while the venue session is UP (orders may be sent)", labels=["venue"]
    )
    session = GaugeMetricFamily(
        f"{PREFIX}_venue_state", "venue session state (1 for the current one)", labels=["venue", "state"]
    )
    connections = CounterMetricFamily(
        f"{PREFIX}_venue_connections", "TCP connections made to the venue", labels=["venue"]
    )
    reconnects = CounterMetricFamily(
        f"{PREFIX}_venue_reconnects", "connections made after the first (reconnects)", labels=["venue"]
    )
    failures = CounterMetricFamily(f"{PREFIX}_venue_connect_failures", "failed connection attempts", labels=["venue"])
    for venue in snapshot.venues:
        up.add_metric([venue.name], 1.0 if venue.state == "UP" else 0.0)
        for name in VENUE_STATES:
            session.add_metric([venue.name, name], 1.0 if venue.state == name else 0.0)
        connections.add_metric([venue.name], venue.connections)
        reconnects.add_metric([venue.name], max(venue.connections - 1, 0))
        failures.add_metric([venue.name], venue.connect_failures)
    yield from (up, session, connections, reconnects, failures)

    journal = snapshot.journal
    yield gauge("journal_enabled", "1 if the order journal is on", 1.0 if journal.enabled else 0.0)
    yield gauge(
        "journal_healthy", "0 while journal writes fail (new orders are refused)", 0.0 if journal.error else 1.0
    )
    yield counter("journal_records", "journal records written", journal.records)
    yield counter("journal_bytes", "journal bytes handed to the kernel", journal.bytes_written)
    yield counter("journal_synced_bytes", "journal bytes known to be on disk (fdatasync)", journal.bytes_synced)
    yield gauge(
        "journal_unsynced_bytes",
        "journal lag: bytes written but not yet synced to disk",
        max(journal.bytes_written - journal.bytes_synced, 0),
    )
    yield gauge("journal_pending_bytes", "journal records encoded but not yet written", journal.pending_bytes)
    yield counter("journal_fsyncs", "journal fdatasyncs", journal.fsyncs)
    yield counter("journal_fsync_failures", "journal fdatasyncs that failed", journal.fsync_failures)
    yield counter("journal_write_failures", "journal writes that failed", journal.write_failures)
    yield _histogram(
        "journal_fsync_seconds", "journal fdatasync duration", None, {"": dense(journal.fsync_ns)}, FSYNC_BOUNDS_NS
    )

    gc = snapshot.gc
    for name, doc, values in (
        ("gc_collections", "Python garbage collections, by generation", gc.collections),
        ("gc_collected_objects", "objects freed by the garbage collector, by generation", gc.collected),
        ("gc_uncollectable_objects", "uncollectable objects found, by generation", gc.uncollectable),
    ):
        family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["generation"])
        for generation, count in enumerate(values):
            family.add_metric([str(generation)], count)
        yield family
    for name, number in sorted(snapshot.extra.items()):
        if name.endswith("_total"):
            yield counter(name.removesuffix("_total"), name.replace("_", " "), number)
        else:
            yield gauge(name, name.replace("_", " "), number)

    yield _histogram(
        "stage_latency_seconds",
        "gateway stage latency from its own monotonic timestamps (docs/performance.md, stage breakdown)",
        "stage",
        snapshot.latency.counts(),
        LATENCY_BOUNDS_NS,
    )
    admin = snapshot.admin
    requests = CounterMetricFamily(f"{PREFIX}_admin_requests", "admin socket requests answered", labels=["command"])
    for command, count in sorted(admin.requests.items()):
        requests.add_metric([command], count)
    yield requests
    yield _histogram(
        "admin_loop_seconds",
        "event-loop time per admin request (parse to reply handed to the socket)",
        None,
        {"": dense(admin.loop_ns)},
        LATENCY_BOUNDS_NS,
    )


def render(snapshot: MetricsSnapshot) -> bytes:
    """Return the Prometheus text exposition of one snapshot."""
    from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(snapshot))
    return generate_latest(registry)


class _Fixed:
    """A collector that yields the families of one snapshot."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        return families(self._snapshot)


class AdminSocketCollector:
    """Asks the gateway's admin socket on every scrape; ``gateway_up`` says whether it answered."""

    def __init__(self, admin_socket: str | Path, timeout_s: float = 5.0) -> None:
        self.admin_socket = admin_socket
        self.timeout_s = timeout_s

    def collect(self) -> Iterator[Metric]:
        """Yield ``gateway_up`` and, if the gateway answered, every family of its snapshot."""
        from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415

        try:
            snapshot = fetch_metrics(self.admin_socket, self.timeout_s)
        except (AdminError, OSError) as exc:
            print(f"gateway metrics serve: scrape of {self.admin_socket} failed: {exc}", file=sys.stderr)
            yield GaugeMetricFamily(f"{PREFIX}_up", "1 if the gateway's admin socket answered this scrape", value=0.0)
            return
        yield GaugeMetricFamily(f"{PREFIX}_up", "1 if the gateway's admin socket answered this scrape", value=1.0)
        yield from families(snapshot)


def serve(admin_socket: str | Path, host: str, port: int, timeout_s: float = 5.0) -> int:
    """Serve ``/metrics`` on ``host:port`` until SIGTERM or SIGINT; return the exit code (2: cannot listen)."""
    from prometheus_client import CollectorRegistry, start_http_server  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=False)
    registry.register(AdminSocketCollector(admin_socket, timeout_s))
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        print(
            f"gateway metrics serve: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another exporter running there? choose another port with --listen)",
            file=sys.stderr,
        )
        return 2
    print(f"gateway metrics serve: http://{host}:{port}/metrics, scraping {admin_socket}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    server.shutdown()
    thread.join(timeout=5)
    return 0
