"""Each pre-trade check: accepted just inside its limit, refused just outside with its reason code."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.enums import OrderType, Side
from model.order import request_replace
from risk import codes
from tests.risk.support import cancel, code, fill, make_engine, order, px, submit

BIG = {"max_notional": 10_000_000, "max_open_notional": 10_000_000, "credit_limit": 100_000_000}
"""Exposure limits out of the way, for tests about something else."""


def test_check_new_when_qty_at_max_qty_then_accepted_and_one_more_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": BIG})
    assert code(submit(engine, order(qty=1000), clock)) is None
    denial = submit(engine, order(qty=1001), clock)
    assert code(denial) == codes.MAX_QTY
    assert denial is not None and "1001" in denial.text and "1000" in denial.text


def test_check_new_when_notional_at_max_then_accepted_and_one_cent_more_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    assert code(submit(engine, order(qty=500, price="100.00"), clock)) is None
    assert code(submit(engine, order(qty=500, price="100.01"), clock)) == codes.MAX_NOTIONAL


@pytest.mark.parametrize(
    ("price", "expected"),
    [("105.00", None), ("105.01", codes.PRICE_COLLAR), ("95.00", None), ("94.99", codes.PRICE_COLLAR)],
)
def test_check_new_when_price_at_collar_pct_edge_then_inside_accepted_outside_refused(
    tmp_path: Path, price: str, expected: str | None
) -> None:
    engine, clock = make_engine(tmp_path)
    assert code(submit(engine, order(qty=10, price=price), clock)) == expected


def test_check_new_when_price_at_collar_ticks_edge_then_inside_accepted_outside_refused(
    tmp_path: Path,
) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {"collar_ticks": 10}})
    assert code(submit(engine, order(qty=10, price="100.10"), clock)) is None
    assert code(submit(engine, order(qty=10, price="100.11"), clock)) == codes.PRICE_COLLAR
    assert code(submit(engine, order(qty=10, price="99.89"), clock)) == codes.PRICE_COLLAR


def test_check_new_when_no_reference_then_refused_unless_symbol_allows_missing(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    assert code(submit(engine, order(qty=10, symbol="TSLA"), clock)) == codes.REFERENCE_MISSING
    relaxed, clock2 = make_engine(tmp_path, {"reference_prices": {"allow_missing": ["TSLA"]}})
    assert code(submit(relaxed, order(qty=10, symbol="TSLA"), clock2)) is None


def test_check_new_when_last_trade_exactly_max_age_then_fresh_and_one_ns_later_stale(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    clock.advance(60 * 1_000_000_000)
    assert code(submit(engine, order(qty=10), clock)) is None
    clock.advance(1)
    assert code(submit(engine, order(qty=10), clock)) == codes.REFERENCE_STALE


def test_check_new_when_fill_seen_then_last_trade_becomes_the_reference(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": BIG})
    first = order(qty=10, price="104.00")
    assert submit(engine, first, clock) is None
    fill(engine, first, 10)  # last trade 104.00: the collar now centres on it
    assert code(submit(engine, order(qty=10, price="109.20"), clock)) is None
    assert code(submit(engine, order(qty=10, price="109.21"), clock)) == codes.PRICE_COLLAR


def _reference_file(tmp_path: Path, as_of: str, price: str = "100.00") -> None:
    (tmp_path / "refs.yaml").write_text(f"as_of: {as_of}\nprices:\n  IBM: {price}\n")


def test_check_new_when_reference_file_fresh_then_used_for_the_collar(tmp_path: Path) -> None:
    _reference_file(tmp_path, "2025-06-13T13:00:00Z")
    engine, clock = make_engine(tmp_path, {"reference_prices": {"file": "refs.yaml", "file_max_age_s": 7200}})
    assert code(submit(engine, order(qty=10, symbol="IBM", price="105.00"), clock)) is None
    assert code(submit(engine, order(qty=10, symbol="IBM", price="105.01"), clock)) == codes.PRICE_COLLAR


def test_check_new_when_reference_file_older_than_max_age_then_stale(tmp_path: Path) -> None:
    _reference_file(tmp_path, "2025-06-13T13:00:00Z")  # one hour before the test's wall clock
    engine, clock = make_engine(tmp_path, {"reference_prices": {"file": "refs.yaml", "file_max_age_s": 3599}})
    assert code(submit(engine, order(qty=10, symbol="IBM"), clock)) == codes.REFERENCE_STALE


def test_check_new_when_reference_file_ages_past_max_while_running_then_stale(tmp_path: Path) -> None:
    _reference_file(tmp_path, "2025-06-13T13:00:00Z")
    engine, clock = make_engine(tmp_path, {"reference_prices": {"file": "refs.yaml", "file_max_age_s": 3601}})
    assert code(submit(engine, order(qty=10, symbol="IBM"), clock)) is None
    clock.advance(1_000_000_000)
    assert code(submit(engine, order(qty=11, symbol="IBM"), clock)) == codes.REFERENCE_STALE


def test_check_new_when_price_off_tick_then_tick_size_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    assert code(submit(engine, order(qty=10, price="100.01"), clock)) is None
    assert code(submit(engine, order(qty=10, price="100.005"), clock)) == codes.TICK_SIZE


def test_check_new_when_symbol_tick_size_set_then_it_replaces_the_default(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"symbols": {"AAPL": {"tick_size": 0.05}}})
    assert code(submit(engine, order(qty=10, price="100.05"), clock)) is None
    assert code(submit(engine, order(qty=10, price="100.01"), clock)) == codes.TICK_SIZE
    assert code(submit(engine, order(qty=10, symbol="MSFT", price="100.01"), clock)) is None


def test_check_new_when_qty_not_whole_lots_then_lot_size_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {"lot_size": 100}})
    assert code(submit(engine, order(qty=200), clock)) is None
    assert code(submit(engine, order(qty=250), clock)) == codes.LOT_SIZE


def test_check_new_when_open_orders_at_max_then_refused_until_one_is_canceled(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = [order(qty=10, price=f"100.0{i}") for i in range(3)]
    assert [code(submit(engine, o, clock)) for o in working] == [None, None, None]
    assert code(submit(engine, order(qty=10, price="99.00"), clock)) == codes.MAX_OPEN_ORDERS
    cancel(engine, working[0])
    assert code(submit(engine, order(qty=10, price="99.00"), clock)) is None


def test_check_new_when_open_notional_at_max_then_refused_beyond(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {"max_open_orders": 10}})
    for price in ("100.00", "100.01", "99.99"):
        assert code(submit(engine, order(qty=400, price=price), clock)) is None
    # open notional 40,000 + 40,004 + 39,996 = 120,000 exactly
    assert engine.exposure("ACC1").open_notional == px(120_000)
    assert code(submit(engine, order(qty=1, price="99.00"), clock)) == codes.MAX_OPEN_NOTIONAL


def test_check_new_when_credit_used_by_fills_and_open_orders_then_refused_beyond(tmp_path: Path) -> None:
    limits = {
        "max_qty": 5000,
        "max_notional": 1_000_000,
        "max_open_notional": 1_000_000,
        "credit_limit": 300_000,
    }
    engine, clock = make_engine(tmp_path, {"defaults": limits})
    bought = order(qty=1000)
    assert submit(engine, bought, clock) is None
    fill(engine, bought, 1000)
    sold = order(Side.SELL, qty=1000)
    assert submit(engine, sold, clock) is None
    fill(engine, sold, 1000)  # gross traded 200,000
    assert code(submit(engine, order(qty=1000), clock)) is None  # + open 100,000 = 300,000
    assert code(submit(engine, order(qty=1, price="99.00"), clock)) == codes.CREDIT_LIMIT
    assert engine.exposure("ACC1").traded_notional == px(200_000)


def test_check_new_when_worst_case_long_at_max_then_refused_beyond(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**BIG, "max_net_qty": 10_000}})
    engine.set_start_position("ACC1", "AAPL", 1500)
    assert code(submit(engine, order(qty=400), clock)) is None
    assert code(submit(engine, order(qty=100, price="99.99"), clock)) is None  # 1500 + 400 + 100 = 2000
    denial = submit(engine, order(qty=1, price="99.98"), clock)
    assert code(denial) == codes.MAX_LONG_POSITION
    assert code(submit(engine, order(Side.SELL, qty=100), clock)) is None  # selling never hits the long limit


def test_check_new_when_worst_case_short_at_max_then_refused_beyond(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**BIG, "max_net_qty": 10_000}})
    assert code(submit(engine, order(Side.SELL_SHORT, qty=1000), clock)) is None
    assert code(submit(engine, order(Side.SELL_SHORT, qty=500, price="100.01"), clock)) is None
    assert code(submit(engine, order(Side.SELL_SHORT, qty=1, price="100.02"), clock)) == codes.MAX_SHORT_POSITION


def test_check_new_when_net_if_all_filled_at_max_then_refused_beyond_but_reducing_passes(
    tmp_path: Path,
) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {**BIG, "max_long_qty": 10_000, "max_open_orders": 10}})
    engine.set_start_position("ACC1", "AAPL", 1000)
    assert code(submit(engine, order(qty=800), clock)) is None  # net if filled 1800
    assert code(submit(engine, order(qty=1, price="99.99"), clock)) == codes.MAX_NET_POSITION
    engine.set_start_position("ACC1", "AAPL", 2500)  # above the limit (e.g. after a reload lowered it)
    assert code(submit(engine, order(Side.SELL, qty=100), clock)) is None  # shrinks |net|: allowed


def test_check_new_when_same_order_within_duplicate_window_then_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {"duplicate_window_ms": 100, "max_open_orders": 10}})
    assert code(submit(engine, order(qty=10), clock)) is None
    clock.advance(99_999_999)
    assert code(submit(engine, order(qty=10), clock)) == codes.DUPLICATE_ORDER
    assert code(submit(engine, order(qty=10, price="100.01"), clock)) is None  # other price: not a duplicate
    assert code(submit(engine, order(Side.SELL_SHORT, qty=10), clock)) is None  # other side
    assert code(submit(engine, order(qty=10, account="ACC2"), clock)) is None  # other account
    clock.advance(1)
    assert code(submit(engine, order(qty=10), clock)) is None  # 100 ms after the first accepted one


def test_check_new_when_symbol_on_no_trade_list_then_refused_both_sides(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"restricted": {"no_trade": ["AAPL"]}})
    engine.set_start_position("ACC1", "AAPL", 100)
    assert code(submit(engine, order(qty=10), clock)) == codes.RESTRICTED_SYMBOL
    assert code(submit(engine, order(Side.SELL, qty=10), clock)) == codes.RESTRICTED_SYMBOL
    assert code(submit(engine, order(qty=10, symbol="MSFT"), clock)) is None


def test_check_new_when_symbol_sell_only_then_only_long_sales_pass(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"restricted": {"sell_only": ["AAPL"]}})
    engine.set_start_position("ACC1", "AAPL", 100)
    assert code(submit(engine, order(qty=10), clock)) == codes.SELL_ONLY_SYMBOL
    assert code(submit(engine, order(Side.SELL_SHORT, qty=10), clock)) == codes.SELL_ONLY_SYMBOL
    assert code(submit(engine, order(Side.SELL, qty=100), clock)) is None


def test_check_new_when_sale_exceeds_long_position_then_must_be_marked_short(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.set_start_position("ACC1", "AAPL", 100)
    assert code(submit(engine, order(Side.SELL, qty=101), clock)) == codes.SHORT_SALE_NOT_MARKED
    assert code(submit(engine, order(Side.SELL, qty=60), clock)) is None
    # 60 already working on the sell side: only 40 more can be a long sale
    assert code(submit(engine, order(Side.SELL, qty=41, price="100.01"), clock)) == codes.SHORT_SALE_NOT_MARKED
    assert code(submit(engine, order(Side.SELL, qty=40, price="100.01"), clock)) is None
    assert code(submit(engine, order(Side.SELL_SHORT, qty=41, price="100.02"), clock)) is None


def test_check_new_when_short_sales_not_allowed_then_marked_short_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"accounts": {"ACC2": {"allow_short_sales": False}}})
    assert code(submit(engine, order(Side.SELL_SHORT, qty=10, account="ACC2"), clock)) == codes.SHORT_SALE_NOT_ALLOWED
    assert code(submit(engine, order(Side.SELL_SHORT, qty=10), clock)) is None


def test_check_new_when_short_exempt_not_allowed_then_refused_and_allowed_when_enabled(
    tmp_path: Path,
) -> None:
    engine, clock = make_engine(tmp_path, {"accounts": {"ACC2": {"allow_short_exempt": True}}})
    assert code(submit(engine, order(Side.SELL_SHORT_EXEMPT, qty=10), clock)) == codes.SHORT_EXEMPT_NOT_ALLOWED
    assert code(submit(engine, order(Side.SELL_SHORT_EXEMPT, qty=10, account="ACC2"), clock)) is None


def test_check_new_when_market_order_not_allowed_then_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    assert code(submit(engine, order(qty=10, ord_type=OrderType.MARKET), clock)) == codes.MARKET_ORDER_NOT_ALLOWED


def test_check_new_when_market_order_allowed_then_valued_at_reference(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {"allow_market_orders": True}})
    assert code(submit(engine, order(qty=500, ord_type=OrderType.MARKET), clock)) is None  # 500 x 100 = 50,000
    assert code(submit(engine, order(qty=501, ord_type=OrderType.MARKET), clock)) == codes.MAX_NOTIONAL
    assert engine.exposure("ACC1").open_notional == px(50_000)


def test_check_new_when_market_order_without_reference_then_refused_even_if_missing_allowed(
    tmp_path: Path,
) -> None:
    overrides = {"defaults": {"allow_market_orders": True}, "reference_prices": {"allow_missing": ["TSLA"]}}
    engine, clock = make_engine(tmp_path, overrides)
    assert code(submit(engine, order(qty=1, symbol="TSLA", ord_type=OrderType.MARKET), clock)) == (
        codes.REFERENCE_MISSING
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"defaults": {"trading_state": "HALTED"}},
        {"accounts": {"ACC1": {"trading_state": "HALTED"}}},
        {"symbols": {"AAPL": {"trading_state": "HALTED"}}},
        {"strategies": {"S1": {"trading_state": "HALTED"}}},
    ],
)
def test_check_new_when_halted_in_any_scope_then_refused_but_cancel_allowed(
    tmp_path: Path, overrides: dict[str, object]
) -> None:
    engine, clock = make_engine(tmp_path, overrides)
    working = order(qty=10)
    engine.on_order_opened(working)  # an order opened before the halt
    assert code(engine.check_and_commit_new(order(qty=10), clock())) == codes.TRADING_HALTED
    assert code(engine.check_replace(working, 20, working.price, clock())) == codes.TRADING_HALTED
    assert engine.check_cancel(working, clock()) is None
    assert code(engine.check_and_commit_new(order(qty=10, account="ACC2", symbol="MSFT", strategy="S2"), clock())) == (
        codes.TRADING_HALTED if "defaults" in overrides else None
    )


def test_check_new_when_reducing_then_only_orders_that_cannot_grow_the_position_pass(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"accounts": {"ACC1": {"trading_state": "REDUCING"}}})
    engine.set_start_position("ACC1", "AAPL", 500)
    engine.set_start_position("ACC1", "MSFT", -300)
    assert code(submit(engine, order(qty=1), clock)) == codes.REDUCE_ONLY
    assert code(submit(engine, order(Side.SELL, qty=501), clock)) == codes.REDUCE_ONLY
    assert code(submit(engine, order(Side.SELL_SHORT, qty=501), clock)) == codes.REDUCE_ONLY
    assert code(submit(engine, order(Side.SELL, qty=500), clock)) is None
    assert code(submit(engine, order(Side.SELL, qty=1, price="100.01"), clock)) == codes.REDUCE_ONLY  # 500 working
    assert code(submit(engine, order(qty=301, symbol="MSFT"), clock)) == codes.REDUCE_ONLY
    assert code(submit(engine, order(qty=300, symbol="MSFT"), clock)) is None
    assert code(submit(engine, order(qty=10, account="ACC2"), clock)) is None  # other accounts unaffected


@pytest.mark.parametrize(("qty", "price"), [(0, "100.00"), (-5, "100.00"), (10, "0")])
def test_check_new_when_qty_or_price_not_positive_then_invalid_order(tmp_path: Path, qty: int, price: str) -> None:
    engine, clock = make_engine(tmp_path)
    assert code(submit(engine, order(qty=qty, price=price), clock)) == codes.INVALID_ORDER


def test_check_new_when_account_unknown_then_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    denial = submit(engine, order(qty=10, account="NOPE"), clock)
    assert code(denial) == codes.UNKNOWN_ACCOUNT
    assert denial is not None and "NOPE" in denial.text


def test_check_replace_when_new_qty_above_max_qty_then_refused_and_order_unchanged(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": BIG})
    working = order(qty=500)
    assert submit(engine, working, clock) is None
    assert code(engine.check_replace(working, 1001, working.price, clock())) == codes.MAX_QTY
    assert code(engine.check_replace(working, 1000, working.price, clock())) is None
    assert engine.position("ACC1", "AAPL").open_buy_qty == 1000  # the approved replace is reserved


def test_check_replace_when_price_outside_collar_or_off_tick_then_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=10)
    assert submit(engine, working, clock) is None
    assert code(engine.check_replace(working, 10, px("105.01"), clock())) == codes.PRICE_COLLAR
    assert code(engine.check_replace(working, 10, px("100.001"), clock())) == codes.TICK_SIZE
    assert code(engine.check_replace(working, 10, px("104.99"), clock())) is None


def test_check_replace_when_it_reduces_exposure_then_allowed_even_above_exposure_limits(
    tmp_path: Path,
) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=500)
    assert submit(engine, working, clock) is None
    engine.set_start_position("ACC1", "AAPL", 1600)  # worst-case long now 2100 > 2000
    assert code(submit(engine, order(qty=1, price="99.00"), clock)) == codes.MAX_LONG_POSITION
    assert code(engine.check_replace(working, 400, working.price, clock())) is None


def test_check_replace_when_qty_not_above_filled_then_invalid_order(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100)
    assert submit(engine, working, clock) is None
    fill(engine, working, 60)
    assert code(engine.check_replace(working, 60, working.price, clock())) == codes.INVALID_ORDER
    assert code(engine.check_replace(working, 61, working.price, clock())) is None


def test_check_replace_when_replace_in_flight_then_larger_exposure_counted_until_it_resolves(
    tmp_path: Path,
) -> None:
    from model.order import apply_replaced

    engine, clock = make_engine(tmp_path, {"defaults": BIG})
    working = order(qty=100)
    assert submit(engine, working, clock) is None
    assert engine.check_replace(working, 300, working.price, clock()) is None
    request_replace(working, 300, working.price)
    assert engine.position("ACC1", "AAPL").open_buy_qty == 300
    prev = (working.leaves_qty, working.price)
    assert apply_replaced(working, 300, working.price, "")
    engine.on_open_changed(working, *prev)
    assert engine.position("ACC1", "AAPL").open_buy_qty == 300
    assert engine.check_replace(working, 50, working.price, clock()) is None
    request_replace(working, 50, working.price)
    assert engine.position("ACC1", "AAPL").open_buy_qty == 300  # may still fill at 300 until confirmed
    prev = (working.leaves_qty, working.price)
    assert apply_replaced(working, 50, working.price, "")
    engine.on_open_changed(working, *prev)
    assert engine.position("ACC1", "AAPL").open_buy_qty == 50
    assert engine.exposure("ACC1").open_notional == 50 * working.price


def test_explain_when_order_passes_then_one_verdict_per_check_in_chain_order(tmp_path: Path) -> None:
    from risk.checks import NEW_ORDER_CHECKS

    engine, clock = make_engine(tmp_path)
    verdicts = engine.explain(order(qty=10), clock())
    assert [v.check for v in verdicts] == ["account", *NEW_ORDER_CHECKS, "reference"]
    assert all(v.passed and v.text for v in verdicts)
    assert engine.exposure("ACC1").open_orders == 0  # explaining counts nothing


def test_explain_when_order_breaks_several_limits_then_every_failure_listed(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    verdicts = engine.explain(order(Side.SELL, qty=1001, price="106.005"), clock())
    failed = [(v.check, v.code) for v in verdicts if not v.passed]
    assert failed == [
        ("tick_size", codes.TICK_SIZE),
        ("max_qty", codes.MAX_QTY),
        ("price_collar", codes.PRICE_COLLAR),
        ("max_notional", codes.MAX_NOTIONAL),
        ("short_sale", codes.SHORT_SALE_NOT_MARKED),
    ]
