"""A Cancel owed to the venue survives a restart (fixouch46).

An Order Accepted that acknowledges another order than the Enter sent (``OUCH_ACCEPTED_MISMATCH``) leaves the
venue working an order the gateway no longer tracks: the adapter cancels it at the venue, again after each login
until the venue answers. A crash (kill -9) after the mismatch is journaled but before the Cancel reached the venue
must not lose it: the next process cancels it after its replay. Real engine and journal over the project's OUCH
simulator (fake clock); the venue's Accepted is edited at the Symbol offset of the OUCH 5.0 table.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.protocol.messages import NewOrder, OrderRejected
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from tests.harness import MemoryLink
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal
from venues.ouch.owed import load_owed_cancels

SYMBOL = 18  # Order Accepted: Type 0, Timestamp 1, UserRefNum 9, Side 13, Quantity 14, Symbol 18, Price 26


def _mismatch_then_crash(tmp_path: Path) -> tuple[Link, Engine, MemoryLink]:
    """Send one order; the venue accepts it as MSFT; the gateway dies before its Cancel reaches the venue."""
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("a1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    packet = bytearray(link.core.stream.packets[-1])
    assert packet[3:4] == b"A"
    packet[3 + SYMBOL : 3 + SYMBOL + 8] = b"MSFT    "
    link.core.stream.packets[-1] = bytes(packet)
    out, _cut = link.core.output(link.connection, link.clock())
    link.venue.data_received(bytes(out), link.clock())  # the Accepted reaches the gateway ...
    engine.flush()  # ... the rejection is journaled, the Cancel written to the socket ...
    link.disconnect()  # ... and lost with the process (kill -9): the venue never saw it
    (answer,) = strat.received()
    assert isinstance(answer, OrderRejected) and answer.code == "OUCH_ACCEPTED_MISMATCH"
    assert [r.type for r in link.core.exchange.records] == ["O"]
    assert link.venue.status()["late_cancels_waiting"] == 1
    return link, engine, strat


def test_cancel_owed_after_a_mismatched_accepted_when_the_gateway_restarts_then_sent_after_the_login(
    tmp_path: Path,
) -> None:
    first, _engine, _strat = _mismatch_then_crash(tmp_path)

    second, engine, _rig = restart_from_journal(first, tmp_path)
    assert second.venue.status()["late_cancels_waiting"] == 1  # read back from the state dir
    second.connect()
    engine.flush()
    second.pump()

    assert second.venue.state is VenueState.UP
    assert [(r.type, r.user_ref_num) for r in second.core.exchange.records] == [("O", 1), ("X", 1)]
    assert second.venue.status()["late_cancels_waiting"] == 0  # the venue answered it (Canceled)
    (order,) = engine.orders.values()
    assert order.state is OrderState.REJECTED

    store = second.store  # answered: nothing owed on file for the next process
    assert load_owed_cancels(second.state_dir, second.config.name, store.day, store.session) == {}
