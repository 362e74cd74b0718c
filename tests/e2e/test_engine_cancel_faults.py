"""A fault of the gateway's own in one cancel the gateway itself starts never stops the others.

The kill switch, a strategy's disconnect policy and the stop's cancels each cancel many orders in one loop. A fault
of the gateway's own on one order (here an injected journal fault on its ``JSentCancel``: journal before wire takes
that Cancel back) is that order's alone: it is counted, logged at CRITICAL naming the order still live at the venue,
its account halted, and every other order's Cancel still goes out. Real gateway, real OUCH simulator on loopback.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

import pytest

from gateway.entitlements import StrategyEntitlement
from gateway.journal import JSentCancel
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.e2e.test_engine_internal_errors import REFS, _critical, _FaultyJournal, _halted, _login, _order, _venue_saw
from tests.e2e.test_journal_before_wire import _record_of
from tests.rawclient import ORDER_ACCEPTED, order_events

pytestmark = pytest.mark.timeout(120)

_ORDER_CANCELED = "X"


def _strategies(on_disconnect: Literal["cancel", "keep"]) -> dict[str, StrategyEntitlement]:
    return {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()], on_disconnect=on_disconnect),
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[os.getuid()]),
    }


@pytest.mark.parametrize("how", ["kill", "disconnect"])
async def test_a_fault_in_one_of_the_gateways_own_cancels_leaves_the_others_sent(
    caplog: pytest.LogCaptureFixture, how: str
) -> None:
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    policy: Literal["cancel", "keep"] = "cancel" if how == "disconnect" else "keep"
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies(policy)) as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        for n, cl_ord_id in enumerate(("R1", "R2", "R3"), start=1):
            await one.send(_order(cl_ord_id, n))
            (accepted,) = order_events(await one.read(1))
            assert accepted[:3] == [ORDER_ACCEPTED, n, cl_ord_id]
        first = engine.strategies["S1"].orders["R1"]
        faulty = _FaultyJournal(engine.journal, _record_of(JSentCancel, first.order_id))
        engine.journal = faulty
        try:
            if how == "kill":
                result = process.kill("ACC1", "ops", "test")  # before: raised the injected fault, R2 and R3 kept
                assert result.orders_canceled == 3
            else:
                one.close()  # the disconnect policy cancels R1, R2, R3
            await wait_for(lambda: len([s for s in _venue_saw(sim) if s[0] == "X"]) >= 2, what="two Cancels")
        finally:
            engine.journal = faulty._real
        assert faulty.faults == 1
        assert [s for s in _venue_saw(sim) if s[0] == "X"] == [("X", "canceled"), ("X", "canceled")]
        assert {o.cl_ord_id: o.state.name for o in engine.strategies["S1"].orders.values()}["R1"] == "LIVE"
        assert engine.counters.internal_errors == 1 and _halted(process, "ACC1")
        (critical,) = _critical(caplog)
        text = critical.getMessage()
        assert "R1" in text and "the order is still live at venue OUCH" in text, text
        if how == "kill":
            one.close()
