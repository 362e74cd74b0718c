"""Over loopback TCP against the project's BOE simulator: a standby host takes over the session mid-day (boestandby56).

The primary gateway traded (order 1 filled, order 2 working) and is gone; the standby starts with its own empty
journal and ``state_dir`` (ops guide section 6, "A standby host taking over mid-day"), reads the primary's orders in
Cboe's replay and goes UP. Before, its first New Order went out under the primary's first ClOrdID again (rev56boe
s07: the simulator lists ``New Order ... again``; Cboe refuses it ``D`` while the primary's works, or takes it, and
the primary's later messages then reach the standby's order). Now its order ids start above the replay's ClOrdIDs
before the venue is UP, the floor is on file for a restart, and a bust of the primary's fill names no order of the
standby. Unit rules: tests/boe/test_standby_takeover.py.
"""

from __future__ import annotations

import json
import logging

import pytest

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.protocol.messages import OrderAccepted
from model.enums import Side
from tests.e2e.support import short_tmp, wait_for
from tests.e2e.test_boe_modify_up_and_late_fill import _simulator
from tests.e2e.test_trading_day import EAST, _config, _new_order_ids, _sock, _started


async def test_standby_when_the_primary_traded_today_then_none_of_its_clordids_is_entered_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = await _simulator()
    primary_dir, standby_dir = short_tmp(), short_tmp()
    processes: list[GatewayProcess] = []
    try:
        primary = await _started(_config(primary_dir, sim.port, EAST))
        processes.append(primary)
        async with GatewayClient(_sock(primary), "S1") as client:
            filled = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await filled.wait_accepted(timeout=15), OrderAccepted)
            working = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "228.00")
            assert isinstance(await working.wait_accepted(timeout=15), OrderAccepted)
            first, _second = _new_order_ids(sim)
            assert sim.execute(first, 100)
            await wait_for(lambda: filled.status == "FILLED", 15, "the primary's fill")
        await primary.stop()  # the primary host is gone; the standby has neither its journal nor its state_dir
        processes.remove(primary)
        caplog.set_level(logging.WARNING)
        standby = await _started(_config(standby_dir, sim.port, EAST))
        processes.append(standby)
        assert standby.engine is not None and standby.engine.next_order_id == 3  # the old code: 1
        async with GatewayClient(_sock(standby), "S1") as client:
            mine = await client.submit("ACC2", "CBOE", "AAPL", Side.SELL, 100, "231.00")
            answer = await mine.wait_accepted(timeout=15)
            ids = _new_order_ids(sim)
            assert len(ids) == 3 and len(set(ids)) == 3, ids  # the old code: the primary's first ClOrdID again
            assert sim.exchange.violations == []  # the old code: ['#... New Order ...1 again ...']
            assert isinstance(answer, OrderAccepted), answer
            on_file = json.loads((standby_dir / "boe" / "CBOE.boe-order-ids.json").read_text())
            assert on_file["reserved"] >= 3  # the raise (2), then the block the standby's order 3 reserved
            [exec_id] = sim.exchange.executions
            assert sim.exchange.correct_trade(exec_id)  # Cboe busts the primary's fill
            sim.flush_all()
            await wait_for(lambda: "Trade Cancel or Correct" in caplog.text, 15, "the bust's WARNING")
        [bust] = [r.getMessage() for r in caplog.records if "Trade Cancel or Correct" in r.getMessage()]
        assert "ACC2" not in bust and "adjust-position" not in bust, bust
        assert "new order ids start above 2, so none of those ClOrdIDs is entered again" in caplog.text
    finally:
        for process in processes:
            await process.stop()
        await sim.stop()
