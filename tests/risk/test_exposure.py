"""Positions and open exposure follow what the venues report: fills, cancels, replaces, rejects."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.enums import Side
from model.order import (
    Order,
    OrderState,
    apply_cancel_rejected,
    apply_canceled,
    apply_fill,
    apply_reject,
    apply_replaced,
    mark_sent,
    refuse,
    request_cancel,
    request_replace,
)
from risk.engine import ExposureView, PositionView
from tests.risk.support import cancel, fill, make_engine, order, px, submit

BIG = {"max_open_orders": 1000, "max_open_notional": 10**9, "credit_limit": 10**10, "max_long_qty": 10**6,
       "max_short_qty": 10**6, "max_net_qty": 10**6, "max_notional": 10**8, "max_qty": 10**5}  # fmt: skip


def test_on_order_opened_when_buy_sent_then_counted_open_once(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100)
    assert submit(engine, working, clock) is None
    engine.on_order_opened(working)  # a repeated report changes nothing
    assert engine.position("ACC1", "AAPL") == PositionView(0, 100, 0)
    assert engine.exposure("ACC1") == ExposureView(1, px(10_000), 0)


def test_on_execution_when_partial_then_full_fill_then_position_and_traded_follow(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100)
    assert submit(engine, working, clock) is None
    fill(engine, working, 30, "99.50")
    assert engine.position("ACC1", "AAPL") == PositionView(30, 70, 0)
    assert engine.exposure("ACC1") == ExposureView(1, px(7_000), px("2985"))
    fill(engine, working, 70, "100.00")
    assert working.state == OrderState.FILLED
    assert engine.position("ACC1", "AAPL") == PositionView(100, 0, 0)
    assert engine.exposure("ACC1") == ExposureView(0, 0, px("9985"))


def test_on_execution_when_sell_fills_then_position_decreases_and_sell_side_open_shrinks(
    tmp_path: Path,
) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(Side.SELL_SHORT, qty=50)
    assert submit(engine, working, clock) is None
    assert engine.position("ACC1", "AAPL") == PositionView(0, 0, 50)
    fill(engine, working, 20)
    assert engine.position("ACC1", "AAPL") == PositionView(-20, 0, 30)


def test_on_open_changed_when_canceled_then_exposure_released(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100)
    assert submit(engine, working, clock) is None
    request_cancel(working)
    engine.on_open_changed(working, working.leaves_qty, working.price)  # still counted while pending
    assert engine.exposure("ACC1").open_orders == 1
    cancel(engine, working)
    engine.on_open_changed(working, 0, working.price)  # a repeated report changes nothing
    assert engine.position("ACC1", "AAPL") == PositionView(0, 0, 0)
    assert engine.exposure("ACC1") == ExposureView(0, 0, 0)


def test_on_open_changed_when_partially_canceled_then_only_that_part_released(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100)
    assert submit(engine, working, clock) is None
    apply_canceled(working, 40)
    engine.on_open_changed(working, 100, working.price)
    assert engine.position("ACC1", "AAPL").open_buy_qty == 60


def test_on_open_changed_when_venue_rejects_then_exposure_released(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100)
    assert engine.check_and_commit_new(working, clock()) is None
    engine.on_order_opened(working)
    mark_sent(working, "1")
    assert apply_reject(working)
    engine.on_open_changed(working, 100, working.price)
    assert engine.exposure("ACC1") == ExposureView(0, 0, 0)


def test_on_open_changed_when_risk_approved_order_never_sent_then_reservation_released(
    tmp_path: Path,
) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100)
    assert engine.check_and_commit_new(working, clock()) is None
    assert engine.exposure("ACC1").open_orders == 1  # reserved at approval, before it is sent
    refuse(working)  # e.g. the venue is down: the core refuses it
    engine.on_open_changed(working, 100, working.price)
    assert engine.exposure("ACC1") == ExposureView(0, 0, 0)


def test_on_open_changed_when_replace_refused_by_venue_then_reservation_released(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": BIG})
    working = order(qty=100)
    assert submit(engine, working, clock) is None
    assert engine.check_replace(working, 500, px("100.00"), clock()) is None
    request_replace(working, 500, px("100.00"))
    assert engine.position("ACC1", "AAPL").open_buy_qty == 500
    assert apply_cancel_rejected(working)
    engine.on_open_changed(working, working.leaves_qty, working.price)
    assert engine.position("ACC1", "AAPL").open_buy_qty == 100


def test_on_open_changed_when_replaced_to_new_price_then_notional_follows(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100, price="100.00")
    assert submit(engine, working, clock) is None
    assert engine.check_replace(working, 100, px("101.00"), clock()) is None
    request_replace(working, 100, px("101.00"))
    assert engine.exposure("ACC1").open_notional == px(10_100)
    assert apply_replaced(working, 100, px("101.00"), "")
    engine.on_open_changed(working, 100, px("100.00"))
    assert engine.exposure("ACC1").open_notional == px(10_100)


def test_on_order_opened_when_order_was_never_checked_then_still_counted(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    restored = order(qty=70)  # e.g. restored from the journal after a restart
    engine.on_order_opened(restored)
    assert engine.position("ACC1", "AAPL") == PositionView(0, 70, 0)


def test_on_order_opened_when_just_checked_then_counted_once_without_reading_the_record(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100)
    assert engine.check_and_commit_new(working, clock()) is None
    assert engine._book.opened_id == working.order_id  # open_new counted it last, nothing recounted since
    engine.on_order_opened(working)
    assert engine._book.opened_id == -1  # used once
    assert engine.position("ACC1", "AAPL") == PositionView(0, 100, 0)
    assert engine.exposure("ACC1") == ExposureView(1, px(10_000), 0)


def test_on_order_opened_when_changed_after_its_check_then_recounted_from_its_fields(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=100)
    assert engine.check_and_commit_new(working, clock()) is None
    working.leaves_qty = 40  # no longer what the check counted (no recount in between)
    engine.on_order_opened(working)
    assert engine.position("ACC1", "AAPL") == PositionView(0, 40, 0)
    assert engine.exposure("ACC1") == ExposureView(1, px(4_000), 0)


def test_on_order_opened_when_recounted_after_its_check_then_the_record_decides(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    first, second = order(qty=100), order(qty=10)
    assert engine.check_and_commit_new(first, clock()) is None
    engine.on_open_changed(first, 100, first.price)  # any recount ends the shortcut
    assert engine._book.opened_id == -1
    assert engine.check_and_commit_new(second, clock()) is None
    engine.on_order_opened(first)
    engine.on_order_opened(second)
    assert engine.position("ACC1", "AAPL") == PositionView(0, 110, 0)
    assert engine.exposure("ACC1") == ExposureView(2, px(11_000), 0)


def test_on_execution_when_order_unknown_to_risk_then_position_still_updated(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    stray = order(qty=10)
    mark_sent(stray, "1")
    assert apply_fill(stray, 10, px(100))
    engine.on_execution(stray, 10, px(100))
    assert engine.position("ACC1", "AAPL") == PositionView(10, 0, 0)
    assert engine.exposure("ACC1") == ExposureView(0, 0, px(1000))


def test_start_new_day_when_called_then_traded_notional_reset_positions_kept(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=10)
    assert submit(engine, working, clock) is None
    fill(engine, working, 10)
    engine.start_new_day(who="ops")
    assert engine.exposure("ACC1").traded_notional == 0
    assert engine.position("ACC1", "AAPL").position == 10


_events = st.lists(
    st.tuples(
        st.sampled_from(["new", "fill", "cancel", "partial_cancel", "replace", "replace_done", "replace_rej"]),
        st.integers(0, 5),
        st.integers(1, 300),
        st.sampled_from([Side.BUY, Side.SELL_SHORT]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=_events)
def test_exposure_when_random_order_lives_then_totals_equal_a_recount_of_the_orders(
    tmp_path: Path, events: list[tuple[str, int, int, Side]]
) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": BIG})
    orders: list[Order] = []
    for kind, index, qty, side in events:
        target = orders[index % len(orders)] if orders else None
        if kind == "new" or target is None:
            new = order(side, qty=qty, price=f"{100 + (qty % 5) / 100:.2f}")
            if submit(engine, new, clock) is None:
                orders.append(new)
            continue
        prev = (target.leaves_qty, target.price)
        if kind == "fill" and target.is_open:
            fill(engine, target, min(qty, target.leaves_qty))
        elif kind in ("cancel", "partial_cancel") and apply_canceled(target, 0 if kind == "cancel" else qty):
            engine.on_open_changed(target, *prev)
        elif kind == "replace" and target.state == OrderState.LIVE:
            new_qty = target.cum_qty + qty
            if engine.check_replace(target, new_qty, target.price, clock()) is None:
                request_replace(target, new_qty, target.price)
        elif kind == "replace_done" and target.state is OrderState.PENDING_REPLACE:
            apply_replaced(target, target.pending_qty - target.cum_qty, target.price, "")
            engine.on_open_changed(target, *prev)
        elif kind == "replace_rej" and apply_cancel_rejected(target):
            engine.on_open_changed(target, *prev)
    open_buy = open_sell = notional = count = position = traded = 0
    for o in orders:
        signed = o.cum_qty if o.side == Side.BUY else -o.cum_qty
        position += signed
        traded += o.notional_traded
        if o.is_open:
            leaves = o.leaves_qty
            if o.pending_qty > 0:
                leaves = max(leaves, o.pending_qty - o.cum_qty)
            count += 1
            notional += leaves * o.price
            if o.side == Side.BUY:
                open_buy += leaves
            else:
                open_sell += leaves
    assert engine.position("ACC1", "AAPL") == PositionView(position, open_buy, open_sell)
    assert engine.exposure("ACC1") == ExposureView(count, notional, traded)


def test_book_rows_when_orders_counted_then_one_untracked_record_per_order_and_rows_per_key() -> None:
    import gc

    from risk.exposure import AccountState, ExposureBook, OrderRecord, PositionState

    book = ExposureBook()
    account = book.account("ACC1")
    position = book.position(account, "AAPL")
    assert book.account("ACC1") is account and book.position(account, "AAPL") is position  # one row per key
    for _ in range(2):
        working = order(qty=100, price=10)
        book.open_new(working, working.order_id, 100, True, px(10), account, position, 0)
    record = book.orders[working.order_id]
    assert type(record) is OrderRecord and not gc.is_tracked(record)  # per order: never seen by the collector
    assert (position.open_buy_qty, position.open_sell_qty, position.position) == (200, 0, 0)
    assert (account.open_orders, account.open_notional) == (2, 2 * 100 * px(10))
    assert repr(PositionState(5, 1, 2)) == "PositionState(position=5, open_buy_qty=1, open_sell_qty=2)"
    assert repr(AccountState()) == (
        "AccountState(open_orders=0, open_notional=0, traded_notional=0, runtime_state=0, positions={})"
    )
