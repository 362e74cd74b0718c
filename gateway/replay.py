"""Replay from the journal: where to start reading (a coarse index), and the bounded, stepwise read.

A strategy's events older than its in-memory window (``memory.events_kept``) are read back from
the journal for a reconnect that asks for them. Reading the whole day's journal for that costs
seconds and, on the event loop's interpreter, stalls every other strategy; so the engine keeps a
coarse index, and the read goes in steps the caller schedules (``ReplayJob.step``).

The index (``JournalMarks``):

* per strategy, every ``MARK_EVERY``-th event: (seq, a journal position from which the events
  after ``seq + 1`` can be rebuilt). A strategy event is either journaled as such
  (``JStrategyEvent``) or implied by a venue event and the state of its order (``JVenueApplied``),
  so the position is the earlier of where the batch holding the event began and where the
  oldest order of the strategy still open then was created: reading forward from it meets the
  whole life of every order that can still produce an event;
* for the whole gateway, every ``MARK_EVERY``-th order id: where the batch creating it began
  (``order_position`` finds, for any order id, a position at or before its creation).

Each entry is a few machine words (``array('q')``): about 16 bytes per 1,024 events of a strategy
plus 16 bytes per 1,024 orders, far inside the memory budget per order. The engine adds entries
where it already counts (one bit test per event and per order, no call) and recovery rebuilds them
from the positions of the records it reads.

The read (``ReplayJob``) decodes records from the chosen position on, follows only the orders of
the replaying strategy, and stops as soon as the last wanted event is rebuilt. Every event after
``last_seq`` up to the window must come exactly once and in order: a gap, a duplicate, damage or
a journal that ends too early is reported (text) and the Hello is refused ``REPLAY_UNAVAILABLE``.

A long read is made twice, so that the events never all live at once (replay41): a first pass only
checks that every event is there and counts them (``keep=False``: each event is dropped as soon as
it is checked), for the Welcome's ``replayed`` and for ``REPLAY_UNAVAILABLE`` before the Welcome;
after the Welcome a second pass rebuilds them again and hands them over ``chunk`` events at a time
(``JournalRead(chunk=...)``): a read that holds a chunk is *parked* (it keeps its file and its open
orders, is not stepped) until the engine has written most of it and resumes it. So the events
alive for a replay are bounded by about two chunks, not by the day.

The sharing (``JournalRead``, ``ReplayRunner``): one runner per gateway reads for every strategy,
one step of one read at a time, taking the reads in turn (round-robin), so a deep replay delays
another strategy's Welcome by one step per read in progress, never by a whole read. At most
``MAX_OPEN_READS`` reads have the journal open; a further one waits its turn, holding no file and
no events. A read whose connection closed is cancelled: the runner closes its file and drops what
it read at its next step (at once when nothing else is stepping it), and never reports it.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

import msgspec

from gateway.journal import (
    JOrderCreated,
    JOrderRefused,
    JOrderSent,
    JournalCorruptError,
    JournalReader,
    JRequest,
    JSeqAhead,
    JStrategyEvent,
    JVenueApplied,
    JVenueEvent,
    follow_order_record,
)
from gateway.journal_scan import may_add_order, order_record_wanted, record_wanted, skip_order_records, skip_records
from gateway.protocol.messages import OrderEvent
from gateway.status_numbers import JOURNAL_REPLAYS
from gateway.strategy_session import journaled_form
from gateway.venue_apply import apply_venue_event
from model.order import (
    IllegalTransition,
    Order,
    OrderInput,
    OrderState,
    mark_sent,
)

MARK_EVERY: Final = 1024
MARK_MASK: Final = MARK_EVERY - 1
"""An event whose ``seq & MARK_MASK == 0`` (and an order whose id does) gets an index entry."""
STEP_RECORDS: Final = 128
"""Records of the replaying strategy one ``ReplayJob.step`` decodes at most."""
STEP_SKIPPED: Final = 512
"""Other records one ``ReplayJob.step`` passes over at most (CRC-checked, a few bytes looked at, not decoded)."""
MAX_OPEN_READS: Final = 8
"""Replays reading the journal at once (each holds one file descriptor); a further one waits its turn."""

_RELEASE: Final = OrderInput.RELEASE_CANCEL
_FILLED: Final = OrderState.FILLED
"""The first terminal state (``Order.state >= _FILLED``: terminal, as in recovery)."""


class JournalMarks:
    """A coarse index: for increasing keys (a strategy's event seq, or order ids), a journal position each.

    Also an exact one: ``StrategyState.request_marks`` has an entry for each of its MassCancel answers and unreadable
    request numbers (``exactly``; mass56b).
    """

    __slots__ = ("keys", "positions")

    def __init__(self) -> None:
        self.keys = array("q")
        self.positions = array("q")

    def add(self, key: int, position: int) -> None:
        """Note ``position`` for ``key`` (keys increase; a key not above the last is ignored)."""
        keys = self.keys
        if keys and key <= keys[-1]:
            return
        keys.append(key)
        self.positions.append(position)

    def insert(self, key: int, position: int) -> None:
        """Note ``position`` for ``key`` wherever ``key`` falls among the keys (a key noted already keeps its own).

        For the exact index (``StrategyState.request_marks``): recovery meets a record journaled late, after a fault
        (``Engine._settle_owed``), after later requests' records, out of ``req_seq`` order (mass56c). Appending, the
        usual case, costs what ``add`` does; a key below the last is put in its place (``array.insert``: rare).
        """
        keys = self.keys
        if not keys or key > keys[-1]:
            keys.append(key)
            self.positions.append(position)
            return
        i = bisect_left(keys, key)
        if keys[i] != key:
            keys.insert(i, key)
            self.positions.insert(i, position)

    def at_or_before(self, key: int) -> int:
        """Return the position of the last entry whose key is <= ``key`` (0, the journal's start, if none)."""
        i = bisect_right(self.keys, key)
        return self.positions[i - 1] if i else 0

    def exactly(self, key: int) -> int:
        """Return the position noted for ``key`` itself (-1 if it has none)."""
        i = bisect_left(self.keys, key)
        return self.positions[i] if i < len(self.keys) and self.keys[i] == key else -1

    def move(self, key: int, position: int) -> None:
        """Note ``position`` for ``key`` instead of the one noted (nothing if ``key`` has no entry)."""
        i = bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            self.positions[i] = position

    def before(self, key: int) -> int:
        """Return the position of the last entry whose key is < ``key`` (0, the journal's start, if none)."""
        return self.at_or_before(key - 1)

    @property
    def nbytes(self) -> int:
        """Return the bytes the entries take."""
        return 8 * (len(self.keys) + len(self.positions))

    def __len__(self) -> int:
        return len(self.keys)


def replay_start(event_marks: JournalMarks, after: int) -> int:
    """Return where to read from to rebuild the events with seq > ``after``.

    An entry (seq, position) is good for the events after ``seq + 1`` (a venue event produces at most
    two events, the second of an order that may already be closed when the first is noted).
    """
    return event_marks.before(after)


def mark_position(batch_start: int, oldest_open: int, order_marks: JournalMarks) -> int:
    """Return an event mark's position: the batch's start, or earlier if an order still open was created earlier."""
    if oldest_open < 0:
        return batch_start
    return min(batch_start, order_marks.at_or_before(oldest_open))


class ReplayJob:
    """Rebuild one strategy's events ``after`` < seq <= ``upto`` from a ``JournalReader``, a step at a time.

    Pure: it touches nothing of the engine's, so a step may run on the loop or in a worker thread.
    ``step`` returns None while there is more to read, then the events (in order, each once) or the
    reason they cannot all be given (text).
    """

    def __init__(self, reader: JournalReader, strategy_id: str, after: int, upto: int, *, keep: bool = True) -> None:
        self.reader = reader
        self.strategy_id = strategy_id
        self.after = after
        self.upto = upto
        self.expected = after + 1
        self.events: list[OrderEvent] = []
        """The events rebuilt and not yet taken (``keep``; a streaming read hands them over a chunk at a time)."""
        self.keep = keep
        """Whether the events are kept (False: a first pass, which only checks that each is there, and counts)."""
        self.taken = 0
        """Events rebuilt so far (kept or only counted)."""
        self.orders: dict[int, Order] = {}
        """This strategy's orders created since the reading began and not yet terminal (the only ones whose
        events it can rebuild; a terminal one produces no more)."""
        self.records = 0
        """Records decoded (the replaying strategy's, and any the filter could not place)."""
        self._produced: list[OrderEvent] = []
        self._error = ""
        self._sid = msgspec.msgpack.encode(strategy_id)
        """The strategy id as the journal's records hold it (a MessagePack str: its length, then its bytes)."""

    @property
    def skipped(self) -> int:
        """Return the records passed over undecoded (other strategies', orders already closed)."""
        return self.reader.skipped

    def wanted(self, buf: bytes, at: int, stop: int) -> bool:
        """Return whether the record ``buf[at:stop]`` may concern this strategy (then it is decoded)."""
        return record_wanted(buf, at, self._sid, self.orders)

    def ends_batch(self, buf: bytes, start: int) -> bool:
        """Return whether the wanted record at ``buf[start]`` may create an order (apply it before reading on)."""
        return may_add_order(buf, start)

    def skip(self, buf: bytes, at: int, end: int, limit: int) -> tuple[int, int]:
        """Pass over up to ``limit`` records from ``buf[at]`` on that cannot concern this strategy."""
        return skip_records(buf, at, end, self._sid, self.orders, limit)

    def run(self) -> list[OrderEvent] | str:
        """Read to the end in one go (no loop to share: tests, a gateway without a scheduler)."""
        while (result := self.step()) is None:
            pass
        return result

    def close(self) -> None:
        """Stop reading: close the file and drop its buffer, the events and orders read so far."""
        self.reader.close()
        self.events = []
        self.orders = {}
        self._produced = []

    def step(self, max_records: int = STEP_RECORDS) -> list[OrderEvent] | str | None:
        """Decode up to ``max_records`` records, passing over up to ``STEP_SKIPPED`` others undecoded.

        A record that may create an order ends a batch and is applied before the next is looked at: which
        records concern the strategy depends on the orders it has open (a new order makes its venue events
        wanted). An order that ends within a batch may have a record or two more decoded, and ignored.
        Return None (more to do), the events, or why they cannot be given.
        """
        if self.expected > self.upto:
            self.reader.close()
            return self.events
        reader = self.reader
        read = reader.read
        skip_left = STEP_SKIPPED
        decoded = 0
        try:
            while decoded < max_records and skip_left > 0:
                skipped = reader.skipped
                batch = read(max_records - decoded, self, skip_left)
                skip_left -= reader.skipped - skipped
                if not batch:
                    if not reader.done:
                        continue  # passed over others' records only
                    reader.close()
                    missing = self.upto - self.expected + 1
                    return (
                        f"{missing} of the {self.upto - self.after} events released from memory are not in the journal"
                    )
                decoded += len(batch)
                self.records += len(batch)
                for _position, record in batch:
                    self._apply(record)
                    if self._error:
                        reader.close()
                        return self._error
                    if self.expected > self.upto:
                        reader.close()
                        return self.events
        except (JournalCorruptError, OSError, IllegalTransition) as exc:
            reader.close()
            return f"the journal cannot be read ({type(exc).__name__}: {exc})"
        return None

    def _take(self, event: OrderEvent) -> None:
        seq = event.seq
        if seq <= self.after:
            return
        if seq != self.expected:
            self._error = f"the journal has event {seq} where event {self.expected} belongs (gap or duplicate)"
            return
        if self.keep:
            self.events.append(event)
        self.taken += 1
        self.expected = seq + 1

    def _apply(self, rec: object) -> None:
        """Follow one record as recovery does, for this strategy's orders only."""
        kind = type(rec)
        if kind is JRequest:
            assert isinstance(rec, JRequest)
            if rec.record is None:
                return
            rec = rec.record
            kind = type(rec)
        orders = self.orders
        if kind is JVenueApplied or kind is JVenueEvent:
            assert isinstance(rec, JVenueEvent)
            event = rec.event
            order = orders.get(event.order_id)
            if order is None or order.venue != rec.venue:
                return  # another strategy's order, or one closed before the reading began
            produced = self._produced
            first = apply_venue_event(order, event, rec.seq if isinstance(rec, JVenueApplied) else 0, produced)
            if first is not None and kind is JVenueApplied:
                self._take(first)
                for extra in produced:
                    self._take(extra)
            produced.clear()  # an earlier version's JVenueEvent: its events follow as JStrategyEvent records
            if order.state >= _FILLED:  # terminal: no more events; the read's memory stays bounded
                del orders[event.order_id]
        elif kind is JStrategyEvent:
            assert isinstance(rec, JStrategyEvent)
            if rec.strategy_id == self.strategy_id:
                self._take(journaled_form(rec.event))  # as recovery keeps it: the same bytes from either
        elif kind is JOrderSent:
            assert isinstance(rec, JOrderSent)
            if rec.strategy_id == self.strategy_id:
                order = orders[rec.order_id] = rec.order()
                mark_sent(order, rec.venue_ref)
        elif kind is JOrderCreated:
            assert isinstance(rec, JOrderCreated)
            if rec.strategy_id == self.strategy_id:
                orders[rec.order_id] = rec.order()
        elif kind is JSeqAhead:  # the numbers before its next_seq name no event (lost with a journal's tail)
            assert isinstance(rec, JSeqAhead)
            if rec.strategy_id == self.strategy_id and rec.next_seq > self.expected:
                self.expected = rec.next_seq
        else:
            order_id: int = getattr(rec, "order_id", -1)
            order = orders.get(order_id)
            if order is None:
                return
            follow_order_record(order, rec)
            if kind is JOrderRefused:
                del orders[order_id]


ReplayResult = list[OrderEvent] | str


class JournalRead:
    """One strategy's replay read, as the runner sees it: opened when its turn comes, cancellable any time.

    ``open_job`` makes the ``ReplayJob`` (opening the journal) on the first step; ``done`` gets the
    result on the event loop, unless the read was cancelled first. With ``chunk`` (a streaming read,
    the second pass of a long replay) ``done`` also gets each ``chunk`` or so events as they are
    rebuilt: the read is then ``parked`` (not stepped, its file and orders kept) until resumed;
    its last call (``parked`` False) has the rest, or the reason the journal cannot give them.
    """

    __slots__ = ("cancelled", "chunk", "done", "job", "open_job", "parked", "steps", "strategy_id")

    def __init__(
        self,
        strategy_id: str,
        open_job: Callable[[], ReplayJob],
        done: Callable[[ReplayResult], None],
        chunk: int = 0,
    ) -> None:
        self.strategy_id = strategy_id
        self.open_job = open_job
        self.done = done
        self.chunk = chunk
        """Hand over the events every this many (0: all at the end)."""
        self.job: ReplayJob | None = None
        """The job once opened (it holds the file until it ends or is closed)."""
        self.cancelled = False
        self.parked = False
        """A chunk was handed over and the read waits for ``ReplayRunner.resume`` (set by the stepping thread)."""
        self.steps = 0
        """Steps run."""

    @property
    def taken(self) -> int:
        """Return the events rebuilt so far (kept or only counted)."""
        return self.job.taken if self.job is not None else 0

    @property
    def records(self) -> int:
        """Return the journal records decoded so far."""
        return self.job.records if self.job is not None else 0

    @property
    def skipped(self) -> int:
        """Return the journal records passed over undecoded so far (other strategies', closed orders')."""
        return self.job.skipped if self.job is not None else 0

    def step(self) -> ReplayResult | None:
        """Run one step (opening the job first if needed); None while there is more to read.

        A read that ended lets go of its file, buffer and orders at once: only its result lives on. A
        streaming read that has a chunk's worth of events returns them and is ``parked`` (it keeps its file).
        """
        self.steps += 1
        try:
            job = self.job
            if job is None:  # opening the file can fail too (EMFILE, EACCES): answered like a bad read
                job = self.job = self.open_job()
            result = job.step()
            if result is None and self.chunk and len(job.events) >= self.chunk:
                result = job.events
                job.events = []
                self.parked = True
                return result
        except Exception as exc:  # the job reports its errors as text; this is a safety net
            result = f"the journal cannot be read ({type(exc).__name__}: {exc})"
        if result is not None:
            self.close()
        return result

    def close(self) -> None:
        """Release the file, the buffer and what was read (a cancelled read, or one that ended)."""
        job = self.job
        if job is not None:
            job.close()


class ReplayReader(Protocol):
    """Reads strategies' released events from the journal and hands each result to ``read.done`` on the loop.

    ``gateway.app``: steps of the reads in turn, on the loop or in a worker thread (``ReplayRunner``).
    Without one the engine reads on the spot (sans-IO).
    """

    def submit(self, read: JournalRead) -> None:
        """Queue a read."""

    def cancel(self, read: JournalRead) -> None:
        """Cancel a read: ``done`` is never called, its file is closed and its events dropped (at the next step)."""

    def resume(self, read: JournalRead) -> None:
        """Step a parked streaming read again (the engine has written most of its last chunk)."""


class ReplayRunner:
    """Read the journal for every strategy's replay: a step of each open read in turn, at most ``max_open`` open.

    ``submit``, ``cancel`` and ``resume`` are called on the event loop; ``step`` on the loop (``replay_read:
    loop``) or in one worker thread (``thread``): a lock guards the queues, never a step. A parked streaming
    read keeps its place among the ``max_open`` (it holds its file) but is not stepped until resumed.
    """

    def __init__(self, max_open: int = MAX_OPEN_READS) -> None:
        self.max_open = max_open
        self.open: deque[JournalRead] = deque()
        """Reads holding the journal open, the next to step first."""
        self.waiting: deque[JournalRead] = deque()
        """Reads waiting for a place among the open ones (no file, nothing read)."""
        self.parked: list[JournalRead] = []
        """Streaming reads holding a chunk's place: open (a file each), not stepped until ``resume``."""
        self.chunks = 0
        """Chunks handed over by streaming reads (before their last)."""
        self._lock = threading.Lock()
        self.steps = 0
        """Steps run, of every read."""
        self.submitted = 0
        """Reads queued (one per strategy login whose replay reaches back into the journal)."""
        self.finished = 0
        """Reads that ended with their events (each counted by the thread that steps)."""
        self.failed = 0
        """Reads that ended with an error text (the journal could not be read)."""
        self.cancelled = 0
        """Reads cancelled before they ended (their connection closed)."""

    def submit(self, read: JournalRead) -> None:
        """Queue a read (it opens the journal when it gets a place)."""
        self.submitted += 1
        with self._lock:
            if len(self.open) < self.max_open:
                self.open.append(read)
            else:
                self.waiting.append(read)

    def cancel(self, read: JournalRead, *, close_now: bool) -> None:
        """Cancel a read: it is never reported; its file is closed now (``close_now``: nothing steps meanwhile).

        Otherwise (a worker thread may be in its step) the next ``step`` closes it.
        """
        if not read.cancelled:
            self.cancelled += 1
        read.cancelled = True
        with self._lock:
            if read in self.waiting:
                self.waiting.remove(read)
                return
            if read in self.parked:  # not being stepped: closed now whatever the reader
                self.parked.remove(read)
                self._admit()
            elif close_now and read in self.open:
                self.open.remove(read)
                self._admit()
            else:
                return
        read.close()

    def resume(self, read: JournalRead) -> None:
        """Put a parked read back among those stepped (a cancelled or ended one is left alone)."""
        with self._lock:
            if read in self.parked:
                self.parked.remove(read)
                read.parked = False
                self.open.append(read)

    def _admit(self) -> None:
        while self.waiting and len(self.open) + len(self.parked) < self.max_open:
            self.open.append(self.waiting.popleft())

    @property
    def busy(self) -> bool:
        """Return whether a read is to be stepped (open and not parked, or waiting with a place free)."""
        return bool(self.open) or (bool(self.waiting) and len(self.parked) < self.max_open)

    def step(self) -> tuple[JournalRead, ReplayResult] | None:
        """Step the next open read once; return it with its result when it ended (else None).

        Cancelled reads are closed and dropped first; a read that is not done goes to the back; a streaming
        read that hands over a chunk is returned with it and parked.
        """
        with self._lock:
            gone = [old for old in self.open if old.cancelled]
            for old in gone:
                self.open.remove(old)
            self._admit()
            if not self.open:
                read = None
            else:
                read = self.open.popleft()
        for old in gone:
            old.close()
        if read is None:
            return None
        self.steps += 1
        result = read.step()
        parked = read.parked
        with self._lock:
            if not read.cancelled:
                if result is None:
                    self.open.append(read)
                    return None
                if parked:
                    self.parked.append(read)
                    self.chunks += 1
                    return read, result
            self._admit()
        if result is None or parked:  # cancelled during its step
            read.close()
            return None
        if isinstance(result, str):
            self.failed += 1
        else:
            self.finished += 1
        return read, result

    @property
    def in_progress(self) -> int:
        """Return the reads open (parked included) or waiting for a place."""
        with self._lock:
            return len(self.open) + len(self.parked) + len(self.waiting)

    def status_numbers(self) -> tuple[str, int, int, int, int, int, int]:
        """Return the ``journal_replays`` status section's numbers (``gateway.status_numbers``): a tagged tuple."""
        with self._lock:
            in_progress = len(self.open) + len(self.parked) + len(self.waiting)
        return (JOURNAL_REPLAYS, in_progress, self.submitted, self.finished, self.failed, self.cancelled, self.steps)


REBUILD_STEP: Final = 4096
"""Records ``rebuild_order`` decodes per read of the journal."""
REBUILD_SKIPPED: Final = 1 << 16
"""Other records ``rebuild_order`` passes over per read of the journal (CRC-checked, a few bytes looked at)."""


class OrderRecords:
    """The records that may concern one order (a ``RecordFilter``): the others are passed over undecoded."""

    __slots__ = ("order_id",)

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id

    def wanted(self, buf: bytes, at: int, stop: int) -> bool:
        """Return whether the record ``buf[at:stop]`` may concern the order (then it is decoded)."""
        return order_record_wanted(buf, at, self.order_id)

    def ends_batch(self, buf: bytes, start: int) -> bool:
        """Return False: what is wanted never changes (one order id)."""
        return False

    def skip(self, buf: bytes, at: int, end: int, limit: int) -> tuple[int, int]:
        """Pass over up to ``limit`` records from ``buf[at]`` on that cannot concern the order."""
        return skip_order_records(buf, at, end, self.order_id, limit)


def rebuild_order(reader: JournalReader, order_id: int, *, select: bool = True) -> tuple[Order | None, int]:
    """Rebuild order ``order_id`` as the journal has it, reading from the reader's position to the end.

    For a fill the venue reports for an order released from memory (``Engine._released_order``): the
    order's creation, every record that moved it and every venue event applied to it (late fills
    included, with their execution ids), in the same functions recovery uses. Records that cannot concern
    the order (other orders', by their first bytes: ``OrderRecords``) are CRC-checked and passed over
    undecoded (``reader.skipped`` counts them); ``select=False`` decodes every record (the tests' and the
    benchmark's reference). Return the order (None if the journal never created it from the reader's
    position on) and the records decoded. Damage and read errors propagate (``JournalCorruptError``,
    ``OSError``, ``IllegalTransition``); the reader is closed.
    """
    order: Order | None = None
    produced: list[OrderEvent] = []
    records = 0
    records_filter = OrderRecords(order_id) if select else None
    try:
        while True:
            batch = reader.read(REBUILD_STEP, records_filter, REBUILD_SKIPPED)
            if not batch:
                if reader.done:
                    break
                continue  # passed over other records only
            records += len(batch)
            for _position, record in batch:
                rec = record.record if type(record) is JRequest else record
                if rec is None:
                    continue
                kind = type(rec)
                if kind is JVenueApplied or kind is JVenueEvent:
                    assert isinstance(rec, JVenueEvent)
                    if order is not None and rec.event.order_id == order_id and order.venue == rec.venue:
                        apply_venue_event(order, rec.event, 0, produced)
                        produced.clear()
                elif kind is JOrderSent or kind is JOrderCreated:
                    assert isinstance(rec, JOrderCreated)
                    if rec.order_id == order_id:
                        order = rec.order()
                        if isinstance(rec, JOrderSent):
                            mark_sent(order, rec.venue_ref)
                elif order is not None and getattr(rec, "order_id", -1) == order_id:
                    follow_order_record(order, rec)
    finally:
        reader.close()
    return order, records
