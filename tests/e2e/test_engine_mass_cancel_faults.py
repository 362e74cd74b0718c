"""A fault of the gateway's own on one order of a MassCancel is that order's alone (rev53diff 2).

Before, an injected journal fault on the first matched order's ``JSentCancel`` (journal before wire: the adapter takes
that Cancel back) ended the loop and the session (fatal ``Error(INTERNAL_ERROR)``, "its outcome is unknown"), after a
``MassCancelAck`` that had counted all three: with ``on_disconnect: keep`` every matched order stayed live. Now, as in
the kill switch's loop, the fault is counted and logged at CRITICAL naming that order, its account is halted, the
other orders' Cancels go out, and that order gets a ``CancelRejected`` ``INTERNAL_ERROR`` saying what happened: each
order the Ack counts ends with its own event (protocol doc 5). The session stays up. Real gateway, real OUCH simulator
on loopback.
"""

from __future__ import annotations

import logging
import os

import pytest

from gateway.entitlements import StrategyEntitlement
from gateway.journal import JSentCancel
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.e2e.test_engine_internal_errors import REFS, _critical, _FaultyJournal, _halted, _login, _order, _venue_saw
from tests.e2e.test_journal_before_wire import _record_of
from tests.rawclient import CANCEL, CANCEL_REJECTED, CANCELED, MASS_CANCEL, MASS_CANCEL_ACK, ORDER_ACCEPTED, frame

pytestmark = pytest.mark.timeout(120)


async def test_mass_cancel_when_one_orders_cancel_faults_then_the_others_go_out_and_it_is_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    strategies = {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()], on_disconnect="keep"),
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[os.getuid()]),
    }
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=strategies) as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        for n, cl_ord_id in enumerate(("R1", "R2", "R3"), start=1):
            await one.send(_order(cl_ord_id, n))
            (accepted,) = await one.read(1)
            assert accepted[:3] == [ORDER_ACCEPTED, n, cl_ord_id]
        first = engine.strategies["S1"].orders["R1"]
        faulty = _FaultyJournal(engine.journal, _record_of(JSentCancel, first.order_id))
        engine.journal = faulty
        try:
            await one.send(frame(MASS_CANCEL, "", "", "", "M1", 4))
            got = await one.read(4)  # before: the Ack, then the fatal Error INTERNAL_ERROR and the close
        finally:
            engine.journal = faulty._real
        assert faulty.faults == 1
        assert got[0] == [MASS_CANCEL_ACK, "M1", 3]
        by_order = {m[2]: m for m in got[1:]}
        assert sorted(by_order) == ["R1", "R2", "R3"], got
        assert by_order["R1"][0] == CANCEL_REJECTED and by_order["R1"][3:5] == ["GATEWAY", "INTERNAL_ERROR"], got
        text = by_order["R1"][5]
        assert "MassCancel 'M1'" in text and "nothing of it reached venue OUCH" in text, text
        assert "halted" in text and "cancel it again" in text, text
        assert by_order["R2"][0] == CANCELED and by_order["R3"][0] == CANCELED, got
        states = {o.cl_ord_id: o.state.name for o in engine.strategies["S1"].orders.values()}
        assert states == {"R1": "LIVE", "R2": "CANCELED", "R3": "CANCELED"}, states
        assert [s for s in _venue_saw(sim) if s[0] == "X"] == [("X", "canceled"), ("X", "canceled")]
        assert engine.counters.internal_errors == 1 and _halted(process, "ACC1") and not _halted(process, "ACC2")
        (critical,) = _critical(caplog)
        line = critical.getMessage()
        assert "MassCancel 'M1'" in line and "R1" in line and "the order is still live at venue OUCH" in line, line
        # the session is up: R1 can be canceled again (cancels pass a halted account), and it goes out
        await one.send(frame(CANCEL, "R1", 0, 5))
        (canceled,) = await one.read(1)
        assert canceled[0] == CANCELED and canceled[2] == "R1", canceled
        await wait_for(lambda: len([s for s in _venue_saw(sim) if s[0] == "X"]) == 3, what="R1's Cancel")
        # a re-sent MassCancel is a duplicate: the same Ack again, nothing carried out again (protocol doc 4.5)
        await one.send(frame(MASS_CANCEL, "", "", "", "M1", 4))
        (again,) = await one.read(1)
        assert again == [MASS_CANCEL_ACK, "M1", 3]
        one.close()
