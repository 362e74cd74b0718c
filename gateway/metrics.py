"""The metrics snapshot: what ``gateway metrics`` and the exporter turn into Prometheus families.

``gateway metrics`` and the exporter assemble a ``MetricsSnapshot`` from the binary snapshot the
loop writes (``gateway.snapshot.metrics_snapshot``); ``GatewayProcess.metrics`` builds the same
object on the loop for a JSON or ``"reply": "msgpack"`` request. Neither computes a percentile,
formats or sorts on the loop, and nothing grows with the number of orders. Everything else
(Prometheus names, buckets, percentiles) happens in the process that asked: ``gateway.exporter``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from gateway.latency import LatencySnapshot


class VenueMetrics(msgspec.Struct, frozen=True):
    """One venue session."""

    name: str
    state: str
    """``model.venue_events.VenueState`` value: DISCONNECTED, CONNECTING, LOGGING_IN, UP, ENDED, LOGIN_REFUSED."""
    connections: int
    """TCP connections made since start-up (the first one plus every reconnect)."""
    connect_failures: int
    """Connection attempts that failed (refused, timed out)."""
    session: dict[str, int] = {}
    """The session's counters of ``venues.base.SESSION_COUNTERS`` the adapter keeps (replay gaps, packets given up,
    protocol and decode errors, packets ignored): exported per venue."""


class JournalMetrics(msgspec.Struct, frozen=True):
    """The order journal's counters."""

    enabled: bool
    records: int
    bytes_written: int
    """Bytes handed to the kernel (``os.write``)."""
    bytes_synced: int
    """Bytes known to be on disk (as of the last successful fdatasync)."""
    pending_bytes: int
    """Records encoded but not yet written (normally 0 between batches)."""
    fsyncs: int
    fsync_failures: int
    write_failures: int
    """Journal writes that failed (the engine refuses orders until a write succeeds)."""
    error: str
    """Why the last write failed ("" while healthy)."""
    fsync_ns: dict[int, int]
    """fdatasync durations (ns): bucket index -> count, ``obs.histogram`` layout."""


class GcMetrics(msgspec.Struct, frozen=True):
    """Python's garbage collector (``gc.get_stats()``), by generation."""

    collections: list[int]
    collected: list[int]
    uncollectable: list[int]


class AdminMetrics(msgspec.Struct, frozen=True):
    """What admin requests cost the event loop (the requests before this one)."""

    requests: dict[str, int]
    """Requests answered, by command."""
    loop_ns: dict[int, int]
    """Event-loop time per request (ns, parse to reply handed to the socket): bucket index -> count."""
    last_loop_ns: int
    max_loop_ns: int
    last_cpu_ns: int
    """The loop thread's CPU time for the last request (the work itself, without preemption)."""


class MetricsSnapshot(msgspec.Struct, frozen=True):
    """Everything ``gateway metrics`` exports, as copied on the event loop."""

    gateway_id: str
    pid: int
    start_time: float
    """Unix time the process started."""
    trading_state: str
    """Firm-wide trading state: ACTIVE, REDUCING or HALTED (the kill switch)."""
    counters: dict[str, int]
    """The engine's ``EngineCounters``."""
    rejects: list[tuple[str, str, int]]
    """OrderRejected by (source, code, count)."""
    cancel_rejects: list[tuple[str, str, int]]
    """CancelRejected by (source, code, count)."""
    orders_total: int
    orders_open: int
    strategies_configured: int
    strategies_connected: int
    venues: list[VenueMetrics]
    journal: JournalMetrics
    gc: GcMetrics
    latency: LatencySnapshot
    admin: AdminMetrics
    extra: dict[str, float] = {}
    """Further numbers from status providers (GC controller): names ending in ``_total`` are counters."""
    kill_switches: dict[str, int] = {}
    """Run-time kills in force (``gateway kill``) by scope: ``firm`` (0 or 1), ``account`` (accounts killed)."""
    trading_scopes: list[tuple[str, str, int]] = []
    """(scope, state, count): scopes (firm, account, strategy, symbol, account_strategy, account_symbol) whose
    own state, the limits file's or a kill's, is REDUCING or HALTED."""
    account_states: dict[str, str] = {}
    """Every known account's effective trading state (the firm's, its own and its kill's, the strictest)."""
    venue_protocols: list[str] = []
    """The protocols of the configured venues (``ouch``, ``fix``, ``boe``), sorted: the exporter pre-creates the
    reject series of each (``gateway.exporter.venue_reject_series``)."""


def trading_scope_fields(scopes: tuple[dict[str, int], list[Any], list[Any]]) -> dict[str, Any]:
    """Return ``MetricsSnapshot``'s trading-scope fields from ``RiskEngine.trading_scopes``'s (decoded) tuple."""
    kills, rows, accounts = scopes
    return {
        "kill_switches": dict(kills),
        "trading_scopes": [(scope, state, count) for scope, state, count in rows],
        "account_states": dict(accounts),
    }


def assemble_metrics(
    *,
    gateway_id: str,
    pid: int,
    start_time: float,
    trading_state: str,
    trading_scopes: tuple[dict[str, int], list[Any], list[Any]],
    counters: dict[str, int],
    rejects: list[tuple[str, str, int]],
    cancel_rejects: list[tuple[str, str, int]],
    orders_total: int,
    orders_open: int,
    strategies_configured: int,
    strategies_connected: int,
    venues: Iterable[Sequence[Any]],
    venue_protocols: list[str],
    journal: JournalMetrics,
    gc_stats: list[dict[str, int]],
    latency: LatencySnapshot,
    admin: AdminMetrics,
    extras: Iterable[dict[str, float]],
) -> MetricsSnapshot:
    """Return the snapshot from its parts, as the loop (``GatewayProcess.metrics``) and the reader of a METRICS
    snapshot (``gateway.snapshot.metrics_snapshot``) hold them: one place for both.

    ``venues``: (name, state, connections, connect failures, session counters) per venue session;
    ``gc_stats``: ``gc.get_stats()``;
    ``extras``: the metrics providers' numbers, merged in order.
    """
    extra: dict[str, float] = {}
    for provided in extras:
        extra.update(provided)
    return MetricsSnapshot(
        gateway_id=gateway_id,
        pid=pid,
        start_time=start_time,
        trading_state=trading_state,
        counters=counters,
        rejects=rejects,
        cancel_rejects=cancel_rejects,
        orders_total=orders_total,
        orders_open=orders_open,
        strategies_configured=strategies_configured,
        strategies_connected=strategies_connected,
        venues=[VenueMetrics(*row) for row in venues],  # (name, state, connections, failures[, session counters])
        journal=journal,
        gc=GcMetrics(
            collections=[g["collections"] for g in gc_stats],
            collected=[g["collected"] for g in gc_stats],
            uncollectable=[g["uncollectable"] for g in gc_stats],
        ),
        latency=latency,
        admin=admin,
        extra=extra,
        venue_protocols=venue_protocols,
        **trading_scope_fields(trading_scopes),
    )


def venue_protocols(venues: Iterable[dict[str, Any]]) -> list[str]:
    """Return the protocols of the config's ``venues:`` entries, sorted, each once."""
    return sorted({str(venue.get("protocol", "")) for venue in venues} - {""})


def decode_metrics(data: dict[str, object]) -> MetricsSnapshot:
    """Return the snapshot from a decoded admin reply's ``metrics`` field."""
    return msgspec.convert(data, MetricsSnapshot)
