"""The answer timeout while the journal cannot be written: bytes not sent are not timed (rev53ops HIGH 1).

While the journal fails (disk full) the engine holds every venue byte: "the orders already taken wait and go out
then" (docs/ops-guide.md section 6, docs/reliability.md 2.3a). The OUCH answer-timeout sweep timed each Enter from
when it was numbered, not from when it left: 5 s into the spell it answered the held orders OrderAccepted in doubt,
10 s in it ended them Canceled OUCH_OUTCOME_UNKNOWN and released their exposure, and once the disk was freed the held
Enters went out and traded after the strategy had been told Canceled. Now the sweep waits while this venue's bytes
are held; after the spell the Enters are timed from when they left.

Real engine and FileJournal over the OUCH simulator (fake clock); the journal's descriptor is pointed at /dev/full
(every write fails ENOSPC, as on a full disk), then back at its file, as tests/test_status_journal_failures.py does.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.journal import FileJournal
from gateway.protocol.messages import NewOrder, OrderAccepted, VenueStatus
from model.enums import Side
from model.order import OrderState
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, Link, gateway_over

RESTING = PX - 100


def _run(link: Link, engine: object, ms: int) -> None:
    """Let ``ms`` pass in steps of 100 ms, both sides' timers running; the venue's bytes leave only by the engine.

    Not ``Link.pump``: it flushes the adapter itself, past the journal's hold; here only ``Engine.flush`` (journal
    first, then the venues, as the gateway's loop does after every callback) writes to the venue.
    """
    for _ in range(ms // 100):
        link.clock.advance_ms(100)
        now = link.clock()
        link.venue.poll(now)
        engine.flush()  # type: ignore[attr-defined]
        assert link.connection is not None, "the session dropped"
        link.core.poll(link.connection, now)
        while True:
            moved = False
            if link._to_server:
                data = bytes(link._to_server)
                link._to_server.clear()
                link.core.receive(link.connection, data, now)
                moved = True
            out, cut = link.core.output(link.connection, now)
            assert not cut, "the venue cut the session"
            if out:
                link.venue.data_received(bytes(out), now)
                engine.flush()  # type: ignore[attr-defined]
                moved = True
            if not moved:
                break


def _events(strat: object) -> list[object]:
    return [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]


def test_orders_held_while_the_journal_fails_when_longer_than_both_timeouts_then_sent_after_and_answered_once(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    journal = engine.journal
    assert isinstance(journal, FileJournal)
    journal.check_file = lambda: ("", False)  # type: ignore[method-assign]  # the swapped descriptor is the point
    saved = os.dup(journal._fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, journal._fd)  # the disk is full
    os.close(full)
    try:
        rig.send(strat, NewOrder("held", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        engine.flush()
        assert engine.journal_error  # the write failed: nothing leaves
        _run(link, engine, 12_000)  # past answer_timeout_ms (5 s) and the Cancel's own (5 s more); under the 15 s
        assert _events(strat) == []  # no answer yet: it waits with its journal record
        status = link.venue.status()
        assert status["answer_timeouts"] == 0 and status["outcome_unknown"] == 0, status
        assert [r for r in link.core.exchange.records if r.type == "O"] == []  # nothing reached the venue
        assert link.venue.poll(link.clock()) >= 10_000_000  # the overdue sweep waits without busy polling (held54)
    finally:
        os.dup2(saved, journal._fd)  # space again
        os.close(saved)
    _run(link, engine, 1_000)
    assert not engine.journal_error
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted) and accepted.cl_ord_id == "held" and accepted.venue_order_id, accepted
    _run(link, engine, 12_000)  # answered: nothing more, whatever the timers do
    assert _events(strat) == []
    status = link.venue.status()
    assert status["answer_timeouts"] == 0 and status["outcome_unknown"] == 0, status
    (order,) = engine.orders.values()
    assert order.state is OrderState.LIVE
