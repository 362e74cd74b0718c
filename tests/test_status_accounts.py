"""stat52: ``status`` / ``metrics`` cost the loop nothing per account of the limits file that did nothing.

A limits file shared by several gateways lists thousands of accounts no strategy here trades. The snapshot sends
their names and the file's states once per load (the slow part, the same bytes for ``status`` and ``metrics``);
per request only the accounts with something in risk's book (open orders, notionals, positions, a kill). The
reader assembles the same documents the gateway builds (``risk.engine.assemble_status``,
``assemble_trading_scopes``: one builder each for both paths).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.admin import admin_request_msgpack, fetch_metrics, fetch_status
from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.latency import LatencySnapshot
from gateway.metrics import decode_metrics
from gateway.protocol.messages import OrderAccepted
from gateway.snapshot import HEADER, METRICS, STATUS, SnapshotWriter
from model.enums import Side
from risk.engine import RiskEngine, assemble_status, assemble_trading_scopes
from risk.model import TradingState
from tests.e2e.support import e2e_limits, running_gateway, short_tmp


def _limits(workdir: Path, idle: int, states: dict[str, str] | None = None) -> Path:
    """The e2e limits with ``idle`` more accounts no strategy trades (``C00000``...), some given a file state."""
    directory = workdir / "risk"
    directory.mkdir()
    limits = e2e_limits(directory)
    states = states or {}
    rows = "".join(
        f"  C{i:05d}: {{trading_state: {states[f'C{i:05d}']}}}\n" if f"C{i:05d}" in states else f"  C{i:05d}: {{}}\n"
        for i in range(idle)
    )
    limits.write_text(limits.read_text().replace("\naccounts:\n", "\naccounts:\n" + rows, 1))
    return limits


async def _in_thread(func: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


async def _one_order(process: GatewayProcess) -> None:
    config = process.config
    async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
        order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
        assert isinstance(await order.wait_accepted(timeout=5), OrderAccepted)


def _risk(process: GatewayProcess) -> RiskEngine:
    risk = process.risk
    assert isinstance(risk, RiskEngine)
    return risk


def _part_sizes(process: GatewayProcess, kind: int) -> tuple[int, object]:
    """Return the run-time part's size of a snapshot of ``kind`` and its slow part's bytes object."""
    writer = SnapshotWriter(process)
    frame = bytearray()
    _at, parts = writer.write_spliced(frame, 0, kind)
    header = HEADER.unpack_from(frame, 0)
    return header[-1], parts[len(process.engine.latency.lows) + 1] if process.engine else b""


@pytest.mark.parametrize("firm", [None, TradingState.REDUCING])
async def test_status_and_metrics_when_many_idle_accounts_and_some_with_state_then_snapshot_equals_the_document(
    firm: TradingState | None,
) -> None:
    workdir = short_tmp()
    limits = _limits(workdir, 400, {"C00003": "REDUCING", "C00004": "HALTED", "C00005": "ACTIVE"})
    async with running_gateway(workdir, limits) as (process, _sim):
        await _one_order(process)
        risk = _risk(process)
        risk.set_trading_state(TradingState.HALTED, "C00007", who="alice", reason="desk")
        risk.set_trading_state(TradingState.REDUCING, "C00004", who="bob", reason="file says halted")
        risk.set_start_position("ZZZ", "AAPL", 5)  # an account only the book knows
        risk.set_start_position("C00009", "AAPL", 5)  # an idle account with a position
        if firm is not None:
            risk.set_trading_state(firm, None, who="carol", reason="firm")
        admin = process.config.path(process.config.admin_socket)
        gc.disable()
        try:
            old_status = (await _in_thread(admin_request_msgpack, admin, {"cmd": "status"}))["status"]
            new_status = await _in_thread(fetch_status, admin)
            old_metrics = decode_metrics(
                (await _in_thread(admin_request_msgpack, admin, {"cmd": "metrics"}))["metrics"]
            )
            new_metrics = await _in_thread(fetch_metrics, admin)
        finally:
            gc.enable()
        old_status["latency_us"] = msgspec.convert(old_status.pop("latency"), LatencySnapshot).summaries()
        for key in ("uptime_s", "admin"):
            old_status.pop(key)
            new_status.pop(key)
        assert new_status["risk"] == old_status["risk"]
        assert new_status == old_status
        accounts = new_status["risk"]["accounts"]
        assert {"C00000", "C00399", "ZZZ", "ACC1"} <= accounts.keys() and len(accounts) > 402
        firm_name = "ACTIVE" if firm is None else firm.name
        assert accounts["C00000"]["trading_state"] == firm_name and accounts["C00000"]["configured"] is True
        assert accounts["C00004"]["trading_state"] == "HALTED" and accounts["C00004"]["runtime_state"] == "REDUCING"
        assert accounts["C00007"]["runtime_by"] == "alice" and accounts["ZZZ"]["configured"] is False
        assert msgspec.structs.replace(new_metrics, admin=old_metrics.admin) == old_metrics
        states = new_metrics.account_states
        assert len(states) == len(accounts)
        assert states["C00000"] == firm_name and states["C00003"] == "REDUCING" and states["C00004"] == "HALTED"
        assert states["C00007"] == "HALTED" and states["ZZZ"] == firm_name
        assert new_metrics.kill_switches == {"firm": int(firm is not None), "account": 2}
        scopes = {(scope, state): count for scope, state, count in new_metrics.trading_scopes}
        assert scopes["account", "REDUCING"] >= 1 and scopes["account", "HALTED"] >= 2  # C00003; C00004, C00007


async def test_snapshot_when_the_file_lists_thousands_more_idle_accounts_then_the_run_time_part_is_the_same() -> None:
    """What the loop builds and encodes per request does not grow with accounts that did nothing (stat52).

    Before, ``metrics`` built and encoded one (account, state) row per account of the file on every request
    (55 ms of loop per request with 30,000 accounts, compiled).
    """
    sizes: dict[int, tuple[int, int]] = {}
    for idle in (0, 3000):
        workdir = short_tmp()
        async with running_gateway(workdir, _limits(workdir, idle)) as (process, _sim):
            await _one_order(process)
            _risk(process).set_trading_state(TradingState.HALTED, "ACC2", who="alice", reason="desk")
            sizes[idle] = (_part_sizes(process, STATUS)[0], _part_sizes(process, METRICS)[0])
    # equal but for a few bytes of numbers that differ between two gateways (GC counts, times); before, the
    # ``metrics`` part grew by ~12 bytes per account (36 KB here)
    assert all(abs(a - b) <= 64 for a, b in zip(sizes[3000], sizes[0], strict=True)), sizes


async def test_snapshot_when_status_and_metrics_alternate_then_the_slow_part_is_encoded_once() -> None:
    """The per-load part is encoded once per kind: an exporter's scrapes between two ``gateway status`` calls do
    not make the loop encode the account names again (before, each switch of kind re-encoded the slow part)."""
    workdir = short_tmp()
    async with running_gateway(workdir, _limits(workdir, 50)) as (process, _sim):
        writer = SnapshotWriter(process)
        frame = bytearray()
        slows = []
        for kind in (STATUS, METRICS, STATUS, METRICS):
            _at, parts = writer.write_spliced(frame, 0, kind)
            slows.append(parts[len(process.engine.latency.lows) + 1] if process.engine else b"")
        assert slows[2] is slows[0] and slows[3] is slows[1]
        assert b"C00049" in slows[0] and b"C00049" in slows[1]


def test_assemblers_when_given_the_engine_parts_through_msgpack_then_the_engine_documents(tmp_path: Path) -> None:
    """``status()`` and ``trading_scopes()`` are the assemblers of the parts: the reader gets the same."""
    from tests.risk.support import make_engine

    engine, _clock = make_engine(tmp_path)
    engine.set_trading_state(TradingState.HALTED, "ACC2", who="alice", reason="test")
    engine.set_start_position("ZZZ", "AAPL", 5)
    wire, raw = engine.status_parts()
    again = msgspec.msgpack.decode(msgspec.msgpack.encode(wire))
    assert assemble_status(again, msgspec.msgpack.decode(msgspec.msgpack.encode(raw))) == engine.status()
    scopes = assemble_trading_scopes(again, msgspec.msgpack.decode(msgspec.msgpack.encode(engine.trading_scopes_raw())))
    kills, rows, accounts = engine.trading_scopes()
    assert scopes[0] == kills
    assert [tuple(row) for row in scopes[1]] == rows
    assert sorted(map(tuple, scopes[2])) == sorted(accounts)
    assert dict(accounts)["ZZZ"] == "ACTIVE" and dict(accounts)["ACC2"] == "HALTED"
