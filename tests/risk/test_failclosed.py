"""Fail closed: anything unknown, missing or broken refuses the order; nothing is let through by omission."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest

from model.enums import OrderType
from risk import codes
from risk.checks import RiskRequest, Verdicts
from risk.engine import RiskEngine
from tests.risk.support import code, make_engine, order, submit


def _explode(request: RiskRequest, found: Verdicts | None = None) -> NoReturn:
    raise RuntimeError("bug in a check")


@pytest.mark.parametrize("path", ["chain", "fast"])
def test_check_new_when_a_check_raises_then_refused_with_internal_error_not_raised(tmp_path: Path, path: str) -> None:
    engine, clock = make_engine(tmp_path)
    if path == "chain":
        engine.passes_new = lambda request: False  # the chain decides
        engine.new_order_chain = (_explode,)
    else:
        engine.passes_new = _explode
    assert code(submit(engine, order(qty=10), clock)) == codes.INTERNAL_ERROR
    assert engine.internal_errors == 1
    assert engine.exposure("ACC1").open_orders == 0


def test_check_replace_when_a_check_raises_then_refused_with_internal_error(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    working = order(qty=10)
    assert submit(engine, working, clock) is None
    engine.replace_chain = (_explode,)
    assert code(engine.check_replace(working, 20, working.price, clock())) == codes.INTERNAL_ERROR


def test_check_new_when_strategy_and_symbol_never_configured_then_defaults_apply_not_unlimited(
    tmp_path: Path,
) -> None:
    engine, clock = make_engine(tmp_path)
    engine.set_reference_price("ZZZZ", 10_000 * 10, clock())
    assert code(submit(engine, order(qty=1001, symbol="ZZZZ", strategy="NEW", price="10.00"), clock)) == (codes.MAX_QTY)


def test_check_new_when_market_orders_never_mentioned_then_refused(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {"allow_market_orders": None}})
    assert code(submit(engine, order(qty=1, ord_type=OrderType.MARKET), clock)) == codes.MARKET_ORDER_NOT_ALLOWED


def test_check_new_when_account_removed_by_reload_then_new_orders_refused_but_cancels_pass(
    tmp_path: Path,
) -> None:
    from tests.risk.support import write_limits

    engine, clock = make_engine(tmp_path)
    working = order(qty=10, account="ACC2")
    assert submit(engine, working, clock) is None
    write_limits(tmp_path / "limits.yaml", {"accounts": {"ACC1": {}, "ACC2": None}})
    assert engine.reload("admin", "risk").ok
    assert code(submit(engine, order(qty=10, account="ACC2"), clock)) == codes.UNKNOWN_ACCOUNT
    assert code(engine.check_replace(working, 5, working.price, clock())) == codes.UNKNOWN_ACCOUNT
    assert engine.check_cancel(working, clock()) is None


def test_on_execution_when_order_is_garbage_then_counted_and_logged_not_raised(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    broken = order(qty=10)
    broken.symbol = ["AAPL"]  # type: ignore[assignment]  # garbage the checks inside trip over (compiled: a type check)
    engine.on_execution(broken, 10, 1_000_000)  # must not raise into the core
    assert engine.internal_errors == 1


def test_load_when_audit_log_cannot_be_opened_then_refuses_to_start(tmp_path: Path) -> None:
    from tests.risk.support import write_limits

    path = write_limits(tmp_path / "limits.yaml")
    (tmp_path / "audit_dir").mkdir()
    with pytest.raises(OSError):
        RiskEngine.load(path, audit_log_path=tmp_path / "audit_dir")


def test_risk_engine_when_used_as_the_core_sees_it_then_it_is_a_risk_gate(tmp_path: Path) -> None:
    from risk.api import RiskGate

    engine, clock = make_engine(tmp_path)
    gate: RiskGate = engine  # mypy --strict checks the whole contract here
    assert gate.check_and_commit_new(order(qty=10), clock()) is None
