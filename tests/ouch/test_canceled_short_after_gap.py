"""The venue's Canceled (reason U) answering the gateway's Cancel for fewer shares than open here: the WARNING's why.

Such a Canceled ends the order (ouchdoubt58: the Cancel asks for everything, so the venue had no more), and the
strategy is told so (``Canceled``, ``leaves_qty`` 0, docs/venues/ouch.md). Its WARNING blamed a Replace answered in
doubt whose open quantity the gateway reckoned from its terms, also when the order never had a Replace (rev61ouch
LOW 1): after a replay gap that hid a fill of the order, the operator was pointed at a Replace instead of the lost
execution. Now the WARNING says what the adapter knows: a Replace of the order answered in doubt (the old text,
tests/ouch/test_replace_doubt_old_number.py), else a replay gap since the order went live (the shares may have been
executed in it: reconcile), else neither.

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_doubt_gap_and_replay.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, NewOrder, OrderAccepted
from model.enums import Side
from model.order import OrderState
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _events, _run
from tests.ouch.test_doubt_restart import _up

SHORT = "the venue had no more; the order ends, the other 1 "


def _live_order(tmp_path: Path) -> tuple[Link, object, object, object]:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    rig.send(strat, NewOrder("o1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted)
    return link, engine, rig, strat


def _cancel(link: Link, engine: object, rig: object, strat: object) -> Canceled:
    rig.send(strat, Cancel("o1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    _run(link, engine, 200)
    (canceled,) = _events(strat)
    assert isinstance(canceled, Canceled), canceled
    return canceled


def _short_warning(caplog: pytest.LogCaptureFixture) -> str:
    (line,) = [r.getMessage() for r in caplog.records if SHORT in r.getMessage()]
    return line


def test_fill_lost_in_a_replay_gap_then_cancel_when_the_venue_cancels_the_rest_then_warning_names_the_gap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _live_order(tmp_path)
    link.disconnect()
    assert link.core.exchange.execute(1, 1)  # 1 share executes while the gateway is away ...
    link.core.stream.replayable_from = link.core.stream.next_sequence  # ... and the venue cannot replay it (a gap)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _up(link, engine)
        assert link.venue.status()["sequence_gaps"] == 1
        assert _events(strat) == []  # the fill is lost
        canceled = _cancel(link, engine, rig, strat)
    # what the strategy is told stays as docs/venues/ouch.md says: the order ends (the venue had no more)
    assert canceled.leaves_qty == 0, canceled
    (order,) = engine.orders.values()  # type: ignore[attr-defined]
    assert order.state is OrderState.CANCELED
    line = _short_warning(caplog)
    assert "for 99 shares while 100 are open here" in line, line
    assert "replace answered in doubt" not in line, line  # before: blamed a Replace that never existed
    assert "may have been executed in the replay gap since the order went live" in line, line
    assert "reconcile the order's executions with the venue desk" in line, line
    assert link.core.exchange.violations == []


def test_venue_holding_fewer_shares_with_no_gap_nor_replace_then_warning_names_neither(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _live_order(tmp_path)
    (venue_order,) = link.core.exchange.orders.values()
    venue_order.open -= 1  # the venue holds 99 and never said why (a message the gateway never read)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        canceled = _cancel(link, engine, rig, strat)
    assert canceled.leaves_qty == 0, canceled
    line = _short_warning(caplog)
    assert "replace answered in doubt" not in line and "replay gap" not in line, line
    assert "were not live there (executed or canceled in venue messages the gateway never read?)" in line, line


def test_order_entered_after_the_replay_gap_then_the_gap_is_not_blamed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The gap came before the order went live: its messages cannot be among those lost."""
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("o0", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # UserRefNum 1
    engine.flush()
    link.pump()
    engine.flush()
    link.disconnect()
    assert link.core.exchange.execute(1, 1)
    link.core.stream.replayable_from = link.core.stream.next_sequence
    _up(link, engine)
    assert link.venue.status()["sequence_gaps"] == 1
    strat.received()
    rig.send(strat, NewOrder("o1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # after the gap
    engine.flush()
    link.pump()
    engine.flush()
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted)
    (venue_order,) = [o for o in link.core.exchange.orders.values() if o.user_ref_num > 1]
    venue_order.open -= 1
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        canceled = _cancel(link, engine, rig, strat)
    assert canceled.leaves_qty == 0, canceled
    line = _short_warning(caplog)
    assert "replay gap" not in line, line
