"""A standby host that took over with no record of the day (fixouch51) restarts the same day (fixstandby52, item 1).

The primary used UserRefNums 1..60 (more than one block of the harness's store, 50). The standby logs in blank,
counts the primary's messages ``earlier_traffic`` and floors its UserRefNums on the venue's NextUserRefNum (61). Then
it restarts with the same journal and state_dir. Before fixstandby52 the floor lived only in memory and the journal
holds nothing of the earlier traffic: the restart numbered from 1 again, logged in from sequence 1 and took every
replayed message as a stream out of frame ("never issued"): 31 logins in 30 s, 10 messages given up, the venue
DISCONNECTED and a new order refused ``VENUE_UNAVAILABLE``. Now the store's file keeps the floor and the last
sequence number of the earlier traffic, and the restart logs in after it. Real engine and journal over the strict
OUCH simulator (fake clock), as tests/ouch/test_standby_takeover.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.journal import read_journal
from gateway.protocol.messages import Cancel, Canceled, NewOrder, OrderAccepted
from gateway.recovery import recover
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.harness import Rig
from tests.metrics_text import venue_metrics_text
from tests.ouch.harness import DAY, PX, Link, gateway_over
from tests.ouch.test_refstore_recovery import Disk, _written
from venues.atomic_file import write_file_atomically
from venues.ouch import refstore
from venues.ouch.refstore import RETRY_INTERVAL_NS, UserRefNumStore
from venues.ouch.soupbin import SoupSplitter

RESTING = PX - 100
PRIMARY = 60


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    fake = Disk(write_file_atomically)
    monkeypatch.setattr(refstore, "write_file_atomically", fake)  # refstore is interpreted (not in obs.native)
    return fake


def _logins(link: Link) -> list[int]:
    """Return the sequence number each Login Request of ``link`` asked for."""
    return [
        int(bytes(packet[27:47]).strip() or b"0")
        for packet in SoupSplitter().feed(b"".join(link.wire))
        if packet[0] == ord("L")
    ]


def _takeover(tmp_path: Path) -> tuple[Link, Link, Engine, Rig]:
    """Return (primary, standby, its engine and rig): the primary used UserRefNums 1..PRIMARY, the standby took over
    (UP, floored on NextUserRefNum)."""
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True)
    first = Link(tmp_path / "a" / "ouch", sim=SimulatorConfig(exchange=exchange))
    engine, rig = gateway_over(first, tmp_path / "a" / "journal")
    first.connect()
    strat = rig.connect("S1")
    for n in range(PRIMARY):
        rig.send(strat, NewOrder(f"o{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100 + n, RESTING))
        engine.flush()
        first.pump()
        engine.flush()
    first.disconnect()  # the primary host is gone, with its disk
    assert first.core.exchange.next_user_ref_num() == PRIMARY + 1
    second = Link(tmp_path / "b" / "ouch", core=first.core, clock=first.clock)
    engine2, rig2 = gateway_over(second, tmp_path / "b" / "journal")
    second.connect()
    engine2.flush()
    for _ in range(3):
        second.clock.advance_ms(1000)
        second.poll()
        engine2.flush()
    assert second.venue.state.value == "UP"
    assert second.venue.status()["earlier_traffic"] == PRIMARY
    return first, second, engine2, rig2


def _restart(first: Link, tmp_path: Path, journal: str) -> tuple[Link, Engine, Rig]:
    """Restart the standby gateway: same state_dir, its journal recovered (as ``gateway run`` does)."""
    third = Link(tmp_path / "b" / "ouch", core=first.core, clock=first.clock)
    engine3, rig3 = gateway_over(third, tmp_path / "b" / journal)
    recovered = recover(read_journal(tmp_path / "b" / "journal"))
    engine3.adopt(recovered)
    point = recovered.resume.get(third.venue.name)
    assert point is not None
    third.venue.resume_after(point)
    return third, engine3, rig3


def _run(link: Link, engine: Engine, seconds: int) -> None:
    """Let time pass; reconnect as ``gateway run`` would whenever the adapter dropped the connection."""
    for _ in range(seconds):
        link.clock.advance_ms(1000)
        link.poll()
        engine.flush()
        if link.connection is None or link.close_requested():
            link.disconnect()
            link.connect()
            engine.flush()


def test_a_standby_host_restarted_before_sending_logs_in_after_the_earlier_traffic_and_numbers_above_the_floor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, _engine2, _rig2 = _takeover(tmp_path)
    second.disconnect()  # the standby gateway stops (crash or planned) before it sent anything

    third, engine3, rig3 = _restart(first, tmp_path, "j2")
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        third.connect()
        engine3.flush()
        _run(third, engine3, 30)
    status = third.venue.status()
    assert third.venue.state.value == "UP"
    assert _logins(third) == [PRIMARY + 1]  # one login, after the earlier traffic (old: 31 from sequence 1)
    assert status["refetches"] == 0 and status["refetch_given_up"] == 0
    assert status["unknown_user_ref_num"] == 0
    assert "carried earlier traffic through sequence 60" in caplog.text

    strat3 = rig3.connect("S1")
    rig3.send(strat3, NewOrder("n1", "ACC1", "nasdaq", "AAPL", Side.BUY, 50, RESTING))
    engine3.flush()
    third.pump()
    engine3.flush()
    assert [m.cl_ord_id for m in strat3.received() if isinstance(m, OrderAccepted)] == ["n1"]
    assert third.venue.status()["last_user_ref_num"] == PRIMARY + 1  # above the venue's numbers (old: 1, ignored)
    assert first.core.exchange.violations == []


def test_a_standby_host_restarted_after_its_own_orders_resumes_them_and_numbers_above_them(tmp_path: Path) -> None:
    first, second, second_engine, second_rig = _takeover(tmp_path)
    # the standby trades: its own UserRefNums 61.. above the floor, the earlier traffic below it
    strat = second_rig.connect("S1")
    for n in range(3):
        second_rig.send(strat, NewOrder(f"s{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 10 + n, RESTING))
        second_engine.flush()
        second.pump()
        second_engine.flush()
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["s0", "s1", "s2"]
    assert second.venue.status()["last_user_ref_num"] == PRIMARY + 3
    second.disconnect()

    third, engine3, rig3 = _restart(first, tmp_path, "j2")
    third.connect()
    engine3.flush()
    _run(third, engine3, 10)
    status = third.venue.status()
    assert third.venue.state.value == "UP"
    assert len(_logins(third)) == 1 and _logins(third)[0] > PRIMARY  # after the standby's own messages
    assert status["refetches"] == 0 and status["unknown_user_ref_num"] == 0

    strat3 = rig3.connect("S1")
    rig3.send(strat3, Cancel("s1"))  # its own order, restored: its number is right
    rig3.send(strat3, NewOrder("n1", "ACC1", "nasdaq", "AAPL", Side.BUY, 50, RESTING))
    engine3.flush()
    third.pump()
    engine3.flush()
    received = strat3.received()
    assert [m.cl_ord_id for m in received if isinstance(m, Canceled)] == ["s1"]
    assert [m.cl_ord_id for m in received if isinstance(m, OrderAccepted) and m.cl_ord_id == "n1"] == ["n1"]
    assert third.venue.status()["last_user_ref_num"] == third.store.last_issued > PRIMARY + 3
    assert first.core.exchange.violations == []


def test_floor_when_the_venue_raised_it_past_the_reservation_then_a_restart_keeps_it_and_the_mark(
    tmp_path: Path,
) -> None:
    for prefetch in (False, True):
        state_dir = tmp_path / str(prefetch)
        store = UserRefNumStore(state_dir, "v", today=lambda: DAY, block=1_000, prefetch=prefetch)
        store.wait_limit = 30.0
        store.bind("S1")
        store.ensure_above(5_000)  # the venue's NextUserRefNum 5,001: in memory only
        assert store.floor(77)
        again = UserRefNumStore(state_dir, "v", today=lambda: DAY, block=1_000, prefetch=prefetch)
        assert again.last_issued >= 5_000 and again.earlier == 77
        again.wait_limit = 30.0  # a loaded machine: the test is of what is written, not of its speed
        assert again.next() > 5_000
        again.ensure_above(again.last_issued + 2_000)  # past the block: the next write keeps the mark
        again.next()
        assert UserRefNumStore(state_dir, "v", today=lambda: DAY, block=1_000, prefetch=prefetch).earlier == 77
        again.bind("S2")  # another session: its earlier traffic is not the old one's
        assert UserRefNumStore(state_dir, "v", today=lambda: DAY, block=1_000, prefetch=prefetch).earlier == 0


def test_earlier_traffic_when_a_standby_host_took_over_then_exported_per_venue(tmp_path: Path) -> None:
    """Item 2: ``earlier_traffic`` was in ``gateway status`` only, not in ``gateway metrics`` (SESSION_COUNTERS)."""
    _first, second, engine2, _rig2 = _takeover(tmp_path)
    assert second.venue.session_counters()["earlier_traffic"] == PRIMARY
    text = venue_metrics_text(second.venue.name, second.venue.session_counters(), engine2.latency.snapshot())
    assert f'gateway_venue_earlier_traffic_total{{venue="nasdaq"}} {PRIMARY}.0' in text


def test_floor_when_the_store_is_failing_then_the_loop_does_not_write_and_the_retry_carries_floor_and_mark(
    tmp_path: Path, disk: Disk
) -> None:
    store = UserRefNumStore(tmp_path, "v", today=lambda: DAY, block=1_000, prefetch=True)
    store.wait_limit = 30.0
    store.bind("S1")
    store.ensure_above(5_000)
    disk.full = True
    assert not store.floor(77)  # the write failed: ``error`` set
    attempts = disk.attempts
    failing = store.error
    assert failing is not None
    assert not store.floor(78)  # failing: no second write on the caller's thread
    assert disk.attempts == attempts
    disk.full = False
    store.write_failed_at(0)
    assert not store.retry(RETRY_INTERVAL_NS)  # posted to the background writer
    _written(store)
    recovered = store.error
    assert recovered is None, recovered
    again = UserRefNumStore(tmp_path, "v", today=lambda: DAY, block=1_000)
    assert again.last_issued > 5_000 and again.earlier == 78


def test_a_standby_host_restarted_before_the_floor_was_written_reads_the_earlier_traffic_as_not_its_own(
    tmp_path: Path,
) -> None:
    """The standby stops while still reading the takeover's replay (its store names the session, nothing else)."""
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True)
    sim = SimulatorConfig(exchange=exchange, heartbeat_after_replay=False)  # the replay ends at a later heartbeat
    first = Link(tmp_path / "a" / "ouch", sim=sim)
    engine, rig = gateway_over(first, tmp_path / "a" / "journal")
    first.connect()
    strat = rig.connect("S1")
    for n in range(PRIMARY):
        rig.send(strat, NewOrder(f"o{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100 + n, RESTING))
        engine.flush()
        first.pump()
        engine.flush()
    first.disconnect()
    second = Link(tmp_path / "b" / "ouch", core=first.core, clock=first.clock)
    engine2, _rig2 = gateway_over(second, tmp_path / "b" / "journal")
    now = second.clock()
    second.connection = second.core.connect(now)  # Link.connect without its settling: no heartbeat, no query
    second.venue.attach(second._write, second._close)
    second.venue.connection_made(now)
    second.pump()
    engine2.flush()
    assert second.venue.state.value == "LOGGING_IN" and second.venue.status()["earlier_traffic"] == PRIMARY
    second.disconnect()  # stopped before the Account Query: the store has the session, no floor, no mark
    assert second.store.earlier == 0 and second.store.last_issued == 0

    third, engine3, rig3 = _restart(first, tmp_path, "j2")
    third.connect()
    engine3.flush()
    _run(third, engine3, 30)
    status = third.venue.status()
    assert third.venue.state.value == "UP"
    assert _logins(third) == [1]  # old: 31 logins, refetch_given_up, DISCONNECTED
    assert status["refetches"] == 0 and status["earlier_traffic"] == PRIMARY
    strat3 = rig3.connect("S1")
    rig3.send(strat3, NewOrder("n1", "ACC1", "nasdaq", "AAPL", Side.BUY, 50, RESTING))
    engine3.flush()
    third.pump()
    engine3.flush()
    assert [m.cl_ord_id for m in strat3.received() if isinstance(m, OrderAccepted)] == ["n1"]
    assert third.venue.status()["last_user_ref_num"] == PRIMARY + 1
    assert third.store.earlier == PRIMARY  # written now: a further restart logs in after it
    assert first.core.exchange.violations == []
