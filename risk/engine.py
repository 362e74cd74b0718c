"""The pre-trade risk engine the gateway core calls (``risk.api.RiskGate``), plus its admin surface.

Hot path (``check_and_commit_new`` / ``check_replace`` / ``check_cancel``): three dict lookups find
the effective limits of (account, strategy, symbol), one reused ``RiskRequest`` is filled,
and the checks of ``risk.checks`` run in order; nothing scans accounts or symbols and
an accepted order allocates only its exposure record, its duplicate-filter entry and,
the first time a key is seen, its counters. Denials are data; even a bug inside a check
becomes an ``INTERNAL_ERROR`` denial (fail closed), never an exception to the core.

Admin surface (called by the core from its event loop, never concurrently with checks):
``load`` / ``reload`` / ``file_changed`` / ``halt`` / ``set_trading_state`` / ``status``
/ ``explain``. Every applied change and every run-time state change is written to the
audit log (``risk.audit``) before it takes effect.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import hashlib
import logging
import os
import pwd
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, Final, NamedTuple

import msgspec

from model.clock import NowNs, monotonic_ns
from model.denials import Denial
from model.enums import OrderType, Side
from model.file_birth import birth_ns
from model.operator_text import clip
from model.order import Order, OrderState
from risk import codes
from risk.adjust import Adjustment, plan
from risk.audit import AuditLog, check_regular, utc_text
from risk.checks import (
    CANCEL,
    NEW,
    NEW_ORDER_CHAIN,
    REPLACE,
    REPLACE_CHAIN,
    Check,
    LimitsRow,
    RiskRequest,
    Verdicts,
    Windows,
    check_cancel_rate,
    check_duplicate,
    check_order_rate,
    check_strategy_cancel_rate,
    money,
    passes_new,
)
from risk.diff import Change, diff_trees
from risk.duplicates import DuplicateFilter
from risk.engine_views import ExposureView as ExposureView  # noqa: PLC0414 - re-exported
from risk.engine_views import LimitSource as LimitSource  # noqa: PLC0414 - re-exported
from risk.engine_views import PositionView as PositionView  # noqa: PLC0414 - re-exported
from risk.engine_views import ReloadResult as ReloadResult  # noqa: PLC0414 - re-exported
from risk.engine_views import Verdict as Verdict  # noqa: PLC0414 - re-exported
from risk.exposure import AccountState, ExposureBook, OrderRecord, PositionState
from risk.filewatch import (
    INLINE_BYTES,
    Opened,
    RenameWatch,
    Signature,
    Version,
    file_digest,
    file_id,
    finish,
    open_version,
    shared_watch,
    stat_signature,
)
from risk.inforce import HeldBack, InForceCopy
from risk.limitsfile import DecidedReference, KnownNames, LimitsFile, LimitsFileError, read_limits
from risk.loader import MAX_FILE_BYTES, Parsed, Problem, read_bounded, read_identified
from risk.model import Limits, ReferencePriceDocument, TradingState
from risk.reader import TIMEOUT_S as READER_TIMEOUT_S
from risk.reader import ReaderControl, ReaderFailedError, read_in_child
from risk.reference import MISSING, STALE, ReferenceBook
from risk.resolve import FIELDS, MAX_CACHED, EffectiveLimits, Resolver, display_value
from risk.startup import (
    NO_DAY,
    NO_WORD,
    Copies,
    DayPositions,
    KeptPositions,
    audited_note,
    audited_reference,
    changes_while_down,
    copy_not_kept,
    day_positions,
    held_reference,
    keep_positions,
    last_word,
    positions_outcome,
    session_day,
    unread_problem,
)
from risk.status_load import SLICE_ITEMS, LoadStatus
from risk.throttle import ONE_SECOND_NS, SlidingWindow

log = logging.getLogger("risk")

WallClock = Callable[[], int]
"""A function returning Unix time in nanoseconds (audit timestamps, reference-file age)."""

_LIMIT: Final = OrderType.LIMIT
_MARKET: Final = OrderType.MARKET  # Final: compiled, read as a static (else a lookup in the globals dict)
_FILLED: Final = OrderState.FILLED
_BUY: Final = Side.BUY
_PASSES_NEW: Final = passes_new  # compared with ``RiskEngine.passes_new`` as a static (a test injects another)
_HALTED: Final = int(TradingState.HALTED)
_REDUCING: Final = int(TradingState.REDUCING)
_STATE_NAMES: dict[int, str] = {int(state): state.name for state in TradingState}
SCOPE_KINDS: Final = ("firm", "account", "strategy", "symbol", "account_strategy", "account_symbol")
"""The scopes a trading state can be set for (``trading_scopes``; the file's, and a kill's: firm and account)."""
TradingScopes = tuple[dict[str, int], list[tuple[str, str, int]], list[tuple[str, str]]]
"""``RiskEngine.trading_scopes``: kills in force by scope, (scope, state, count) not ACTIVE, account states."""

RESTORED: Final = " (restored from the journal)"
"""How the audit record and the log end ``who`` for a kill or resume re-applied from the journal
(``set_trading_state(..., restored=True)``)."""
WATCH_TRIGGER: Final = "file changed on disk"
"""The ``trigger`` of reloads (and ``not_applied`` records) from the file watch; its ``who`` is ``WATCH_WHO``."""
WATCH_WHO: Final = "file watch"
READER_RETRY_FIRST_S: Final = 2.0
"""After a watch reload whose reader process gave no verdict (crashed, killed, timed out), the watch reads the same
content again after this long, then twice as long each time (``READER_RETRY_MAX_S`` at most)."""
READER_RETRY_MAX_S: Final = 60.0
READER_RETRIES: Final = 10
"""Reads of the same content the file watch tries again before it gives up (``gateway risk reload`` then)."""
MAX_LATE_RECORDS: Final = 10_000
"""Audit records kept while the audit log cannot be written (``RiskEngine._write_audit``)."""


def _file_signature(path: Path | None) -> Signature | None:
    return stat_signature(path)


def _read_signature(limits: LimitsFile, before: tuple[Path | None, Signature | None]) -> Signature | None:
    """Return the signature of the reference-price file ``limits`` read, taken before it was read.

    The reader takes it just before opening the file (``Parsed.signature``); ``before`` (the file in force and its
    signature when the reload began) serves where it did not (a reference file kept as it was is not judged). Taken
    after the read, a file replaced meanwhile was paired with the old content's hash and never applied (rev56diff,
    rev56merge).
    """
    parsed = limits.reference_parsed
    if parsed is not None and parsed.signature is not None:
        return parsed.signature
    path, signature = before
    if limits.reference_path is not None and limits.reference_path == path:
        return signature
    return _file_signature(limits.reference_path)


def _file_hash(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(read_bounded(path)).hexdigest()
    except OSError:
        return None


class _Looking(NamedTuple):
    """A look at a large file under way in a worker thread (``RiskEngine.look_in_thread``)."""

    opened: Opened
    digest: concurrent.futures.Future[str | None]


LookInThread = Callable[[Callable[[], "str | None"]], "concurrent.futures.Future[str | None]"]
"""Runs a file's read and hash in a worker thread; the watch takes its result at a later look."""


StatusRaw = tuple[
    int,
    Any,
    "dict[str, Any] | None",
    int,
    int,
    list[tuple[str, int, int, int, int]],
    list[dict[str, str]],
    int,
    list[tuple[str, str, str, str]],
]
"""(firm run-time state, reference prices as of, last reload, internal errors, orders tracked,
(account, run-time state, open orders, open notional, traded notional) per account in the book,
files modified in place and not applied, position corrections applied,
(account or "" for firm-wide, trigger, who, reason) per run-time state in force)."""


def _runtime_fields(note: Any) -> dict[str, str]:
    """Return who set a run-time state, how and why (``gateway status``), from one note of ``StatusRaw``."""
    if not note:
        return {}
    _, trigger, who, reason = note
    return {"runtime_trigger": trigger, "runtime_by": who, "runtime_reason": reason}


def assemble_status(wire: dict[str, Any], raw: Any, account_set: AbstractSet[str] | None = None) -> dict[str, Any]:
    """Return ``RiskEngine.status()`` from the two parts of ``status_parts`` (as they are, or after a MessagePack
    round trip): the one builder of the account rows, for the document the gateway builds and the snapshot's reader.

    ``account_set``: the limits file's accounts as a set, if the caller keeps one (else made from the names).
    """
    firm_runtime, as_of, last_reload, internal_errors, orders_tracked, rows = raw[:6]
    not_applied = raw[6] if len(raw) > 6 else []
    adjustments = raw[7] if len(raw) > 7 else 0
    notes = {note[0]: note for note in raw[8]} if len(raw) > 8 else {}
    firm = max(wire["default_state"], firm_runtime)
    firm_name = _STATE_NAMES[firm]
    book = {row[0]: row for row in rows}
    names: list[str] = wire["account_names"]
    configured = frozenset(names) if account_set is None else account_set
    scope_states: dict[str, int] = wire["scope_states"]  # only the accounts whose own state the file sets
    if not book.keys() <= configured:
        names = sorted(set(names) | set(book))
    idle = {  # an account the file lists, with no state of its own and nothing in the book: the firm's state
        "trading_state": firm_name,
        "runtime_state": _STATE_NAMES[0],
        "configured": True,
        "open_orders": 0,
        "open_notional": money(0),
        "traded_notional": money(0),
    }
    accounts: dict[str, Any] = {}
    for name in names:
        row = book.get(name)
        scope_state = scope_states.get(name)
        if row is None and scope_state is None and name in configured:
            accounts[name] = dict(idle)
            continue
        _, runtime, open_orders, open_notional, traded_notional = row or (name, 0, 0, 0, 0)
        state = firm
        if scope_state is not None:
            state = max(state, scope_state)
        state = max(state, runtime)
        accounts[name] = {
            "trading_state": _STATE_NAMES[state],
            "runtime_state": _STATE_NAMES[runtime],
            "configured": name in configured,
            "open_orders": open_orders,
            "open_notional": money(open_notional),
            "traded_notional": money(traded_notional),
        }
        if runtime:
            accounts[name].update(_runtime_fields(notes.get(name)))
    return {
        **wire["fixed"],
        "reference_as_of": as_of or None,
        "last_reload": last_reload,
        "not_applied": not_applied,
        "trading_state": {
            "firm": firm_name,
            "firm_runtime": _STATE_NAMES[firm_runtime],
            **(_runtime_fields(notes.get("")) if firm_runtime else {}),
            **wire["trading_state"],
        },
        "accounts": accounts,
        "open_orders": sum(row[2] for row in rows),
        "orders_tracked": orders_tracked,
        "configured": wire["configured"],
        "internal_errors": internal_errors,
        "position_adjustments": adjustments,
        "warnings": wire["warnings"],
    }


def assemble_trading_scopes(wire: dict[str, Any], raw: Any) -> TradingScopes:
    """Return ``RiskEngine.trading_scopes()`` from ``status_wire`` and ``trading_scopes_raw`` (as they are, or after
    a MessagePack round trip): the one builder for the document the gateway builds and the snapshot's reader.

    An account the file lists with no state of its own and no kill is at the firm's state: the loop sends only the
    others (``trading_scopes_raw``), so what it sends does not grow with the accounts that did nothing.
    """
    firm_runtime, killed_rows = raw
    firm = max(wire["default_state"], firm_runtime)
    counts = {("firm", 1): int(firm == 1), ("firm", 2): int(firm == 2), ("account", 1): 0, ("account", 2): 0}
    counts.update(((kind, state), count) for kind, state, count in wire["scope_counts"])
    names: list[str] = wire["account_names"]
    own_states: dict[str, int] = dict(wire["scope_states"])
    killed = 0
    for name, runtime in killed_rows:
        if runtime:
            killed += 1
            own_states[name] = max(own_states.get(name, 0), runtime)
        else:
            own_states.setdefault(name, 0)  # a book account the file does not list (a start position)
    firm_name = _STATE_NAMES[firm]
    accounts = [(name, firm_name) for name in names if name not in own_states]
    for name, own in own_states.items():
        if own:
            counts["account", own] += 1
        accounts.append((name, _STATE_NAMES[max(own, firm)]))
    rows = [(kind, _STATE_NAMES[state], count) for (kind, state), count in counts.items()]
    return {"firm": int(firm_runtime != 0), "account": killed}, rows, accounts


def _kept(copy: InForceCopy, prepared: bool, raw: bytes | None) -> str:
    """Commit ``copy`` after a switch; return why it is not kept: whatever it raises is that, not the reload's fate.

    ``raw``: what the copy should hold (None: no copy), written again once it can be (``InForceCopy.owed``).
    """
    try:
        return copy.commit(prepared, raw)
    except Exception as exc:  # the limits are in force: never answered refused for their copy (riskreload57)
        log.exception("risk cannot keep %s in force %s", copy.what, copy.path)
        copy.owed_copy = (raw,)
        return f"cannot keep {copy.what} in force {copy.path}: {type(exc).__name__}: {exc}"


def _unnoted(copy: InForceCopy) -> str:
    """Remove a held-back note left beside ``copy`` (its file was applied); return why it is left there ("")."""
    if not copy.note_path.exists() and copy.owed_note is None:
        return ""
    try:
        return copy.clear_note()
    except Exception as exc:  # never the reload's fate (``_kept``)
        copy.owed_note = (None,)
        return f"the note {copy.note_path} cannot be removed: {type(exc).__name__}: {exc}"


def _reference_field(field: str) -> bool:
    """Return True for a change of the reference-price file (``_changes``)."""
    return field == "reference_file" or field.startswith(("reference_file.", "reference_file["))


def _swapped_to(file: str, decided_real: str | None, read_id: int) -> bool:
    """Return True if ``file`` resolves now to another file than at the watch's look (``decided_real``), and that
    file is the one read (``read_id``): a symlink on the path was swapped to it, the watch's ``swapped`` rule."""
    if decided_real is None:
        return False
    real = os.path.realpath(file)
    if real == decided_real:
        return False
    try:
        return file_id(os.stat(real)) == read_id
    except OSError:
        return False


def _changes(previous: LimitsFile, limits: LimitsFile) -> list[Change]:
    """Return what ``limits`` changes over ``previous``, field by field (the reload's audit record)."""
    changes = diff_trees(previous.display, limits.display)
    changes += diff_trees(previous.reference_display, limits.reference_display, ("reference_file",))
    return changes


class ReaderRetry:
    """Content a watch reload's reader process gave no verdict on (``RiskEngine._reader_failed``): read again."""

    def __init__(self, key: tuple[str, str | None]) -> None:
        self.key = key
        """(sha256 of the limits file's bytes, the reference file's as last seen)."""
        self.attempts = 0
        """Reads of it that gave no verdict."""
        self.due_ns: int | None = None
        """When to read it again (the engine's clock); None: not (under way, or given up)."""


class PendingReload:
    """A reload under way: what reading the files needs, then what was read (``RiskEngine.begin_reload``)."""

    def __init__(
        self,
        trigger: str,
        who: str,
        path: Path,
        wall_now: datetime.datetime,
        known: KnownNames | None,
        keep: Parsed[ReferencePriceDocument] | None,
        signature: Signature | None,
    ) -> None:
        self.trigger = trigger
        self.who = who
        self.path = path
        self.wall_now = wall_now
        self.known = known
        self.keep = keep
        """The reference prices in force, kept as they are (the file watch: modified in place), or None."""
        self.signature = signature
        """The limits file's signature before reading (what the watch then counts as seen)."""
        self.reference_before: tuple[Path | None, Signature | None] = (None, None)
        """The reference-price file in force and its signature before reading: what the watch counts as seen when
        the new limits name the same file (one replaced during the read is then seen as the replacement it is)."""
        self.previous: LimitsFile | None = None
        """The limits in force when the reload began: ``read`` diffs the new ones against them."""
        self.hashes: dict[Path, str | None] = {}
        """A refused read: the hash of each file it judges (the limits file, the reference-price file in force),
        taken in ``read``'s thread right after the read, so that the loop does not read them (risk60)."""
        self.changes: list[Change] = []
        self.limits: LimitsFile | None = None
        self.problems: list[Problem] = []
        self.result: ReloadResult | None = None
        """Set when nothing is to be read (a watch reload held back)."""
        self.copy: InForceCopy | None = None
        """Where the gateway keeps a copy of the limits in force (``read`` prepares the new one)."""
        self.copy_ready = False
        self.reference_copy: InForceCopy | None = None
        """Where the gateway keeps a copy of the reference prices in force (``read`` prepares the new one)."""
        self.reference_ready = False
        self.status: LoadStatus | None = None
        """The per-load status parts of ``limits``, staged before the switch (``RiskEngine.stage_status``)."""
        self.reader: list[str] | None = None
        """The command of a reader process (``risk.reader``) that reads and checks the files; None: in this process
        (start-up, ``RiskEngine.reload``). The gateway sets it for the reloads it runs off its event loop."""
        self.reader_timeout_s = READER_TIMEOUT_S
        self.reader_control = ReaderControl()
        """Its ``stop`` kills the reader process (the gateway stops: the reload is refused, nothing waits for it)."""
        self.reader_failed = ""
        """sha256 of the limits file's bytes the reader process gave no verdict on (``ReaderFailedError``); "": none."""
        self.decided: tuple[Signature, str] | None = None
        """A watch reload (risk62): the limits file's signature and sha256 at the watch's last look, the version it
        decided; ``read`` reads nothing else (``unread``)."""
        self.decided_reference: DecidedReference | None = None
        """A watch reload: the reference-price file in force, the sha256 of the version the watch decided, and the
        prices in force, used instead of a version read with other bytes (``LimitsFile.reference_skipped``)."""
        self.unreadable = ""
        """A watch reload: the limits file could not be read (removed since the look: the error); nothing else was
        read (``RiskEngine.prepare_switch``: the reload is put off, the watch decides the path next)."""
        self.reference_real: str | None = None
        """A watch reload: the file the reference-price path resolved to at the watch's last look (a symlink)."""
        self.unread: tuple[str, Signature] | None = None
        """The limits file's bytes read were not the version the watch decided: their sha256 and signature (taken
        before the read); nothing else was read (``RiskEngine.prepare_switch``: written in place, or replaced)."""

    def read(self) -> None:
        """Read and check the files; touch no engine state (the gateway runs this in a worker thread).

        A watch reload reads only the versions the file watch decided (risk62): limits bytes that are not that
        version are not read further (``unread``); a reference-price file read with other bytes is not used, the
        prices in force stay (``read_limits(decided_reference=...)``). The bytes are hashed where they are read
        (here, or in the reader process): nothing more crosses to the reader process than before.
        """
        if self.result is not None:
            return
        raw: bytes | None = None
        if self.decided is not None:
            try:
                raw, signature = read_identified(self.path)
            except OSError as exc:  # gone (rm) since the look: never read the path again, a new file may be written
                self.unreadable = str(exc)
                return
            else:
                digest = hashlib.sha256(raw).hexdigest()
                if digest != self.decided[1]:
                    self.unread = (digest, signature)
                    return
        try:
            if self.reader is not None:  # in a reader process (risk.reader): the GIL stays the event loop's
                limits, changes = read_in_child(
                    self.path,
                    self.wall_now,
                    self.known,
                    self.keep,
                    self.previous,
                    command=self.reader,
                    timeout_s=self.reader_timeout_s,
                    control=self.reader_control,
                    raw=raw,
                    decided=self.decided_reference,
                )
                self.limits = limits
                if self.previous is not None:
                    self.changes = changes
            else:
                limits = self.limits = read_limits(
                    self.path,
                    self.wall_now,
                    self.known,
                    self.keep,
                    start_up=False,
                    content=raw,
                    decided_reference=self.decided_reference,
                )
                if self.previous is not None:
                    self.changes = _changes(self.previous, limits)
            if self.copy is not None:
                self.copy_ready = self.copy.prepare(limits.raw)
            reference = limits.reference_parsed
            if (
                self.reference_copy is not None
                and reference is not None
                and reference is not self.keep
                and limits.reference_skipped is None  # the prices in force stay: their copy too
            ):
                self.reference_ready = self.reference_copy.prepare(reference.raw)
        except ReaderFailedError as exc:  # no verdict on the file: the watch reads it again (``_reader_failed``)
            self.problems = exc.problems
            self.reader_failed = exc.sha256 or "?"
        except LimitsFileError as exc:
            self.problems = exc.problems
        except Exception as exc:  # a bug while reading: refuse, never crash the gateway
            log.exception("risk reload crashed")
            self.problems = [Problem(str(self.path), 0, 0, "", f"internal error while reading: {exc!r}")]
        if self.limits is None and not self.reader_failed:  # refused: what the watch then counts as judged
            in_force_reference = self.previous.reference_path if self.previous is not None else None
            for judged in (self.path, in_force_reference):
                if judged is not None:
                    self.hashes[judged] = _file_hash(judged)


class PendingSwitch:
    """A reload's switch under way (``RiskEngine.prepare_switch``): its audit record, then what its disk work did."""

    def __init__(self, pending: PendingReload) -> None:
        self.pending = pending
        self.result: ReloadResult | None = None
        """Set when there is nothing to write or apply (refused, held back): the reload's outcome."""
        self.limits: LimitsFile | None = None
        self.previous: LimitsFile | None = None
        self.kept = False
        self.reference_signature: Signature | None = None
        self.changes: list[Change] = []
        self.warnings: list[str] = []
        self.record: dict[str, Any] = {}
        self.record_ns = 0
        """When a refused reload's record was made (``prepare_switch``): its ``time`` once written."""
        self.audit_error: OSError | None = None
        """The audit log refused the record (``write_switch``): the reload is not applied."""
        self.copy_problem = ""
        self.copy_record: dict[str, Any] = {}
        """The ``reload_copy_not_kept`` audit record of an applied reload whose copy is not kept (``keep_copies``)."""


class RiskEngine:
    """Pre-trade risk for the whole gateway: limits, checks, exposure, reload, audit."""

    def __init__(
        self,
        limits: LimitsFile,
        clock: NowNs = monotonic_ns,
        audit: AuditLog | None = None,
        wall_clock: WallClock = time.time_ns,
        known: KnownNames | None = None,
    ) -> None:
        self._known = known
        """The gateway's strategies and accounts; reloads check the file's names against them."""
        self._clock = clock
        self._wall_clock = wall_clock
        self._audit = audit
        self._gateway_id: str | None = None
        """Written into every audit record when set (``load``): whose record it is in a shared audit log."""
        self._file = limits
        self._start_positions_sha256 = limits.positions_sha256
        """The start-of-day positions file as read at start-up (a reload says when it changed since)."""
        self._resolver = Resolver(limits.document)
        self._rows: dict[str, dict[str, dict[str, LimitsRow]]] = {}
        """account -> strategy -> symbol -> the resolved limits as native fields (``LimitsRow``); a new
        limits file starts it over."""
        self._rows_cached = 0
        self._book = ExposureBook()
        self._no_account = AccountState()
        """What a check reads for an account the book holds nothing for: never written, never in the book."""
        self._flat = PositionState()
        """What a check reads for a position the book does not hold: never written, never in the book. A
        check only reads; the book's rows are made when an order is counted (or a fill or correction comes)."""
        self._references = ReferenceBook()
        self._duplicates = DuplicateFilter()
        self._order_windows: Windows = ({}, {}, {})
        self._cancel_windows: Windows = ({}, {}, {})
        self._request = RiskRequest(self._order_windows, self._cancel_windows, self._duplicates)
        self._request.state_scopes = self._state_scopes
        self._firm_runtime_state = 0
        self._runtime_notes: dict[str | None, tuple[str, str, str]] = {}
        """(trigger, who, reason) of each run-time state other than ACTIVE, by account (None: firm-wide)."""
        self._loaded_at_ns = wall_clock()
        self._last_reload: dict[str, Any] | None = None
        self._status_cache: tuple[LimitsFile, int, dict[str, Any]] | None = None
        self._staged_status: LoadStatus | None = None
        """The per-load status parts a reload staged for the limits it put in force (``stage_status``)."""
        """(load key, the parts of ``status`` only a load changes)."""
        self.retire: Callable[[object], None] | None = None
        """Takes the limits a reload replaced (the gateway frees them a slice per loop iteration:
        ``gateway.release``); None: they are freed when the reload drops them, in one go."""
        self.passes_new: Callable[[RiskRequest], bool] = passes_new
        """The one-function pass over the new-order checks (a test injects one that raises)."""
        self.new_order_chain: tuple[Check, ...] = NEW_ORDER_CHAIN
        """The new-order checks one by one: they word a denial ``passes_new`` found, and explain."""
        self.replace_chain: tuple[Check, ...] = REPLACE_CHAIN
        """The replace checks."""
        self.internal_errors = 0
        """Checks that raised (each refused the order with INTERNAL_ERROR and was logged)."""
        self.position_adjustments = 0
        """Position corrections applied since start, those re-applied from the journal included."""
        self._references.configure(limits.document.reference_prices, limits.reference, clock(), self._wall_now())
        self._observed: dict[Path, tuple[Signature | None, str | None]] = {}
        """Per watched file: (signature, content hash) when the watch last looked."""
        self._observed_fd: dict[Path, int] = {}
        """Per watched file: the version the watch last looked at, held open (``risk.filewatch``)."""
        self._observed_real: dict[Path, str | None] = {}
        """Per watched file: the file its path resolved to at the last look (a change: a symlink swapped)."""
        self._renames: RenameWatch | None = None
        """Inotify on the watched files' directories (the process's one, from the first judged file)."""
        self.look_in_thread: LookInThread | None = None
        """Where the watch reads and hashes a file larger than ``INLINE_BYTES`` (the gateway: a worker thread), so
        that a look never reads more than that where it runs (the event loop); None: in the calling thread."""
        self._looking: dict[Path, _Looking] = {}
        """Per watched file: its look under way in ``look_in_thread`` (decided at the first look after it ends)."""
        self._judged_ino: dict[Path, int | None] = {}
        """Per watched file: its file id (device, inode) when a load or reload last read it (None: missing).
        The same id with other content means the file was modified in place, which the watch never applies."""
        self._in_place: dict[str, dict[str, str]] = {}
        """``"limits"`` / ``"reference"`` -> {file, since, sha256} while modified in place and not applied."""
        self._held: set[str] = set()
        """Replaced files the watch holds back while another file is modified in place."""
        self._positions_notice: dict[str, Any] | None = None
        """The start-of-day positions in force if not those the day's first start read (startup record, status)."""
        self._late: list[dict[str, Any]] = []
        self._audit_held = False
        """A reload's record is being written in a worker thread: other records wait in ``_audit_queue``."""
        self._audit_queue: list[tuple[dict[str, Any], int]] = []
        self.reloads_applied = 0
        """Reloads that put new limits in force (``gateway_risk_reloads_total{outcome="applied"}``)."""
        self.reloads_refused = 0
        """Reloads refused: a bad file, an audit log that cannot be written, a file modified in place (``refused``)."""
        """Audit records not yet written (the audit log was not writable): written first, marked late."""
        self._judged_hash: dict[Path, str | None] = {}
        """Per watched file: the hash of what a load or reload last read there (None: missing)."""
        self._judged_fd: dict[Path, int] = {}
        """Per watched file: the judged file, held open so that its inode number is not reused."""
        self._copy: InForceCopy | None = None
        """The copy of the limits in force kept in the state directory (``load(keep=...)``), or None."""
        self._copies: dict[str, InForceCopy] = {}
        self._kept_copies: tuple[InForceCopy, ...] = ()
        """Every copy kept in the state directory: those a failed write left owed are written again (``keep_owed``)."""
        """``"limits"`` / ``"reference"`` -> the copy of that file in force (``load(keep=...)``)."""
        self._noted_ids: dict[str, int] = {}
        """Per file (``"limits"``, ``"reference"``): the file id held back as noted beside its copy."""
        self._noted_sha: dict[str, str] = {}
        """Per file: the held-back content (sha256) the note beside its copy names (noted again when it changes)."""
        self._retry: ReaderRetry | None = None
        """The content a watch reload's reader process gave no verdict on, read again until one (``_reader_failed``)."""
        self.reader_retry_first_s = READER_RETRY_FIRST_S
        self.reader_retry_max_s = READER_RETRY_MAX_S
        self.reader_retries = READER_RETRIES
        if limits.positions is not None:
            for account, symbols in limits.positions.accounts.items():
                for symbol, qty in symbols.items():
                    self.set_start_position(account, symbol, qty)

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(
        cls,
        path: str | Path,
        clock: NowNs = monotonic_ns,
        audit_log_path: str | Path | None = None,
        *,
        wall_clock: WallClock = time.time_ns,
        who: str = "gateway",
        known: KnownNames | None = None,
        keep: str | Path | None = None,
        trading_day: Callable[[int], datetime.date] | None = None,
        gateway_id: str | None = None,
    ) -> RiskEngine:
        """Load and validate the limits at ``path``; raise ``LimitsFileError`` listing every problem.

        The gateway must refuse to start on that error (or on ``OSError`` from an audit log it
        cannot open). On success a ``startup`` record is written to the audit log. With ``known``
        (the gateway config's strategies), this load and every reload check the file's names.
        With ``keep`` (a path in the gateway's state directory), a copy of the limits in force is kept
        there (``risk.inforce``): a file the watch held back (modified in place) when the gateway stopped
        is not put in force by the start, the copy is, and the file stays NOT APPLIED.
        ``trading_day`` (wall clock ns -> date): the session date the start-of-day positions are kept for, the
        gateway's trading day (its journal's, ``journal.timezone``: ``gateway.trading_day``), and the dates the
        positions' staleness warning is judged by (killstop56); None: the host's local date (``session_day``).
        ``gateway_id``: written into every audit record (``gateway_id``), so that gateways sharing one audit log
        tell their records apart (killstop56b: the start re-applies only this gateway's kills).
        """
        limits_path = Path(path)
        signature = _file_signature(limits_path)
        wall_now = datetime.datetime.fromtimestamp(wall_clock() / 1e9, tz=datetime.UTC)
        copies = Copies.beside(Path(keep)) if keep is not None else None
        copy = copies.limits if copies is not None else None
        if audit_log_path is not None:
            check_regular(audit_log_path)  # a FIFO there: refused before anything is read (ops59b)
        word = last_word(audit_log_path, gateway_id) if copies is not None else NO_WORD
        not_kept = copy_not_kept(audit_log_path, gateway_id, copies, word) if copies is not None else None
        stale, stale_ref = (not_kept["sha256"], not_kept.get("reference_sha256")) if not_kept else (None, None)
        held = (
            copy.held_back(limits_path, signature[2] if signature else None, stale, audited_note(word, limits_path))
            if copy is not None
            else None
        )
        held_ref = (
            held_reference(copies.reference, stale_ref, audited_reference(word, limits_path))
            if copies is not None
            else None
        )
        # A held-back state may be recorded in an audit file not read: fail closed (ops59b), unless the note kept
        # beside the copy names the file on disk as held back (ops59c: the note tells, the copy goes in force).
        noted = held is not None and held.note is None
        unread = (
            unread_problem(word, audit_log_path, limits_path, copies.limits.path)
            if copies is not None and not noted
            else None
        )
        if unread is not None:
            raise LimitsFileError([unread])
        wall_ns = wall_clock()
        today = trading_day(wall_ns).isoformat() if trading_day is not None else session_day(wall_ns)
        day = day_positions(copies.positions, copies.positions_latest, today) if copies is not None else NO_DAY
        try:
            limits = read_limits(
                limits_path,
                wall_now,
                known,
                held_ref[1] if held_ref is not None else None,
                content=held.raw if held is not None else None,
                keep_positions=day.parsed(),
                trading_day=trading_day,
            )
            kept = day.in_force(limits)
        except LimitsFileError as exc:
            if held is not None and copy is not None:
                exc.problems.insert(
                    0,
                    Problem(
                        str(copy.path),
                        0,
                        0,
                        "",
                        f"the copy of the limits in force when the gateway stopped (put in force because {limits_path} "
                        "was modified in place and NOT applied) is not valid now: mv a complete file over the path",
                    ),
                )
            raise
        reference_kept = held_ref is not None and limits.reference_parsed is held_ref[1]
        if (
            copies is not None
            and limits.reference_path is not None
            and not (held_ref is not None and reference_kept and held_ref[0].note is None)
        ):
            unread = unread_problem(
                word, audit_log_path, limits.reference_path, copies.reference.path, "reference prices"
            )
            if unread is not None:  # the same rule for the reference-price file and its copy (ops59c)
                raise LimitsFileError([unread])
        down = None
        if copies is not None and held is None:
            down = changes_while_down(limits, copies, reference_kept, not_kept)
        reference_signature = _read_signature(limits, (None, None))
        audit = AuditLog(audit_log_path) if audit_log_path is not None else None
        engine = cls(limits, clock, audit, wall_clock, known)
        engine._gateway_id = gateway_id
        engine._copy = copy
        if copies is not None:
            engine._copies = {"limits": copies.limits, "reference": copies.reference}
        engine._judge(limits_path, signature, limits.sha256)
        if limits.reference_path is not None:
            engine._judge(limits.reference_path, reference_signature, limits.reference_sha256)
        warnings = list(limits.summary)  # a kind with many (an account per line) summarised in one
        for warning in warnings:
            log.warning("risk limits: %s", warning)
        extra: dict[str, Any] = {}
        if down is not None:
            log.warning("risk %s", down.warning)
            warnings.append(down.warning)
            extra = {
                "previous_sha256": down.previous_sha256,
                "previous_reference_sha256": down.previous_reference_sha256,
                "changes": [msgspec.to_builtins(c) for c in down.changes],
            }
        if held is not None and copy is not None and signature is not None:
            engine._in_place["limits"] = {"file": str(limits_path), "since": held.since, "sha256": held.disk_sha256}
            engine._noted_ids["limits"] = signature[2]
            message = (
                f"{limits_path} was modified in place and NOT applied before the gateway stopped: its content "
                f"(sha256 {held.disk_sha256}) is still NOT APPLIED; the limits in force when it stopped (sha256 "
                f"{held.sha256}, kept in {copy.path}) are in force: write a copy and mv it over, or run "
                "`gateway risk reload` when the write is complete"
            )
            log.warning("risk %s", message)
            warnings.append(message)
        copy_problems = []
        if copy is not None and (held is None or signature is None):
            copy_problems.append(copy.save(limits.raw))  # logged; never raised: the limits are in force
            copy_problems.append(copy.clear_note())
        elif copy is not None and held is not None and held.note is not None:
            copy_problems.append(copy.write_note(held.note))  # the audit log stood for it (audit58b)
        if copies is not None:
            copy_problems.append(
                engine._start_reference(limits, copies.reference, held_ref if reference_kept else None, warnings)
            )
            copy_problems.append(engine._start_positions(limits, copies, day, kept, today, warnings))
            if engine._positions_notice is not None:
                extra["start_positions"] = engine._positions_notice
            engine._kept_copies = tuple(copies)
        copy_problem = "; ".join(problem for problem in copy_problems if problem)
        if copy_problem:  # the next start knows the copies left are stale (``copy_not_kept``; riskreload57)
            extra["copy_problem"] = copy_problem
            warnings.append(
                f"the copy of the limits in force in the state directory is NOT kept ({copy_problem}): the gateway "
                "writes it again as soon as the state directory can be written (at the file watch's next tick, and "
                "at a clean stop: `risk the copies in force are kept again`); until then a restart while a file is "
                "NOT APPLIED refuses to start where the copy left is stale or missing (fail closed), and knows the "
                "limits in force only from the risk audit log (rotate it at most twice before the restart, and keep "
                "the rotated files uncompressed: a compressed one is not read); make the state directory writable "
                "again"
            )
        engine._write_audit(
            {
                "event": "startup",
                "trigger": "startup",
                "who": who,
                **engine._file_fields(limits),
                **extra,
                "warnings": warnings,
            }
        )
        if held is not None and copy is not None:  # the file on disk is NOT APPLIED: name what the hash is of
            log.info(
                "risk limits loaded from %s, the copy in force of %s (sha256 %s; the file itself, NOT APPLIED, "
                "sha256 %s)",
                copy.path,
                limits_path,
                limits.sha256,
                held.disk_sha256,
            )
        else:
            log.info("risk limits loaded from %s (sha256 %s)", limits_path, limits.sha256)
        return engine

    def _start_reference(
        self,
        limits: LimitsFile,
        copy: InForceCopy,
        held: tuple[HeldBack, Parsed[ReferencePriceDocument], int] | None,
        warnings: list[str],
    ) -> str:
        """Keep the reference-price file held back when the gateway stopped flagged; else copy the one read.

        Returns why that copy is not kept ("" if it is or nothing was to be copied; ``InForceCopy.commit``)."""
        path = limits.reference_path
        if held is not None and path is not None:
            back = held[0]
            self._in_place["reference"] = {"file": str(path), "since": back.since, "sha256": back.disk_sha256}
            self._noted_ids["reference"] = held[2]
            message = (
                f"{path} was modified in place and NOT applied before the gateway stopped: its content "
                f"(sha256 {back.disk_sha256}) is still NOT APPLIED; the reference prices in force when it stopped "
                f"(sha256 {back.sha256}, kept in {copy.path}) are in force: write a copy and mv it over, or run "
                "`gateway risk reload` when the write is complete"
            )
            log.warning("risk %s", message)
            warnings.append(message)
            return copy.write_note(back.note) if back.note is not None else ""  # the audit log stood for it
        parsed = limits.reference_parsed
        problem = copy.commit(copy.prepare(parsed.raw) if parsed is not None else False, parsed.raw if parsed else None)
        return "; ".join(p for p in (problem, copy.clear_note()) if p)

    def _start_positions(
        self,
        limits: LimitsFile,
        copies: Copies,
        day: DayPositions,
        kept: KeptPositions | None,
        today: str,
        warnings: list[str],
    ) -> str:
        """Say which start-of-day positions are in force if not those the day's first start read; note them.

        Returns why their copy is not kept ("" if it is: ``keep_positions``)."""
        outcome = positions_outcome(limits, day, kept, copies.positions.path)
        if outcome.warning:
            log.warning("risk %s", outcome.warning)
            warnings.append(outcome.warning)
        self._positions_notice = outcome.record
        if kept is not None and limits.positions_path is not None:
            self._in_place["positions"] = {
                "file": str(limits.positions_path),
                "since": kept.modified,
                "sha256": kept.disk_sha256,
                "advice": f"start-of-day positions are read at start-up only: the positions read at "
                f"{kept.note.get('since', '?')} are in force; mv a complete file over the path, it is read at the "
                "next start",
            }
        return keep_positions(limits, day, kept, copies, today, utc_text(self._wall_clock()))

    @property
    def limits_file(self) -> LimitsFile:
        """Return the limits in force."""
        return self._file

    # ------------------------------------------------------------------ RiskGate (hot path)

    def check_and_commit_new(self, order: Order, now_ns: int) -> Denial | None:
        """Decide on a new order; on acceptance count it (rate, duplicates, exposure) at once."""
        try:
            return self.check_new(
                order,
                order.order_id,
                order.account,
                order.strategy_id,
                order.symbol,
                order.side,
                order.ord_type,
                order.qty,
                order.price,
                order.cum_qty,
                now_ns,
            )
        except Exception:
            return self._internal_error("check_and_commit_new", order)

    def check_new(
        self,
        order: Order,
        order_id: int,
        account_name: str,
        strategy: str,
        symbol: str,
        side: Side,
        ord_type: OrderType,
        qty: int,
        price: int,
        cum_qty: int,
        now_ns: int,
    ) -> Denial | None:
        """Do ``check_and_commit_new`` for ``order``, whose fields are given (the core's compiled path passes them).

        Compiled, the engine calls this natively with the fields it holds: each read of the ``Order`` (a
        Struct) from compiled code is a generic attribute lookup.
        """
        try:
            try:  # the rows, subscripted: no call for a key seen before (the steady state)
                row: LimitsRow | None = self._rows[account_name][strategy][symbol]
            except KeyError:
                row = self._row(account_name, strategy, symbol)
            if row is None:
                return self._unknown_account(account_name)
            limits = row.limits
            # _prepare(..., NEW), inline (keep the two alike): the reused request filled for the order as it stands
            request = self._request
            request.kind = NEW
            request.limits = limits
            request.row = row
            request.now_ns = now_ns
            request.account = account_name
            request.strategy = strategy
            request.symbol = symbol
            request.side = side
            is_buy = side == _BUY
            request.is_buy = is_buy
            try:  # subscripts, no method calls: known accounts and positions are the steady state
                account = self._book.accounts[account_name]
            except KeyError:
                account = self._no_account  # read only: a refused order leaves no row behind
            try:
                position = account.positions[symbol]
            except KeyError:
                position = self._flat
            request.account_state = account
            request.position = position
            state = limits.trading_state
            if account.runtime_state > state:  # noqa: PLR1730  (hot path: cheaper than max())
                state = account.runtime_state
            if self._firm_runtime_state > state:  # noqa: PLR1730
                state = self._firm_runtime_state
            request.state = state
            is_market = ord_type == _MARKET
            request.is_market = is_market
            references = self._references  # references.lookup(symbol, now_ns), inline (keep the two alike)
            reference = MISSING
            fresh = False
            if references.use_last_trade:  # the last trade wins while it is fresh
                last = references._last_prices.get(symbol)
                if last is not None:
                    if now_ns - references._last_ns[symbol] <= references.max_age_ns:
                        reference = last
                        fresh = True
                    else:
                        reference = STALE
            if not fresh:  # else the file's price, while the file is fresh
                file_price = references._file_prices.get(symbol)
                if file_price is not None:
                    reference = file_price if now_ns < references._file_expiry_ns else STALE
            request.reference = reference
            if is_market:  # valued at the reference; its own price (0) stays the order's, for open_new below
                request.price = 0
                value_price = reference if reference > 0 else 0
            else:
                request.price = price
                value_price = price
            request.qty = qty
            request.value_price = value_price
            leaves = qty - cum_qty
            request.leaves = leaves
            request.old_leaves = 0
            request.add_qty = leaves
            request.add_notional = leaves * value_price
            window = row.duplicate_window_ns
            passes = self.passes_new  # every check before the duplicate filter, in one function
            if passes_new(request) if passes is _PASSES_NEW else passes(request):  # compiled: a native call
                if window > 0:  # without a window check_duplicate passes and notes nothing
                    denial = check_duplicate(request, None)
                    if denial is not None:
                        return denial
                if not self._count_order_rate(request, row, now_ns):  # the order-rate check, counted if passed
                    return check_order_rate(request, None)  # decides again (nothing was counted) and words it
            else:
                for check in self.new_order_chain:
                    denial = check(request, None)
                    if denial is not None:
                        return denial
                self._record_rate(self._order_windows, request, limits, now_ns, cancels=False)
            # count the accepted order at once: (rate counters above), duplicate filter, open exposure
            if window > 0:
                self._duplicates.record(request.duplicate_key, now_ns, window)
            if position is self._flat:  # the key's first counted order: its rows are made now
                if account is self._no_account:
                    account = self._book.account(account_name)
                position = self._book.position(account, symbol)
            self._book.open_new(
                order,
                order_id,
                leaves,
                is_buy,
                price,  # the order's own price (a market order's too)
                account,
                position,
                value_price,
            )
            return None
        except Exception:
            return self._internal_error("check_and_commit_new", order)

    def check_replace(self, order: Order, qty: int, price: int, now_ns: int) -> Denial | None:
        """Decide on replacing ``order`` with total ``qty`` at ``price``; reserve the larger exposure."""
        try:
            account_name = order.account
            strategy = order.strategy_id
            symbol = order.symbol
            limits = self._resolver.get(account_name, strategy, symbol)
            if limits is None:
                return self._unknown_account(account_name)
            request = self._prepare_replace(order, account_name, strategy, symbol, limits, now_ns, qty, price)
            for check in self.replace_chain:
                denial = check(request, None)
                if denial is not None:
                    return denial
            if request.state < _REDUCING:
                self._record_rate(self._cancel_windows, request, limits, now_ns, cancels=True)
            self._book.reserve_replace(order, qty, price)
            return None
        except Exception:
            return self._internal_error("check_replace", order)

    def check_cancel(self, order: Order, now_ns: int) -> Denial | None:
        """Decide on a cancel: only the cancel-rate throttle may refuse it (never when REDUCING/HALTED)."""
        try:
            account_name = order.account
            strategy = order.strategy_id
            symbol = order.symbol
            limits = self._resolver.get(account_name, strategy, symbol)
            if limits is None:
                return None  # the account left the file: letting its orders be canceled only reduces risk
            side = order.side  # the only field of the order a cancel's checks read
            request = self._prepare(account_name, strategy, symbol, side, _LIMIT, 0, 0, 0, limits, now_ns, CANCEL)
            denial = check_cancel_rate(request, None)
            if denial is not None:
                return denial
            if request.state < _REDUCING:
                self._record_rate(self._cancel_windows, request, limits, now_ns, cancels=True)
            return None
        except Exception:
            self.internal_errors += 1
            log.exception("risk check_cancel failed for order %s: cancel allowed", order.order_id)
            return None

    def check_cancels(self, account_name: str, strategy: str, symbol: str, now_ns: int) -> Denial | None:
        """Decide on a filtered MassCancel's Cancels of ``account_name``'s ``symbol`` orders by the strategy's window.

        Only the strategy's own cancel-rate window may refuse (never when REDUCING/HALTED; the account's and the
        symbol's, shared with other strategies, do not: rev60merge8), as ``check_cancel`` would; nothing is counted
        here: what the MassCancel then sends is (``count_cancels``). An unfiltered MassCancel (the flatten) is never
        checked (docs/risk-officer-guide.md 7). Never raises: a fault allows the cancels (they only reduce risk).
        """
        try:
            limits = self._resolver.get(account_name, strategy, symbol)
            if limits is None:
                return None  # the account left the file: letting its orders be canceled only reduces risk
            request = self._prepare(account_name, strategy, symbol, _BUY, _LIMIT, 0, 0, 0, limits, now_ns, CANCEL)
            return check_strategy_cancel_rate(request, None)
        except Exception:
            self.internal_errors += 1
            log.exception(
                "risk check_cancels failed for strategy %s (%s, %s): cancels allowed", strategy, account_name, symbol
            )
            return None

    def count_cancels(self, account_name: str, strategy: str, symbol: str, count: int, now_ns: int) -> None:
        """Count ``count`` cancels sent without a check (a MassCancel's) in the cancel-rate windows; never refuse.

        A MassCancel only reduces risk: it is never refused or cut short by the throttle, but its Cancels use up the
        strategy's, account's and symbol's cancel budget as single Cancels would, so the Cancels and Replaces after
        it are throttled as the limit says. Not counted while REDUCING or HALTED (as ``check_cancel``).
        """
        try:
            limits = self._resolver.get(account_name, strategy, symbol)
            if limits is None or count <= 0:
                return  # the account left the file: its cancels are not throttled (``check_cancel``)
            account = self._book.accounts.get(account_name)
            account_state = account.runtime_state if account is not None else limits.trading_state
            if max(limits.trading_state, account_state, self._firm_runtime_state) >= _REDUCING:
                return
            by_strategy, by_account, by_symbol = self._cancel_windows
            for windows_of, key, limit in (
                (by_strategy, strategy, limits.cancels_per_strategy),
                (by_account, account_name, limits.cancels_per_account),
                (by_symbol, symbol, limits.cancels_per_symbol),
            ):
                window = windows_of.get(key)
                if window is None:
                    window = windows_of[key] = SlidingWindow()
                window.record_many(now_ns, limit, count)
        except Exception:
            self.internal_errors += 1
            log.exception("risk count_cancels failed for %d cancels of strategy %s: not counted", count, strategy)

    def on_order_opened(self, order: Order) -> None:
        """Count ``order`` as open exposure (idempotent: already counted when its check passed)."""
        try:
            settled = order.pending_qty <= 0 and order.state < _FILLED
            self.on_opened(order, order.order_id, order.price, order.leaves_qty, order.ord_type, settled)
        except Exception:
            self.internal_errors += 1
            log.exception("risk on_order_opened failed for order %s", order.order_id)

    def on_opened(
        self, order: Order, order_id: int, price: int, leaves: int, ord_type: OrderType, settled: bool
    ) -> None:
        """Do ``on_order_opened`` for ``order``, whose fields are given (the core's compiled path passes them).

        ``settled``: no replace pending and not filled (a new order just sent is both).
        """
        try:
            if settled and price > 0:
                book = self._book
                if order_id == book.opened_id:  # check_new's open_new counted it last, nothing recounted since
                    book.opened_id = -1
                    if leaves > 0 and leaves == book.opened_leaves and leaves * price == book.opened_notional:
                        return  # as it stands: what the record test below would find, without reading the record
                try:  # a subscript, no method call: the order was counted when its check passed
                    record: OrderRecord | None = self._book.orders[order_id]
                except KeyError:
                    record = None
                if (
                    record is not None
                    and record.counted_open
                    and leaves > 0
                    and record.leaves == leaves
                    and record.notional == leaves * price
                ):
                    return  # counted as it stands when its check passed: what ``sync`` would leave unchanged
            valuation = 0
            if ord_type == _MARKET and self._book.counted(order) is None:
                valuation = max(self._references.lookup(order.symbol, self._clock()), 0)
            self._book.sync(order, valuation)
        except Exception:
            self.internal_errors += 1
            log.exception("risk on_order_opened failed for order %s", order_id)

    def on_execution(self, order: Order, qty: int, price: int) -> None:
        """Apply a fill to the position, the day's traded notional, open exposure and the last trade."""
        try:
            self._book.fill(order, qty, price)
            self._references.on_trade(order.symbol, price, self._clock())
        except Exception:
            self.internal_errors += 1
            log.exception("risk on_execution failed for order %s", order.order_id)

    def on_replayed_execution(self, order: Order, qty: int, price: int) -> None:
        """Apply a fill replayed from the journal at start-up: as ``on_execution``, but no last trade.

        The journal does not say when the fill happened, so its price is not a reference price: a fill
        replayed after a restart must not count as a fresh last trade (the reference file, or a new trade,
        gives one; until then a collar check is refused as missing or stale).
        """
        try:
            self._book.fill(order, qty, price)
        except Exception:
            self.internal_errors += 1
            log.exception("risk on_replayed_execution failed for order %s", order.order_id)

    def on_open_changed(self, order: Order, prev_leaves: int, prev_price: int) -> None:
        """Recount open exposure from the order's fields (cancel, replace, reject, refused replace)."""
        del prev_leaves, prev_price  # the engine keeps what it counted per order; no drift possible
        try:
            self._book.sync(order)
        except Exception:
            self.internal_errors += 1
            log.exception("risk on_open_changed failed for order %s", order.order_id)

    # ------------------------------------------------------------------ hot-path helpers

    def _prepare(
        self,
        account_name: str,
        strategy: str,
        symbol: str,
        side: Side,
        ord_type: OrderType,
        qty: int,
        price: int,
        cum_qty: int,
        limits: EffectiveLimits,
        now_ns: int,
        kind: int,
    ) -> RiskRequest:
        """Fill the reused request for an order as it stands (a new order, or the target of a cancel or replace).

        ``check_new`` fills it for a new order itself, the same way (keep the two alike).

        The arguments are the order's fields, which every caller has read already (a cancel reads only the
        side: ``ord_type``, ``qty``, ``price`` and ``cum_qty`` are not used for one).
        """
        request = self._request
        request.kind = kind
        request.limits = limits
        request.now_ns = now_ns
        request.account = account_name
        request.strategy = strategy
        request.symbol = symbol
        request.side = side
        request.is_buy = side == _BUY
        try:  # subscripts, no method calls: known accounts and positions are the steady state
            account = self._book.accounts[account_name]
        except KeyError:
            account = self._no_account  # read only: a refused order leaves no row behind
        try:
            position = account.positions[symbol]
        except KeyError:
            position = self._flat
        request.account_state = account
        request.position = position
        state = limits.trading_state
        if account.runtime_state > state:  # noqa: PLR1730  (hot path: cheaper than max())
            state = account.runtime_state
        if self._firm_runtime_state > state:  # noqa: PLR1730
            state = self._firm_runtime_state
        request.state = state
        if kind == CANCEL:
            return request
        is_market = ord_type == _MARKET
        request.is_market = is_market
        reference = self._references.lookup(symbol, now_ns)
        request.reference = reference
        if is_market:
            price = 0
            value_price = reference if reference > 0 else 0
        else:
            value_price = price
        request.qty = qty
        request.price = price
        request.value_price = value_price
        leaves = qty - cum_qty
        request.leaves = leaves
        request.old_leaves = 0
        request.add_qty = leaves
        request.add_notional = leaves * value_price
        return request

    def _prepare_replace(
        self,
        order: Order,
        account_name: str,
        strategy: str,
        symbol: str,
        limits: EffectiveLimits,
        now_ns: int,
        qty: int,
        price: int,
    ) -> RiskRequest:
        """Fill the request for a replace: new totals, and exposure as the change over what is counted."""
        request = self._prepare(
            account_name,
            strategy,
            symbol,
            order.side,
            order.ord_type,
            order.qty,
            order.price,
            order.cum_qty,
            limits,
            now_ns,
            REPLACE,
        )
        if not request.is_market:
            request.price = request.value_price = price
        request.qty = qty
        leaves = qty - order.cum_qty
        request.leaves = leaves
        record = self._book.orders.get(order.order_id)
        old_leaves = record.leaves if record is not None else 0
        old_notional = record.notional if record is not None else 0
        request.old_leaves = old_leaves
        request.add_qty = leaves - old_leaves
        request.add_notional = leaves * request.value_price - old_notional
        return request

    def _row(self, account: str, strategy: str, symbol: str) -> LimitsRow | None:
        """Resolve a key's limits and keep them as a ``LimitsRow`` (None for an account the file does not list)."""
        limits = self._resolver.get(account, strategy, symbol)
        if limits is None:
            return None
        if self._rows_cached >= MAX_CACHED:
            self._rows.clear()
            self._rows_cached = 0
        row = self._rows.setdefault(account, {}).setdefault(strategy, {})[symbol] = LimitsRow(limits)
        self._rows_cached += 1
        return row

    def _count_order_rate(self, request: RiskRequest, limits: LimitsRow, now_ns: int) -> bool:
        """``check_order_rate`` and, if it passes, ``_record_rate`` for a new order, in one pass.

        The three windows are looked up once for both: False (nothing counted) when one more order
        would break a limit, as ``check_order_rate`` decides; True once the order is counted in all
        three, as ``_record_rate`` counts it.
        """
        by_strategy, by_account, by_symbol = self._order_windows
        per_strategy = limits.orders_per_strategy
        try:  # subscripts, no method calls: a window exists after a key's first order
            strategy_window: SlidingWindow | None = by_strategy[request.strategy]
        except KeyError:
            strategy_window = None
        if strategy_window is None:
            if per_strategy <= 0:
                return False
            strategy_size = 0
        else:  # SlidingWindow.allows inline: the times are strategy_window.times[head:end]
            times = strategy_window.times
            strategy_size = strategy_window.end
            if strategy_size - strategy_window.head >= per_strategy and (
                per_strategy <= 0 or now_ns - times[strategy_size - per_strategy] < ONE_SECOND_NS
            ):
                return False
        per_account = limits.orders_per_account
        try:
            account_window: SlidingWindow | None = by_account[request.account]
        except KeyError:
            account_window = None
        if account_window is None:
            if per_account <= 0:
                return False
            account_size = 0
        else:
            times = account_window.times
            account_size = account_window.end
            if account_size - account_window.head >= per_account and (
                per_account <= 0 or now_ns - times[account_size - per_account] < ONE_SECOND_NS
            ):
                return False
        per_symbol = limits.orders_per_symbol
        try:
            symbol_window: SlidingWindow | None = by_symbol[request.symbol]
        except KeyError:
            symbol_window = None
        if symbol_window is None:
            if per_symbol <= 0:
                return False
            symbol_size = 0
        else:
            times = symbol_window.times
            symbol_size = symbol_window.end
            if symbol_size - symbol_window.head >= per_symbol and (
                per_symbol <= 0 or now_ns - times[symbol_size - per_symbol] < ONE_SECOND_NS
            ):
                return False
        # SlidingWindow.record inline (three calls fewer per order), with the end the check took: a store into a
        # spare slot (no append, no len), then forget only when the oldest time is out of the window or one is
        # beyond the capacity (PRUNE); compiled: the time boxed once for the three lists (each store would box anew)
        now: Any = now_ns
        if strategy_window is None:
            strategy_window = by_strategy[request.strategy] = SlidingWindow(per_strategy)
            strategy_window.record(now_ns, per_strategy)
        elif per_strategy > strategy_window.capacity:
            strategy_window.record(now_ns, per_strategy)
        else:
            times = strategy_window.times
            head = strategy_window.head
            try:  # a store into a spare slot, no call
                times[strategy_size] = now
            except IndexError:  # none left
                strategy_window.grow()
                times[strategy_size] = now
            strategy_window.end = strategy_size + 1
            if now_ns - times[head] >= ONE_SECOND_NS or strategy_size - head >= strategy_window.capacity:  # PRUNE
                strategy_window.forget(now_ns)
        if account_window is None:
            account_window = by_account[request.account] = SlidingWindow(per_account)
            account_window.record(now_ns, per_account)
        elif per_account > account_window.capacity:
            account_window.record(now_ns, per_account)
        else:
            times = account_window.times
            head = account_window.head
            try:  # a store into a spare slot, no call
                times[account_size] = now
            except IndexError:  # none left
                account_window.grow()
                times[account_size] = now
            account_window.end = account_size + 1
            if now_ns - times[head] >= ONE_SECOND_NS or account_size - head >= account_window.capacity:  # PRUNE
                account_window.forget(now_ns)
        if symbol_window is None:
            symbol_window = by_symbol[request.symbol] = SlidingWindow(per_symbol)
            symbol_window.record(now_ns, per_symbol)
        elif per_symbol > symbol_window.capacity:
            symbol_window.record(now_ns, per_symbol)
        else:
            times = symbol_window.times
            head = symbol_window.head
            try:  # a store into a spare slot, no call
                times[symbol_size] = now
            except IndexError:  # none left
                symbol_window.grow()
                times[symbol_size] = now
            symbol_window.end = symbol_size + 1
            if now_ns - times[head] >= ONE_SECOND_NS or symbol_size - head >= symbol_window.capacity:  # PRUNE
                symbol_window.forget(now_ns)
        return True

    @staticmethod
    def _record_rate(
        windows: Windows, request: RiskRequest, limits: EffectiveLimits, now_ns: int, cancels: bool
    ) -> None:
        by_strategy, by_account, by_symbol = windows
        if cancels:
            per_strategy, per_account, per_symbol = (
                limits.cancels_per_strategy, limits.cancels_per_account, limits.cancels_per_symbol
            )  # fmt: skip
        else:
            per_strategy, per_account, per_symbol = (
                limits.orders_per_strategy, limits.orders_per_account, limits.orders_per_symbol
            )  # fmt: skip
        for windows_of, key, limit in (
            (by_strategy, request.strategy, per_strategy),
            (by_account, request.account, per_account),
            (by_symbol, request.symbol, per_symbol),
        ):
            window = windows_of.get(key)
            if window is None:
                window = windows_of[key] = SlidingWindow()
            window.record(now_ns, limit)

    def _state_scopes(self, request: RiskRequest, state: int) -> str:
        """Name every scope holding ``request`` at ``state`` or stricter (refusals only, never the hot path)."""
        found: list[str] = []
        document = self._file.document
        if self._firm_runtime_state >= state:
            found.append(f"the whole firm ({self._runtime_note(None)})")
        default_state = document.defaults.trading_state
        if default_state is not None and TradingState[default_state] >= state:
            found.append("the whole firm (limits file: defaults.trading_state)")
        holder = self._book.accounts.get(request.account)
        if holder is not None and holder.runtime_state >= state:
            found.append(f"account {request.account} ({self._runtime_note(request.account)})")
        for words, path, scope in self._file_scopes(request.account, request.strategy, request.symbol):
            if scope.trading_state is not None and TradingState[scope.trading_state] >= state:
                found.append(f"{words} (limits file: {path}.trading_state)")
        return "; ".join(found) or f"account {request.account}"

    def _runtime_note(self, account: str | None) -> str:
        """Say who set a run-time state and why: ``kill switch by alice (...): runaway strategy``."""
        trigger, who, reason = self._runtime_notes.get(account, ("", "", ""))
        how = "kill switch" if trigger == "kill" else "set at run time"  # clipped: quoted in every refusal (rev54risk)
        return f"{how} by {clip(who) or 'unknown'}" + (f": {clip(reason)}" if reason else "")

    def _file_scopes(self, account: str, strategy: str, symbol: str) -> list[tuple[str, str, Limits]]:
        """Return the limits file's overrides for a key as (words for a person, path in the file, scope)."""
        document = self._file.document
        found: list[tuple[str, str, Limits]] = []
        account_scope = document.accounts.get(account)
        if account_scope is not None:
            found.append((f"account {account}", f"accounts.{account}", account_scope))
        if strategy in document.strategies:
            found.append((f"strategy {strategy}", f"strategies.{strategy}", document.strategies[strategy]))
        if symbol in document.symbols:
            found.append((f"symbol {symbol}", f"symbols.{symbol}", document.symbols[symbol]))
        if account_scope is not None:
            if strategy in account_scope.strategies:
                path = f"accounts.{account}.strategies.{strategy}"
                found.append((f"strategy {strategy} in account {account}", path, account_scope.strategies[strategy]))
            if symbol in account_scope.symbols:
                path = f"accounts.{account}.symbols.{symbol}"
                found.append((f"symbol {symbol} in account {account}", path, account_scope.symbols[symbol]))
        return found

    def _unknown_account(self, account: str) -> Denial:
        return Denial(codes.UNKNOWN_ACCOUNT, f"account {account!r} is not in the risk limits file")

    def _internal_error(self, where: str, order: Order) -> Denial:
        self.internal_errors += 1
        log.exception("risk %s failed for order %s: refused", where, order.order_id)
        return Denial(codes.INTERNAL_ERROR, "the risk engine failed on this order; it was refused (see gateway log)")

    # ------------------------------------------------------------------ reload

    def reload(self, trigger: str, who: str) -> ReloadResult:
        """Re-read the limits file; apply it atomically only if entirely valid; audit either way.

        ``trigger`` says what asked (``SIGHUP``, ``gateway risk reload``, ``file changed on disk``), ``who`` who did
        (user name, peer pid). A bad file changes nothing; the result lists every error. The gateway does the
        same in three steps (``begin_reload``, ``PendingReload.read`` in a worker thread, ``finish_reload``) so
        that reading a large file never stops its event loop.
        """
        pending = self.begin_reload(trigger, who)
        pending.read()
        return self.finish_reload(pending)

    def begin_reload(self, trigger: str, who: str) -> PendingReload:
        """Start a reload: take what reading the files needs (``PendingReload.read`` may run in any thread).

        A watch reload held back (the limits file modified in place) reads nothing: its result is set.
        """
        path = self._file.path
        if trigger == WATCH_TRIGGER and self._looks_under_way():
            message = "reload NOT started: the limits file changed again and is being read; the file watch decides next"
            log.info("risk %s", message)
            pending = PendingReload(trigger, who, path, self._wall_now(), self._known, None, None)
            pending.result = ReloadResult(False, trigger, who, "", self._file.sha256, [], [], [], message)
            return pending
        if trigger == WATCH_TRIGGER and self._watch_blocked():
            message = (
                f"reload NOT applied: {', '.join(v['file'] for k, v in self._in_place.items() if k != 'positions')} "
                "was modified in place; "
                "old limits stay in force"
            )
            log.warning("risk %s", message)
            pending = PendingReload(trigger, who, path, self._wall_now(), self._known, None, None)
            pending.result = ReloadResult(False, trigger, who, "", self._file.sha256, [], [], [], message)
            return pending
        keep = None
        flagged = self._in_place.get("reference")
        if trigger == WATCH_TRIGGER and flagged is not None:
            keep = self._file.reference_parsed  # modified in place: the reference prices in force stay
        elif trigger == WATCH_TRIGGER and self._file.reference_path in self._looking:
            keep = self._file.reference_parsed  # changed again, still read: maybe in place; its look decides next
            log.info(
                "risk reload: the reference-price file %s changed again just before this reload and is still being "
                "read: the reference prices in force stay for this reload; the file watch decides the file next",
                self._file.reference_path,
            )
        positions = self._in_place.get("positions")  # read at start-up only: a reload never reads it
        self._in_place.clear()  # this reload reads the files as they are now (but a flagged reference file)
        if keep is not None and flagged is not None:
            self._in_place["reference"] = flagged
        if positions is not None:
            self._in_place["positions"] = positions
        self._forget_note()
        self._held.clear()
        pending = PendingReload(trigger, who, path, self._wall_now(), self._known, keep, _file_signature(path))
        reference = self._file.reference_path
        pending.reference_before = (reference, _file_signature(reference))
        if trigger == WATCH_TRIGGER:  # it applies only the versions the watch decided (risk62)
            self._decide(pending, keep)
        pending.previous = self._file
        pending.copy = self._copy
        pending.reference_copy = self._copies.get("reference")
        return pending

    def _decide(self, pending: PendingReload, keep: Parsed[ReferencePriceDocument] | None) -> None:
        """Give a watch reload the versions the watch's last look decided (risk62: a file written in place between
        that look and the read was applied half-written, rev61merge4)."""
        seen = self._observed.get(pending.path)
        if seen is not None and seen[0] is not None and seen[1] is not None:
            pending.decided = (seen[0], seen[1])
        reference = self._file.reference_path
        in_force = self._file.reference_parsed
        if keep is not None or reference is None or in_force is None:
            return  # the prices in force are kept anyway (``keep``), or there are none
        seen = self._observed.get(reference)
        if seen is not None and seen[0] is not None and seen[1] is not None:
            pending.decided_reference = DecidedReference(str(reference), seen[1], seen[0][2], in_force)
            pending.reference_real = self._observed_real.get(reference)

    def finish_reload(self, pending: PendingReload) -> ReloadResult:
        """Apply what ``pending`` read, if all valid, over the limits in force now; audit either way.

        In steps, which the gateway runs apart (reload55): ``prepare_switch`` (the audit record, on the event
        loop), ``write_switch`` (the audit record written and fsynced; in a worker thread, the loop's own audit
        records queued meanwhile: ``hold_audit``), ``switch`` (the limits put in force, on the loop, in one step,
        as soon as their record is on disk), ``keep_copies`` (the copies in force renamed and fsynced; in a worker
        thread) and ``copies_kept`` (the outcome, with a copy that could not be kept). A refused reload's outcome
        is set by ``prepare_switch`` and its ``reload_refused`` record written by ``write_switch`` (risk56: in the
        worker thread too, not on the loop).
        """
        step = self.prepare_switch(pending)
        if step.result is not None:
            if step.record:  # refused: its record, now (queued behind a record being written in a thread)
                self._write_audit(step.record)
            return step.result
        self.write_switch(step)
        result = self.switch(step)
        if not result.ok:
            return result
        self.keep_copies(step)
        self.write_copy_record(step)
        return self.copies_kept(step)

    def prepare_switch(self, pending: PendingReload) -> PendingSwitch:
        """Build the reload's audit record (``result`` set instead when there is nothing to apply).

        A refused reload: ``result`` is its outcome and ``record`` its ``reload_refused`` record, which
        ``write_switch`` writes (not required: kept and written late if the audit log refuses it); a reload held
        back (or retried in silence, ``_reader_failed``): ``result`` alone, nothing to write.
        """
        step = PendingSwitch(pending)
        if pending.result is not None:
            step.result = pending.result
            return step
        trigger, who, path, keep = pending.trigger, pending.who, pending.path, pending.keep
        signature = pending.signature
        limits = pending.limits
        if pending.unread is not None:
            return self._not_decided(step)
        if pending.unreadable:
            self._held.add("limits")  # the next look decides what is at the path now, and a reload follows
            message = (
                f"reload NOT started: {path} cannot be read since the file watch decided it ({pending.unreadable}); "
                "the file watch decides the path next"
            )
            log.info("risk %s", message)
            step.result = ReloadResult(False, trigger, who, "", self._file.sha256, [], [], [], message)
            return step
        if pending.reader_failed and trigger == WATCH_TRIGGER:
            return self._reader_failed(step)
        if not pending.reader_failed:
            self._retry = None  # a verdict (applied or refused): nothing to read again
        if limits is None:
            sha256 = self._judged(path, signature, keep is None, pending.hashes)
            stopped = pending.reader_control.stopped and pending.reader is not None
            step.result, step.record = self._refuse(
                trigger, who, pending.problems, sha256, stopped=stopped, hashes=pending.hashes
            )
            step.record_ns = self._wall_clock()
            return step
        previous = self._file
        step.previous = previous
        step.limits = limits
        changes = pending.changes if pending.previous is previous else None
        if limits.reference_skipped is not None:
            self._reference_in_place(pending, limits.reference_skipped)
        elif self._reference_not_renamed(pending, limits):
            # never put the limits off for a reference-price file (rev62merge: a feed changing every tick would hold
            # them back for good): they are applied with the prices in force, and the watch decides that file next
            self._held.add("reference")
            decided = pending.decided_reference
            assert decided is not None and limits.reference_parsed is not None
            read = limits.reference_parsed
            limits.use_reference(decided.in_force, (read.sha256, read.signature))
            if changes is not None:  # the reference's changes were the file's read: the prices in force change nothing
                changes = [c for c in changes if not _reference_field(c.field)]
            log.info(
                "risk %s was replaced after the file watch decided it, by a file not renamed into place (maybe still "
                "written): this reload keeps the prices in force; the file watch decides that file next",
                limits.reference_path,
            )
        skipped = limits.reference_skipped is not None  # the prices in force stay too
        step.kept = kept = (keep is not None and limits.reference_parsed is keep) or skipped
        step.reference_signature = _read_signature(limits, pending.reference_before)
        step.changes = changes if changes is not None else _changes(previous, limits)
        pending.previous = None  # the limits in force are the engine's to replace (``_apply``: retired)
        warnings = step.warnings = list(limits.summary)  # a kind with many (an account per line) summarised in one
        if limits.document.start_positions_file is not None and not limits.positions_sha256:
            warnings.append(
                "start_positions_file cannot be read: start-of-day positions are read at start-up only; "
                "the next start needs it"
            )
        elif limits.positions_sha256 != self._start_positions_sha256:
            warnings.append("start_positions_file changed: start-of-day positions are read at start-up only")
        step.record = {
            "event": "reload",
            "trigger": trigger,
            "who": who,
            **self._file_fields(limits),
            "previous_sha256": previous.sha256,
            "previous_reference_sha256": previous.reference_sha256,
            "changes": [msgspec.to_builtins(c) for c in step.changes],
            "warnings": warnings,
            **self._on_disk(path, None if kept else limits.reference_path),
        }
        return step

    def _not_decided(self, step: PendingSwitch) -> PendingSwitch:
        """A watch reload that read limits bytes other than the version the watch decided: nothing applied (risk62).

        The same file (its file id) with other bytes was written in place since the look: reported so now (WARNING,
        ``not_applied``), and the watch counts those bytes as seen, so that a write the file's timestamps do not show
        (one clock tick, rev61merge9) never makes the watch decide the old version again. Another file (replaced
        since) is a new file at the path: the watch's next look decides it, and a reload follows.
        """
        pending = step.pending
        assert pending.unread is not None and pending.decided is not None
        path = pending.path
        digest, signature = pending.unread
        if signature[2] == pending.decided[0][2]:
            self._observed[path] = (signature, digest)
            self._note_in_place("limits", path, digest, self._file.sha256, signature[2])
            message = f"reload NOT applied: {path} was modified in place; old limits stay in force"
        else:
            self._held.add("limits")  # the next look decides the new file, and a reload follows
            message = (
                f"reload NOT started: {path} was replaced after the file watch decided it; the file watch decides "
                "the new file next"
            )
            log.info("risk %s", message)
        step.result = ReloadResult(False, pending.trigger, pending.who, "", self._file.sha256, [], [], [], message)
        return step

    def _reference_in_place(self, pending: PendingReload, skipped: tuple[str, Signature | None]) -> None:
        """A watch reload read the reference-price file the watch decided with other bytes: written in place since.

        The prices in force stay for the reload (``read_limits``); the write is reported now (WARNING,
        ``not_applied``) and its bytes counted as seen, as ``_not_decided`` does for the limits file."""
        decided = pending.decided_reference
        assert decided is not None
        path = Path(decided.file)
        digest, signature = skipped
        assert signature is not None
        self._observed[path] = (signature, digest)
        self._note_in_place("reference", path, digest, self._file.reference_sha256, signature[2])

    def _reference_not_renamed(self, pending: PendingReload, limits: LimitsFile) -> bool:
        """Return True if a watch reload read, instead of the reference-price file the watch decided, another file
        that was not renamed into place (a new file written at the path: maybe half-written, never applied by the
        watch). One renamed into place (a price feed's next version, ``mv``) is complete: applied (risk61)."""
        decided = pending.decided_reference
        read = limits.reference_parsed
        if decided is None or read is None or read is decided.in_force or Path(read.file) != Path(decided.file):
            return False
        if read.sha256 == decided.sha256 or read.signature is None:
            return False
        mtime_ns, _size, read_id, ctime_ns = read.signature
        if read_id == decided.file_id:
            return False  # the same file: ``read_limits`` kept the prices in force (``reference_skipped``)
        if _swapped_to(read.file, pending.reference_real, read_id):
            return False  # a symlink on the path swapped to the file read (``ln -s`` + ``mv -T``): complete
        renamed = ctime_ns > mtime_ns  # the watch's own rules (``risk.filewatch.finish``)
        if not renamed and self._renames is not None:
            self._renames.drain()
            renamed = self._renames.renamed_to(os.path.realpath(read.file))
        return not renamed

    def write_switch(self, step: PendingSwitch) -> None:
        """Write the reload's audit record (required before the switch), in any thread.

        Touches no engine state but the audit log's, whose other writers wait meanwhile when this runs in
        another thread than theirs (``hold_audit``). An audit log that cannot be written is noted
        (``audit_error``): ``switch`` then refuses the reload, the copies untouched. A refused reload's record
        (``result`` set) is not required: one the audit log refuses is kept and written late, with the time it
        was made (``record_ns``).
        """
        if step.result is not None:
            self._append_audit(step.record, step.record_ns, required=False)
            return
        try:
            self._append_audit(step.record, self._wall_clock(), required=True)
        except OSError as exc:
            step.audit_error = exc

    def keep_copies(self, step: PendingSwitch) -> None:
        """After the switch, in any thread: make the copies prepared by the read the copies in force (``risk.inforce``).

        Right after the switch rather than before it: a ``status`` asked once the audit record is on disk sees the
        limits it names (the rename and the directory fsync took 10-40 ms here). A restart in between finds the
        previous copy, which the start judges stale by the ``reload`` record's ``sha256`` (``copy_not_kept``, audit58).
        The limits are in force whatever happens here: a failure is the outcome's ``copy_problem`` (applied, the
        copy not kept), never an exception (riskreload57: one escaped and the reload was answered refused).
        """
        pending = step.pending
        copy_problems = []
        limits = step.limits
        if self._copy is not None and limits is not None:  # a restart puts these limits in force, not a file held back
            copy_problems.append(_kept(self._copy, pending.copy_ready, limits.raw))
            copy_problems.append(_unnoted(self._copy))
        if pending.reference_copy is not None and not step.kept and limits is not None:  # and these reference prices
            reference = limits.reference_parsed
            raw = reference.raw if reference is not None else None
            copy_problems.append(_kept(pending.reference_copy, pending.reference_ready, raw))
            copy_problems.append(_unnoted(pending.reference_copy))
        step.copy_problem = "; ".join(problem for problem in copy_problems if problem)
        if step.copy_problem and step.result is not None:
            step.copy_record = {
                "event": "reload_copy_not_kept",
                "trigger": pending.trigger,
                "who": pending.who,
                "file": str(pending.path),
                "sha256": step.result.sha256,
                "reference_sha256": step.limits.reference_sha256 if step.limits is not None else None,
                "copy_problem": step.copy_problem,
            }

    def write_copy_record(self, step: PendingSwitch) -> None:
        """Write the ``reload_copy_not_kept`` record ``keep_copies`` made, if any, in any thread (``hold_audit``).

        Not required (the limits are in force: refusing the reload now could only answer "refused" for limits in
        force): one the audit log refuses is kept and written late. A crash before then loses it; the next start
        still knows the copy is stale, from the ``reload`` record's ``sha256`` (``copy_not_kept``, audit58).
        """
        if step.copy_record:
            self._append_audit(step.copy_record, self._wall_clock(), required=False)

    def switch(self, step: PendingSwitch) -> ReloadResult:
        """Put the limits ``step`` read in force (after ``write_switch``), or refuse if their record was not written."""
        pending, limits, previous = step.pending, step.limits, step.previous
        assert limits is not None and previous is not None
        step.previous = None  # the limits replaced are ``retire``'s alone from the switch on (freed in slices)
        trigger, who, path = pending.trigger, pending.who, pending.path
        changes, warnings, kept = step.changes, step.warnings, step.kept
        exc = step.audit_error
        if exc is not None:
            message = (
                f"reload NOT applied: the audit log {self._audit.path if self._audit else ''} cannot be written "
                f"({exc}); the limits file is valid, but no change is applied without its audit record; "
                "old limits stay in force"
            )
            log.error("risk %s (trigger %s, by %s)", message, trigger, who)
            self._observed.clear()  # not judged: the watch looks at the files again
            if trigger == WATCH_TRIGGER:
                self._held.add("limits")  # and tries this reload again (an explicit one is not retried)
            self._last_reload = self._reload_summary(
                trigger, who, ok=False, sha256=limits.sha256, changes=0, errors=1, reason=message
            )
            return ReloadResult(False, trigger, who, limits.sha256, previous.sha256, changes, [], warnings, message)
        self._judge(path, pending.signature, limits.sha256)
        if not kept:
            self._in_place.pop("reference", None)
            if limits.reference_path is not None:
                self._judge(limits.reference_path, step.reference_signature, limits.reference_sha256)
        self._apply(limits)
        self._staged_status, pending.status = pending.status, None  # built before the switch, if staged
        message = f"limits reloaded from {path}: {len(changes)} change(s), sha256 {limits.sha256[:12]}"
        log.info("risk %s (trigger %s, by %s)", message, trigger, who)
        for warning in warnings:
            log.warning("risk limits: %s", warning)
        self._last_reload = self._reload_summary(
            trigger, who, ok=True, sha256=limits.sha256, changes=len(changes), errors=0
        )
        step.result = ReloadResult(True, trigger, who, limits.sha256, previous.sha256, changes, [], warnings, message)
        return step.result

    def copies_kept(self, step: PendingSwitch) -> ReloadResult:
        """Return the applied reload's outcome, saying so (and logging it) if a copy in force was not kept."""
        result = step.result
        assert result is not None
        copy_problem = step.copy_problem
        if not copy_problem:
            return result
        not_kept = (
            f"their copy in the state directory is NOT kept ({copy_problem}): until it is, a restart while a limits "
            "file is NOT APPLIED refuses to start where the copy left is stale or missing (fail closed), and the "
            "start knows the limits in force only from the risk audit log (it reads the log, <log>.1 and <log>.2: "
            "rotate it at most twice before the restart, and keep them uncompressed: a compressed one is not read); "
            "make the state directory writable again (free space; a "
            "read-only mount, permissions, an immutable flag) and reload again"
        )
        log.error("risk reload applied (the new limits are in force), but %s", not_kept)
        if self._last_reload is not None and self._last_reload.get("sha256") == result.sha256:
            self._last_reload["copy_problem"] = copy_problem  # `gateway status` says it (rev55ops)
        message = f"{result.message}; they are in force, but {not_kept}"
        step.result = msgspec.structs.replace(result, message=message, copy_problem=copy_problem)
        return step.result

    def _retry_key(self, sha256: str) -> tuple[str, str | None]:
        """The content a watch reload read: the limits file's bytes sent, and the reference file's as last seen."""
        reference = self._file.reference_path
        seen = self._observed.get(reference) if reference is not None else None
        return sha256, seen[1] if seen is not None else None

    def _reader_failed(self, step: PendingSwitch) -> PendingSwitch:
        """A watch reload whose reader process gave no verdict: refuse it, and read the same content again later.

        Nothing is judged (the watch would never read that content again; before risk56 only ``gateway risk
        reload`` did): it is read again after ``reader_retry_first_s``, twice as long each time up to
        ``reader_retry_max_s``, ``reader_retries`` times at most, until a read gives a verdict (applied, or refused
        for the file's content) or the file changes (its new content is read as usual). The first failure is
        logged, audited (``reload_refused``) and counted as any refusal; the reads again are not (DEBUG lines, and
        ``retry`` in ``gateway status``'s last reload), nor is giving up (one ERROR).
        """
        pending = step.pending
        trigger, who, path = pending.trigger, pending.who, pending.path
        key = self._retry_key(pending.reader_failed)
        retry = self._retry
        first = retry is None or retry.key != key
        if first:
            retry = self._retry = ReaderRetry(key)
            step.result, step.record = self._refuse(trigger, who, pending.problems, pending.reader_failed)
            step.record_ns = self._wall_clock()
        assert retry is not None
        retry.attempts += 1
        reason = pending.problems[0].message if pending.problems else "no answer"
        if retry.attempts > self.reader_retries:
            retry.due_ns = None
            note = (
                f"the file watch gave up reading {path} again after {self.reader_retries} attempts (the process "
                f"reading the limits files gave no verdict: {reason}); the limits in force stay: run "
                "`gateway risk reload` once the gateway's host is healthy"
            )
            log.error("risk %s", note)
        else:
            delay_s = min(self.reader_retry_first_s * 2.0 ** (retry.attempts - 1), self.reader_retry_max_s)
            retry.due_ns = self._clock() + int(delay_s * 1e9)
            note = (
                f"the file watch reads {path} again in {delay_s:g} s (attempt {retry.attempts + 1} of "
                f"{self.reader_retries + 1}): the process reading the limits files gave no verdict on it"
            )
            if first:
                log.warning("risk %s", note)
            else:
                log.debug("risk %s (again: %s)", note, reason)
        if self._last_reload is not None:
            self._last_reload = {**self._last_reload, "retry": note}
        if step.result is None:  # read again in silence: nothing logged as refused, nothing audited
            message = f"reload NOT applied: {note}; old limits stay in force"
            step.result = ReloadResult(
                False, trigger, who, pending.reader_failed, self._file.sha256, [], [], [], message
            )
        return step

    def _retry_due(self) -> bool:
        """Return True once when the content a reader process gave no verdict on is to be read again."""
        retry = self._retry
        if retry is None or retry.due_ns is None or self._clock() < retry.due_ns:
            return False
        retry.due_ns = None  # the next failure sets it again
        return True

    def _judged(
        self,
        path: Path,
        signature: Signature | None,
        reference_too: bool = True,
        hashes: dict[Path, str | None] | None = None,
    ) -> str:
        """Record the refused content as seen (the file watch must not refuse it again); return its hash.

        ``hashes``: the files' hashes the reload's thread took (``PendingReload.hashes``); a file not in it is hashed
        here."""
        hashes = hashes or {}
        digest = hashes[path] if path in hashes else _file_hash(path)
        now = _file_signature(path)
        if signature is not None and (now is None or now[2] != signature[2]):
            digest = None  # replaced since the read began: what is there now was not judged ("" in the audit)
        self._judge(path, signature, digest)
        reference = self._file.reference_path
        if reference is not None and reference_too:
            ref_digest = hashes[reference] if reference in hashes else _file_hash(reference)
            self._judge(reference, _file_signature(reference), ref_digest)
        return digest or ""

    def _refuse(
        self,
        trigger: str,
        who: str,
        problems: list[Problem],
        sha256: str,
        *,
        stopped: bool = False,
        hashes: dict[Path, str | None] | None = None,
    ) -> tuple[ReloadResult, dict[str, Any]]:
        """Log a refused reload and note it (status, metrics); return its outcome and its audit record (unwritten).

        ``stopped``: the gateway's stop ended the read (``ReaderControl``): not a problem of the files, and the
        headline says so (rev56merge2: it read "1 problem(s) in limits.yaml" to a risk officer).
        """
        files = ", ".join(dict.fromkeys(p.file for p in problems)) or str(self._file.path)  # where they are
        if stopped:
            message = f"reload NOT applied: the gateway stopped before {files} was read; old limits stay in force"
        else:
            message = f"reload REFUSED: {len(problems)} problem(s) in {files}; old limits stay in force"
        log.error("risk %s (trigger %s, by %s)", message, trigger, who)
        for problem in problems:
            log.error("risk   %s", problem)
        reference = self._file.reference_path
        record = {
            "event": "reload_refused",
            "trigger": trigger,
            "who": who,
            "file": str(self._file.path),
            "sha256": sha256,
            "in_force_sha256": self._file.sha256,
            "reference_file": str(reference) if reference is not None else None,
            "reference_sha256": (hashes[reference] if hashes and reference in hashes else _file_hash(reference))
            if reference is not None
            else None,
            "in_force_reference_sha256": self._file.reference_sha256 or None,
            "errors": [str(p) for p in problems],
        }
        self._last_reload = self._reload_summary(
            trigger,
            who,
            ok=False,
            sha256=sha256,
            changes=0,
            errors=len(problems),
            first_error=str(problems[0]) if problems else "",
        )
        return ReloadResult(False, trigger, who, sha256, self._file.sha256, [], problems, [], message), record

    def _apply(self, limits: LimitsFile) -> None:
        """Swap in new limits: resolved-limit cache rebuilt, counters and exposure kept.

        The limits replaced (the file, its resolver and rows, the status parts built from them) go to ``retire``
        when set, so that the switch does not pay for freeing them (a 30,000-account file: 60-170 ms).
        """
        self._references.configure(limits.document.reference_prices, limits.reference, self._clock(), self._wall_now())
        replaced = (self._file, self._resolver, self._rows, self._status_cache)
        self._resolver = Resolver(limits.document)
        self._rows = {}
        self._rows_cached = 0
        self._file = limits
        self._status_cache = None
        self._loaded_at_ns = self._wall_clock()  # when the limits in force were loaded
        if self.retire is not None:
            self.retire(replaced)

    def _reload_summary(
        self,
        trigger: str,
        who: str,
        *,
        ok: bool,
        sha256: str,
        changes: int,
        errors: int,
        reason: str = "",
        first_error: str = "",
    ) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "time": utc_text(self._wall_clock()),
            "trigger": trigger,
            "who": who,
            "ok": ok,
            "sha256": sha256,
            "changes": changes,
            "errors": errors,
        }
        if ok:  # counted here: every reload's outcome passes through its summary once (gateway metrics)
            self.reloads_applied += 1
        else:
            self.reloads_refused += 1
        if reason:
            summary["reason"] = reason  # refused for something other than the file's content
        if first_error:
            summary["first_error"] = first_error  # refused for the file's content: the first problem found
        return summary

    def file_changed(self) -> bool:
        """Return True once per replacement of the limits file (or reference file) with new content."""
        return bool(self.changed_files())

    def _watched(self) -> list[tuple[str, Path, str]]:
        """Return (name, path, hash of the content in force) of each file the watch looks at."""
        found = [("limits", self._file.path, self._file.sha256)]
        if self._file.reference_path is not None:
            found.append(("reference", self._file.reference_path, self._file.reference_sha256))
        return found

    def changed_files(self) -> list[str]:
        """Return which files (``"limits"``, ``"reference"``) were *replaced* with new content since the last call.

        Only a replacement counts: a new file renamed to the path after its last write (``mv``, ``sed -i``, an
        atomic save), or a symlink on the path swapped to another file (a ConfigMap), or a file that
        disappeared (its reload is refused); ``risk.filewatch`` says how each is told apart. A file modified
        in place may be half-written (a valid prefix can loosen limits), so the watch never applies it (a new
        file written at the path, ``rm`` then a write, ``cp`` to a new name, an editor writing a new file, is
        modified in place too, and so is a later write to a file already seen): it is reported once (a
        WARNING, a ``not_applied`` audit record, ``not_applied`` in status). A limits file modified in place
        holds back every watch reload until it is replaced or an explicit reload (``gateway risk reload``,
        SIGHUP) reads the files as they are; a reference-price file modified in place holds back only itself
        (a replaced limits file is applied with the reference prices in force).
        Cheap: a ``stat`` per file; the file is opened and hashed only when its file id, size, mtime or ctime
        changed, and one larger than ``INLINE_BYTES`` is read and hashed in ``look_in_thread`` when set (decided at
        the first call after that ends; a file larger than the gateway reads is not read at all: its reload is
        refused for its size).
        """
        if self._late:
            self.flush_late_audit()  # the audit log may be writable again
        if self._renames is not None:
            self._renames.drain()  # every tick: a busy directory cannot overflow the event queue
        changed: list[str] = []
        watched = self._watched()
        for path in [p for p, gone in self._looking.items() if gone.digest.done() and p not in {w[1] for w in watched}]:
            os.close(self._looking.pop(path).opened.fd)  # a reference file the limits in force no longer name
        for name, path, in_force in watched:
            seen = self._observed.get(path)
            looking = self._looking.get(path)
            if looking is not None:
                if not looking.digest.done():
                    continue  # still read in its thread
                del self._looking[path]
                version = self._looked(path, looking)
                if version is None:  # moved or written while read: look at the file there now (risk61: a feed
                    version = self._look(path)  # replacing it every second left it never decided)
            elif seen is not None and _file_signature(path) == seen[0]:
                continue  # nothing moved since the last look (a missing file is reported once)
            else:
                version = self._look(path)
            if version is None:
                continue  # replaced or written while read (or being read in a thread): look again next time
            signature, digest = version.signature, version.digest
            seen_real = self._observed_real.get(path)
            self._remember(path, version)  # held open from now on: its file id is not reused
            swapped = seen_real is not None and version.real is not None and version.real != seen_real
            judged = self._judged_hash.get(path, in_force)
            if digest in (judged, in_force):  # as last judged (in force, or refused once), or as in force
                if signature is not None and (signature[2] != self._judged_ino.get(path) or digest != judged):
                    self._judge(path, signature, digest)  # e.g. `mv` of the same content: watch this file now
                self._in_place.pop(name, None)
            elif signature is not None and (
                signature[2] == self._judged_ino.get(path)  # the file last read, modified in place
                or (seen is not None and seen[0] is not None and seen[0][2] == signature[2])  # seen, then written
                or not (version.renamed or swapped)  # a new file written at the path: maybe half-written
            ):
                self._note_in_place(name, path, digest or "", in_force, signature[2])
            else:  # replaced (or gone: that reload is refused)
                self._in_place.pop(name, None)
                changed.append(name)
        if self._retry_due() and "limits" not in changed:
            changed.append("limits")  # read again: the reader process gave no verdict on it (``_reader_failed``)
        self._forget_note()
        if "limits" in self._in_place or self._file.path in self._looking:  # held back, or its look decides first
            self._held.update(changed)  # (a reference file's look holds back nothing else: risk61)
            return []
        if self._held:
            changed = [name for name, _, _ in self._watched() if name in changed or name in self._held]
            self._held.clear()
        return changed

    def _look(self, path: Path) -> Version | None:
        """Look at ``path`` now, or start reading it in ``look_in_thread`` (None then, as for a path that moved)."""
        opened = open_version(path, self._renames)
        if not isinstance(opened, Opened):
            return opened
        size = opened.st.st_size
        if self.look_in_thread is not None and INLINE_BYTES < size <= MAX_FILE_BYTES:
            try:
                digest = self.look_in_thread(functools.partial(file_digest, opened.fd, size))
            except RuntimeError:  # no thread to read in (the gateway is stopping): look again later
                os.close(opened.fd)
                return None
            self._looking[path] = _Looking(opened, digest)
            return None
        try:
            return finish(path, opened, file_digest(opened.fd, size), self._renames)
        except OSError:
            os.close(opened.fd)
            return None

    def _looked(self, path: Path, looking: _Looking) -> Version | None:
        """Return the version a look read in its thread (None, closed, if the read failed or the path moved)."""
        try:
            digest = looking.digest.result()
        except Exception:  # an I/O error while reading: look again next time
            os.close(looking.opened.fd)
            return None
        return finish(path, looking.opened, digest, self._renames)

    @property
    def looking(self) -> bool:
        """Return True while a look at the limits file is under way in ``look_in_thread`` (the watch starts no reload
        meanwhile). A look at the reference-price file holds back no reload (risk61: a price feed replacing a large
        file every second kept a limits change out of force): the gateway waits for it before a watch reload
        (``look_again``), and a reload that still finds it under way keeps the reference prices in force."""
        return self._file.path in self._looking

    def look_again(self) -> list[concurrent.futures.Future[str | None]]:
        """Just before a watch reload: look again (the changes found are the reload's), return the looks under way.

        The gateway waits for them and looks again (a few rounds, bounded), so that the reload reads the latest
        version of each file the watch decided, a price feed's included, rather than keeping the prices in force.
        """
        self._held.update(self.changed_files())
        return self.looks_pending()

    def looks_pending(self) -> list[concurrent.futures.Future[str | None]]:
        """Return the reads of the looks under way in ``look_in_thread`` (a test waits for them)."""
        return [looking.digest for looking in self._looking.values()]

    def _remember(self, path: Path, version: Version) -> None:
        """Make ``version`` the watch's last look at ``path``; it stays open until the next one."""
        self._observed[path] = (version.signature, version.digest)
        self._observed_real[path] = version.real
        old = self._observed_fd.pop(path, None)
        if version.fd is not None:
            self._observed_fd[path] = version.fd
        if old is not None:
            os.close(old)

    def _judge(self, path: Path, signature: Signature | None, digest: str | None) -> None:
        """Record the content a load or reload read at ``path`` (applied or refused): the watch's baseline.

        The file is kept open (read-only), so its inode number cannot be freed and reused by a later
        replacement (``mv`` frees the old inode): same file id at the path means the same file, modified in place.
        A file replaced at the path between the read (``signature``) and this call (a ``mv`` made as soon as the
        audit record showed) is not the one judged: the next look sees it as the replacement it is.
        """
        self._observed[path] = (signature, digest)
        self._judged_hash[path] = digest
        if self._renames is None:
            self._renames = shared_watch()
        real = os.path.realpath(path)
        self._observed_real[path] = real
        self._renames.watch(os.path.dirname(real))
        old = self._judged_fd.pop(path, None)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self._judged_ino[path] = None
        else:
            held = file_id(os.fstat(fd))
            if signature is not None and held != signature[2]:  # replaced since it was read (a `mv` right after)
                os.close(fd)  # that is a new file: judged by the next look, never taken for the one read
                self._judged_ino[path] = signature[2]
            else:
                self._judged_fd[path] = fd
                self._judged_ino[path] = held
        for held_fd in (old, self._observed_fd.pop(path, None)):  # closed once the new one is open
            if held_fd is not None:
                os.close(held_fd)

    def _looks_under_way(self) -> bool:
        """Look again just before a watch reload: True (put it off) while the limits file is still read in its thread.

        It changed again since the watch decided: modified in place (maybe half-written), it must not be read by the
        reload; the watch decides at its next look, and the reload comes after (``_held``). A reference-price file
        still read does not put the reload off (risk61): the reload keeps the reference prices in force
        (``begin_reload``), and the look decides the file for a later reload.
        """
        self._held.update(self.changed_files())
        if self._file.path not in self._looking:
            return False
        self._held.add("limits")  # the reload put off: again once the look is decided
        return True

    def _watch_blocked(self) -> bool:
        """Look again just before a watch reload: True (hold it back) while the limits file is modified in place."""
        self._held.update(self.changed_files())
        if "limits" not in self._in_place:
            return False
        for name, path, in_force in self._watched():
            if name in self._in_place:
                continue  # not applied until replaced (a later look) or reloaded explicitly
            signature, digest = self._observed.get(path, (None, None))
            replaced = signature is not None and signature[2] != self._judged_ino.get(path)
            if replaced and digest != self._judged_hash.get(path, in_force):
                self._held.add(name)  # replaced, waiting: reloaded once nothing is modified in place
        return True

    def _forget_note(self) -> None:
        """Remove the held-back note kept beside a copy once its file is no longer held back."""
        for name in [n for n in self._noted_ids if n not in self._in_place]:
            del self._noted_ids[name]
            self._noted_sha.pop(name, None)
            copy = self._copies.get(name)
            if copy is not None:
                copy.clear_note()

    def _keep_note(self, name: str, path: Path, digest: str, in_force: str, held_id: int, born: int | None) -> bool:
        """Note the held-back file beside its copy (a restart must not apply it); once per file id and content.

        Returns False if the note could not be written (owed: ``keep_owed``), True otherwise."""
        copy = self._copies.get(name)
        if copy is None or (self._noted_ids.get(name) == held_id and self._noted_sha.get(name) == digest):
            return True
        self._noted_ids[name] = held_id
        self._noted_sha[name] = digest  # the start holds back, without a birth time, only the content noted (inode58)
        return not copy.note(str(path), held_id, self._in_place[name]["since"], digest, in_force, born)

    def _note_in_place(self, name: str, path: Path, digest: str, in_force: str, held_id: int) -> None:
        """Say once (log, audit, status) that ``path`` was modified in place and is not applied.

        Once more in the audit log for another file written at the path while its note cannot be kept: the next
        start knows the file held back by its ``not_applied`` record then (``risk.startup.audited_note``, audit58b).
        """
        message = (
            f"{path} was modified in place and NOT applied: write a copy and mv it over, "
            "or run `gateway risk reload` when the write is complete"
        )
        born = birth_ns(path, held_id)  # an inode number is reused once freed: the start tells them apart (inode58)
        if name in self._in_place:
            self._in_place[name]["sha256"] = digest
            if self._keep_note(name, path, digest, in_force, held_id, born):
                return
            noted = False
        else:
            log.warning("risk %s", message)
            self._in_place[name] = {"file": str(path), "since": utc_text(self._wall_clock()), "sha256": digest}
            noted = self._keep_note(name, path, digest, in_force, held_id, born)
        self._write_audit(
            {
                "event": "not_applied",
                "trigger": WATCH_TRIGGER,
                "who": WATCH_WHO,
                "file": str(path),
                "sha256": digest,
                "in_force_sha256": in_force,
                "file_id": held_id,  # the start knows the file by these two where the note is not kept (audit58b)
                "note_kept": noted,
                **({"born_ns": born} if born is not None else {}),
                "reason": "modified in place (not replaced): " + message.split(": ", 1)[1],
                **self._on_disk(path if name == "limits" else None, path if name == "reference" else None),
            }
        )

    # ------------------------------------------------------------------ trading state, kill switch

    def halt(self, account: str | None = None, who: str = "", reason: str = "", state_id: int = 0) -> TradingState:
        """Set HALTED at run time, firm-wide or for ``account`` (the kill switch); the core mass-cancels.

        Takes effect before the audit record is written, so a full disk cannot stop a kill. ``state_id``: as in
        ``set_trading_state``.
        """
        return self.set_trading_state(TradingState.HALTED, account, who, reason, trigger="kill", state_id=state_id)

    def set_trading_state(
        self,
        state: TradingState,
        account: str | None = None,
        who: str = "",
        reason: str = "",
        trigger: str = "admin",
        *,
        restored: bool = False,
        state_id: int = 0,
    ) -> TradingState:
        """Set the run-time state (firm-wide or one account); return the account's effective state.

        The file's ``trading_state`` still applies: the strictest of the two wins, so ACTIVE here
        lifts a kill but cannot lift a HALTED written in the limits file.

        ``restored``: the gateway re-applies a journaled kill or resume at start-up (``who`` as journaled).
        The audit record and the log say so (``who`` ends in ``RESTORED``); a restored kill's refusal text
        stays the kill's (``kill switch by <who>: <reason>``).

        ``state_id``: the change's identity, written in the audit record (``state_id``, after ``reason``) and by the
        gateway in the journal's record of it (``JTradingState.state_id``), so the next start tells which changes the
        journal holds (``gateway.audit_kills``, kill58); 0: none (the field is left out).
        """
        state = TradingState(state)
        said_who = who + RESTORED if restored else who
        if account is None:
            old = TradingState(self._firm_runtime_state)
            self._firm_runtime_state = int(state)
        else:
            holder = self._book.account(account)
            old = TradingState(holder.runtime_state)
            holder.runtime_state = int(state)
        if state is TradingState.ACTIVE:
            self._runtime_notes.pop(account, None)
        elif restored and state is TradingState.HALTED:
            # a kill (or a halt after an internal error) re-applied at start-up: the refusal text stays as it
            # was before the restart (the audit record and the log say it was restored)
            self._runtime_notes[account] = ("kill" if trigger in ("admin", "kill") else trigger, who, reason)
        else:
            self._runtime_notes[account] = (trigger, said_who, reason)
        effective = self.trading_state(account)
        log.warning(
            "risk trading state %s: %s -> %s (effective %s) by %s (%s): %s",
            "firm-wide" if account is None else f"account {account}",
            old.name,
            state.name,
            effective.name,
            said_who,
            trigger,
            reason,
        )
        self._write_audit(
            {
                "event": "trading_state",
                "trigger": trigger,
                "who": said_who,
                "scope": "firm" if account is None else "account",
                "account": account,
                "old": old.name,
                "new": state.name,
                "effective": effective.name,
                "reason": reason,
                **({"state_id": state_id} if state_id else {}),
            }
        )
        return effective

    def trading_state(self, account: str | None = None) -> TradingState:
        """Return the effective state firm-wide or for ``account`` (file and run time, strictest)."""
        document = self._file.document
        state = max(int(TradingState[document.defaults.trading_state or "ACTIVE"]), self._firm_runtime_state)
        if account is not None:
            scope = document.accounts.get(account)
            if scope is not None and scope.trading_state is not None:
                state = max(state, int(TradingState[scope.trading_state]))
            holder = self._book.accounts.get(account)
            if holder is not None:
                state = max(state, holder.runtime_state)
        return TradingState(state)

    def runtime_state(self, account: str | None = None) -> TradingState:
        """Return the run-time state set firm-wide or for ``account`` alone (kill/resume), the file not counted."""
        if account is None:
            return TradingState(self._firm_runtime_state)
        holder = self._book.accounts.get(account)
        return TradingState(holder.runtime_state if holder is not None else 0)

    def runtime_trigger(self, account: str | None = None) -> str:
        """Return how the run-time state set for the scope came (``kill``, ``internal_error``, ...; "": none noted)."""
        return self._runtime_notes.get(account, ("", "", ""))[0]

    def held_by(self, account: str | None = None) -> list[str]:
        """Name what keeps the scope stricter than ACTIVE: ``"file"`` and, for an account, ``"firm"``."""
        document = self._file.document
        held: list[str] = []
        file_state = int(TradingState[document.defaults.trading_state or "ACTIVE"])
        if account is not None:
            scope = document.accounts.get(account)
            if scope is not None and scope.trading_state is not None:
                file_state = max(file_state, int(TradingState[scope.trading_state]))
        if file_state:
            held.append("file")
        if account is not None and self._firm_runtime_state:
            held.append("firm")
        return held

    def is_known_account(self, account: str) -> bool:
        """Return True if ``account`` is one of ``known_accounts()``: two dict lookups, whatever the file's size."""
        if account in self._file.document.accounts:
            return True
        holder = self._book.accounts.get(account)
        return holder is not None and bool(holder.runtime_state or holder.open_orders)

    def known_accounts(self) -> set[str]:
        """Return the accounts in the limits file and those with a run-time state or open orders."""
        known = set(self._file.document.accounts)
        known.update(name for name, holder in self._book.accounts.items() if holder.runtime_state or holder.open_orders)
        return known

    def start_new_day(self, who: str = "") -> None:
        """Reset every account's gross traded notional (the daily credit counter) and audit it."""
        self._book.start_new_day()
        self._write_audit({"event": "new_day", "trigger": "admin", "who": who})

    # ------------------------------------------------------------------ position corrections

    def plan_adjustment(
        self, account: str, symbol: str, qty: int, price: int, notional_sign: int, reason: str
    ) -> Adjustment:
        """Decide on a correction of a position (``risk.adjust.plan``) from the book as it is; change nothing."""
        file = self._file
        references = set(file.reference.prices) if file.reference is not None else set()
        holder = self._book.accounts.get(account)
        return plan(
            file.document, self._resolver, holder, account, symbol, qty, price, notional_sign, reason, references
        )

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
        """Add ``qty`` to the position and ``notional`` to the traded notional; log and audit it.

        The caller planned it (``plan_adjustment``) and journaled it first; ``restored``: re-applied from
        the journal at start-up (``who`` as journaled; the log and the audit record say so). Every check
        from now on reads the corrected position. Return the position before and after.
        """
        holder = self._book.account(account)
        position = self._book.position(holder, symbol)
        before = position.position
        traded_before = holder.traded_notional
        position.position = before + qty
        holder.traded_notional = traded_before + notional
        self.position_adjustments += 1
        said_who = who + RESTORED if restored else who
        log.warning(
            "risk position of account %s in %s corrected by %s: %d %+d -> %d, traded notional %s -> %s (%s)",
            account,
            symbol,
            said_who,
            before,
            qty,
            position.position,
            money(traded_before),
            money(holder.traded_notional),
            reason,
        )
        self._write_audit(
            {
                "event": "position_adjust",
                "trigger": "restored" if restored else "admin",
                "who": said_who,
                "account": account,
                "symbol": symbol,
                "qty": qty,
                "price": money(price) if price > 0 else None,
                "notional": money(notional),
                "position_before": before,
                "position_after": position.position,
                "traded_notional_before": money(traded_before),
                "traded_notional_after": money(holder.traded_notional),
                "reason": reason,
            }
        )
        return before, position.position

    # ------------------------------------------------------------------ state accessors

    def position(self, account: str, symbol: str) -> PositionView:
        """Return ``account``'s position in ``symbol`` (flat if never traded)."""
        holder = self._book.accounts.get(account)
        state = holder.positions.get(symbol) if holder is not None else None
        if state is None:
            state = PositionState()
        return PositionView(state.position, state.open_buy_qty, state.open_sell_qty)

    def exposure(self, account: str) -> ExposureView:
        """Return ``account``'s open orders, open notional and traded notional today."""
        holder = self._book.accounts.get(account) or AccountState()
        return ExposureView(holder.open_orders, holder.open_notional, holder.traded_notional)

    def set_start_position(self, account: str, symbol: str, qty: int) -> None:
        """Set the filled position of ``account`` in ``symbol`` (start of day, or the explain tool)."""
        holder = self._book.account(account)
        self._book.position(holder, symbol).position = qty

    def set_reference_price(self, symbol: str, price: int, now_ns: int | None = None) -> None:
        """Record a trade price seen elsewhere (market data, tools) as the last trade of ``symbol``."""
        self._references.on_trade(symbol, price, self._clock() if now_ns is None else now_ns)

    def status(self) -> dict[str, Any]:
        """Return a JSON-ready summary for ``gateway status``: states, counts, file hashes, last reload.

        What only a load or reload changes (file names, hashes, load time, the not-ACTIVE scopes of
        the file, configured counts, warnings) is built once per load and reused; the document is
        ``assemble_status`` of ``status_parts``, the builder the snapshot's reader runs.
        """
        wire, raw = self.status_parts()
        return assemble_status(wire, raw, self._static_status()["account_set"])

    def _static_status(self) -> dict[str, Any]:
        """Return the parts of ``status`` that only a load or reload changes (built once per load).

        The parts that grow with the file (``LoadStatus``) are those a reload staged before the switch
        (``stage_status``), else built here at once.
        """
        file = self._file
        cached = self._status_cache
        if cached is not None and cached[0] is file and cached[1] == self._loaded_at_ns:
            return cached[2]
        staged = self._staged_status
        self._staged_status = None
        parts = (staged if staged is not None and staged.file is file else LoadStatus(file)).finish()
        static: dict[str, Any] = {
            "fixed": {
                "limits_file": str(file.path),
                "sha256": file.sha256,
                "reference_file": str(file.reference_path) if file.reference_path else None,
                "reference_sha256": file.reference_sha256 or None,
                "loaded_at": utc_text(self._loaded_at_ns),
                "start_positions": self._positions_notice,
            },
            **parts,
        }
        self._status_cache = (file, self._loaded_at_ns, static)
        return static

    def stage_status(self, pending: PendingReload, units: int = SLICE_ITEMS) -> LoadStatus | None:
        """Return the builder of the per-load status parts of the limits ``pending`` read (None: nothing to apply).

        The gateway runs its steps on the loop, one per iteration, before ``finish_reload``: the switch then
        finds them built (a request meanwhile is answered from the limits in force, the old part, whole).
        """
        if pending.result is not None or pending.limits is None:
            return None
        pending.status = LoadStatus(pending.limits, units)
        return pending.status

    def trading_scopes(self) -> TradingScopes:
        """Return what ``gateway metrics`` shows of the trading states: kills, scopes not ACTIVE, accounts.

        Three parts: the run-time kills in force by scope (``{"firm": 0 or 1, "account": accounts
        killed}``); the scopes whose own state (the file's, or a kill's, the stricter) is REDUCING or HALTED, as
        ``(scope, state, count)`` for every scope kind and both states (zeros included); and every known
        account's effective state. Bounded by the limits file and the accounts with a run-time state.
        ``assemble_trading_scopes`` of ``status_wire`` and ``trading_scopes_raw``, as the snapshot's reader does.
        """
        return assemble_trading_scopes(self.status_wire(), self.trading_scopes_raw())

    def trading_scopes_raw(self) -> tuple[int, list[tuple[str, int]]]:
        """Return what ``trading_scopes`` needs beyond the per-load ``status_wire``: the firm's run-time state and
        ``(account, run-time state)`` of each account in the book with a run-time state or not in the limits file.

        What the gateway's ``metrics`` snapshot sends per request: nothing for an account that did nothing.
        """
        configured = self._file.document.accounts
        return self._firm_runtime_state, [
            (name, h.runtime_state)
            for name, h in self._book.accounts.items()
            if h.runtime_state or name not in configured
        ]

    def status_wire(self) -> dict[str, Any]:
        """Return the per-load part of ``status_parts`` (the same object until the next load): what the limits
        file says, the account names once and the accounts' own states where the file sets one."""
        static = self._static_status()
        wire: dict[str, Any] | None = static.get("wire")
        if wire is None:
            wire = static["wire"] = {
                "fixed": static["fixed"],
                "trading_state": static["trading_state"],
                "configured": static["configured"],
                "warnings": static["warnings"],
                "account_names": static["account_names"],
                "default_state": static["default_state"],
                "scope_states": static["scope_states"],  # sparse: an account the file gives no state is absent
                "scope_counts": static["scope_counts"],
            }
        return wire

    def status_wire_encodable(self, wire: dict[str, Any]) -> dict[str, Any]:
        """Return ``wire`` (``status_wire``) as the snapshot encodes it: the same bytes, the account names
        already encoded (``LoadStatus``: a slice at a time before a reload's switch) as ``msgspec.Raw``."""
        static = self._static_status()
        if wire is not static.get("wire"):
            return wire
        encodable: dict[str, Any] | None = static.get("wire_encodable")
        if encodable is None:
            encodable = static["wire_encodable"] = {
                **wire,
                "account_names": msgspec.Raw(static["account_names_msgpack"]),
            }
        return encodable

    def status_parts(self) -> tuple[dict[str, Any], StatusRaw]:
        """Return ``status`` in two parts for ``assemble_status``: the per-load part (``status_wire``: the same
        object until the next load) and the run-time numbers (one row per account in the book, nothing formatted).

        What the gateway's status snapshot copies on the event loop; the document is assembled by the
        process that asked.
        """
        wire = self.status_wire()
        book = self._book
        rows = [
            (name, h.runtime_state, h.open_orders, h.open_notional, h.traded_notional)
            for name, h in book.accounts.items()
        ]
        raw: StatusRaw = (
            self._firm_runtime_state,
            self._references.as_of,
            self._last_reload,
            self.internal_errors,
            len(book.orders),
            rows,
            list(self._in_place.values()),
            self.position_adjustments,
            [(account or "", *note) for account, note in self._runtime_notes.items()],
        )
        return wire, raw

    # ------------------------------------------------------------------ explanations

    def effective_limits(self, account: str, strategy: str, symbol: str) -> list[LimitSource]:
        """Return every effective limit for a key, with the scope that set it (empty if unknown account)."""
        if account not in self._file.document.accounts:
            return []
        _, sources = self._resolver.resolve(account, strategy, symbol)
        out: list[LimitSource] = []
        for spec in FIELDS:
            source = sources[spec.attribute]
            considered = [
                (scope, display_value(spec, value)) for scope, value in source.considered if value is not None
            ]
            shown = display_value(spec, source.value) if source.value or spec.unit != "percent" else "not set"
            if spec.attribute == "collar_ticks" and not source.value:
                shown = "not set"
            out.append(LimitSource(spec.path, shown, source.scope, considered))
        return out

    def explain(self, order: Order, now_ns: int | None = None) -> list[Verdict]:
        """Say which checks ``order`` (as a new order) passes or fails and why, without counting it."""
        now = self._clock() if now_ns is None else now_ns
        limits = self._resolver.get(order.account, order.strategy_id, order.symbol)
        if limits is None:
            denial = self._unknown_account(order.account)
            return [Verdict("account", False, denial.code, denial.text)]
        scopes = ", ".join(
            ["defaults"] + [n for n, _ in self._resolver.scopes(order.account, order.strategy_id, order.symbol)]
        )
        verdicts = [Verdict("account", True, "", f"account {order.account} is configured; scopes applied: {scopes}")]
        request = self._prepare(
            order.account,
            order.strategy_id,
            order.symbol,
            order.side,
            order.ord_type,
            order.qty,
            order.price,
            order.cum_qty,
            limits,
            now,
            NEW,
        )
        found: Verdicts = []
        for check in self.new_order_chain:
            check(request, found)
        for name, result in found:
            if isinstance(result, Denial):
                verdicts.append(Verdict(name, False, result.code, result.text))
            else:
                verdicts.append(Verdict(name, True, "", result))
        verdicts.append(Verdict("reference", True, "", self._references.describe(order.symbol, now)))
        return verdicts

    # ------------------------------------------------------------------ audit

    def _wall_now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._wall_clock() / 1e9, tz=datetime.UTC)

    def _file_fields(self, limits: LimitsFile) -> dict[str, Any]:
        return {
            "file": str(limits.path),
            "sha256": limits.sha256,
            "reference_file": str(limits.reference_path) if limits.reference_path else None,
            "reference_sha256": limits.reference_sha256 or None,
        }

    def _on_disk(self, limits: Path | None, reference: Path | None) -> dict[str, Any]:
        """Return who owns each file and when it was last written (``file_owner``, ``reference_file_owner``).

        The file watch cannot know who saved a file: its owner and modification time are what can be known.
        """
        fields: dict[str, Any] = {}
        for key, path in (("file_owner", limits), ("reference_file_owner", reference)):
            if path is None:
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            try:
                user = pwd.getpwuid(st.st_uid).pw_name
            except KeyError:
                user = ""
            fields[key] = {"uid": st.st_uid, "user": user, "mtime": utc_text(st.st_mtime_ns)}
        return fields

    def audit_venue_action(self, event: str, who: str, details: dict[str, Any]) -> None:
        """Write an operator's action on a venue session to the audit log (fixfix54b): ``venue_reconnect``,
        ``venue_set_seq`` (trigger ``admin``). Their ``--reason`` was only in the gateway log before, though the
        commands' help says it is recorded in the audit log. Kept and written late, as a kill's record, when the
        audit log cannot be written (the action took effect)."""
        self._write_audit({"event": event, "trigger": "admin", "who": who, **details})

    def _write_audit(self, record: dict[str, Any], required: bool = False) -> None:
        """Append ``record`` with its time; raise only if ``required`` (a reload is refused without it).

        A record that could not be written and was not ``required`` (its change took effect: a kill, a
        resume, a ``not_applied`` notice) is kept and written before the next record that can be written,
        with ``late: true`` and ``written_time``; up to ``MAX_LATE_RECORDS`` are kept (then the oldest go).
        While a reload's record is written in a worker thread (``hold_audit``) a record is queued with its time
        and written after it, in order (``release_audit``): one writer at a time, whole lines.
        """
        if self._audit is None:
            return
        now = self._wall_clock()
        if self._audit_held and not required:
            self._audit_queue.append((record, now))
            return
        self._append_audit(record, now, required)

    def _append_audit(self, record: dict[str, Any], now: int, required: bool, written: int | None = None) -> None:
        """Write ``record`` made at ``now`` (the late ones first, written at ``written``, default ``now``)."""
        if self._audit is None:
            return
        full = {"time": utc_text(now), "time_ns": now, **record}
        if self._gateway_id is not None:
            full["gateway_id"] = self._gateway_id
        written_time = utc_text(now if written is None else written)
        try:
            while self._late:
                self._audit.write({**self._late[0], "late": True, "written_time": written_time})
                self._late.pop(0)
            self._audit.write(full)
        except OSError as exc:  # disk full, I/O error: expected, one line without a traceback
            if required:
                raise
            log.error(
                "risk audit log write failed for %s record (%s): written later, marked late", record.get("event"), exc
            )
            self._late.append(full)
            del self._late[:-MAX_LATE_RECORDS]

    def hold_audit(self) -> None:
        """Queue the audit records written from now on (``release_audit`` writes them): a reload's record is being
        written in a worker thread (``write_switch``)."""
        self._audit_held = True

    def release_audit(self) -> None:
        """Write the records queued since ``hold_audit``, in order, each with the time it was made."""
        self._audit_held = False
        queued, self._audit_queue = self._audit_queue, []
        for record, now in queued:
            self._append_audit(record, now, False, self._wall_clock())

    def reload_metrics(self) -> dict[str, float]:
        """Return what ``gateway metrics`` shows of reloads and the audit log (rev54risk: a refused reload or a
        file not applied was seen only by ``gateway status`` and the log); and 1 while a copy of the files in force
        (or a held-back note) is not kept in the state directory (audit58b: only an ERROR and the status said it)."""
        return {
            "risk_reloads_applied_total": float(self.reloads_applied),
            "risk_reloads_refused_total": float(self.reloads_refused),
            "risk_files_not_applied": float(len(self._in_place)),
            "risk_audit_records_late": float(len(self._late)),
            "risk_copies_not_kept": 1.0 if self.copies_owed else 0.0,  # state_dir not writable (audit58b)
        }

    def flush_late_audit(self) -> int:
        """Write the records kept while the audit log was not writable; return how many are still waiting."""
        if self._late and self._audit is not None and not self._audit_held:
            now = self._wall_clock()
            try:
                while self._late:
                    self._audit.write({**self._late[0], "late": True, "written_time": utc_text(now)})
                    self._late.pop(0)
            except OSError:
                pass
        return len(self._late)

    def late_records(self) -> list[dict[str, Any]]:
        """Return the audit records still waiting to be written (``flush_late_audit``), oldest first (a copy)."""
        return list(self._late)

    @property
    def copies_owed(self) -> bool:
        """True while a copy in the state directory (or a note beside one) is not what is in force: a write failed.

        Cheap (the file watch asks at each tick): the copies kept, four at most.
        """
        return any(copy.owed for copy in self._kept_copies)

    def keep_owed(self) -> bool:
        """Write again the copies and notes a state directory that could not be written left owed (riskcopy57).

        In any thread, never at once with a reload's ``keep_copies`` (the gateway runs one after the other). Quiet
        while the state directory still cannot be written (tried at each file watch tick); True when the last one
        owed was kept now: then ``copies_kept_again`` (on the loop) says so, once.
        """
        owed = [copy for copy in self._kept_copies if copy.owed]
        if not owed:
            return False
        problems = [copy.keep_owed() for copy in owed]
        return not any(problems)

    def copies_kept_again(self) -> None:
        """Say (log, ``copies_kept`` audit record, status) that the copies in force are kept again."""
        kept = self._kept_copies[0].path.parent if self._kept_copies else ""
        log.warning(
            "risk the copies in force are kept again in %s (the state directory can be written again): a restart "
            "puts the limits in force now (sha256 %s) back in force",
            kept,
            self._file.sha256[:12],
        )
        self._write_audit(
            {
                "event": "copies_kept",
                "trigger": "state directory writable again",
                "who": WATCH_WHO,
                **self._file_fields(self._file),
            }
        )
        if self._last_reload is not None:
            self._last_reload.pop("copy_problem", None)

    def close(self) -> None:
        """Close the audit log (and the files the watch holds open)."""
        for looking in self._looking.values():
            if not looking.digest.cancel():  # its thread reads the file: closed once it is done
                concurrent.futures.wait([looking.digest])
            os.close(looking.opened.fd)
        self._looking.clear()
        for fds in (self._judged_fd, self._observed_fd):
            for fd in fds.values():
                os.close(fd)
            fds.clear()
        if self._audit_queue:
            self.release_audit()
        if self._audit is not None:
            self._audit.close()
