"""A fault of the gateway's own releasing a held Cancel answers it, and leaves the order cancelable (rev53diff 1).

The strategy's Cancel is held while the OUCH venue is down; when the venue is back UP the engine releases it. An
injected journal fault on its ``JSentCancel`` (journal before wire: the adapter takes the Cancel back) used to leave
the order ``LIVE_HELD_CANCEL`` with the venue UP: nothing went out, the strategy's Cancel had no answer, and a second
Cancel got ``CANCEL_PENDING`` and did nothing either, so the CRITICAL line's advice ("cancel it through the gateway")
did not work. Now the held Cancel is dropped (journaled ``JCancelRefused``) and answered ``CancelRejected``
``INTERNAL_ERROR``; the account is halted; a later Cancel goes out. The same for a Cancel held behind a Replace,
released when the venue answers the Replace. Real engine, real OUCH adapter and simulator core (tests/ouch/harness).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.journal import JSentCancel
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, NewOrder, Replace, VenueStatus
from model.enums import RejectSource, Side
from model.order import OrderState
from tests.e2e.test_engine_internal_errors import _FaultyJournal
from tests.e2e.test_journal_before_wire import _record_of
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal


def _answers(strat: object) -> list[object]:
    return [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]


def _cancels_at_venue(link: Link) -> list[int]:
    return [r.user_ref_num for r in link.core.exchange.records if r.type == "X"]


def _settle(link: Link, engine: object) -> None:
    for _ in range(20):
        link.clock.advance_ms(100)
        link.poll()
        engine.flush()  # type: ignore[attr-defined]
        link.pump()
        engine.flush()  # type: ignore[attr-defined]


@pytest.mark.parametrize("behind", ["venue_down", "replace"])
def test_held_cancel_release_fault_when_venue_up_then_answered_and_a_later_cancel_goes_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, behind: str
) -> None:
    caplog.set_level(logging.INFO)
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    halted: list[tuple[list[str], str]] = []
    engine.halt_accounts = lambda accounts, reason: halted.append((accounts, reason))
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("c1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
    engine.flush()
    link.pump()
    engine.flush()
    assert [type(m).__name__ for m in _answers(strat)] == ["OrderAccepted"]
    (order,) = engine.orders.values()
    faulty = _FaultyJournal(engine.journal, _record_of(JSentCancel, order.order_id))
    if behind == "venue_down":
        link.disconnect()
        engine.flush()
        rig.send(strat, Cancel("c1"))
        engine.flush()
        assert order.state.name == "LIVE_HELD_CANCEL"
        engine.journal = faulty
        try:
            link.connect()  # the venue back UP releases the held Cancel: its JSentCancel faults
            engine.flush()
            link.pump()
            engine.flush()
        finally:
            engine.journal = faulty._real
    else:
        rig.send(strat, Replace("c1", 200, PX - 100))
        rig.send(strat, Cancel("c1"))  # held behind the Replace in flight
        engine.journal = faulty
        assert order.state.name == "PENDING_REPLACE_HELD_CANCEL"
        try:
            engine.flush()
            link.pump()  # the venue's Replaced releases the held Cancel: its JSentCancel faults
            engine.flush()
        finally:
            engine.journal = faulty._real
    _settle(link, engine)
    assert faulty.faults == 1
    # before: LIVE_HELD_CANCEL for good, with the venue UP; no answer at all
    assert order.state is OrderState.LIVE, order.state
    answers = [m for m in _answers(strat) if type(m).__name__ != "Replaced"]
    (refused,) = answers
    assert isinstance(refused, CancelRejected), answers
    assert (refused.cl_ord_id, refused.source, refused.code) == ("c1", RejectSource.GATEWAY, "INTERNAL_ERROR")
    assert "nothing of it reached venue nasdaq" in refused.text and "cancel it again" in refused.text, refused.text
    assert _cancels_at_venue(link) == []
    assert engine.counters.internal_errors == 1
    assert [accounts for accounts, _ in halted] == [["ACC1"]]
    (critical,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    text = critical.getMessage()
    assert "c1" in text and "the order is still live at venue nasdaq" in text and "CancelRejected" in text, text
    # the journal agrees: a restarted gateway holds no Cancel for it (it would send one at the next UP)
    engine.flush()
    _, restarted, _ = restart_from_journal(link, tmp_path)
    assert restarted.strategies["S1"].orders["c1"].state is OrderState.LIVE
    # the CRITICAL line's advice works: a later Cancel goes out (cancels pass a halted account)
    rig.send(strat, Cancel("c1"))
    _settle(link, engine)
    assert len(_cancels_at_venue(link)) == 1
    (canceled,) = _answers(strat)
    assert isinstance(canceled, Canceled) and canceled.cl_ord_id == "c1", canceled
    assert order.state.name == "CANCELED"
