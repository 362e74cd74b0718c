"""Message-rate throttles: the sliding window, and per strategy/account/symbol in the engine (fake clock)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import codes
from risk.engine import RiskEngine
from risk.model import TradingState
from risk.throttle import COMPACT_AT, GROW, ONE_SECOND_NS, SlidingWindow
from tests.risk.support import cancel, code, make_engine, order, submit

MS = 1_000_000
WIDE = {"max_open_orders": 1000, "max_open_notional": 10_000_000, "credit_limit": 100_000_000,
        "max_long_qty": 1_000_000, "max_net_qty": 1_000_000}  # fmt: skip


def _accept(window: SlidingWindow, limit: int, now: int) -> bool:
    if window.allows(limit, now):
        window.record(now, limit)
        return True
    return False


def test_allows_when_limit_reached_within_one_second_then_refused_until_oldest_is_one_second_old() -> None:
    window = SlidingWindow()
    assert [_accept(window, 3, t * 100 * MS) for t in range(3)] == [True, True, True]
    assert not window.allows(3, ONE_SECOND_NS - 1)
    assert window.allows(3, ONE_SECOND_NS)
    assert _accept(window, 3, ONE_SECOND_NS)
    assert not window.allows(3, ONE_SECOND_NS + 100 * MS - 1)
    assert window.allows(3, ONE_SECOND_NS + 100 * MS)


def test_allows_when_limit_zero_then_nothing_passes() -> None:
    assert not SlidingWindow().allows(0, 0)


def test_record_when_rate_exceeds_initial_capacity_then_ring_grows_and_stays_exact() -> None:
    window = SlidingWindow()
    accepted = sum(_accept(window, 1000, i * 100) for i in range(1500))  # 1500 attempts within 150 us
    assert accepted == 1000
    assert window.in_window(150_000) == 1000
    assert window.allows(1000, ONE_SECOND_NS) and not window.allows(1000, ONE_SECOND_NS - 1)


def test_allows_when_limit_lowered_below_remembered_events_then_uses_the_new_limit() -> None:
    window = SlidingWindow()
    for i in range(10):
        _accept(window, 10, i * MS)
    assert not window.allows(5, 500 * MS)
    assert window.allows(5, ONE_SECOND_NS + 5 * MS)  # the 5 most recent are at 5..9 ms
    assert not window.allows(5, ONE_SECOND_NS + 5 * MS - 1)


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=400 * MS), min_size=1, max_size=120),
    limit=st.integers(min_value=0, max_value=80),
)
def test_allows_when_arbitrary_arrivals_then_matches_a_naive_count_of_the_last_second(
    gaps: list[int], limit: int
) -> None:
    window = SlidingWindow()
    accepted: list[int] = []
    now = 0
    for gap in gaps:
        now += gap
        expected = sum(1 for t in accepted if now - t < ONE_SECOND_NS) < limit
        assert _accept(window, limit, now) == expected
        if expected:
            accepted.append(now)


def test_check_new_when_strategy_rate_reached_then_refused_across_accounts_and_symbols(
    tmp_path: Path,
) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**WIDE, "orders_per_s": {"per_strategy": 4}}})
    placed = [
        submit(
            engine,
            order(qty=1 + i, account=("ACC1", "ACC2")[i % 2], symbol=("AAPL", "MSFT")[i // 2 % 2]),
            clock,
        )
        for i in range(4)
    ]
    assert placed == [None] * 4
    assert code(submit(engine, order(qty=9, account="ACC2", symbol="MSFT"), clock)) == codes.ORDER_RATE_STRATEGY
    assert code(submit(engine, order(qty=9, strategy="S2"), clock)) is None  # another strategy has its own count
    clock.advance(ONE_SECOND_NS)
    assert code(submit(engine, order(qty=9), clock)) is None


def test_check_new_when_account_rate_reached_then_refused_across_strategies(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**WIDE, "orders_per_s": {"per_account": 3}}})
    for i in range(3):
        assert submit(engine, order(qty=1 + i, strategy=f"S{i}"), clock) is None
    assert code(submit(engine, order(qty=9, strategy="S9"), clock)) == codes.ORDER_RATE_ACCOUNT
    assert code(submit(engine, order(qty=9, account="ACC2"), clock)) is None


def test_check_new_when_symbol_rate_reached_then_refused_across_accounts(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**WIDE, "orders_per_s": {"per_symbol": 2}}})
    assert submit(engine, order(qty=1), clock) is None
    assert submit(engine, order(qty=2, account="ACC2", strategy="S2"), clock) is None
    assert code(submit(engine, order(qty=3, strategy="S3"), clock)) == codes.ORDER_RATE_SYMBOL
    assert code(submit(engine, order(qty=3, symbol="MSFT"), clock)) is None


def test_check_new_when_orders_refused_by_throttle_then_they_do_not_count(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**WIDE, "orders_per_s": {"per_strategy": 2}}})
    assert submit(engine, order(qty=1), clock) is None
    clock.advance(500 * MS)
    assert submit(engine, order(qty=2), clock) is None
    for _ in range(50):
        clock.advance(MS)
        assert code(submit(engine, order(qty=3), clock)) == codes.ORDER_RATE_STRATEGY
    clock.advance(450 * MS)  # 1 s after the first accepted order
    assert submit(engine, order(qty=4), clock) is None


def test_check_cancel_when_cancel_rate_reached_then_refused_and_replaces_count_too(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**WIDE, "cancels_per_s": {"per_strategy": 3}}})
    working = order(qty=10)
    assert submit(engine, working, clock) is None
    assert engine.check_cancel(working, clock()) is None
    assert engine.check_replace(working, 11, working.price, clock()) is None
    assert engine.check_cancel(working, clock()) is None
    assert code(engine.check_cancel(working, clock())) == codes.CANCEL_RATE_STRATEGY
    assert code(engine.check_replace(working, 12, working.price, clock())) == codes.CANCEL_RATE_STRATEGY
    clock.advance(ONE_SECOND_NS)
    assert engine.check_cancel(working, clock()) is None


def test_check_cancel_when_account_cancel_rate_reached_then_refused_across_strategies(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**WIDE, "cancels_per_s": {"per_account": 2}}})
    working = [order(qty=1 + i, strategy=f"S{i}") for i in range(3)]
    for o in working:
        assert submit(engine, o, clock) is None
    assert engine.check_cancel(working[0], clock()) is None
    assert engine.check_cancel(working[1], clock()) is None
    assert code(engine.check_cancel(working[2], clock())) == codes.CANCEL_RATE_ACCOUNT
    other = order(qty=5, account="ACC2")
    assert submit(engine, other, clock) is None
    assert engine.check_cancel(other, clock()) is None


def test_check_cancel_when_symbol_cancel_rate_reached_then_refused_across_accounts(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**WIDE, "cancels_per_s": {"per_symbol": 2}}})
    first, second, third = (
        order(qty=1),
        order(qty=2, account="ACC2", strategy="S2"),
        order(qty=3, strategy="S3"),
    )
    other = order(qty=4, symbol="MSFT")
    for o in (first, second, third, other):
        assert submit(engine, o, clock) is None
    assert engine.check_cancel(first, clock()) is None
    assert engine.check_cancel(second, clock()) is None
    assert code(engine.check_cancel(third, clock())) == codes.CANCEL_RATE_SYMBOL
    assert engine.check_cancel(other, clock()) is None


def test_check_cancel_when_halted_or_reducing_then_never_throttled(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**WIDE, "cancels_per_s": {"per_strategy": 1}}})
    working = order(qty=10)
    assert submit(engine, working, clock) is None
    assert engine.check_cancel(working, clock()) is None
    assert code(engine.check_cancel(working, clock())) == codes.CANCEL_RATE_STRATEGY
    engine.halt(who="test")
    assert all(engine.check_cancel(working, clock()) is None for _ in range(100))
    engine.set_trading_state(TradingState.REDUCING, who="test")
    assert all(engine.check_cancel(working, clock()) is None for _ in range(100))


def test_record_when_events_older_than_a_second_then_forgotten_and_memory_follows_the_rate() -> None:
    window = SlidingWindow()
    for i in range(20_000):  # 1,000 events a second for 20 s, under a limit of 1,000,000 a second
        assert _accept(window, 1_000_000, i * MS)
    assert len(window) <= 1_001  # the last second's events, not the 20,000 of the run
    assert window.in_window(20_000 * MS) == 999


def test_record_when_a_burst_is_followed_by_a_slow_rate_then_the_burst_drains() -> None:
    window = SlidingWindow()
    for i in range(5_000):  # a burst: 5,000 events within 5 ms
        _accept(window, 1_000_000, i * 1_000)
    for i in range(1, 8_001):  # then 10 a second: each recorded event forgets up to two old ones
        _accept(window, 1_000_000, 5 * MS + i * 100 * MS)
    assert len(window) <= 11


def test_record_when_fed_at_the_limit_for_ten_seconds_then_each_boundary_exact_and_at_most_rate_plus_two_kept() -> None:
    window = SlidingWindow()
    for i in range(10_000):  # 1 event/ms for 10 s under 1,000/s: the 1,000th most recent is always exactly 1 s old
        now = i * MS
        if i >= 1_000:
            assert not window.allows(1_000, now - 1)  # 1 ns short of the boundary: refused
            assert window.in_window(now - 1) == 1_000
        assert window.allows(1_000, now)  # exactly 1 s: allowed, as before the forgetting
        window.record(now, 1_000)
        assert len(window) <= 1_002
        head = window.head
        end = window.end
        assert window.times[head:end] == [t * MS for t in range(i + 1 - len(window), i + 1)]  # the latest, in order
        assert not any(window.times[:head])  # forgotten slots are cleared (0), not kept as time objects
        assert not any(window.times[end:])  # the spare slots hold no time
        assert len(window.times) <= 3 * len(window) + COMPACT_AT + GROW  # the cleared front is dropped as it grows
    assert window.in_window(10_000 * MS) == 999


def test_record_when_events_beyond_the_highest_limit_then_only_that_many_kept() -> None:
    window = SlidingWindow()
    for i in range(100):  # recorded without a check (a window shared by keys with other limits): 100 within 1 ms
        window.record(i * 10_000, 5)
    assert len(window) == 5
    assert window.times[window.head : window.end] == [i * 10_000 for i in range(95, 100)]
    assert not window.allows(5, ONE_SECOND_NS + 95 * 10_000 - 1)
    assert window.allows(5, ONE_SECOND_NS + 95 * 10_000)
    window.record(ONE_SECOND_NS // 2, 8)  # a higher limit keeps more from now on
    for i in range(3):
        window.record(ONE_SECOND_NS // 2 + i, 8)
    assert len(window) == 8


def _window_sizes(engine: RiskEngine) -> list[int]:
    windows = (*engine._order_windows, *engine._cancel_windows)
    return [len(w) for by_key in windows for w in by_key.values()]


def test_check_new_and_cancel_when_high_limits_then_rate_windows_hold_one_second_not_the_day(tmp_path: Path) -> None:
    rates = {"per_strategy": 1_000_000, "per_account": 1_000_000, "per_symbol": 1_000_000}
    limits = {**WIDE, "max_open_orders": 100_000, "orders_per_s": rates, "cancels_per_s": rates}
    engine, clock = make_engine(tmp_path, {"defaults": limits})
    for i in range(6_000):  # 500 orders and 500 cancels a second for 12 s
        working = order(qty=1 + i % 50, strategy=("S1", "S2")[i % 2])
        assert submit(engine, working, clock) is None
        assert engine.check_cancel(working, clock()) is None
        cancel(engine, working)
        clock.advance(2 * MS)
    sizes = _window_sizes(engine)
    assert len(sizes) == 8  # orders and cancels: 2 strategies, 1 account, 1 symbol
    assert max(sizes) <= 502  # the last second's 500 (+2 at most), never the 6,000 of the run
    assert submit(engine, order(qty=1), clock) is None  # still counting exactly


def test_check_new_when_one_order_a_ms_at_the_strategy_limit_for_ten_seconds_then_boundary_exact_and_windows_flat(
    tmp_path: Path,
) -> None:
    limits = {**WIDE, "orders_per_s": {"per_strategy": 1_000, "per_account": 1_000_000, "per_symbol": 1_000_000}}
    engine, clock = make_engine(tmp_path, {"defaults": limits})
    for i in range(10_000):
        if i >= 1_000:  # the 1,000th most recent accepted order is 1 s - 1 ns old: refused, and not counted
            clock.advance(MS - 1)
            refused = submit(engine, order(qty=1), clock)
            assert code(refused) == codes.ORDER_RATE_STRATEGY
            assert refused is not None and refused.text == "strategy S1 is at its limit of 1000 new orders per second"
            clock.advance(1)
        elif i:
            clock.advance(MS)
        working = order(qty=1)
        assert submit(engine, working, clock) is None  # exactly 1 s old: allowed
        cancel(engine, working)
    sizes = _window_sizes(engine)
    assert len(sizes) == 3
    assert max(sizes) <= 1_002


def test_record_when_fed_steadily_then_the_list_grows_a_few_times_only_and_keeps_its_length() -> None:
    """A compaction keeps the list's length (spare slots at its end): growing (a store that raises) stays rare.

    Before, a compaction dropped the cleared front with nothing in its place: a window of 1,000 times had a full
    list again after each compaction and grew, raising ``IndexError``, about once per 1,000 events (26 times here).
    """
    window = SlidingWindow()
    grew = 0
    length = len(window.times)
    for i in range(20_000):  # 1 event/ms under 1,000/s: about 1,000 times remembered, compacted every ~1,000
        window.record(i * MS, 1_000)
        if len(window.times) > length:
            grew += 1
        length = len(window.times)
    assert grew <= 10  # the doublings up to the working size (8, 16, ..., about 2,000), then none
    assert len(window.times) <= 3 * len(window) + COMPACT_AT + GROW


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=400 * MS), st.integers(min_value=0, max_value=90)),
        min_size=1,
        max_size=60,
    ),
    limit=st.integers(min_value=1, max_value=80),
)
def test_record_many_when_arbitrary_batches_then_allows_as_after_as_many_single_records(
    steps: list[tuple[int, int]], limit: int
) -> None:
    """A MassCancel's slice is recorded at once (strat60): the window answers as if each were recorded alone."""
    batched, single = SlidingWindow(), SlidingWindow()
    now = 0
    for gap, count in steps:
        now += gap
        batched.record_many(now, limit, count)
        for _ in range(count):
            single.record(now, limit)
        for probe in (now, now + ONE_SECOND_NS // 2, now + ONE_SECOND_NS - 1, now + ONE_SECOND_NS):
            for asked in (1, limit // 2 + 1, limit):
                assert batched.allows(asked, probe) == single.allows(asked, probe)
        assert len(batched) <= limit  # never more remembered than the highest limit reads
        assert batched.in_window(now) == min(single.in_window(now), limit)
