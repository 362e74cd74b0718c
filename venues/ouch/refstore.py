"""UserRefNum allocation that stays strictly increasing for the session day, across restarts and crashes.

OUCH silently ignores a request whose UserRefNum is not above every number already
used on the account that day, so reusing one after a restart would lose an order
without a word. The store reserves numbers in blocks: the state file records the
highest number that may have been handed out (the end of the current block), written
atomically (temp file, fsync, rename, fsync of the directory) before any number of the
block is used. After a crash a new store starts above the whole block. The hot path
touches the disk once per block (``DEFAULT_BLOCK``: 100,000 numbers, sized for the peak order rate);
with ``prefetch`` it never does in steady state: once half of the current block is used, the next
block's reservation is written by a background thread, and numbers of that block are handed out
only after the write (and its fsyncs) succeeded. Should the current block run out first, ``next``
waits for that write, at most ``wait_limit`` (``WAIT_LIMIT_S``): with ``prefetch`` every block
``next`` needs is written by the background writer (``bind`` writes the session, and the first
block with it, on its caller's thread, as before), and ``next`` never waits on the disk for
longer (a number not on file in time is refused: ``next`` returns 0 and ``error`` says the write is
overdue, logged once; the write clears it when it lands). Only the event loop sets the prefetch point
(``counter.prefetch_at``), whenever it posts a reservation; the writer only raises ``reserved`` and sets
or clears ``error``, so no interleaving of the two threads can lose a prefetch.

A new trading day starts again at 1. A session id different from the one on file the same day continues above the
day's numbers: OUCH's UserRefNums increase throughout the trading day, across sessions (ouchstandby57; before, it
restarted at 1 and a venue whose Account Query went unanswered ignored those numbers), unless they are used up.

OUCH's UserRefNum is 4 bytes: no reservation goes past ``MAX_USER_REF_NUM`` (4,294,967,295). Once the
numbers of the session day are used up (restarts skipping blocks, a bad state file, or an Account Query
Response with NextUserRefNum 0xFFFFFFFF raising the floor), ``next`` returns 0 and ``exhausted`` is True;
``error`` says so (logged once at CRITICAL) and the adapter refuses new orders and replaces
``OUCH_REFNUM_EXHAUSTED`` until a new day or session (``bind``) starts the numbering again at 1.

The store also keeps the venue's end-of-day mark (System Event ``E``) for the session day: in a file of its
own beside the state file (``<name>.endofday.json``: day, session, ended), written atomically by a one-off
thread, never on the event loop. ``day_ended`` is True only while the mark names the store's current day and
session, so a restart the same day still knows the venue takes no new orders, and a new day or session
(``bind``) or a System Event ``S`` (``mark_day_ended(False)``) ends it. The same file keeps SoupBinTCP End of
Session (``Z``, ``closed``; ``session_closed``): a restart the same day does not log in to a session the venue
closed (ouchend56).

What the venue told about the session's numbers is kept too (``floor``, fixstandby52): a floor ``ensure_above``
raised past the reservation on file (the venue's NextUserRefNum) is written as the reservation, and, after a standby
host took over with no record of the day, ``earlier``: the last sequence number of the session's earlier traffic
(another host's), so a restart the same day logs in after it, and ``order_ids``: the highest gateway order id that
traffic used as a ClOrdID, so a restart the same day starts its order ids above it (standby53). Both are written
only when set (``omit_defaults``): the files of a day without them read as before. ``own_ids`` (ouchpf61, written
only when true): every ClOrdID behind ``order_ids`` was this host's own Enter its journal lost with its tail (a
power failure), none another host's: the OUCH adapter then still adopts a Replace the journal lost.

A failed write (ENOSPC, EIO) sets ``error``; the OUCH adapter refuses new orders and replaces while it is
set. ``retry`` hands the reservation to the background writer again, at most once per ``RETRY_INTERVAL_NS``
of the adapter's clock, so a disk that was full for a moment stops orders for about a second, not for the
rest of the day; the event loop itself never writes while failing (an fsync on a dying disk or a hung NFS
mount can block for seconds).
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
from venues.state_error import VenueStateError

log = logging.getLogger(__name__)

DEFAULT_BLOCK: Final = 100_000
"""UserRefNums reserved per write (``user_ref_num_block``), sized so a healthy disk never stalls order entry.

The next block is posted to the background writer when half of the current one is left: 50,000 numbers,
500 ms at the gateway's documented peak of 100,000 orders/s (docs/performance.md; its order path tops out
near 110,000/s on one core), 1 s at 50,000/s, plus ``WAIT_LIMIT_S``. A write (fsync, rename, directory
fsync) on a healthy local disk takes milliseconds; under writeback pressure it was seen at 21-75 ms, which
stalled the old 1,000-number block (10 ms of headroom at 50,000/s). The cost is numbers skipped after a
restart: at most the unused rest of the reservation on file, the current block and a prefetched next one,
under 2 blocks = 200,000 of the 4,294,967,295 a day allows (21,000 restarts a day)."""
MIN_BLOCK: Final = 1_000
"""The smallest ``user_ref_num_block`` the config takes (at 50,000 orders/s such a block lasts 20 ms)."""
MAX_BLOCK: Final = 10_000_000
"""The largest ``user_ref_num_block`` the config takes: a restart skips under 20,000,000 numbers (214 a day)."""
MAX_USER_REF_NUM: Final = 0xFFFF_FFFF
"""The highest UserRefNum OUCH can carry (u32): no reservation goes past it."""
RETRY_INTERVAL_NS: Final = 1_000_000_000
"""While a write is failing, ``retry`` tries again at most this often."""
WAIT_LIMIT_S: Final = 0.05
"""The longest the event loop waits for a background write (``wait_limit``): past it, the number is refused."""


class RefStoreError(VenueStateError):
    """The state file exists but cannot be trusted (the operator must look at it)."""


class _State(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    day: str
    session: str
    reserved: int
    earlier: int = 0
    """The last sequence number of the session's earlier traffic (another host's, seen by a gateway with no record
    of the day: ``UserRefNumStore.floor``); 0, and not written, when there was none (fixstandby52)."""
    order_ids: int = 0
    """The highest gateway order id that earlier traffic used as a ClOrdID: new order ids start above it, also after
    a restart the same day (``UserRefNumStore.floor``); 0, and not written, when there was none (standby53)."""
    ask: bool = False
    """The venue's NextUserRefNum is owed before this host sends anything (a login's replay named another host's
    numbers, or had a gap, and the Account Query was not answered nor timed out yet): a restart asks it at its next
    login (``UserRefNumStore.mark_ask``; ouchfail58b); False, and not written, when nothing is owed."""
    other: int = 0
    """With ``ask``: the highest UserRefNum of another host that replay named (0: none, a gap only)."""
    own_ids: bool = False
    """Every ClOrdID that raised ``order_ids`` was this host's own Enter whose journal records were lost (an unclean
    start's replay, ``OuchVenue._own_lost_enter``; ouchpf61); False, and not written, when any was another host's
    (or a file written before: its raises are taken as another host's)."""


class _EndOfDay(msgspec.Struct, omit_defaults=True):
    """The end-of-day mark on file: the venue sent System Event ``E`` (``ended``) in ``session`` on ``day``.

    ``closed``: it sent SoupBinTCP End of Session (``Z``) there: that session takes no more logins (ouchend56);
    written only when set, so a file without it reads as before (and an older gateway ignores the field).
    """

    day: str
    session: str
    ended: bool
    closed: bool = False


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_State)
_eod_decoder = msgspec.json.Decoder(_EndOfDay)


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
        self._job: tuple[_State, int, threading.Event] | None = None
        """The reservation the background writer is working on, its generation and its own done event (None: idle)."""
        self._job_posted = threading.Event()
        self._job_done = threading.Event()
        """The done event of the job posted last (each job has its own: see ``_post``)."""
        self._worker: threading.Thread | None = None
        self._generation = 0
        """Bumped whenever day, session or the numbering restart, and when a mark or floor changes while the store is
        failing (``_failing``: the retry's write in flight lacks it): a background write of an older one is void."""
        self._lock = threading.Lock()
        """Serialises writes of the state file (the loop thread and one background writer)."""
        self._slot = threading.Lock()
        """Held (never across I/O) while the writer applies a write to ``counter`` and while ``bind`` bumps the
        generation or ``next`` gives up on a write: each sees the other's change whole."""
        self.wait_limit = WAIT_LIMIT_S
        """The longest, in seconds, the caller of ``next`` or ``bind`` waits for a background write."""
        self.stalls = 0
        """How often a background write kept the loop waiting past ``wait_limit`` (each set ``error``)."""
        self._stalled = False
        """``error`` says a write is overdue (not that it failed): the write's outcome replaces it."""
        self.writes = 0
        self.write_failures = 0
        """Writes of the state file that failed (each retry too: it grows once a second while the disk refuses)."""
        self._retried_ns: int | None = None
        """When ``retry`` last began an interval or wrote (the adapter's clock); None: not since the write failed."""
        self._exhausted_error: str | None = None
        """``error`` while the numbers of the session day are used up (None: not used up, or not noticed yet)."""
        self.day = today()
        self.session = ""
        self.earlier = 0
        """The last sequence number of the session's earlier traffic (not this gateway's: a standby host took over
        with no record of the day); a restart the same day logs in after it (``floor``; 0: none)."""
        self.order_ids = 0
        """The highest gateway order id the day's earlier traffic used as a ClOrdID (another host's: a standby host
        took over with no record of the day); new order ids start above it, a restart's too (``floor``; 0: none)."""
        self.ask = False
        """The venue's NextUserRefNum is owed before anything is sent (on file: ``mark_ask``; cleared by ``floor``
        with ``settled``): the adapter asks it at its next login, also after a restart."""
        self.other = 0
        """With ``ask``: the highest UserRefNum of another host a login's replay named (0: none)."""
        self.own_ids = False
        """``order_ids`` came only from this host's own Enters its journal lost (``floor``'s ``own``; ouchpf61): a
        power failure's, not another host's traffic (the OUCH adapter then still adopts a Replace the journal lost)."""
        self._on_file = (False, 0, 0)
        """``ask``, ``other`` and ``order_ids`` as the state file holds them (its last write that succeeded): a mark
        ``mark_ask`` failed to write is in memory only until a write carries it (ouchmark59)."""
        state = self._load()
        if state is not None:
            self._on_file = (state.ask, state.other, state.order_ids)
        if state is not None and state.day == self.day:
            self.session = state.session
            self.earlier = state.earlier
            self.order_ids = state.order_ids
            self.ask = state.ask
            self.other = state.other
            self.own_ids = state.own_ids and state.order_ids > 0
            self.counter.next = min(state.reserved, MAX_USER_REF_NUM) + 1
            self.counter.reserved = min(state.reserved, MAX_USER_REF_NUM)
            if self.exhausted:
                self._note_exhausted(f"the state file reserves up to {state.reserved}")
        self.eod_path = Path(state_dir) / f"{name}.endofday.json"
        self._ended_in: tuple[str, str] | None = None
        """(day, session) the venue ended (System Event ``E``) as far as this store knows; None: none."""
        self._closed_in: tuple[str, str] | None = None
        """(day, session) the venue closed (SoupBinTCP End of Session ``Z``) as far as this store knows; None: none."""
        self._load_end_of_day()
        self._eod_lock = threading.Lock()
        """Serialises writes of the end-of-day file; each writer writes the mark as it is when it holds it."""
        self._eod_writer: threading.Thread | None = None

    @property
    def error(self) -> str | None:
        """Return why the last write of the state file failed (None when the file is current)."""
        return self.counter.error

    @error.setter
    def error(self, error: str | None) -> None:
        self.counter.error = error

    @property
    def owed_on_file(self) -> bool:
        """Return True when the file holds what a restart needs about the venue's NextUserRefNum owed.

        While it is owed (``ask``): the mark itself as this process holds it, the other host's highest UserRefNum and
        ClOrdID included (``mark_ask``, or ``retry``'s write carrying it). Once settled (``floor`` with ``settled``):
        a reservation at or above every number handed out, so above the venue's NextUserRefNum, and the ClOrdIDs.
        False while the store is failing, and while the file holds an older state: a retry's write posted before a
        later mark (not written: the store was failing) clears ``error`` when it lands (rev60merge2 HIGH 2: the file
        held the older mark, and the adapter said the owed mark was on file again).
        """
        counter = self.counter
        if counter.error is not None:
            return False
        on_file = self._on_file
        if self.ask:
            return on_file == (True, self.other, self.order_ids)
        return counter.next - 1 <= counter.reserved and on_file[2] >= self.order_ids

    @property
    def block(self) -> int:
        """Return how many numbers one reservation covers (``user_ref_num_block``)."""
        return self._block

    @property
    def exhausted(self) -> bool:
        """Return True when every UserRefNum of the session day may have been used (the next is past 2^32-1)."""
        return self.counter.next > MAX_USER_REF_NUM

    def _note_exhausted(self, why: str) -> None:
        """Set ``error`` to say the numbers are used up (logged once per numbering): new orders stop until ``bind``."""
        counter = self.counter
        if self._exhausted_error is not None and counter.error == self._exhausted_error:
            return
        first = self._exhausted_error is None
        self._exhausted_error = counter.error = (
            f"UserRefNums of session day {self.day} session {self.session!r} used up ({why}; OUCH's highest is "
            f"{MAX_USER_REF_NUM}): start a new venue session or day"
        )
        if first:
            log.critical(
                "UserRefNums of %s (session day %s, session %r) used up (%s; OUCH's highest is %d): new orders and "
                "replaces to this venue are refused OUCH_REFNUM_EXHAUSTED (cancels still go out) until the venue "
                "starts a new session or day; ops: arrange a new session with the venue, or, if the state file is "
                "wrong, stop the gateway and set it from the venue's Account Query",
                self.path,
                self.day,
                self.session,
                why,
                MAX_USER_REF_NUM,
            )

    @property
    def last_issued(self) -> int:
        """Return the highest number handed out by this store (0 if none yet)."""
        return self.counter.next - 1

    def next(self) -> int:
        """Return the next UserRefNum (persisting a new block first when the current one is used up).

        Return 0, and hand out nothing, when that block cannot be persisted (``error`` says why): a number
        past the block on file would be handed out again after a restart. With ``prefetch`` the block is
        written by the background writer, never on the caller's thread, and the caller waits for it at most
        ``wait_limit`` seconds: past that, return 0 too (``error`` says the write is overdue; the write
        clears it when it lands).
        """
        counter = self.counter
        number = counter.next
        if number > counter.reserved:
            if not self._reserve_for(number):
                return 0
        elif number == counter.prefetch_at:
            self._start_prefetch()
        counter.next = number + 1
        return number

    def _reserve_for(self, number: int) -> bool:
        """Have the block starting at ``number`` on file (after any write in flight); False: refuse ``number``."""
        counter = self.counter
        if number > MAX_USER_REF_NUM:
            self._note_exhausted(f"the next would be {number}")
            return False
        if not self._wait_for_prefetch():
            return self._overdue(number)
        if number <= counter.reserved:
            return True
        reserved = min(number + self._block - 1, MAX_USER_REF_NUM)
        if not self._prefetch:
            return self._reserve(reserved)
        if counter.error is not None:  # failing: ``retry`` posts the write, at most once an interval
            return False
        self._post(reserved)
        counter.prefetch_at = reserved - self._block // 2
        if not self._wait_for_prefetch():
            return self._overdue(number)
        return number <= counter.reserved

    def _overdue(self, number: int) -> bool:
        """Give up waiting for the write in flight: set ``error`` (logged once per stall); True if it just landed.

        ``number`` 0: no number is waiting (``bind``).
        """
        counter = self.counter
        with self._slot:  # the writer applies its outcome under it: it landed before, or it replaces this
            if 0 < number <= counter.reserved:
                return True
            if counter.error is None:
                self.stalls += 1
                self._stalled = True
                self._retried_ns = None
                counter.error = (
                    f"UserRefNum reservation to {self.path} not written within {self.wait_limit * 1000:g} ms "
                    "(disk slow or hung)"
                )
                log.error(
                    "UserRefNum reservation to %s not written within %g ms (disk slow or hung, or blocks of %d "
                    "numbers used up faster than one is written: user_ref_num_block): new orders and replaces are "
                    "refused until it lands",
                    self.path,
                    self.wait_limit * 1000,
                    self._block,
                )
        return False

    def retry(self, now_ns: int) -> bool:
        """While ``error`` is set, post the reservation needed to the background writer, at most once per interval.

        The interval (``RETRY_INTERVAL_NS``) runs from the failed write when the adapter noted its time
        (``write_failed_at``), else from the first call after the failure, which posts nothing (``now_ns`` is
        the adapter's clock; the store has none of its own), then from each post. Nothing is posted while a
        write is still in flight. The reservation is the block after the current one while numbers of the
        current one are left (with ``prefetch``: what the failed prefetch wanted; the current block is on
        file already, and the recovery line then names the block the file holds), or the block the next
        number needs; the writer raises ``reserved`` only after its write succeeded, so no number past the
        reservation on file is handed out. This thread never writes: return True if ``error`` is clear now,
        False while it is set (the caller refuses as before, also while the posted write is pending).
        """
        counter = self.counter
        if counter.error is None:
            return True
        if self.exhausted:  # nothing to write: only a new day or session (``bind``) starts the numbering again
            return False
        last = self._retried_ns
        if last is None or now_ns - last < RETRY_INTERVAL_NS:
            if last is None:
                self._retried_ns = now_ns
            return False
        if self._job is None:  # else a write is in flight (it may hang): it is the attempt
            self._retried_ns = now_ns
            if counter.next > counter.reserved:  # used up, or a new numbering: the block the next number needs
                reserved = min(counter.next + self._block - 1, MAX_USER_REF_NUM)
            elif self._prefetch:  # the current block is on file: the one after it, which the failed prefetch wanted
                reserved = min(counter.reserved + self._block, MAX_USER_REF_NUM)
            else:
                reserved = counter.reserved
            self._post(reserved)
            if self._prefetch:  # the next prefetch from half this reservation's block (or the next number)
                counter.prefetch_at = max(counter.next, reserved - self._block // 2)
        return False

    def write_failed_at(self, now_ns: int) -> None:
        """Note that a write just failed at ``now_ns`` (the adapter's clock): ``retry`` waits an interval from it."""
        self._retried_ns = now_ns

    def _start_prefetch(self) -> None:
        """Hand the reservation of the block after the current one to the background writer.

        The prefetch point moves to that block's (numbers past the current block are handed out only once
        the write succeeded, so it cannot be passed early). While another write is in flight (a retry
        finishing), try again with the next number: a prefetch skipped here would leave the end of the block
        to a write on the caller's thread.
        """
        counter = self.counter
        if counter.reserved >= MAX_USER_REF_NUM:  # the last block: no number past it to reserve
            counter.prefetch_at = 0
        elif self._job is None:
            reserved = min(counter.reserved + self._block, MAX_USER_REF_NUM)
            self._post(reserved)
            counter.prefetch_at = reserved - self._block // 2
        else:
            counter.prefetch_at = counter.next + 1

    def _post(self, reserved: int) -> None:
        """Hand the writer the reservation of ``reserved`` for the current day, session and generation.

        The job gets an event of its own: the writer sets the event of the job it finished, so finishing
        one job can never mark the next one (posted the moment ``_job`` went None) as done.
        """
        done = threading.Event()
        self._job_done = done
        self._job = (self._state(reserved), self._generation, done)
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
            state, generation, done = job
            try:
                with self._lock:  # bind() bumps the generation: an older job is void
                    if generation == self._generation:
                        self._write(state, generation=generation)
            finally:
                self._job = None  # the loop may post the next job from here on (with its own event)
                done.set()

    def _failing(self, earlier: int = 0, order_ids: int = 0) -> bool:
        """Return True while the store is failing (``error``): the loop does not write then; ``retry`` does.

        ``earlier`` and ``order_ids`` (``floor``'s) are raised in memory then. The write in flight (``retry``'s,
        posted before) is voided if its state lacks what memory holds now (a later mark's other host's UserRefNum,
        ClOrdIDs, the earlier traffic, or the mark itself), so its landing does not clear ``error`` and ``retry``
        posts the current state after its interval. Before, that write cleared ``error`` with the older state on file
        and no retry followed (rev60merge2 HIGH 2). A write carrying all of it (the same mark again, or the mark a
        settled floor cleared: a restart only asks again) is left to land. False, the caller writes itself, when no
        error is set, also when that write landed just now (decided under ``_slot``, where the writer applies its
        outcome). Called once per mark or floor, not per order.
        """
        counter = self.counter
        with self._slot:
            if counter.error is None:
                return False
            self.earlier = max(self.earlier, earlier)
            self.order_ids = max(self.order_ids, order_ids)
            job = self._job
            if job is not None:
                state = job[0]
                if (
                    state.order_ids < self.order_ids
                    or state.other < self.other
                    or state.earlier < self.earlier
                    or (self.ask and not state.ask)
                    or (state.own_ids and not self.own_ids)
                ):
                    self._generation += 1
        return True

    def _wait_for_prefetch(self) -> bool:
        """Wait until the background writer has finished the reservation it is working on (if any).

        Wait at most ``wait_limit`` seconds: return False if the write is still in flight then.
        """
        job = self._job
        return job is None or job[2].wait(self.wait_limit)

    def _schedule_prefetch(self) -> None:
        """Arrange for ``next`` to start the following reservation once half of the current block is used.

        If that point is passed already (a reservation written again, a session bound late in the block),
        the next number starts it.
        """
        counter = self.counter
        counter.prefetch_at = max(counter.next, counter.reserved - self._block // 2) if self._prefetch else 0

    def is_current_day(self) -> bool:
        """Return True if the state on file belongs to today's session day."""
        return self.day == self._today()

    def ensure_above(self, used: int) -> None:
        """Never hand out ``used`` or anything below it (learned from recovery or an Account Query)."""
        counter = self.counter
        if used >= counter.next:
            counter.next = min(used, MAX_USER_REF_NUM) + 1
            if used >= MAX_USER_REF_NUM:
                self._note_exhausted(f"{used} or a higher number is used")
            if 0 < counter.prefetch_at < counter.next:  # the prefetch point was skipped: the next number starts it
                counter.prefetch_at = counter.next

    def _state(self, reserved: int) -> _State:
        """Return the state to write with ``reserved`` as the reservation."""
        own = self.own_ids and self.order_ids > 0
        return _State(self.day, self.session, reserved, self.earlier, self.order_ids, self.ask, self.other, own)

    def mark_ask(self, other: int = 0, above: int = 0, order_ids: int = 0) -> bool:
        """Put on file, at once, that the venue's NextUserRefNum is owed, and a provisional floor above ``other``.

        Called while a login's replay is read, at the first number of another host it names (``other``, ``above``:
        that number plus the margin an unanswered Account Query takes) and again when it names one near the floor
        on file, or at a replay gap (``other`` 0): before anything later in the replay is journaled. A stop or
        crash before the Account Query's answer then loses nothing: the restart logs in after this host's own later
        messages (``resume_after``) and its replay no longer shows the other host's, but it numbers from above
        ``above`` (the reservation on file; never lowered) and asks the venue's NextUserRefNum again before
        anything goes out (``ask``; ouchfail58b). The numbers handed out in this process are not moved (an answer
        may put the next one below ``above``; numbers above the reservation are only skipped at a restart).
        ``order_ids``: the highest gateway order id the other host's messages used as a ClOrdID so far (as ``floor``'s:
        a restart starts its order ids above it). Written
        on the caller's thread, as ``floor``; False: not written (``error`` says why; a store failing refuses new
        orders anyway).
        """
        counter = self.counter
        reserve = min(max(above, 0), MAX_USER_REF_NUM)
        if (
            self.ask
            and other <= self.other
            and reserve <= counter.reserved
            and order_ids <= self.order_ids
            and not (order_ids and self.own_ids)
            and self._on_file == (True, self.other, self.order_ids)
        ):
            return True
        self.ask = True
        self.other = max(self.other, other)
        self.order_ids = max(self.order_ids, order_ids)
        if order_ids:  # another host's ClOrdIDs
            self.own_ids = False
        if self._failing():  # the loop does not write; ``retry``'s write carries the mark
            return False
        self._wait_for_prefetch()
        with self._slot:  # a write still in flight would not carry the mark: void (``bind`` does the same)
            self._generation += 1
        with self._lock:
            reserved = max(counter.reserved, reserve)
            if not self._write(self._state(reserved)):
                return False
            counter.reserved = reserved
        self._schedule_prefetch()
        return True

    def floor(self, earlier: int = 0, order_ids: int = 0, *, settled: bool = False, own: bool = False) -> bool:
        """Persist what the venue told about the session's numbers: the floor ``ensure_above`` raised, and ``earlier``.

        ``ensure_above`` (the venue's NextUserRefNum, the highest number its earlier traffic named) moves the next
        number in memory only: a restart before the next block was reserved started again from the reservation on
        file, below numbers the venue has seen (it ignores those). ``earlier`` (when above the one on file) is the
        last sequence number of the session's earlier traffic, another host's (a standby host taking over with no
        record of the day): a restart the same day logs in after it (``earlier``; the journal holds nothing of it),
        so those messages are not read as this gateway's again (fixstandby52). ``order_ids`` (when above the one on
        file): the highest gateway order id that earlier traffic used as a ClOrdID; a restart the same day starts
        its order ids above it (the adapter's ``order_id_floor``; standby53). Nothing to write: True at once.
        Else the state file is written on the caller's thread, as ``bind`` writes it (once per login at most: the
        answer to an Account Query); a write still in flight is waited for (``wait_limit``) and then void. With
        ``prefetch`` the write takes the next number's block along. False: the write failed, or the store was
        failing already and the loop does not write then (``error`` says why; ``retry`` writes the floor and the
        mark with the next block). ``settled``: the venue's NextUserRefNum was answered (or timed out): the mark
        ``mark_ask`` put on file is cleared. ``own``: every ClOrdID behind ``order_ids`` was this host's own Enter its
        journal lost (``own_ids`` stays True while every raise was such; ouchpf61); a raise without it is another
        host's, and so is ``order_ids`` 0 with ``own`` False while ``own_ids`` is True (an id at or below the floor),
        except in a call that only settles (the Account Query answered or timed out: it names no id).
        """
        counter = self.counter
        own_ids = self.own_ids
        if order_ids or (own_ids and not own and not settled):  # a settle alone names no id (rev62diff)
            own_ids = own and (own_ids or not self.order_ids)
        if settled and self.ask:
            self.ask = False
            self.other = 0
        elif (
            counter.next - 1 <= counter.reserved
            and earlier <= self.earlier
            and order_ids <= self.order_ids
            and own_ids == self.own_ids
        ):
            return True
        self.own_ids = own_ids
        if self._failing(earlier, order_ids):  # the loop does not write; ``retry``'s write carries them
            return False
        self._wait_for_prefetch()
        with self._slot:  # a write still in flight would not carry the mark: void (``bind`` does the same)
            self._generation += 1
        with self._lock:
            self.earlier = max(self.earlier, earlier)
            self.order_ids = max(self.order_ids, order_ids)
            reserved = max(counter.reserved, min(counter.next - 1, MAX_USER_REF_NUM))
            if self._prefetch and reserved < counter.next <= MAX_USER_REF_NUM:  # the first order finds its block
                reserved = min(counter.next + self._block - 1, MAX_USER_REF_NUM)
            if not self._write(self._state(reserved)):
                return False
            counter.reserved = max(counter.reserved, reserved)
        self._schedule_prefetch()
        return True

    @property
    def day_ended(self) -> bool:
        """Return True if the venue ended the store's current day and session (System Event ``E``)."""
        return self._ended_in == (self.day, self.session)

    @property
    def session_closed(self) -> bool:
        """Return True if the venue sent End of Session (``Z``) in the store's current day and session."""
        return self._closed_in == (self.day, self.session)

    def mark_session_closed(self) -> None:
        """Record that the venue sent End of Session (``Z``) in the current day and session, and persist it.

        Written as ``mark_day_ended`` writes (a one-off thread; the stop waits for it at most a second): a restart
        the same trading day in that session does not log in (SoupBinTCP: reconnecting to that session is no longer
        possible).
        """
        self._closed_in = (self.day, self.session)
        self._start_end_of_day_write()

    def mark_day_ended(self, ended: bool) -> None:
        """Record that the venue ended (``E``) or started (``S``) the current session day, and persist it.

        The file is written by a one-off thread (the event loop never waits on the disk); each write takes
        the mark as it is when it runs, so the last one on file is the latest. A failed write is logged: the
        mark holds in memory until the process stops.
        """
        self._ended_in = (self.day, self.session) if ended else None
        self._start_end_of_day_write()

    def _start_end_of_day_write(self) -> None:
        writer = threading.Thread(target=self._write_end_of_day, name="ouch-endofday", daemon=True)
        self._eod_writer = writer
        writer.start()

    def wait_end_of_day_written(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the last end-of-day write; True if none is pending."""
        writer = self._eod_writer
        if writer is not None:
            writer.join(timeout)
            return not writer.is_alive()
        return True

    def _write_end_of_day(self) -> None:
        with self._eod_lock:
            mark, closed = self._ended_in, self._closed_in
            day, session = closed or mark or (self.day, self.session)  # the session closed last names the file
            ended = mark == (day, session)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                data = _encoder.encode(_EndOfDay(day, session, ended, closed == (day, session)))
                write_file_atomically(self.eod_path, data)
            except OSError as exc:
                if closed is not None:
                    why = (
                        "a restart today would log in again: the venue refuses logins to a session it ended (Login "
                        "Rejected S), and cancels would be held instead of refused VENUE_SESSION_ENDED"
                    )
                elif ended:
                    why = "a restart today would send new orders until the venue refuses them"
                else:
                    why = "a restart today would refuse new orders OUCH_END_OF_DAY: delete the file before one"
                log.error("cannot persist the end-of-day mark to %s: %s (%s)", self.eod_path, exc, why)

    def _load_end_of_day(self) -> None:
        """Take the (day, session) the file says the venue ended (``E``) and closed (``Z``); none if unreadable."""
        try:
            mark = _eod_decoder.decode(self.eod_path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, msgspec.DecodeError) as exc:
            log.error("cannot read the end-of-day mark %s (%s): taken as not ended", self.eod_path, exc)
            return
        if mark.ended:
            self._ended_in = (mark.day, mark.session)
        if mark.closed:
            self._closed_in = (mark.day, mark.session)

    def bind(self, session: str) -> None:
        """Attach to the session the venue logged us into; a new day restarts at 1, another session continues.

        OUCH 5.0 2.2: an account's UserRefNums are strictly increasing throughout the trading day, whatever the
        SoupBinTCP session; gaps are allowed. Another session the same day keeps the next number (above every one
        this store handed out or reserved), so an Enter goes out above the day's numbers even when the venue does
        not answer the Account Query the adapter asks then (ouchstandby57: before, the numbering restarted at 1 and
        the venue ignored those Enters). Only numbers used up (``exhausted``) restart at 1 in another session.

        A write in flight is waited for at most ``wait_limit`` seconds. Still in flight: it is void (it
        allows nothing of the new numbering), ``error`` is set, and ``retry`` writes the new state once the
        writer is free (until then nothing of the new numbering is handed out).
        """
        day = self._today()
        moved = bool(self.session and session != self.session)
        restart = day != self.day or (moved and self.exhausted)
        if restart:
            log.info(
                "UserRefNum for %s restarts at 1 (day %s -> %s, session %r -> %r)",
                self.path.name,
                self.day,
                day,
                self.session,
                session,
            )
        elif moved:
            log.info(
                "UserRefNum for %s continues at %d in session %r (was %r; they increase throughout the trading day)",
                self.path.name,
                self.counter.next,
                session,
                self.session,
            )
        elif session == self.session:
            self._prefetch_first()  # after a restart: the first order finds its block on file, in the background
            return
        idle = self._wait_for_prefetch()
        with self._slot:  # a write still in flight is void from here: it cannot raise this numbering's allowance
            self._generation += 1
            if moved or restart:
                self.earlier = 0  # a sequence number of the session on file: none in another
            if restart:
                self.ask = False  # a new numbering: nothing of the day before is owed
                self.other = 0
                if day != self.day:  # ClOrdIDs are unique through the day, whatever the session
                    self.order_ids = 0
                    self.own_ids = False
                self.day = day
                self.counter.next = 1
                self.counter.reserved = 0
                self.counter.prefetch_at = 0
                if self._exhausted_error is not None:  # a new numbering: its numbers are not used up
                    if self.counter.error == self._exhausted_error:
                        self.counter.error = None
                    self._exhausted_error = None
            self.session = session
        if idle:
            counter = self.counter
            reserved = counter.reserved
            if self._prefetch and reserved < counter.next <= MAX_USER_REF_NUM:  # this write takes the first block
                reserved = min(counter.next + self._block - 1, MAX_USER_REF_NUM)
            self._reserve(reserved)
        else:  # never wait on the disk: ``retry`` posts this numbering's state once the writer is free
            self._overdue(0)

    def _prefetch_first(self) -> None:
        """With ``prefetch``, post the block the next number needs if it is not on file (nobody waits for it)."""
        counter = self.counter
        if (
            self._prefetch
            and counter.reserved < counter.next <= MAX_USER_REF_NUM
            and counter.error is None
            and self._job is None
        ):
            reserved = min(counter.next + self._block - 1, MAX_USER_REF_NUM)
            self._post(reserved)
            counter.prefetch_at = reserved - self._block // 2

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
            if not self._write(self._state(reserved)):
                return False
            self.counter.reserved = reserved
        self._schedule_prefetch()
        return True

    def _write(self, state: _State, *, generation: int | None = None) -> bool:
        """Write ``state`` atomically and durably; return True on success (else set ``error``).

        With ``generation`` (the background writer's job), a success first raises ``reserved`` to the state's
        (if higher), then clears ``error``: the loop sees the new allowance no later than the recovery; a job
        ``bind`` voided meanwhile changes neither (``retry`` then writes the current state). The outcome is
        applied under ``_slot``. The writer never touches ``next`` or ``prefetch_at``: the loop owns both and
        sets the prefetch point when it posts a reservation (``_start_prefetch``, ``retry``, ``next``), so no
        interleaving of the two threads can leave the point behind ``next`` (the prefetch lost, the block's
        end written on the loop).
        """
        data = _encoder.encode(state)
        counter = self.counter
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_file_atomically(self.path, data)
        except OSError as exc:
            with self._slot:
                self.write_failures += 1
                first = counter.error is None or self._stalled
                if first:
                    self._retried_ns = None
                self._stalled = False
                counter.error = f"cannot persist UserRefNum reservation to {self.path}: {exc}"
            if first:
                log.error("cannot persist UserRefNum reservation to %s: %s", self.path, exc)
            return False
        with self._slot:
            self.writes += 1
            self._on_file = (state.ask, state.other, state.order_ids)
            if generation is not None:
                if generation != self._generation:
                    return True
                counter.reserved = max(counter.reserved, state.reserved)
            exhausted = self._exhausted_error is not None and counter.error == self._exhausted_error
            recovered = counter.error is not None and not exhausted
            if not exhausted:  # used up: only a new numbering (``bind``) clears it
                counter.error = None
            self._stalled = False
        if recovered:
            log.warning(
                "UserRefNum reservation persisted to %s again (up to %d): new orders and replaces are allowed",
                self.path,
                state.reserved,
            )
        return True
