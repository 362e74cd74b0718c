"""A fill the venue reports after the order ended here (boefix38, D2): the position takes it, also after a restart.

The venue's execution is the truth of the position: before, a fill after an unsolicited cancel (or after the
strategy's cancel was answered) was dropped as out of place, and the strategy and risk never saw shares the
venue traded. The core applies it to the order's ``cum_qty``, the position and the traded notional (nothing
opens again), delivers an ``Executed`` with ``leaves_qty`` 0, counts ``late_fills`` and logs it at ERROR. The
engine marks it (``VenueExecuted.after_end``) before journaling it, so recovery applies it the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.journal import FileJournal, JVenueApplied, JVenueEvent, read_journal
from gateway.protocol.messages import Cancel, Canceled, Executed, OrderAccepted
from gateway.recovery import recover
from model.fsync import FsyncPolicy
from model.order import OrderState
from model.venue_events import VenueExecuted
from tests.harness import Rig

PX = 1_000_000


def _executed(received: Sequence[object]) -> list[tuple[int, int, int]]:
    return [(m.qty, m.cum_qty, m.leaves_qty) for m in received if isinstance(m, Executed)]


def _numbered(received: Sequence[object]) -> list[tuple[str, int]]:
    return [(type(m).__name__, m.seq) for m in received if isinstance(m, (OrderAccepted, Executed, Canceled))]


def test_execution_when_after_an_unsolicited_cancel_then_applied_to_the_position_and_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.venue.accept(1)
    rig.venue.fill(1, 20, PX)
    rig.venue.cancel(1)  # unsolicited: 80 canceled
    rig.engine.flush()
    link.received()
    with caplog.at_level(logging.ERROR, logger="gateway.engine"):
        rig.venue.fill(1, 10, PX + 100)  # routed away before the cancel, reported after it
        rig.engine.flush()
    assert _executed(link.received()) == [(10, 30, 0)]
    order = rig.order("S1", "A")
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 30, 0)
    assert order.notional_traded == 20 * PX + 10 * (PX + 100)
    assert rig.risk.executions == [(1, 20, PX), (1, 10, PX + 100)]
    counters = rig.engine.counters
    assert (counters.late_fills, counters.executions, counters.venue_events_out_of_place) == (1, 2, 0)
    [line] = [r.getMessage() for r in caplog.records if "after the order ended CANCELED" in r.getMessage()]
    assert "executed 10 @ 100.01 (execution" in line  # a decimal, as adjust-position takes it (not 1000100)


def test_execution_when_after_the_strategy_s_cancel_was_answered_then_delivered_after_the_canceled() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.venue.accept(1)
    rig.send(link, Cancel("A"))
    rig.venue.fill(1, 40, PX)
    rig.venue.cancel(1)
    rig.venue.fill(1, 5, PX)
    rig.engine.flush()
    events = [m for m in link.received() if isinstance(m, (OrderAccepted, Executed, Canceled))]
    assert [(type(m).__name__, getattr(m, "leaves_qty", None)) for m in events] == [
        ("OrderAccepted", None),
        ("Executed", 60),
        ("Canceled", 0),
        ("Executed", 0),
    ]
    assert rig.order("S1", "A").cum_qty == 45
    assert sum(qty for _id, qty, _px in rig.risk.executions) == 45


def test_execution_when_repeated_after_the_order_ended_then_applied_once() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.venue.accept(1)
    rig.venue.cancel(1)
    late = VenueExecuted(10, 1, 7, PX, "A", "LATE1")
    rig.venue.event_sink(late)
    rig.venue.event_sink(VenueExecuted(11, 1, 7, PX, "A", "LATE1"))  # the same execution again
    rig.engine.flush()
    assert _executed(link.received()) == [(7, 7, 0)]
    assert (rig.engine.counters.late_fills, rig.engine.counters.repeated_fills) == (1, 1)


def test_restart_when_a_fill_came_after_the_order_ended_then_recovery_rebuilds_the_same_position(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.new_order(link, "B", qty=50)
    rig.venue.accept(1)
    rig.venue.fill(1, 20, PX)
    rig.venue.cancel(1)
    rig.venue.fill(1, 10, PX)  # late
    rig.venue.accept(2)  # an event after it: numbered after the late Executed, live and after the restart
    rig.engine.flush()
    live = _numbered(link.received())
    assert [name for name, _seq in live] == ["OrderAccepted", "Executed", "Canceled", "Executed", "OrderAccepted"]
    rig.engine.journal.close()
    fills = [r for r in read_journal(path) if isinstance(r, JVenueEvent) and isinstance(r.event, VenueExecuted)]
    assert [(type(r).__name__, r.event.after_end) for r in fills] == [  # type: ignore[union-attr]
        ("JVenueApplied", False),
        ("JVenueEvent", True),  # followed by its Executed as a JStrategyEvent (a replay from the journal finds it)
    ]

    again = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    again.engine.adopt(recover(read_journal(path)))
    order = again.order("S1", "A")
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 30, 0)
    assert [(oid, qty) for oid, qty, _px in again.risk.executions] == [(1, 20), (1, 10)]
    fresh = again.connect("S1")  # last_seq 0: every event again, numbered as live
    assert _numbered(fresh.received()) == live
    again.engine.journal.close()


def test_recovery_when_an_earlier_version_journaled_a_late_fill_unmarked_then_it_stays_unapplied(
    tmp_path: Path,
) -> None:
    """A journal written before ``after_end``: its late fill was dropped live, so recovery drops it too."""
    path = tmp_path / "j"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.new_order(link, "B", qty=50)
    rig.venue.accept(1)
    rig.venue.cancel(1)
    rig.engine.flush()
    st = rig.engine.strategies["S1"]
    rig.engine.journal.append(JVenueApplied("V1", VenueExecuted(90, 1, 10, PX, "A", "OLD"), st.next_seq))
    rig.venue.accept(2)
    rig.engine.flush()
    rig.engine.journal.close()
    link.received()

    recovered = recover(read_journal(path))  # no JournalCorruptError: the numbering still agrees
    assert recovered.orders[1].cum_qty == 0
    assert recovered.orders[2].state is OrderState.LIVE


def test_out_of_place_events_when_many_then_a_line_every_10_s_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.connect("S1")
    rig.new_order(rig.connect("S2"), "A", qty=100, account="ACC2")
    rig.venue.accept(1)
    with caplog.at_level(logging.WARNING, logger="gateway.engine"):
        for _ in range(12):
            rig.venue.accept(1)  # an acknowledgment of an order already acknowledged: out of place
        rig.clock.advance(10_000_000_000)
        rig.venue.accept(1)
    lines = [r.getMessage() for r in caplog.records if "out-of-place venue event" in r.getMessage()]
    assert rig.engine.counters.venue_events_out_of_place == 13
    assert len(lines) == 2  # the old code logged the first 10 of the process and nothing after
    assert "13 out-of-place events so far" in lines[1] and "11 similar lines suppressed" in lines[1]


def test_late_fills_when_several_then_each_logged_at_error_and_a_flood_bounded_with_the_count_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rev46ouch t9: a second late fill within 10 s was logged nowhere; each is money: each is logged (fixouch46)."""
    from gateway.engine import LATE_FILLS_LOGGED_PER_S

    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.venue.accept(1)
    rig.venue.cancel(1)
    rig.engine.flush()
    link.received()
    flood = LATE_FILLS_LOGGED_PER_S + 3
    with caplog.at_level(logging.ERROR, logger="gateway.engine"):
        rig.venue.fill(1, 7, PX)
        rig.venue.fill(1, 8, PX)
        rig.engine.flush()
        lines = [r.getMessage() for r in caplog.records if "after the order ended" in r.getMessage()]
        assert len(lines) == 2 and "executed 7 @" in lines[0] and "executed 8 @" in lines[1]  # the second too
        for _ in range(flood - 2):  # the same second: up to LATE_FILLS_LOGGED_PER_S lines, then one saying so
            rig.venue.fill(1, 1, PX)
        rig.engine.flush()
        rig.clock.advance_ms(1_000)
        rig.venue.fill(1, 2, PX)  # the next second: logged, with how many were not
        rig.engine.flush()
    assert rig.engine.counters.late_fills == flood + 1
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    logged = [m for m in messages if "after the order ended" in m]
    assert len(logged) == LATE_FILLS_LOGGED_PER_S + 1
    (bound,) = [m for m in messages if m.startswith("late fills: more than")]
    assert "counted in late_fills (gateway_late_fills_total)" in bound and "in the journal" in bound
    assert logged[-1].startswith("order 1") and "executed 2 @" in logged[-1]
    assert logged[-1].endswith(
        "(3 earlier ones were not logged one by one: each is in the journal and counted in "
        "late_fills (gateway_late_fills_total))"
    )
