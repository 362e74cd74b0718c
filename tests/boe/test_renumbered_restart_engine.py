"""BOE: a restart from the real journal after Cboe renumbered a unit that sent nothing since (rev48boe 1).

Cboe restarts unit 2's numbering and the gateway handles it; no unit-2 message comes after that; a New Order
to unit 1 is lost in transit; the gateway dies (nothing of it flushed beyond the journal) and a new one recovers
from the journal file. The old code listed unit 2 at its old mark, took Cboe's lower highest for a renumbering
again and probed the order: the strategy got ``BOE_ANSWER_LOST`` for an order Cboe never received. Now the
order is re-sent once (docs/venues/boe.md: S > L, re-sent under the same ClOrdID) and Cboe accepts it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.entitlements import Entitlements, StrategyEntitlement
from gateway.journal import FileJournal, read_journal
from gateway.protocol.messages import NewOrder
from gateway.recovery import recover
from model.enums import Side
from model.fsync import FsyncPolicy
from model.order import OrderState
from model.venue_events import VenueState
from tests.boe.harness import DAY_NS, PX, Link, gateway_over
from tests.harness import LimitRisk
from venues.boe.adapter import BoeVenue, split_ref

RESTING = PX - 100


def _pump(link: Link, engine: Engine) -> None:
    link.pump()
    engine.flush()


def _up(link: Link, engine: Engine) -> int:
    """Connect until the venue is UP; return how many connections it took."""
    for attempt in range(1, 4):
        link.connect()
        _pump(link, engine)
        if link.venue.state is VenueState.UP:
            return attempt
        link.disconnect()
    raise AssertionError(link.venue.reason)


def _restart(link: Link, engine: Engine, journal: Path) -> Engine:
    """The gateway process dies; a new one recovers from the journal file and resumes the venue as ``app`` does."""
    link.disconnect()
    engine.journal.close()
    link.venue = BoeVenue(link.config, link.clock, wall=lambda: DAY_NS)
    again = Engine(
        risk=LimitRisk(max_qty=1_000_000),
        venues=[link.venue],
        entitlements=Entitlements({"S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000])}, gateway_uid=1000),
        clock=link.clock,
        journal=FileJournal(journal, fsync=FsyncPolicy.NONE),
    )
    recovered = recover(read_journal(journal))
    again.adopt(recovered)
    point = recovered.resume.get(link.config.name)
    assert point is not None
    link.venue.resume_after(point)
    return again


def test_restart_from_the_journal_after_a_renumbering_when_a_new_order_was_lost_then_it_is_resent_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path / "boe")
    journal = tmp_path / "journal"
    engine, rig = gateway_over(link, journal)
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "MSFT", Side.BUY, 100, RESTING))  # unit 2
    rig.send(strat, NewOrder("B", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))  # unit 1
    _pump(link, engine)
    link.disconnect()
    link.core.restart_numbering(2)
    assert _up(link, engine) == 2  # Q, then the login listing unit 2 from 0; nothing on unit 2 after it
    rig.send(strat, NewOrder("C", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()  # journaled and written to the socket, then the connection breaks: Cboe never got it
    [lost] = [o for o in engine.orders.values() if o.cl_ord_id == "C"]
    cl_ord_id = split_ref(lost.venue_ref)[0]
    caplog.set_level(logging.WARNING, logger="venues.boe.adapter")
    caplog.clear()
    for _start in (2, 3):  # kill -9, twice
        engine = _restart(link, engine, journal)
        assert _up(link, engine) == 1  # no Q: unit 2 listed at 0 of its new numbering
        assert link.venue.status()["numbering_restarts"] == 0
        assert link.venue.counters["probes"] == 0
    assert not [r for r in caplog.records if "restarted the numbering" in r.getMessage()]
    order = engine.orders[lost.order_id]
    assert order.state is OrderState.LIVE
    assert [r.cl_ord_id for r in link.exchange_records if r.type == "New Order"].count(cl_ord_id) == 1
    assert link.core.exchange.violations == []
