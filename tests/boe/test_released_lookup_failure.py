"""A late BOE fill of an order released from memory when the journal cannot be read back for it (fixboe54).

Before: ``BoeVenue._never_created`` took any "no order" answer of the engine for "the journal never created it" and
kept it for good (``_lost_ids``), also when the engine's read of the journal had failed (too many open files, an I/O
error, damage): that fill and every later one of the order were unknown executions, never applied to the position,
logged as "cut from its tail by a power failure". Now only a definite answer is kept; a failed read holds the
execution (``executions_held``, an ERROR saying so), the adapter asks again every second (``poll``) and hands the
held executions on, in order, once the journal reads back. An order whose strategy is not (any more) among the
engine's is applied all the same.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.journal_read import JournalCorruptError, JournalReader
from model.order import Order
from tests.boe.harness import Link
from tests.boe.test_modify_up_crossed_by_fill import _execution, _order_at_cboe, _pump
from venues.boe.adapter import HELD_RETRY_NS, split_ref


def _released(tmp_path: Path) -> tuple[Link, Engine, Order, str]:
    """An order filled 10 and canceled at Cboe, then released from memory as ``Engine._release`` does."""
    link, engine, _rig, _strat, order = _order_at_cboe(tmp_path)
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
    return link, engine, order, cl_ord_id


def _failing_reads(engine: Engine, failures: int, error: Exception) -> dict[str, int]:
    """Make the engine's first ``failures`` journal reads raise ``error``; count the reads."""
    real: Callable[[int], JournalReader] = engine.journal.reader
    calls = {"n": 0}

    def reader(start: int) -> JournalReader:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error
        return real(start)

    engine.journal.reader = reader  # type: ignore[method-assign]
    return calls


def _poll_after(link: Link, engine: Engine, ns: int) -> None:
    link.clock.advance(ns)
    link.poll()
    engine.flush()


@pytest.mark.parametrize(
    "error",
    [OSError(errno.EMFILE, "Too many open files"), JournalCorruptError("record 7: CRC mismatch")],
    ids=["emfile", "corrupt"],
)
def test_late_fills_when_the_journal_read_fails_once_then_held_and_applied_when_it_reads_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    caplog.set_level(logging.INFO)
    link, engine, order, cl_ord_id = _released(tmp_path)
    calls = _failing_reads(engine, 1, error)
    link.core.streams.append(1, _execution(cl_ord_id, 900_001, 5, 0))
    _pump(link, engine)
    link.core.streams.append(1, _execution(cl_ord_id, 900_002, 7, 0))  # a second one while the first is held
    _pump(link, engine)
    status = link.venue.status()
    assert (status["unknown_executions"], status["executions_held"], status["executions_held_now"]) == (0, 2, 2)
    assert engine.counters.late_fills == 0 and engine.journal_rebuild_failures == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not any("power failure" in text or "never created" in text for text in errors)  # the old code: both
    assert any("the journal cannot be read back for the order; the execution is held" in text for text in errors)
    _poll_after(link, engine, HELD_RETRY_NS - 1)
    assert calls["n"] == 1  # not asked again before a second has passed
    _poll_after(link, engine, 1)
    status = link.venue.status()
    assert (status["unknown_executions"], status["executions_after_end"], status["executions_held_now"]) == (0, 2, 0)
    rebuilt = engine.orders[order.order_id]  # the old code: never read back (its id kept as "never created")
    assert rebuilt.cum_qty == 22 and engine.counters.late_fills == 2
    link.core.streams.append(1, _execution(cl_ord_id, 900_003, 1, 0))  # later: found in memory at once
    _pump(link, engine)
    assert rebuilt.cum_qty == 23 and link.venue.status()["unknown_executions"] == 0


def test_late_fill_when_the_journal_fails_for_several_seconds_then_held_until_it_reads_back(tmp_path: Path) -> None:
    link, engine, order, cl_ord_id = _released(tmp_path)
    calls = _failing_reads(engine, 3, OSError(errno.EIO, "Input/output error"))
    link.core.streams.append(1, _execution(cl_ord_id, 900_001, 5, 0))
    _pump(link, engine)
    for _ in range(2):
        _poll_after(link, engine, HELD_RETRY_NS)
        assert link.venue.status()["executions_held_now"] == 1
    _poll_after(link, engine, HELD_RETRY_NS)
    assert calls["n"] == 4
    assert engine.orders[order.order_id].cum_qty == 15
    assert (engine.counters.late_fills, link.venue.status()["unknown_executions"]) == (1, 0)


def test_fill_when_the_journal_never_created_the_order_id_then_still_an_unknown_execution_asked_once(
    tmp_path: Path,
) -> None:
    link, engine, _order, cl_ord_id = _released(tmp_path)
    never = cl_ord_id[: -len(str(_order.order_id))] + "999"  # today's ClOrdID of an id past the journal's
    calls = _failing_reads(engine, 0, OSError())
    for exec_id in (900_001, 900_002):
        link.core.streams.append(1, _execution(never, exec_id, 5, 0))
        _pump(link, engine)
    status = link.venue.status()
    assert (status["unknown_executions"], status["executions_held"]) == (2, 0)
    assert calls["n"] == 0  # an id above every one created: no journal read at all


def test_late_fill_when_its_strategy_is_not_among_the_engines_then_applied_all_the_same(tmp_path: Path) -> None:
    link, engine, order, cl_ord_id = _released(tmp_path)
    del engine.strategies[order.strategy_id]  # recovery and Hello make one for every strategy: defensive
    link.core.streams.append(1, _execution(cl_ord_id, 900_001, 5, 0))
    _pump(link, engine)
    assert engine.orders[order.order_id].cum_qty == 15  # the old code: an unknown execution, kept "never created"
    assert (engine.counters.late_fills, link.venue.status()["unknown_executions"]) == (1, 0)
    assert order.strategy_id in engine.strategies
