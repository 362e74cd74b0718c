"""A FIX or BOE request whose encoding fails is answered ``FIX_INTERNAL_ERROR`` / ``BOE_INTERNAL_ERROR`` (net49).

Before, an exception out of the FIX templates or the BOE packers went up through the engine into the strategy
socket's ``data_received``: the event loop closed the strategy's connection with no answer, risk kept the order's
exposure, and (BOE) the packer left a zeroed message in the send buffer for the next flush to put on the wire,
under a SequenceNumber already taken. Now that one request is refused (source GATEWAY; a cancel or replace with a
CancelRejected), the adapter's state for it undone (no MsgSeqNum / SequenceNumber used, the send buffer as it
was), risk released once, the fault logged at ERROR with its traceback and counted (``internal_errors``,
``gateway_venue_internal_errors_total``), and the strategy's connection stays.

A real gateway (``GatewayProcess``) on a real Unix socket (the SDK), its FIX venue a real QuickFIX acceptor, its
BOE venue the BOE simulator over loopback TCP.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.protocol.messages import Canceled, CancelRejected, OrderAccepted, OrderRejected
from model.enums import RejectSource, Side
from model.venue_events import VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import BoeSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, short_tmp, wait_for
from tests.e2e.test_boe_pipeline import REFS, UNITS, boe_gateway_config
from tests.e2e.test_fix_pipeline import gateway_with_fix
from venues.boe.adapter import BoeVenue
from venues.fix.adapter import FixVenue
from venues.fix.fields import MsgType

pytestmark = pytest.mark.timeout(90)


def _open_orders(process: GatewayProcess) -> int:
    assert process.risk is not None
    return int(process.risk.status()["open_orders"])


def _faults_logged(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == logger and r.levelno == logging.ERROR and "encoding it failed" in r.getMessage() and r.exc_info
    ]


async def _refused(handle: Any, kind: type, what: str) -> Any:
    """Wait for the one answer of ``kind`` to the request on ``handle`` (the connection must stay)."""
    await wait_for(lambda: any(isinstance(e, kind) for e in handle.events), what=what, timeout_s=10)
    return next(e for e in handle.events if isinstance(e, kind))


_SPOILED = b"35=D\x01%d"
"""A message format taking fewer values than the encoder gives it: ``%`` raises TypeError (a fault of the
gateway's own; compiled, the templates' methods are read-only, their formats are not)."""


async def test_fix_requests_when_encoding_fails_then_each_refused_internal_error_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="venues.fix.adapter")
    async with gateway_with_fix() as (process, sim):
        venue = process.venues[0]
        assert isinstance(venue, FixVenue)
        config = process.config
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            resting = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await resting.wait_accepted(timeout=10), OrderAccepted)
            seq_before = venue.session.next_sender_seq
            in_before = len(sim.received)

            templates = venue.templates
            formats = (templates._new_limit, templates._replace_limit, templates._cancel)
            templates._new_limit = _SPOILED  # the fault: the encoder raises
            bad = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100, "229.00")
            rejected = await bad.wait_done(timeout=10)  # before: GatewayError, the connection closed unanswered
            assert isinstance(rejected, OrderRejected)
            assert (rejected.source, rejected.code) == (RejectSource.GATEWAY, "FIX_INTERNAL_ERROR")
            assert "TypeError" in rejected.text  # the fault named
            assert _open_orders(process) == 1  # the refused order's exposure released (before: 2)

            templates._replace_limit = _SPOILED
            await resting.replace(200, "229.50")
            answer = await _refused(resting, CancelRejected, "the replace's refusal")
            assert (answer.source, answer.code) == (RejectSource.GATEWAY, "FIX_INTERNAL_ERROR")
            templates._cancel = _SPOILED
            await resting.cancel()
            await wait_for(
                lambda: sum(isinstance(e, CancelRejected) for e in resting.events) == 2, what="the cancel's refusal"
            )
            assert [e.code for e in resting.events if isinstance(e, CancelRejected)] == ["FIX_INTERNAL_ERROR"] * 2
            assert (resting.qty, resting.leaves_qty) == (100, 100)
            assert client.connected
            # nothing of the three went out, no MsgSeqNum was used
            assert venue.session.next_sender_seq == seq_before
            assert len(sim.received) == in_before

            templates._new_limit, templates._replace_limit, templates._cancel = formats
            good = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await good.wait_accepted(timeout=10), OrderAccepted)
            await resting.replace(200, "229.50")
            await wait_for(lambda: resting.qty == 200, what="the replace")
            await resting.cancel()
            assert isinstance(await resting.wait_done(timeout=10), Canceled)
        # the acceptor saw no gap: the next message carried the number the failed ones would have, and on
        seqs = [int(m.get(b"34") or 0) for m in sim.messages("in")]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seq_before in seqs
        assert sim.messages("out", MsgType.RESEND_REQUEST) == []
        assert sim.messages("out", MsgType.REJECT) == []
        assert venue.status()["internal_errors"] == 3
        assert process._venue_metrics()["venue_internal_errors_total"] == 3
        assert len(_faults_logged(caplog, "venues.fix.adapter")) == 3


@contextlib.asynccontextmanager
async def _boe_gateway(workdir: Path) -> AsyncIterator[tuple[GatewayProcess, BoeSimulator]]:
    """A BOE gateway whose venue sends a clearing firm on every message (the value the fault below spoils)."""
    sim = BoeSimulator(SimulatorConfig(exchange=BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS)))
    await sim.start()
    process = GatewayProcess(boe_gateway_config(workdir, sim.port, e2e_limits(workdir, ["S1"]), clearing_firm="FIRM"))
    try:
        await process.start()
        await wait_for(lambda: process.venues[0].state is VenueState.UP, what="BOE login")
        yield process, sim
    finally:
        await process.stop()
        await sim.stop()


async def test_boe_requests_when_encoding_fails_then_each_refused_internal_error_nothing_garbled_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="venues.boe.adapter")
    async with _boe_gateway(short_tmp()) as (process, sim):
        venue = process.venues[0]
        assert isinstance(venue, BoeVenue)
        config = process.config
        async with GatewayClient(Path(config.path(config.strategy_socket)), "S1") as client:
            resting = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await resting.wait_accepted(timeout=10), OrderAccepted)
            seq_before = venue.session.next_outbound

            # the fault: a New Order value the packer cannot carry (struct.error after the message was begun)
            at = venue._new_packer.fields.index("clearing_firm")
            venue._new_template[at] = 7
            bad = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            rejected = await bad.wait_done(timeout=10)  # before: GatewayError, the connection closed unanswered
            assert isinstance(rejected, OrderRejected)
            assert (rejected.source, rejected.code) == (RejectSource.GATEWAY, "BOE_INTERNAL_ERROR")
            assert "error" in rejected.text  # struct.error's text, named
            assert _open_orders(process) == 1

            venue._firm = (7,)  # type: ignore[assignment]  # Cancel and Modify carry it too
            await resting.replace(200, "229.50")
            answer = await _refused(resting, CancelRejected, "the modify's refusal")
            assert (answer.source, answer.code) == (RejectSource.GATEWAY, "BOE_INTERNAL_ERROR")
            await resting.cancel()
            await wait_for(
                lambda: sum(isinstance(e, CancelRejected) for e in resting.events) == 2, what="the cancel's refusal"
            )
            assert [e.code for e in resting.events if isinstance(e, CancelRejected)] == ["BOE_INTERNAL_ERROR"] * 2
            assert (resting.qty, resting.leaves_qty) == (100, 100)
            assert client.connected
            assert venue.session.next_outbound == seq_before  # no SequenceNumber used
            assert venue.session.out == b""  # nothing half-written left for the next flush

            venue._new_template[at] = b"FIRM"
            venue._firm = (b"FIRM",)
            good = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await good.wait_accepted(timeout=10), OrderAccepted)
            await resting.replace(200, "229.50")
            await wait_for(lambda: resting.qty == 200, what="the modify")
            await resting.cancel()
            assert isinstance(await resting.wait_done(timeout=10), Canceled)
            await good.cancel()
            assert isinstance(await good.wait_done(timeout=10), Canceled)
        # Cboe got whole, valid messages only, numbered on from before the faults
        records = sim.exchange.records
        assert [r.type for r in records] == ["New Order", "New Order", "Modify Order", "Cancel Order", "Cancel Order"]
        assert [r.sequence for r in records][1:] == [seq_before + n for n in range(4)]
        assert sim.exchange.violations == []
        assert venue.status()["internal_errors"] == 3
        assert process._venue_metrics()["venue_internal_errors_total"] == 3
        assert len(_faults_logged(caplog, "venues.boe.adapter")) == 3
