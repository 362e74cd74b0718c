"""The status questions taken back from a large message store after a restart, a slice at a time (fixfix46).

Before fixfix46 the restarted adapter read every stored message at its first connection to find the
OrderStatusRequests still out (200,000 messages: 0.2 to 1.6 s with the event loop held while other venues and
strategies traded). The store is now searched (``find_sent``: one C-speed search of the file's mapping) a slice at
a time, the first connection and each poll looking through at most ``_SCAN_SLICE_BYTES``; every question is still
taken back, and one whose answer came while the search was under way is asked again (the answer applied once).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from model.order import Order, OrderState
from model.venue_events import VenueAccepted, VenueExecuted
from venues.fix.fields import MsgType
from venues.fix.store.base import MessageStore, Withdrawn
from venues.fix.store.file import FileStore
from venues.fix.store.memory import MemoryStore

from .helpers import make_order
from .test_adapter import Rig
from .test_reset_question_lost import _status

LIMIT = 2 << 20
"""What a connection or one poll may look through of the store (the slice is 1 MiB)."""
STAMP = b"20240102-09:00:00.000"


class _CountingStore(MessageStore):
    """A FileStore (compiled: wrapped, not subclassed) counting the bytes of stored messages looked through."""

    def __init__(self, path: Path) -> None:
        self.inner = FileStore(path)
        self.looked = 0

    @property
    def next_sender_seq(self) -> int:
        return self.inner.next_sender_seq

    @property
    def next_target_seq(self) -> int:
        return self.inner.next_target_seq

    @property
    def creation_time_ns(self) -> int:
        return self.inner.creation_time_ns

    def save_sent(self, seq: int, raw: bytes) -> None:
        self.inner.save_sent(seq, raw)

    def set_next_sender_seq(self, seq: int) -> None:
        self.inner.set_next_sender_seq(seq)

    def set_next_target_seq(self, seq: int) -> None:
        self.inner.set_next_target_seq(seq)

    @property
    def skipped_by_operator(self) -> tuple[int, int]:
        return self.inner.skipped_by_operator

    def set_skipped_by_operator(self, first: int, end: int) -> None:
        self.inner.set_skipped_by_operator(first, end)

    @property
    def raised_by_operator(self) -> tuple[int, int]:
        return self.inner.raised_by_operator

    def set_raised_by_operator(self, before: int, new: int) -> None:
        self.inner.set_raised_by_operator(before, new)

    @property
    def lowered_by_operator(self) -> tuple[int, int]:
        return self.inner.lowered_by_operator

    def set_lowered_by_operator(self, before: int, new: int) -> None:
        self.inner.set_lowered_by_operator(before, new)

    @property
    def withdrawn(self) -> tuple[Withdrawn, ...]:
        return self.inner.withdrawn

    def add_withdrawn(self, withdrawn: Sequence[Withdrawn]) -> None:
        self.inner.add_withdrawn(withdrawn)

    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        out = self.inner.get_sent(begin, end)
        self.looked += sum(len(raw) for _, raw in out)
        return out

    def find_sent(self, marker: bytes, cursor: int = 0, budget: int = 0) -> tuple[list[tuple[int, bytes]], int]:
        hits, going_on = self.inner.find_sent(marker, cursor, budget)
        self.looked += going_on - cursor if going_on >= 0 else budget or self.size()  # the last slice: at most budget
        return hits, going_on

    def size(self) -> int:
        """Return the file's size (preallocated: at least the records')."""
        return os.path.getsize(self.inner.path)

    def reset(self, creation_time_ns: int) -> None:
        self.inner.reset(creation_time_ns)

    def close(self) -> None:
        self.inner.close()


def _history(rig: Rig, store: MessageStore, orders: int, asked: tuple[int, ...]) -> None:
    """Store what the process before the restart sent: ``orders`` new orders, a status question about each of
    ``asked`` right after its order (so questions lie at the start, in the middle and at the end)."""
    templates = rig.adapter.templates
    for order_id in range(1, orders + 1):
        order = make_order(order_id, symbol="MSFT")
        ref = rig.adapter._new_ref(order)
        seq = store.next_sender_seq
        store.save_sent(seq, templates.new_order(seq, STAMP, ref, order))
        if order_id in asked:
            seq = store.next_sender_seq
            store.save_sent(seq, templates.status_request(seq, STAMP, ref, order))


def _restarted(tmp_path: Path, orders: int, asked: tuple[int, ...]) -> tuple[Rig, _CountingStore, list[Order]]:
    """A gateway restarted on a store of ``orders`` orders; those in ``asked`` are open with a question out."""
    first = Rig("broker-fix44")
    store = _CountingStore(tmp_path / "FIX.4.4-GW-BRKR.fixstore")
    _history(first, store, orders, asked)
    store.close()
    rig = Rig("broker-fix44")
    store = _CountingStore(tmp_path / "FIX.4.4-GW-BRKR.fixstore")
    rig.venue_adapter.session.store = rig.store = store
    open_orders = []
    for order_id in asked:
        order = make_order(order_id, symbol="MSFT")
        order.venue_ref = rig.adapter._new_ref(order).decode()
        order.state = OrderState.PENDING_NEW
        rig.adapter.restore(order, order.venue_ref)
        open_orders.append(order)
    rig.applying(*open_orders)
    rig.adapter.attach(rig.wire.write, rig.wire.close)
    return rig, store, open_orders


def _polled_until_searched(rig: Rig, store: _CountingStore) -> int:
    """Poll as the connector does (at once while the adapter asks for it); return the polls made."""
    for polls in range(1, 200):
        store.looked = 0
        wait = rig.adapter.poll(rig.clock())
        assert store.looked <= LIMIT
        if wait > 0:
            return polls
    raise AssertionError("the search never ended")


def _asked(rig: Rig) -> list[bytes]:
    rig.adapter.flush()
    return [m.get(b"11") for m in rig.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST]


ASKED = (1, 13_000, 26_000)  # about 6 MiB of new orders: the first question at the store's start, the last at its end


def test_restart_on_a_large_store_then_searched_a_slice_at_a_time_and_every_question_taken_back(
    tmp_path: Path,
) -> None:
    rig, store, orders = _restarted(tmp_path, 26_000, ASKED)
    assert len(store.get_sent(1, store.next_sender_seq)) == 26_003 and store.looked > 2 * LIMIT
    store.looked = 0
    rig.adapter.connection_made(rig.clock())
    assert store.looked <= LIMIT  # before fixfix46: the whole store, about 6 MiB, read in this call
    assert _polled_until_searched(rig, store) > 3
    assert rig.adapter.status()["questions_open"] == 3
    rig.wire.take()
    rig.feed(rig.peer.logon())
    rig.adapter.after_replay([])  # the core, on UP
    refs = [order.venue_ref.encode() for order in orders]
    assert _asked(rig) == refs  # each asked again: the venue may never have got it
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(refs[0], b"1", 30)))
    assert [type(e) for e in rig.events()] == [VenueAccepted, VenueExecuted]
    assert (orders[0].cum_qty, rig.adapter.status()["questions_open"]) == (30, 2)


def test_answer_while_the_store_is_searched_then_ignored_asked_again_and_applied_once(tmp_path: Path) -> None:
    rig, store, orders = _restarted(tmp_path, 26_000, ASKED)
    rig.adapter.connection_made(rig.clock())
    rig.wire.take()
    rig.feed(rig.peer.logon())  # up before the search ended
    rig.adapter.after_replay([])
    assert _asked(rig) == []
    ref = orders[1].venue_ref.encode()
    answer = _status(ref, b"1", 30)
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, answer, header=[(b"43", b"Y")]))  # resent at the logon
    assert rig.events() == []  # no question out yet: ignored, as a status nobody asked for
    assert rig.adapter.counters["ignored_exec_reports"] == 1
    _polled_until_searched(rig, store)
    assert _asked(rig) == [order.venue_ref.encode() for order in orders]  # asked again at once, being up
    assert rig.adapter.status()["questions_open"] == 3
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, answer))
    assert [type(e) for e in rig.events()] == [VenueAccepted, VenueExecuted]
    assert (orders[1].cum_qty, orders[1].state) == (30, OrderState.LIVE)
    assert rig.adapter.status()["questions_open"] == 2


@pytest.mark.parametrize("budget", [0, 1, 97, 1000, 4096, 65_536])
def test_find_sent_a_slice_at_a_time_then_the_same_messages_as_reading_them_all(tmp_path: Path, budget: int) -> None:
    rig = Rig("broker-fix44")
    stores: list[MessageStore] = [FileStore(tmp_path / "s.fixstore"), MemoryStore()]
    for store in stores:
        _history(rig, store, 300, tuple(range(1, 301, 7)))
        store.set_next_sender_seq(store.next_sender_seq + 2)  # admin messages: numbers not stored
        order = make_order(400, symbol="H\x0135=H")  # the marker further in than the header: not a question
        store.save_sent(
            store.next_sender_seq, rig.adapter.templates.new_order(store.next_sender_seq, STAMP, b"X", order)
        )
        marker = b"\x0135=H\x01"
        expected = [(seq, raw) for seq, raw in store.get_sent(1, store.next_sender_seq) if marker in raw[:64]]
        assert len(expected) == 43
        found: list[tuple[int, bytes]] = []
        cursor = 0
        for _ in range(100_000):
            hits, cursor = store.find_sent(marker, cursor, budget)
            found.extend(hits)
            if cursor < 0:
                break
        assert [(seq, bytes(raw)) for seq, raw in found] == expected
        store.close()
