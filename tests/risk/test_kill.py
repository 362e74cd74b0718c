"""Kill switch and run-time trading states: HALTED refuses new orders and replaces, cancels still pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from model.clock import FakeClock
from model.denials import Denial
from model.order import Order
from risk import codes
from risk.audit import read_audit_log
from risk.engine import RiskEngine
from risk.model import TradingState
from tests.risk.support import code, make_engine, order, submit, write_limits


def test_halt_when_firm_wide_then_every_new_order_refused_and_cancels_allowed(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=10)
    assert submit(engine, working, clock) is None
    assert engine.halt(who="alice", reason="runaway algo") == TradingState.HALTED
    assert code(submit(engine, order(qty=10, price="100.01"), clock)) == codes.TRADING_HALTED
    assert code(submit(engine, order(qty=10, account="ACC2", symbol="MSFT"), clock)) == codes.TRADING_HALTED
    assert code(engine.check_replace(working, 5, working.price, clock())) == codes.TRADING_HALTED
    assert engine.check_cancel(working, clock()) is None
    record = read_audit_log(tmp_path / "audit.jsonl")[-1]
    assert record["event"] == "trading_state"
    assert (record["trigger"], record["who"], record["scope"], record["new"]) == (
        "kill",
        "alice",
        "firm",
        "HALTED",
    )
    assert record["reason"] == "runaway algo"
    assert engine.status()["trading_state"]["firm"] == "HALTED"


def test_halt_when_one_account_then_only_that_account_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.halt("ACC1", who="bob")
    assert code(submit(engine, order(qty=10), clock)) == codes.TRADING_HALTED
    assert code(submit(engine, order(qty=10, account="ACC2"), clock)) is None
    assert engine.status()["accounts"]["ACC1"]["trading_state"] == "HALTED"
    assert engine.status()["accounts"]["ACC2"]["trading_state"] == "ACTIVE"


def test_set_trading_state_when_active_again_then_kill_lifted(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.halt(who="alice")
    assert engine.set_trading_state(TradingState.ACTIVE, who="alice", reason="resolved") == TradingState.ACTIVE
    assert code(submit(engine, order(qty=10), clock)) is None


def test_set_trading_state_when_file_says_halted_then_runtime_active_cannot_lift_it(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"accounts": {"ACC1": {"trading_state": "HALTED"}}})
    assert engine.set_trading_state(TradingState.ACTIVE, "ACC1", who="eve") == TradingState.HALTED
    assert code(submit(engine, order(qty=10), clock)) == codes.TRADING_HALTED


def test_set_trading_state_when_reducing_then_only_reducing_orders_pass(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.set_start_position("ACC1", "AAPL", 100)
    engine.set_trading_state(TradingState.REDUCING, "ACC1", who="risk desk")
    assert code(submit(engine, order(qty=10), clock)) == codes.REDUCE_ONLY
    from model.enums import Side

    assert code(submit(engine, order(Side.SELL, qty=100), clock)) is None


def test_halt_when_limits_reloaded_afterwards_then_still_halted(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.halt(who="alice")
    write_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": 900}})
    assert engine.reload("sighup", "ops").ok
    assert code(submit(engine, order(qty=10), clock)) == codes.TRADING_HALTED


def test_halt_when_audit_log_broken_then_still_takes_effect(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.close()
    engine.halt(who="alice")
    assert code(submit(engine, order(qty=10), clock)) == codes.TRADING_HALTED


def _text(engine: RiskEngine, clock: FakeClock, new: Order) -> str:
    denial = engine.check_and_commit_new(new, clock())
    assert denial is not None
    return denial.text


def test_halted_text_when_kill_switch_then_names_the_scope_who_and_why(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.halt("ACC1", who="alice (cli pid 7) [pid 7 uid 1002]", reason="runaway strategy")
    denial = engine.check_and_commit_new(order(qty=10), clock())
    assert denial == Denial(
        codes.TRADING_HALTED,
        "trading is HALTED for account ACC1 (kill switch by alice (cli pid 7) [pid 7 uid 1002]: runaway strategy);"
        " only cancels pass",
    )
    engine.halt(who="bob")
    assert _text(engine, clock, order(qty=10, account="ACC2")).startswith(
        "trading is HALTED for the whole firm (kill switch by bob); only"
    )


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"defaults": {"trading_state": "HALTED"}}, "the whole firm (limits file: defaults.trading_state)"),
        (
            {"accounts": {"ACC1": {"trading_state": "HALTED"}}},
            "account ACC1 (limits file: accounts.ACC1.trading_state)",
        ),
        ({"strategies": {"S1": {"trading_state": "HALTED"}}}, "strategy S1 (limits file: strategies.S1.trading_state)"),
        ({"symbols": {"AAPL": {"trading_state": "HALTED"}}}, "symbol AAPL (limits file: symbols.AAPL.trading_state)"),
        (
            {"accounts": {"ACC1": {"strategies": {"S1": {"trading_state": "HALTED"}}}}},
            "strategy S1 in account ACC1 (limits file: accounts.ACC1.strategies.S1.trading_state)",
        ),
        (
            {"accounts": {"ACC1": {"symbols": {"AAPL": {"trading_state": "HALTED"}}}}},
            "symbol AAPL in account ACC1 (limits file: accounts.ACC1.symbols.AAPL.trading_state)",
        ),
    ],
)
def test_halted_text_when_file_halts_a_scope_then_names_that_scope_and_where_in_the_file(
    tmp_path: Path, overrides: dict[str, Any], named: str
) -> None:
    engine, clock = make_engine(tmp_path, overrides)
    denial = engine.check_and_commit_new(order(qty=10), clock())  # account ACC1, strategy S1, symbol AAPL
    assert denial == Denial(codes.TRADING_HALTED, f"trading is HALTED for {named}; only cancels pass")


def test_halted_text_when_several_scopes_halt_then_names_each(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"symbols": {"AAPL": {"trading_state": "HALTED"}}})
    engine.halt("ACC1", who="carol", reason="reconciliation")
    assert _text(engine, clock, order(qty=10)) == (
        "trading is HALTED for account ACC1 (kill switch by carol: reconciliation);"
        " symbol AAPL (limits file: symbols.AAPL.trading_state); only cancels pass"
    )


def test_reduce_only_text_when_symbol_reducing_then_names_the_symbol_not_the_account(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"symbols": {"AAPL": {"trading_state": "REDUCING"}}})
    denial = engine.check_and_commit_new(order(qty=10), clock())
    assert denial is not None and denial.code == codes.REDUCE_ONLY
    assert denial.text == (
        "trading is REDUCING for symbol AAPL (limits file: symbols.AAPL.trading_state): buying 10 AAPL could leave"
        " account ACC1 long 10 (position 0, open buys 0)"
    )
    engine.set_trading_state(TradingState.REDUCING, "ACC2", who="risk desk", reason="margin call")
    assert _text(engine, clock, order(qty=10, account="ACC2", symbol="MSFT")).startswith(
        "trading is REDUCING for account ACC2 (set at run time by risk desk: margin call): buying 10 MSFT"
    )


def test_halted_text_when_kill_lifted_then_the_file_scope_is_all_that_is_named(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"accounts": {"ACC1": {"trading_state": "HALTED"}}})
    engine.halt("ACC1", who="alice")
    engine.set_trading_state(TradingState.ACTIVE, "ACC1", who="alice")
    assert "kill switch" not in _text(engine, clock, order(qty=10))


def test_known_accounts_when_account_left_the_file_but_is_halted_then_still_known_so_it_can_be_resumed(
    tmp_path: Path,
) -> None:
    engine, _ = make_engine(tmp_path, {"accounts": {"ACC3": {}}})
    assert engine.known_accounts() == {"ACC1", "ACC2", "ACC3"}
    engine.halt("ACC3", who="alice")
    write_limits(tmp_path / "limits.yaml")  # ACC3 removed
    assert engine.reload("gateway risk reload", "bob").ok
    assert engine.known_accounts() == {"ACC1", "ACC2", "ACC3"}
    assert engine.is_known_account("ACC3") and engine.is_known_account("ACC1")  # the per-command check agrees
    engine.set_trading_state(TradingState.ACTIVE, "ACC3", who="alice")
    assert engine.known_accounts() == {"ACC1", "ACC2"}
    assert not engine.is_known_account("ACC3") and not engine.is_known_account("NOSUCH")
