"""A venue that restarts its numbering under the same session id and lost its orders (rev38strat s21, rev38ouch s12).

Its NextUserRefNum (the Account Query after the replay) is at or below the numbers of our open orders: it never
saw them. Before ouchfix38 they stayed open in the gateway and a Cancel of one (held while the venue was down,
or a MassCancel's) went to a venue that silently ignores it: never answered. Now each such order ends with
Canceled "OUCH_SESSION_CHANGED"; an Enter the venue never answered is still sent again, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, MassCancel, NewOrder, OrderAccepted, Replace
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal

RESTING = PX - 100


def _answers(messages: Sequence[object]) -> dict[str, list[str]]:
    """Return cl_ord_id -> the kinds of answer (with a Canceled's reason) the strategy got."""
    seen: dict[str, list[str]] = {}
    for m in messages:
        if isinstance(m, Canceled):
            seen.setdefault(m.cl_ord_id, []).append(f"Canceled {m.reason} leaves {m.leaves_qty}")
        elif isinstance(m, (OrderAccepted, CancelRejected)):
            seen.setdefault(m.cl_ord_id, []).append(type(m).__name__)
    return seen


def test_venue_lost_its_orders_then_held_cancels_are_answered_and_the_orders_end(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, *(NewOrder(f"a{i}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING) for i in range(4)))
    link.pump()
    engine.flush()
    strat.received()
    link.disconnect()
    engine.flush()
    # while the venue is down: a Cancel (held), a Replace (refused: venue down), a MassCancel, a new order (refused)
    rig.send(strat, Cancel("a0"), Replace("a1", 50, RESTING))
    engine.flush()
    link.core = link.new_core()
    link.connect()
    engine.flush()
    link.pump()
    engine.flush()
    assert link.venue.state is VenueState.UP
    answers = _answers(strat.received())
    assert answers["a0"] == ["Canceled OUCH_SESSION_CHANGED leaves 0"]  # old: nothing (its Cancel ignored)
    assert answers["a2"] == ["Canceled OUCH_SESSION_CHANGED leaves 0"]
    orders = {o.cl_ord_id: o for o in engine.orders.values()}
    assert all(orders[f"a{i}"].state is OrderState.CANCELED for i in range(4))
    status = link.venue.status()
    assert (status["numbering_restarts"], status["lost_by_venue"], status["awaiting_answer"]) == (1, 4, 0)
    # the restarted venue takes new orders, and a Cancel of a lost order is refused by the core (order over)
    rig.send(strat, NewOrder("b0", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING), MassCancel())
    link.pump()
    engine.flush()
    link.pump()
    engine.flush()
    later = _answers(strat.received())
    assert later["b0"][0] == "OrderAccepted"
    assert later["b0"][-1].startswith("Canceled")  # the MassCancel reached the venue, which answered it


def test_venue_lost_its_orders_while_the_gateway_was_down_then_the_restart_ends_them(tmp_path: Path) -> None:
    first = Link(tmp_path / "ouch")
    engine, rig = gateway_over(first, tmp_path / "j1")
    first.connect()
    strat = rig.connect("S1")
    rig.send(strat, *(NewOrder(f"a{i}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING) for i in range(2)))
    first.pump()
    engine.flush()
    first.disconnect()
    rig.send(strat, Cancel("a0"))  # held: the venue is down
    engine.flush()
    engine.journal.close()
    first.core = first.new_core()
    second, engine2, rig2 = restart_from_journal(first, tmp_path)
    strat2 = rig2.connect("S1")
    strat2.received()
    second.connect()
    engine2.flush()
    second.pump()
    engine2.flush()
    assert second.venue.state is VenueState.UP
    answers = _answers(strat2.received())
    assert answers == {
        "a0": ["Canceled OUCH_SESSION_CHANGED leaves 0"],
        "a1": ["Canceled OUCH_SESSION_CHANGED leaves 0"],
    }
    assert second.venue.status()["lost_by_venue"] == 2


def test_numbering_restarted_but_the_venue_kept_its_orders_then_they_stay_open(tmp_path: Path) -> None:
    """A venue that renumbers but has seen our numbers (NextUserRefNum above them) keeps them: nothing ends."""
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("a0", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    link.pump()
    engine.flush()
    link.disconnect()
    del link.core.stream.packets[:]  # numbering from 1 again, its book and UserRefNums kept
    link.connect()
    engine.flush()
    assert link.venue.state is VenueState.UP
    assert link.venue.status()["lost_by_venue"] == 0
    rig.send(strat, Cancel("a0"))
    link.pump()
    engine.flush()
    assert _answers(strat.received())["a0"] == ["OrderAccepted", "Canceled U leaves 0"]
