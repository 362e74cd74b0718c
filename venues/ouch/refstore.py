"""UserRefNum allocation that stays strictly increasing for the session day, across restarts and crashes.

OUCH silently ignores a request whose UserRefNum is not above every number already
used on the account that day, so reusing one after a restart would lose an order
without a word. The store reserves numbers in blocks: the state file records the
highest number that may have been handed out (the end of the current block), written
atomically (temp file, fsync, rename, fsync of the directory) before any number of the
block is used. After a crash a new store starts above the whole block. The hot path
touches the disk once per block; with ``prefetch`` it never does in steady state: once half of
the current block is used, the next block's reservation is written by a background thread, and
numbers of that block are handed out only after the write (and its fsyncs) succeeded. Should the
current block run out first, ``next`` waits for that write (or writes itself), as without prefetch.

A new trading day, or a session id different from the one on file, starts again at 1.

A failed write (ENOSPC, EIO) sets ``error``; the OUCH adapter refuses new orders and replaces while it is
set. ``retry`` writes the reservation again, at most once per ``RETRY_INTERVAL_NS`` of the adapter's clock,
so a disk that was full for a moment stops orders for about a second, not for the rest of the day.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

from venues.atomic_file import write_file_atomically
from venues.ouch.refcount import RefCounter

log = logging.getLogger(__name__)

DEFAULT_BLOCK: Final = 1000
RETRY_INTERVAL_NS: Final = 1_000_000_000
"""While a write is failing, ``retry`` tries again at most this often."""


class RefStoreError(Exception):
    """The state file exists but cannot be trusted (the operator must look at it)."""


class _State(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    session: str
    reserved: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_State)


class UserRefNumStore:
    """Hand out UserRefNums for one OUCH account from a small state file in ``state_dir``."""

    def __init__(
        self,
        state_dir: str | Path,
        name: str,
        *,
        today: Callable[[], str],
        block: int = DEFAULT_BLOCK,
        prefetch: bool = False,
    ) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self.path = Path(state_dir) / f"{name}.userrefnum.json"
        self._today = today
        self._block = block
        self._prefetch = prefetch
        self.counter = RefCounter()
        """The next number, the reserved block's end, the prefetch point and the last write error: read and
        written by the OUCH adapter per order (compiled: a native class, ``venues.ouch.refcount``)."""
        self._job: tuple[_State, int] | None = None
        """The reservation the background writer is working on (None: idle)."""
        self._job_posted = threading.Event()
        self._job_done = threading.Event()
        self._worker: threading.Thread | None = None
        self._generation = 0
        """Bumped whenever day, session or the numbering restart: a background write of an older one is void."""
        self._lock = threading.Lock()
        """Serialises writes of the state file (the loop thread and one background writer)."""
        self.writes = 0
        self._retried_ns: int | None = None
        """When ``retry`` last began an interval or wrote (the adapter's clock); None: not since the write failed."""
        self.day = today()
        self.session = ""
        state = self._load()
        if state is not None and state.day == self.day:
            self.session = state.session
            self.counter.next = state.reserved + 1
            self.counter.reserved = state.reserved

    @property
    def error(self) -> str | None:
        """Return why the last write of the state file failed (None when the file is current)."""
        return self.counter.error

    @error.setter
    def error(self, error: str | None) -> None:
        self.counter.error = error

    @property
    def last_issued(self) -> int:
        """Return the highest number handed out by this store (0 if none yet)."""
        return self.counter.next - 1

    def next(self) -> int:
        """Return the next UserRefNum (persisting a new block first when the current one is used up).

        Return 0, and hand out nothing, when that block cannot be persisted (``error`` says why): a number
        past the block on file would be handed out again after a restart.
        """
        counter = self.counter
        number = counter.next
        if number > counter.reserved:
            self._wait_for_prefetch()
            if number > counter.reserved and not self._reserve(number + self._block - 1):
                return 0
        elif number == counter.prefetch_at:
            self._start_prefetch()
        counter.next = number + 1
        return number

    def retry(self, now_ns: int) -> bool:
        """While ``error`` is set, write the reservation needed again, at most once per ``RETRY_INTERVAL_NS``.

        The interval runs from the failed write when the adapter noted its time (``write_failed_at``), else
        from the first call after the failure, which writes nothing (``now_ns`` is the adapter's clock; the
        store has none of its own). The reservation written is the current block, or the next one if
        the current block is used up; ``reserved`` is raised only after the write succeeded, so no number past
        the reservation on file is handed out. Return True if ``error`` is clear (nothing to retry, or the
        write succeeded), False if the caller must refuse as before.
        """
        counter = self.counter
        if counter.error is None:
            return True
        last = self._retried_ns
        if last is None or now_ns - last < RETRY_INTERVAL_NS:
            if last is None:
                self._retried_ns = now_ns
            return False
        self._retried_ns = now_ns
        with self._lock:  # the background writer may have succeeded meanwhile: then this write is only redundant
            reserved = counter.reserved if counter.next <= counter.reserved else counter.next + self._block - 1
            if not self._write(_State(self.day, self.session, reserved)):
                return False
            counter.reserved = reserved
        self._schedule_prefetch()
        if 0 < counter.prefetch_at < counter.next:  # the prefetch point passed while failing: start at the next
            counter.prefetch_at = counter.next
        return True

    def write_failed_at(self, now_ns: int) -> None:
        """Note that a write just failed at ``now_ns`` (the adapter's clock): ``retry`` waits an interval from it."""
        self._retried_ns = now_ns

    def _start_prefetch(self) -> None:
        """Hand the reservation of the block after the current one to the background writer."""
        self.counter.prefetch_at = 0
        if self._job is not None:
            return
        self._job_done.clear()
        self._job = (_State(self.day, self.session, self.counter.reserved + self._block), self._generation)
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="userrefnum-prefetch", daemon=True)
            self._worker.start()
        self._job_posted.set()

    def _work(self) -> None:
        """Background writer: one reservation per posted job, for the life of the process."""
        while True:
            self._job_posted.wait()
            self._job_posted.clear()
            job = self._job
            if job is None:
                continue
            state, generation = job
            try:
                with self._lock:
                    current = generation == self._generation
                    if current and self._write(state) and state.reserved > self.counter.reserved:
                        self.counter.reserved = state.reserved
                        self._schedule_prefetch()
            finally:
                self._job = None
                self._job_done.set()

    def _wait_for_prefetch(self) -> None:
        """Wait until the background writer has finished the reservation it is working on (if any)."""
        if self._job is not None:
            self._job_done.wait()

    def _schedule_prefetch(self) -> None:
        """Arrange for ``next`` to start the following reservation once half of the current block is used."""
        counter = self.counter
        counter.prefetch_at = counter.reserved - self._block // 2 if self._prefetch else 0

    def is_current_day(self) -> bool:
        """Return True if the state on file belongs to today's session day."""
        return self.day == self._today()

    def ensure_above(self, used: int) -> None:
        """Never hand out ``used`` or anything below it (learned from recovery or an Account Query)."""
        if used >= self.counter.next:
            self.counter.next = used + 1

    def bind(self, session: str) -> None:
        """Attach to the session the venue logged us into; a new day or another session restarts at 1."""
        day = self._today()
        if day != self.day or (self.session and session != self.session):
            log.info(
                "UserRefNum for %s restarts at 1 (day %s -> %s, session %r -> %r)",
                self.path.name,
                self.day,
                day,
                self.session,
                session,
            )
            self._wait_for_prefetch()
            self._generation += 1
            self.day = day
            self.session = session
            self.counter.next = 1
            self.counter.reserved = 0
            self._reserve(0)
        elif session != self.session:
            self._wait_for_prefetch()
            self._generation += 1
            self.session = session
            self._reserve(self.counter.reserved)

    def _load(self) -> _State | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RefStoreError(f"cannot read UserRefNum state {self.path}: {exc}") from exc
        try:
            state = _decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise RefStoreError(
                f"UserRefNum state {self.path} is corrupt ({exc}); numbers already used today are unknown. "
                "If it is a new trading day, delete the file; otherwise restore it "
                "or set it from an Account Query"
            ) from exc
        if state.reserved < 0:
            raise RefStoreError(f"UserRefNum state {self.path} has a negative reservation")
        return state

    def _reserve(self, reserved: int) -> bool:
        """Persist ``reserved`` as the highest number that may be handed out, then allow it in memory.

        Return False, the allowance unchanged, if the write failed (``error`` says why).
        """
        with self._lock:
            if not self._write(_State(self.day, self.session, reserved)):
                return False
            self.counter.reserved = reserved
        self._schedule_prefetch()
        return True

    def _write(self, state: _State) -> bool:
        """Write ``state`` atomically and durably; return True on success (else set ``error``)."""
        data = _encoder.encode(state)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_file_atomically(self.path, data)
        except OSError as exc:
            if self.counter.error is None:
                log.error("cannot persist UserRefNum reservation to %s: %s", self.path, exc)
                self._retried_ns = None
            self.counter.error = f"cannot persist UserRefNum reservation to {self.path}: {exc}"
            return False
        if self.counter.error is not None:
            log.warning(
                "UserRefNum reservation persisted to %s again (up to %d): new orders and replaces are allowed",
                self.path,
                state.reserved,
            )
        self.counter.error = None
        self.writes += 1
        return True
