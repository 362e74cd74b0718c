"""A Replace in flight when its order ends keeps its number off the order after a restart (rev58merge9 HIGH 1).

Order r1 (100 as UserRefNum 1), Replace 1->2 sent; the venue fills 1 completely just before the Replace reaches it,
so it ignores the Replace and never uses up 2 (OUCH 5.0 2.2). Another host on the account then enters its own order
as UserRefNum 2. Before, the number of the unanswered Replace was kept in memory only ("with the next write" of the
doubts file, which never came): after a restart the journal's Replace record mapped 2 back to the filled order, so
the other host's Accepted was taken for this order live at the venue (X 2, its order canceled) and its fill applied
to this one (cum_qty 160 of 100). Now the number is on file before the order's end is journaled.

Real engine and journal over the project's OUCH simulator (fake clock), the rigs of
tests/ouch/test_replace_doubt_retired_restart.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Executed, NewOrder, Replace
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _up
from tests.ouch.test_replace_doubt_old_number import NEW_PRICE, _deliver, _held, _venue_open
from tests.ouch.test_replace_doubt_restart import _restart_same_journal
from tests.ouch.test_replace_doubt_retired_restart import _other_host_enters
from venues.ouch.doubts import read_doubt_file


def _filled_with_replace_in_flight(tmp_path: Path) -> tuple[Link, object, object, object]:
    """Order r1 (100, UserRefNum 1) filled completely just before its Replace 1->2 reaches the venue (ignored)."""
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    _deliver(link, engine)
    _events(strat)
    rig.send(strat, Replace("r1", 300, NEW_PRICE))
    replace = _held(link, engine)  # the Replace 1->2, not yet read by the venue
    assert replace[3:4] == b"U"
    assert link.core.exchange.execute(1, 100)  # the venue fills 1 completely first
    _run(link, engine, 200)
    (filled,) = _events(strat)
    assert isinstance(filled, Executed) and (filled.cum_qty, filled.leaves_qty) == (100, 0), filled
    _deliver(link, engine, replace)  # ignored by the venue: 1 is no longer live, 2 not used up
    assert _events(strat) == []
    assert _venue_open(link) == []
    return link, engine, rig, strat


@pytest.mark.timeout(60)
def test_replace_in_flight_at_a_complete_fill_then_a_restart_leaves_the_other_hosts_order_under_its_number_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, _strat = _filled_with_replace_in_flight(tmp_path)
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)  # kill -9
    _up(second, engine2)
    _run(second, engine2, 1_000)
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    _events(strat2)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _other_host_enters(second)
        _run(second, engine2, 1_000)
    assert _cancels(second) == []  # before: [2]: the other host's order canceled by this gateway
    assert "another host's Enter (left alone)" in caplog.text
    assert _venue_open(second) == [(2, 500)]
    assert second.core.exchange.execute(2, 60)  # the other host's fill: not this order's
    _run(second, engine2, 1_000)
    assert _events(strat2) == []  # before: Executed(60, cum_qty 160) on an order of 100
    (order,) = engine2.orders.values()  # type: ignore[attr-defined]
    assert order.cum_qty == 100
    store = second.store
    assert read_doubt_file(second.state_dir, second.config.name, store.day, store.session).foreign == {2}


@pytest.mark.timeout(60)
def test_doubts_file_unwritable_when_a_replace_number_is_not_the_orders_the_error_says_what_a_restart_risks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "ouch").mkdir(parents=True, exist_ok=True)
    (tmp_path / "ouch" / "nasdaq.ouch-doubts.json").mkdir()  # every write of the file fails (rename onto a directory)
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _filled_with_replace_in_flight(tmp_path)
    (error,) = [r.getMessage() for r in caplog.records if "cannot write the orders answered in doubt" in r.getMessage()]
    # before: only "cannot write the orders answered in doubt (0) ...: check the account's open orders"
    assert "nor the Replace UserRefNums [2] that are not this gateway's orders'" in error, error
    assert "another host's order under one of them would be taken for ours" in error, error
    assert "fix the state directory before any restart" in error, error
