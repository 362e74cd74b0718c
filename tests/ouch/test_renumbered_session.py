"""A venue that restarts its SoupBinTCP numbering under the same session name (it lost its state).

Login Accepted's sequence number is authoritative (SoupBinTCP: the next message the server sends). When it
is below the one requested, the messages from it on are the venue's new numbering: none may be dropped as
already seen, and after a gateway restart the journal's numbering must carry on from where it was.
"""

from __future__ import annotations

from pathlib import Path

from gateway.protocol.messages import NewOrder, OrderAccepted
from model.enums import Side
from model.order import mark_sent
from model.venue_events import VenueAccepted, VenueState
from tests.ouch.harness import PX, Link, gateway_over, make_order, restart_from_journal

RESTING = PX - 100


def test_relogin_when_the_venue_restarted_its_numbering_then_its_new_messages_are_not_dropped(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.connect()
    for i in range(5):  # five Accepted: the venue's messages 1..5
        order = make_order(100 + i, price=RESTING)
        mark_sent(order, link.send_new(order))
    assert len(link.events) == 5
    link.disconnect()
    link.core = link.new_core()  # same session name, numbering from 1
    link.connect()
    assert link.venue.state is VenueState.UP
    assert link.venue.status()["numbering_restarts"] == 1
    link.send_new(make_order(200, price=RESTING))  # the new venue's message 1 (or 2 after an Account Query)
    accepted = [e for e in link.events if isinstance(e, VenueAccepted)]
    assert [e.order_id for e in accepted] == [100, 101, 102, 103, 104, 200]


def test_restart_after_a_renumbered_session_then_the_journal_numbering_carries_on(tmp_path: Path) -> None:
    first = Link(tmp_path / "ouch")
    engine, rig = gateway_over(first, tmp_path / "j1")
    first.connect()
    strat = rig.connect("S1")
    rig.send(strat, *(NewOrder(f"a{i}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING) for i in range(3)))
    first.pump()
    engine.flush()
    first.disconnect()
    first.core = first.new_core()
    first.connect()
    engine.flush()
    rig.send(strat, NewOrder("b0", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    first.pump()
    engine.flush()
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["a0", "a1", "a2", "b0"]
    engine.journal.close()
    # the gateway restarts from its journal and logs in again: it asks for the new numbering's next message,
    # and nothing the venue sends again is applied twice
    second, engine2, rig2 = restart_from_journal(first, tmp_path)
    strat2 = rig2.connect("S1")
    strat2.received()  # the Welcome and its replay
    second.venue.status()  # before the login: resumes from the journal
    second.connect()
    engine2.flush()
    assert second.venue.state is VenueState.UP
    assert second.wire and b"OUCHSIM" in second.wire[0]  # the login names the session, not the journal's epoch
    assert second.venue.status()["next_sequence"] == first.venue.status()["next_sequence"]
    assert [m for m in strat2.received() if isinstance(m, OrderAccepted)] == []
