"""Properties over random limits and order flow: nothing beyond an effective limit is ever let through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.enums import Side
from tests.risk.support import cancel, fill, make_engine, order, submit

ROOMY = {"max_notional": 10**9, "max_open_notional": 10**12, "credit_limit": 10**13, "max_open_orders": 10**6,
         "max_long_qty": 10**9, "max_short_qty": 10**9, "max_net_qty": 10**9,
         "orders_per_s": {"per_strategy": 10**6, "per_account": 10**6, "per_symbol": 10**6}}  # fmt: skip
ACCOUNTS = ["ACC1", "ACC2"]
STRATEGIES = ["S1", "S2"]
SYMBOLS = ["AAPL", "MSFT"]
_limit = st.one_of(st.none(), st.integers(1, 3000))


@st.composite
def _scoped_max_qty(draw: st.DrawFn) -> dict[str, Any]:
    """Random max_qty at every kind of scope (None = not set there)."""
    return {
        "default": draw(st.integers(1, 3000)),
        "accounts": {a: draw(_limit) for a in ACCOUNTS},
        "strategies": {s: draw(_limit) for s in STRATEGIES},
        "symbols": {y: draw(_limit) for y in SYMBOLS},
        "account_strategies": {(a, s): draw(_limit) for a in ACCOUNTS for s in STRATEGIES},
        "account_symbols": {(a, y): draw(_limit) for a in ACCOUNTS for y in SYMBOLS},
    }


def _file(scoped: dict[str, Any]) -> dict[str, Any]:
    def only(value: int | None) -> dict[str, int]:
        return {} if value is None else {"max_qty": value}

    accounts: dict[str, Any] = {}
    for a in ACCOUNTS:
        accounts[a] = {
            **only(scoped["accounts"][a]),
            "strategies": {s: only(scoped["account_strategies"][(a, s)]) for s in STRATEGIES},
            "symbols": {y: only(scoped["account_symbols"][(a, y)]) for y in SYMBOLS},
        }
    return {
        "defaults": {**ROOMY, "max_qty": scoped["default"]},
        "accounts": accounts,
        "strategies": {s: only(scoped["strategies"][s]) for s in STRATEGIES},
        "symbols": {y: only(scoped["symbols"][y]) for y in SYMBOLS},
    }


def _oracle(scoped: dict[str, Any], account: str, strategy: str, symbol: str) -> int:
    """The documented rule, written independently: strictest override that is set, else the default."""
    candidates = [
        scoped["accounts"][account],
        scoped["strategies"][strategy],
        scoped["symbols"][symbol],
        scoped["account_strategies"][(account, strategy)],
        scoped["account_symbols"][(account, symbol)],
    ]
    set_values = [c for c in candidates if c is not None]
    return min(set_values) if set_values else int(scoped["default"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scoped=_scoped_max_qty(),
    orders=st.lists(
        st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(STRATEGIES), st.sampled_from(SYMBOLS),
                  st.integers(1, 3500)),
        min_size=1, max_size=25,
    ),
)  # fmt: skip
def test_check_new_when_random_scoped_limits_then_accepted_exactly_when_qty_within_effective_max(
    tmp_path: Path, scoped: dict[str, Any], orders: list[tuple[str, str, str, int]]
) -> None:
    engine, clock = make_engine(tmp_path, _file(scoped))
    for account, strategy, symbol, qty in orders:
        allowed = submit(engine, order(qty=qty, account=account, strategy=strategy, symbol=symbol), clock) is None
        assert allowed == (qty <= _oracle(scoped, account, strategy, symbol))


_flow = st.lists(
    st.tuples(st.sampled_from(["buy", "sell", "short", "fill", "cancel"]), st.integers(1, 700), st.integers(0, 50)),
    max_size=50,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flow=_flow, start=st.integers(-500, 500))
def test_positions_when_random_flow_then_worst_case_never_beyond_long_short_and_no_order_grows_net(
    tmp_path: Path, flow: list[tuple[str, int, int]], start: int
) -> None:
    limits = {**ROOMY, "max_long_qty": 1500, "max_short_qty": 1000, "max_net_qty": 1200, "max_qty": 700}
    engine, clock = make_engine(tmp_path, {"defaults": limits})
    engine.set_start_position("ACC1", "AAPL", start)
    working = []
    for action, qty, pick in flow:
        if action in ("buy", "sell", "short"):
            side = {"buy": Side.BUY, "sell": Side.SELL, "short": Side.SELL_SHORT}[action]
            new = order(side, qty=qty, price="100.00")
            before = engine.position("ACC1", "AAPL")
            net_before = before.position + before.open_buy_qty - before.open_sell_qty
            if submit(engine, new, clock) is None:
                working.append(new)
                net_after = net_before + (qty if side == Side.BUY else -qty)
                assert abs(net_after) <= 1200 or abs(net_after) < abs(net_before)
        elif working:
            target = working[pick % len(working)]
            if target.is_open and action == "fill":
                fill(engine, target, min(qty, target.leaves_qty))
            elif target.is_open:
                cancel(engine, target)
        view = engine.position("ACC1", "AAPL")
        assert view.position + view.open_buy_qty <= max(1500, start)
        assert -(view.position - view.open_sell_qty) <= max(1000, -start)
        assert view.open_sell_qty >= 0 and view.open_buy_qty >= 0


_orders = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL, Side.SELL_SHORT, Side.SELL_SHORT_EXEMPT]),
        st.integers(-5, 1200),
        st.sampled_from(["99.00", "100.00", "100.005", "104.99", "106.00", "0"]),
        st.sampled_from(["AAPL", "MSFT", "TSLA", "XYZ"]),
        st.sampled_from(["ACC1", "ACC2", "NOPE"]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=_orders, start=st.integers(-300, 300))
def test_explain_when_random_orders_then_first_failed_check_is_the_hot_path_answer(
    tmp_path: Path, orders: list[tuple[Side, int, str, str, str]], start: int
) -> None:
    limits = {"max_open_orders": 6, "max_long_qty": 1500, "max_short_qty": 900, "max_net_qty": 1100,
              "duplicate_window_ms": 50, "orders_per_s": {"per_symbol": 8}}  # fmt: skip
    overrides = {"defaults": limits, "restricted": {"sell_only": ["TSLA"], "no_trade": ["XYZ"]},
                 "accounts": {"ACC2": {"trading_state": "REDUCING"}}}  # fmt: skip
    engine, clock = make_engine(tmp_path, overrides)
    engine.set_start_position("ACC1", "AAPL", start)
    engine.set_start_position("ACC2", "AAPL", start)
    for side, qty, price, symbol, account in orders:
        clock.advance(7_000_000)
        candidate = order(side, qty=qty, price=price, symbol=symbol, account=account)
        failed = [v for v in engine.explain(candidate, clock()) if not v.passed]
        denial = submit(engine, candidate, clock)
        assert (denial.code if denial else None) == (failed[0].code if failed else None)
        if denial is not None:
            assert denial.text == failed[0].text
