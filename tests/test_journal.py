"""The order journal: framing, torn tails, corruption, and rebuilding the engine from it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.journal import (
    FileJournal,
    JOrderRefused,
    JournalCorruptError,
    JournalScan,
    JSentCancel,
    JVenueEpoch,
    read_journal,
    truncate_torn_tail,
)
from gateway.protocol.messages import Canceled, OrderAccepted, Replace, VenueStatus, Welcome
from gateway.recovery import recover
from model.exactly_once import ResumePoint
from model.fsync import FsyncPolicy
from model.order import OrderState
from tests.harness import Rig


def _write(path: Path, n: int) -> None:
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    for i in range(n):
        journal.append(JOrderRefused(i) if i % 2 else JSentCancel(i))
    journal.close()


def test_read_when_file_intact_then_every_record_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j"
    _write(path, 50)
    scan = JournalScan()
    records = list(read_journal(path, scan))
    assert [r.order_id for r in records] == list(range(50))  # type: ignore[union-attr]
    assert scan.records == 50 and scan.torn_bytes == 0 and scan.good_bytes == path.stat().st_size


@pytest.mark.parametrize("cut", [1, 3, 7, 9])
def test_read_when_last_record_torn_then_tail_ignored_and_truncation_makes_file_clean(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "j"
    _write(path, 10)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size - cut)
    scan = JournalScan()
    assert len(list(read_journal(path, scan))) == 9
    assert scan.torn_bytes > 0
    truncate_torn_tail(path, scan.good_bytes)
    again = FileJournal(path, fsync=FsyncPolicy.NONE)
    again.append(JOrderRefused(99))
    again.close()
    assert [r.order_id for r in read_journal(path)][-2:] == [8, 99]  # type: ignore[union-attr]


def test_read_when_record_damaged_mid_file_then_refuses_with_position(tmp_path: Path) -> None:
    path = tmp_path / "j"
    _write(path, 10)
    data = bytearray(path.read_bytes())
    data[9] ^= 0xFF  # inside the first record's payload (header is 8 bytes)
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError, match="byte 0"):
        list(read_journal(path))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_read_when_arbitrary_bytes_then_only_records_or_a_clear_error(data: bytes) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        with contextlib.suppress(JournalCorruptError):
            list(read_journal(fh.name))


def test_recover_when_engine_rebuilt_from_journal_then_orders_and_strategy_events_match(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.journal"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=300)
    rig.new_order(link, "B")
    rig.new_order(link, "BIG", qty=50_000)
    rig.venue.accept(1)
    rig.venue.fill(1, 100, 1_000_000)
    rig.venue.accept(2)
    rig.send(link, Replace("A", 400, 1_010_000))
    rig.venue.replaced(1, 300, 1_010_000)
    rig.venue.cancel(2)
    rig.engine.flush()
    rig.engine.journal.close()
    before = rig.engine

    fresh = Rig()
    recovered = recover(read_journal(path))
    fresh.engine.adopt(recovered)
    after = fresh.engine
    assert recovered.resume == {"V1": ResumePoint("", rig.venue.seq)}
    assert after.next_order_id == before.next_order_id
    for oid, order in before.orders.items():
        assert msgspec.structs.replace(after.orders[oid], t_risk=0, t_wire=0) == msgspec.structs.replace(
            order, t_risk=0, t_wire=0
        )
    assert set(after.open_orders) == {1}
    assert after.strategies["S1"].events == before.strategies["S1"].events
    assert after.strategies["S1"].next_seq == before.strategies["S1"].next_seq
    assert fresh.venue.restored == [(1, "3")]  # only open orders, by the ref the venue knows them by now
    assert fresh.risk.opened == [1, 2]
    assert after.orders[3].state is OrderState.REJECTED

    # the venue replays an event the journal already has: dropped, nobody told twice
    fresh.venue.seq = rig.venue.seq - 1
    fresh.venue.cancel(2)
    assert after.exactly_once.duplicates == 1

    # a strategy reconnecting after the restart gets what it had not processed
    relink = fresh.connect("S1", last_seq=2)
    events = relink.received()
    assert isinstance(events[0], Welcome) and events[0].replayed == len(before.strategies["S1"].events) - 2
    assert isinstance(events[-2], Canceled) and isinstance(events[-1], VenueStatus)  # the venue snapshot last

    # and duplicates of pre-crash cl_ord_ids are still refused
    fresh.new_order(relink, "A")
    assert relink.received()[-1].code == "DUPLICATE_CL_ORD_ID"  # type: ignore[union-attr]


def test_recover_when_cancel_was_queued_then_sent_once_venue_up(tmp_path: Path) -> None:
    from model.venue_events import VenueState

    path = tmp_path / "gw.journal"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.engine.link_closed(link)
    rig.engine.journal.close()
    assert [c[0] for c in rig.venue.commands] == ["new"]

    fresh = Rig()
    fresh.venue._state = VenueState.DISCONNECTED
    fresh.engine.adopt(recover(read_journal(path)))
    assert fresh.engine.orders[1].state is OrderState.LIVE_HELD_CANCEL
    fresh.venue.set_state(VenueState.UP)
    assert fresh.venue.commands == [("cancel", 1, 0, 0)]
    assert isinstance(rig.engine.strategies["S1"].events[0], OrderAccepted)


def test_recover_when_replace_pending_or_rejected_then_venue_told_current_and_pending_refs_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.journal"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A")  # ref 1
    rig.new_order(link, "B")  # ref 2
    rig.venue.accept(1)
    rig.venue.accept(2)
    rig.send(link, Replace("A", 200, 1_000_000))  # ref 3: refused by the venue
    rig.venue.cancel_reject(1)
    rig.send(link, Replace("A", 300, 1_000_000))  # ref 4: accepted
    rig.venue.replaced(1, 300, 1_000_000)
    rig.send(link, Replace("A", 400, 1_000_000))  # ref 5: in flight at the crash
    rig.send(link, Replace("B", 150, 1_000_000))  # ref 6: in flight at the crash
    rig.engine.journal.close()

    fresh = Rig()
    fresh.engine.adopt(recover(read_journal(path)))
    assert fresh.venue.restored == [(1, "4"), (1, "5"), (2, "2"), (2, "6")]
    assert fresh.engine.orders[1].state is OrderState.PENDING_REPLACE


def test_recover_when_strategy_never_reconnects_then_grace_check_cancels_only_its_orders(tmp_path: Path) -> None:
    from gateway.entitlements import StrategyEntitlement

    strategies = {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000]),
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[1000]),
        "KEEP": StrategyEntitlement(accounts=["ACC1"], uids=[1000], on_disconnect="keep"),
    }
    path = tmp_path / "gw.journal"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE), strategies=strategies)
    for sid, account in (("S1", "ACC1"), ("S2", "ACC2"), ("KEEP", "ACC1")):
        link = rig.connect(sid)
        rig.new_order(link, f"{sid}-1", account=account)
    for oid in (1, 2, 3):
        rig.venue.accept(oid)
    rig.engine.journal.close()  # the process dies with every strategy still connected

    fresh = Rig(strategies=strategies)
    fresh.engine.adopt(recover(read_journal(path)))
    fresh.connect("S2")  # S2 comes back in time; S1 does not; KEEP keeps its orders by policy
    assert fresh.engine.cancel_orphaned_orders() == 1
    assert fresh.venue.commands == [("cancel", 1, 0, 0)]


def test_recover_when_venue_numbering_restarted_then_resume_after_the_high_water_of_the_last_epoch(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.journal"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.venue.new_epoch("E1")
    for i in range(3):
        rig.new_order(link, f"A{i}")
        rig.venue.accept(i + 1)  # E1: 1..3
    rig.venue.new_epoch("E2")  # e.g. the venue reset its numbers at the next logon
    rig.new_order(link, "B")
    rig.venue.accept(4)  # E2: 1
    rig.engine.flush()
    rig.engine.journal.close()
    epochs = [(r.venue, r.epoch) for r in read_journal(path) if isinstance(r, JVenueEpoch)]
    assert epochs == [("V1", "E1"), ("V1", "E2")]

    fresh = Rig()
    recovered = recover(read_journal(path))
    assert recovered.resume == {"V1": ResumePoint("E2", 1)}
    fresh.engine.adopt(recovered)
    assert fresh.venue.sequence.resume_point() == ResumePoint("E2", 1)
    assert fresh.engine.orders[4].state is OrderState.LIVE
