"""An OUCH Cancel the venue never answers while the session stays up: ERROR and a counter, nothing made up.

OUCH 5.0 silently ignores a Cancel naming a UserRefNum the venue does not work ("superfluous cancels are silently
ignored"): an order working there under a number the gateway does not know (a Replace whose journal records a power
failure cut, rev60chaos HIGH 1), or a Cancel lost on the way, leaves the strategy's (or the kill switch's) Cancel
unanswered. Before, nothing said so. Now, one ``answer_timeout_ms`` look after another (between one and two
``answer_timeout_ms`` after it left) such a Cancel is logged at ERROR once with its order and UserRefNum and counted
``cancels_unanswered`` (``gateway_venue_cancels_unanswered_total``); the order stays open (``PENDING_CANCEL``), no
Canceled invented: it may be working at the venue.

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_answer_timeout_followups.py.
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

UNANSWERED = "cancels had no answer (Canceled, fills, Cancel Reject) within 5000 ms"


def _accepted(tmp_path: Path) -> tuple[Link, object, object, object]:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("c1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted)
    return link, engine, rig, strat


def test_cancel_the_venue_never_answers_when_the_session_stays_up_then_error_once_and_counted_order_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _accepted(tmp_path)
    rig.send(strat, Cancel("c1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    link._to_server.clear()  # the Cancel lost on the way: the venue never answers it
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _run(link, engine, 4_000)
        assert not [r for r in caplog.records if UNANSWERED in r.getMessage()]  # not before answer_timeout_ms
        _run(link, engine, 7_000)
        said = [r.getMessage() for r in caplog.records if UNANSWERED in r.getMessage()]
        assert len(said) == 1, said  # before: no word at all
        _run(link, engine, 20_000)
    (line,) = [r.getMessage() for r in caplog.records if UNANSWERED in r.getMessage()]  # once per Cancel
    assert link.venue.counters["cancels_unanswered"] == 1
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert f"UserRefNums [1], orders [{order_id}]" in line, line
    assert engine.orders[order_id].state is OrderState.PENDING_CANCEL  # type: ignore[attr-defined]
    assert not _events(strat)  # nothing invented: the order may be working at the venue
    assert link.venue.status()["cancels_unanswered"] == 1


def test_cancel_answered_when_the_venue_cancels_then_nothing_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _accepted(tmp_path)
    rig.send(strat, Cancel("c1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _run(link, engine, 15_000)
    assert [type(e) for e in _events(strat)] == [Canceled]
    assert not [r for r in caplog.records if UNANSWERED in r.getMessage()]
    assert link.venue.counters.get("cancels_unanswered", 0) == 0
