"""A fault of the engine's own while it carries out one strategy request fails closed and loud (fault50).

Before (docs/reliability.md 2.8, net49), an exception in the engine's handling of a request outside the encoders
and risk's checks (the journal's append of the order sent, risk's count of an opened order, ...) went up into the
strategy socket's ``data_received``: the loop logged ``Fatal error on transport`` and closed the connection with no
answer, the rest of the read was not carried out, and the state was wherever the fault stopped (an order the venue
had, the journal and risk did not, the disconnect policy could not cancel). Now the engine's last resort
(``Engine._internal_error``) logs one CRITICAL line with the traceback, counts it
(``gateway_engine_internal_errors_total``), ends that strategy's session with a fatal ``Error(INTERNAL_ERROR)``
saying what became of the request (its disconnect policy then applies to the orders the gateway knows), and halts
the strategy's accounts (journaled; ``gateway resume --account`` lifts it). A journal append that fails right
after the order was queued takes the queued message back (OUCH here; FIX, BOE and the other request kinds:
test_journal_before_wire.py).

Real components: a ``GatewayProcess`` on a real Unix socket, the strategy a client written from the protocol
doc (``tests/rawclient.py``), the OUCH simulator over loopback TCP, a real QuickFIX acceptor for FIX. The faults
are injected with monkeypatch: a journal (the engine's) that raises for one record, a risk gate that raises once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import pytest

from gateway.app import INTERNAL_ERROR_WHO, GatewayProcess
from gateway.commands.admin import format_status
from gateway.entitlements import StrategyEntitlement
from gateway.exporter import render
from gateway.journal import JOrderSent, JRequest, JTradingState, read_journal
from gateway.protocol.prices import to_fixed
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.rawclient import (
    CANCEL,
    CANCELED,
    ERROR,
    NEW_ORDER,
    ORDER_ACCEPTED,
    ORDER_REJECTED,
    VENUE_STATUS,
    RawClient,
    frame,
    order_events,
)

pytestmark = pytest.mark.timeout(90)

REFS = {"AAPL": to_fixed("230.10")}
RESTING = to_fixed("229.00")  # rests on the simulator's book: OrderAccepted and nothing else


class _FaultyJournal:
    """The engine's journal, whose ``append`` raises once for the first record ``hit`` picks (the injected fault)."""

    def __init__(self, real: Any, hit: Callable[[object], bool]) -> None:
        self._real = real
        self._hit: Callable[[object], bool] | None = hit
        self.faults = 0

    def append(self, record: object) -> None:
        if self._hit is not None and self._hit(record):
            self._hit = None
            self.faults += 1
            raise RuntimeError("injected journal fault")
        self._real.append(record)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _FaultyRisk:
    """The engine's risk gate, whose ``method`` raises once (the injected fault); the rest goes to the real one."""

    def __init__(self, real: Any, method: str) -> None:
        self._real = real
        self._method: str | None = method

    def __getattr__(self, name: str) -> Any:
        if name == self._method:
            self._method = None

            def fault(*args: object) -> None:
                raise RuntimeError(f"injected fault in {name}")

            return fault
        return getattr(self._real, name)


def _sent_record_of(cl_ord_id: str) -> Callable[[object], bool]:
    def hit(record: object) -> bool:
        inner = record.record if isinstance(record, JRequest) else record
        return isinstance(inner, JOrderSent) and inner.cl_ord_id == cl_ord_id

    return hit


_ENTERED_CANCELED = [("O", "accepted"), ("X", "canceled")]


def _venue_saw(sim: Any) -> list[tuple[str, str]]:
    """What the OUCH simulator received: (message type, outcome), in order."""
    return [(r.type, r.outcome) for r in sim.exchange.records]


def _order(cl_ord_id: str, req_seq: int, account: str = "ACC1", venue: str = "OUCH") -> bytes:
    return frame(NEW_ORDER, cl_ord_id, account, venue, "AAPL", "B", 100, RESTING, "0", "2", 0, req_seq)


def _sock(process: GatewayProcess) -> str:
    return str(process.config.path(process.config.strategy_socket))


async def _login(process: GatewayProcess, strategy: str, venue: str = "OUCH") -> tuple[RawClient, list[Any], Any]:
    """Connect with version 3; return the client, the replayed events and the Welcome."""
    client = await RawClient(_sock(process)).connect()
    welcome = await client.hello(strategy, 3)
    replayed = await client.read(welcome[5])
    (status,) = await client.read(1)
    assert status[:3] == [VENUE_STATUS, venue, "UP"]
    return client, replayed, welcome


def _critical(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "gateway.engine" and r.levelno == logging.CRITICAL and "INTERNAL ERROR" in r.getMessage()
    ]


def _strategies() -> dict[str, StrategyEntitlement]:
    return {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()]),  # on_disconnect: cancel
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[os.getuid()]),
    }


def _halted(process: GatewayProcess, account: str) -> bool:
    assert process.risk is not None
    return bool(process.risk.trading_state(account).name == "HALTED")


async def test_journal_append_fails_after_ouch_enter_queued_then_taken_back_fatal_error_account_halted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies()) as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        other, _, _ = await _login(process, "S2")
        await one.send(_order("R1", 1))
        (accepted,) = order_events(await one.read(1))
        assert accepted[:3] == [ORDER_ACCEPTED, 1, "R1"]

        faulty = _FaultyJournal(engine.journal, _sent_record_of("R2"))
        monkeypatch.setattr(engine, "journal", faulty)
        await one.send(_order("R2", 2) + _order("R3", 3))  # one read: R3 is behind the fault
        messages = await one.read_until_closed(timeout_s=10)
        assert faulty.faults == 1
        # the one answer: a fatal Error saying what became of R2 (before: the connection closed, nothing said)
        assert [m[:2] for m in messages] == [[ERROR, "INTERNAL_ERROR"]], messages
        error = messages[0]
        assert error[3] is True
        assert "NewOrder 'R2' req_seq 2" in error[2] and "injected journal fault" in error[2]
        assert "nothing of it reached venue OUCH" in error[2]
        assert "last_req_seq" in error[2] and "ACC1" in error[2]
        monkeypatch.undo()

        # journal before wire: R2's Enter Order taken back, R3 never carried out; R1 canceled by the policy
        await wait_for(lambda: _venue_saw(sim) == _ENTERED_CANCELED, what="R1 canceled")
        assert engine.counters.internal_errors == 1
        scraped = render(process.metrics()).decode()
        assert "\ngateway_engine_internal_errors_total 1.0\n" in scraped
        (line,) = _critical(caplog)
        assert line.exc_info is not None and "S1" in line.getMessage() and "R2" in line.getMessage()
        assert _halted(process, "ACC1") and not _halted(process, "ACC2")

        # the other strategy is untouched: its connection stays, its account trades
        await other.send(_order("Q1", 1, account="ACC2"))
        (theirs,) = order_events(await other.read(1))
        assert theirs[:3] == [ORDER_ACCEPTED, 1, "Q1"]

        # S1 comes back: R2 counts as processed (its answer was the Error), R3 is to be sent again
        again, replayed, welcome = await _login(process, "S1")
        assert welcome[6] == 2
        assert [(e[0], e[2]) for e in order_events(replayed)] == [(ORDER_ACCEPTED, "R1"), (CANCELED, "R1")]
        await again.send(_order("R2", 2) + _order("R3", 3))  # R2 a duplicate (skipped), R3 carried out
        (refused,) = order_events(await again.read(1))
        assert refused[:5] == [ORDER_REJECTED, 3, "R3", "RISK", "TRADING_HALTED"]
        assert "INTERNAL_ERROR" in refused[5]
        # the halt is journaled (a restart keeps it) until an operator resumes the account
        process.resume("ACC1", "ops", "reconciled with the venue")
        await again.send(_order("R4", 4))
        (good,) = order_events(await again.read(1))
        assert good[:3] == [ORDER_ACCEPTED, 4, "R4"]
        again.close()
        other.close()
        engine.flush()
        journal_path = engine.journal.path  # type: ignore[attr-defined]
        states = [r for r in read_journal(journal_path) if isinstance(r, JTradingState)]
        assert [(s.account, s.state) for s in states] == [("ACC1", "HALTED"), ("ACC1", "ACTIVE")]
        assert "INTERNAL_ERROR" in states[0].reason


async def test_fault_after_order_journaled_and_queued_then_sent_tracked_and_canceled_by_the_policy(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies()) as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        monkeypatch.setattr(engine, "risk", _FaultyRisk(engine.risk, "on_order_opened"))
        await one.send(_order("R1", 1) + _order("R2", 2))
        messages = await one.read_until_closed(timeout_s=10)
        assert [m[:2] for m in messages] == [[ERROR, "INTERNAL_ERROR"]], messages
        assert "NewOrder 'R1' req_seq 1" in messages[0][2]
        assert "sent to venue OUCH and journaled" in messages[0][2]
        monkeypatch.undo()
        # R1 reached the venue (journaled first), and the disconnect policy canceled it; R2 never went
        await wait_for(lambda: _venue_saw(sim) == _ENTERED_CANCELED, what="R1 entered, then canceled")
        assert len(_critical(caplog)) == 1 and _halted(process, "ACC1")
        again, replayed, welcome = await _login(process, "S1")
        assert welcome[6] == 1
        assert [(e[0], e[2]) for e in order_events(replayed)] == [(ORDER_ACCEPTED, "R1"), (CANCELED, "R1")]
        again.close()


async def test_cancel_whose_handling_raises_then_fatal_error_and_the_policy_cancels_the_order(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies()) as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        await one.send(_order("R1", 1))
        (accepted,) = order_events(await one.read(1))
        assert accepted[:3] == [ORDER_ACCEPTED, 1, "R1"]
        monkeypatch.setattr(engine, "risk", _FaultyRisk(engine.risk, "check_cancel"))
        await one.send(frame(CANCEL, "R1", 0, 2))  # Cancel R1, request 2
        messages = await one.read_until_closed(timeout_s=10)
        assert [m[:2] for m in messages] == [[ERROR, "INTERNAL_ERROR"]], messages
        assert "Cancel 'R1' req_seq 2" in messages[0][2]
        monkeypatch.undo()
        await wait_for(lambda: _venue_saw(sim) == _ENTERED_CANCELED, what="R1 canceled by the policy")
        assert engine.counters.internal_errors == 1 and _halted(process, "ACC1")


async def test_fault_on_one_accounts_order_then_only_that_account_halted_and_status_says_why(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rev51strat/rev51risk: the halt covers the account the request concerns, and status names who and why."""
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    strategies = {"S3": StrategyEntitlement(accounts=["ACC1", "ACC2"], uids=[os.getuid()], on_disconnect="keep")}
    async with running_gateway(short_tmp(), exchange=exchange, strategies=strategies) as (process, _sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S3")
        monkeypatch.setattr(engine, "risk", _FaultyRisk(engine.risk, "on_order_opened"))
        await one.send(_order("R1", 1, account="ACC1"))
        messages = await one.read_until_closed(timeout_s=10)
        assert [m[:2] for m in messages] == [[ERROR, "INTERNAL_ERROR"]], messages
        assert "your account(s) ACC1 are halted" in messages[0][2]
        monkeypatch.undo()
        # before: every account S3 may trade was halted, ACC2 (shared with other strategies) too
        assert _halted(process, "ACC1") and not _halted(process, "ACC2")

        status = process.status()["risk"]["accounts"]["ACC1"]
        assert status["runtime_state"] == "HALTED"
        assert status["runtime_trigger"] == "internal_error"
        assert status["runtime_by"] == INTERNAL_ERROR_WHO
        assert status["runtime_reason"].startswith("INTERNAL_ERROR: a fault of the gateway's own")
        assert "runtime_by" not in process.status()["risk"]["accounts"]["ACC2"]
        (line,) = [x for x in format_status(process.status()).splitlines() if x.startswith("  ACC1")]
        assert f"HALTED at run time (halted after an internal error by {INTERNAL_ERROR_WHO}): INTERNAL_ERROR" in line

        again, _, _ = await _login(process, "S3")
        await again.send(_order("R2", 2, account="ACC1"))
        (refused,) = order_events(await again.read(1))
        assert refused[:5] == [ORDER_REJECTED, 2, "R2", "RISK", "TRADING_HALTED"]
        # a restart re-applies the journaled halt: the same text, not "kill switch by ..." (before)
        journal_path = engine.journal.path  # type: ignore[attr-defined]
        engine.flush()
        states = [r for r in read_journal(journal_path) if isinstance(r, JTradingState)]
        process._restore_trading_states(states)
        await again.send(_order("R3", 3, account="ACC1"))
        (refused_after,) = order_events(await again.read(1))
        assert refused_after[5] == refused[5].replace("R2", "R3"), (refused[5], refused_after[5])
        assert "kill switch" not in refused_after[5]
        assert process.status()["risk"]["accounts"]["ACC1"]["runtime_trigger"] == "internal_error"
        again.close()


async def test_fault_in_a_version_2_session_then_the_error_does_not_point_to_last_req_seq(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rev51strat: a version-2 Welcome has no last_req_seq; the Error told such a session to read it."""
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies()) as (process, _sim):
        engine = process.engine
        assert engine is not None
        client = await RawClient(_sock(process)).connect()
        welcome = await client.hello("S1", 2)
        await client.read(welcome[5] + 1)  # the replay (none) and the VenueStatus
        monkeypatch.setattr(engine, "risk", _FaultyRisk(engine.risk, "on_order_opened"))
        await client.send(_order("V1", 0))
        messages = await client.read_until_closed(timeout_s=10)
        assert [m[:2] for m in messages] == [[ERROR, "INTERNAL_ERROR"]], messages
        assert "last_req_seq" not in messages[0][2]
        assert "your replay after reconnecting shows the answers it gave" in messages[0][2]
