"""Every risk reason code end to end: the strategy gets OrderRejected(RISK, code); the venue sees nothing of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.client import GatewayClient
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.messages import CancelRejected, OrderAccepted, OrderRejected
from model.enums import OrderType, RejectSource, Side
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.risk import support
from tests.risk.triggers import RECIPES, Recipe

# The OUCH adapter's own structural check (run before risk) already refuses these: OUCH carries
# neither a zero price nor a market order in continuous trading. Nothing reaches the venue either way.
CAUGHT_BY_VENUE_CHECK = {"INVALID_ORDER", "MARKET_ORDER_NOT_ALLOWED"}

FRESH_REFS = "as_of: loaded\nprices:\n  AAPL: 100.00\n  MSFT: 100.00\n"


def _write(directory: Path, recipe: Recipe) -> Path:
    overrides = dict(recipe.overrides)
    if "reference_prices" not in overrides:
        overrides["reference_prices"] = {"file": "refs.yaml", "max_age_s": 60}
        (directory / "refs.yaml").write_text(FRESH_REFS)
    for name, content in recipe.files.items():
        (directory / name).write_text(content)
    overrides.setdefault("accounts", {})
    return support.write_limits(directory / "limits.yaml", overrides)


@pytest.mark.slow
@pytest.mark.parametrize("code", sorted(RECIPES))
async def test_risk_check_when_order_breaks_it_then_rejected_with_code_and_never_reaches_venue(code: str) -> None:
    recipe = RECIPES[code]
    workdir = short_tmp()
    limits = _write(workdir, recipe)
    strategies = {"S1": StrategyEntitlement(accounts=["ACC1", "ACC2", "NOPE"], uids=[os.getuid()])}
    exchange = ExchangeConfig()  # no reference prices: every order the venue gets simply rests
    async with running_gateway(workdir, limits, exchange=exchange, strategies=strategies) as (process, sim):
        config = process.config
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            spec = recipe.order
            ord_type = OrderType[spec["type"]] if "type" in spec else OrderType.LIMIT
            args = (
                spec.get("account", "ACC1"),
                "OUCH",
                spec.get("symbol", "AAPL"),
                Side(spec["side"]),
                spec["qty"],
                "0" if spec.get("type") == "MARKET" else spec["price"],
            )
            if recipe.cancel:
                order = await client.submit(*args, ord_type=ord_type)
                assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
                await client.cancel(order.cl_ord_id)
                await wait_for(lambda: order.last_cancel_reject is not None, what="cancel rejection")
                reject = order.last_cancel_reject
                assert isinstance(reject, CancelRejected)
                assert (reject.source, reject.code) == (RejectSource.RISK, code)
                assert not [r for r in sim.exchange.records if r.type == "X"], "the cancel never reached the venue"
                return
            handles = [await client.submit(*args, ord_type=ord_type) for _ in range(recipe.repeat)]
            final = await handles[-1].wait_done(timeout=15)
            assert isinstance(final, OrderRejected), final
            if code in CAUGHT_BY_VENUE_CHECK:
                assert final.source is RejectSource.GATEWAY and final.code.startswith("OUCH_"), final
            else:
                assert (final.source, final.code) == (RejectSource.RISK, code), final.text
        entered = [r for r in sim.exchange.records if r.type == "O"]
        assert len(entered) == recipe.repeat - 1, "only the allowed repeats reached the venue"
