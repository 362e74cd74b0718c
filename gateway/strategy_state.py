"""Per-strategy state that outlives connections, and what the engine needs from a connection."""

from __future__ import annotations

import logging
import mmap
import os
from collections import deque
from typing import Final, Protocol

from gateway.entitlements import PeerCredentials
from gateway.protocol.messages import MassCancelAnswer, OrderEvent
from gateway.replay import JournalMarks
from gateway.strategy_session import StrategySession
from model.order import Order

log = logging.getLogger(__name__)


class StrategyLink(Protocol):
    """What the engine needs from a strategy connection's transport."""

    session: StrategySession
    strategy: StrategyState | None
    peer: PeerCredentials | None
    output_full: bool
    """True while more than the high mark written to the strategy is unread: its requests are not read meanwhile
    (back-pressure, docs/strategy-protocol.md 4.6); the rest of a long read and the bytes held behind its Hello wait
    too (``Engine._read_turn``, ``Engine._read_held``)."""

    def write_out(self, data: bytearray) -> None:
        """Write bytes to the strategy."""
        ...

    def close_transport(self, *, drop_unread: bool = False) -> None:
        """Close the connection once queued bytes are written (``drop_unread``: the bytes the strategy sent that were
        not read are dropped first, so it sees an end-of-file after them, not a reset: the stop)."""
        ...

    def write_buffer_size(self) -> int:
        """Return how many bytes written to the strategy it has not read yet (what the transport holds)."""
        ...

    def is_closing(self) -> bool:
        """Return True once the connection is ending (the strategy closed it, or it is closing after a fatal Error).

        Its last bytes have been read: nothing more will come from it, even if ``Engine.link_closed`` is still to be
        called (the event loop calls it a loop iteration or more later).
        """
        ...

    def hold_input(self, hold: bool) -> None:
        """Stop reading from the strategy (True: its writes wait in its socket) or read again (False).

        The engine holds the bytes read behind a Hello until its Welcome and replay are out, and stops
        reading above a bound (``Engine._hold_input``). Idempotent. False also says the Hello is all answered
        (``Engine.welcome_pending`` is False from then on): a connection half-closed meanwhile closes then.
        """
        ...

    def read_rest_soon(self) -> bool:
        """Stop reading from the strategy and call ``Engine.link_rest`` on a later loop turn; False if it cannot.

        The engine keeps the rest of a long read and takes it a part per loop turn, so that other connections'
        reads are served in between; False: the engine takes it all now. Called again for each further turn.
        """
        ...

    def read_rest_done(self) -> None:
        """The kept rest of a long read is all taken: read from the strategy again (unless ``hold_input`` holds it)."""
        ...

    def set_replaying(self, replaying: bool) -> None:
        """Note that a long replay is being written a slice at a time (True) or is all out (False).

        While it is, the slices do not count against the write-buffer bound (docs/strategy-protocol.md 4.6: the
        Welcome and its replay do not count); the engine cuts off a replay that is not read for 10 s instead.
        """
        ...


REQUEST_ANSWERS_KEPT: Final = 1024
"""MassCancel answers, and numbers of requests whose id could not be read, a strategy keeps in memory (each kind) for
a re-sent duplicate; an older one's is read back from the journal (``Engine._request_from_journal``; mass56): one
record, at the position ``StrategyState.request_marks`` keeps for each of them (16 bytes each; mass56b)."""


class OrderGroup:
    """A strategy's open orders of one (account, venue, symbol): what its MassCancels walk (``StrategyState.groups``).

    A MassCancel looks only at the groups its filters match, counts their ``orders`` and walks only their ``todo``:
    700 MassCancels of orders already canceling, or matching none, cost a look at each group, not a walk of every
    open order each (mass56).
    """

    __slots__ = ("orders", "todo")

    def __init__(self) -> None:
        self.orders: dict[int, Order] = {}
        """The group's open orders by order id (as ``StrategyState.open_orders`` has them)."""
        self.todo: dict[int, Order] = {}
        """Those a MassCancel may still act on: every open order of the group but those a MassCancel left with a
        Cancel of the strategy's held or in flight (none of the gateway's own). An order joins it when it opens, and
        again when its Cancel is refused or dropped (``StrategyState.unsettle``): it can be canceled again."""


def group_opened(groups: dict[tuple[str, str, str], OrderGroup], order: Order) -> None:
    """Put an open ``order`` in its group (``StrategyState.groups``): a MassCancel looks at it (again)."""
    group_key = (order.account, order.venue, order.symbol)
    group = groups.get(group_key)
    if group is None:
        group = groups[group_key] = OrderGroup()
    group.orders[order.order_id] = order
    group.todo[order.order_id] = order


class StrategyState:
    """Everything the gateway keeps about one strategy id across its connections.

    ``events`` holds the strategy's most recent events only: ``events[i]`` has ``seq``
    ``events_base + i + 1`` (from ``i = jumped`` on: the first ``jumped`` were numbered before a
    ``LAST_SEQ_AHEAD`` jump, lower, with the numbers it skipped between them and the rest); older
    ones were released and are read back from the journal for a reconnect that needs them
    (``Engine._on_hello``). ``orders`` holds
    its working orders and a window of recent terminal ones; the ``cl_ord_id`` of every order
    released from it is in ``released`` (duplicate detection for the whole day: the strategy's
    keys in the gateway's one ``ReleasedIds``).
    """

    __slots__ = (
        "events",
        "events_base",
        "groups",
        "jumped",
        "last_req_seq",
        "link",
        "marks",
        "mass_cancel_answers",
        "next_seq",
        "open_orders",
        "orders",
        "refused_ids",
        "released",
        "replay_pending",
        "request_marks",
        "requests_noted",
        "strategy_id",
        "unreadable_order",
        "unreadable_seqs",
    )

    def __init__(self, strategy_id: str, released_ids: ReleasedIds | None = None) -> None:
        self.strategy_id = strategy_id
        self.next_seq = 1
        self.last_req_seq = 0
        """(Protocol version 3) The highest request number processed (journaled in ``JRequest``)."""
        self.mass_cancel_answers: dict[int, MassCancelAnswer] = {}
        """(Version 3) The last ``REQUEST_ANSWERS_KEPT`` MassCancels' answers by their ``req_seq``, for a re-sent
        duplicate to get it again (an older one's is read from the journal); all of them without a journal that
        keeps them (``note_answer``)."""
        self.unreadable_seqs: set[int] = set()
        """(Version 3) The last ``REQUEST_ANSWERS_KEPT`` request numbers taken by a request whose id could not be read
        (its ``Error`` is its answer and is not replayed; older ones are read from the journal): a duplicate of one
        whose id cannot be read either gets an ``Error`` again; any other duplicate of any number is skipped
        (docs/strategy-protocol.md 4.5)."""
        self.unreadable_order: deque[int] = deque()
        """``unreadable_seqs`` in the order noted (the oldest leaves first)."""
        self.request_marks = JournalMarks()
        """Each of those answers and numbers, with a journal that keeps them: its ``req_seq`` -> the journal position
        of its ``JRequest``, the one record read back for an older one (two ``array('q')``, 16 bytes per request, no
        object each: rev56merge3 found a read from a coarse mark crossing every strategy's records in between)."""
        self.requests_noted = 0
        """How many of them were noted (``note_answer``, ``note_unreadable``)."""
        self.events: list[OrderEvent] = []
        self.events_base = 0
        """``next_seq - 1 - len(events)``: how many events were released from ``events`` (the journal has them),
        plus the numbers ``LAST_SEQ_AHEAD`` jumps skipped. ``events[i].seq == events_base + i + 1`` for ``i``
        from ``jumped`` on, and ``next_seq - events_base`` is how many events memory holds (``Engine._deliver``)."""
        self.jumped = 0
        """How many of ``events``' first entries were numbered before the last ``LAST_SEQ_AHEAD`` jump (``skip_to``)."""
        self.orders: dict[str, Order] = {}
        self.released = StrategyIds(released_ids if released_ids is not None else _private())
        """Its released orders' ids, in the gateway's table (``Engine.released_ids``), and ``refused_ids``."""
        self.refused_ids = 0
        """``cl_ord_id``s in ``released`` used up by a NewOrder refused without an order (``refused_id``)."""
        self.replay_pending = 0
        """Journal reads under way for a Hello of this strategy (its events are not released meanwhile)."""
        self.open_orders: dict[int, Order] = {}
        self.link: StrategyLink | None = None
        self.marks = JournalMarks()
        """Replay index: every 1,024th event's seq -> where the journal can rebuild the events after it."""
        self.groups: dict[tuple[str, str, str], OrderGroup] | None = None
        """``open_orders`` by (account, venue, symbol), for MassCancels: built at the strategy's first MassCancel
        (``order_groups``), then kept with ``open_orders`` (None: none yet, and nothing kept per order)."""

    def note_answer(self, req_seq: int, answer: MassCancelAnswer, position: int, bounded: bool) -> None:
        """Keep a MassCancel's answer for a re-sent duplicate; its ``JRequest`` is journaled at ``position``.

        ``bounded``: the journal keeps it (the oldest kept leaves memory past ``REQUEST_ANSWERS_KEPT``).
        """
        self._mark_request(req_seq, position, bounded)
        answers = self.mass_cancel_answers
        answers[req_seq] = answer
        if bounded and len(answers) > REQUEST_ANSWERS_KEPT:
            del answers[next(iter(answers))]

    def note_unreadable(self, req_seq: int, position: int, bounded: bool) -> None:
        """Keep the number of a request whose id could not be read; its ``JRequest`` is journaled at ``position``."""
        if req_seq in self.unreadable_seqs:
            return
        self._mark_request(req_seq, position, bounded)
        self.unreadable_seqs.add(req_seq)
        order = self.unreadable_order
        order.append(req_seq)
        if bounded and len(order) > REQUEST_ANSWERS_KEPT:
            self.unreadable_seqs.discard(order.popleft())

    def _mark_request(self, req_seq: int, position: int, bounded: bool) -> None:
        if bounded:  # (without a journal that keeps it, memory keeps every answer: no position to note)
            self.request_marks.insert(req_seq, position)  # (recovery: a late-journaled one comes out of order)
        self.requests_noted += 1

    def order_groups(self) -> dict[tuple[str, str, str], OrderGroup]:
        """Return ``groups``, built from ``open_orders`` if this is the strategy's first MassCancel."""
        groups = self.groups
        if groups is None:
            groups = self.groups = {}
            for order_id, order in self.open_orders.items():  # group_opened, inline: one call less per order (mass58)
                group_key = (order.account, order.venue, order.symbol)
                group = groups.get(group_key)
                if group is None:
                    group = groups[group_key] = OrderGroup()
                group.orders[order_id] = order
                group.todo[order_id] = order
        return groups

    def unsettle(self, order: Order) -> None:
        """Note that ``order``'s Cancel was refused or dropped: a MassCancel must look at it again."""
        groups = self.groups
        if groups is not None and order.is_open:
            group = groups.get((order.account, order.venue, order.symbol))
            if group is not None and order.order_id in group.orders:
                group.todo[order.order_id] = order

    def skip_to(self, next_seq: int) -> None:
        """Number the next event ``next_seq`` (``JSeqAhead``); the events kept stay, before the jump (``jumped``)."""
        if next_seq > self.next_seq:
            self.jumped = len(self.events)
            self.events_base = next_seq - 1 - self.jumped
            self.next_seq = next_seq

    @property
    def numbered_base(self) -> int:
        """Return the seq before the first event in memory numbered after the last jump (``events_base`` if none)."""
        return self.events_base + self.jumped

    def kept_after(self, last_seq: int) -> list[OrderEvent] | None:
        """Return the events numbered before the last jump with ``seq > last_seq``, or None if memory lacks some.

        None: ``last_seq`` is older than the oldest event memory keeps (the journal has the ones before it).
        """
        jumped = self.jumped
        events = self.events
        if not jumped or last_seq < events[0].seq - 1:
            return None
        first = jumped
        while first and events[first - 1].seq > last_seq:
            first -= 1
        return events[first:jumped]

    def refused_id(self, cl_ord_id: str) -> None:
        """Use ``cl_ord_id`` up for a NewOrder refused before it became an order (``INVALID_FIELD``, ...).

        No order holds it, so it goes straight to ``released`` (8 bytes in the gateway's table, as a
        released order's id): a NewOrder reusing it is DUPLICATE_CL_ORD_ID, a Cancel of it ORDER_CLOSED.
        """
        if cl_ord_id not in self.orders and cl_ord_id not in self.released:
            self.released.add(cl_ord_id)
            self.refused_ids += 1

    def orders_count(self) -> int:
        """Return how many orders the strategy created today (in memory or released; not ``refused_ids``)."""
        return len(self.orders) + len(self.released) - self.refused_ids

    def release_events(self, keep: int) -> int:
        """Drop all but the last ``keep`` events from memory; return how many were dropped."""
        drop = len(self.events) - keep
        if drop <= 0:
            return 0
        del self.events[:drop]
        self.events_base += drop
        self.jumped = max(self.jumped - drop, 0)
        return drop


_EMPTY: Final = 0
_MAX_LOAD: Final = 0.7
_MIGRATE_PER_ADD: Final = 8
_PAGE: Final = mmap.PAGESIZE
RELEASED_IDS_CAPACITY: Final = 16_384
"""The ``Engine``'s default (tests, tools: a 256 KiB table); ``gateway run`` passes ``memory.released_ids_capacity``."""
_PRIVATE_CAPACITY: Final = 16
"""A ``StrategyState`` made without the gateway's table (recovery's, until ``Engine.adopt`` moves it over)."""


def _private() -> ReleasedIds:
    """Return a small table of the strategy's own (no warning when it grows)."""
    return ReleasedIds(_PRIVATE_CAPACITY, warn=False)


def slots_for(capacity: int) -> int:
    """Return the slots (a power of two, at least 8) of a table that holds ``capacity`` ids at most 70 % full."""
    slots = 8
    while _MAX_LOAD * slots < capacity:
        slots *= 2
    return slots


def _zeroed(slots: int, *, touch: bool) -> memoryview:
    """Return ``slots`` zero int64 slots in an anonymous private mapping (no temporary, no copy).

    ``touch``: write one slot of every page now (start-up), so that filling the table later faults
    no page in (RSS does not move); otherwise the kernel maps each page on its first write (a
    growth on the event loop: no stall of allocating and zeroing the whole table in one call).
    """
    view = memoryview(mmap.mmap(-1, 8 * slots, flags=mmap.MAP_PRIVATE)).cast("q")
    if touch:
        for slot in range(0, slots, _PAGE // 8):
            view[slot] = _EMPTY
    return view


def _salt() -> int:
    """Return a random signed 64-bit salt (a strategy's keys are its ids' hashes mixed with it)."""
    return int.from_bytes(os.urandom(8), "little", signed=True)


class ReleasedIds:
    """The ``cl_ord_id`` of every order released from memory, of every strategy: one table of 64-bit keys.

    A key is the id's ``str`` hash (SipHash, 64 bits, randomised per process) XOR its strategy's
    random 64-bit salt (``StrategyIds``), never 0 (the empty slot): one table for the gateway,
    whatever the number of strategies, and the same id of two strategies two keys. It is rebuilt
    from the journal on every start (recovery, then the windows apply), never stored.

    An open-addressing table (linear probing), 8 bytes a slot, allocated and touched at start-up
    for ``capacity`` ids at most 70 % full (``slots_for``): filling it allocates nothing. A hit is
    a duplicate: fail-closed. Two different ids share a key with probability ~n / 2**64 per lookup
    (n ids held, all strategies: 10 million ids -> 5e-13), in which case a new order is refused
    DUPLICATE_CL_ORD_ID (and a cancel of an unknown id answered ORDER_CLOSED); a true duplicate is
    never accepted. Past 70 % (more ids than ``capacity`` planned for) the table never refuses an
    id: it doubles (one WARNING with the numbers), into a mapping whose pages the kernel supplies as
    they are first written, moving the old slots a few per ``add`` (incremental: no stall).
    """

    __slots__ = ("_grow_at", "_mask", "_moved", "_old", "_old_mask", "_table", "capacity", "count", "grown", "warn")

    def __init__(self, capacity: int = RELEASED_IDS_CAPACITY, *, warn: bool = True) -> None:
        slots = slots_for(capacity)
        self._table = _zeroed(slots, touch=True)
        self._mask = slots - 1
        self._grow_at = int(_MAX_LOAD * slots)
        self._old: memoryview | None = None
        self._old_mask = 0
        self._moved = 0
        self.capacity = capacity
        """The ids it was sized for (``memory.released_ids_capacity``); it holds ``_grow_at`` >= that before growing."""
        self.count = 0
        """The ids it holds (every strategy's)."""
        self.grown = 0
        """How many times it doubled past its capacity."""
        self.warn = warn

    @property
    def slots(self) -> int:
        """Return the slots of the current table."""
        return self._mask + 1

    @property
    def nbytes(self) -> int:
        """Return the bytes the table(s) hold."""
        return 8 * (self.slots + (len(self._old) if self._old is not None else 0))

    def holds_without_growing(self) -> int:
        """Return how many ids the current table holds before it doubles (70 % of its slots)."""
        return self._grow_at

    def status(self) -> dict[str, int]:
        """Return the figures ``gateway status`` and ``gateway metrics`` show (a few ints)."""
        return {
            "capacity": self.capacity,
            "used": self.count,
            "slots": self.slots,
            "bytes": self.nbytes,
            "grown": self.grown,
        }

    def __len__(self) -> int:
        return self.count

    def has(self, key: int) -> bool:
        """Return whether ``key`` (a salted hash, never 0) is held."""
        old = self._old
        return _find(self._table, self._mask, key) or (old is not None and _find(old, self._old_mask, key))

    def add_key(self, key: int) -> bool:
        """Hold ``key`` (a salted hash, never 0); return False if it was held already."""
        if self.has(key):
            return False  # keeps the count exact
        if self._old is not None:
            self._migrate()
        elif self.count >= self._grow_at:
            self._grow()
        _insert(self._table, self._mask, key)
        self.count += 1
        return True

    def held(self) -> list[int]:
        """Return every key held (to move a strategy's ids into another table)."""
        table, mask = self._table, self._mask
        out = [key for key in table if key != _EMPTY]
        if self._old is not None:
            out.extend(key for key in self._old[self._moved :] if key != _EMPTY and not _find(table, mask, key))
        return out

    def _grow(self) -> None:
        old = self._table
        slots = 2 * len(old)
        if self.warn:
            log.warning(
                "released cl_ord_id table over its capacity: %d ids held (memory.released_ids_capacity %d); "
                "growing from %d to %d slots (+%.1f MiB, pages mapped as they fill, old slots moved a few per "
                "order); raise memory.released_ids_capacity to cover the day's orders (docs/ops-guide.md)",
                self.count,
                self.capacity,
                len(old),
                slots,
                8 * slots / (1 << 20),
            )
        self._old = old
        self._old_mask = self._mask
        self._moved = 0
        self._table = _zeroed(slots, touch=False)
        self._mask = slots - 1
        self._grow_at = int(_MAX_LOAD * slots)
        self.grown += 1
        self._migrate()

    def _migrate(self) -> None:
        old = self._old
        assert old is not None
        table, mask = self._table, self._mask
        stop = min(self._moved + _MIGRATE_PER_ADD * 4, len(old))
        for slot in range(self._moved, stop):
            key = old[slot]
            if key != _EMPTY and not _find(table, mask, key):
                _insert(table, mask, key)
        self._moved = stop
        if stop == len(old):
            self._old = None
            old.release()


class StrategyIds:
    """One strategy's released ids in the gateway's ``ReleasedIds``: its ids' hashes XOR its own random salt."""

    __slots__ = ("count", "ids", "salt")

    def __init__(self, ids: ReleasedIds, salt: int | None = None) -> None:
        self.ids = ids
        self.salt = _salt() if salt is None else salt
        self.count = 0
        """This strategy's ids held (``len``)."""

    @property
    def nbytes(self) -> int:
        """Return the bytes of the table this strategy's ids are in (shared with every other strategy)."""
        return self.ids.nbytes

    def __len__(self) -> int:
        return self.count

    def __contains__(self, cl_ord_id: object) -> bool:
        if not self.count:
            return False
        key = (hash(cl_ord_id) ^ self.salt) or 1
        ids = self.ids
        table = ids._table
        mask = ids._mask
        slot = key & mask
        value = table[slot]
        while value:  # one or two probes at this load (inlined: every new order asks)
            if value == key:
                return True
            slot = (slot + 1) & mask
            value = table[slot]
        old = ids._old
        return old is not None and _find(old, ids._old_mask, key)

    def add(self, cl_ord_id: str) -> None:
        """Remember ``cl_ord_id`` (adding one already there is harmless)."""
        if self.ids.add_key((hash(cl_ord_id) ^ self.salt) or 1):
            self.count += 1

    def moved_to(self, ids: ReleasedIds) -> StrategyIds:
        """Return this strategy's ids held in ``ids`` instead (same salt, same count): ``Engine.adopt``."""
        if ids is self.ids:
            return self
        moved = StrategyIds(ids, self.salt)
        for key in self.ids.held():  # a private table holds this strategy's keys only
            ids.add_key(key)
        moved.count = self.count
        return moved


def _find(table: memoryview, mask: int, key: int) -> bool:
    slot = key & mask
    while True:
        value = table[slot]
        if value == key:
            return True
        if value == _EMPTY:
            return False
        slot = (slot + 1) & mask


def _insert(table: memoryview, mask: int, key: int) -> None:
    slot = key & mask
    while table[slot] != _EMPTY:
        slot = (slot + 1) & mask
    table[slot] = key
