"""Journal before wire for every request kind on every venue, and the venue-event last resort (fault51).

Stop 50 took back only an OUCH Enter Order whose journal record failed: a FIX or BOE NewOrder went out anyway,
kept as sent but unknown to the journal (a restart would not know it), and so did a Cancel or Replace on any
venue. Now each adapter takes the queued request back when the core cannot journal it (OUCH: out of the send
buffer, its UserRefNum skipped; BOE: out of the send buffer, its SequenceNumber given back; FIX: its stored
message replaced on the wire by a SequenceReset-GapFill of its MsgSeqNum), the order is as it was, and the
strategy's fatal ``Error(INTERNAL_ERROR)`` says ``nothing of it reached venue V``. A fault applying one venue
message is counted, logged at CRITICAL and halts the order's account; the venue session and the other
strategies go on. ``gateway status --json`` shows the count (``counters.internal_errors``).

Real components: a ``GatewayProcess`` on a real Unix socket, the strategy a client written from the protocol
doc (``tests/rawclient.py``), the OUCH and BOE simulators over loopback TCP, a real QuickFIX acceptor for FIX.
The faults are injected as in ``test_engine_internal_errors.py``: a journal (the engine's) that raises for one
record, a risk gate that raises once (both work compiled: the engine's attributes are set, no class patched).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

import pytest

from gateway.admin import fetch_status
from gateway.app import GatewayProcess
from gateway.entitlements import StrategyEntitlement
from gateway.journal import JOrderSent, JRequest, JSentCancel, JSentReplace
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.e2e.test_boe_pipeline import running_boe_gateway
from tests.e2e.test_engine_internal_errors import (
    REFS,
    RESTING,
    _critical,
    _FaultyJournal,
    _FaultyRisk,
    _halted,
    _login,
    _order,
    _venue_saw,
)
from tests.e2e.test_fix_pipeline import gateway_with_fix
from tests.rawclient import CANCEL, ERROR, EXECUTED, ORDER_ACCEPTED, REPLACE, frame, order_events

pytestmark = pytest.mark.timeout(120)


def _record_of(kind: type, order_id: int | None = None) -> Callable[[object], bool]:
    """Hit the first journal record of ``kind`` (inside a JRequest or not)."""

    def hit(record: object) -> bool:
        inner = record.record if isinstance(record, JRequest) else record
        return isinstance(inner, kind) and (order_id is None or getattr(inner, "order_id", None) == order_id)

    return hit


def _keep_strategies() -> dict[str, StrategyEntitlement]:
    """S1 keeps its orders when its connection drops: what the venue has is what the request did."""
    return {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()], on_disconnect="keep"),
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[os.getuid()]),
    }


async def _status(process: GatewayProcess) -> dict[str, Any]:
    """What ``gateway status --json`` prints: the admin socket's status document."""
    admin = process.config.path(process.config.admin_socket)
    return await asyncio.get_running_loop().run_in_executor(None, fetch_status, admin)


async def _next_order_events(client: Any, timeout_s: float = 20.0) -> list[list[Any]]:
    """Read until an order event comes (venue status frames of a new login skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        events = order_events(await client.read(1, timeout_s=max(deadline - loop.time(), 0.1)))
        if events:
            return events
    return []


async def _fatal(client: Any) -> str:
    messages = await client.read_until_closed(timeout_s=10)
    assert [m[:2] for m in messages] == [[ERROR, "INTERNAL_ERROR"]], messages
    assert messages[0][3] is True
    return str(messages[0][2])


def _request(kind: str, cl_ord_id: str, req_seq: int) -> bytes:
    if kind == "cancel":
        return frame(CANCEL, cl_ord_id, 0, req_seq)
    return frame(REPLACE, cl_ord_id, 200, RESTING, 0, req_seq)


@pytest.mark.parametrize("kind", ["cancel", "replace"])
async def test_ouch_cancel_or_replace_whose_journal_record_fails_then_taken_back_and_the_order_as_it_was(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_keep_strategies()) as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        other, _, _ = await _login(process, "S2")
        await one.send(_order("R1", 1))
        (accepted,) = order_events(await one.read(1))
        assert accepted[:3] == [ORDER_ACCEPTED, 1, "R1"]
        assert (await _status(process))["counters"]["internal_errors"] == 0

        faulty = _FaultyJournal(engine.journal, _record_of(JSentCancel if kind == "cancel" else JSentReplace))
        monkeypatch.setattr(engine, "journal", faulty)
        await one.send(_request(kind, "R1", 2))
        text = await _fatal(one)
        monkeypatch.undo()
        assert faulty.faults == 1
        assert "nothing of it reached venue OUCH: the order is as it was" in text, text
        # before: the Cancel / Replace left with the batch although the journal did not hold it
        await other.send(_order("Q1", 1, account="ACC2"))  # the other strategy trades on; its order a marker
        (theirs,) = order_events(await other.read(1))
        assert theirs[:3] == [ORDER_ACCEPTED, 1, "Q1"]
        assert _venue_saw(sim) == [("O", "accepted"), ("O", "accepted")]
        order = engine.strategies["S1"].orders["R1"]
        assert (order.state.name, order.qty, order.pending_qty) == ("LIVE", 100, 0)
        assert engine.counters.internal_errors == 1 and _halted(process, "ACC1") and not _halted(process, "ACC2")
        assert len(_critical(caplog)) == 1
        # gateway status --json shows the count (before: no test read it)
        assert (await _status(process))["counters"]["internal_errors"] == 1
        # the order can still be canceled (its UserRefNum as before), once the operator resumed the account
        process.resume("ACC1", "ops", "reconciled")
        again, _, welcome = await _login(process, "S1")
        assert welcome[6] == 2
        await again.send(frame(CANCEL, "R1", 0, 3))
        (canceled,) = order_events(await again.read(1))
        assert canceled[2] == "R1" and _venue_saw(sim)[-1] == ("X", "canceled")
        again.close()
        other.close()


@pytest.mark.parametrize("kind", ["new", "cancel", "replace"])
async def test_fix_request_whose_journal_record_fails_then_gap_filled_not_sent_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    caplog.set_level(logging.INFO)
    async with gateway_with_fix() as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1", venue="EQX")
        if kind == "new":
            hit = _record_of(JOrderSent)
            request = _order("F1", 1, venue="EQX")
        else:
            await one.send(_order("F1", 1, venue="EQX"))
            (accepted,) = order_events(await one.read(1))
            assert accepted[:3] == [ORDER_ACCEPTED, 1, "F1"]
            hit = _record_of(JSentCancel if kind == "cancel" else JSentReplace)
            request = _request(kind, "F1", 2)
        faulty = _FaultyJournal(engine.journal, hit)
        monkeypatch.setattr(engine, "journal", faulty)
        nxt = 2 if kind == "new" else 3
        await one.send(request + _order("F2", nxt, venue="EQX"))  # F2 is behind the fault: not carried out
        text = await _fatal(one)
        monkeypatch.undo()
        assert faulty.faults == 1
        # before (new order): "sent to venue EQX ... but the journal does not hold it"; (cancel, replace) the
        # request went out
        assert "nothing of it reached venue EQX" in text, text
        # the acceptor got a SequenceReset-GapFill under the request's MsgSeqNum, no Reject, no Logout
        await wait_for(lambda: bool(sim.messages("in", b"4")), what="the gap fill", timeout_s=10)
        (gap_fill,) = sim.messages("in", b"4")
        taken = int(gap_fill.get(b"34") or 0)
        assert (gap_fill.get(b"123"), int(gap_fill.get(b"36") or 0)) == (b"Y", taken + 1)

        def business_in() -> list[tuple[bytes | None, int]]:
            return [(m.get(b"35"), int(m.get(b"34") or 0)) for m in sim.messages("in") if m.get(b"35") in b"DFG"]

        if kind != "new":  # the disconnect policy's Cancel follows the gap fill: wait for it before judging the list
            await wait_for(lambda: len(business_in()) >= 2, what="the disconnect policy's Cancel", timeout_s=10)
        business = business_in()
        if kind == "new":  # before: the NewOrderSingle went out
            assert business == []
        else:  # before: the request went out under that number; now only the disconnect policy's Cancel, after it
            assert [t for t, _ in business] == [b"D", b"F"] and business[0][1] < taken < business[1][1], business
        assert sim.messages("out", b"3") == [] and sim.messages("out", b"5") == []
        assert engine.counters.internal_errors == 1 and _halted(process, "ACC1")
        assert len(_critical(caplog)) == 1
        assert (await _status(process))["counters"]["internal_errors"] == 1
        # the session numbers on: after the operator's resume the next order is accepted
        process.resume("ACC1", "ops", "reconciled")
        again, _, welcome = await _login(process, "S1", venue="EQX")
        assert welcome[6] == nxt - 1
        await again.send(_order("F3", nxt, venue="EQX"))
        events = order_events(await again.read(1))
        assert events[-1][:3] == [ORDER_ACCEPTED, events[-1][1], "F3"], events
        seqs = [int(m.get(b"34") or 0) for m in sim.messages("in")]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert sim.messages("out", b"3") == [] and sim.messages("out", b"2") == []
        again.close()


@pytest.mark.parametrize("kind", ["new", "cancel", "replace"])
async def test_boe_request_whose_journal_record_fails_then_taken_back_its_sequence_number_given_back(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    caplog.set_level(logging.INFO)
    async with running_boe_gateway(short_tmp()) as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1", venue="CBOE")
        if kind == "new":
            hit = _record_of(JOrderSent)
            request = _order("B1", 1, venue="CBOE")
        else:
            await one.send(_order("B1", 1, venue="CBOE"))
            (accepted,) = order_events(await one.read(1))
            assert accepted[:3] == [ORDER_ACCEPTED, 1, "B1"]
            hit = _record_of(JSentCancel if kind == "cancel" else JSentReplace)
            request = _request(kind, "B1", 2)
        venue = process.venues[0]
        seq_before = venue.session.next_outbound  # type: ignore[attr-defined]
        faulty = _FaultyJournal(engine.journal, hit)
        monkeypatch.setattr(engine, "journal", faulty)
        await one.send(request)
        text = await _fatal(one)
        monkeypatch.undo()
        assert faulty.faults == 1
        assert "nothing of it reached venue CBOE" in text, text
        assert engine.counters.internal_errors == 1 and _halted(process, "ACC1")
        process.resume("ACC1", "ops", "reconciled")
        again, _, welcome = await _login(process, "S1", venue="CBOE")
        await again.send(_order("B2", welcome[6] + 1, venue="CBOE"))
        events = order_events(await again.read(1))
        assert events[-1][2] == "B2" and events[-1][0] == ORDER_ACCEPTED, events
        seen = [(r.type, r.sequence) for r in sim.exchange.records]
        if kind == "new":  # before: B1's New Order went out; now B2's carries the number B1's gave back
            assert seen == [("New Order", seq_before)], seen
        else:  # before: the request went out under seq_before; now the disconnect policy's Cancel carries it
            assert seen[0][0] == "New Order" and seen[1:] == [
                ("Cancel Order", seq_before),
                ("New Order", seq_before + 1),
            ]
        assert sim.exchange.violations == []
        again.close()


async def test_venue_message_whose_handling_raises_then_counted_account_halted_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_keep_strategies()) as (process, _sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        other, _, _ = await _login(process, "S2")
        monkeypatch.setattr(engine, "risk", _FaultyRisk(engine.risk, "on_execution"))
        taker = frame(2, "T1", "ACC1", "OUCH", "AAPL", "B", 100, REFS["AAPL"] + 500, "0", "2", 0, 1)
        await one.send(taker + _order("R2", 2))  # T1 fills at once: applying its execution raises
        (accepted,) = order_events(await one.read(1))
        assert accepted[:3] == [ORDER_ACCEPTED, 1, "T1"]
        await wait_for(lambda: engine.counters.internal_errors == 1, what="the fault counted")
        monkeypatch.undo()
        # T1's Executed, which the journaled event implies, reached the strategy before the fault (answer54: before,
        # it never did and R2's OrderAccepted took its seq 2, so the next start refused the journal)
        events = order_events(await one.read(2))
        assert events[0][:3] == [EXECUTED, 2, "T1"], events
        # the venue session goes on: the same read's other messages, other strategies
        assert events[1][:3] == [ORDER_ACCEPTED, 3, "R2"], events
        await other.send(_order("Q1", 1, account="ACC2"))
        (theirs,) = order_events(await other.read(1))
        assert theirs[:3] == [ORDER_ACCEPTED, 1, "Q1"]
        assert process.venues[0].state.name == "UP"
        assert _halted(process, "ACC1") and not _halted(process, "ACC2")
        lines = [
            r
            for r in caplog.records
            if r.levelno == logging.CRITICAL and "INTERNAL ERROR applying venue OUCH" in r.getMessage()
        ]
        assert len(lines) == 1 and lines[0].exc_info is not None and "T1" in lines[0].getMessage()
        assert (await _status(process))["counters"]["internal_errors"] == 1
        one.close()
        other.close()


async def test_venue_write_raising_in_the_flush_then_counted_session_dropped_and_the_order_answered_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fault in the shared flush (writing one venue's bytes) reached the loop: the other strategies' answers in
    the same flush were lost with it, nothing was counted. Now that venue's connection is dropped (a protocol
    fault: it logs in again and settles its unanswered requests), the batch's accounts at it halted, the rest of
    the flush carried out."""
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_keep_strategies()) as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        venue = process.venues[0]
        real = venue._write
        assert real is not None

        def broken(data: bytes | bytearray) -> None:
            venue._write = real
            raise RuntimeError("injected fault writing to the venue")

        venue._write = broken
        await one.send(_order("R1", 1))
        # one answer for R1 after the venue's new login: the adapter re-sends what the venue never received
        events = await _next_order_events(one)
        assert [e[:3] for e in events] == [[ORDER_ACCEPTED, 1, "R1"]], events
        assert engine.counters.internal_errors == 1 and _halted(process, "ACC1") and not _halted(process, "ACC2")
        assert [r for r in sim.exchange.records if r.type == "O"] != []
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
        assert len(lines) == 1 and "writing to venue OUCH" in lines[0], lines
        assert (await _status(process))["counters"]["internal_errors"] == 1
        one.close()


async def test_venue_read_raising_in_the_adapter_then_counted_session_dropped_and_logged_in_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception out of a venue adapter's reading went to the loop (``Fatal error on transport``), uncounted.
    Now it is counted and logged at CRITICAL, and the connection dropped as for a protocol fault: the adapter
    logs in again and trading goes on. (The message being read when it raised is lost: the CRITICAL line says
    to reconcile; docs/reliability.md 2.8.)"""
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_keep_strategies()) as (process, _sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        venue = process.venues[0]
        real_sink = venue.event_sink

        def broken(event: object) -> None:
            venue.event_sink = real_sink
            raise RuntimeError("injected fault in the venue's reading")

        venue.event_sink = broken  # called by the adapter while it reads: as a fault of its own
        await one.send(_order("R1", 1))
        await wait_for(lambda: process.connectors[0].connections == 2, what="a new connection", timeout_s=20)
        await wait_for(lambda: process.venues[0].state.name == "UP", what="logged in again", timeout_s=20)
        assert engine.counters.internal_errors == 1
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
        assert len(lines) == 1 and "reading venue OUCH's messages" in lines[0], lines
        assert "reconcile" in lines[0]
        assert not [r for r in caplog.records if "Fatal error" in r.getMessage()]  # before: the loop's ERROR only
        await one.send(_order("R2", 2))
        events = await _next_order_events(one)
        assert [e[:3] for e in events] == [[ORDER_ACCEPTED, 1, "R2"]], events
        assert (await _status(process))["counters"]["internal_errors"] == 1
        one.close()
