"""System Event ``E`` (end of day): new orders are refused, cancels still go out (rev38ouch s12, ouchfix38).

Before ouchfix38 the event was only counted: the gateway stayed UP and kept sending Enters the venue refuses.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, NewOrder, OrderAccepted, OrderRejected
from model.enums import Side
from model.venue_events import VenueState
from tests.harness import Rig
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal
from venues.ouch.refstore import UserRefNumStore

RESTING = PX - 100


def test_end_of_day_then_new_orders_refused_and_cancels_go_out_until_start_of_day(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    link.pump()
    engine.flush()
    strat.received()
    link.core.exchange.system_event("E")
    link.pump()
    engine.flush()
    rig.send(strat, NewOrder("B", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING), Cancel("A"))
    link.pump()
    engine.flush()
    got = strat.received()
    rejected = [(m.cl_ord_id, m.code) for m in got if isinstance(m, OrderRejected)]
    assert rejected == [("B", "OUCH_END_OF_DAY")]  # old: sent to the venue
    assert [(m.cl_ord_id, m.leaves_qty) for m in got if isinstance(m, Canceled)] == [("A", 0)]
    assert link.venue.status()["day_ended"] is True
    link.core.exchange.system_event("S")
    link.pump()
    engine.flush()
    rig.send(strat, NewOrder("C", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    link.pump()
    engine.flush()
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["C"]


def _end_the_day_and_restart(tmp_path: Path, *events: str) -> tuple[Link, Engine, Rig]:
    """Run a gateway that sees the System Events ``events``, stop it, restart it from its journal and log in."""
    first = Link(tmp_path / "ouch")
    engine, rig = gateway_over(first, tmp_path / "j1")
    first.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    first.pump()
    engine.flush()
    strat.received()
    for code in events:
        first.core.exchange.system_event(code)
        first.pump()
        engine.flush()
    rig.send(strat, Cancel("A"))  # its Canceled, journaled, follows the events: a restart does not read them again
    first.pump()
    engine.flush()
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, Canceled)] == ["A"]
    first.venue.close()  # waits for the end-of-day mark's write, as the gateway's stop does
    first.disconnect()
    engine.journal.close()
    second, engine2, rig2 = restart_from_journal(first, tmp_path)
    second.connect()
    engine2.flush()
    assert second.venue.state is VenueState.UP
    return second, engine2, rig2


def _entered(link: Link) -> list[str]:
    """Return the ClOrdID of every Enter Order the venue received (the gateway's order ids)."""
    return [r.cl_ord_id.strip() for r in link.core.exchange.records if r.type == "O"]


def test_end_of_day_when_the_gateway_restarts_the_same_session_day_then_new_orders_still_refused(
    tmp_path: Path,
) -> None:
    second, engine2, rig2 = _end_the_day_and_restart(tmp_path, "E")
    assert second.venue.status()["day_ended"] is True  # old: False, the mark was lost with the process
    entered = _entered(second)
    strat = rig2.connect("S1")
    strat.received()
    rig2.send(strat, NewOrder("B", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    second.pump()
    engine2.flush()
    got = strat.received()
    assert [(m.cl_ord_id, m.code) for m in got if isinstance(m, OrderRejected)] == [("B", "OUCH_END_OF_DAY")]
    assert _entered(second) == entered  # B never reached the venue (old: it did, and the venue refused it)


def test_end_of_day_when_start_of_day_came_before_the_restart_then_new_orders_go_out(tmp_path: Path) -> None:
    second, engine2, rig2 = _end_the_day_and_restart(tmp_path, "E", "S")
    assert second.venue.status()["day_ended"] is False
    strat = rig2.connect("S1")
    strat.received()
    rig2.send(strat, NewOrder("B", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    second.pump()
    engine2.flush()
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["B"]


def _ended(store: UserRefNumStore) -> bool:
    """Return the store's end-of-day mark now (not narrowed by an earlier assert)."""
    return store.day_ended


def test_end_of_day_mark_when_read_on_another_day_or_bound_to_another_session_then_not_ended(tmp_path: Path) -> None:
    day = ["2024-05-01"]
    store = UserRefNumStore(tmp_path, "nasdaq", today=lambda: day[0])
    store.bind("SESSION1")
    store.mark_day_ended(True)
    assert _ended(store) and store.wait_end_of_day_written(5)
    same_day = UserRefNumStore(tmp_path, "nasdaq", today=lambda: day[0])
    assert _ended(same_day)  # old: no such mark
    same_day.bind("SESSION2")  # the venue started another session: it takes orders again
    assert not _ended(same_day)
    assert not UserRefNumStore(tmp_path, "nasdaq", today=lambda: day[0]).day_ended  # the state file names SESSION2
    day[0] = "2024-05-02"
    assert not UserRefNumStore(tmp_path, "nasdaq", today=lambda: day[0]).day_ended
    day[0] = "2024-05-01"
    same_day.mark_day_ended(True)
    assert same_day.wait_end_of_day_written(5)
    assert UserRefNumStore(tmp_path, "nasdaq", today=lambda: day[0]).day_ended
    same_day.mark_day_ended(False)  # Start of Day
    assert not _ended(same_day) and same_day.wait_end_of_day_written(5)
    assert not UserRefNumStore(tmp_path, "nasdaq", today=lambda: day[0]).day_ended


def test_end_of_day_mark_when_the_file_is_unreadable_then_taken_as_not_ended(tmp_path: Path) -> None:
    store = UserRefNumStore(tmp_path, "nasdaq", today=lambda: "2024-05-01")
    store.bind("SESSION1")
    store.eod_path.write_text("{not json")
    assert not UserRefNumStore(tmp_path, "nasdaq", today=lambda: "2024-05-01").day_ended
