"""The example deploy/risk/limits.yaml: valid, and usable by the demo (ACC1/ACC2, strategy demo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from model.clock import FakeClock
from model.enums import OrderType, Side
from model.order import Order
from risk import codes
from risk.engine import RiskEngine
from tests.risk.support import cancel, code, order, submit

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "risk" / "limits.yaml"
PRICES = {"AAPL": "230.10", "MSFT": "420.55", "SPY": "580.25", "QQQ": "500.40", "TSLA": "250.30"}


@pytest.fixture
def engine(tmp_path: Path) -> tuple[RiskEngine, FakeClock]:
    clock = FakeClock()
    return RiskEngine.load(EXAMPLE, clock, tmp_path / "audit.jsonl"), clock


def test_check_when_example_file_then_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["risk", "check", str(EXAMPLE), "--config", str(EXAMPLE.parents[1] / "gateway.yaml")]) == 0
    [warning] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert "start-positions.yaml:3:8: as_of: as_of 2025-06-13T20:00:00Z is older than the last close" in warning
    assert main(["risk", "check", str(EXAMPLE)]) == 0  # strategy names not checked without the gateway config
    assert capsys.readouterr().out.count("warning:") == 2  # and the example's positions are from 2025


def _demo(symbol: str, qty: int = 100, side: Side = Side.BUY, account: str = "ACC1", price: str | None = None) -> Order:
    return order(side, qty=qty, price=price or PRICES[symbol], account=account, symbol=symbol, strategy="demo")


def test_example_when_demo_sends_3000_orders_in_one_second_then_all_accepted(
    engine: tuple[RiskEngine, FakeClock],
) -> None:
    risk, clock = engine
    symbols = list(PRICES)
    for i in range(3000):
        clock.advance(333_000)
        sent = _demo(
            symbols[i % 5],
            qty=100 + i % 7,
            side=(Side.BUY, Side.SELL)[i % 2],
            account=("ACC1", "ACC2")[i % 2],
        )
        assert submit(risk, sent, clock) is None, i
        if i % 3:
            cancel(risk, sent)


def test_example_when_demo_breaks_max_qty_or_notional_then_refused(
    engine: tuple[RiskEngine, FakeClock],
) -> None:
    risk, clock = engine
    assert code(submit(risk, _demo("AAPL", qty=10_001), clock)) == codes.MAX_QTY
    assert code(submit(risk, _demo("MSFT", qty=3000), clock)) == codes.MAX_NOTIONAL  # 1.26 M USD
    assert code(submit(risk, _demo("SPY", qty=8000), clock)) is None  # SPY: 5 M USD notional allowed
    assert code(submit(risk, _demo("TSLA", qty=5001), clock)) == codes.MAX_QTY


def test_example_when_other_accounts_then_their_rules_apply(engine: tuple[RiskEngine, FakeClock]) -> None:
    risk, clock = engine
    assert code(submit(risk, _demo("AAPL", account="FUND7"), clock)) == codes.REDUCE_ONLY
    assert code(submit(risk, _demo("AAPL", side=Side.SELL, qty=4000, account="FUND7"), clock)) is None
    assert code(submit(risk, _demo("AAPL", side=Side.SELL_SHORT, account="ACC2"), clock)) == (
        codes.SHORT_SALE_NOT_ALLOWED
    )
    assert code(submit(risk, _demo("AAPL", account="ACC9"), clock)) == codes.UNKNOWN_ACCOUNT
    assert code(submit(risk, _demo("AAPL", price="250.00"), clock)) == codes.PRICE_COLLAR
    market = order(qty=10, account="PROP3", symbol="AAPL", strategy="momentum", ord_type=OrderType.MARKET)
    assert code(submit(risk, market, clock)) is None
    assert code(submit(risk, order(qty=10, account="ACC1", symbol="XYZ", strategy="demo"), clock)) == (
        codes.RESTRICTED_SYMBOL
    )
