"""Assemble and run a gateway process: config -> risk, venues, journal recovery, engine, sockets, timers.

Start-up order matters and is fixed here:

0. take the journal directory's lock (``gateway.journal_lock``), then those of ``state_dir`` and the
   venues' state directories (``gateway.state_lock``): a second gateway on the same journal or state
   stops here, before reading anything, with exit 1;
1. load and validate everything (config, risk limits, venue configs): any error
   stops the process before a socket is opened (fail closed), with exit 2;
2. replay today's journal into the engine (orders, exposure, strategy event logs)
   and truncate a torn tail; refuse to start on mid-file corruption (exit 1);
3. open the journal for appending, start venue connectors (resuming each venue
   session where the journal left off), then the strategy and admin sockets;
4. timers: strategy heartbeats, risk-file watch; signals: SIGHUP reloads risk
   limits (its sender recorded, ``gateway.signals``), SIGTERM/SIGINT stop cleanly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import functools
import gc
import logging
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol

import msgspec

from gateway import admin as admin_module
from gateway.admin import (
    AdminConnections,
    AdminRefusedError,
    AdminStats,
    admin_connection_bound,
    start_admin_server,
)
from gateway.admin_commands import admin_handlers
from gateway.audit_kills import (
    FROM_AUDIT,
    audited_records,
    held_ids,
    journal_last,
    lost_states,
)
from gateway.config import ConfigError, GatewayConfig, decode_venues
from gateway.descriptors import CHECK_S as DESCRIPTOR_CHECK_INTERVAL_S
from gateway.descriptors import (
    UNLIMITED_TARGET,
    DescriptorWatch,
    hello_backlog,
    open_descriptors,
    raise_descriptor_limit,
)
from gateway.disk_watch import DISK_CHECK_S, DiskWatch
from gateway.engine import Engine, ReplayScheduler, reject_table
from gateway.entitlements import Entitlements
from gateway.journal import (
    FileJournal,
    Journal,
    JournalCloseError,
    JournalCorruptError,
    JournalLock,
    JournalScan,
    JPositionAdjusted,
    JTradingState,
    MmapJournal,
    NullJournal,
    lock_journal_directory,
    open_journal,
)
from gateway.journal_lock import LOCK_FILE
from gateway.latency import StageLatencies
from gateway.metrics import AdminMetrics, JournalMetrics, MetricsSnapshot, assemble_metrics, venue_protocols
from gateway.ops.heap import set_mmap_threshold
from gateway.ops.paths import writable_directories
from gateway.recovery import INTERNAL_ERROR_WHO as HALT_OF_OWN_WHO
from gateway.recovery import (
    RESUME_REFUSED,
    JournalLostError,
    emptied_journal_problem,
    first_order_id,
    journal_note,
    lost_journal_problem,
    mark_journal_closed,
    mark_journal_closed_dropping,
    mark_journal_open,
    note_journal_begun,
    open_marker,
    read_open_marker,
    read_stop_note,
    recover,
    stopped_cleanly,
    unreadable_note_problem,
)
from gateway.release import Releaser
from gateway.replay import JournalRead, ReplayResult, ReplayRunner
from gateway.server import HelloBacklog, SocketIdentity, remove_socket, socket_identity, start_strategy_server
from gateway.signals import UNKNOWN_SENDER, SighupListener
from gateway.snapshot import METRICS as SNAPSHOT_METRICS
from gateway.snapshot import STATUS as SNAPSHOT_STATUS
from gateway.snapshot import SnapshotWriter
from gateway.state_lock import StateLocks, lock_state_directories
from gateway.status_numbers import ADMIN_CONNECTIONS, DESCRIPTORS, JOURNAL_LOOKUPS, MEMORY, word_numbers
from gateway.status_published import PublishedSections
from gateway.trading_day import day_problem, journal_day
from model.clock import NowNs, monotonic_ns
from model.fsync import FsyncPolicy
from model.order import ACKED_STATES, HELD_CANCEL_STATES, REPLACING_STATES, Order, OrderState
from model.venue_events import VenueState
from obs import native
from risk.api import RiskGate
from risk.audit import audit_files, files_read, rotate_advice
from risk.status_load import SLICE_ITEMS
from venues.base import VenueAdapter
from venues.connector import AFTER_INPUT_S, LateTimer, SocketHook, VenueConnector
from venues.registry import build_venue

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.1
RISK_WATCH_INTERVAL_S = 1.0
RISK_WATCH_TRIGGER: Final = "file changed on disk"
"""The file watch's reloads' trigger (``risk.engine.WATCH_TRIGGER``; not imported: keeps `gateway --help` fast)."""
RISK_LOOK_ROUNDS: Final = 3
"""Before a watch reload, how many times the gateway waits for the looks at large files under way and looks again."""
RISK_LOOK_WAIT_S: Final = 1.0
"""The longest wait for those looks, per round (a 32 MiB file is read and hashed in ~0.1 s)."""
RISK_STOP_WAIT_S = 5.0
"""How long a stop waits for a reload, or the owed copies being written, before its last try to keep them."""
JOURNAL_FILE_CHECK_S = 0.25
DESCRIPTOR_CHECK_S = DESCRIPTOR_CHECK_INTERVAL_S
"""How often the journal's path is compared with the open file (an fstat and a stat; docs/reliability.md 2.3d)."""
JOURNAL_FILE_RELOG_S = 60.0
JOURNAL_SYNC_LAG_ALERT_S = 1.0
"""Under ``fsync: interval``: written bytes left unsynced this long, the synced position not moving, is a stalled
sync (the syncer frozen, a hung disk): a CRITICAL line and ``gateway_journal_sync_stalled`` 1. The threshold is
this or 20 sync intervals, whichever is longer (docs/reliability.md section 1)."""
EXIT_JOURNAL_NOT_DURABLE = 3
"""``gateway run``'s exit code when the stop could not make the journal durable (``GatewayProcess.exit_code``)."""
EXIT_RISK_AUDIT_LOST = 4
"""``gateway run``'s exit code when the stop could not write risk audit records kept late (``RISK AUDIT RECORDS
LOST AT STOP``; ops59c). ``EXIT_JOURNAL_NOT_DURABLE`` wins when both hold."""


def _lost_audit_record(record: dict[str, Any]) -> str:
    """Say what a risk audit record lost at a stop was, and what the next start does without it (ops59c)."""
    event = record.get("event")
    at = record.get("time", "?")
    if event == "not_applied":
        file = record.get("file", "?")
        return (
            f"the not_applied record of {file} (modified in place at {at}, sha256 {record.get('sha256', '?')}, NOT "
            "APPLIED): where its note in the state directory was not kept either, NOTHING ON DISK SAYS THE FILE IS "
            f"HELD BACK and the next start puts it in force (maybe half-written): before the restart, write a "
            f"complete file and mv it over {file}, or put back the content in force (sha256 "
            f"{record.get('in_force_sha256', '?')})"
        )
    if event == "trading_state":
        scope = f"account {record.get('account')}" if record.get("account") else "the whole gateway"
        new = record.get("new", "?")
        said = (
            f"the trading_state record of {scope} {record.get('old', '?')} -> {new} at {at} ({record.get('trigger')})"
        )
        if new == "ACTIVE":
            return (
                f"{said}: the next start finds the kill before it as the audit log's last word on the scope and may "
                "halt it again and cancel its open orders (`... starts HALTED: the risk audit log F says ...`): "
                "check with `gateway status` after the start and resume again once checked"
            )
        return (
            f"{said}: NOTHING IN THE AUDIT LOG HOLDS IT, the next start knows it from the journal only (the "
            "journal's CRITICAL at this stop names it if the journal dropped it too): check with `gateway status` "
            "after the start and kill again if it is not in force"
        )
    return f"the {event} record at {at}: the audit trail lacks it"


def _lost_audit_records(records: list[dict[str, Any]]) -> list[str]:
    """Say what each risk audit record lost at a stop was, judging a scope's trading states together.

    A kill and the resume after it, both lost, are one story: the journal holds both and the next start takes the
    scope's state from it (ACTIVE); each judged alone said "kill again" and "may halt it again", both wrong
    (rev59merge18 MEDIUM). An earlier state of a scope with a later one lost too is said to be superseded.
    """
    last: dict[str, int] = {}
    for index, record in enumerate(records):
        if record.get("event") == "trading_state":
            last[str(record.get("account") or "")] = index
    texts: list[str] = []
    for index, record in enumerate(records):
        if record.get("event") != "trading_state":
            texts.append(_lost_audit_record(record))
            continue
        scope = str(record.get("account") or "")
        said = (
            f"the trading_state record of {f'account {scope}' if scope else 'the whole gateway'} "
            f"{record.get('old', '?')} -> {record.get('new', '?')} at {record.get('time', '?')} "
            f"({record.get('trigger')})"
        )
        if last[scope] != index:
            texts.append(f"{said} (superseded by the later one of the same scope, lost too)")
        elif record.get("new") == "ACTIVE" and any(
            other.get("event") == "trading_state" and str(other.get("account") or "") == scope
            for other in records[:index]
        ):
            texts.append(
                f"{said}: the state before it on this scope is lost too, so the audit log's last word on the scope "
                "is from before both; the next start takes them from the journal (ACTIVE): check with `gateway "
                "status` after the start"
            )
        else:
            texts.append(_lost_audit_record(record))
    return texts


class SyncLagWatch:
    """Under ``fsync: interval``: how long written bytes have waited with the synced position not moving (sans-IO).

    ``check`` is given the time and the journal's written and synced positions. The clock starts at the
    first check that finds bytes unsynced, or finds the synced position moved: never earlier (a check just
    after start-up that finds the first bytes unsynced reads 0 s, not the time since the host booted).
    ``stalls`` counts each time the lag reached ``limit_s``, so a stall shorter than a scrape interval
    still leaves a trace (``gateway_journal_sync_stalls_total``).
    """

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.lag = 0.0
        """Seconds bytes have been unsynced without the synced position moving, as of the last check."""
        self.stalls = 0
        self._synced = -1
        """The synced position when the clock started (-1: no bytes were unsynced at the last check)."""
        self._since = 0.0

    @property
    def stalled(self) -> bool:
        """Return whether the lag has reached the limit."""
        return self.lag >= self.limit_s

    def check(self, now: float, written: int, synced: int) -> float:
        """Update the lag from one look at the journal's positions; return it."""
        if written - synced <= 0:
            self._synced = -1
            lag = 0.0
        else:
            if synced != self._synced:
                self._synced, self._since = synced, now
            lag = now - self._since
        was_stalled = self.stalled
        self.lag = lag
        if self.stalled and not was_stalled:
            self.stalls += 1
        return lag


def order_id_room_problems(venues: Mapping[str, VenueAdapter], next_order_id: int) -> list[str]:
    """Say which venues cannot carry the next order ids (e.g. a BOE prefix too long after ids skipped ahead)."""
    problems = []
    for name, venue in venues.items():
        room = venue.max_order_id()
        if room is not None and next_order_id > room:
            problems.append(
                f"venue {name}: order ids from {next_order_id} no longer fit its order references (up to {room}): "
                f"every order to it will be refused; {venue.order_id_room_fix(next_order_id)}"
            )
    return problems


class ReloadableRisk(RiskGate, Protocol):
    """The risk engine as the process uses it beyond the hot-path contract."""

    def reload(self, trigger: str, who: str) -> Any:
        """Re-read the limits file; return a result describing what happened."""
        ...

    def begin_reload(self, trigger: str, who: str) -> Any:
        """Start a reload (``reload`` in steps): return what its ``read()`` (any thread) and ``finish_reload`` take."""
        ...

    def finish_reload(self, pending: Any) -> Any:
        """Apply what ``pending`` read if all valid; return a result as ``reload`` does."""
        ...

    def file_changed(self) -> bool:
        """Return True if the limits file changed on disk since the last load."""
        ...

    def changed_files(self) -> list[str]:
        """Return which files (``"limits"``, ``"reference"``) changed content on disk since the last call."""
        ...

    def halt(self, account: str | None, who: str, reason: str = "", state_id: int = 0) -> Any:
        """Set HALTED globally or for one account (``state_id``: the change's identity, in its audit record)."""
        ...

    def set_trading_state(
        self,
        state: Any,
        account: str | None = None,
        who: str = "",
        reason: str = "",
        trigger: str = "admin",
        *,
        restored: bool = False,
        state_id: int = 0,
    ) -> Any:
        """Set ACTIVE / REDUCING / HALTED globally or for one account (``trigger``: the audit record's;
        ``restored``: re-applied from the journal; ``state_id``: the change's identity, in its audit record)."""
        ...

    def status(self) -> dict[str, Any]:
        """Return a JSON-able summary."""
        ...

    def trading_state(self, account: str | None = None) -> Any:
        """Return the effective trading state (an enum with a ``name``) firm-wide or for ``account``."""
        ...

    def held_by(self, account: str | None = None) -> list[str]:
        """Name what keeps the scope stricter than ACTIVE: ``"file"``, and for an account ``"firm"``."""
        ...

    def runtime_state(self, account: str | None = None) -> Any:
        """Return the run-time state (an enum with a ``name``) set firm-wide or for ``account`` alone."""
        ...

    def runtime_trigger(self, account: str | None = None) -> str:
        """Return how the run-time state of the scope was set (``kill``, ``internal_error``; "": none in force)."""
        ...

    def known_accounts(self) -> set[str]:
        """Return the accounts risk knows: in the limits file, or with a run-time state or open orders."""
        ...

    def is_known_account(self, account: str) -> bool:
        """Return True if ``account`` is in ``known_accounts()``, without building it (a per-command check)."""
        ...

    def trading_scopes(self) -> Any:
        """Return the kills in force by scope, the scopes not ACTIVE and each account's state (``gateway metrics``)."""
        ...

    def plan_adjustment(self, account: str, symbol: str, qty: int, price: int, notional_sign: int, reason: str) -> Any:
        """Decide on a position correction; change nothing; return a ``risk.adjust.Adjustment``."""
        ...

    def apply_adjustment(
        self,
        account: str,
        symbol: str,
        qty: int,
        price: int,
        notional: int,
        who: str,
        reason: str,
        *,
        restored: bool = False,
    ) -> tuple[int, int]:
        """Apply a planned and journaled position correction; audit it; return the position before and after."""
        ...


class UnknownAccountError(AdminRefusedError):
    """An admin command named an account the gateway does not know; nothing was changed."""


class VenueReconnectRefusedError(AdminRefusedError):
    """``venue reconnect`` named a venue the gateway does not have, or one not LOGIN_REFUSED; nothing was changed."""


class VenueSetSeqRefusedError(AdminRefusedError):
    """``venue set-seq`` refused (unknown venue, not FIX, logged on, a number going back...); nothing was changed."""


class ResumeRefusedError(AdminRefusedError):
    """``resume`` while the journal cannot record it: nothing was changed (trading stays as it was)."""


def _resume_refused(error: str, state: str) -> str:
    """The refusal of a resume the journal cannot record; ``state``: the scope's effective state, unchanged."""
    return (
        f"the journal cannot be written ({error}): the resume could not be recorded, so nothing was changed "
        f"(trading stays {state}); free space on the journal's disk and run it again"
    )


class KillResult(msgspec.Struct, frozen=True):
    """What ``kill`` did: the open orders it cancels, and the journal error that holds its record back."""

    orders_canceled: int
    journal_pending: str = ""
    """Empty when the HALTED record and the cancels were written; else why they wait (disk full ...)."""
    audit_late: bool = False
    """With ``journal_pending``: the risk audit log could not take the kill's record either (kept in memory, written
    late): nothing on disk holds the kill until one of the two is written (kill58b)."""


KNOWN_ACCOUNTS_SHOWN = 20
"""Accounts named in an unknown-account refusal (``gateway status --json`` lists them all: ``known_accounts``)."""
RELOAD_WHO_SHOWN = 8
"""Requesters a joined risk reload's audit ``who`` names (``_joined_who``); the rest are counted."""


def _lower(after: object, before: object) -> bool:
    """Return whether a venue's expected sequence number went down (``gateway venue set-seq --allow-lower-target``)."""
    return isinstance(after, int) and isinstance(before, int) and after < before


def _joined_who(whos: list[str]) -> str:
    """Return the ``who`` of a reload asked for by each of ``whos`` (joined requests): each once, with a count."""
    counts: dict[str, int] = {}
    for who in whos:
        counts[who] = counts.get(who, 0) + 1
    named = [who if n == 1 else f"{who} x{n}" for who, n in counts.items()]
    if len(named) > RELOAD_WHO_SHOWN:
        named[RELOAD_WHO_SHOWN:] = [f"and {len(named) - RELOAD_WHO_SHOWN} more"]
    return "; ".join(named)


StatusParts = Callable[
    [], tuple[dict[str, Any], dict[str, Any] | tuple[Any, ...] | msgspec.Raw] | dict[str, Any] | tuple[Any, ...]
]
"""A status provider for the snapshot: the plain provider itself (its dict: live sections), its numbers as a tagged
tuple the reader words (``gateway.status_numbers``: a str first), or one in two parts: (sections that change rarely,
the same object until they do; live sections, a tagged tuple of plain numbers the reader words:
``gateway.snapshot.word_live_sections``, or sections published encoded: ``PublishedSections``)."""
_VENUE_COUNTER_METRICS: Final = {
    "broken_trades": "venue_broken_trades_total",
    "fills_unknown": "venue_fills_unknown_total",
    "fills_from_cum_qty": "venue_fills_from_cum_qty_total",
    "gap_fills_with_open_orders": "venue_gap_fills_with_open_orders_total",
    "mismatched_reports": "venue_reports_mismatched_total",
    "orders_unchecked_after_reset": "venue_orders_unchecked_after_reset_total",
    "orders_unchecked_after_gap_fill": "venue_orders_unchecked_after_gap_fill_total",
    "replaces_maybe_taken": "venue_replaces_maybe_taken_total",
    "questions_unanswered": "venue_questions_unanswered_total",
    "live_after_end": "venue_orders_live_after_end_total",
    "store_failures": "venue_store_failures_total",
    "status_disagreements": "venue_status_disagreements_total",
    "replaced_after_reject": "venue_replaced_after_reject_total",
    "held_for_lookup": "venue_messages_held_for_lookup_total",
    "refetches": "venue_packets_refetched_total",
    "refetch_given_up": "venue_packets_given_up_total",
    "accepted_mismatch": "venue_accepted_mismatch_total",
    "replayed_after_renumbering": "venue_messages_replayed_after_renumbering_total",
    "internal_errors": "venue_internal_errors_total",
}
"""Adapter counter -> ``gateway metrics`` counter (summed over the venues), for what ops must reconcile by hand."""
_CANCEL_IN_FLIGHT: Final = frozenset({OrderState.PENDING_CANCEL, OrderState.PENDING_NEW_CANCEL})
"""Order states in which a cancel has been sent to the venue and not answered yet."""


class _PendingKill(NamedTuple):
    """A kill switch set (or re-applied at the start) while the journal could not be written (``_kills_pending``)."""

    scope: str
    """``all trading`` or ``account <A>``."""
    account: str | None
    mark: int
    """The journal offset of its HALTED record: the cancels behind it are journaled, and sent, only past it."""
    state_id: int
    """Its identity (kill58): a stop looks it up in the risk audit log (``_kills_dropped``)."""
    orders: frozenset[int]
    """The order ids whose cancel it queued behind that record (``_not_asked_at_stop``: not sent while unwritten)."""


def _kill_command(kill: _PendingKill) -> str:
    """The command that makes ``kill`` again, quoted: `gateway kill [--account A]`."""
    return "`gateway kill" + (f" --account {kill.account}" if kill.account else "") + "`"


_REFNUM_STALLS_METRIC: Final = "venue_user_ref_num_store_stalls_total"
"""OUCH: background UserRefNum writes that kept orders waiting past the store's limit (orders refused meanwhile)."""


INTERNAL_ERROR_WHO: Final = HALT_OF_OWN_WHO
"""Who halted an account after a fault of the gateway's own (``GatewayProcess._halt_after_fault``; defined with
recovery, which tells such a halt, that cancels nothing, from a kill: ``Recovered.kill_owed``)."""
INTERNAL_ERROR_TRIGGER: Final = "internal_error"
"""The audit trigger of that halt (risk-officer guide section 12), also when a restart restores it."""
TICK_S: Final = 0.0002
"""The least time one loop callback of ``LoopReplayReader`` steps the journal reads for (the first step always runs)."""
TICK_SHARE: Final = 0.25
"""The share of the time the loop spent on everything else since the last callback that the next may step for."""
TICK_MAX_S: Final = 0.002
"""The most time one loop callback steps the journal reads for (what another strategy may wait behind it)."""


class LoopReplayReader:
    """The engine's journal reader for old replays on the loop (``memory.replay_read: loop``).

    One loop callback runs one step (``ReplayJob.step``: a few hundred records, about 0.1-0.2 ms) of one
    read, the reads in turn (``gateway.replay.ReplayRunner``): between two steps the loop serves every
    socket that is ready, so other strategies' orders wait at most one step, whatever number of reads
    are in progress. A cancelled read (its connection closed) has its file closed at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, runner: ReplayRunner | None = None) -> None:
        self.loop = loop
        self.runner = runner if runner is not None else ReplayRunner()
        self._scheduled = False
        self._last_tick = 0.0
        """When the last callback ended (``time.perf_counter``): the loop served the others since."""

    def submit(self, read: JournalRead) -> None:
        """Queue a read; its result goes to ``read.done`` on the loop."""
        self.runner.submit(read)
        self._kick()

    def cancel(self, read: JournalRead) -> None:
        """Cancel a read: never reported, its file closed now (a read waiting for its place may take it)."""
        self.runner.cancel(read, close_now=True)
        if self.runner.busy:
            self._kick()

    def resume(self, read: JournalRead) -> None:
        """Step a parked streaming read again."""
        self.runner.resume(read)
        self._kick()

    def _kick(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._tick)

    def _tick(self) -> None:
        """Run steps for ``TICK_S``, or a ``TICK_SHARE`` of the time the loop took since (at most ``TICK_MAX_S``).

        An idle loop comes back at once and one callback runs a step or two; a loop busy with other strategies
        comes back late, and the replay still gets its share of the time instead of one step per turn.
        """
        self._scheduled = False
        runner = self.runner
        clock = time.perf_counter
        started = clock()
        since = started - self._last_tick if self._last_tick else 0.0
        budget = min(TICK_MAX_S, max(TICK_S, since * TICK_SHARE))
        try:
            while True:
                finished = runner.step()
                if finished is not None:
                    read, result = finished
                    if not read.cancelled:
                        read.done(result)
                if not runner.busy or clock() - started >= budget:
                    break
        finally:
            if runner.busy:
                self._kick()
                self._last_tick = clock()
            else:
                self._last_tick = 0.0


class ThreadReplayReader:
    """The engine's journal reader for old replays in a worker thread (``memory.replay_read: thread``).

    One thread at a time steps the reads in turn (``gateway.replay.ReplayRunner``): it only reads and
    decodes the journal file; the engine's state is touched on the loop only, when a result comes back.
    Between two steps the thread gives the interpreter up (``time.sleep(0)``), so the loop waits for the
    GIL at most about a step. A cancelled read has its file closed at the thread's next step.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, runner: ReplayRunner | None = None) -> None:
        self.loop = loop
        self.runner = runner if runner is not None else ReplayRunner()
        self._lock = threading.Lock()
        self._running = False

    def submit(self, read: JournalRead) -> None:
        """Queue a read; its result goes to ``read.done`` on the loop."""
        self.runner.submit(read)
        self._start()

    def _start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
        self.loop.run_in_executor(None, self._drain)

    def cancel(self, read: JournalRead) -> None:
        """Cancel a read: never reported, its file closed by the thread's next step (a parked one's now)."""
        self.runner.cancel(read, close_now=False)
        if self.runner.busy:
            self._start()

    def resume(self, read: JournalRead) -> None:
        """Step a parked streaming read again."""
        self.runner.resume(read)
        self._start()

    def _drain(self) -> None:
        runner = self.runner
        while True:
            with self._lock:
                if not runner.busy:
                    self._running = False
                    return
            finished = runner.step()
            if finished is not None:
                try:
                    self.loop.call_soon_threadsafe(self._deliver, *finished)
                except RuntimeError:  # the loop is closed: nobody waits for the result
                    finished[0].close()
            time.sleep(0)

    @staticmethod
    def _deliver(read: JournalRead, result: ReplayResult) -> None:
        if not read.cancelled:
            read.done(result)


def _replay_status(runner: ReplayRunner) -> dict[str, Any]:
    """Return the ``journal_replays`` status section: reads in progress and how the others ended."""
    return word_numbers(runner.status_numbers())


def _replay_metrics(runner: ReplayRunner) -> dict[str, float]:
    """Return the journal replays' numbers for ``gateway metrics``."""
    return {
        "journal_replays_in_progress": float(runner.in_progress),
        "journal_replays_started_total": float(runner.submitted),
        "journal_replays_finished_total": float(runner.finished),
        "journal_replays_failed_total": float(runner.failed),
        "journal_replays_cancelled_total": float(runner.cancelled),
    }


def _loop_scheduler(loop: asyncio.AbstractEventLoop) -> ReplayScheduler:
    """Return the engine's scheduler of replay slices: ``call_soon`` for 0, ``call_later`` otherwise."""

    def schedule(callback: Callable[[], None], delay: float) -> None:
        if delay > 0:
            loop.call_later(delay, callback)
        else:
            loop.call_soon(callback)

    return schedule


def load_risk(config: GatewayConfig, clock: NowNs) -> ReloadableRisk:
    """Load the risk engine from the configured limits file (raises on any error).

    Its session date (the start-of-day positions the day's first start read are kept for it) is the journal's
    trading day, the date in ``journal.timezone`` (risk56: it was the host's local date, which a UTC host's
    midnight changed while the venues' day went on).
    """
    from risk.engine import RiskEngine  # noqa: PLC0415 - keeps `gateway --help` fast

    venues = decode_venues(config)
    engine: ReloadableRisk = RiskEngine.load(
        config.path(config.risk_limits),
        clock=clock,
        audit_log_path=config.path(config.risk_audit_log),
        known=config.risk_names(),
        keep=config.path(config.state_dir) / f"{config.gateway_id}-risk-in-force.yaml",
        trading_day=lambda wall_ns: journal_day(config.journal.timezone, venues, lambda: wall_ns),
        gateway_id=config.gateway_id,
    )
    return engine


def _where(exc: OSError, path: Path, key: str) -> OSError:
    """Return ``exc`` naming ``path`` and the config key that puts it there (an OSError that named no file)."""
    if exc.filename is not None or type(exc) is not OSError:
        return exc
    return OSError(exc.errno, f"{exc.strerror}: {path} (writing it at start-up; its directory is the config's {key})")


def journal_path(config: GatewayConfig, today: dt.date | None = None, venues: list[Any] | None = None) -> Path:
    """Return today's journal file (one per gateway id and trading day).

    ``today``: the trading day; by default the date now in ``journal.timezone`` (``gateway.trading_day``:
    ``auto`` takes the venues' time zone, from ``venues`` (the decoded venue configs) or the config's).
    """
    if today is None:
        today = journal_day(config.journal.timezone, decode_venues(config) if venues is None else venues)
    return config.path(config.journal.directory) / f"{config.gateway_id}-{today.strftime('%Y%m%d')}.journal"


def later_journal_problem(state_dir: Path, gateway_id: str, journal: Path, setting: str) -> str:
    """Return why starting on ``journal`` is refused: the journal this gateway began last is of a later date ("": not).

    Trading days only go forward: a later-dated journal in the same directory (named in ``<id>.journal-begun``) was
    begun by a version that named the journal by the host's date (before day55, or ``journal.timezone: local``)
    ahead of the venues' (a UTC host after midnight UTC, before midnight US Eastern), or the clock or a time zone
    setting went back. It may hold the orders of the venues' trading day going on: opening ``journal`` would
    forget them (rev55boe s12, the other way round).
    """
    note = journal_note(state_dir, gateway_id)
    try:
        named = Path(note.read_text(errors="replace").partition("\n")[0].strip())
    except OSError:
        return ""
    prefix = f"{gateway_id}-"
    day, wanted = named.name[len(prefix) : -len(".journal")], journal.name[len(prefix) : -len(".journal")]
    if (
        not named.name.startswith(prefix)
        or not named.name.endswith(".journal")
        or not (day.isdigit() and len(day) == 8)
        or day <= wanted
        or named.parent != journal.resolve().parent
        or not os.path.lexists(named)
    ):
        return ""
    return (
        f"the journal {named} this gateway began last is dated {day}, after this trading day's journal {journal} "
        f"(journal.timezone: {setting}): an earlier version, or journal.timezone: local, named it by the host's "
        "date, ahead of the venues' trading day (or the clock or a time zone setting went back). It may hold "
        "orders of the trading day going on; starting on the earlier date would forget them. Reconcile open "
        f"orders and positions with the venues (both files hold this day's orders), then move {note} aside and "
        'start again (docs/ops-guide.md, "The journal\'s trading day")'
    )


def _restored_trigger(rec: JTradingState) -> str:
    """The trigger of a journaled trading state re-applied at a start: the journal keeps none, so as its state says (a
    halt after an internal error by its ``who``; a HALTED, the kill switch's, ``kill``: ops59, it was ``admin``)."""
    if rec.who == INTERNAL_ERROR_WHO:
        return INTERNAL_ERROR_TRIGGER
    return "kill" if rec.state == "HALTED" else "admin"


def _restored_triggers(records: list[JTradingState]) -> list[str]:
    """The trigger of each journaled trading state re-applied at a start, in order (``_restored_trigger``).

    A refused resume's re-statement (``RESUME_REFUSED``, right behind the ACTIVE record whose sync failed, with the
    officer as ``who``) re-states what was in force before that ACTIVE: it keeps that state's trigger, as recovery
    keeps its kill (``Recovered.kills``). rev60diff: a halt after an internal error came back as a kill.
    """
    triggers: list[str] = []
    last: dict[str, str] = {}
    """Scope -> the trigger of its latest record."""
    before_active: dict[str, str | None] = {}
    """Scope -> the trigger in force before its latest record, an ACTIVE one (None: no record before it)."""
    for rec in records:
        scope = rec.account
        in_force = before_active.pop(scope, None)
        if rec.state == "ACTIVE":
            before_active[scope] = last.get(scope)
            trigger = _restored_trigger(rec)
        elif in_force is not None and rec.reason == RESUME_REFUSED:
            trigger = in_force
        else:
            trigger = _restored_trigger(rec)
        last[scope] = trigger
        triggers.append(trigger)
    return triggers


def _not_asked_at_stop(order: Order, state: VenueState, journal_error: str, unwritten: bool = False) -> str:
    """Say why an order the stop did not cancel (its strategy's ``on_disconnect`` is ``keep``) is still open at exit.

    One with a cancel of its own already (the kill switch's when the gateway's own, or its strategy's) is not left
    working: held for a venue not UP, it is journaled and the next start sends it (killcancel57). ``unwritten``: its
    cancel is one a kill switch queued behind a HALTED record the journal never wrote (``_PendingKill``): not sent
    (journal first), though the order's state says in flight (kill58b).
    """
    whose = "the kill switch's" if order.own_cancel else "the strategy's"
    if order.state in HELD_CANCEL_STATES:
        if journal_error:
            return f"{whose} cancel not sent: the journal cannot be written ({journal_error})"
        if order.state in REPLACING_STATES:
            return f"{whose} cancel held behind a replace still in flight"
        if state is VenueState.UP:
            return f"{whose} cancel held, not sent"
        return (
            f"{whose} cancel queued, not sent: venue {order.venue} {state.name}, not UP; the next start sends it "
            "once the venue's session is UP"
        )
    if order.state in _CANCEL_IN_FLIGHT:
        if unwritten and journal_error:
            return f"{whose} cancel not sent: the journal cannot be written ({journal_error})"
        return f"{whose} cancel sent, no answer at exit"
    return "on_disconnect keep: left working"


class GatewayProcess:
    """One running gateway."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        clock: NowNs = monotonic_ns,
        risk: ReloadableRisk | None = None,
        socket_hooks: list[SocketHook] | None = None,
        on_activity: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._risk_override = risk
        self._socket_hooks = socket_hooks or []
        self._on_activity = on_activity
        self.engine: Engine | None = None
        self.risk: ReloadableRisk | None = None
        self.releaser = Releaser()
        """Frees the limits a reload replaced a slice per loop iteration (``gateway.release``)."""
        self.venues: list[VenueAdapter] = []
        self.connectors: list[VenueConnector] = []
        self.journal: Journal = NullJournal()
        self.recovery: dict[str, Any] = {}
        self._journal_marked: Path | None = None
        self._kills_pending: list[_PendingKill] = []
        """Each kill set (or re-applied at the start) while the journal could not be written."""
        """The journal whose open marker this process created (``gateway.recovery.mark_journal_open``)."""
        self._state_id = 0
        """The last trading-state identity given or read at the start (``_new_state_id``)."""
        self.started_at = time.time()
        self._servers: list[asyncio.AbstractServer] = []
        self._timers: list[asyncio.TimerHandle] = []
        self._stopped = asyncio.Event()
        self._stop_begun = False
        self._stop_hurry = asyncio.Event()
        self._started = False
        self._snapshot: SnapshotWriter | None = None
        """The admin server's status/metrics snapshot writer (``start``); ``_prepare_status`` fills its caches."""
        """Start completed (its "started" line logged): the stop then says "stopped", else "did not start"."""
        self.stop_signal_at_start: str | None = None
        """The first SIGTERM the loop handed over before the start completed (``gateway run`` logs it)."""
        self._status_providers: list[Callable[[], dict[str, Any]]] = []
        self._status_parts: list[StatusParts] = []
        self._metrics_providers: list[Callable[[], dict[str, float]]] = []
        self._watched_journal: MmapJournal | FileJournal | None = None
        self._journal_file_published = PublishedSections()
        """The ``journal_file`` status section as of the last journal file check (the only place it changes)."""
        self._disks = DiskWatch([])
        """The free space of the directories written (``start``; ``gateway_disk_free_bytes``)."""
        self._descriptors: DescriptorWatch | None = None
        self._hello_backlog: HelloBacklog | None = None
        self._admin_connections: AdminConnections | None = None
        self._journal_file_problem = ""
        """Why the journal's path does not name the open file ("": it does), as the last check found."""
        self._releasing_pages = False
        """A ``_tend_journal_pages`` step is queued on the loop (a backlog of written pages being released)."""
        self._journal_file_last = ""
        """What the last check that found a problem said (kept after a restore, for status)."""
        self._journal_file_logged = 0.0
        self._journal_first_id = 0
        """The first order id this run's open marker holds (written again if the marker is deleted)."""
        self._sync_watch = SyncLagWatch(max(JOURNAL_SYNC_LAG_ALERT_S, 20 * config.journal.fsync_interval_ms / 1000))
        """How long the journal has had unsynced bytes without the synced position moving (``fsync: interval``)."""
        self._sync_stalled_logged = 0.0
        self._marker_logged = 0.0
        """When writing a deleted open marker again last failed and was logged (0: it did not fail)."""
        self._lock_restores = 0
        """Times a deleted ``gateway.lock`` was re-created and locked again (``_check_journal_lock``)."""
        self._marker_restores = 0
        """Times a deleted open marker was written again (``_check_open_marker``)."""
        self.admin_stats = AdminStats()
        self._sighup: SighupListener | None = None
        self._risk_files_settling: set[str] = set()
        self._risk_looks: concurrent.futures.ThreadPoolExecutor | None = None
        """The file watch's thread: it reads and hashes a large limits file (``RiskEngine.look_in_thread``)."""
        """Files the watch saw change, waiting for a quiet tick before the reload."""
        self._risk_reload: asyncio.Task[Any] | None = None
        """The last reload asked for off the event loop (its files read in a worker thread), until it is done."""
        self._risk_reload_next: tuple[str, list[str], asyncio.Task[Any]] | None = None
        """The reload asked for that has not started yet (trigger, who asked, its task): later ones join it."""
        self._risk_reading: Any = None
        """The reload whose files are being read (a ``PendingReload``): the stop ends its reader process."""
        self._risk_keeping: asyncio.Task[Any] | None = None
        """The copies in force a failed write left owed, being written again off the loop (``_keep_owed_copies``)."""
        self.status_slices = SLICE_ITEMS
        """Items per loop iteration a reload stages the new limits' status parts in (``_stage_status``); 0: none
        staged, built after the switch in one callback (before stop 54; ``benchmarks/bench_risk_reload.py``)."""
        self.status_pending = False
        """True while a reload stages the new limits' status parts."""
        from risk.reader import TIMEOUT_S, reader_command  # noqa: PLC0415 - keeps `gateway --help` fast

        self.risk_reader: list[str] | None = reader_command()
        """The reader process a reload off the loop reads and checks the files in (``risk.reader``: ``python -m
        risk.reader <limits file>``); None: in a worker thread of this process (before stop 55)."""
        self.risk_reader_timeout_s = TIMEOUT_S
        """A reader process that has not answered by then is killed and the reload refused."""
        self._journal_lock: JournalLock | None = None
        self._state_locks: StateLocks | None = None
        self._own_sockets: list[tuple[Path, SocketIdentity | None]] = []
        """The socket files this process bound, with their (device, inode): ``stop`` removes those only."""
        self.exit_code = 0
        """0, or ``EXIT_JOURNAL_NOT_DURABLE`` once ``stop`` found records it could not make durable."""

    # ---- start-up --------------------------------------------------------------------------

    def build(self) -> None:
        """Validate the config and create risk, venues and the engine (no I/O beyond files)."""
        config = self.config
        self.risk = self._risk_override or load_risk(config, self.clock)
        if hasattr(self.risk, "retire"):
            self.risk.retire = self.releaser.retire
        decoded = decode_venues(config)
        names = [getattr(v, "name", "") for v in decoded]
        if len(set(names)) != len(names):
            raise ConfigError(f"venue names must be unique, got {names}")
        venues: list[VenueAdapter] = []
        self.venues = venues
        for venue_config in decoded:  # one by one: a venue that fails leaves those built before it to ``stop``
            venues.append(build_venue(venue_config, self.clock))
        self._venue_configs = dict(zip(names, decoded, strict=True))
        started = time.perf_counter()
        self.engine = Engine(
            risk=self.risk,
            venues=self.venues,
            entitlements=Entitlements(config.strategies),
            clock=self.clock,
            journal=NullJournal(),
            gateway_id=config.gateway_id,
            terminal_orders_kept=config.memory.terminal_orders_kept,
            events_kept=config.memory.events_kept,
            released_ids_capacity=config.memory.released_ids_capacity,
        )
        ids = self.engine.released_ids
        log.info(
            "released cl_ord_id table: %d MiB (%d slots) for %d ids (memory.released_ids_capacity; grows past %d), "
            "allocated and touched in %.1f ms",
            ids.nbytes >> 20,
            ids.slots,
            ids.capacity,
            ids.holds_without_growing(),
            (time.perf_counter() - started) * 1e3,
        )
        self._share_latency(self.engine)

    def _share_latency(self, engine: Engine) -> None:
        """Keep the latency histograms in a sealed memfd the status readers map (``gateway.stats_map``).

        ``gateway status``, ``gateway metrics`` and the exporter copy their bytes from there (``/proc/<pid>/fd/<n>``):
        no reply carries them. If the memfd cannot be made (no ``memfd_create``, no memory for its pages), they stay
        in an anonymous mapping and every reply carries them, as before. The memfd has no path: a second gateway
        started by mistake on the same admin socket sees and changes nothing of it.
        """
        try:
            engine.latency = StageLatencies(shared=True)
        except OSError as exc:
            log.warning(
                "latency histograms kept in this process only (cannot make their shared memory: %s): status and "
                "metrics replies carry their 92 KiB each",
                exc.strerror or exc,
            )

    def lock_journal(self) -> None:
        """Take the journal directory's lock before anything reads or writes it: one gateway per journal.

        Raises ``JournalInUseError`` (an OSError: start-up fails with exit 1) naming the directory and the
        pid of the gateway holding it; nothing of the journal was read, no socket touched.
        """
        config = self.config
        if config.journal.enabled and self._journal_lock is None:
            directory = config.path(config.journal.directory)
            try:
                self._journal_lock = lock_journal_directory(directory)
            except OSError as exc:  # a full disk names no file: say which one, and where it is set
                raise _where(exc, Path(directory) / LOCK_FILE, "journal.directory") from exc

    def lock_state(self) -> None:
        """Take the locks of ``state_dir`` and each venue's state directory before anything reads them.

        Raises ``StateDirInUseError`` (an OSError: start-up fails with exit 1) naming the directory, its
        setting, and the pid and config of the gateway holding it (``gateway.state_lock``).
        """
        if self._state_locks is None:
            self._state_locks = lock_state_directories(self.config)

    @staticmethod
    def _judge_unreadable_note(unreadable: str, journal: Path, note: Path) -> None:
        """Refuse the start if today's journal is gone or empty (the note cannot tell it was begun), else warn."""
        try:
            size: int | None = os.stat(journal).st_size
        except OSError:
            size = None
        if size:
            log.warning(
                "%s: ignored, today's journal %s is there; the note is written again once it is open",
                unreadable,
                journal,
            )
            return
        state = "gone" if size is None else "empty (0 bytes)"
        problem = (
            f"{unreadable}, and the journal {journal} is {state}: with the note unreadable the gateway cannot tell "
            "whether it began that journal today (deleted or cut since) or never did, and starting could begin an "
            "empty day (open orders, positions and exposure forgotten). Put the journal back if it was there, or, "
            "to begin the day with an empty journal on purpose (after reconciling open orders and positions with "
            f"the venues), move {note} aside and start again (docs/reliability.md 2.3d)"
        )
        raise ConfigError(problem) from JournalLostError(problem)

    def recover(self) -> None:
        """Rebuild the day from today's journal, open it for appending, and hand the result to the engine."""
        assert self.engine is not None
        config = self.config
        if not config.journal.enabled:
            log.warning("journal disabled: a crash loses order state (do not run like this in production)")
            return
        venues = list(self._venue_configs.values())
        wall = time.time_ns()
        day = journal_day(config.journal.timezone, venues, lambda: wall)
        wrong_day = day_problem(config.journal.timezone, venues, day, wall)
        if wrong_day:
            raise ConfigError(wrong_day)
        path = journal_path(config, day)
        state_dir = config.path(config.state_dir)
        later = later_journal_problem(state_dir, config.gateway_id, path, config.journal.timezone)
        if later:  # the journal's state, not the config's: exit 1 (restarted, refused again), as for a journal gone
            raise ConfigError(later) from JournalLostError(later)
        lost = lost_journal_problem(state_dir, config.gateway_id, path) or emptied_journal_problem(
            state_dir, config.gateway_id, path
        )
        if lost:
            raise ConfigError(lost) from JournalLostError(lost)
        unreadable = unreadable_note_problem(state_dir, config.gateway_id)
        if unreadable:
            self._judge_unreadable_note(unreadable, path, journal_note(state_dir, config.gateway_id))
        scan = JournalScan()
        started = time.perf_counter()
        try:
            journal = open_journal(
                path,
                storage=config.journal.storage,
                fsync=config.journal.fsync,
                fsync_interval_ms=config.journal.fsync_interval_ms,
                owner=f"{config.gateway_id} {path.stem.rpartition('-')[2]}",  # the file name's session date
            )
        except JournalCorruptError as exc:  # another owner, or a damaged header page (its owner block)
            raise ConfigError(f"{exc}; move the file aside only after investigating it") from exc
        except OSError as exc:  # its header page on a full disk: the error names no file
            raise _where(exc, path, "journal.directory") from exc
        try:
            recovered = recover(journal.records(scan), scan)
        except JournalCorruptError as exc:
            journal.close()
            raise ConfigError(
                f"{exc} (after reading {scan.records} records of {path}); move the file aside only after "
                "investigating it"
            ) from exc
        file_size = os.stat(path).st_size  # before the cut: an MmapJournal's zeros after its records
        previous_first = read_open_marker(path)
        clean = stopped_cleanly(previous_first is not None, scan, file_size)
        dropped = read_stop_note(path) if clean else None
        journal.cut_torn_tail(scan)
        self.journal = self.engine.journal = journal
        if isinstance(journal, MmapJournal | FileJournal):
            self._watched_journal = journal
            self._journal_file_published.publish(self._journal_file_status())
            self.add_status_provider(self._journal_file_status, self._journal_file_published.parts)
            self.add_metrics_provider(self._journal_file_metrics)
        completed = self.engine.adopt(recovered)
        batch = FsyncPolicy(config.journal.fsync) is FsyncPolicy.BATCH
        for venue in self.venues:  # before their floors: BOE's depends on whether it is the journal it ran on
            venue.journal_opened(str(path), clean, batch, not scan.records)
        # above every venue's persisted floor too (an OUCH standby takeover raised the ids after the marker's first);
        # read once (a FIX store is searched backwards for its last NewOrderSingle)
        venue_floor = max((venue.order_id_floor() for venue in self.venues), default=0)
        first = first_order_id(recovered.next_order_id, previous_first, clean, config.journal.fsync, venue_floor)
        skipped = first - recovered.next_order_id
        if skipped:
            self.engine.next_order_id = first
            log.warning(
                "the journal %s was not closed cleanly (fsync %s): a power failure may have cut records of orders "
                "that reached a venue; new order ids start at %d, %d past the last journaled (%d)%s, so no id "
                "(ClOrdID) is used twice",
                path,
                config.journal.fsync,
                first,
                skipped,
                recovered.next_order_id - 1,
                f" and above order id {venue_floor} a venue's state names (the ids went on above it)"
                if venue_floor >= max(recovered.next_order_id, previous_first or 0)
                else "",
            )
        if dropped is not None and dropped[2] > self.engine.next_order_id:
            # ids the dropped records may have given orders the journal never holds: not given again (lead56e)
            self.engine.next_order_id = dropped[2]
        if dropped is not None:
            log.warning(
                "the last stop on the journal %s dropped %d records (%d bytes) it could not write (the disk was "
                "full): none had been sent to a venue or a strategy, every record before them was on disk; a clean "
                "stop, order ids go on from %d (none skipped); a request among them was never answered, its "
                "strategy sends it again (docs/reliability.md 2.3a)",
                path,
                dropped[0],
                dropped[1],
                self.engine.next_order_id,
            )
        resume = recovered.resume
        for venue in self.venues:
            point = resume.get(venue.name)
            if point is not None:
                venue.resume_after(point)
        self._restore_trading_states(recovered.trading_states)
        self._restore_audited_kills(recovered.trading_states, day, venues)
        self._carry_on_kills(recovered.kill_owed)
        self._order_ids_above_venue_state(venue_floor)
        failed = mark_journal_open(path, self.engine.next_order_id)  # durable before the first order
        if failed is not None:
            log.error(
                "cannot write the open marker %s.open (%s): if this gateway does not stop cleanly, the next start "
                "skips order ids past the journal's last only, not past this start's first id %d "
                "(docs/reliability.md 2.3c)",
                path,
                failed.strerror or failed,
                self.engine.next_order_id,
            )
        self._journal_marked = path
        self._journal_first_id = self.engine.next_order_id
        failed = note_journal_begun(state_dir, config.gateway_id, path)
        if failed is not None:
            log.error(
                "cannot write %s (%s): if the journal %s is deleted while the gateway is stopped, the next start "
                "cannot tell and begins an empty day (docs/reliability.md 2.3d)",
                journal_note(state_dir, config.gateway_id),
                failed.strerror or failed,
                path,
            )
        elapsed = time.perf_counter() - started
        stranded = [o for o in self.engine.open_orders.values() if o.venue not in self.engine.venues]
        if stranded:
            log.error(
                "%d open orders are at venues no longer in the config (%s): they cannot be canceled from here "
                "(cancels stay queued); put the venue back in gateway.yaml or reconcile with the venue",
                len(stranded),
                ", ".join(sorted({o.venue for o in stranded})),
            )
        for problem in order_id_room_problems(self.engine.venues, self.engine.next_order_id):
            log.error("%s", problem)
        self.recovery = {
            "journal": str(path),
            "records": scan.records,
            "torn_bytes_truncated": scan.torn_bytes,
            "unsynced_records_dropped": scan.dropped_records,
            "orders": self.engine.orders_total,
            "open_orders": len(self.engine.open_orders),
            "venue_resume": {name: msgspec.to_builtins(point) for name, point in resume.items()},
            "unanswered_requests": {name: len(requests) for name, requests in recovered.unanswered.items()},
            "seconds": round(elapsed, 3),
            "completed_after_crash": completed,
            "stopped_cleanly": clean,
            "order_ids_skipped": skipped,
            "last_stop_dropped_records": dropped[0] if dropped is not None else 0,
        }
        if scan.records:
            log.info(
                "recovered %d journal records in %.3f s: %d orders, %d open, venues resume after %s",
                scan.records,
                elapsed,
                len(self.engine.orders),
                len(self.engine.open_orders),
                {name: (point.epoch, point.high_water) for name, point in resume.items()},
            )

    def _restore_trading_states(self, trading_states: list[JTradingState]) -> None:
        """Re-apply journaled kill switch / resume commands: a crash must never lift a kill."""
        from risk.model import TradingState  # noqa: PLC0415 - keeps `gateway --help` fast

        assert self.risk is not None
        for rec, trigger in zip(trading_states, _restored_triggers(trading_states), strict=True):
            self._state_id = max(self._state_id, rec.state_id)
            self.risk.set_trading_state(
                TradingState[rec.state],
                rec.account or None,
                rec.who,
                rec.reason,
                trigger,
                restored=True,
                state_id=rec.state_id,
            )

    def _new_state_id(self) -> int:
        """Return a new trading-state identity (``JTradingState.state_id``, kill58): the Unix ns time, raised past
        every identity given before or read at the start from the journal and the risk audit log, so unique per
        gateway through a wall clock stepped back and two changes in one ns."""
        self._state_id = max(time.time_ns(), self._state_id + 1)
        return self._state_id

    def _carry_on_kills(self, owed: dict[int, Order]) -> None:
        """Send the Cancels a kill switch owed that the journal does not hold (walk59): a crash cut its walk.

        A kill's Cancels over many orders are walked a slice per loop turn (``Engine.cancel_all``); its HALTED record
        goes first. The orders of its scope open at the kill with no Cancel journaled after it
        (``Recovered.kill_owed``) and still open get the gateway's own Cancel now, held (journaled) for venues not
        UP yet and sent as each venue's session is UP. An order whose Cancel was journaled keeps it: its venue
        answers it at the reconnect (docs/reliability.md 2.1), no second Cancel is sent.
        """
        engine = self.engine
        assert engine is not None
        if not owed:
            return
        count = engine.cancel_owed(list(owed.values()))
        if count:
            log.warning(
                "a kill switch's Cancels were cut short by the last stop or crash: the Cancels of its %d open orders "
                "still owed one are queued now, sent as each venue's session is UP (journal first; `gateway status` "
                "shows the orders still open)",
                count,
            )

    def _restore_audited_kills(self, journaled: list[JTradingState], day: dt.date, venues: list[Any]) -> None:
        """Re-apply a kill the risk audit log holds for the journal's day and the journal does not (killstop56).

        A kill pending on a full journal is dropped by a stop or a crash; its audit record was written and fsynced
        first (``gateway.audit_kills``). Which the journal lost is judged by identity (``lost_states``, kill58: the
        audit records after the last the journal holds, whose ``state_id`` it does not hold), or by state for a
        journal written before identities. The scope starts in the lost state: applied, journaled with the kill's
        ``who``, reason and identity (a second start finds it held: done), one ERROR naming the record and the
        remedy. Never less strict.

        A kill switch (trigger ``kill``) is carried out again as ``kill`` does (killcancel57): its cancels, dropped with
        its record, are queued for every open order of the scope behind the HALTED record (``Engine.cancel_all``:
        held, journaled, for venues not UP yet) and leave as each venue's session is UP; a halt of the gateway's own
        (``internal_error``) cancels nothing, as when it was set. The record is named by a stop that drops it again.
        """
        from risk.model import TradingState  # noqa: PLC0415 - keeps `gateway --help` fast

        assert self.risk is not None
        config = self.config
        zone = config.journal.timezone
        audit = config.path(config.risk_audit_log)
        try:
            found = audited_records(audit, lambda ns: journal_day(zone, venues, lambda: ns) == day, config.gateway_id)
        except OSError as exc:
            log.error(
                "cannot read the risk audit log %s (%s): a kill switch the last stop or crash dropped from the journal "
                "(docs/reliability.md 2.3a) cannot be re-applied from it; check its last trading_state records and "
                "run `gateway kill` if one is not in force",
                audit,
                exc,
            )
            return
        self._state_id = max([self._state_id, *(record.state_id for record in found)])
        held = journal_last((rec.account, rec.state) for rec in journaled)
        engine = self.engine
        assert engine is not None
        journal_file = self.journal
        for lost, by_identity in lost_states(found, [(rec.account, rec.state, rec.state_id) for rec in journaled]):
            trigger = lost.trigger or "kill"
            self.risk.set_trading_state(
                TradingState[lost.state],
                lost.account,
                lost.who + FROM_AUDIT,
                lost.reason,
                trigger,
                state_id=lost.state_id,
            )
            mark = journal_file.tell() + journal_file.pending_bytes
            # the original's identity: the next start finds it held (done), however many starts re-apply it
            journal_file.append(JTradingState(lost.account or "", lost.state, lost.who, lost.reason, lost.state_id))
            if lost.state == "HALTED" and trigger == "kill":
                scope = f"account {lost.account}" if lost.account else "all trading"
                count = engine.cancel_all(lost.account)  # held for venues not UP, behind the HALTED record
                # named by a stop that drops it again (``_kills_dropped``)
                self._kills_pending.append(
                    _PendingKill(scope, lost.account, mark, lost.state_id, self._scope_orders(lost.account))
                )
                carried = (
                    f", and carried out: the cancels of its {count} open orders are queued, sent as each venue's "
                    "session is UP (journal first; `gateway status` shows the orders still open)"
                    if count
                    else " (it has no open order to cancel)"
                )
            else:
                carried = " (its open orders are left as they are: it canceled none when it was set)"
            resume = "gateway resume" + (f" --account {lost.account}" if lost.account else "")
            last = held.get(lost.account)
            if last is None:
                journal = (
                    "a record the journal does not hold (it holds no trading state for it: a stop or crash while the "
                    "journal could not be written dropped it"
                )
            elif by_identity:
                journal = (
                    f"a record the journal does not hold (its last state for it, {last}, is older: a stop or crash "
                    "while the journal could not be written dropped this one"
                )
            else:
                journal = (
                    f"while the journal's last state for it is {last} (a stop or crash while the journal could not "
                    f"be written dropped this record from the journal, or the audit record of that {last} was lost"
                    + (", or that resume was refused as the journal failed" if last == "ACTIVE" else "")
                )
            log.error(
                "%s starts %s: the risk audit log %s says it was set %s at %s by %s (trigger %s: %s), %s: "
                "docs/reliability.md 2.3a); re-applied and journaled%s. To trade again once checked: `%s`",
                lost.scope,
                lost.state,
                lost.file or audit,
                lost.state,
                lost.time,
                lost.who,
                lost.trigger,
                lost.reason or "no reason given",
                journal,
                carried,
                resume,
            )

    async def start(self) -> None:
        """Build, recover, connect venues and open the sockets."""
        self._stopped = asyncio.Event()
        # SIGHUP is blocked before any thread starts (journal, stores) so that only the listener,
        # which learns the sender's pid and uid, receives it
        self._sighup = SighupListener(self._on_sighup)
        self._sighup.block()
        self.lock_journal()
        self.lock_state()
        set_mmap_threshold(self.config.memory.malloc_mmap_threshold)
        self.build()
        self.recover()
        self.add_metrics_provider(self._risk_metrics)
        self.add_status_provider(self._journal_lookup_status, self._journal_lookup_numbers)
        self.add_metrics_provider(self._journal_lookup_metrics)
        engine = self.engine
        assert engine is not None
        loop = asyncio.get_running_loop()
        reader = ThreadReplayReader(loop) if self.config.memory.replay_read == "thread" else LoopReplayReader(loop)
        engine.replay_reader = reader
        self.add_replay_providers(reader.runner)
        engine.replay_scheduler = _loop_scheduler(loop)
        engine.halt_accounts = self._halt_after_fault
        config = self.config
        after_input = engine.flush
        kick = self._on_activity
        if kick is not None:
            flush = engine.flush

            def after_input() -> None:
                kick()
                flush()

        for venue in self.venues:
            vcfg = self._venue_configs[venue.name]
            connector = VenueConnector(
                venue, vcfg.host, vcfg.port, after_input=after_input, socket_hooks=self._socket_hooks
            )
            connector.on_fault = engine.transport_fault
            self.connectors.append(connector)
            connector.start()
        strategy_path = config.path(config.strategy_socket)
        limit = raise_descriptor_limit()
        (log.warning if limit.problem else log.info)("%s", limit.describe())
        self._descriptors = watch = DescriptorWatch(
            UNLIMITED_TARGET if limit.soft == resource.RLIM_INFINITY else limit.soft
        )
        counters = engine.counters

        def evicted() -> None:
            counters.strategy_connections_evicted += 1

        self._hello_backlog = backlog = HelloBacklog(
            hello_backlog(config.strategy_max_pending_hello, watch.limit), self.clock, evicted, watch.limit
        )
        self.add_status_provider(self._descriptor_status, self._descriptor_numbers)
        self._disks = DiskWatch(
            [(setting, path) for setting, path in writable_directories(config) if "socket" not in setting]
        )
        self._disks.check()
        self.add_status_provider(self._disk_status, self._disks.published.parts)  # published at each sample
        self.add_status_provider(self._short_growth_status)
        self.add_metrics_provider(self._disk_metrics)
        self._servers.append(
            await start_strategy_server(
                engine,
                config.path(config.strategy_socket),
                self.clock,
                mode=config.strategy_socket_mode,
                max_write_buffer=config.max_strategy_write_buffer,
                on_activity=self._on_activity,
                hello_timeout_ms=config.strategy_hello_timeout_ms,
                frame_timeout_ms=config.strategy_frame_timeout_ms,
                backlog=backlog,
            )
        )
        self._own_sockets.append((strategy_path, socket_identity(strategy_path)))
        self._snapshot = snapshot = SnapshotWriter(
            self, splice_max=admin_module.SPLICE_MAX, retire=self.releaser.retire
        )

        def admin_closed() -> None:
            counters.admin_connections_closed += 1

        self._admin_connections = admin_connections = AdminConnections(
            admin_connection_bound(watch.limit), clock=self.clock, on_close=admin_closed
        )
        self.add_status_provider(self._admin_connection_status, self._admin_connection_numbers)
        self._servers.append(
            await start_admin_server(
                config.path(config.admin_socket),
                admin_handlers(self),
                self.admin_stats,
                {
                    "status": functools.partial(snapshot.write_spliced, kind=SNAPSHOT_STATUS),
                    "metrics": functools.partial(snapshot.write_spliced, kind=SNAPSHOT_METRICS),
                    "status" + admin_module.SHARED: functools.partial(
                        snapshot.write_spliced, kind=SNAPSHOT_STATUS, shared=True
                    ),
                    "metrics" + admin_module.SHARED: functools.partial(
                        snapshot.write_spliced, kind=SNAPSHOT_METRICS, shared=True
                    ),
                },
                admin_connections,
            )
        )
        admin_path = config.path(config.admin_socket)
        self._own_sockets.append((admin_path, socket_identity(admin_path)))
        loop = asyncio.get_running_loop()
        if any(st.open_orders for st in engine.strategies.values()):
            self._timers.append(loop.call_later(config.reconnect_grace_s, engine.cancel_orphaned_orders))
        self._schedule(POLL_INTERVAL_S, self._poll)
        if hasattr(self.risk, "look_in_thread"):  # a large file read and hashed off the loop (risk60)
            looks = self._risk_looks = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="risk-look")
            risk_any: Any = self.risk
            risk_any.look_in_thread = looks.submit
        self._schedule(RISK_WATCH_INTERVAL_S, self._watch_risk_file)
        if self._watched_journal is not None:
            self._schedule(JOURNAL_FILE_CHECK_S, self._check_journal_file)
        self._schedule(DESCRIPTOR_CHECK_S, self._watch_descriptors)
        self._schedule(DESCRIPTOR_CHECK_S, admin_connections.sweep)
        self._schedule(DISK_CHECK_S, self._disks.check)
        self._sighup.start(loop)
        stop = functools.partial(self._on_stop_signal, "SIGTERM")
        for sig, handler in ((signal.SIGHUP, self._on_unattributed_sighup), (signal.SIGTERM, stop)):
            try:
                loop.add_signal_handler(sig, handler)
            except (NotImplementedError, RuntimeError, ValueError):
                log.debug("cannot install handler for %s", sig)
        log.info(
            "gateway %s started (pid %d, %s loop): %d venues, %d strategies configured",
            config.gateway_id,
            os.getpid(),
            type(loop).__module__.split(".")[0],
            len(self.venues),
            len(config.strategies),
        )
        self._started = True
        loop.call_soon(self._prepare_status)  # the per-load status parts, before the first request needs them
        hot_path = native.describe()
        if hot_path["modules"]:
            loaded = native.loaded_text(native.compiled_modules(), len(native.MODULES))
            log.info("hot path: compiled with mypyc (%s)", loaded)
        else:
            log.info("hot path: pure Python (%s)", hot_path["why"])

    def _order_ids_above_venue_state(self, floor: int) -> None:
        """Start new order ids above every id a venue's own state names (``floor``), not only above the journal's.

        A venue adapter may persist an order before the journal has it (the FIX store takes a
        NewOrderSingle in ``send_new``); a crash in between leaves an id the journal never saw.
        Using it again would send its venue reference (ClOrdID) twice. After a stop that was not clean the
        ids are already ``ORDER_ID_MARGIN`` past it (``first_order_id``); this covers a clean stop and ``batch``.
        """
        assert self.engine is not None
        if floor >= self.engine.next_order_id:
            log.warning(
                "venue state names order ids up to %d that the journal does not have (a crash between the "
                "venue's store write and the journal's, or the venue's trading day began in another journal: "
                "moved away, or named by another date); new orders start at %d",
                floor,
                floor + 1,
            )
            self.engine.next_order_id = floor + 1

    @property
    def status_providers(self) -> list[StatusParts]:
        """Return the status providers (``add_status_provider``) as parts (per change, per request), in order."""
        return self._status_parts

    @property
    def metrics_providers(self) -> list[Callable[[], dict[str, float]]]:
        """Return the metrics providers (``add_metrics_provider``), in order."""
        return self._metrics_providers

    def add_status_provider(self, provider: Callable[[], dict[str, Any]], parts: StatusParts | None = None) -> None:
        """Add sections to ``gateway status`` (the provider's dict is merged at the top level).

        ``parts``: the same sections as (what changes rarely: the same object until it changes, live
        counters), for the status snapshot: the first part is encoded once per change, not per request; or
        ``PublishedSections.parts`` for sections their owner publishes when they change (none built per request).
        """
        self._status_providers.append(provider)
        self._status_parts.append(parts if parts is not None else provider)  # a dict: live sections (one call)

    def add_metrics_provider(self, provider: Callable[[], dict[str, float]]) -> None:
        """Add numbers to ``gateway metrics`` (``MetricsSnapshot.extra``; names ending in ``_total`` are counters)."""
        self._metrics_providers.append(provider)

    def add_replay_providers(self, runner: ReplayRunner) -> None:
        """Show the journal replays (old events read for reconnecting strategies) in status and metrics."""
        self.add_status_provider(functools.partial(_replay_status, runner), runner.status_numbers)
        self.add_metrics_provider(functools.partial(_replay_metrics, runner))

    def add_venue_metrics_providers(self) -> None:
        """Count in ``gateway metrics`` what venues report that the gateway cannot act on or apply in full.

        Broken Trades, and (FIX) fills known only from a CumQty or not at all, reports refused for the wrong
        Side/Symbol, open orders not checked after a numbering reset, replaces in doubt reported refused that the
        venue may have taken, (OUCH, BOE) orders that ended here shown live by the venue and canceled there:
        ``_VENUE_COUNTER_METRICS``; and (OUCH) the UserRefNum store's stalls, orders refused
        while a block's write was overdue (``_REFNUM_STALLS_METRIC``).
        """
        self.add_metrics_provider(self._venue_metrics)

    def _venue_metrics(self) -> dict[str, float]:
        totals: dict[str, float] = dict.fromkeys(_VENUE_COUNTER_METRICS.values(), 0)
        totals[_REFNUM_STALLS_METRIC] = 0
        for connector in self.connectors:
            adapter = connector.adapter
            counters = getattr(adapter, "counters", None)
            if isinstance(counters, dict):
                for counter, metric in _VENUE_COUNTER_METRICS.items():
                    totals[metric] += counters.get(counter, 0)
            stalls = getattr(adapter, "user_ref_num_store_stalls", None)
            if isinstance(stalls, int):
                totals[_REFNUM_STALLS_METRIC] += stalls
        return totals

    def add_memory_providers(self) -> None:
        """Show the released-id table (``memory.released_ids_capacity``) in ``gateway status`` and ``metrics``."""
        self.add_status_provider(self._memory_status, self._memory_numbers)
        self.add_metrics_provider(self._memory_metrics)

    def _memory_status(self) -> dict[str, Any]:
        return word_numbers(self._memory_numbers())

    def _memory_numbers(self) -> tuple[Any, ...] | dict[str, Any]:
        """Return the ``memory`` section's numbers (``gateway.status_numbers``): the released-id table's figures, read
        per request as they change per order (``ReleasedIds.status`` names them)."""
        engine = self.engine
        if engine is None:
            return {}
        ids = engine.released_ids
        return (MEMORY, ids.capacity, ids.count, ids.slots, ids.nbytes, ids.grown)

    def _memory_metrics(self) -> dict[str, float]:
        engine = self.engine
        if engine is None:
            return {}
        ids = engine.released_ids
        return {
            "released_ids_capacity": ids.capacity,
            "released_ids_used": ids.count,
            "released_ids_bytes": ids.nbytes,
            "released_ids_grown_total": ids.grown,
        }

    def status(self) -> dict[str, Any]:
        """Return the full status document for the admin socket.

        Built on the event loop, so only copies: the latency histograms as bytes (``gateway status``
        computes the percentiles), the rest small dicts whose size does not grow with orders.
        """
        assert self.engine is not None and self.risk is not None
        out: dict[str, Any] = self.engine.status()
        out["pid"] = os.getpid()
        out["uptime_s"] = round(time.time() - self.started_at, 1)
        out["hot_path"] = native.hot_path_status()
        out["recovery"] = self.recovery
        out["risk"] = self.risk.status()
        out["known_accounts"] = self.known_accounts(scan_open_orders=False)
        journal = self.journal
        out["journal"] = {
            "records_written": journal.records_flushed,  # in the file: stops while writes fail
            "bytes_written": journal.bytes_written,
            "bytes_synced": journal.bytes_synced,
            "fsyncs": journal.fsyncs,
            "write_failures": self.engine.journal_failures,  # counted by the engine where a write fails
            "fsync_failures": journal.fsync_failures,  # failed syncs (the mmap syncer's, or its deaths), since start
        }
        if isinstance(journal, MmapJournal):
            out["journal"]["pages_ahead"] = journal.prepare_state()
        stats = self.admin_stats
        out["admin"] = {
            "requests": stats.requests,
            "last_loop_us": stats.last_loop_ns / 1000,
            "max_loop_us": stats.max_loop_ns / 1000,
            "last_cpu_us": stats.last_cpu_ns / 1000,
            "max_cpu_us": stats.max_cpu_ns / 1000,
        }
        for provider in self._status_providers:
            out.update(provider())
        return out

    def metrics(self) -> MetricsSnapshot:
        """Return the metrics snapshot: counters and byte copies of the histograms, nothing computed."""
        engine, risk, journal, stats = self.engine, self.risk, self.journal, self.admin_stats
        assert engine is not None and risk is not None
        return assemble_metrics(
            gateway_id=self.config.gateway_id,
            pid=os.getpid(),
            start_time=self.started_at,
            trading_state=risk.trading_state().name,
            trading_scopes=risk.trading_scopes(),
            counters=engine.counter_values(),
            rejects=reject_table(engine.rejects),
            cancel_rejects=reject_table(engine.cancel_rejects),
            orders_total=engine.orders_total,
            orders_open=len(engine.open_orders),
            strategies_configured=len(self.config.strategies),
            strategies_connected=engine.strategies_connected(),
            venues=[
                (
                    connector.adapter.name,
                    engine.venue_states[connector.adapter.name].value,
                    connector.connections,
                    connector.connect_failures,
                    connector.adapter.session_counters() | engine.venue_counters(connector.adapter.name),
                )
                for connector in self.connectors
            ],
            venue_protocols=venue_protocols(self.config.venues),
            journal=JournalMetrics(
                enabled=journal.durable,
                records=journal.records_flushed,
                bytes_written=journal.bytes_written,
                bytes_synced=journal.bytes_synced,
                pending_bytes=journal.pending_bytes,
                fsyncs=journal.fsyncs,
                fsync_failures=journal.fsync_failures,
                write_failures=engine.journal_failures,
                error=engine.journal_error,
                fsync_ns=journal.fsync_ns.snapshot(),
            ),
            gc_stats=gc.get_stats(),
            latency=engine.latency.view(),  # the live counts: encoded before the loop runs again
            admin=AdminMetrics(
                dict(stats.requests), stats.loop_ns.snapshot(), stats.last_loop_ns, stats.max_loop_ns, stats.last_cpu_ns
            ),
            extras=[provider() for provider in self._metrics_providers],
        )

    # ---- timers and signals ----------------------------------------------------------------

    def _schedule(self, interval_s: float, func: Callable[[], None]) -> None:
        """Call ``func`` every ``interval_s``; a tick the event loop ran late waits one loop turn first.

        After a stall (the process frozen, a long callback) strategies' bytes, their heartbeats among
        them, may wait unread while a tick is due: ``engine.poll`` would cut them off HEARTBEAT_TIMEOUT
        for the gateway's own silence. So a tick late by more than ``LATE_TIMER_S`` runs after one more
        turn has read them (once: a loop late at every turn still ticks). ``venues.connector`` does the
        same for the venue sessions' timers.
        """
        loop = asyncio.get_running_loop()
        late = LateTimer()

        def tick() -> None:
            if late.wait_for_input(loop):
                self._timers[slot] = loop.call_later(AFTER_INPUT_S, tick)
                return
            try:
                func()
            except Exception:  # a timer must never stop firing
                log.exception("periodic task %s failed", getattr(func, "__name__", func))
            if not self._stopped.is_set():
                self._timers[slot] = loop.call_later(late.arm(loop, interval_s), tick)

        slot = len(self._timers)
        self._timers.append(loop.call_later(late.arm(loop, interval_s), tick))

    def _watch_descriptors(self) -> None:
        """Count the descriptors open; log (at most once a minute) and count when they near the limit."""
        watch = self._descriptors
        if watch is None or self.engine is None:
            return
        count = open_descriptors()
        warning = watch.check(count, self.clock())
        if self._hello_backlog is not None:
            self._hello_backlog.counted(watch.open)  # a full table counts as the limit
            self._hello_backlog.flush_log()  # the count of a burst, not only at the next eviction
        self.engine.counters.descriptors_near_limit = watch.near_limit
        if warning:
            log.warning("%s", warning)

    def remove_unused_files(self) -> list[Path]:
        """Delete the FIX message stores this start created and never wrote to (a refused start; after ``stop``).

        Only those: the BOE and FIX start counters stay raised (the venue may have been reached before the start
        was refused; a start number is never used twice), the risk limits' in-force copies stay (the next start
        compares the files with them: ops guide section 6, a refused start).
        """
        removed = []
        for venue in self.venues:
            store = getattr(getattr(venue, "session", None), "store", None)
            remove = getattr(store, "remove_if_unused", None)
            if callable(remove) and remove():
                removed.append(Path(store.path))  # type: ignore[union-attr]
        return removed

    def _disk_status(self) -> dict[str, Any]:
        """Return the ``disks`` section of ``gateway status``: each written directory's free space (ops55)."""
        return {"disks": self._disks.status()}

    def _short_growth_status(self) -> dict[str, Any]:
        """Return ``gateway status``'s ``disk_short_growths``: the files' short growths (ops55), counted where they
        grow, so read per request (the ``disks`` rows before it are published at each sample)."""
        return {"disk_short_growths": self._short_growths()}

    def _disk_metrics(self) -> dict[str, float]:
        """Return the least free space of the written directories (none: not one could be read), how many could not
        be read (texts56), and the files' short growths (ops55)."""
        return self._disks.metrics() | {"disk_short_growths_total": float(self._short_growths())}

    def _short_growths(self) -> int:
        """Return the growths of the journal and the FIX message stores that took less than a full step."""
        count = getattr(self.journal, "short_growths", 0)
        for venue in self.venues:
            store = getattr(getattr(venue, "session", None), "store", None)
            count += getattr(store, "short_growths", 0)
        return count if isinstance(count, int) else 0

    def _descriptor_status(self) -> dict[str, Any]:
        """Return the ``descriptors`` section of ``gateway status``."""
        return word_numbers(self._descriptor_numbers())

    def _descriptor_numbers(self) -> tuple[Any, ...] | dict[str, Any]:
        """Return the ``descriptors`` section's numbers (``gateway.status_numbers``; the Hellos pending change per
        connection)."""
        watch, backlog = self._descriptors, self._hello_backlog
        if watch is None or backlog is None:
            return {}
        return (DESCRIPTORS, watch.open, watch.peak, watch.limit, backlog.waiting, backlog.limit)

    def _admin_connection_status(self) -> dict[str, Any]:
        """Return the ``admin_connections`` section of ``gateway status``."""
        return word_numbers(self._admin_connection_numbers())

    def _admin_connection_numbers(self) -> tuple[Any, ...] | dict[str, Any]:
        """Return the ``admin_connections`` section's numbers (``gateway.status_numbers``; the open ones change with
        every request's own connection)."""
        connections = self._admin_connections
        if connections is None:
            return {}
        return (
            ADMIN_CONNECTIONS,
            connections.open,
            connections.closing,
            connections.limit,
            connections.idle_timeout_s,
            connections.request_timeout_s,
            connections.closed_idle,
            connections.closed_bound,
            connections.closed_request_timeout,
            connections.closed_unread,
        )

    def _check_journal_file(self) -> None:
        """Check that the journal's path still names the open file; restore it, or fail closed (reliability.md 2.3d).

        The lock file and the open marker are checked (and put back) too, and the journal's sync progress. What the
        ``journal_file`` status section shows changes only here: it is published after each check (stat60).
        """
        try:
            self._check_journal_file_now()
        finally:
            if self._watched_journal is not None:
                self._journal_file_published.publish(self._journal_file_status())

    def _check_journal_file_now(self) -> None:
        journal, engine = self._watched_journal, self.engine
        assert journal is not None and engine is not None
        if journal.closing():
            return
        problem, restored = journal.check_file()
        lock_problem = self._check_journal_lock()
        if lock_problem and not problem:
            journal.hold(lock_problem)  # another process holds the directory: fail closed as for a replaced file
            problem = lock_problem
        self._check_open_marker()
        self._check_journal_sync(journal)
        if not self._releasing_pages:
            self._tend_journal_pages()
        if restored:
            log.critical(
                "%s: restored it from the open file (%d records written by this process; every record is in it, "
                "made durable); the gateway goes on writing it. Find out what deleted it (docs/reliability.md 2.3d)",
                problem,
                journal.records_flushed,
            )
            self._journal_file_last = problem
            self._journal_file_problem = ""
            engine.flush()  # what was held while it was missing leaves now
        elif problem:
            now = time.monotonic()
            if problem != self._journal_file_problem or now - self._journal_file_logged >= JOURNAL_FILE_RELOG_S:
                self._journal_file_logged = now
                log.critical(
                    "%s: new orders are refused (JOURNAL_UNAVAILABLE) and nothing is sent to venues or strategies "
                    "until the journal file is back; checking again every %.1f s (docs/reliability.md 2.3d)",
                    problem,
                    JOURNAL_FILE_CHECK_S,
                )
            self._journal_file_last = self._journal_file_problem = problem
            engine.flush()  # fails on the journal: status shows the error now, not at the next order
        elif self._journal_file_problem:
            log.warning("journal file %s: the path names the open file again", journal.path)
            self._journal_file_problem = ""
            engine.flush()

    def _tend_journal_pages(self) -> None:
        """Release a step of the journal's written pages, again next loop turn while more are left; then grow ahead.

        ``MmapJournal.release_pages`` gives back at most ``TRIM_STEP_BYTES`` (~80 us) per call, so a backlog (a
        burst faster than ~8 MiB/s) is released over several loop turns with I/O served in between, never as one
        long stall. Once none is left, ``grow_ahead`` grows the file when less than half a step is left, so the
        growth (and its old mapping, now nearly empty, closed) is rarely on an order's ``flush``.
        """
        journal = self._watched_journal
        if not isinstance(journal, MmapJournal) or journal.closing():
            self._releasing_pages = False
            return
        if journal.release_pages():
            self._releasing_pages = True
            asyncio.get_running_loop().call_soon(self._tend_journal_pages)
            return
        self._releasing_pages = False
        journal.grow_ahead()

    def _check_journal_lock(self) -> str:
        """Put a deleted ``gateway.lock`` back (locked); return the problem when another process holds the path's."""
        lock = self._journal_lock
        if lock is None:
            return ""
        problem, restored = lock.check()
        if restored:
            self._lock_restores += 1
            log.critical(
                "%s: re-created and locked it again (pid %d); the journal file itself stays locked throughout, so "
                "no second gateway could open it. Find out what deleted it (docs/reliability.md 2.3b)",
                problem,
                os.getpid(),
            )
            return ""
        return problem

    def _check_open_marker(self) -> None:
        """Write the open marker again if it was deleted while the gateway runs (docs/reliability.md 2.3c)."""
        path = self._journal_marked
        if path is None or os.path.lexists(open_marker(path)):
            return
        failed = mark_journal_open(path, self._journal_first_id)
        now = time.monotonic()
        if failed is not None and now - self._marker_logged < JOURNAL_FILE_RELOG_S:
            return  # tried again every check, logged again every minute
        self._marker_logged = now if failed is not None else 0.0
        self._marker_restores += 1 if failed is None else 0
        log.critical(
            "the journal's open marker %s was deleted while the gateway runs: %s (first order id %d); find out "
            "what deleted it (docs/reliability.md 2.3c)",
            open_marker(path),
            f"writing it again failed ({failed.strerror or failed})" if failed is not None else "wrote it again",
            self._journal_first_id,
        )

    def _check_journal_sync(self, journal: MmapJournal | FileJournal) -> None:
        """Notice a gone syncer (restarted, CRITICAL: ``sync_counts``) and a stalled sync (CRITICAL, the gauge)."""
        synced = journal.sync_counts()[0]  # an MmapJournal starts a gone syncer again here
        if journal.fsync is not FsyncPolicy.INTERVAL:
            return
        now = time.monotonic()
        watch = self._sync_watch
        was_stalled = watch.stalled
        lag = watch.check(now, journal.bytes_written, synced)
        unsynced = journal.bytes_written - synced
        if watch.stalled:
            if not was_stalled or now - self._sync_stalled_logged >= JOURNAL_FILE_RELOG_S:
                self._sync_stalled_logged = now
                log.critical(
                    "journal %s not synced for %.1f s: %d bytes written and not on disk, the synced position not "
                    "moving (fsync interval %d ms; the fsync process frozen or the disk hung): a power failure now "
                    "loses them; orders are still accepted (a process crash loses nothing). Look at the fsync "
                    "process (ps) and the disk (docs/reliability.md section 1)",
                    journal.path,
                    lag,
                    unsynced,
                    self.config.journal.fsync_interval_ms,
                )
        elif was_stalled:
            log.warning("journal %s: synced again (%d bytes unsynced)", journal.path, max(unsynced, 0))

    def _journal_file_status(self) -> dict[str, Any]:
        """Return the ``journal_file`` status section: is the journal's path the open file, restores so far."""
        journal = self._watched_journal
        assert journal is not None
        return {
            "journal_file": {
                "path": str(journal.path),
                "state": "missing" if self._journal_file_problem else "ok",
                "problem": self._journal_file_problem or None,
                "restores": journal.file_restores,
                "lock_restores": self._lock_restores,
                "marker_restores": self._marker_restores,
                "last_problem": self._journal_file_last or None,
                "sync_lag_seconds": round(self._sync_watch.lag, 3),
                "sync_stalled": self._sync_watch.stalled,
                "sync_stalls": self._sync_watch.stalls,
            }
        }

    def _journal_file_metrics(self) -> dict[str, float]:
        """Return the journal file's numbers for ``gateway metrics``."""
        journal = self._watched_journal
        assert journal is not None
        return {
            "journal_file_missing": 1.0 if self._journal_file_problem else 0.0,
            "journal_file_restores_total": float(journal.file_restores + self._lock_restores + self._marker_restores),
            "journal_sync_lag_seconds": self._sync_watch.lag,
            "journal_sync_stalled": 1.0 if self._sync_watch.stalled else 0.0,
            "journal_sync_stalls_total": float(self._sync_watch.stalls),
        }

    def _poll(self) -> None:
        assert self.engine is not None
        self.engine.poll(self.clock())

    def _watch_risk_file(self) -> None:
        """Reload once a changed file (limits, reference prices) stayed unchanged for a whole watch period.

        A file rewritten in place (``cp``, ``cat >``, an editor) is truncated and written in pieces: a tick
        between two pieces sees a prefix, and a prefix ending between two accounts is itself a valid file.
        Each file settles on its own: a reference-price file rewritten every tick (a price feed) does not hold
        back a limits edit; the limits file itself must be quiet, and a file that just started changing waits.
        A look at a large reference-price file under way in the watch's thread does not either (risk61): the
        reload waits for it (``_risk_looks_decided``); one at the limits file does (``looking``).
        """
        assert self.risk is not None
        if self._risk_reload is not None or self._risk_keeping is not None:
            return  # a reload is reading the files: it judges what it read once applied
        changed = self.risk.changed_files()
        settling = self._risk_files_settling
        fresh = [name for name in changed if name not in settling]  # may be half-written: wait a tick
        settled = [name for name in settling if name not in changed]
        settling.update(changed)
        if settled and not fresh and "limits" not in changed and not getattr(self.risk, "looking", False):
            self._start_risk_reload(RISK_WATCH_TRIGGER, "file watch")  # not while the limits file is read (risk60)
        self._keep_owed_copies()

    def _keep_owed_copies(self) -> None:
        """Write again, off the loop, the copies in force a state directory that could not be written left owed.

        Only while one is owed (``copies_owed``: a reload applied or a start while ``state_dir`` was full,
        read-only or immutable), at each watch tick, never while a reload runs (a reload waits for it): a restart
        must not find a stale copy, nor a held-back note of a file reloaded since (riskcopy57).
        """
        risk: Any = self.risk
        if self._risk_reload is not None or self._risk_keeping is not None or not getattr(risk, "copies_owed", False):
            return
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(risk.keep_owed))
        self._risk_keeping = task
        task.add_done_callback(self._owed_copies_kept)

    def _owed_copies_kept(self, task: asyncio.Task[Any]) -> None:
        if self._risk_keeping is task:
            self._risk_keeping = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("risk cannot write the copies in force again: %r", exc)
        elif task.result():
            risk: Any = self.risk
            risk.copies_kept_again()

    async def _keep_owed_copies_at_stop(self) -> None:
        """At a clean stop, a last try to keep the copies in force still owed; say if they are not."""
        risk: Any = self.risk
        if risk is None or not getattr(risk, "copies_owed", False):
            return
        running = [task for task in (self._risk_reload, self._risk_keeping) if task is not None]
        if running:
            await asyncio.wait(running, timeout=RISK_STOP_WAIT_S)
        if self._risk_reload is not None or self._risk_keeping is not None or not risk.copies_owed:
            return  # still running (the stop does not wait longer), or kept meanwhile (said)
        if risk.keep_owed():
            risk.copies_kept_again()
            return
        late = risk.flush_late_audit()
        log.error(
            "stop: the copies of the files in force in the state directory are still NOT kept (it cannot be "
            "written): the next start knows which limits were in force from the risk audit log only (%s)%s; make the "
            "state directory writable before the restart",
            self._limits_word_at_stop(),
            f", which lacks {late} record(s) this stop could not write (the CRITICAL `RISK AUDIT RECORDS LOST AT "
            "STOP` that follows names them)"
            if late
            else "",
        )

    def _late_audit_at_stop(self) -> None:
        """At a stop, a last try to write the risk audit records kept late; if some are still unwritten, a CRITICAL
        naming each and what the next start does without it, and exit code ``EXIT_RISK_AUDIT_LOST`` (ops59c: they
        were dropped silently, and the stop's ERROR said the audit log held what the next start needs)."""
        risk: Any = self.risk
        if risk is None or not hasattr(risk, "late_records") or not risk.flush_late_audit():
            return
        lost = risk.late_records()
        if self.exit_code == 0:
            self.exit_code = EXIT_RISK_AUDIT_LOST
        audit = self.config.path(self.config.risk_audit_log)
        log.critical(
            "RISK AUDIT RECORDS LOST AT STOP: %d record(s) kept in memory because the risk audit log %s could not be "
            "written are still unwritten and are lost with this process: %s (exit code %d; 3 if the journal's stop "
            "fails too)",
            len(lost),
            audit,
            "; ".join(_lost_audit_records(lost)),
            EXIT_RISK_AUDIT_LOST,
        )

    def _limits_word_at_stop(self) -> str:
        """Say where the risk audit log's last word on the limits in force is, and how many rotations it stands
        (``risk.audit.audit_files``: the files the next start reads, as for a kill's record; ops59)."""
        from risk.startup import last_word  # noqa: PLC0415 - keeps `gateway --help` fast

        audit = self.config.path(self.config.risk_audit_log)
        word = last_word(audit, self.config.gateway_id)
        if word.record is None:
            return (
                f"its `reload_copy_not_kept` or `reload` record, which this stop does not find in {files_read(audit)}: "
                "the next start may trust a stale copy"
            )
        return (
            f"its {word.record.get('event')} record at {word.record.get('time', '?')} is in {word.file}; the next "
            f"start reads {files_read(audit)}: {rotate_advice(audit, word.file)}, and keep them uncompressed"
        )

    def _on_sighup(self, sender: str) -> None:
        """Reload on SIGHUP; ``sender`` (pid, process name, uid) is the audit record's ``who``."""
        self._start_risk_reload("SIGHUP", sender)

    def _on_unattributed_sighup(self) -> None:
        self._start_risk_reload("SIGHUP", UNKNOWN_SENDER)

    def _start_risk_reload(self, trigger: str, who: str) -> None:
        """Reload off the event loop when one runs (``reload_risk_soon``), else at once."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.reload_risk(trigger, who)
            return
        self.reload_risk_soon(trigger, who)

    def reload_risk_soon(self, trigger: str, who: str) -> asyncio.Task[Any]:
        """Reload with the files read and checked in a worker thread: the event loop keeps serving meanwhile.

        The limits in force stay until the new ones are applied, on the loop, in one step (audited first, as
        ``reload_risk``). Reloads run one after another: one asked for during another reads the files after it.
        Requests with the same trigger made before that next one starts join it (one reload, one audit record
        naming every ``who``; each request gets its outcome): it reads the files after all of them were made, and
        a queue of requests (a script pipelining reloads) costs one reload, so an operator's waits one at most.
        While one is under way the file watch waits (``_watch_risk_file``).
        """
        queued = self._risk_reload_next
        if queued is not None and queued[0] == trigger:
            queued[1].append(who)
            return queued[2]
        previous = self._risk_reload
        whos = [who]

        async def run() -> Any:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            if self._risk_reload_next is not None and self._risk_reload_next[2] is task:
                self._risk_reload_next = None  # started: a request from now on reads the files after this one
            if self._risk_keeping is not None:  # owed copies being written: this reload's copies come after
                await asyncio.gather(self._risk_keeping, return_exceptions=True)
            assert self.risk is not None
            if trigger == RISK_WATCH_TRIGGER and not self._stop_begun:
                await self._risk_looks_decided()
            self._risk_files_settling.clear()  # this reload reads the files as they are now
            asked = _joined_who(whos)
            pending = self.risk.begin_reload(trigger, asked)
            if hasattr(pending, "reader"):
                pending.reader = self.risk_reader
                pending.reader_timeout_s = self.risk_reader_timeout_s
                if self._stop_begun:  # queued behind the reload the stop ended: no reader started
                    pending.reader_control.stop()
            self._risk_reading = pending
            try:
                await asyncio.to_thread(pending.read)
            finally:
                self._risk_reading = None
            await self._stage_status(pending)
            return self._reloaded(trigger, asked, await self._switch_risk(pending))

        task = asyncio.get_running_loop().create_task(run())
        self._risk_reload = task
        self._risk_reload_next = (trigger, whos, task)
        task.add_done_callback(self._risk_reload_done)
        return task

    async def _risk_looks_decided(self) -> None:
        """Before a watch reload, wait for the looks at large files under way in the watch's thread, and look again.

        So the reload reads the latest version of each file the watch decided (a reference-price file replaced every
        second by a price feed included) rather than keeping the prices in force. Bounded (``RISK_LOOK_ROUNDS`` of
        ``RISK_LOOK_WAIT_S``): a reference file still read then keeps the prices in force for this reload and a
        limits file still read puts the reload off (``RiskEngine.begin_reload``). Before risk61 any look under way
        put the reload off, and a feed's next replacement was always under way: a limits change never applied.
        """
        look_again = getattr(self.risk, "look_again", None)
        if look_again is None:
            return
        for _ in range(RISK_LOOK_ROUNDS):
            under_way = look_again()
            if not under_way:
                return
            await asyncio.wait([asyncio.wrap_future(read) for read in under_way], timeout=RISK_LOOK_WAIT_S)

    def _risk_reload_done(self, task: asyncio.Task[Any]) -> None:
        if self._risk_reload is task:
            self._risk_reload = None
        if self._risk_reload_next is not None and self._risk_reload_next[2] is task:
            self._risk_reload_next = None  # cancelled before it started
        if not task.cancelled() and task.exception() is not None:
            log.error("risk limits reload failed: %r; old limits stay in force", task.exception())

    def reload_risk(self, trigger: str, who: str) -> Any:
        """Reload the limits file (bad files change nothing) and log the outcome.

        A watch reload the risk engine held back (a file modified in place: refused with no errors) is
        logged by the risk engine alone (``reload NOT applied: ...``), not as a refused file.
        """
        assert self.risk is not None
        self._risk_files_settling.clear()  # this reload reads the files as they are now
        return self._reloaded(trigger, who, self.risk.reload(trigger, who))

    def _reloaded(self, trigger: str, who: str, result: Any) -> Any:
        """Log a reload's outcome; return it."""
        ok = getattr(result, "ok", False)
        errors = getattr(result, "errors", [])
        if ok:
            log.info("risk limits reloaded (%s by %s)", trigger, who)
            with contextlib.suppress(RuntimeError):  # no loop (a test's direct call): the first request builds them
                asyncio.get_running_loop().call_soon(self._prepare_status)  # after the reload's answer is written
        elif errors:
            log.error(
                "risk limits reload refused (%s by %s); old limits stay in force: %s",
                trigger,
                who,
                "; ".join(str(e) for e in errors),
            )
        return result

    async def _switch_risk(self, pending: Any) -> Any:
        """Put the limits ``pending`` read in force: the disk work (audit record, copies in force) in a worker thread.

        The audit record is written and fsynced off the loop (``write_switch``), a refused reload's
        (``reload_refused``) as well; the loop's own audit records meanwhile (a kill) are queued and written after
        it, in order (``hold_audit``). The switch itself
        (``switch``: ``_apply``) is on the loop, in one step, right after: orders see the old limits until it, the
        new after it. Then the copies in force are renamed and fsynced off the loop (``keep_copies``; one not kept
        is the outcome's ``copy_problem`` and a ``reload_copy_not_kept`` audit record, written off the loop too). A risk
        engine without these steps switches at once (``finish_reload``).
        """
        assert self.risk is not None
        risk: Any = self.risk
        prepare = getattr(risk, "prepare_switch", None)
        if prepare is None:
            return risk.finish_reload(pending)
        step = prepare(pending)
        if step.result is not None:
            if getattr(step, "record", None):  # refused: its record off the loop too, in the same order (risk56)
                risk.hold_audit()
                try:
                    await asyncio.shield(asyncio.to_thread(risk.write_switch, step))
                finally:
                    risk.release_audit()
            return step.result
        risk.hold_audit()
        try:
            await asyncio.shield(asyncio.to_thread(risk.write_switch, step))  # cancelled or not, the write ends
            result = risk.switch(step)
        finally:
            risk.release_audit()
        if not result.ok:
            return result
        await asyncio.shield(asyncio.to_thread(risk.keep_copies, step))
        if getattr(step, "copy_record", None):  # applied, its copy not kept: the audit log says so (riskreload57)
            risk.hold_audit()
            try:
                await asyncio.shield(asyncio.to_thread(risk.write_copy_record, step))
            finally:
                risk.release_audit()
        return risk.copies_kept(step)

    async def _stage_status(self, pending: Any) -> None:
        """Build the status parts of the limits ``pending`` read, one slice per loop iteration, before the switch.

        What ``status_wire`` shows of a file grows with its accounts (30,000: 8-16 ms compiled in one callback):
        built here a slice (``status_slices`` items) per iteration while the limits in force stay, the switch
        (``finish_reload``) finds it ready and ``_prepare_status`` only assembles and copies. A ``status`` asked
        meanwhile is answered from the limits in force (their part, whole); from the switch on, from the new.
        """
        stage = getattr(self.risk, "stage_status", None)
        if stage is None or self.status_slices <= 0:
            return
        staged = stage(pending, self.status_slices)
        if staged is None:
            return
        self.status_pending = True
        try:
            while staged.step():
                await asyncio.sleep(0)  # the next slice in the next loop iteration
            await asyncio.sleep(0)  # and the switch in the one after the last (its encoding)
        except Exception:  # never in the reload's way: the parts are built after the switch instead, as before
            log.exception("status snapshot: staging the new limits' status parts failed (built after the switch)")
            pending.status = None
        finally:
            self.status_pending = False

    def _prepare_status(self) -> None:
        """Build and encode the status/metrics snapshot's per-load parts now (``SnapshotWriter.prepare``).

        From a loop callback soon after the start and after each applied reload, not inside a request: the first
        ``status`` after a load no longer pays them while it waits. A failure here is only logged: the request
        that follows builds them as before.
        """
        snapshot = self._snapshot
        if snapshot is None or self.risk is None:
            return
        try:
            snapshot.prepare()
        except Exception:
            log.exception("status snapshot: preparing the per-load parts failed (the next request builds them)")

    def known_accounts(self, *, scan_open_orders: bool = True) -> list[str]:
        """Return every account this gateway knows, sorted: risk's, gateway.yaml's and those with open orders.

        ``scan_open_orders=False`` (status, on every poll) skips the walk over the engine's open orders:
        risk's book already names every account with an open order, and status must not grow with them.
        """
        assert self.engine is not None and self.risk is not None
        names = set(self.risk.known_accounts())
        for entitlement in self.config.strategies.values():
            names.update(entitlement.accounts)
        if scan_open_orders:
            names.update(order.account for order in self.engine.open_orders.values())
        return sorted(names)

    def require_known_account(self, account: str) -> None:
        """Raise ``UnknownAccountError`` naming the known accounts unless ``account`` is one of them.

        A known account costs a few lookups, whatever the limits file's size (``gateway kill --account`` on a
        30,000-account file built and sorted every name: ~22 ms of loop CPU); only a refusal lists them.
        """
        assert self.risk is not None
        if self.risk.is_known_account(account):
            return
        if any(account in entitlement.accounts for entitlement in self.config.strategies.values()):
            return
        known = self.known_accounts()  # the engine's open orders too, as before: the refusal lists them all
        if account in known:
            return
        shown = ", ".join(known[:KNOWN_ACCOUNTS_SHOWN]) or "none"
        more = f" and {len(known) - KNOWN_ACCOUNTS_SHOWN} more" if len(known) > KNOWN_ACCOUNTS_SHOWN else ""
        raise UnknownAccountError(
            f"unknown account {account!r}: not in the risk limits file, not in any strategy's accounts in the "
            f"gateway config, no open orders; nothing was changed. Known accounts: {shown}{more} "
            "(all of them: gateway status --json, under known_accounts)"
        )

    def resume(self, account: str | None, who: str, reason: str = "") -> Any:
        """Set the run-time state back to ACTIVE (globally or for one account); return the effective state.

        The ACTIVE record is journaled first: while the journal cannot be written the resume is refused
        (``ResumeRefusedError``) and nothing changes, in memory or later on disk (fail safe: still halted).
        """
        from risk.model import TradingState  # noqa: PLC0415 - keeps `gateway --help` fast

        assert self.engine is not None and self.risk is not None
        if account is not None:
            self.require_known_account(account)
        engine = self.engine
        journal = self.journal
        engine.flush()  # what is pending first (a retry if the journal failed): the ACTIVE record goes alone
        if engine.journal_error:
            raise ResumeRefusedError(_resume_refused(engine.journal_error, self.risk.trading_state(account).name))
        mark = journal.tell() + journal.pending_bytes
        state_id = self._new_state_id()  # in the journal's record and the audit record: the same change (kill58)
        journal.append(JTradingState(account or "", "ACTIVE", who, reason, state_id))
        try:
            journal.flush()
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
            if not journal.take_back(mark):
                # the record may be on disk (its sync failed): re-state the scope's own run-time state after it,
                # so a restart replays ACTIVE then this, and stays as strict as now (an identity of its own, no
                # audit record: the audit log's kills before it are held or older). Its own, not the effective
                # one: a restart re-applies the record as the scope's run-time state, and a firm-wide kill or the
                # limits file's halt re-stated here came back as a kill of the account (or firm) itself (rev61diff)
                now = self.risk.runtime_state(account).name
                journal.append(JTradingState(account or "", now, who, RESUME_REFUSED, self._new_state_id()))
            engine.flush()  # notes the failure (JOURNAL WRITE FAILED, status journal_error); nothing leaves
            raise ResumeRefusedError(_resume_refused(error, self.risk.trading_state(account).name)) from None
        engine.kill_lifted(account)  # a strategy's Cancel refused from now on is its own affair (walk59b)
        return self.risk.set_trading_state(TradingState.ACTIVE, account, who, reason, state_id=state_id)

    def held_by(self, account: str | None) -> list[str]:
        """Name what keeps the scope stricter than ACTIVE: ``"file"`` (the limits file), ``"firm"`` (a firm halt)."""
        assert self.risk is not None
        return self.risk.held_by(account)

    def runtime_halted(self, account: str | None) -> bool:
        """Return True if a run-time halt or reduce (``gateway kill``, a trigger) is set on the scope itself."""
        assert self.risk is not None
        return bool(self.risk.runtime_state(account).name != "ACTIVE")

    def accounts_halted(self) -> list[list[str]]:
        """Return ``[account, state, trigger]`` of each account a run-time halt or reduce of its own keeps stricter
        than ACTIVE (``gateway kill --account``, or a halt after a fault of the gateway's own, trigger
        ``internal_error``: a resume without ``--account`` lifts neither; ops59, ops59b)."""
        risk = self.risk
        assert risk is not None
        states = ((account, risk.runtime_state(account).name) for account in sorted(risk.known_accounts()))
        return [[account, state, risk.runtime_trigger(account)] for account, state in states if state != "ACTIVE"]

    def _halt_after_fault(self, accounts: list[str], reason: str) -> None:
        """Halt ``accounts`` after a fault of the gateway's own (``Engine._internal_error``), as ``gateway kill
        --account`` would but canceling nothing (the strategy's disconnect policy decides that).

        In memory first (new orders refused ``TRADING_HALTED`` at once), then a journaled HALTED record per
        account, written with the engine's batch: a restart keeps the halt until ``gateway resume --account``.
        """
        from risk.model import TradingState  # noqa: PLC0415 - keeps `gateway --help` fast

        assert self.risk is not None
        for account in accounts:
            state_id = self._new_state_id()
            self.risk.set_trading_state(
                TradingState.HALTED, account, INTERNAL_ERROR_WHO, reason, INTERNAL_ERROR_TRIGGER, state_id=state_id
            )
            self.journal.append(JTradingState(account, "HALTED", INTERNAL_ERROR_WHO, reason, state_id))

    def kill(self, account: str | None, who: str, reason: str = "") -> KillResult:
        """Halt trading (globally or for one account) and cancel every matching open order.

        Never refused for a journal that cannot be written (the safe direction): the halt takes effect in
        memory at once, the HALTED record and the cancels are journaled as pending records and reach the
        disk, and then (journal before wire) the venues, as soon as the journal can be written again.
        """
        assert self.engine is not None and self.risk is not None
        if account is not None:
            self.require_known_account(account)
        state_id = self._new_state_id()  # in the audit record and the journal's record: the same kill (kill58)
        self.risk.halt(account, who, reason, state_id)
        journal = self.journal
        mark = journal.tell() + journal.pending_bytes
        journal.append(JTradingState(account or "", "HALTED", who, reason, state_id))
        engine = self.engine
        # the HALTED record first, then the Cancels (over many orders a slice per loop turn, walk59; the halt is in
        # force already); flushed: the record and the first slice
        count = engine.cancel_all(account, walk=True)
        scope = f"account {account}" if account else "all trading"
        pending = engine.journal_error
        audit_late = self._audit_records_late()  # the kill's record the last of them: not written (kill58b)
        if pending:
            # named by a stop that drops it (``_closed_dropping``)
            self._kills_pending.append(_PendingKill(scope, account, mark, state_id, self._scope_orders(account)))
            log.critical(
                "KILL SWITCH by %s: %s halted in memory (new orders refused); the journal cannot be written "
                "(%s): the HALTED record and the cancels of %d open orders are pending, written and sent as "
                "soon as the journal can be written again (%s)%s",
                who,
                scope,
                pending,
                count,
                reason or "no reason given",
                f"; the risk audit log {self.config.path(self.config.risk_audit_log)} could not be written either "
                "(the kill's audit record is kept in memory, written late when it can be): a stop or crash before "
                "one of them is written loses the kill"
                if audit_late
                else "",
            )
        else:
            log.warning(
                "KILL SWITCH by %s: %s halted, cancels sent or queued for %d open orders (%s)",
                who,
                scope,
                count,
                reason or "no reason given",
            )
        return KillResult(count, pending, bool(pending and audit_late))

    def _scope_orders(self, account: str | None) -> frozenset[int]:
        """Return the ids of the open orders of a kill's scope (all, or ``account``'s): their cancels are its own."""
        assert self.engine is not None
        return frozenset(
            order_id
            for order_id, order in self.engine.open_orders.items()
            if account is None or order.account == account
        )

    def _audit_records_late(self) -> int:
        """Return how many audit records risk keeps in memory, refused by the audit log (``risk_audit_records_late``).

        The late records are the last ones made (a write that succeeds writes every late one first): right after a
        kill's ``halt``, any means the kill's own record is not in the audit log.
        """
        reload_metrics = getattr(self.risk, "reload_metrics", None)  # a test's risk may not reload
        if reload_metrics is None:
            return 0
        return int(reload_metrics().get("risk_audit_records_late", 0))

    def adjust_position(
        self,
        account: str,
        symbol: str,
        qty: int,
        price: int,
        notional_sign: int,
        who: str,
        reason: str,
        *,
        dry_run: bool = False,
    ) -> Any:
        """Correct ``account``'s position in ``symbol`` by ``qty`` (a busted or corrected trade); return what it did.

        Runs on the event loop like every admin command, so between two orders, never inside one. The
        correction is planned from the position as it is (a refusal, ``risk.adjust.Adjustment`` with ``ok``
        false, changes nothing), journaled and flushed (``JPositionAdjusted``) and only then applied to risk,
        which audits it: a restart the same day re-applies it in order with the fills. While the journal cannot
        be written it is refused (``JOURNAL_UNAVAILABLE``). ``dry_run``: the plan only (position before and
        after, the limits it would breach).
        """
        from risk.adjust import JOURNAL_UNAVAILABLE, refused  # noqa: PLC0415 - keeps `gateway --help` fast

        assert self.engine is not None and self.risk is not None
        plan = self.risk.plan_adjustment(account, symbol, qty, price, notional_sign, reason)
        if not plan.ok:
            log.warning("position correction by %s refused: %s: %s", who, plan.code, plan.text)
            return plan
        if dry_run:
            return plan
        engine = self.engine
        journal = self.journal
        engine.flush()  # what is pending first (a retry if the journal failed): the correction goes alone
        error = engine.journal_error
        if not error:
            mark = journal.tell() + journal.pending_bytes
            journal.append(JPositionAdjusted(account, symbol, qty, price, plan.notional, who, reason))
            try:
                journal.flush()
            except OSError as exc:
                error = f"{type(exc).__name__}: {exc}"
                if not journal.take_back(mark):
                    # the record may be on disk (its sync failed): undo it after it, so a restart nets to nothing
                    journal.append(
                        JPositionAdjusted(account, symbol, -qty, price, -plan.notional, who, "correction refused")
                    )
                engine.flush()  # notes the failure (JOURNAL WRITE FAILED, status journal_error); nothing leaves
        if error:
            text = (
                f"the journal cannot be written ({error}): the correction could not be recorded, so nothing was "
                "changed; free space on the journal's disk and run it again"
            )
            log.error("position correction by %s refused: %s", who, text)
            return refused(JOURNAL_UNAVAILABLE, text, account, symbol, qty, reason)
        self.risk.apply_adjustment(account, symbol, qty, price, plan.notional, who, reason)
        return plan

    def _journal_lookup_status(self) -> dict[str, Any]:
        """Return the ``journal_lookups`` status section: what the engine read back from the journal on the loop.

        OUCH UserRefNums no longer mapped looked up (docs/reliability.md 2.7b), and orders released from memory
        rebuilt for a late fill (``memory.terminal_orders_kept``).
        """
        return word_numbers(self._journal_lookup_numbers())

    def _journal_lookup_numbers(self) -> tuple[Any, ...] | dict[str, Any]:
        """Return the ``journal_lookups`` section's numbers (``gateway.status_numbers``): the engine's counters."""
        engine = self.engine
        if engine is None:
            return {}
        return (
            JOURNAL_LOOKUPS,
            engine.ref_lookups,
            engine.ref_lookups_found,
            engine.ref_lookup_records,
            engine.ref_lookup_failures,
            engine.journal_rebuilds,
            engine.journal_rebuild_records,
            engine.journal_rebuild_failures,
        )

    def _journal_lookup_metrics(self) -> dict[str, float]:
        """Return the journal look-ups' numbers for ``gateway metrics`` (help: ``gateway.exporter.EXTRA_HELP``)."""
        engine = self.engine
        if engine is None:
            return {}
        return {
            "journal_ref_lookups_total": float(engine.ref_lookups),
            "journal_ref_lookups_found_total": float(engine.ref_lookups_found),
            "journal_ref_lookup_records_total": float(engine.ref_lookup_records),
            "journal_ref_lookup_failures_total": float(engine.ref_lookup_failures),
            "journal_order_rebuilds_total": float(engine.journal_rebuilds),
            "journal_order_rebuild_records_total": float(engine.journal_rebuild_records),
            "journal_order_rebuild_failures_total": float(engine.journal_rebuild_failures),
        }

    def _risk_metrics(self) -> dict[str, float]:
        numbers = {"risk_position_adjustments_total": float(getattr(self.risk, "position_adjustments", 0))}
        reload_metrics = getattr(self.risk, "reload_metrics", None)  # a test's risk may not reload
        if reload_metrics is not None:
            numbers.update(reload_metrics())
        return numbers

    def reconnect_venue(self, name: str, who: str, reason: str = "") -> str:
        """Take venue ``name`` out of LOGIN_REFUSED and connect it now; return its new state.

        Refused (``VenueReconnectRefusedError``, nothing changed) for a venue the gateway does not have and
        for one in any other state (those reconnect by themselves, or, ENDED, not until the next day).
        """
        assert self.engine is not None
        connector = next((c for c in self.connectors if c.adapter.name == name), None)
        if connector is None:
            known = ", ".join(sorted(c.adapter.name for c in self.connectors)) or "none"
            raise VenueReconnectRefusedError(f"unknown venue {name!r}; nothing was changed. Venues: {known}")
        venue = connector.adapter
        state = venue.state
        if state is not VenueState.LOGIN_REFUSED:
            raise VenueReconnectRefusedError(
                f"venue {name} is {state}, not LOGIN_REFUSED; nothing was changed (only a venue that stopped "
                "after refused logins waits for this command)"
            )
        if not venue.reconnect():  # the adapter's session disagrees: not expected
            raise VenueReconnectRefusedError(f"venue {name}: its session is not LOGIN_REFUSED; nothing was changed")
        log.warning(
            "venue %s: reconnect by %s after refused logins (%s); connecting now",
            name,
            who,
            reason or "no reason given",
        )
        self._audit_venue_action("venue_reconnect", who, {"venue": name, "old": str(state), "reason": reason})
        connector.restart()
        self.engine.flush()  # the VenueStatus the state change queued for strategies
        return str(venue.state)

    def set_venue_seq(
        self, name: str, next_sender: int, next_target: int, who: str, reason: str = "", *, lower_target: bool = False
    ) -> dict[str, Any]:
        """Set venue ``name``'s next outgoing / expected session sequence numbers (0 keeps one); return them.

        ``gateway venue set-seq`` (fix53). Refused (``VenueSetSeqRefusedError``, nothing changed) for a venue the
        gateway does not have, a protocol without such numbers, a session logged on, a number below the current
        one (the adapter says why; an expected number below the current one only with ``lower_target``, the
        operator's ``--allow-lower-target``: the venue's numbering restarted, fixlogon56). Logged at WARNING with
        both numbers before and after, and a ``venue_set_seq`` record in the audit log with the reason (fixfix54b)
        and whether the expected number was lowered.
        """
        connector = next((c for c in self.connectors if c.adapter.name == name), None)
        if connector is None:
            known = ", ".join(sorted(c.adapter.name for c in self.connectors)) or "none"
            raise VenueSetSeqRefusedError(f"unknown venue {name!r}; nothing was changed. Venues: {known}")
        if next_sender < 0 or next_target < 0 or (next_sender == 0 and next_target == 0):
            raise VenueSetSeqRefusedError(
                "give --next-sender and/or --next-target, whole numbers from 1; nothing was changed"
            )
        venue = connector.adapter
        before = venue.status()
        refused = venue.set_sequence_numbers(next_sender, next_target, lower_target=lower_target)
        if refused:
            raise VenueSetSeqRefusedError(f"venue {name}: {refused}")
        after = venue.status()
        lowered = _lower(after.get("next_target_seq"), before.get("next_target_seq"))
        log.warning(
            "venue %s: MsgSeqNums set by %s (%s): next sent %s -> %s, next expected %s -> %s (written to its message "
            "store%s); state %s",
            name,
            who,
            reason or "no reason given",
            before.get("next_sender_seq"),
            after.get("next_sender_seq"),
            before.get("next_target_seq"),
            after.get("next_target_seq"),
            "; expected number LOWERED (--allow-lower-target): the venue's messages from it are a new numbering, "
            "taken as new ones (a fill sent again is recognised by its ExecID); what it sent under the old numbering "
            "and never resent is lost with it: the next logon asks the venue about every open order"
            if lowered
            else "",
            venue.state,
        )
        self._audit_venue_action(
            "venue_set_seq",
            who,
            {
                "venue": name,
                "next_sender_seq_before": before.get("next_sender_seq"),
                "next_sender_seq_after": after.get("next_sender_seq"),
                "next_target_seq_before": before.get("next_target_seq"),
                "next_target_seq_after": after.get("next_target_seq"),
                "lowered_target": lowered,
                "state": str(venue.state),
                "reason": reason,
            },
        )
        return {
            "venue": name,
            "state": str(venue.state),
            "next_sender_seq": after.get("next_sender_seq"),
            "next_target_seq": after.get("next_target_seq"),
        }

    def _audit_venue_action(self, event: str, who: str, details: dict[str, Any]) -> None:
        """Record an operator's action on a venue in the audit log (fixfix54b; a risk double without one: none)."""
        audit = getattr(self.risk, "audit_venue_action", None)
        if audit is not None:
            audit(event, who, details)

    def reset_latency(self) -> None:
        """Forget the latency samples collected so far (``gateway status`` starts afresh)."""
        assert self.engine is not None
        self.engine.latency.reset()

    # ---- shutdown ---------------------------------------------------------------------------

    def _on_stop_signal(self, name: str) -> None:
        """Take a stop signal from the loop: one stop request (noted if the start has not completed yet)."""
        if not self._started and self.stop_signal_at_start is None:
            self.stop_signal_at_start = name
        self.request_stop()

    def request_stop(self) -> None:
        """Ask ``serve`` to return; a second request during the stop ends its wait for the venues' answers."""
        if self._stop_begun and not self._stop_hurry.is_set():
            log.warning("second stop request: not waiting any longer for the venues to answer the cancels")
            self._stop_hurry.set()
        self._stopped.set()

    async def serve(self) -> None:
        """Run until ``request_stop`` (or SIGTERM)."""
        await self._stopped.wait()

    async def _end_venue_sessions(self, timeout_s: float = 1.0) -> None:
        """Let each venue end its session gracefully (a Logout each) and wait a little for the venues to answer it."""
        waiting = [venue for venue in self.venues if venue.shutdown()]
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            waiting = [venue for venue in waiting if not venue.shutdown_answered()]
            if waiting:
                await asyncio.sleep(0.01)
        for venue in waiting:
            log.info("venue %s: no close after the logout within %.1f s; closing the connection", venue.name, timeout_s)

    def _cancels_unwritten(self) -> frozenset[int]:
        """Return the orders whose kill-switch cancel waits behind a HALTED record the journal has not written.

        Nothing leaves before its journal record: while the journal has not reached that record's offset, none of
        the cancels queued behind it was sent, whatever the order's state says (``_not_asked_at_stop``).
        """
        if not self._kills_pending:
            return frozenset()
        written = self.journal.tell()
        return frozenset().union(*(kill.orders for kill in self._kills_pending if kill.mark >= written))

    async def _cancel_at_stop(self, engine: Engine) -> None:
        """Apply every strategy's disconnect policy, wait (bounded) for the venues' answers, log what stays open.

        Each order's reason at exit comes from whether its cancel left, not from the venue's state at
        exit: a cancel counts as sent once it is in flight at a moment the journal is writable (every
        engine call ends with a flush, journal first, then the venues' bytes to their transports). The
        wait goes on for sent cancels until the timeout even if their venue drops meanwhile (a resumed
        session may still answer them); it ends early when only held cancels are left (their venue is not
        UP) or when the journal fails (nothing more leaves, no answer could be recorded).
        """
        canceled = engine.disconnect_for_stop()
        timeout_s = self.config.stop_cancel_timeout_s
        deadline = time.monotonic() + timeout_s
        started = time.monotonic()
        sent: set[int] = set()  # order ids whose cancel was handed to the venue's transport

        def note_sent() -> None:
            if engine.journal_error:  # what is decided now waits for its journal record: not left
                return
            for order in canceled:
                if order.state in _CANCEL_IN_FLIGHT:
                    sent.add(order.order_id)

        def unanswered() -> list[Order]:
            note_sent()
            if engine.journal_error:  # nothing leaves before its record, and no timer retries the journal now
                return []
            return [
                order
                for order in canceled
                if order.order_id in engine.open_orders
                and (order.order_id in sent or engine.venues[order.venue].state is VenueState.UP)
            ]

        waiting = unanswered()
        while waiting and time.monotonic() < deadline and not self._stop_hurry.is_set():
            await asyncio.sleep(0.01)
            waiting = unanswered()
        engine.flush()
        note_sent()
        done = sum(1 for order in canceled if order.order_id not in engine.open_orders)
        if canceled:
            log.info(
                "stop: %d of %d open orders of on_disconnect cancel strategies canceled at the venues (%.2f s)",
                done,
                len(canceled),
                time.monotonic() - started,
            )
        still_open: dict[tuple[str, str, bool], list[Order]] = {}
        asked = {order.order_id for order in canceled}
        unwritten = self._cancels_unwritten()
        for order in engine.open_orders.values():
            state = engine.venues[order.venue].state
            if order.order_id not in asked:
                why = _not_asked_at_stop(order, state, engine.journal_error, order.order_id in unwritten)
            elif order.order_id in sent:
                why = f"cancel sent, no answer within {timeout_s:g} s"
                if engine.journal_error:
                    why = f"cancel sent, then the journal failed ({engine.journal_error}): answer not awaited"
                elif state is not VenueState.UP:
                    why += f"; venue {order.venue} {state.name} at exit"
            elif engine.journal_error:
                why = f"the journal cannot be written ({engine.journal_error}): cancel not sent"
            elif state is not VenueState.UP:
                why = (
                    f"venue {order.venue} {state.name}, not UP: "
                    f"cancel not sent (held for its next session, or refused if ENDED)"
                )
            elif order.state in REPLACING_STATES:
                why = "cancel not sent (held behind a replace still in flight)"
            else:
                why = f"cancel not sent (order {order.state.name}: refused before the wire)"
            # the journal failed and no cancel of it left: its own record may be among those never written, and it
            # never left either (journal first; ops59: such orders were listed as open at the venues); one the venue
            # acknowledged is there (ops59b: listed with those that may never have left)
            unsent = bool(engine.journal_error) and order.order_id not in sent and order.state not in ACKED_STATES
            still_open.setdefault((order.strategy_id, why, unsent), []).append(order)
        for (strategy_id, why, unsent), orders in sorted(still_open.items()):
            where = (
                "at exit, at the venues or never sent to them (an order whose record the journal could not write never "
                "left: the next start's recovery counts only the others)"
                if unsent
                else "at the venues at exit"
            )
            names = ", ".join(order.cl_ord_id for order in orders[:10]) + (", ..." if len(orders) > 10 else "")
            log.warning(
                "stop: strategy %s: %d orders still open %s (%s): %s",
                strategy_id,
                len(orders),
                where,
                why,
                names,
            )

    async def stop(self) -> None:
        """Close sockets, stop venue sessions, flush and close the journal (once: a second call returns at once)."""
        self._stopped.set()
        if self._stop_begun:
            return
        self._stop_begun = True
        if self.engine is not None:  # the venues' sessions end now: not a venue lost (INFO, not WARNING)
            self.engine.stopping = True
        if self._sighup is not None:
            self._sighup.stop()
            self._sighup = None
        reading = self._risk_reading
        if reading is not None and hasattr(reading, "reader_control"):  # a reload it will not apply: no wait for it
            reading.reader_control.stop()
        for timer in self._timers:
            timer.cancel()
        if self._risk_looks is not None:
            self._risk_looks.shutdown(wait=False)  # a read under way ends by itself (the file is not read again)
        for server in self._servers:
            server.close()
        config = self.config
        for path, identity in self._own_sockets:  # never one this process did not bind (another gateway's)
            remove_socket(path, identity)
        if self.engine is not None:
            self.engine.flush()
            if self._started:
                await self._cancel_at_stop(self.engine)
        await self._end_venue_sessions()
        for connector in self.connectors:
            await connector.stop()
        if self.engine is not None:
            self.engine.flush()
        for venue in self.venues:
            venue.close()
        await self._keep_owed_copies_at_stop()
        self._late_audit_at_stop()
        self._close_journal()
        if self._started:
            log.info("gateway %s stopped", config.gateway_id)
        else:  # a start refused half-way (journal in use, socket in use, bad limits): it never ran
            log.info("gateway %s did not start; closed what it had opened", config.gateway_id)

    def _closed_dropping(self, exc: JournalCloseError, path: Path) -> None:
        """The journal closed durable up to its last whole record, the records it could not write dropped: log it,
        and mark the stop clean with what it dropped (``mark_journal_closed_dropping``; journalstop56)."""
        self.exit_code = EXIT_JOURNAL_NOT_DURABLE
        engine = self.engine
        next_id = engine.next_order_id if engine is not None else 0
        noted = mark_journal_closed_dropping(path, exc.dropped_records, exc.pending_bytes, next_id)
        log.critical(
            "JOURNAL NOT DURABLE AT STOP: %s. Nothing that depended on it was sent to a venue or a strategy "
            "(journal first); every record before it is in the file, synced%s: %s (exit code %d)",
            exc,
            self._kills_dropped(path),
            "a clean stop, the next start recovers from what the file holds with no order ids skipped, and says what "
            "this stop dropped"
            if noted
            else f"its open marker {open_marker(path)} could not be rewritten to say what this stop dropped (nor "
            "which order ids the records dropped had used), so it is kept: the next start takes this stop for a "
            "crash and skips order ids past them",
            EXIT_JOURNAL_NOT_DURABLE,
        )

    def _kills_dropped(self, path: Path) -> str:
        """Name the kill switches among the records a stop dropped (``""``: none), and what the next start does.

        Whether the next start re-applies one is read from the risk audit log as that start reads it (``held_ids``:
        the kill's identity in its record, in ``<log>.2``, ``<log>.1`` or the current file): a kill held is named with
        the file holding it and how many rotations before the start it stands (kill58d: the stop said "at most once"
        for a record a rotation during the run had already moved to ``<log>.1``); a kill whose audit record could not
        be written either (one full disk; late, still in memory) is named as held nowhere, with the remedy (kill58b:
        the stop said the audit log held it).
        """
        try:
            end = os.stat(path).st_size  # the close cut the file after its last whole record
        except OSError:
            end = 0
        dropped = [kill for kill in self._kills_pending if kill.mark >= end]
        if not dropped:
            return ""
        audit = self.config.path(self.config.risk_audit_log)
        try:
            held = held_ids(audit, self.config.gateway_id, (kill.state_id for kill in dropped))
        except OSError as exc:  # not known: said as before, with the check to make
            return (
                f". The KILL SWITCH's HALTED record ({', '.join(dict.fromkeys(kill.scope for kill in dropped))}) is "
                f"among the records dropped: the next start re-applies it from the risk audit log {audit} if that "
                f"log holds the kill's record, which this stop could not read ({exc}): check its last trading_state "
                "records, and run `gateway kill` again after the start if the kill is not there (docs/reliability.md "
                "2.3a)"
            )
        where = held.where
        lost = list(dict.fromkeys(kill.scope for kill in dropped if kill.state_id not in where))
        again = list(dict.fromkeys(_kill_command(kill) for kill in dropped if kill.state_id not in where))
        said = ""
        files = audit_files(audit)
        read = ", ".join(file.name for file in files[::-1][:-1]) + f" and {files[0].name}"
        for file in dict.fromkeys(where[kill.state_id] for kill in dropped if kill.state_id in where):
            kept = list(dict.fromkeys(kill.scope for kill in dropped if where.get(kill.state_id) == file))
            rotate = rotate_advice(audit, file)
            said += (
                f". The KILL SWITCH's HALTED record ({', '.join(kept)}) is among the records dropped: the next start "
                f"re-applies it from the risk audit log {audit}, which holds the kill's record (its record is in "
                f"{file}; the next start reads {read}: {rotate}, and keep them uncompressed; docs/reliability.md "
                "2.3a)"
            )
        edge = [kill for kill in dropped if kill.state_id in held.edge]
        if edge:
            scopes = ", ".join(dict.fromkeys(kill.scope for kill in edge))
            at = ", ".join(dict.fromkeys(str(held.edge[kill.state_id]) for kill in edge))
            commands = " and ".join(dict.fromkeys(_kill_command(kill) for kill in edge))
            said += (
                f". The KILL SWITCH's HALTED record ({scopes}) is among the records dropped, and the risk audit log "
                f"holds the kill's record ({at}) near the beginning of the last 32 MiB the next start reads: the "
                "records that start writes first may push it out, and the kill is then not re-applied: run "
                f"{commands} again as soon as the gateway is started (docs/reliability.md 2.3a)"
            )
            lost = [scope for scope in lost if scope not in {kill.scope for kill in edge}]
            again = [command for command in again if command not in {_kill_command(kill) for kill in edge}]
        if lost:
            unread = (
                f" in the files this stop could read ({'; '.join(held.unreadable)} could not be read, nor can the "
                "start: make it a regular file readable by the gateway's user before the start, if it holds the kill)"
                if held.unreadable
                else " either (it could not be written: the kill's audit record is late, kept in memory and lost with "
                "this process)"
            )
            said += (
                f". The KILL SWITCH's HALTED record ({', '.join(lost)}) is among the records dropped, and the risk "
                f"audit log {audit} does NOT hold it{unread}: NOTHING ON DISK HOLDS THE KILL, the next start does not "
                f"re-apply it and the orders stay working at the venues: run {' and '.join(again)} again as soon as "
                "the gateway is started (docs/reliability.md 2.3a)"
            )
        return said

    def _close_journal(self) -> None:
        """Close the journal (whatever it could not make durable is logged, never raised), then drop its lock."""
        try:
            try:
                self.journal.close()
            except JournalCloseError as exc:
                if not exc.kept or self._journal_marked is None:
                    raise
                self._closed_dropping(exc, self._journal_marked)
            else:
                if self._journal_marked is not None:  # a clean stop: the next start need not skip order ids
                    mark_journal_closed(self._journal_marked)
        except OSError as exc:
            self.exit_code = EXIT_JOURNAL_NOT_DURABLE
            path = self._journal_marked
            gone = path is not None and not os.path.lexists(path)
            log.critical(
                "JOURNAL NOT DURABLE AT STOP: %s. Nothing that depended on it was sent to a venue or a strategy "
                "(journal first); %s (exit code %d)",
                exc,
                f"the journal file {path} is GONE (deleted, and it could not be put back): the next start refuses "
                "to begin an empty day until it is back (docs/reliability.md 2.3d)"
                if gone
                else "the next start recovers from what the file holds"
                + (
                    ", and skips order ids as after a crash: the journal's records of what reached a venue could "
                    "not be made durable (docs/reliability.md 2.3c)"
                    if path is not None and isinstance(exc, JournalCloseError) and exc.unsynced
                    else ""
                ),
                EXIT_JOURNAL_NOT_DURABLE,
            )
        lock = self._journal_lock
        if lock is not None:
            self._journal_lock = None
            lock.release()
        state_locks = self._state_locks
        if state_locks is not None:
            self._state_locks = None
            state_locks.release()
