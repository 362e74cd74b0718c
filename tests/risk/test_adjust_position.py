"""Position corrections in the risk engine (``plan_adjustment`` / ``apply_adjustment``): bust39.

A venue busts or corrects a trade after reporting it; the risk officer corrects the position with
``gateway risk adjust-position``. Before, nothing could change a position while the gateway ran: every test
here fails on the old code (no ``plan_adjustment``/``apply_adjustment``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from model.clock import FakeClock
from risk import adjust, codes
from risk.audit import read_audit_log
from risk.engine import RiskEngine
from risk.model import MAX_LIMIT_QTY
from tests.risk.support import code, fill, make_engine, order, px, submit

AT_MAX_LONG = {"accounts": {"ACC1": {"max_long_qty": 1000}}, "defaults": {"max_notional": 500000}}


def _at_max_long(tmp_path: Path) -> tuple[RiskEngine, FakeClock]:
    engine, clock = make_engine(tmp_path, AT_MAX_LONG)
    bought = order(qty=1000)
    assert submit(engine, bought, clock) is None
    fill(engine, bought, 1000)
    assert engine.position("ACC1", "AAPL").position == 1000
    assert code(submit(engine, order(qty=100), clock)) == codes.MAX_LONG_POSITION
    return engine, clock


def test_bust_when_applied_then_every_check_uses_the_corrected_position_and_the_audit_says_who_and_why(
    tmp_path: Path,
) -> None:
    engine, clock = _at_max_long(tmp_path)
    plan = engine.plan_adjustment("ACC1", "AAPL", -100, px("100.00"), -1, "bust of exec 123 at XNAS")
    assert plan.ok and (plan.position_before, plan.position_after) == (1000, 900)
    assert (plan.traded_before, plan.traded_after, plan.notional) == (px(100_000), px(90_000), -px(10_000))
    assert engine.position("ACC1", "AAPL").position == 1000  # planning changes nothing
    assert engine.apply_adjustment("ACC1", "AAPL", -100, px(100), plan.notional, "alice [pid 7 uid 0]", "bust") == (
        1000,
        900,
    )
    assert engine.position("ACC1", "AAPL").position == 900
    assert engine.exposure("ACC1").traded_notional == px(90_000)
    assert submit(engine, order(qty=100), clock) is None  # worst case 900 + 100 = max_long_qty
    assert code(submit(engine, order(qty=1), clock)) == codes.MAX_LONG_POSITION
    assert engine.position_adjustments == 1 and engine.status()["position_adjustments"] == 1
    record = read_audit_log(tmp_path / "audit.jsonl")[-1]
    assert record["event"] == "position_adjust" and record["trigger"] == "admin"
    assert record["who"] == "alice [pid 7 uid 0]" and record["reason"] == "bust"
    assert (record["account"], record["symbol"], record["qty"]) == ("ACC1", "AAPL", -100)
    assert (record["position_before"], record["position_after"]) == (1000, 900)
    assert (record["traded_notional_before"], record["traded_notional_after"]) == ("100000", "90000")
    assert record["time"]


def test_restored_correction_when_reapplied_then_audit_says_restored(tmp_path: Path) -> None:
    engine, _clock = make_engine(tmp_path)
    engine.set_start_position("ACC1", "AAPL", 10)
    engine.apply_adjustment("ACC1", "AAPL", 5, 0, 0, "bob [pid 1 uid 2]", "late fill", restored=True)
    assert engine.position("ACC1", "AAPL").position == 15
    record = read_audit_log(tmp_path / "audit.jsonl")[-1]
    assert (record["trigger"], record["who"], record["price"]) == (
        "restored",
        "bob [pid 1 uid 2] (restored from the journal)",
        None,
    )


def test_plan_when_the_correction_breaches_a_limit_then_it_says_which_and_still_may_apply(tmp_path: Path) -> None:
    engine, _clock = _at_max_long(tmp_path)
    plan = engine.plan_adjustment("ACC1", "AAPL", 100, 0, -1, "a sell busted")
    assert plan.ok and plan.position_after == 1100 and plan.notional == 0
    assert len(plan.breaches) == 1
    assert plan.breaches[0].startswith("max_long_qty 1000 (account ACC1, AAPL): worst-case long 1100")
    short = engine.plan_adjustment("ACC1", "AAPL", -3000, 0, -1, "buy busted twice")
    assert [line.split(" ", 1)[0] for line in short.breaches] == ["max_short_qty", "max_net_qty"]


def test_plan_when_refused_then_a_code_and_a_text_and_nothing_changes(tmp_path: Path) -> None:
    engine, _clock = _at_max_long(tmp_path)
    cases = {
        ("NOSUCH", "AAPL", -100, 0, "r"): adjust.UNKNOWN_ACCOUNT,
        ("ACC1", "ZZZZ", -100, 0, "r"): adjust.UNKNOWN_SYMBOL,
        ("ACC1", "AAPL", 0, 0, "r"): adjust.ZERO_QTY,
        ("ACC1", "AAPL", -100, 0, "  "): adjust.REASON_MISSING,
        ("ACC1", "AAPL", -100, -5, "r"): adjust.BAD_PRICE,
        ("ACC1", "AAPL", -(MAX_LIMIT_QTY + 1), 0, "r"): adjust.OUT_OF_RANGE,
        ("ACC1", "AAPL", MAX_LIMIT_QTY, 0, "r"): adjust.OUT_OF_RANGE,  # 1000 + 10^12: past what is counted
        ("ACC1", "AAPL", -2000, px(100), "r"): adjust.OUT_OF_RANGE,  # removes more than was traded today
    }
    for (account, symbol, qty, price, reason), expected in cases.items():
        plan = engine.plan_adjustment(account, symbol, qty, price, -1, reason)
        assert not plan.ok and plan.code == expected, (account, symbol, qty, plan)
        assert "nothing was changed" in plan.text and expected in adjust.REASONS
    assert engine.position("ACC1", "AAPL").position == 1000
    assert engine.exposure("ACC1").traded_notional == px(100_000)
    assert engine.position_adjustments == 0


def test_plan_when_the_symbol_is_only_named_by_the_limits_file_then_it_is_known(tmp_path: Path) -> None:
    engine, _clock = make_engine(tmp_path, {"symbols": {"MSFT": {"max_qty": 500}}})
    plan = engine.plan_adjustment("ACC1", "MSFT", 50, px("20.5"), 1, "a fill the gateway never saw")
    assert plan.ok and plan.position_after == 50 and plan.notional == px(1025)
    assert not engine.plan_adjustment("ACC1", "IBM", 50, 0, 1, "r").ok


def test_cli_when_the_price_is_malformed_then_exit_2_before_asking_the_gateway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["risk", "adjust-position", "--account", "ACC1", "--symbol", "AAPL", "--qty", "-100"]
    target = ["--reason", "bust", "--admin-socket", str(tmp_path / "none.sock")]
    assert main([*args, "--price", "1.00001", *target]) == 2
    assert "has more than 4 decimals" in capsys.readouterr().err  # rev47risk: was "must be a non-negative number"
    for price in ("0", "-1", "-0.00"):  # not a trade's price: refused as usage, not taken as "no price"
        assert main([*args, f"--price={price}", *target]) == 2
        assert "must be positive" in capsys.readouterr().err
    assert main([*args, "--price", "1.00", *target]) == 1  # no gateway there: refused, nothing changed


def test_refused_orders_when_in_new_symbols_then_no_position_is_made_and_the_typo_guard_still_refuses(
    tmp_path: Path,
) -> None:
    engine, clock = make_engine(tmp_path)  # AAPL and MSFT have a reference; QWERTZ has none
    for _ in range(3):
        assert code(submit(engine, order(symbol="QWERTZ"), clock)) == codes.REFERENCE_MISSING
    assert code(submit(engine, order(account="ACC2", qty=5000), clock)) == codes.MAX_QTY
    book = engine._book
    assert "ACC1" not in book.accounts and "ACC2" not in book.accounts  # a refused order leaves no row behind
    plan = engine.plan_adjustment("ACC1", "QWERTZ", 5, 0, -1, "typo")
    assert not plan.ok and plan.code == adjust.UNKNOWN_SYMBOL
    assert plan.text.endswith("(symbols with a position: none)")
    assert submit(engine, order(symbol="MSFT"), clock) is None  # an accepted order makes the rows it counts in
    assert code(submit(engine, order(symbol="QWERTZ"), clock)) == codes.REFERENCE_MISSING
    assert sorted(book.accounts["ACC1"].positions) == ["MSFT"]
    assert engine.position("ACC1", "MSFT").open_buy_qty == 100
    plan = engine.plan_adjustment("ACC1", "QWERTZ", 5, 0, -1, "typo")
    assert plan.code == adjust.UNKNOWN_SYMBOL and plan.text.endswith("(symbols with a position: MSFT)")
    assert (engine._flat.position, engine._flat.open_buy_qty, engine._flat.open_sell_qty) == (0, 0, 0)
    assert (engine._no_account.open_orders, engine._no_account.positions) == (0, {})
