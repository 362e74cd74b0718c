"""A venue naming UserRefNums the adapter no longer maps, many of them: the journal is searched within a budget.

Before ouchflood42 every such message (Executed, Canceled, Accepted, ... of a number never sent, of another
gateway's, or sent again and again) cost a journal search on the event loop (``Engine._order_of_ref``: a binary
search over the replay index and a scan of up to thousands of records), whatever the rate. Now a number above
every one the UserRefNum store handed out this session is not ours without a search (``ref_never_issued``), a
number searched before is answered from the adapter's answers (``ref_answers_reused``), and past the window's
budget (10 searches or 10 ms of searching per 100 ms) the venue's messages wait, in order, for later windows
(``held_for_lookup``): a fill of an order that IS ours, behind the flood, is still applied, once.

Sans-IO first: a real ``Engine`` journaling to a real file that holds a day of orders (even UserRefNums; the odd
ones below the store's high-water mark were never sent), a real ``OuchVenue`` fed sequenced messages, a fake
clock. Then end to end: the OUCH simulator on loopback, orders released from memory, a flood and a late fill.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from gateway.journal import FileJournal, JSentCancel, JVenueEpoch
from gateway.journal_records import JOrderSent
from gateway.protocol.messages import Executed
from gateway.ref_lookup import note_session
from gateway.replay import MARK_MASK
from model.clock import FakeClock
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.harness import LimitRisk, Rig
from tests.ouch.harness import PX, TS, venue_config
from tests.ouch.test_late_fill_released import Gateway, _late_fill, _push_out, _rest_and_cancel, wait_until
from venues.ouch.adapter import REF_LOOKUP_WINDOW_NS, OuchVenue
from venues.ouch.codec import encode_message
from venues.ouch.messages import AccountQueryResponse, OrderCanceled, OrderExecuted, OutboundMessage
from venues.ouch.refstore import UserRefNumStore

pytestmark = pytest.mark.timeout(60)

DAY = "2024-05-01"
ORDERS = 8_000
"""Orders of the day in the journal: order ``n`` was sent under UserRefNum ``2 * n``."""
WINDOW = REF_LOOKUP_WINDOW_NS


def _sent(order_id: int, venue: str) -> JOrderSent:
    """Return the record of order ``order_id`` sent to ``venue`` under UserRefNum ``2 * order_id``."""
    return JOrderSent(
        order_id, "S1", f"c{order_id}", "ACC1", venue, "AAPL", Side.BUY, 10, PX, TimeInForce.DAY, OrderType.LIMIT, 0,
        str(2 * order_id),
    )  # fmt: skip


class Day:
    """An engine whose journal holds ``ORDERS`` orders sent to the OUCH venue in session S1, and that venue."""

    def __init__(self, tmp_path: Path, orders: int = ORDERS, clock: Callable[[], int] | None = None) -> None:
        config = venue_config(
            tmp_path / "ouch", max_refetches=0
        )  # a message that cannot be read: taken as lost at once (the path after max_refetches; see test_refetch.py)
        (tmp_path / "ouch").mkdir()
        self.store = UserRefNumStore(tmp_path / "ouch", config.name, today=lambda: DAY, block=1_000)
        self.store.bind("S1")
        self.clock = FakeClock()
        self.venue = OuchVenue(config, clock or self.clock, store=self.store)
        self.journal = FileJournal(tmp_path / "journal", fsync=FsyncPolicy.NONE)
        self.rig = Rig(journal=self.journal, venues=[self.venue], risk=LimitRisk())  # type: ignore[list-item]
        self.engine = self.rig.engine
        note_session(self.engine.venue_sessions, config.name, "S1", self.journal.tell())  # as ``_on_venue_epoch``
        self.journal.append(JVenueEpoch(config.name, "S1"))
        for order_id in range(1, orders + 1):
            if not order_id & MARK_MASK:
                self.engine.order_marks.add(order_id, self.journal.tell())
            self.journal.append(_sent(order_id, config.name))
            self.journal.append(JSentCancel(order_id, str(2 * order_id)))
            self.journal.flush()
        self.store.ensure_above(2 * orders + 1)  # the store handed out every number up to here
        self.seq = 0

    def says(self, *messages: OutboundMessage) -> None:
        """The venue sends ``messages``, sequenced."""
        for message in messages:
            self.seq += 1
            self.venue.on_sequenced(self.seq, memoryview(encode_message(message)))

    def close(self) -> None:
        self.journal.close()


def _executed(urn: int, match: int) -> OrderExecuted:
    return OrderExecuted(TS, urn, 10, PX, "A", match)


@pytest.fixture
def day(tmp_path: Path) -> Iterator[Day]:
    made = Day(tmp_path)
    yield made
    made.close()


def test_flood_when_numbers_were_never_sent_then_searched_within_the_budget_and_the_rest_waits_in_order(
    day: Day,
) -> None:
    venue, engine = day.venue, day.engine
    venue.ref_lookups_per_window = 10
    odd = [2 * n + 1 for n in range(100, 130)]  # below the high-water mark, never sent: each needs a search
    day.says(*[_executed(urn, 1000 + urn) for urn in odd], OrderCanceled(TS, 2 * 50, 0, "U"))

    assert engine.ref_lookups == 10  # old: 31, all on this one read
    assert venue.counters["unknown_user_ref_num"] == 10
    assert venue.counters["held_for_lookup"] == 21 and venue.status()["held_now"] == 21
    assert venue.counters["after_end"] == 0  # order 50's Canceled waits behind the flood

    venue.poll(day.clock.now)  # the same window: nothing more
    assert engine.ref_lookups == 10
    day.clock.advance(WINDOW)
    venue.poll(day.clock.now)
    assert (engine.ref_lookups, venue.status()["held_now"]) == (20, 11)
    day.clock.advance(WINDOW)
    venue.poll(day.clock.now)
    assert (engine.ref_lookups, venue.status()["held_now"]) == (30, 1)
    assert venue.counters["after_end"] == 0
    day.clock.advance(WINDOW)
    venue.poll(day.clock.now)
    assert venue.status()["held_now"] == 0
    assert (engine.ref_lookups, engine.ref_lookups_found) == (31, 1)
    assert venue.counters["unknown_user_ref_num"] == 30
    assert venue.after_end_by_type == {"C": 1}  # order 50's, found in the journal, after every earlier message
    assert venue.counters["held_for_lookup"] == 21  # once per message


def test_held_when_the_replay_ends_then_all_acted_on_first_in_order(day: Day) -> None:
    venue, engine = day.venue, day.engine
    venue.ref_lookups_per_window = 1
    day.says(*[_executed(2 * n + 1, n) for n in range(300, 306)], OrderCanceled(TS, 2 * 60, 0, "U"))
    assert (engine.ref_lookups, venue.status()["held_now"]) == (1, 6)

    venue.on_caught_up()  # the first Server Heartbeat after a login: what the replay said is acted on first

    assert (engine.ref_lookups, venue.status()["held_now"]) == (7, 0)  # whatever the budget
    assert venue.counters["unknown_user_ref_num"] == 6 and venue.after_end_by_type == {"C": 1}


def test_flood_when_searches_take_long_then_the_window_s_time_budget_stops_them(tmp_path: Path) -> None:
    ticking = FakeClock()
    day = Day(tmp_path, 3_000, clock=lambda: ticking.advance(6_000_000))  # each clock read: 6 ms later
    try:
        day.says(*[_executed(2 * n + 1, n) for n in range(200, 205)])
        assert day.engine.ref_lookups == 2  # 6 ms each: the third would start past the 10 ms of the window
        assert day.venue.status()["held_now"] == 3
    finally:
        day.close()


def test_flood_when_the_same_unknown_numbers_come_again_then_each_is_searched_once(day: Day) -> None:
    venue, engine = day.venue, day.engine
    day.says(*[_executed(301, n) for n in range(50)])
    day.says(*[_executed(urn, 1) for urn in (303, 305, 301, 303, 305)])
    day.says(*[OrderCanceled(TS, 2 * 7, 0, "U") for _ in range(3)])  # ours: found once, answered twice more

    assert (engine.ref_lookups, engine.ref_lookups_found) == (4, 1)  # old: (58, 3)
    assert venue.counters["ref_answers_reused"] == 49 + 3 + 2
    assert venue.counters["unknown_user_ref_num"] == 55
    assert venue.after_end_by_type == {"C": 3}
    assert venue.counters["held_for_lookup"] == 0  # within the budget


def test_flood_when_numbers_are_above_every_one_the_store_handed_out_then_no_search(day: Day) -> None:
    venue, engine = day.venue, day.engine
    high = day.store.last_issued
    day.says(*[_executed(high + n, n) for n in range(1, 500)], _executed(0, 1), _executed(4_294_967_295, 2))

    assert engine.ref_lookups == 0  # old: 501 searches
    assert (venue.counters["ref_never_issued"], venue.counters["unknown_user_ref_num"]) == (501, 501)
    assert engine.counters.venue_events_unknown_order == 501


def test_answers_when_the_venue_session_changes_then_forgotten(day: Day) -> None:
    venue, engine = day.venue, day.engine
    day.says(OrderCanceled(TS, 2 * 9, 0, "U"))
    assert venue.after_end_by_type == {"C": 1}
    day.store.bind("S2")  # another session: numbers from 1 again, none handed out yet
    day.store.ensure_above(100)
    day.says(OrderCanceled(TS, 2 * 9, 0, "U"))  # S2's number 18: not order 9 (S1's), searched in S2

    assert venue.counters["ref_answers_reused"] == 0
    assert engine.ref_lookups == 1  # S1's; S2 is not the journal's latest session of the venue: not read at all
    assert venue.after_end_by_type == {"C": 1} and venue.counters["unknown_user_ref_num"] == 1


def test_answers_when_the_journal_cannot_be_read_then_not_kept(day: Day, monkeypatch: pytest.MonkeyPatch) -> None:
    venue, engine = day.venue, day.engine
    reader = day.journal.reader

    def failing(position: int = 0) -> object:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(day.journal, "reader", failing)
    day.says(_executed(401, 1))
    assert (engine.ref_lookups, engine.ref_lookup_failures) == (0, 1)
    monkeypatch.setattr(day.journal, "reader", reader)
    day.says(_executed(401, 2))  # searched again: a failure is no answer
    assert (engine.ref_lookups, engine.ref_lookup_failures) == (1, 1)
    assert venue.counters["ref_answers_reused"] == 0
    assert venue.counters["unknown_user_ref_num"] == 2


@pytest.fixture
async def sim() -> AsyncIterator[OuchSimulator]:
    simulator = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX})))
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_flood_on_loopback_when_a_late_fill_of_ours_comes_behind_it_then_applied_once(
    sim: OuchSimulator, tmp_path: Path
) -> None:
    from gateway.engine import RELEASE_BATCH

    gw = await Gateway(sim, tmp_path, kept=2).start()
    try:
        venue, engine = gw.venue, gw.engine
        link = gw.rig.connect("S1")
        order_id, urn = await _rest_and_cancel(gw, link, "A")
        await _push_out(gw, link, RELEASE_BATCH + 20)
        assert order_id not in engine.orders
        fillers = list(range(urn + 1, urn + 13))  # the first fillers' numbers: filled, released (ours)
        assert not any(number in venue._refs for number in fillers)
        high = venue.status()["last_user_ref_num"]
        assert isinstance(high, int)
        venue.ref_lookups_per_window = 1

        for number in fillers:  # a Canceled of nothing for each: found, counted after-end
            sim.stream.append(encode_message(OrderCanceled(TS, number, 0, "U")))
        for n in range(1, 6):  # numbers never handed out
            sim.stream.append(encode_message(OrderExecuted(TS, high + n, 10, PX, "A", 500 + n)))
        _late_fill(sim, urn, 30, 9001)  # order A's, behind the flood

        await wait_until(lambda: venue.counters["held_for_lookup"] > 0, "messages to wait for the budget")
        assert engine.counters.late_fills == 0
        await wait_until(lambda: engine.counters.late_fills == 1, "the late fill", timeout=20)
        gw.engine.flush()
        assert [(m.cl_ord_id, m.qty, m.exec_id) for m in link.received() if isinstance(m, Executed)] == [
            ("A", 30, "9001")
        ]
        assert (engine.ref_lookups, engine.ref_lookups_found) == (13, 13)
        assert venue.after_end_by_type == {"C": 12}
        # the first number never handed out asked for again, then given up; the other 4, read in the replay of that
        # login, are another host's (above the store's in a login's replay: ouchfail58): none searched
        counted = ("ref_never_issued", "ref_other_host", "unknown_user_ref_num")
        assert tuple(venue.counters[name] for name in counted) == (1, 4, 5)
        assert venue.status()["held_now"] == 0

        held = venue.counters["held_for_lookup"]
        for number in fillers:  # the same again: answered from the adapter's answers, nothing waits
            sim.stream.append(encode_message(OrderCanceled(TS, number, 0, "U")))
        _late_fill(sim, urn, 30, 9001)  # a copy of the fill: not applied twice
        sim.flush_all()
        await wait_until(lambda: venue.counters["executions_after_end"] == 2, "the copy to be read")
        assert venue.counters["held_for_lookup"] == held
        assert engine.ref_lookups == 13
        assert (engine.counters.late_fills, engine.counters.repeated_fills) == (1, 1)
    finally:
        await gw.stop()


def test_account_query_answer_when_it_waits_behind_held_messages_then_acted_on_not_timed_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev42diff: the venue's answer to the Account Query sequenced behind a flood is read, not taken as none."""
    day = Day(tmp_path, orders=2_000)
    venue = day.venue
    venue.ref_lookups_per_window = 10
    venue._replaying = True  # after a login: the replay read, the adapter asks the venue's NextUserRefNum
    venue._check_orders = True
    venue._login_ns = day.clock.now
    venue.on_caught_up()
    assert venue._query_sent_ns
    day.says(*[_executed(2 * n + 1, 1_000 + n) for n in range(100, 700)], AccountQueryResponse(TS, 4_001))
    with caplog.at_level(logging.WARNING):
        for _ in range(80):  # 8 s of windows: past the 5 s query timeout while the flood drains
            day.clock.advance(WINDOW)
            venue.poll(day.clock.now)
    day.close()
    assert venue.status()["held_now"] == 0
    assert venue._query_sent_ns == 0  # answered by the venue's Account Query Response
    assert not [r for r in caplog.records if "Account Query unanswered" in r.getMessage()]


def test_salvaged_message_when_it_waits_for_the_budget_then_counted_a_protocol_error_once(tmp_path: Path) -> None:
    """rev42diff: a held message with a malformed appendage is decoded again on each try; counted once."""
    day = Day(tmp_path, orders=2_000)
    venue = day.venue
    venue.ref_lookups_per_window = 1
    day.says(_executed(201, 1))  # one search: the window's budget spent
    raw = bytearray(encode_message(_executed(203, 2)))
    raw[-2:] = b"\x00\x05"  # Appendage Length 5 and nothing after it: the fields are intact
    before = venue.counters["protocol_errors"]
    day.seq += 1
    venue.on_sequenced(day.seq, memoryview(bytes(raw)))
    assert venue.status()["held_now"] == 1
    for _ in range(3):  # tried again in each window until searched
        venue.poll(day.clock.now)
    day.clock.advance(WINDOW)
    venue.poll(day.clock.now)
    day.close()
    assert venue.status()["held_now"] == 0
    assert venue.counters["protocol_errors"] - before == 1
