"""BOE: an Order Execution for an order the adapter no longer maps still reaches the core, named by its ClOrdID.

Before, the adapter dropped the ClOrdIDs of an order the engine released from memory (``forget``), and knew
none of an ended order after a restart (only open orders are restored): a later execution for it was counted
``unknown_executions`` and reached no position. Today's ClOrdIDs (``<prefix><day><order id>``) name the order,
so the execution goes on as a ``VenueExecuted`` and the engine applies it as a late fill (from memory, or
rebuilt from the journal). A ClOrdID not the gateway's stays unknown; one of an earlier day of the gateway's
(a GTC order Cboe still works) is a late fill of an order not in today's journal: ERROR, ``executions_earlier_day``.
"""

from __future__ import annotations

from pathlib import Path

from tests.boe.test_modify_up_crossed_by_fill import _events, _execution, _order_at_cboe, _pump, _risk
from venues.boe.adapter import day_code, split_ref


def test_execution_when_the_adapter_forgot_the_ended_order_then_applied_as_a_late_fill(tmp_path: Path) -> None:
    link, engine, _rig, strat, order = _order_at_cboe(tmp_path)
    cl_ord_id = split_ref(order.venue_ref)[0]
    assert link.core.exchange.execute(cl_ord_id, 10)
    assert link.core.exchange.cancel(cl_ord_id, "U")
    _pump(link, engine)
    link.venue.forget(order)  # as the engine's release does (or a restart, which restores open orders only)
    link.core.streams.append(1, _execution(cl_ord_id, 900_001, 5, 0))
    link.core.streams.append(1, _execution(cl_ord_id, 900_001, 5, 0))  # the same ExecID again
    _pump(link, engine)
    assert _events(strat)[-2:] == [("Canceled", 90, 0, "USER_REQUESTED"), ("Executed", 5, 15, 0)]
    assert order.cum_qty == 15
    assert [qty for _id, qty, _px in _risk(engine).executions] == [10, 5]
    assert (engine.counters.late_fills, engine.counters.repeated_fills) == (1, 1)
    status = link.venue.status()
    assert (status["executions_after_end"], status["unknown_executions"]) == (2, 0)


def test_execution_when_its_cl_ord_id_is_another_day_s_or_not_ours_then_earlier_day_or_unknown(
    tmp_path: Path,
) -> None:
    link, engine, _rig, _strat, order = _order_at_cboe(tmp_path)
    cl_ord_id = split_ref(order.venue_ref)[0]
    today = day_code("2024-05-01")
    assert cl_ord_id.startswith(today)
    yesterday = day_code("2024-04-30") + cl_ord_id[len(today) :]
    for n, ghost in enumerate((yesterday, "GHOST1", today + "x1")):
        link.core.streams.append(1, _execution(ghost, 900_100 + n, 5, 0))
    _pump(link, engine)
    status = link.venue.status()
    assert (status["executions_after_end"], status["unknown_executions"]) == (0, 2)
    assert status["executions_earlier_day"] == 1  # yesterday's order is not in today's journal: logged, not applied
    assert engine.counters.late_fills == 0 and order.cum_qty == 0
