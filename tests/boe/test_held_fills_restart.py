"""A BOE fill held while the journal cannot be read survives a stop, is applied once, and held fills are capped (boe55).

fixboe54 held a late fill of an order released from memory when the engine could not read the order back from the
journal, and asked again every second, in memory only: nothing journaled the fill, and once anything later on its
matching unit was journaled the journal's mark was past its number, so after a stop (clean or ``kill -9``) the login
listed the unit above it, Cboe did not replay it, and the fill was gone from the position (an ERROR named it). Now
the held execution is written to ``<state_dir>/<name>.boe-held-fills.json`` before anything after it is journaled;
the next process of the day holds it again and applies it once the order reads back, exactly once: a copy applied
before the stop (the file not yet rewritten) or replayed by Cboe is not applied again. And at most
``held_fills_cap`` are held: one more is logged at ERROR, counted ``executions_held_over_cap``, put on the
corrections file (Cboe's replay of it after a restart is "reported before", not applied after ops corrected the
position by hand).

Against the sans-IO BOE simulator (it keeps running across the gateway's restart), through a real engine and its
file journal, recovered by a new engine as ``gateway run`` does.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import NewOrder
from model.enums import Side
from model.order import Order, OrderState
from tests.boe.harness import Link
from tests.boe.test_modify_up_crossed_by_fill import RESTING, _execution, _order_at_cboe, _pump
from tests.boe.test_released_lookup_failure import _failing_reads, _poll_after
from tests.boe.test_zero_leaves_restart import _restart
from tests.harness import MemoryLink, Rig
from tests.journal_full import journal_full
from tests.metrics_text import venue_metrics_text
from venues.boe.adapter import HELD_RETRY_NS, split_ref
from venues.boe.state import (
    BoeStateError,
    HeldFill,
    corrections_path,
    gaps_path,
    held_fills_path,
    load_gaps,
    load_held_fills,
    save_held_fills,
)

UNIT = 1  # AAPL's matching unit


_Gateway = tuple[Link, Engine, Rig, MemoryLink]


def _released(tmp_path: Path) -> tuple[_Gateway, Order, str]:
    """An order filled 10 and canceled at Cboe, then released from memory as ``Engine._release`` does."""
    link, engine, rig, strat, order = _order_at_cboe(tmp_path)
    cl_ord_id = split_ref(order.venue_ref)[0]
    assert link.core.exchange.execute(cl_ord_id, 10)
    assert link.core.exchange.cancel(cl_ord_id, "U")
    _pump(link, engine)
    assert order.is_terminal and order.cum_qty == 10
    engine.orders.pop(order.order_id)
    st = engine.strategies[order.strategy_id]
    del st.orders[order.cl_ord_id]
    st.released.add(order.cl_ord_id)
    link.venue.forget(order)
    engine._terminal.remove(order)
    return (link, engine, rig, strat), order, cl_ord_id


def _held(link: Link) -> list[list[object]]:
    fills: list[list[object]] = json.loads(held_fills_path(link.state_dir, "cboe").read_bytes())["fills"]
    return fills


def _later_order_journaled(gateway: _Gateway) -> None:
    """Another order on AAPL's unit, acknowledged: the journal's mark of the unit moves past the held fill."""
    link, engine, rig, strat = gateway
    rig.send(strat, NewOrder("B", "ACC1", "cboe", "AAPL", Side.BUY, 50, RESTING))
    _pump(link, engine)
    assert engine.strategies["S1"].orders["B"].state is OrderState.LIVE


def _stop(link: Link, engine: Engine, tmp_path: Path) -> tuple[Engine, Rig]:
    engine.flush()
    return _restart(link, engine, tmp_path / "journal")


@pytest.mark.parametrize("later", [True, False], ids=["journal-past-it", "cboe-replays-it"])
def test_held_fill_when_the_gateway_stops_before_the_journal_reads_back_then_applied_once_after_the_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, later: bool
) -> None:
    caplog.set_level(logging.INFO)
    gateway, order, cl_ord_id = _released(tmp_path)
    link, engine = gateway[:2]  # filled 10, canceled, released from memory
    _failing_reads(engine, 1_000, OSError(errno.EMFILE, "Too many open files"))  # the journal never reads back
    link.core.streams.append(UNIT, _execution(cl_ord_id, 900_001, 5, 0))
    _pump(link, engine)
    assert link.venue.status()["executions_held_now"] == 1
    assert [fill[:2] for fill in _held(link)] == [[(UNIT << 32) | 4, order.order_id]]  # the old code: no file
    if later:
        _later_order_journaled(gateway)
    engine, _rig = _stop(link, engine, tmp_path)
    link.connect()  # Cboe replays what the journal lacks: the execution itself only without the later order
    _poll_after(link, engine, 0)  # the first poll asks the engine: the new process reads the journal
    rebuilt = engine.orders[order.order_id]
    assert rebuilt.cum_qty == 15  # the old code, journal-past-it: 10 (the fill lost from the position)
    assert engine.counters.late_fills == 1 and engine.counters.repeated_fills == 0
    assert link.venue.ignored.get("held-execution-replayed", 0) == (0 if later else 1)  # Cboe's copy: held already
    status = link.venue.status()
    assert (status["executions_held_now"], status["unknown_executions"]) == (0, 0)
    assert status["executions_held_applied_after_restart"] == 1
    assert status["repeated_reports"] == 0
    assert any("held before a restart" in r.getMessage() for r in caplog.records)
    _poll_after(link, engine, HELD_RETRY_NS)  # the next poll takes them off the file (the core journaled them)
    assert _held(link) == []
    engine, _rig = _stop(link, engine, tmp_path)  # and once more: nothing held, nothing applied again
    link.connect()
    _poll_after(link, engine, HELD_RETRY_NS)
    assert engine.orders[order.order_id].cum_qty == 15 and engine.counters.late_fills == 0
    assert link.core.exchange.violations == []


def test_held_fill_when_applied_but_the_stop_comes_before_the_file_drops_it_then_not_applied_twice(
    tmp_path: Path,
) -> None:
    gateway, order, cl_ord_id = _released(tmp_path)
    link, engine = gateway[:2]
    _failing_reads(engine, 1, OSError(errno.EIO, "Input/output error"))
    link.core.streams.append(UNIT, _execution(cl_ord_id, 900_001, 5, 0))
    _pump(link, engine)
    _later_order_journaled(gateway)
    on_file = tmp_path / "held-copy.json"
    shutil.copy(held_fills_path(link.state_dir, "cboe"), on_file)
    _poll_after(link, engine, HELD_RETRY_NS)  # the journal reads back: applied (and journaled)
    assert engine.orders[order.order_id].cum_qty == 15 and engine.counters.late_fills == 1
    shutil.copy(on_file, held_fills_path(link.state_dir, "cboe"))  # a kill -9 before the file was rewritten
    engine, _rig = _restart(link, engine, tmp_path / "journal")
    link.connect()
    _poll_after(link, engine, 0)
    assert engine.orders[order.order_id].cum_qty == 15  # its ExecID is on the order: a repeat, not applied
    assert (engine.counters.late_fills, engine.counters.repeated_fills) == (0, 1)
    assert link.venue.status()["executions_held_now"] == 0


def test_held_fills_when_the_cap_is_reached_then_one_more_is_an_error_not_applied_and_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    gateway, order, cl_ord_id = _released(tmp_path)
    link, engine = gateway[:2]
    _failing_reads(engine, 1_000, OSError(errno.EMFILE, "Too many open files"))
    link.venue.held_fills_cap = 2
    for exec_id in (900_001, 900_002, 900_003):
        link.core.streams.append(UNIT, _execution(cl_ord_id, exec_id, 5, 0))
        _pump(link, engine)
    status = link.venue.status()
    assert (status["executions_held"], status["executions_held_now"], status["executions_held_over_cap"]) == (2, 2, 1)
    assert status["executions_held_cap"] == 2
    counters = link.venue.session_counters()
    assert (counters["executions_held"], counters["executions_held_now"], counters["executions_held_over_cap"]) == (
        2,
        2,
        1,
    )
    text = venue_metrics_text("cboe", counters, engine.latency.snapshot())  # gateway metrics, alerts' series
    assert "# TYPE gateway_venue_executions_held_now gauge" in text
    assert 'gateway_venue_executions_held_now{venue="cboe"} 2.0' in text
    assert 'gateway_venue_executions_held_total{venue="cboe"} 2.0' in text
    assert 'gateway_venue_executions_held_over_cap_total{venue="cboe"} 1.0' in text
    over = [r for r in caplog.records if "NOT HELD" in r.getMessage()]
    assert len(over) == 1 and over[0].levelno == logging.ERROR and "ExecID 900003" in over[0].getMessage()
    assert "2 executions are held already" in over[0].getMessage()
    assert json.loads(corrections_path(tmp_path / "boe", "cboe").read_bytes())["seen"] == [(UNIT << 32) | 6]
    assert len(_held(link)) == 2
    engine, _rig = _stop(link, engine, tmp_path)  # nothing after them journaled: Cboe replays all three
    link.connect()
    _poll_after(link, engine, 0)
    assert engine.orders[order.order_id].cum_qty == 20  # the two held; the third was reported, not applied
    status = link.venue.status()
    assert (status["repeated_reports"], status["executions_held_over_cap"], status["unknown_executions"]) == (1, 0, 0)
    assert sum("NOT HELD" in r.getMessage() for r in caplog.records) == 1


def test_held_fills_file_when_of_another_day_or_corrupt_then_reported_not_applied_or_the_venue_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "boe"
    fill = HeldFill(UNIT << 32 | 4, 7, UNIT, 4, "6uu7", 900_001, 5, 1_502_400, 0, "A", "")
    save_held_fills(state, "cboe", "2024-04-30", [fill])  # the day before the harness's trading day
    caplog.set_level(logging.ERROR)
    link = Link(state)
    assert link.venue.status()["executions_held_now"] == 0
    (line,) = [r.getMessage() for r in caplog.records if "when that day's process stopped" in r.getMessage()]
    assert "(order 7 of trading day 2024-04-30): 5 @ 150.24, ExecID 900001" in line and "not applied" in line
    assert load_held_fills(state, "cboe") == ("2024-05-01", [])
    held_fills_path(state, "cboe").write_bytes(b'{"day": "2024-05-01", "fills": [[1')
    with pytest.raises(BoeStateError, match="reconcile today's executions with Cboe, then delete the file"):
        Link(state)
    gaps_path(state, "cboe").write_bytes(b'{"day": "2024-05-01", "gaps": [[1')
    with pytest.raises(BoeStateError, match="the sequence gaps open before the stop are unknown"):
        load_gaps(state, "cboe", "2024-05-01")


def test_held_fill_when_applied_after_the_restart_before_cboe_replays_it_then_the_replayed_copy_is_not_applied(
    tmp_path: Path,
) -> None:
    gateway, order, cl_ord_id = _released(tmp_path)
    link, engine = gateway[:2]
    _failing_reads(engine, 1_000, OSError(errno.EMFILE, "Too many open files"))
    link.core.streams.append(UNIT, _execution(cl_ord_id, 900_001, 5, 0))  # nothing after it journaled
    _pump(link, engine)
    engine, _rig = _stop(link, engine, tmp_path)
    _poll_after(link, engine, 0)  # the new process's timer runs before the login: applied from the file
    assert engine.orders[order.order_id].cum_qty == 15 and engine.counters.late_fills == 1
    link.connect()  # Cboe replays it (the journal's mark is below it): its ExecID is on the order
    _poll_after(link, engine, HELD_RETRY_NS)
    assert engine.orders[order.order_id].cum_qty == 15
    assert (engine.counters.late_fills, engine.counters.repeated_fills) == (1, 1)
    assert _held(link) == []


def test_held_fill_when_handed_on_while_the_journal_fails_and_the_gateway_stops_then_kept_on_file_and_applied(
    tmp_path: Path,
) -> None:
    # boe56: the file dropped a held execution at the poll after it was handed on, whether or not the engine's flush
    # had written its journal record: a stop while the journal was failing (disk full) then lost the fill
    gateway, order, cl_ord_id = _released(tmp_path)
    link, engine = gateway[:2]
    _failing_reads(engine, 1, OSError(errno.EIO, "Input/output error"))
    link.core.streams.append(UNIT, _execution(cl_ord_id, 900_001, 5, 0))
    _pump(link, engine)
    assert link.venue.status()["executions_held_now"] == 1
    _later_order_journaled(gateway)  # the journal's mark of the unit is past it: Cboe will not replay it
    on_file = [[(UNIT << 32) | 4, order.order_id]]
    with journal_full(engine):
        _poll_after(link, engine, HELD_RETRY_NS)  # the order reads back: handed on, its record cannot be written
        assert engine.journal_error and link.venue.status()["executions_held_now"] == 0
        for _ in range(3):  # the polls that follow, while the journal still fails
            _poll_after(link, engine, HELD_RETRY_NS)
            assert [fill[:2] for fill in _held(link)] == on_file  # old: [] (dropped at the next poll)
    engine.journal._buf.clear()  # type: ignore[attr-defined]  # the gateway stops (kill -9): the unwritten batch is lost
    engine, _rig = _restart(link, engine, tmp_path / "journal")
    assert engine.orders[order.order_id].cum_qty == 10  # the journal never had the fill
    link.connect()
    _poll_after(link, engine, 0)  # held again from the file, applied once the order reads back
    assert engine.orders[order.order_id].cum_qty == 15  # old: 10, the fill lost from the position
    assert engine.counters.late_fills == 1 and link.venue.status()["executions_held_applied_after_restart"] == 1
    _poll_after(link, engine, HELD_RETRY_NS)
    assert _held(link) == []  # off the file once the journal has it


def test_held_fill_when_handed_on_and_journaled_then_it_leaves_the_file_at_that_flush(tmp_path: Path) -> None:
    gateway, order, cl_ord_id = _released(tmp_path)
    link, engine = gateway[:2]
    _failing_reads(engine, 1, OSError(errno.EIO, "Input/output error"))
    link.core.streams.append(UNIT, _execution(cl_ord_id, 900_001, 5, 0))
    _pump(link, engine)
    link.clock.advance(HELD_RETRY_NS)
    link.venue.poll(link.clock())  # handed on to the core ...
    assert engine.orders[order.order_id].cum_qty == 15
    assert len(_held(link)) == 1  # ... still on file: its journal record is not written yet
    engine.flush()  # the journal batch written, then the venues' flush
    assert _held(link) == []
