"""Kill switch and run-time trading states: HALTED refuses new orders and replaces, cancels still pass."""

from __future__ import annotations

from pathlib import Path

from risk import codes
from risk.audit import read_audit_log
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
