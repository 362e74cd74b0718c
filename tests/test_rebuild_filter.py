"""A released order's rebuild decodes its own records only, and rebuilds exactly what decoding every record does.

``rebuild_order`` (a fill for an order released from memory, ``Engine._released_order``) read every record from
the order's index position to the journal's end and decoded each, on the event loop. It now passes over the
records that cannot concern the order by their first bytes (``gateway.journal_scan.order_record_wanted``, CRC
still checked). Checked on random days of several strategies (protocol versions 2 and 3, mass cancels, order ids
of one to five bytes, late fills of released orders): for every record the filter turns down, the decoded record
names another order or moves none; and the rebuild of sampled orders, filtered, equals the full decode.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import msgspec
import pytest

from gateway.entitlements import StrategyEntitlement
from gateway.journal import (
    FileJournal,
    Journal,
    JournalReader,
    JRequest,
    JSeqAhead,
    JTradingState,
    JVenueEpoch,
    JVenueEvent,
    MmapJournal,
)
from gateway.journal_read import DATA_START
from gateway.journal_records import JPositionAdjusted
from gateway.journal_scan import order_record_wanted
from gateway.protocol.messages import Cancel, MassCancel, Replace
from gateway.replay import rebuild_order
from model.fsync import FsyncPolicy
from model.order import OrderState
from model.venue_events import VenueExecuted
from tests.harness import MemoryLink, Rig

PX = 1_000_000
NAMES = ("S1", "S2", "S3", "S10")
KEPT = 50


def _journal(kind: str, path: Path) -> Journal:
    if kind == "mmap":
        return MmapJournal(path, fsync=FsyncPolicy.NONE, grow_bytes=1 << 20)
    return FileJournal(path, fsync=FsyncPolicy.NONE)


def _day(journal: Journal, steps: int, seed: int, first_order_id: int) -> Rig:
    """Four strategies (two on version 2) trade at random; then late fills for orders released from memory."""
    rig = Rig(
        journal=journal,
        strategies={name: StrategyEntitlement(accounts=[f"A{name}"], uids=[1000]) for name in NAMES},
    )
    engine = rig.engine
    engine.events_kept = engine.terminal_orders_kept = KEPT
    engine.next_order_id = first_order_id
    rnd = random.Random(seed)
    venue = rig.venue
    links: dict[str, MemoryLink] = {name: rig.connect(name, version=2 if name in {"S2", "S3"} else 3) for name in NAMES}
    n = 0
    for _ in range(steps):
        open_orders = list(engine.open_orders.values())[:30]
        roll = rnd.random()
        if roll < 0.15 or not open_orders:
            n += 1
            name = rnd.choice(NAMES)
            qty = 20_000 if n % 40 == 0 else 100  # over the risk limit: created, then refused
            rig.new_order(links[name], f"c{n}", qty=qty, account=f"A{name}")
        elif roll < 0.155:
            name = rnd.choice(NAMES)
            rig.send(links[name], MassCancel(account=f"A{name}"))
        elif roll < 0.175 and engine.next_order_id - first_order_id > 1_300:  # a fill for an order long released
            oid = rnd.randrange(first_order_id, engine.next_order_id - 1_250)
            venue.emit(VenueExecuted(venue._next(), oid, 1, PX, "A", f"L{n}-{oid}"))
        else:
            order = rnd.choice(open_orders)
            link = links[order.strategy_id]
            oid = order.order_id
            roll = rnd.random()
            if order.state in {OrderState.PENDING_NEW, OrderState.PENDING_NEW_CANCEL}:
                venue.accept(oid, PX) if roll < 0.9 else venue.reject(oid)
            elif order.state is OrderState.LIVE:
                if roll < 0.3 and order.leaves_qty > 10:
                    venue.fill(oid, 10, PX)
                elif roll < 0.5:
                    venue.fill(oid, order.leaves_qty, PX)
                elif roll < 0.75:
                    rig.send(link, Cancel(order.cl_ord_id))
                else:
                    rig.send(link, Replace(order.cl_ord_id, order.qty + 50, PX + 100))
            elif order.state is OrderState.PENDING_CANCEL:
                venue.cancel(oid) if roll < 0.8 else venue.cancel_reject(oid)
            elif order.state in {OrderState.PENDING_REPLACE, OrderState.PENDING_REPLACE_HELD_CANCEL}:
                if roll < 0.8:
                    venue.replaced(oid, order.pending_qty - order.cum_qty, order.pending_price)
                else:
                    venue.cancel_reject(oid)
        engine.flush()
        for link in links.values():
            link.written.clear()
    return rig


def _concerns(record: object, order_id: int) -> bool:
    """Return whether the decoded ``record`` names order ``order_id`` as ``rebuild_order`` reads it."""
    rec = record.record if isinstance(record, JRequest) else record
    if rec is None:
        return False
    if isinstance(rec, JVenueEvent):
        return bool(rec.event.order_id == order_id)
    return bool(getattr(rec, "order_id", -1) == order_id)


def _payloads(path: Path) -> list[tuple[bytes, object]]:
    """Return every record of the journal at ``path``: (its payload bytes, the record decoded)."""
    reader = JournalReader(path, 0)
    out: list[tuple[bytes, object]] = []
    data = path.read_bytes()
    while batch := reader.read(4096):
        for position, record in batch:
            length = struct.unpack_from(">I", data, position)[0]
            out.append((data[position + 8 : position + 8 + length], record))
    return out


@pytest.mark.parametrize(
    ("storage", "first_order_id", "seed"),
    [("file", 1, 3), ("mmap", 65_300, 8), ("file", (1 << 32) - 300, 13)],
    ids=["ids-1-to-2-bytes", "ids-2-to-4-bytes", "ids-4-to-8-bytes"],
)
def test_a_rebuild_decodes_its_orders_records_only_and_equals_the_full_decode(
    tmp_path: Path, storage: str, first_order_id: int, seed: int
) -> None:
    path = tmp_path / "j"
    journal = _journal(storage, path)
    rig = _day(journal, 12_000, seed, first_order_id)
    engine = rig.engine
    assert engine.journal_rebuilds > 5  # late fills of released orders were read back (and journaled)
    records = _payloads(path)
    kinds = {type(r.record if isinstance(r, JRequest) else r).__name__ for _p, r in records}
    assert {"JOrderSent", "JOrderCreated", "JOrderRefused", "JVenueApplied", "JVenueEvent"} <= kinds, kinds
    assert {"JSentCancel", "JSentReplace", "JCancelQueued"} <= kinds, kinds
    assert any(isinstance(r, JRequest) and r.record is None for _p, r in records)  # a mass cancel's answer
    last = engine.next_order_id
    rnd = random.Random(seed)
    sample = {first_order_id, last - 1, *rnd.sample(range(first_order_id, last), 25)}
    sample |= {b for b in (127, 128, 255, 256, 65_535, 65_536, 1 << 32) if first_order_id <= b < last}
    for order_id in sample:  # the filter never turns down a record naming the order
        for payload, record in records:
            if not order_record_wanted(payload, 0, order_id):
                assert not _concerns(record, order_id), (order_id, record)
    start = DATA_START if storage == "mmap" else 0
    for order_id in sorted(sample):
        for at in (start, engine.order_marks.at_or_before(order_id)):
            full, decoded_all = rebuild_order(journal.reader(at), order_id, select=False)
            reader = journal.reader(at)
            order, decoded = rebuild_order(reader, order_id)
            assert full is not None and order is not None
            assert msgspec.msgpack.encode(order) == msgspec.msgpack.encode(full)
            assert decoded + reader.skipped == decoded_all
            own = sum(1 for _p, r in records if _concerns(r, order_id))
            assert own <= decoded <= own + 2, (order_id, own, decoded)  # its records, not the journal's
    assert rebuild_order(journal.reader(start), last + 5)[0] is None  # never created


def _frame(record: object) -> bytes:
    payload = msgspec.msgpack.encode(record)
    return struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


def test_records_that_move_no_order_are_passed_over_and_an_unknown_one_is_decoded(tmp_path: Path) -> None:
    nobody = [
        JTradingState("", "halted", "ops", "test"),
        JVenueEpoch("V1", "e2"),
        JSeqAhead("S1", 10, 5),
        JPositionAdjusted("A1", "AAPL", 7, PX, 7 * PX, "risk", "bust"),
        JRequest("S1", 4, None, None),
    ]
    for record in nobody:
        assert not order_record_wanted(msgspec.msgpack.encode(record), 0, 7), record
    late = JVenueEvent("V1", VenueExecuted(9, 7, 1, PX, "A", "X", after_end=True))
    assert order_record_wanted(msgspec.msgpack.encode(late), 0, 7)
    assert not order_record_wanted(msgspec.msgpack.encode(late), 0, 8)
    assert order_record_wanted(b"\x81\x01\x02", 0, 7)  # a map, not an array
    assert order_record_wanted(b"\x93\x63\x07", 0, 8)  # an unknown tag
    assert order_record_wanted(b"\x94\x0d\xa2S1\x04\x93\x63\x08", 0, 7)  # a request carrying an unknown record
    assert order_record_wanted(b"\x94\x0e\xa2V1\x95\xa3exe", 0, 7)  # cut short: decoded
    path = tmp_path / "j"
    path.write_bytes(b"".join(_frame(r) for r in [*nobody, late] * 3))
    reader = JournalReader(path, 0)
    assert rebuild_order(reader, 7) == (None, 3)  # the late fills decoded (no order: never created here)
    assert reader.skipped == 15
