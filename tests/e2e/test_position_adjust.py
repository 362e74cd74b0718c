"""``gateway risk adjust-position`` end to end (bust39): a real gateway, the OUCH simulator, the CLI, a restart.

The position reaches ``max_long_qty`` through a real fill; the venue then busts 100 of it. Before this change
there was no command (the CLI exits 2: unknown action), the buy stayed refused and a restart replayed the
busted fill again. Now the CLI corrects it over the admin socket, the next buy of 100 is accepted, a restart
the same day keeps the correction (journaled, replayed in order with the fills), and the risk audit log says
who (the admin caller's pid and uid), why, before and after.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.admin import admin_request
from gateway.app import GatewayProcess
from gateway.cli import main
from gateway.client import GatewayClient
from gateway.entitlements import StrategyEntitlement
from gateway.journal import JPositionAdjusted, read_journal
from gateway.protocol.messages import Canceled, Executed, OrderAccepted, OrderRejected
from model.enums import Side
from model.venue_events import VenueState
from risk.audit import read_audit_log
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import gateway_config, short_tmp, wait_for
from tests.risk import support

REFS = "as_of: loaded\nprices:\n  AAPL: 100.00\n"
LIMITS = {
    "reference_prices": {"file": "refs.yaml", "max_age_s": 60},
    "defaults": {"max_notional": 1_000_000, "max_open_notional": 1_000_000, "credit_limit": 10_000_000},
    "accounts": {"ACC1": {"max_long_qty": 1000}},
}
RESTING = "99.00"  # a buy below the simulator's 100.00: it rests (worst-case long counts it)


def _setup(workdir: Path) -> Path:
    (workdir / "refs.yaml").write_text(REFS)
    return support.write_limits(workdir / "limits.yaml", LIMITS)


async def _start(workdir: Path, port: int, limits: Path) -> GatewayProcess:
    strategies = {"S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()])}
    process = GatewayProcess(gateway_config(workdir, port, limits, strategies=strategies))
    await process.start()
    await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
    return process


async def _cli(args: Sequence[str]) -> int:
    return await asyncio.get_running_loop().run_in_executor(None, main, list(args))


async def _buy(client: GatewayClient, qty: int, price: str) -> object:
    """Send a buy; return its first answer (resting) or its end (marketable: filled)."""
    handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, qty, price)
    return await (handle.wait_accepted(timeout=15) if price == RESTING else handle.wait_done(timeout=15))


@pytest.mark.slow
async def test_bust_corrected_with_the_cli_then_a_buy_is_accepted_also_after_a_restart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    workdir = short_tmp()
    limits = _setup(workdir)
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": 1_000_000})))
    await sim.start()
    process = await _start(workdir, sim.port, limits)
    admin = str(process.config.path(process.config.admin_socket))
    target = ["--admin-socket", admin]
    try:
        async with GatewayClient(process.config.path(process.config.strategy_socket), "S1") as client:
            assert isinstance(await _buy(client, 1000, "100.00"), Executed)  # position 1000 = max_long_qty
            refused = await _buy(client, 100, RESTING)
            assert isinstance(refused, OrderRejected) and refused.code == "MAX_LONG_POSITION"
            capsys.readouterr()
            base = ["risk", "adjust-position", "--account", "ACC1", "--symbol", "AAPL", *target]
            # the dry run shows the breach a wrong sign would cause, and changes nothing
            assert await _cli([*base, "--qty", "100", "--reason", "wrong sign", "--dry-run"]) == 0
            out = capsys.readouterr().out
            assert "DRY RUN, nothing changed" in out and "position        1000 -> 1100" in out
            assert "max_long_qty 1000 (account ACC1, AAPL): worst-case long 1100" in out
            # refusals: data with a code, exit 1, nothing changed
            assert await _cli([*base, "--qty", "0", "--reason", "r"]) == 1
            assert "REFUSED (ZERO_QTY)" in capsys.readouterr().err
            assert await _cli([*base[:3], "NOSUCH", *base[4:], "--qty", "-1", "--reason", "r"]) == 1
            assert "REFUSED (UNKNOWN_ACCOUNT)" in capsys.readouterr().err
            assert await _cli([*base, "--qty", "-100", "--reason", ""]) == 1
            assert "REFUSED (REASON_MISSING)" in capsys.readouterr().err
            assert process.risk is not None and process.risk.position("ACC1", "AAPL").position == 1000  # type: ignore[attr-defined]
            # the correction itself
            reason = "bust of exec 123 at XNAS"
            assert await _cli([*base, "--qty", "-100", "--price", "100.00", "--reason", reason]) == 0
            out = capsys.readouterr().out
            assert "position corrected" in out and "position        1000 -> 900" in out
            assert "traded notional 100000 -> 90000" in out and "limits breached after it: none" in out
            resting = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, RESTING)
            assert isinstance(await resting.wait_accepted(timeout=15), OrderAccepted)  # 900 + 100 <= 1000
            over = await _buy(client, 1, RESTING)
            assert isinstance(over, OrderRejected) and over.code == "MAX_LONG_POSITION"
            await client.cancel(resting.cl_ord_id)
            assert isinstance(await resting.wait_done(timeout=15), Canceled)
        metrics = process.metrics()
        assert metrics.extra["risk_position_adjustments_total"] == 1.0
        status = await asyncio.get_running_loop().run_in_executor(None, admin_request, admin, {"cmd": "status"})
        assert status["status"]["risk"]["position_adjustments"] == 1
    finally:
        await process.stop()
    journal = [r for r in read_journal(Path(process.recovery["journal"])) if type(r) is JPositionAdjusted]
    assert [(r.account, r.symbol, r.qty, r.notional, r.reason) for r in journal] == [
        ("ACC1", "AAPL", -100, -100 * 1_000_000, reason)
    ]
    process = await _start(workdir, sim.port, limits)  # the same day: the journal is replayed
    try:
        assert process.risk is not None
        assert process.risk.position("ACC1", "AAPL").position == 900  # type: ignore[attr-defined]
        assert process.risk.exposure("ACC1").traded_notional == 90_000 * 10_000  # type: ignore[attr-defined]
        async with GatewayClient(process.config.path(process.config.strategy_socket), "S1") as client:
            assert isinstance(await _buy(client, 100, RESTING), OrderAccepted)
        assert process.metrics().extra["risk_position_adjustments_total"] == 1.0
    finally:
        await process.stop()
        await sim.stop()
    audit = [r for r in read_audit_log(workdir / "audit.jsonl") if r["event"] == "position_adjust"]
    assert len(audit) == 2, json.dumps(audit)
    live, restored = audit
    assert live["trigger"] == "admin" and live["reason"] == reason
    assert f"[pid {os.getpid()} uid {os.getuid()}]" in live["who"]  # the admin socket's caller
    assert (live["position_before"], live["position_after"], live["price"]) == (1000, 900, "100")
    assert restored["trigger"] == "restored" and restored["who"] == live["who"] + " (restored from the journal)"
