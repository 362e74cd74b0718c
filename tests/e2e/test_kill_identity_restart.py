"""A kill dropped by a stop on a scope the journal already held HALTED: the next start carries it out (kill58).

killstop56's design gap: the start compared the audit log's last trading state per scope with the journal's last.
An account halted by the gateway after a fault of its own (``_halt_after_fault``, what ``Engine._internal_error``
calls: journaled, cancels nothing, the strategy's ``keep`` policy leaves its order working) then killed by an
operator while the journal's disk is full (the kill's HALTED record and its cancel pending), then stopped (the
pending records dropped, exit 3): both logs said HALTED, so the next start saw nothing lost, and the kill's cancel
was never sent: the order stayed working at the venue. Now the kill's identity (``state_id``) is in its audit
record, the journal does not hold it, so the start re-applies the kill and sends its cancel; a later start finds it
journaled and cancels nothing again.

Real components: ``GatewayProcess`` started and stopped three times on one workdir (real Unix socket, journal file
``storage: file``, risk audit log), the OUCH simulator over loopback TCP throughout, a strategy client written from
the protocol doc (``tests/rawclient.py``). The full disk: ``os.write`` to the journal's file fails ENOSPC.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import msgspec
import pytest

from gateway.app import EXIT_JOURNAL_NOT_DURABLE, GatewayProcess
from gateway.config import GatewayConfig, JournalConfig
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.prices import to_fixed
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for
from tests.rawclient import NEW_ORDER, ORDER_ACCEPTED, VENUE_STATUS, RawClient, frame, order_events

pytestmark = pytest.mark.timeout(90)

REFS = {"AAPL": to_fixed("230.10")}
RESTING = to_fixed("229.00")  # rests on the simulator's book: OrderAccepted and nothing else


def _config(workdir: Path, port: int) -> GatewayConfig:
    strategies = {"S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()], on_disconnect="keep")}
    config = gateway_config(workdir, port, e2e_limits(workdir, strategies), strategies=strategies)
    journal = JournalConfig(directory=str(workdir / "journal"), fsync="interval", storage="file")  # type: ignore[arg-type]
    return msgspec.structs.replace(config, journal=journal)


async def _started(config: GatewayConfig) -> GatewayProcess:
    process = GatewayProcess(config)
    await process.start()
    await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
    return process


def _venue_saw(sim: OuchSimulator) -> list[tuple[str, str]]:
    return [(r.type, r.outcome) for r in sim.exchange.records]


def _started_halted(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and " starts HALTED" in r.getMessage()]


async def test_kill_dropped_on_an_account_halted_after_an_internal_error_then_the_next_start_cancels_its_order(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING)
    full = [False]
    real_write = os.write

    def write(fd: int, data: bytes | bytearray | memoryview) -> int:
        if full[0] and os.readlink(f"/proc/self/fd/{fd}").endswith(".journal"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr("gateway.journal.os.write", write)
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices=REFS)))
    await sim.start()
    try:
        config = _config(short_tmp(), sim.port)
        process = await _started(config)
        client = await RawClient(str(config.path(config.strategy_socket))).connect()
        welcome = await client.hello("S1", 3)
        await client.read(welcome[5])
        (status,) = await client.read(1)
        assert status[:3] == [VENUE_STATUS, "OUCH", "UP"]
        await client.send(frame(NEW_ORDER, "R1", "ACC1", "OUCH", "AAPL", "B", 100, RESTING, "0", "2", 0, 1))
        (accepted,) = order_events(await client.read(1))
        assert accepted[:3] == [ORDER_ACCEPTED, 1, "R1"]
        client.close()
        assert process.engine is not None
        process._halt_after_fault(["ACC1"], "engine fault drill")  # journaled HALTED; cancels nothing
        process.engine.flush()

        full[0] = True
        killed = process.kill("ACC1", "ops", "kill58 drill")
        assert killed.journal_pending and killed.orders_canceled == 1  # the HALTED record and the cancel pending
        await process.stop()
        assert process.exit_code == EXIT_JOURNAL_NOT_DURABLE  # the stop dropped them
        full[0] = False
        assert _venue_saw(sim) == [("O", "accepted")]  # journal first: the kill's cancel never left

        caplog.clear()
        again = await _started(config)
        try:
            # the old code: no cancel ever (the journal's HALTED and the audit log's HALTED "equal")
            await wait_for(lambda: _venue_saw(sim) == [("O", "accepted"), ("X", "canceled")], what="R1 canceled")
            await wait_for(lambda: not again.engine.open_orders, what="R1 closed")  # type: ignore[union-attr]
            (said,) = _started_halted(caplog)
            assert "account ACC1 starts HALTED" in said and "kill58 drill" in said, said
            assert "the cancels of its 1 open orders are queued" in said, said
        finally:
            await again.stop()
        assert again.exit_code == 0

        caplog.clear()
        third = await _started(config)
        try:
            assert _started_halted(caplog) == []  # the kill is journaled with its identity: done
            assert third.risk is not None and third.risk.trading_state("ACC1").name == "HALTED"
        finally:
            await third.stop()
        assert _venue_saw(sim) == [("O", "accepted"), ("X", "canceled")]  # no second round of cancels
    finally:
        await sim.stop()
