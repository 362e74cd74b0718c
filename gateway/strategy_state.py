"""Per-strategy state that outlives connections, and what the engine needs from a connection."""

from __future__ import annotations

from array import array
from typing import Final, Protocol

from gateway.entitlements import PeerCredentials
from gateway.protocol.messages import MassCancelAnswer, OrderEvent
from gateway.replay import JournalMarks
from gateway.strategy_session import StrategySession
from model.order import Order


class StrategyLink(Protocol):
    """What the engine needs from a strategy connection's transport."""

    session: StrategySession
    strategy: StrategyState | None
    peer: PeerCredentials | None

    def write_out(self, data: bytearray) -> None:
        """Write bytes to the strategy."""
        ...

    def close_transport(self) -> None:
        """Close the connection once queued bytes are written."""
        ...

    def write_buffer_size(self) -> int:
        """Return how many bytes written to the strategy it has not read yet (what the transport holds)."""
        ...


class StrategyState:
    """Everything the gateway keeps about one strategy id across its connections.

    ``events`` holds the strategy's most recent events only: ``events[i]`` has ``seq``
    ``events_base + i + 1``; the ``events_base`` older ones were released and are read back
    from the journal for a reconnect that needs them (``Engine._on_hello``). ``orders`` holds
    its working orders and a window of recent terminal ones; the ``cl_ord_id`` of every order
    released from it is in ``released`` (duplicate detection for the whole day).
    """

    __slots__ = (
        "events",
        "events_base",
        "last_req_seq",
        "link",
        "marks",
        "mass_cancel_answers",
        "next_seq",
        "open_orders",
        "orders",
        "released",
        "replay_pending",
        "strategy_id",
    )

    def __init__(self, strategy_id: str) -> None:
        self.strategy_id = strategy_id
        self.next_seq = 1
        self.last_req_seq = 0
        """(Protocol version 3) The highest request number processed (journaled in ``JRequest``)."""
        self.mass_cancel_answers: dict[int, MassCancelAnswer] = {}
        """(Version 3) Each MassCancel's answer by its ``req_seq``, for a re-sent duplicate to get it again."""
        self.events: list[OrderEvent] = []
        self.events_base = 0
        """How many of the strategy's first events were released from ``events`` (the journal has them)."""
        self.orders: dict[str, Order] = {}
        self.released = ReleasedIds()
        self.replay_pending = 0
        """Journal reads under way for a Hello of this strategy (its events are not released meanwhile)."""
        self.open_orders: dict[int, Order] = {}
        self.link: StrategyLink | None = None
        self.marks = JournalMarks()
        """Replay index: every 1,024th event's seq -> where the journal can rebuild the events after it."""

    def release_events(self, keep: int) -> int:
        """Drop all but the last ``keep`` events from memory; return how many were dropped."""
        drop = len(self.events) - keep
        if drop <= 0:
            return 0
        del self.events[:drop]
        self.events_base += drop
        return drop


_EMPTY: Final = 0
_MAX_LOAD: Final = 0.7
_MIGRATE_PER_ADD: Final = 8


def _key(cl_ord_id: str) -> int:
    """Return the table key of ``cl_ord_id``: its 64-bit str hash, never 0 (the empty slot)."""
    return hash(cl_ord_id) or 1


class ReleasedIds:
    """The ``cl_ord_id`` strings of released orders, kept as 64-bit hashes (8 bytes a slot, 11-23 bytes an id).

    An open-addressing table (linear probing) of Python's own ``str`` hash (SipHash, 64 bits;
    randomised per process, which is fine: the table is rebuilt from the journal on every start,
    never stored). A hit is a duplicate: fail-closed. Two different ids share a hash with
    probability ~n / 2**64 per lookup (n released ids: 10 million ids -> 5e-13), in which case a
    new order is refused DUPLICATE_CL_ORD_ID (and a cancel of an unknown id answered ORDER_CLOSED);
    a true duplicate is never accepted. The table doubles when 70 % full, moving the old slots
    a few per ``add`` (incremental: no stall on the event loop when it holds millions).
    """

    __slots__ = ("_mask", "_moved", "_old", "_old_mask", "_table", "count")

    def __init__(self, slots: int = 1024) -> None:
        self._table = array("q", bytes(8 * slots))
        self._mask = slots - 1
        self._old: array[int] | None = None
        self._old_mask = 0
        self._moved = 0
        self.count = 0

    @property
    def nbytes(self) -> int:
        """Return the bytes the table(s) hold."""
        return 8 * (len(self._table) + (len(self._old) if self._old is not None else 0))

    def __len__(self) -> int:
        return self.count

    def __contains__(self, cl_ord_id: object) -> bool:
        if not self.count:
            return False
        key = hash(cl_ord_id) or 1
        table = self._table
        mask = self._mask
        slot = key & mask
        value = table[slot]
        while value:  # one or two probes at this load (inlined: every new order asks)
            if value == key:
                return True
            slot = (slot + 1) & mask
            value = table[slot]
        old = self._old
        return old is not None and _find(old, self._old_mask, key)

    def add(self, cl_ord_id: str) -> None:
        """Remember ``cl_ord_id`` (adding one already there is harmless)."""
        key = _key(cl_ord_id)
        old = self._old
        if _find(self._table, self._mask, key) or (old is not None and _find(old, self._old_mask, key)):
            return  # keeps the count exact
        if self._old is not None:
            self._migrate()
        elif self.count + 1 > _MAX_LOAD * len(self._table):
            self._old = self._table
            self._old_mask = self._mask
            self._moved = 0
            self._table = array("q", bytes(16 * len(self._old)))
            self._mask = 2 * len(self._old) - 1
            self._migrate()
        _insert(self._table, self._mask, key)
        self.count += 1

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


def _find(table: array[int], mask: int, key: int) -> bool:
    slot = key & mask
    while True:
        value = table[slot]
        if value == key:
            return True
        if value == _EMPTY:
            return False
        slot = (slot + 1) & mask


def _insert(table: array[int], mask: int, key: int) -> None:
    slot = key & mask
    while table[slot] != _EMPTY:
        slot = (slot + 1) & mask
    table[slot] = key
