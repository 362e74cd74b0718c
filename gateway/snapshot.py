"""The status snapshot: what ``status`` and ``metrics`` cost the event loop, and how the reader rebuilds them.

The loop side (``SnapshotWriter``) writes one binary snapshot straight into the admin reply's
reusable buffer; it builds no document. The payload, after its header:

* fixed slots: every counter the engine, journal and admin server keep, packed with one
  precompiled ``struct.Struct`` (``FIXED_FIELDS``, int64 each, plus the capture's wall time);
* the latency histograms: ``StageLatencies.lows`` (one array per stage, in ``STAGES`` order) and ``mid``
  whole (46 KiB each: a bucket's low byte and its 256s), sent by the admin server straight from the live
  buffers (``SnapshotWriter.write_spliced``: the kernel's copy is the only one; the 65,536s of the few
  buckets past them travel in the run-time part);
* the slow part: MessagePack bytes encoded once and reused until what they hold changes (gateway
  id, pid, recovery, configured strategies, the risk limits' per-load part: a reload makes a new one);
* ``metrics`` only: the journal syncer process's fsync counts, native uint64 per bucket over the range it
  has counted in, sent from its shared control block (``MmapJournal.fsync_ns_parts``: nothing merged on
  the loop; the reader adds the loop thread's sparse counts from the run-time part);
* the run-time part: one MessagePack tuple of the live containers that are small and bounded by
  configuration or by distinct codes (histogram carries, reject counts, per-strategy and per-venue
  numbers, the ops providers' sections), and risk's rows of the accounts with something in the book
  (open orders, notionals, positions, kills), encoded by msgspec in C.

Nothing in it grows with the number of orders, nor with the accounts of the limits file that did nothing
(their names and the file's states are in the slow part, encoded once per load), nothing is sorted, formatted
or summarised on the loop. The reader (``gateway status``, ``gateway metrics``, the exporter) decodes the snapshot
(``decode_snapshot``) and assembles the same documents the gateway used to build
(``status_document``, ``metrics_snapshot``): percentiles, money formatting and names happen there.
"""

from __future__ import annotations

import gc
import os
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import msgspec

from gateway.config import GatewayConfig
from gateway.engine import Engine
from gateway.engine_counters import EngineCounters
from gateway.journal import Journal
from gateway.latency import STAGES, LatencySnapshot, carried_counts
from gateway.metrics import AdminMetrics, JournalMetrics, MetricsSnapshot, assemble_metrics, venue_protocols
from gateway.stats_map import WRAPS, Descriptor, SharedReadError, read_shared
from gateway.status_numbers import SECTIONS, word_numbers
from gateway.status_published import NO_SECTIONS
from obs import native
from obs.histogram import BUCKETS, RANGE_BITS, SUB_BITS, merge_dense

LAYOUT_VERSION: Final = 5
"""2: the histogram bytes are ``low`` then ``mid``; the run-time part's carried dict holds 65,536s.
3: a METRICS snapshot carries the journal syncer's dense fsync counts after the slow part (the header says
how many bytes; the run-time part their first bucket), merged with the loop thread's by the reader.
4: a METRICS snapshot's run-time part carries the risk gate's trading scopes (kills, scopes not ACTIVE,
account states) before the fsync counts' first bucket.
5: the slow part carries the risk gate's per-load part for METRICS too (the same slow bytes for both kinds), its
``scope_states`` only for the accounts the limits file gives a state; a METRICS snapshot's trading scopes are
``RiskEngine.trading_scopes_raw`` (the firm's run-time state and the accounts with a kill or outside the file),
assembled by the reader (``risk.engine.assemble_trading_scopes``): nothing per account that did nothing."""
MAGIC: Final = b"GWSS"
_SLOW_VENUE_PROTOCOLS: Final = 14
"""Index in the slow part of the configured venues' protocols (appended after LAYOUT_VERSION 4: absent before)."""
_SLOW_PAGES_AHEAD: Final = 15
"""Index in the slow part of the journal's pages prepared ahead (``MmapJournal.prepare_state``; None: another
journal; appended after LAYOUT_VERSION 4: absent before)."""
_SLOW_STATS_FILE: Final = 16
"""Index in the slow part of the stats memfd's (version, pid, fd, token) (``gateway.stats_map``; None: the counts
are in no memfd; appended after LAYOUT_VERSION 5: absent before)."""
STATUS: Final = 0
METRICS: Final = 1

COUNTER_FIELDS: Final = EngineCounters.__struct_fields__
FIXED_FIELDS: Final = (
    *COUNTER_FIELDS,
    "venue_events_duplicate",
    "orders_total",
    "orders_in_memory",
    "orders_open",
    "journal_write_failures",
    "journal_records",
    "journal_bytes_written",
    "journal_bytes_synced",
    "journal_pending_bytes",
    "journal_fsyncs",
    "journal_fsync_failures",
    "admin_last_loop_ns",
    "admin_max_loop_ns",
    "admin_last_cpu_ns",
    "admin_max_cpu_ns",
    "latency_wraps",
)
"""The int64 slots, in order; the capture's wall time (a double) follows them. ``latency_wraps``: the changes of
the histograms' ``carried`` so far (``gateway.stats_map``: a reader of the stats memfd checks it against its own)."""
HEADER: Final = struct.Struct("<4sHHIIIII")
"""magic, layout version, kind (STATUS/METRICS), fixed bytes, histogram bytes, slow bytes, dense fsync bytes,
run-time bytes."""
Buffer = bytes | bytearray | memoryview
"""A spliced part of the snapshot (``SnapshotWriter.write_spliced``)."""
_VERSION: Final = struct.Struct("<4sH")
"""The header's first fields, the same in every layout."""
FIXED: Final = struct.Struct("<" + "q" * len(FIXED_FIELDS) + "d")
HIST_BYTES: Final = 2 * BUCKETS * len(STAGES)
"""``StageLatencies.lows`` (the flat ``low``) then ``StageLatencies.mid``."""

_encode_into: Final = msgspec.msgpack.Encoder(enc_hook=str).encode_into
_encode: Final = msgspec.msgpack.Encoder(enc_hook=str).encode
_decode: Final = msgspec.msgpack.Decoder().decode


class SnapshotSource(Protocol):
    """What the snapshot reads of a running gateway (``gateway.app.GatewayProcess``)."""

    @property
    def config(self) -> GatewayConfig:
        """The gateway's configuration."""
        ...

    @property
    def engine(self) -> Engine | None:
        """The engine (None before ``build``)."""
        ...

    @property
    def risk(self) -> Any:
        """The risk gate (``status_parts`` used when it has it)."""
        ...

    @property
    def journal(self) -> Journal:
        """The order journal."""
        ...

    @property
    def recovery(self) -> dict[str, Any]:
        """What recovery found at start-up."""
        ...

    @property
    def started_at(self) -> float:
        """Unix time the process started."""
        ...

    @property
    def admin_stats(self) -> Any:
        """``gateway.admin.AdminStats`` (not imported: the admin module reads snapshots)."""
        ...

    @property
    def connectors(self) -> Sequence[Any]:
        """The venue connectors."""
        ...

    @property
    def status_providers(self) -> list[Callable[[], tuple[Any, ...] | dict[str, Any]]]:
        """Status sections as (per change, per request) parts, or a plain provider's dict or tagged numbers (live
        sections: ``gateway.status_numbers``)."""
        ...

    @property
    def metrics_providers(self) -> list[Callable[[], dict[str, float]]]:
        """Further numbers for ``MetricsSnapshot.extra``."""
        ...


class SnapshotWriter:
    """Write a gateway's snapshot into a reply buffer: counters, histogram bytes, cached and live small parts."""

    def __init__(
        self, process: SnapshotSource, *, splice_max: int = 0, retire: Callable[[object], None] | None = None
    ) -> None:
        self._process = process
        self.retire = retire
        """Takes a slow part replaced (after a reload it holds the old limits' names: ``gateway.release``)."""
        self.splice_max = splice_max
        """The live bytes a reply splices at most (``gateway.admin.SPLICE_MAX``; 0: no bound): a ``metrics`` whose
        syncer fsync range would take its live bytes (all but the immutable slow part, which a socket that does
        not take the reply whole keeps by reference) past this gets the range merged on the loop instead, so
        what the admin server may have to copy stays bounded."""
        self._slow: dict[int, tuple[tuple[object, ...], bytes]] = {STATUS: ((), b""), METRICS: ((), b"")}
        """Per kind (``status`` carries the providers' sections, ``metrics`` not): the objects and their bytes."""
        engine = process.engine
        self._stats_file = engine.latency.storage.descriptor() if engine is not None else None
        """The stats memfd's (version, pid, fd, token) when the histograms live in one (``gateway.stats_map``): a
        reader asking for a ``shared`` reply gets the snapshot without their bytes and copies them from there."""

    def _slow_part(self, kind: int, risk_wire: object, provided: list[dict[str, Any]]) -> bytes:
        """Return the slow part's bytes for ``kind``, encoded again only when one of its objects was replaced.

        The objects: the risk limits' per-load part (a reload makes a new one; with many accounts the largest),
        the recovery summary and the providers' rarely changing sections; compared by identity, not content.
        One cache per kind, so that ``status`` and ``metrics`` requests in turn do not encode it again each time.
        """
        process = self._process
        prepare = getattr(process.journal, "prepare_state", None)
        pages_ahead = prepare() if prepare is not None else None
        key = (risk_wire, process.recovery, pages_ahead, *provided)
        old, slow = self._slow[kind]
        if len(key) != len(old) or any(a is not b for a, b in zip(key, old, strict=True)):
            config = process.config
            accounts = sorted({a for e in config.strategies.values() for a in e.accounts})
            encodable = getattr(process.risk, "status_wire_encodable", None)
            if encodable is not None and isinstance(risk_wire, dict):
                risk_wire = encodable(risk_wire)  # the same bytes, the names encoded once per load (stop 54)
            slow = _encode(
                (  # the reader indexes this tuple: append, never reorder (or bump LAYOUT_VERSION)
                    config.gateway_id,
                    os.getpid(),
                    process.started_at,
                    process.recovery,
                    len(config.strategies),
                    accounts,
                    process.journal.durable,
                    risk_wire,
                    STAGES,
                    FIXED_FIELDS,
                    SUB_BITS,
                    RANGE_BITS,
                    provided,
                    native.hot_path_status(),
                    venue_protocols(config.venues),
                    pages_ahead,
                    self._stats_file,
                )
            )
            self._slow[kind] = key, slow
            if self.retire is not None:
                self.retire(old)
        return slow

    def prepare(self) -> None:
        """Build and encode the per-load parts of both kinds now, as the next request would (ops53).

        Called soon after the gateway starts and after each applied risk reload (``GatewayProcess``): the first
        ``status`` or ``metrics`` after a load then finds them cached instead of building the limits' per-load
        part (``RiskEngine.status_wire``: names, sparse states, nested counts) and encoding it while it waits
        (37 ms of loop CPU at 30,000 accounts, compiled). The loop still pays that once per load, not per request.
        """
        process = self._process
        risk = process.risk
        if risk is None or process.engine is None:
            return
        risk_wire = risk.status_wire() if getattr(risk, "status_parts", None) is not None else None
        provided = [_split(parts())[0] for parts in process.status_providers]
        self._slow_part(STATUS, risk_wire, provided)
        self._slow_part(METRICS, risk_wire, [])

    def write(self, frame: bytearray, base: int, kind: int) -> None:
        """Write the snapshot into ``frame`` from ``base`` on; ``frame`` ends where the snapshot does."""
        at, histograms = self.write_spliced(frame, base, kind)
        frame[at:at] = b"".join(histograms)

    def write_spliced(
        self, frame: bytearray, base: int, kind: int, shared: bool = False
    ) -> tuple[int, tuple[Buffer, ...]]:
        """Write the snapshot into ``frame`` from ``base`` on but for the histogram bytes; return their offset and them.

        ``shared`` (the reader maps the stats memfd, ``gateway.stats_map``): no histogram bytes at all when the
        counts live in one; the header says 0 of them and the reader copies them from the memfd.

        The returned buffers are the live ``StageLatencies.lows`` (together ``low``) and ``mid``, the slow part's
        bytes and (``metrics``) the journal syncer's dense fsync counts: the snapshot is ``frame[:at] + low + mid +
        slow + dense + frame[at:]`` as of this call, so the caller sends them before the loop runs
        anything else (the admin server's one ``writelines``: the kernel copies the ~95 KiB straight
        from where they are, instead of the loop copying them into the reply first).
        """
        process = self._process
        engine = process.engine
        risk = process.risk
        assert engine is not None and risk is not None
        journal = process.journal
        stats = process.admin_stats
        latency = engine.latency
        risk_parts = getattr(risk, "status_parts", None)
        risk_wire: dict[str, Any] | None = None
        risk_live: Any = None
        if risk_parts is not None:
            if kind == STATUS:
                risk_wire, risk_live = risk_parts()
            else:  # the same per-load part (the slow bytes are the same for both kinds: not encoded again)
                risk_wire = risk.status_wire()
                risk_live = risk.trading_scopes_raw()
        provided: list[dict[str, Any]] = []
        provided_live: list[Any] = []
        if kind == STATUS:
            for parts in process.status_providers:
                got = parts()
                if type(got) is tuple and type(got[0]) is not str:  # (per change, per request)
                    provided.append(got[0])
                    provided_live.append(got[1])
                else:  # a plain provider's dict, or its tagged numbers (``gateway.status_numbers``): live sections
                    provided.append(NO_SECTIONS)
                    provided_live.append(got)
        slow = self._slow_part(kind, risk_wire, provided)
        fixed_at = base + HEADER.size
        hist_at = live_at = fixed_at + FIXED.size  # the histogram and slow bytes go between the fixed and live parts
        if len(frame) < live_at:
            frame.extend(bytes(live_at - len(frame)))
        synced, fsyncs, fsync_failures = journal.sync_counts(False)  # the journal file check polls the syncer
        FIXED.pack_into(
            frame,
            fixed_at,
            *msgspec.structs.astuple(engine.counters),
            engine.exactly_once.duplicates,
            engine.orders_total,
            len(engine.orders),
            len(engine.open_orders),
            engine.journal_failures,
            journal.records_flushed,
            journal.bytes_written,
            synced,
            journal.pending_bytes,
            fsyncs,
            fsync_failures,
            stats.last_loop_ns,
            stats.max_loop_ns,
            stats.last_cpu_ns,
            stats.max_cpu_ns,
            latency.control[WRAPS],
            time.time(),
        )
        strategies = engine.strategies
        live: tuple[Any, ...]
        dense: bytes | memoryview = b""
        if kind == STATUS:
            live = (
                latency.carried,
                engine.journal_error,
                list(engine.rejects.items()),
                list(engine.cancel_rejects.items()),
                stats.requests,
                [
                    (
                        sid,
                        st.link is not None,
                        st.link.peer.pid if st.link is not None and st.link.peer else None,
                        st.next_seq,
                        st.last_req_seq,
                        st.orders_count(),
                        len(st.open_orders),
                    )
                    for sid, st in strategies.items()
                ],
                [(name, venue.status()) for name, venue in engine.venues.items()],
                risk_live if risk_parts is not None else (risk.status(), sorted(risk.known_accounts())),
                provided_live,
            )
        else:
            fsync_counts, fsync_first, dense = journal.fsync_ns_parts()
            live = (
                latency.carried,
                engine.journal_error,
                list(engine.rejects.items()),
                list(engine.cancel_rejects.items()),
                stats.requests,
                [
                    (
                        c.adapter.name,
                        engine.venue_states[c.adapter.name].value,
                        c.connections,
                        c.connect_failures,
                        c.adapter.session_counters() | engine.venue_counters(c.adapter.name),
                    )
                    for c in process.connectors
                ],
                stats.loop_ns.counts,
                fsync_counts,
                gc.get_stats(),
                [provider() for provider in process.metrics_providers],
                risk.trading_state().name,
                sum(1 for st in strategies.values() if st.link is not None),
                risk_live if risk_wire is not None else risk.trading_scopes(),
                fsync_first,  # last: replaced below when the range is merged here
            )
        _encode_into(live, frame, live_at)
        hist_bytes = 0 if shared and self._stats_file is not None else HIST_BYTES
        if dense and 0 < self.splice_max < len(frame) + hist_bytes + len(dense):
            dense = b""  # a wide range of sync times: merged here (cost by the range), the rest still spliced
            live = (*live[:7], journal.fsync_ns.counts, *live[8:-1], 0)
            _encode_into(live, frame, live_at)
        HEADER.pack_into(
            frame,
            base,
            MAGIC,
            LAYOUT_VERSION,
            kind,
            FIXED.size,
            hist_bytes,
            len(slow),
            len(dense),
            len(frame) - live_at,
        )
        if not hist_bytes:  # the reader copies them from the stats memfd
            return hist_at, (slow,) if kind == STATUS else (slow, dense)
        if kind == STATUS:
            return hist_at, (*latency.lows, latency.mid, slow)
        return hist_at, (*latency.lows, latency.mid, slow, dense)


def _split(got: tuple[Any, ...] | dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Return a status provider's answer as (sections that change rarely, live sections)."""
    if type(got) is tuple and type(got[0]) is not str:
        return got[0], got[1]
    return NO_SECTIONS, got


class Snapshot(msgspec.Struct, frozen=True):
    """A decoded snapshot (in the reading process)."""

    kind: int
    fixed: dict[str, int]
    captured_at: float
    """Unix time of the capture."""
    low: bytes
    mid: bytes
    slow: tuple[Any, ...]
    live: tuple[Any, ...]
    fsync_dense: bytes = b""
    """``metrics``: the journal syncer's fsync counts, native uint64 per bucket from ``live[-1]`` on."""

    def latency(self) -> LatencySnapshot:
        """Return the latency histograms (counts; percentiles by ``LatencySnapshot.summaries``)."""
        stages, sub_bits, range_bits = self.slow[8], self.slow[10], self.slow[11]
        carried = carried_counts(self.mid, {int(k): v for k, v in self.live[0].items()})
        return LatencySnapshot(tuple(stages), sub_bits, range_bits, self.low, carried)


def stats_file(snap: Snapshot) -> Descriptor | None:
    """Return the stats memfd a snapshot without histogram bytes names (None: none, or an older gateway)."""
    if len(snap.slow) <= _SLOW_STATS_FILE or snap.slow[_SLOW_STATS_FILE] is None:
        return None
    version, pid, fd, token = snap.slow[_SLOW_STATS_FILE]
    return int(version), int(pid), int(fd), int(token)


def with_shared_histograms(snap: Snapshot) -> Snapshot:
    """Return ``snap`` with the histogram bytes copied from the stats memfd it names (``gateway.stats_map``).

    Raises ``SharedReadError`` when the memfd cannot be read or no longer agrees with the reply (the caller asks for
    a reply with the bytes instead).
    """
    descriptor = stats_file(snap)
    if descriptor is None:
        raise SharedReadError("the snapshot names no stats memfd")
    low, mid = read_shared(descriptor, snap.fixed.get("latency_wraps", 0))
    return msgspec.structs.replace(snap, low=low, mid=mid)


def decode_snapshot(payload: bytes) -> Snapshot:
    """Return the snapshot in ``payload`` (checks the magic and the layout version)."""
    magic, version = _VERSION.unpack_from(payload)
    if magic != MAGIC or version != LAYOUT_VERSION:
        raise ValueError(f"status snapshot layout {magic!r}/{version} is not this program's: run the gateway's version")
    _magic, _version, kind, fixed_len, hist_len, slow_len, dense_len, live_len = HEADER.unpack_from(payload)
    at = HEADER.size
    slow = tuple(_decode(payload[at + fixed_len + hist_len : at + fixed_len + hist_len + slow_len]))
    names: list[str] = slow[9]
    values = struct.unpack_from("<" + "q" * len(names) + "d", payload, at)
    half = hist_len // 2
    low = payload[at + fixed_len : at + fixed_len + half]
    mid = payload[at + fixed_len + half : at + fixed_len + hist_len]
    dense_at = at + fixed_len + hist_len + slow_len
    live_at = dense_at + dense_len
    live = tuple(_decode(payload[live_at : live_at + live_len]))
    values_by_name = dict(zip(names, values[:-1], strict=True))
    dense = bytes(payload[dense_at:live_at])
    return Snapshot(kind, values_by_name, values[-1], bytes(low), bytes(mid), slow, live, dense)


def _reject_rows(items: list[Any]) -> list[list[Any]]:
    return [[source, code, count] for (source, code), count in items]


def _counters(fixed: dict[str, int]) -> dict[str, int]:
    counters = {name: fixed[name] for name in COUNTER_FIELDS if name in fixed}
    counters["venue_events_duplicate"] = fixed["venue_events_duplicate"]
    return counters


def status_document(snap: Snapshot) -> dict[str, Any]:
    """Return the status document ``GatewayProcess.status`` describes, assembled from a STATUS snapshot."""
    from risk.engine import assemble_status  # noqa: PLC0415  (the reader side only)

    if snap.kind != STATUS:
        raise ValueError("not a status snapshot")
    f = snap.fixed
    gateway_id, pid, started_at, recovery, _configured, accounts, _durable, risk_wire = snap.slow[:8]
    _carried, journal_error, rejects, cancel_rejects, requests, strategies, venues, risk_raw, provided = snap.live
    out: dict[str, Any] = {
        "gateway_id": gateway_id,
        "orders_total": f["orders_total"],
        "orders_in_memory": f["orders_in_memory"],
        "orders_open": f["orders_open"],
        "journal_error": journal_error or None,
        "counters": _counters(f),
        "rejects": _reject_rows(rejects),
        "cancel_rejects": _reject_rows(cancel_rejects),
        "strategies": {
            sid: {
                "connected": connected,
                "pid": peer_pid,
                "next_seq": next_seq,
                "last_req_seq": last_req_seq,
                "orders": orders,
                "open_orders": open_orders,
            }
            for sid, connected, peer_pid, next_seq, last_req_seq, orders, open_orders in strategies
        },
        "venues": dict(venues),
        "latency": msgspec.to_builtins(snap.latency(), builtin_types=(bytes,)),
        "pid": pid,
        "uptime_s": round(snap.captured_at - started_at, 1),
        "hot_path": snap.slow[13],
        "recovery": recovery,
    }
    names = set(accounts)
    if risk_wire is not None:
        out["risk"] = assemble_status(risk_wire, risk_raw)
        names.update(risk_wire["account_names"])
        names.update(row[0] for row in risk_raw[5] if row[1] or row[2])
    else:  # a risk gate without ``status_parts``: its document and accounts, as the loop built them
        out["risk"], known = risk_raw
        names.update(known)
    out["known_accounts"] = sorted(names)
    out["journal"] = {
        "records_written": f["journal_records"],
        "bytes_written": f["journal_bytes_written"],
        "bytes_synced": f["journal_bytes_synced"],
        "fsyncs": f["journal_fsyncs"],
        "write_failures": f["journal_write_failures"],  # since start; ``journal_error`` while failing
        "fsync_failures": f["journal_fsync_failures"],  # since start
    }
    pages_ahead = snap.slow[_SLOW_PAGES_AHEAD] if len(snap.slow) > _SLOW_PAGES_AHEAD else None
    if pages_ahead is not None:
        out["journal"]["pages_ahead"] = pages_ahead
    out["admin"] = {
        "requests": requests,
        "last_loop_us": f["admin_last_loop_ns"] / 1000,
        "max_loop_us": f["admin_max_loop_ns"] / 1000,
        "last_cpu_us": f["admin_last_cpu_ns"] / 1000,
        "max_cpu_us": f["admin_max_cpu_ns"] / 1000,
    }
    for fixed, changing in zip(snap.slow[12], provided, strict=True):
        out.update(fixed)
        out.update(word_live_sections(changing))
    return out


def word_live_sections(changing: dict[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """Return a status provider's live sections: as sent, or worded here from its tagged tuple of numbers."""
    if isinstance(changing, dict):
        return changing
    if changing[0] == "ops":  # gateway.ops.runtime.OpsRuntime.live_raw
        from gateway.ops.runtime import word_live  # noqa: PLC0415  (the reader side only)

        return word_live(changing)
    if changing[0] in SECTIONS:  # a provider's numbers (gateway.status_numbers)
        return word_numbers(changing)
    raise ValueError(f"status section of unknown kind {changing[0]!r}: run the gateway's version")


def metrics_snapshot(snap: Snapshot) -> MetricsSnapshot:
    """Return the ``MetricsSnapshot`` ``GatewayProcess.metrics`` describes, assembled from a METRICS snapshot."""
    if snap.kind != METRICS:
        raise ValueError("not a metrics snapshot")
    from risk.engine import assemble_trading_scopes  # noqa: PLC0415  (the reader side only)

    f = snap.fixed
    gateway_id, pid, started_at, _recovery, configured, _accounts, durable, risk_wire = snap.slow[:8]
    (
        _carried,
        journal_error,
        rejects,
        cancel_rejects,
        requests,
        venues,
        loop_ns,
        fsync_ns,
        gc_stats,
        extras,
        trading_state,
        strategies_connected,
        trading_scopes,
        fsync_first,
    ) = snap.live
    return assemble_metrics(
        gateway_id=gateway_id,
        pid=pid,
        start_time=started_at,
        trading_state=trading_state,
        trading_scopes=trading_scopes if risk_wire is None else assemble_trading_scopes(risk_wire, trading_scopes),
        counters=_counters(f),
        rejects=[(source, code, count) for (source, code), count in rejects],
        cancel_rejects=[(source, code, count) for (source, code), count in cancel_rejects],
        orders_total=f["orders_total"],
        orders_open=f["orders_open"],
        strategies_configured=configured,
        strategies_connected=strategies_connected,
        venues=venues,
        venue_protocols=snap.slow[_SLOW_VENUE_PROTOCOLS] if len(snap.slow) > _SLOW_VENUE_PROTOCOLS else [],
        journal=JournalMetrics(
            enabled=durable,
            records=f["journal_records"],
            bytes_written=f["journal_bytes_written"],
            bytes_synced=f["journal_bytes_synced"],
            pending_bytes=f["journal_pending_bytes"],
            fsyncs=f["journal_fsyncs"],
            fsync_failures=f["journal_fsync_failures"],
            write_failures=f["journal_write_failures"],
            error=journal_error,
            fsync_ns=merge_dense({int(k): v for k, v in fsync_ns.items()}, fsync_first, snap.fsync_dense),
        ),
        gc_stats=gc_stats,
        latency=snap.latency(),
        admin=AdminMetrics(
            dict(requests),
            {int(k): v for k, v in loop_ns.items()},
            f["admin_last_loop_ns"],
            f["admin_max_loop_ns"],
            f["admin_last_cpu_ns"],
        ),
        extras=extras,
    )
