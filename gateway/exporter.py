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

import errno
import signal
import socket
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gateway.admin import AdminError, fetch_metrics
from gateway.metrics import MetricsSnapshot
from obs.histogram import cumulative, dense, estimated_sum, total
from risk.codes import REASONS as RISK_CODES
from venues.ouch.messages import REJECT_REASONS as OUCH_REJECT_REASONS

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
    "strategy_connections_evicted": (
        "strategy_connections_evicted",
        "connections without a Hello closed to keep strategy_max_pending_hello (TOO_MANY_CONNECTIONS)",
    ),
    "descriptors_near_limit": ("descriptors_near_limit", "rises of the open descriptors past 80 % of the limit"),
    "admin_connections_closed": (
        "admin_connections_closed",
        "admin connections closed by the gateway: idle longer than 30 s, past the bound of 32 open, a request not "
        "whole within 5 s, or 1 MiB of replies unread",
    ),
    "invalid_requests": ("invalid_requests", "strategy requests with invalid fields"),
    "account_not_permitted": ("account_not_permitted", "orders for accounts the strategy may not trade"),
    "internal_errors": (
        "engine_internal_errors",
        "faults of the gateway's own carrying out a strategy request: its session ended, its accounts halted",
    ),
}
"""EngineCounters field -> (metric name after ``gateway_``, help). Every one is a counter (``_total``)."""

EXTRA_HELP: Final = {
    "journal_ref_lookups_total": "venue references no longer mapped (OUCH UserRefNums) looked up in the journal",
    "journal_ref_lookups_found_total": "of those, the ones the journal named an order of this gateway for",
    "journal_ref_lookup_records_total": "journal records read on the event loop for those look-ups",
    "journal_ref_lookup_failures_total": "look-ups the journal could not answer (damage, I/O error; message unknown)",
    "journal_order_rebuilds_total": "orders released from memory read back from the journal (late fills)",
    "journal_order_rebuild_records_total": "journal records decoded for those rebuilds",
    "journal_order_rebuild_failures_total": (
        "released orders the journal could not be read back for (damage, I/O error): FIX/OUCH fill not applied, "
        "BOE fill held and retried"
    ),
    "venue_orders_live_after_end_total": "orders ended here that the venue showed live, canceled at the venue",
    "venue_messages_held_for_lookup_total": "OUCH messages that waited for the journal search budget (in order)",
    "venue_store_failures_total": "FIX message store write failures (episodes; orders refused FIX_STORE meanwhile)",
    "venue_status_disagreements_total": "FIX status answers contradicting the gateway's count (reconcile the order)",
    "venue_replaced_after_reject_total": "FIX replaces the venue applied after refusing them (its terms applied)",
    "venue_internal_errors_total": "requests a venue adapter failed to encode (a gateway fault): refused, nothing sent",
    "journal_file_restores_total": "journal files, gateway.lock files and .open markers deleted and put back",
    "disk_free_bytes": (
        "the least free space (bytes) among the file systems of the journal, state_dir, the risk audit log and the "
        "venues' state_dir/store_dir, sampled every 5 s (no sample while none could be read: gateway_disk_unreadable)"
    ),
    "disk_unreadable": (
        "directories whose free space could not be read at the last sample (statvfs failed): gateway status --json "
        "(disks) has each one's error"
    ),
    "disk_short_growths_total": (
        "growths of the journal or a FIX message store by less than a full step: the disk is nearly full"
    ),
    "risk_reloads_applied_total": "limits reloads that put new limits in force",
    "risk_reloads_refused_total": "limits reloads refused (bad file, audit log not writable): old limits kept",
    "risk_files_not_applied": "risk files (limits, reference prices, positions) on disk that are not in force",
    "risk_audit_records_late": "risk audit records kept in memory because the audit log cannot be written",
    "risk_copies_not_kept": (
        "1 while a copy of the risk files in force (or a held-back note) cannot be kept in state_dir: written again "
        "once it can be; until then a restart relies on the risk audit log"
    ),
}
"""``MetricsSnapshot.extra`` name -> help text; a name not here gets its words as help."""

TRADING_STATES: Final = ("ACTIVE", "REDUCING", "HALTED")
GATEWAY_ORDER_REJECT_CODES: Final = (
    "DUPLICATE_CL_ORD_ID",
    "INVALID_FIELD",
    "TOO_MANY_ERRORS",
    "ACCOUNT_NOT_PERMITTED",
    "UNKNOWN_VENUE",
    "VENUE_UNAVAILABLE",
    "VENUE_BACKPRESSURE",
    "JOURNAL_UNAVAILABLE",
    "NOT_SENT",
)
"""docs/strategy-protocol.md 8.1: the GATEWAY codes of an OrderRejected (the request or the gateway's state)."""
GATEWAY_CANCEL_REJECT_CODES: Final = (
    "INVALID_FIELD",
    "TOO_MANY_ERRORS",
    "VENUE_UNAVAILABLE",
    "VENUE_SESSION_ENDED",
    "VENUE_BACKPRESSURE",
    "UNKNOWN_ORDER",
    "ORDER_CLOSED",
    "CANCEL_PENDING",
    "INTERNAL_ERROR",
    "REQUEST_PENDING",
    "INVALID_QTY",
    "NOT_SENT",
)
"""docs/strategy-protocol.md 8.1: the GATEWAY codes of a CancelRejected (``NOT_SENT``: a FIX cancel or replace the
gateway withheld at a stop, lows57)."""
PRECREATED_REJECTS: Final = {
    "order_rejects": [*(("RISK", code) for code in RISK_CODES), *(("GATEWAY", c) for c in GATEWAY_ORDER_REJECT_CODES)],
    "cancel_rejects": [
        *(("RISK", code) for code in RISK_CODES),
        *(("GATEWAY", c) for c in GATEWAY_CANCEL_REJECT_CODES),
    ],
}
"""(source, code) series every scrape has, 0 until the first such reject, so ``rate()`` and ``increase()`` see
the first one: every RISK code and the GATEWAY codes of docs/strategy-protocol.md 8.1. The codes of the
configured venues' protocols (8.2, 8.4) are added by ``VENUE_REJECTS``."""
_OUCH_REASONS: Final = tuple(f"0x{code:04X}" for code in sorted(OUCH_REJECT_REASONS))
"""OUCH Rejected reasons with a name (Appendix C): an Enter's reject, and a Replace's (a CancelRejected)."""
_OUCH_VENUE: Final = (
    "OUCH_NOT_RECEIVED",
    "OUCH_SESSION_ENDED",
    "OUCH_SESSION_CHANGED",
    "OUCH_ACCEPTED_MISMATCH",
)
_FIX_ORD_REJ: Final = (
    "BROKER_OPTION",
    "UNKNOWN_SYMBOL",
    "EXCHANGE_CLOSED",
    "ORDER_EXCEEDS_LIMIT",
    "TOO_LATE_TO_ENTER",
    "UNKNOWN_ORDER",
    "DUPLICATE_ORDER",
    "STALE_ORDER",
    "UNSUPPORTED_ORDER_CHARACTERISTIC",
    "INCORRECT_QUANTITY",
    "OTHER",
    "VENUE",
)
"""FIX OrdRejReason codes (``venues.fix.adapter``), and ``VENUE`` for none or an unknown one."""
_FIX_CXL_REJ: Final = ("TOO_LATE_TO_CANCEL", "ALREADY_PENDING", "DUPLICATE_CLORDID")
"""FIX CxlRejReason codes not already OrdRejReason codes."""
_FIX_VENUE: Final = ("NOT_SENT", "FIX_SESSION_ENDED")
_BOE_REASONS: Final = (
    "ADMINISTRATIVE",
    "CAPACITY_UNDEFINED",
    "DUPLICATE_CLORDID",
    "SWP_SIZE_CUT",
    "FAILED_TO_QUOTE",
    "HALTED",
    "WRONG_DATA_CENTER",
    "TOO_LATE_TO_CANCEL",
    "ORDER_RATE_EXCEEDED",
    "WOULD_LOCK_OR_CROSS",
    "ORDER_EXCEEDS_LIMIT",
    "NO_LIQUIDITY",
    "UNKNOWN_ORDER",
    "FILL_PENDING",
    "WAITING_FOR_FIRST_TRADE",
    "ROUTING_UNAVAILABLE",
    "SHORT_SALE_PRICE",
    "WOULD_TRADE_THROUGH",
    "USER_REQUESTED",
    "WOULD_WASH",
    "ADD_LIQUIDITY_ONLY",
    "EXPIRED",
    "UNKNOWN_SYMBOL",
    "UNFORESEEN",
    "RISK_GROUP_LIMIT",
    "MARKET_ACCESS_RISK_LIMIT",
    "TOO_MANY_OPEN_ORDERS",
    "RESERVE_RELOAD",
    "RISK_ROOT_LIMIT",
    "LIMIT_UP_LIMIT_DOWN",
    "WOULD_REMOVE_ON_UNSLIDE",
    "CROSSED_MARKET",
    "REPLAY_IN_PROGRESS",
    "VENUE",
)
"""Cboe reason letters' codes (``venues.boe.adapter.STRATEGY_REASONS``) and ``VENUE`` for a letter not in it."""
_BOE_VENUE: Final = ("BOE_SESSION_ENDED", "BOE_ANSWER_LOST")


def _rows(source: str, *codes: Iterable[str]) -> list[tuple[str, str]]:
    return [(source, code) for group in codes for code in group]


VENUE_REJECTS: Final = {
    "ouch": {
        "order_rejects": [
            *_rows(
                "GATEWAY",
                (
                    "OUCH_ORD_TYPE",
                    "OUCH_TIF",
                    "OUCH_QTY",
                    "OUCH_PRICE",
                    "OUCH_SYMBOL",
                    "OUCH_ORDER_ID",
                    "OUCH_REFNUM_STORE",
                    "OUCH_REFNUM_EXHAUSTED",
                    "OUCH_INTERNAL_ERROR",
                    "OUCH_END_OF_DAY",
                ),
            ),
            *_rows("VENUE", _OUCH_REASONS, _OUCH_VENUE),
        ],
        "cancel_rejects": [
            *_rows(
                "GATEWAY",
                (
                    "OUCH_REPLACE",
                    "OUCH_REFNUM_STORE",
                    "OUCH_REFNUM_EXHAUSTED",
                    "OUCH_INTERNAL_ERROR",
                    "OUCH_UNKNOWN_ORDER",
                ),
            ),
            *_rows("VENUE", _OUCH_REASONS, ("I", "OUCH_IN_DOUBT"), _OUCH_VENUE),
        ],
    },
    "fix": {
        "order_rejects": [
            *_rows(
                "GATEWAY",
                (
                    "TIF_NOT_SUPPORTED",
                    "ORDER_TYPE_NOT_SUPPORTED",
                    "SIDE_NOT_SUPPORTED",
                    "BAD_PRICE",
                    "BAD_QTY",
                    "BAD_SYMBOL",
                    "ACCOUNT_NOT_MAPPED",
                    "ORDER_ID_TOO_LONG",
                    "BAD_FIELD",
                    "FIX_INVALID",
                    "FIX_STORE",
                    "FIX_INTERNAL_ERROR",
                ),
            ),
            *_rows("VENUE", _FIX_ORD_REJ, _FIX_VENUE),
        ],
        "cancel_rejects": [
            *_rows("GATEWAY", ("FIX_INVALID", "FIX_STORE", "FIX_CL_ORD_ID", "FIX_INTERNAL_ERROR")),
            *_rows("VENUE", _FIX_ORD_REJ, _FIX_CXL_REJ, _FIX_VENUE, ("FIX_REPLACED_EARLIER",)),
        ],
    },
    "boe": {
        "order_rejects": [
            *_rows(
                "GATEWAY",
                (
                    "BOE_ORD_TYPE",
                    "BOE_TIF",
                    "BOE_QTY",
                    "BOE_PRICE",
                    "BOE_SYMBOL",
                    "BOE_ORDER_ID",
                    "BOE_INTERNAL_ERROR",
                ),
            ),
            *_rows("VENUE", _BOE_REASONS, _BOE_VENUE, ("BOE_ACCEPTED_MISMATCH",)),
        ],
        "cancel_rejects": [
            *_rows("GATEWAY", ("BOE_UNKNOWN_ORDER", "BOE_REPLACE", "BOE_INTERNAL_ERROR")),
            *_rows("VENUE", _BOE_REASONS, _BOE_VENUE),
        ],
    },
}
"""Per venue protocol, the (source, code) reject series pre-created at 0 when a venue of it is configured: every
code its adapter can give an OrderRejected or a CancelRejected (its checks before sending: source GATEWAY; its
refusals and the venue's rejects: source VENUE), as docs/strategy-protocol.md 8.2 and 8.4 list them. Not the
FIX ``BUSINESS_REJECT_<n>`` / ``SESSION_REJECT_<n>`` (numbers the venue chooses) nor OUCH reasons without a name:
those appear with their first reject. ``tests/test_metrics_venue_rejects.py`` checks these against the adapters."""


def precreated_rejects(family: str, protocols: Iterable[str]) -> list[tuple[str, str]]:
    """Return the (source, code) series of ``family`` at 0 from the start: the gateway's and the protocols' own."""
    rows = dict.fromkeys(PRECREATED_REJECTS[family])
    for protocol in protocols:
        rows.update(dict.fromkeys(VENUE_REJECTS.get(protocol, {}).get(family, ())))
    return list(rows)


KILL_SCOPES: Final = ("firm", "account")
"""The scopes ``gateway kill`` acts on (``gateway_kill_switches``)."""
VENUE_STATES: Final = ("DISCONNECTED", "CONNECTING", "LOGGING_IN", "UP", "ENDED", "LOGIN_REFUSED")
VENUE_SESSION_COUNTERS: Final = {
    "sequence_gaps": (
        "venue_sequence_gaps",
        "logins the venue accepted above the sequence asked for: its messages in between (fills among them) are lost",
    ),
    "refetch_given_up": (
        "venue_refetches_given_up",
        "venue messages asked for again until the limit and then taken as they read (reconcile with the venue desk)",
    ),
    "protocol_errors": ("venue_protocol_errors", "venue session protocol errors tolerated (counted, logged)"),
    "decode_errors": ("venue_decode_errors", "venue messages that could not be decoded"),
    "unsequenced_ignored": (
        "venue_unsequenced_ignored",
        "Unsequenced Data packets from the venue, not applied (OUCH sends its messages sequenced)",
    ),
    "debug_packets": ("venue_debug_packets", "SoupBinTCP Debug packets from the venue (ignored)"),
    "gaps_forgotten": (
        "venue_gaps_forgotten",
        "open sequence gaps forgotten (more than 256 open): a message of one arriving later is dropped as a repeat",
    ),
    "late_admitted": (
        "venue_late_admitted",
        "sequenced messages that arrived after a higher number (out of order) and were applied once",
    ),
    "repeated_reports": (
        "venue_repeated_reports",
        "executions logged at ERROR before a restart that the venue replayed after it (not applied again)",
    ),
    "login_timeouts": ("venue_login_timeouts", "logins the venue accepted the connection for but never answered"),
    "user_ref_num_store_failures": (
        "venue_user_ref_num_store_failures",
        "failed writes of the OUCH UserRefNum state file (retried once a second): new orders and replaces to the "
        "venue are refused OUCH_REFNUM_STORE until one succeeds",
    ),
    "answer_timeouts": (
        "venue_answer_timeouts",
        "OUCH Enter Orders with no Accepted or Rejected (and Replaces with no Replaced or Rejected) within "
        "answer_timeout_ms while the session stayed up: answered in doubt (OrderAccepted, and canceled at the venue; "
        "CancelRejected OUCH_IN_DOUBT)",
    ),
    "outcome_unknown": (
        "venue_outcome_unknown",
        "OUCH orders answered in doubt after answer_timeout_ms of which the venue said nothing a second "
        "answer_timeout_ms after their Cancel either: ended Canceled OUCH_OUTCOME_UNKNOWN (reconcile with the "
        "venue desk)",
    ),
    "cancels_unanswered": (
        "venue_cancels_unanswered",
        "OUCH Cancels with no answer (Canceled, fills, Cancel Reject) within answer_timeout_ms while the session "
        "stayed up, each counted once: the venue ignores a Cancel of a UserRefNum it does not work, so the order may "
        "still work there; it stays open here (have the venue desk cancel it and reconcile)",
    ),
    "earlier_traffic": (
        "venue_earlier_traffic",
        "OUCH messages of the day's earlier traffic (another host's orders, seen by a gateway with no record of the "
        "day, e.g. a standby host taking over): not applied; reconcile the account's day with the venue desk",
    ),
    "executions_held": (
        "venue_executions_held",
        "BOE Order Executions of orders released from memory held because the journal could not be read back for "
        "them: applied once it reads back (kept on file across a restart)",
    ),
    "executions_held_over_cap": (
        "venue_executions_held_over_cap",
        "BOE executions to hold while the most (1,000) were held already: not held, not applied to any position "
        "(ERROR 'NOT HELD'): correct the position and reconcile with Cboe",
    ),
    "texts_clipped": (
        "venue_texts_clipped",
        "venue texts (a reject's, a cancel's, a Logout's) longer than 2,000 characters clipped for the journal and "
        "the strategy (the whole text in a gateway.engine WARNING)",
    ),
    "ids_bounded": (
        "venue_ids_bounded",
        "venue ids (ExecID, OrderID) longer than 128 characters replaced by their first characters and the SHA-256 "
        "of the whole for the journal and the strategy (the whole id in a gateway.engine WARNING)",
    ),
    "venue_logons_too_low": (
        "venue_logons_too_low",
        "FIX Logons from the venue numbered below the MsgSeqNum expected from it (its numbers went back): logged out, "
        "the venue LOGIN_REFUSED until an operator acts (ERROR 'LOGON REFUSED: the venue's Logon carried ...')",
    ),
}
"""``venues.base.SESSION_COUNTERS`` -> (metric name after ``gateway_``, help): counters with a ``venue`` label, for
each venue whose adapter keeps that counter (OUCH the first six and the four after login_timeouts; BOE the gaps,
protocol and decode errors, gaps_forgotten ... login_timeouts and the two executions_held; FIX outcome_unknown and
venue_logons_too_low), and the two the engine keeps of every venue (``Engine.venue_counters``: texts clipped, ids
bounded; texts56)."""
VENUE_SESSION_GAUGES: Final = {
    "executions_held_now": (
        "venue_executions_held_now",
        "BOE Order Executions held now because the journal could not be read back for their orders: not in the "
        "positions yet (alert GatewayVenueExecutionsHeld)",
    ),
    "cancels_unanswered_now": (
        "venue_cancels_unanswered_now",
        "OUCH Cancels logged unanswered (venue_cancels_unanswered) that still have no answer: the order may still work "
        "at the venue (alert GatewayVenueCancelUnanswered); back down as each is answered (WARNING all-clear)",
    ),
}
"""``venues.base.SESSION_GAUGES`` -> (metric name after ``gateway_``, help): gauges with a ``venue`` label, for each
venue whose adapter keeps it (BOE the first, OUCH the second)."""


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
    kills = GaugeMetricFamily(
        f"{PREFIX}_kill_switches",
        "run-time kills in force (gateway kill) by scope: firm 0 or 1, account the accounts killed",
        labels=["scope"],
    )
    for scope in KILL_SCOPES:
        kills.add_metric([scope], snapshot.kill_switches.get(scope, 0))
    yield kills
    scopes = GaugeMetricFamily(
        f"{PREFIX}_trading_scopes",
        "scopes whose own trading state (limits file or kill) is REDUCING or HALTED, by scope kind and state",
        labels=["scope", "state"],
    )
    for scope, state, count in snapshot.trading_scopes:
        scopes.add_metric([scope, state], count)
    yield scopes
    accounts = GaugeMetricFamily(
        f"{PREFIX}_account_trading_state",
        "each known account's effective trading state (1 for the current one): firm, account and kill, strictest",
        labels=["account", "state"],
    )
    for account, current in sorted(snapshot.account_states.items()):
        for state in TRADING_STATES:
            accounts.add_metric([account, state], 1.0 if current == state else 0.0)
    yield accounts

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
        counts = dict.fromkeys(precreated_rejects(name, snapshot.venue_protocols), 0)
        counts.update(((source, code), count) for source, code, count in rows)
        for (source, code), count in counts.items():
            family.add_metric([source, code], count)
        yield family
    yield gauge(
        "orders", "orders the gateway took today, open and ended (released from memory included)", snapshot.orders_total
    )
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
    for key, (name, doc) in VENUE_SESSION_COUNTERS.items():
        family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["venue"])
        for venue in snapshot.venues:
            if key in venue.session:
                family.add_metric([venue.name], venue.session[key])
        yield family
    for key, (name, doc) in VENUE_SESSION_GAUGES.items():
        gauges = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=["venue"])
        for venue in snapshot.venues:
            if key in venue.session:
                gauges.add_metric([venue.name], venue.session[key])
        yield gauges

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
        doc = EXTRA_HELP.get(name) or name.replace("_", " ")
        if name.endswith("_total"):
            yield counter(name.removesuffix("_total"), doc, number)
        else:
            yield gauge(name, doc, number)

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


def _listen_hint(exc: OSError) -> str:
    """Return what to do about a failed listen, by its cause."""
    if isinstance(exc, socket.gaierror):
        return "not an address or a name this host resolves: give an IP address, e.g. --listen 127.0.0.1:9464"
    if exc.errno == errno.EADDRINUSE:
        return "is another exporter running there? choose another port with --listen"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "not an address of this host: `ip -brief address` lists them"
    if exc.errno == errno.EACCES:
        return "ports below 1024 need privileges: choose a port above 1023"
    return "check --listen"


def serve(admin_socket: str | Path, host: str, port: int, timeout_s: float = 5.0) -> int:
    """Serve ``/metrics`` on ``host:port`` until SIGTERM or SIGINT; return the exit code (2: cannot listen)."""
    from prometheus_client import CollectorRegistry, start_http_server  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=False)
    registry.register(AdminSocketCollector(admin_socket, timeout_s))
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # an IPv6 address in brackets, as in a URL
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        print(
            f"gateway metrics serve: cannot listen on {where}: {exc.strerror or exc} ({_listen_hint(exc)})",
            file=sys.stderr,
        )
        return 2
    print(f"gateway metrics serve: http://{where}/metrics, scraping {admin_socket}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    server.shutdown()
    thread.join(timeout=5)
    return 0
