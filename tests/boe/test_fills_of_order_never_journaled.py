"""BOE: Order Executions under today's ClOrdID of an order id the journal never created (fixboe53, rev53boe s19/s20).

A power failure under ``fsync: interval`` can cut an order from the journal's tail after it reached Cboe
(docs/reliability.md 2.3c): its ClOrdID has today's form and names an order id no order here has. Before, the
adapter handed every such fill to the core as a late fill of an order that "ended here": the engine logged a
WARNING with the event's repr for the first 10 only, the venue counted ``executions_after_end`` (not
``unknown_executions``), the ERROR said the order "ended here, before a restart", and nothing went on the
corrections file, so a restart reported every fill again. Now each is an unknown execution, as docs/venues/boe.md
promises: an ERROR with ClOrdID, shares, price and ExecID, counted ``unknown_executions`` and ``unknown_cl_ord_id``
(and the engine's ``venue_events_unknown_order``), on the corrections file (a replay after a restart is a WARNING
"reported before"); the order, working at Cboe with no order here, is canceled there, the ERROR saying why.
Against the sans-IO BOE simulator through a real engine (and a second engine for the restarted process).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.clock import FakeClock
from tests.boe.harness import gateway_over
from tests.boe.test_modify_up_crossed_by_fill import _execution, _order_at_cboe, _pump
from venues.boe.adapter import NS_PER_S, day_code, split_ref
from venues.boe.state import load_corrections

LOST = 4_194_400
"""An order id past the journal's last (the ids a power failure's lost tail used)."""


def _lines(caplog: pytest.LogCaptureFixture, needle: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if needle in r.getMessage()]


def test_fills_when_the_journal_never_created_the_order_then_each_is_an_unknown_execution_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    link, engine, _rig, _strat, order = _order_at_cboe(tmp_path)
    today = day_code("2024-05-01")
    assert split_ref(order.venue_ref)[0].startswith(today)
    ghost = f"{today}{LOST}"
    clock = link.clock
    assert isinstance(clock, FakeClock)
    for n in range(12):  # more than the engine's 10 WARNING lines; a second apart: each one its own ERROR
        link.core.streams.append(1, _execution(ghost, 7_000 + n, 10, 900 - 10 * n))
        _pump(link, engine)
        clock.advance(NS_PER_S)
    status = link.venue.status()
    assert status["unknown_executions"] == 12  # the old code: 0
    assert isinstance(status["unknown_cl_ord_id"], int) and status["unknown_cl_ord_id"] >= 12
    assert status["executions_after_end"] == 0  # the old code: 12, as late fills of an order that "ended here"
    assert engine.counters.venue_events_unknown_order == status["unknown_cl_ord_id"]
    assert engine.counters.late_fills == 0 and order.cum_qty == 0
    errors = [r for r in _lines(caplog, f"for ClOrdID '{ghost}'") if r.levelno == logging.ERROR]
    assert len(errors) == 12
    first = errors[0].getMessage()
    assert f"ClOrdID '{ghost}' (order {LOST}, which the journal never created" in first
    assert "10 @ 150.24" in first and "ExecID 7000" in first and "reconcile with Cboe" in first
    assert not _lines(caplog, "event for unknown order")  # the engine's repr WARNING: the core never saw them
    # the order works at Cboe with no order here: canceled there, the ERROR saying why (not "ended here")
    cancel = next(r for r in _lines(caplog, "working at Cboe") if ghost in r.getMessage())
    assert "the journal never created it" in cancel.getMessage()
    assert "ended here" not in cancel.getMessage()  # the old code: "it ended here, before a restart ..."
    # (the simulator has no such order: it refuses each Cancel, so the next fill's LeavesQty asks again)
    assert {r.type for r in link.exchange_records if r.orig_cl_ord_id == ghost} == {"Cancel Order"}
    seen = load_corrections(tmp_path / "boe", "cboe", "2024-05-01")
    assert len(seen) == 12  # the old code: no file
    # a restart: Cboe replays the unit (nothing of it journaled), the second process reports none of them again
    caplog.clear()
    link.restart()
    engine2, _rig2 = gateway_over(link, tmp_path / "journal-2")
    link.connect()
    engine2.flush()
    status = link.venue.status()
    assert status["unknown_executions"] == 0
    assert status["repeated_reports"] == 12
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and ghost in r.getMessage()]
    again = [r for r in _lines(caplog, "was reported before a restart") if ghost in r.getMessage()]
    assert len(again) == 12 and all(r.levelno == logging.WARNING for r in again)


def test_fill_when_the_order_was_only_released_then_still_applied_as_a_late_fill(tmp_path: Path) -> None:
    # the check asks the engine (memory, then the journal): an order it has is never taken for a lost one
    link, engine, _rig, _strat, order = _order_at_cboe(tmp_path)
    cl_ord_id = split_ref(order.venue_ref)[0]
    assert link.core.exchange.execute(cl_ord_id, 10)
    assert link.core.exchange.cancel(cl_ord_id, "U")
    _pump(link, engine)
    link.venue.forget(order)
    link.core.streams.append(1, _execution(cl_ord_id, 900_001, 5, 0))
    _pump(link, engine)
    status = link.venue.status()
    assert (status["executions_after_end"], status["unknown_executions"]) == (1, 0)
    assert order.cum_qty == 15 and engine.counters.late_fills == 1
