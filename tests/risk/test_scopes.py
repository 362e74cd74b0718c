"""How scopes combine: strictest override wins, else defaults; trading_state strictest of all; instruments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk.limitsfile import read_limits
from risk.model import TradingState
from risk.resolve import RESTRICTION_NO_TRADE, RESTRICTION_NONE, EffectiveLimits, Resolver
from tests.risk.support import make_engine, write_limits


def _resolver(tmp_path: Path, overrides: dict[str, Any]) -> Resolver:
    return Resolver(read_limits(write_limits(tmp_path / "limits.yaml", overrides)).document)


def _get(resolver: Resolver, account: str = "ACC1", strategy: str = "S1", symbol: str = "AAPL") -> EffectiveLimits:
    limits = resolver.get(account, strategy, symbol)
    assert limits is not None
    return limits


def test_get_when_no_override_then_defaults_apply(tmp_path: Path) -> None:
    limits = _get(_resolver(tmp_path, {}))
    assert (limits.max_qty, limits.max_long_qty, limits.tick_size) == (1000, 2000, 100)
    assert limits.orders_per_symbol == 100 and limits.trading_state == TradingState.ACTIVE


def test_get_when_account_override_looser_than_defaults_then_it_replaces_the_default(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path, {"accounts": {"ACC1": {"max_qty": 5000}}})
    assert _get(resolver).max_qty == 5000
    assert _get(resolver, account="ACC2").max_qty == 1000


def test_get_when_several_overrides_apply_then_the_strictest_wins(tmp_path: Path) -> None:
    resolver = _resolver(
        tmp_path,
        {
            "accounts": {"ACC1": {"max_qty": 5000, "symbols": {"AAPL": {"max_qty": 4000}}}},
            "symbols": {"AAPL": {"max_qty": 3000}},
            "strategies": {"S1": {"max_qty": 2500}},
        },
    )
    assert _get(resolver).max_qty == 2500
    assert _get(resolver, strategy="S2").max_qty == 3000
    assert _get(resolver, strategy="S2", symbol="MSFT").max_qty == 5000
    assert _get(resolver, account="ACC2", strategy="S2", symbol="MSFT").max_qty == 1000
    assert _get(resolver, account="ACC2", strategy="S2").max_qty == 3000


def test_get_when_account_strategy_override_then_applies_only_to_that_pair(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path, {"accounts": {"ACC1": {"strategies": {"S1": {"max_open_orders": 1}}}}})
    assert _get(resolver).max_open_orders == 1
    assert _get(resolver, strategy="S2").max_open_orders == 3
    assert _get(resolver, account="ACC2").max_open_orders == 3


def test_get_when_nested_rate_overridden_then_only_that_rate_changes(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path, {"strategies": {"S1": {"orders_per_s": {"per_strategy": 7}}}})
    limits = _get(resolver)
    assert (limits.orders_per_strategy, limits.orders_per_account, limits.orders_per_symbol) == (7, 100, 100)


def test_get_when_trading_state_set_anywhere_then_strictest_including_defaults(tmp_path: Path) -> None:
    resolver = _resolver(
        tmp_path,
        {
            "defaults": {"trading_state": "REDUCING"},
            "accounts": {"ACC1": {"trading_state": "ACTIVE"}},
            "symbols": {"MSFT": {"trading_state": "HALTED"}},
        },
    )
    assert _get(resolver).trading_state == TradingState.REDUCING  # an account cannot lift the firm state
    assert _get(resolver, symbol="MSFT").trading_state == TradingState.HALTED


def test_get_when_duplicate_windows_differ_then_the_longest_wins(tmp_path: Path) -> None:
    resolver = _resolver(
        tmp_path,
        {"defaults": {"duplicate_window_ms": 500}, "accounts": {"ACC1": {"duplicate_window_ms": 100}},
         "strategies": {"S1": {"duplicate_window_ms": 0}}},
    )  # fmt: skip
    assert _get(resolver).duplicate_window_ns == 100_000_000
    assert _get(resolver, account="ACC2").duplicate_window_ns == 0
    assert _get(resolver, account="ACC2", strategy="S2").duplicate_window_ns == 500_000_000


def test_get_when_allow_flags_differ_then_false_wins_among_overrides(tmp_path: Path) -> None:
    resolver = _resolver(
        tmp_path,
        {"accounts": {"ACC1": {"allow_market_orders": True}},
         "symbols": {"AAPL": {"allow_market_orders": False}}},
    )  # fmt: skip
    assert _get(resolver).allow_market_orders is False
    assert _get(resolver, symbol="MSFT").allow_market_orders is True
    assert _get(resolver, account="ACC2", symbol="MSFT").allow_market_orders is False  # unset anywhere: refused


def test_get_when_symbol_sets_tick_and_lot_then_they_replace_defaults_for_that_symbol(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path, {"symbols": {"BRK.A": {"tick_size": 1, "lot_size": 1}, "AAPL": {"lot_size": 100}}})
    assert (_get(resolver, symbol="BRK.A").tick_size, _get(resolver, symbol="AAPL").lot_size) == (10_000, 100)
    assert _get(resolver, symbol="AAPL").tick_size == 100


def test_get_when_symbol_restricted_or_allowed_missing_then_folded_into_limits(tmp_path: Path) -> None:
    resolver = _resolver(
        tmp_path, {"restricted": {"no_trade": ["AAPL"]}, "reference_prices": {"allow_missing": ["MSFT"]}}
    )
    assert _get(resolver).restriction == RESTRICTION_NO_TRADE
    msft = _get(resolver, symbol="MSFT")
    assert (msft.restriction, msft.allow_missing_reference) == (RESTRICTION_NONE, True)


def test_get_when_account_not_listed_then_none(tmp_path: Path) -> None:
    assert _resolver(tmp_path, {}).get("NOPE", "S1", "AAPL") is None


def test_get_when_called_twice_then_the_cached_object_is_returned(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path, {})
    assert resolver.get("ACC1", "S1", "AAPL") is resolver.get("ACC1", "S1", "AAPL")


def test_effective_limits_when_explained_then_winning_scope_and_considered_values_shown(
    tmp_path: Path,
) -> None:
    engine, _ = make_engine(tmp_path, {"accounts": {"ACC1": {"max_qty": 5000}}, "symbols": {"AAPL": {"max_qty": 3000}}})
    sources = {s.field: s for s in engine.effective_limits("ACC1", "S1", "AAPL")}
    assert (sources["max_qty"].value, sources["max_qty"].scope) == ("3000", "symbols.AAPL")
    assert sources["max_qty"].considered == [("accounts.ACC1", "5000"), ("symbols.AAPL", "3000")]
    assert (sources["max_notional"].value, sources["max_notional"].scope) == ("50000", "defaults")
    assert sources["collar_pct"].value == "5%"


_maybe = st.one_of(st.none(), st.integers(1, 50))
_state = st.one_of(st.none(), st.sampled_from(["ACTIVE", "REDUCING", "HALTED"]))
_flag = st.one_of(st.none(), st.booleans())


@st.composite
def _scope(draw: st.DrawFn, instrument: bool = False) -> dict[str, Any]:
    values: dict[str, Any] = {
        "max_qty": draw(_maybe),
        "collar_ticks": draw(_maybe),
        "duplicate_window_ms": draw(st.one_of(st.none(), st.integers(0, 50))),
        "trading_state": draw(_state),
        "allow_market_orders": draw(_flag),
        "orders_per_s": {"per_symbol": draw(_maybe)},
    }
    if instrument:
        values["tick_size"] = draw(st.one_of(st.none(), st.sampled_from([0.01, 0.05, 1])))
    out = {k: v for k, v in values.items() if v is not None}
    if out.get("orders_per_s") == {"per_symbol": None} or (
        "orders_per_s" in out and out["orders_per_s"]["per_symbol"] is None
    ):
        del out["orders_per_s"]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scopes=st.fixed_dictionaries(
        {
            "account": _scope(),
            "account_strategy": _scope(),
            "account_symbol": _scope(),
            "strategy": _scope(),
            "symbol": _scope(instrument=True),
            "defaults": _scope(instrument=True),
        }
    )
)
def test_compile_when_random_scopes_then_same_limits_as_the_explained_resolution(
    tmp_path: Path, scopes: dict[str, dict[str, Any]]
) -> None:
    account = {**scopes["account"], "strategies": {"S1": scopes["account_strategy"]}}
    account["symbols"] = {"AAPL": scopes["account_symbol"]}
    overrides = {
        "defaults": scopes["defaults"],
        "accounts": {"ACC1": account},
        "strategies": {"S1": scopes["strategy"]},
        "symbols": {"AAPL": scopes["symbol"]},
    }
    resolver = _resolver(tmp_path, overrides)
    keys = [("ACC1", "S1", "AAPL"), ("ACC1", "S2", "AAPL"), ("ACC1", "S1", "MSFT"), ("ACC2", "S1", "AAPL")]
    for key in [*keys, ("ACC2", "S9", "ZZZ")]:
        assert resolver.compile(*key) == resolver.resolve(*key)[0], key
