"""ops53: ``gateway kill/resume --account`` costs the loop nothing per account of the limits file (rev53ops MEDIUM).

``require_known_account`` built the set of every known account (the limits file's, gateway.yaml's, those with open
orders), sorted it and tested membership in the list, per command: with fixrisk51's 30,000-account file ~22 ms of
loop CPU and 58-97 ms wall per kill or resume, every strategy stalled meanwhile. Now a known account is two dict
lookups in what risk holds (``RiskEngine.is_known_account``) and the strategies' entitlements; only a refusal
builds the list it names. Measured deterministically by what the command allocates (tracemalloc's peak), which the
old set and sorted list made grow with the file: real gateway, real limits file, real OUCH simulator on loopback.
"""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from gateway.admin import fetch_status
from gateway.app import GatewayProcess, UnknownAccountError
from gateway.client import GatewayClient
from gateway.protocol.messages import OrderAccepted
from gateway.snapshot import METRICS, STATUS
from model.enums import Side
from risk.model import TradingState
from tests.e2e.support import running_gateway, short_tmp
from tests.test_status_accounts import _limits, _risk

IDLE = 3000


def _peak(process: GatewayProcess, command: str, account: str) -> int:
    """Return the bytes allocated at the peak of ``command`` (kill or resume) of ``account``, freed or not."""
    tracemalloc.start()
    try:
        if command == "kill":
            process.kill(account, "ops53", "drill")
        else:
            process.resume(account, "ops53", "drill")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_kill_and_resume_of_one_account_when_the_file_lists_thousands_then_nothing_built_per_account() -> None:
    workdir = short_tmp()
    async with running_gateway(workdir, _limits(workdir, IDLE)) as (process, _sim):
        assert process.risk is not None
        _peak(process, "kill", "C00013")  # the first of each warms what is built once (log handlers, audit file)
        _peak(process, "resume", "C00013")
        peaks = [_peak(process, command, "C01234") for command in ("kill", "resume")]
        # old: a set of 3,000 names (~130 KiB) and a sorted list of them (~24 KiB) per command
        assert max(peaks) < 48 * 1024, peaks
        assert process.risk.trading_state("C01234") is TradingState.ACTIVE
        with pytest.raises(UnknownAccountError) as refused:  # a refusal still names them: the same words as before
            process.kill("NOSUCH", "ops53", "typo")
        known = process.known_accounts()
        assert str(refused.value) == (
            "unknown account 'NOSUCH': not in the risk limits file, not in any strategy's accounts in the gateway "
            f"config, no open orders; nothing was changed. Known accounts: {', '.join(known[:20])} and "
            f"{len(known) - 20} more (all of them: gateway status --json, under known_accounts)"
        )
        assert process.risk.trading_state("NOSUCH") is TradingState.ACTIVE


async def test_kill_of_an_account_only_gateway_yaml_or_an_open_order_names_then_known_as_before() -> None:
    workdir = short_tmp()
    async with running_gateway(workdir, _limits(workdir, 10)) as (process, _sim):
        assert process.risk is not None
        assert not process.risk.is_known_account("NOPE")  # S1's entitlement names it; the limits file does not
        assert process.kill("NOPE", "ops53", "drill").orders_canceled == 0
        assert process.risk.trading_state("NOPE") is TradingState.HALTED
        assert process.engine is not None and process.engine.killed_scopes == {"NOPE"}  # (walk59b)
        process.resume("NOPE", "ops53", "drill")
        assert process.risk.trading_state("NOPE") is TradingState.ACTIVE
        assert not process.engine.killed_scopes  # a refused strategy Cancel is its own affair again
        config = process.config
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await order.wait_accepted(timeout=5), OrderAccepted)
            assert process.kill("ACC1", "ops53", "drill").orders_canceled == 1


async def test_status_parts_when_the_gateway_starts_or_reloads_its_limits_then_prepared_before_a_request() -> None:
    # the first status after a start or a reload built the limits' per-load part and encoded it while it waited
    # (37 ms of loop CPU at 30,000 accounts, 138 ms wall after a reload): now prepared from a loop callback at once
    workdir = short_tmp()
    limits = _limits(workdir, IDLE)
    async with running_gateway(workdir, limits) as (process, _sim):
        risk = _risk(process)
        snapshot = process._snapshot
        assert snapshot is not None
        await asyncio.sleep(0)  # the loop's next turn: no request was made
        for kind in (STATUS, METRICS):
            key, encoded = snapshot._slow[kind]
            assert key and key[0] is risk.status_wire() and len(encoded) > 7 * IDLE
        limits.write_text(limits.read_text().replace("  C00000: {}\n", "  C00000: {}\n  NEW1: {}\n", 1))
        result = await process.reload_risk_soon("test", "ops53")
        assert result.ok, result
        await asyncio.sleep(0)
        wire = risk.status_wire()
        assert "NEW1" in wire["account_names"]
        for kind in (STATUS, METRICS):
            key, encoded = snapshot._slow[kind]
            assert key[0] is wire and b"NEW1" in encoded  # encoded for the new limits before any request
        status = await asyncio.get_running_loop().run_in_executor(
            None, fetch_status, process.config.path(process.config.admin_socket)
        )
        assert "NEW1" in status["known_accounts"]
