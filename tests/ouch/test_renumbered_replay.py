"""A venue whose Login Accepted goes below the number asked for, then replays the messages already applied.

SoupBinTCP says Login Accepted's number is the next message the server sends; below the one requested under the same
session id, the gateway takes the venue's messages from it on as new (it restarted its numbering). A venue that
sends the old messages again instead (rev44ouch s10) had every Executed caught by its Match Number, but a partial
Canceled (a decrement) was applied twice. Up to the old high water, a message about an order is judged by what it
says (fixouch45): an answer to a request not waiting, or a Canceled no later than the last one applied to the order,
is dropped (``replayed_after_renumbering``); anything new is applied. Real engine and journal over the project's OUCH
simulator, fake clock; the Canceled messages are golden bytes from the OUCH 5.0 tables.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Canceled, NewOrder, Replace
from model.enums import Side
from model.venue_events import VenueState
from tests.harness import MemoryLink
from tests.ouch.golden import hexb
from tests.ouch.harness import PX, TS, Link, gateway_over, restart_from_journal

RESTING = PX - 100


def _canceled(ts: int, urn: int, qty: int) -> bytes:
    """Order Canceled: Type C | Timestamp u64 | UserRefNum u32 | Quantity u32 | Reason S | Appendage Length 0."""
    return hexb(
        "43",
        ts.to_bytes(8, "big").hex(" "),
        urn.to_bytes(4, "big").hex(" "),
        qty.to_bytes(4, "big").hex(" "),
        "53",
        "00 00",
    )


def _two_orders_a_cancel_and_a_fill(tmp_path: Path) -> tuple[Link, Engine, MemoryLink]:
    """a1 and b1 accepted (1, 2); the venue takes 20 off a1 (3, at TS + 5 us) and fills 30 of b1 (4)."""
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    for cl_ord_id in ("a1", "b1"):
        rig.send(strat, NewOrder(cl_ord_id, "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        engine.flush()
        link.pump()
        engine.flush()
    link.core.stream.append(_canceled(TS + 5_000, 1, 20))
    assert link.core.exchange.execute(2, 30)
    link.pump()
    engine.flush()
    assert [(type(m).__name__, m.cl_ord_id) for m in _order_events(strat)] == [
        ("OrderAccepted", "a1"),
        ("OrderAccepted", "b1"),
        ("Canceled", "a1"),
        ("Executed", "b1"),
    ]
    assert link.core.stream.next_sequence == 5
    return link, engine, strat


def _relogin_below(link: Link, engine: Engine, replayed: list[bytes]) -> None:
    """The venue answers the next login with Login Accepted 1 (same session), then sends ``replayed`` packets."""
    link.disconnect()
    del link.core.stream.packets[:]  # so its Login Accepted says 1
    now = link.clock()
    link.connection = link.core.connect(now)
    link.venue.attach(link._write, link._close)
    link.venue.connection_made(now)
    link.venue.flush()
    link.core.receive(link.connection, bytes(link._to_server), now)
    link._to_server.clear()
    link.core.stream.packets[:] = replayed  # sent from 1 on after the Login Accepted
    link.pump()
    link.settle()
    engine.flush()


def _order_events(strat: MemoryLink) -> list[Any]:
    """Return what the strategy received about its orders (venue status messages left out)."""
    return [m for m in strat.received() if hasattr(m, "cl_ord_id")]


def _open(engine: Engine) -> dict[str, int]:
    return {order.cl_ord_id: order.leaves_qty for order in engine.orders.values()}


def test_login_below_when_the_venue_replays_the_messages_applied_then_none_is_applied_twice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, strat = _two_orders_a_cancel_and_a_fill(tmp_path)
    assert _open(engine) == {"a1": 80, "b1": 70}

    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _relogin_below(link, engine, list(link.core.stream.packets))

    assert link.venue.state is VenueState.UP
    status = link.venue.status()
    assert (status["numbering_restarts"], status["replayed_after_renumbering"]) == (1, 3)  # A, A, C; E by Match Number
    assert _open(engine) == {"a1": 80, "b1": 70}  # the Canceled of 20 is not taken off a second time
    assert _order_events(strat) == []
    assert "repeats one already applied" in caplog.text

    link.core.stream.append(_canceled(TS + 9_000, 1, 10))  # the venue's next message is new: applied
    link.pump()
    engine.flush()
    (canceled,) = _order_events(strat)
    assert isinstance(canceled, Canceled) and (canceled.cl_ord_id, canceled.leaves_qty) == ("a1", 70)
    assert link.venue.status()["replayed_after_renumbering"] == 3


def test_login_below_when_the_venue_sends_new_messages_then_they_are_applied(tmp_path: Path) -> None:
    link, engine, strat = _two_orders_a_cancel_and_a_fill(tmp_path)

    # the venue restarted its numbering but kept its book: its first message is a new Canceled of a1, then a1's
    # Canceled of 20 comes again (its old Timestamp): the first is applied, the second is not
    _relogin_below(link, engine, [])
    assert link.venue.state is VenueState.UP
    link.core.stream.append(_canceled(TS + 7_000, 1, 15))
    link.core.stream.append(_canceled(TS + 5_000, 1, 20))
    link.pump()
    engine.flush()

    assert [(type(m).__name__, m.cl_ord_id, m.leaves_qty) for m in _order_events(strat)] == [("Canceled", "a1", 65)]
    assert _open(engine) == {"a1": 65, "b1": 70}
    assert link.venue.status()["replayed_after_renumbering"] == 1


def test_login_below_when_the_venue_replays_an_order_released_here_then_no_alarm_and_no_cancel(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev46diff: a replayed Accepted of an order ended and released here was an ERROR, live_after_end and a Cancel."""
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    engine.terminal_orders_kept = 0
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("a1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    link.core.stream.append(_canceled(TS + 5_000, 1, 100))  # the venue cancels all of it: the order ends
    link.pump()
    engine.flush()
    (order,) = engine.orders.values()
    link.venue.forget(order)  # as the engine does when it releases a terminal order
    records = len(link.core.exchange.records)

    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _relogin_below(link, engine, list(link.core.stream.packets))

    status = link.venue.status()
    assert (status["live_after_end"], status["late_cancels_waiting"]) == (0, 0)
    assert status["replayed_after_renumbering"] == 2  # its Accepted and its Canceled
    assert link.core.exchange.records[records:] == []  # no Cancel for a dead order
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_login_below_after_a_restart_when_the_venue_replays_a_replaced_order_then_no_alarm_and_no_cancel(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev46ouch t4: after a restart the Accepted of a number a Replace retired read as an order live after end."""
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("a1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    rig.send(strat, Replace("a1", 80, RESTING - 100))
    engine.flush()
    link.pump()
    engine.flush()
    assert [type(m).__name__ for m in _order_events(strat)] == ["OrderAccepted", "Replaced"]
    packets = list(link.core.stream.packets)
    link.disconnect()  # kill -9

    second, engine2, _rig2 = restart_from_journal(link, tmp_path)
    # the gateway's journal directory holds j1's records after a restart; this harness journals to j2: its search
    # answers as the real one does for the numbers of j1 (UserRefNum 1 and 2: order 1)
    second.venue.order_of_ref = lambda venue, ref, session: 1 if ref in (1, 2) else 0
    records = len(second.core.exchange.records)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _relogin_below(second, engine2, packets)

    assert second.venue.state is VenueState.UP
    status = second.venue.status()
    assert (status["live_after_end"], status["late_cancels_waiting"]) == (0, 0)
    assert status["replayed_after_renumbering"] == 2  # the Accepted of UserRefNum 1, the Replaced 1 -> 2
    assert [r.type for r in second.core.exchange.records[records:]] == ["Q"]  # its Account Query; no stray Cancel
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert _open(engine2) == {"a1": 80}


def test_login_below_after_a_restart_when_the_venue_replays_a_partial_canceled_then_not_applied_twice(
    tmp_path: Path,
) -> None:
    """rev46ouch t4/t4b: the Canceled Timestamps were kept in memory only: after kill -9 the copy was applied again."""
    link, _engine, _strat = _two_orders_a_cancel_and_a_fill(tmp_path)
    packets = list(link.core.stream.packets)
    link.disconnect()  # kill -9

    second, engine2, _rig2 = restart_from_journal(link, tmp_path)
    assert _open(engine2) == {"a1": 80, "b1": 70}
    a1 = next(o for o in engine2.orders.values() if o.cl_ord_id == "a1")
    assert a1.venue_cancel_ts == TS + 5_000  # the Canceled's Timestamp, rebuilt from the journal
    _relogin_below(second, engine2, packets)

    assert second.venue.state is VenueState.UP
    assert _open(engine2) == {"a1": 80, "b1": 70}  # the Canceled of 20 is not taken off a second time
    assert second.venue.counters["replayed_after_renumbering"] == 3  # A, A, C; the E by its Match Number
    second.core.stream.append(_canceled(TS + 9_000, 1, 10))  # the venue's next message is new: applied
    second.pump()
    engine2.flush()
    assert _open(engine2) == {"a1": 70, "b1": 70}
