"""A firm-wide ``gateway resume`` names an account the gateway halted after a fault of its own as such (ops59b).

Found by rev59merge6 (LOW 4): the exit-5 text called an account halted after an internal error (trigger
``internal_error``, ``Engine._internal_error``) "stopped by a kill of their own (`gateway kill --account`)". Real
``GatewayProcess``, the OUCH simulator, the real CLI over the admin socket.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from gateway.app import GatewayProcess
from gateway.commands.admin import EXIT_STILL_STOPPED
from gateway.entitlements import StrategyEntitlement
from model.venue_events import VenueState
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for

pytestmark = pytest.mark.timeout(90)


async def test_firm_resume_while_an_account_is_halted_after_an_internal_error_then_named_as_such() -> None:
    sim = OuchSimulator(SimulatorConfig(port=0))
    await sim.start()
    try:
        workdir = short_tmp()
        strategies = {"S1": StrategyEntitlement(accounts=["ACC1", "ACC2"], uids=[os.getuid()])}
        config = gateway_config(workdir, sim.port, e2e_limits(workdir, strategies), strategies=strategies)
        process = GatewayProcess(config)
        await process.start()
        try:
            await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
            process._halt_after_fault(["ACC1"], "INTERNAL_ERROR: drill")  # what Engine._internal_error calls
            process.kill("ACC2", "desk", "by hand")
            cli = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                "resume",
                "--admin-socket",
                str(config.path(config.admin_socket)),
                "--reason",
                "all clear",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(cli.communicate(), 60)
        finally:
            await process.stop()
    finally:
        await sim.stop()
    said = err.decode()
    assert cli.returncode == EXIT_STILL_STOPPED, (out, said)
    assert "1 account(s) stay stopped by a kill of their own (`gateway kill --account`): ACC2 HALTED" in said, said
    assert (  # the old code: "2 account(s) stay stopped by a kill of their own ...: ACC1 HALTED, ACC2 HALTED"
        "1 account(s) stay halted by the gateway after an internal error of its own (trigger internal_error; its "
        "ERROR says why): "
        "ACC1 HALTED; `gateway resume --account A` lifts each" in said
    ), said
