"""A BOE standby host taking over mid-day, and the session's day over while the gateway was away (boestandby56).

rev56boe s07: a standby with its own (empty) journal and ``state_dir`` read the primary's orders in Cboe's replay
and then sent its first New Orders under the primary's ClOrdIDs again (Cboe refused them ``D`` while the primary's
worked, or took them, and later messages of the primary's order reached the standby's: a bust of the primary's
fill was logged against the standby's order, with its account and an ``adjust-position`` to match). Now the
adapter raises the core's order ids above the replay's ClOrdIDs before the venue is UP (``order_ids_above``) and
puts the floor on file, and a Trade Cancel or Correct names an order only for an execution that order applied.

rev56boe s19: the Modify ClOrdIDs' start number comes from ``<name>.boe-starts.json``; the file lost with the
journal kept, a restart sent the day's Modify ClOrdIDs again. The journal's open orders now floor it.

rev56boe s20: requests unanswered when Cboe ended the day while the gateway was down were never answered (every
login refused ``D``). At LOGIN_REFUSED on ``D`` they are answered ``BOE_SESSION_ENDED``, outcome unknown.

Fake clock, the sans-IO simulator (``tests.boe.harness.Link``); over TCP with real gateways:
tests/e2e/test_boe_standby_takeover.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import msgspec
import pytest

from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueCancelRejected, VenueRejected, VenueState
from tests.boe.harness import PX, Link, make_order
from venues.base import LOOKUP_NEVER_CREATED
from venues.boe.state import order_ids_path


def starts_path(state_dir: Path, name: str) -> Path:
    """The start count's file (``venues.boe.state.starts_path``; spelled out: the test runs on older code too)."""
    return state_dir / f"{name}.boe-starts.json"


def _primary(state_dir: Path) -> tuple[Link, list[str]]:
    """A primary that sent orders 1 (filled) and 2 (working), then its host was lost (no Logout: a cut)."""
    primary = Link(state_dir)
    primary.connect()
    first, second = make_order(1), make_order(2)
    primary.send_new(first)
    primary.send_new(second)
    refs = [ref.partition("@")[0] for ref in (first.venue_ref, second.venue_ref)]
    assert primary.core.exchange.execute(refs[0], 100)
    primary.pump()
    primary.disconnect()
    return primary, refs


def test_standby_when_the_replay_shows_the_primarys_orders_then_ids_raised_before_up_and_on_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    primary, refs = _primary(tmp_path / "primary")
    standby = Link(tmp_path / "standby", core=primary.core, clock=primary.clock)
    asked: list[tuple[tuple[int, ...], VenueState]] = []

    def order_ids_above(ids: Iterable[int]) -> int:
        seen = tuple(ids)
        asked.append((seen, standby.venue.state))
        return max(seen)

    standby.venue.order_ids_above = order_ids_above
    standby.venue.order_lookup = lambda order_id, exec_id: LOOKUP_NEVER_CREATED  # a fresh journal: none of them
    with caplog.at_level(logging.WARNING, logger="venues.boe.adapter"):
        standby.connect()
    assert standby.venue.state is VenueState.UP
    assert asked == [((2,), VenueState.LOGGING_IN)]  # once, before UP; the old code: never (ids from 1 again)
    on_file = json.loads(order_ids_path(standby.state_dir, "cboe").read_text())
    assert on_file["reserved"] == 2 and on_file["last"] is None
    assert "up to order id 2 that the journal never created" in caplog.text
    assert "new order ids start above 2, so none of those ClOrdIDs is entered again (on file in" in caplog.text
    # a restart of the standby the same day (its replay not read again) starts above them too
    again = Link(tmp_path / "standby", core=primary.core, clock=primary.clock)
    assert again.venue.order_id_floor() == 2
    assert [ref[-1] for ref in refs] == ["1", "2"]


def test_standby_when_its_order_took_a_clordid_of_the_primary_then_a_bust_is_not_laid_on_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Defence in depth: ids not raised (no engine attached), the standby's order 1 under the primary's ClOrdID."""
    primary, _refs = _primary(tmp_path / "primary")
    [(exec_id, _found)] = primary.core.exchange.executions.items()
    standby = Link(tmp_path / "standby", core=primary.core, clock=primary.clock)
    standby.connect()
    mine = make_order(1, account="ACC2", side=Side.SELL, price=PX + 500)
    standby.send_new(mine)  # Cboe takes it: ClOrdIDs are unique among live orders, the primary's order 1 is filled
    assert mine.state is OrderState.LIVE and mine.venue_ref.startswith(_refs[0])
    with caplog.at_level(logging.WARNING, logger="venues.boe.adapter"):
        assert primary.core.exchange.correct_trade(exec_id)
        standby.pump()
    [line] = [r.getMessage() for r in caplog.records if "Trade Cancel or Correct" in r.getMessage()]
    assert f"which applied no execution {exec_id}" in line, line
    assert "adjust-position" not in line and "side SELL" not in line, line  # the old code: ACC2's position "fixed"
    assert standby.venue.counters["trade_corrections"] == 1


def test_restart_when_the_start_file_was_lost_and_the_journal_kept_then_no_modify_clordid_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path / "boe")
    link.connect()
    order = make_order(1)
    link.send_new(order)
    link.send_replace(order, 110, order.price)
    link.send_replace(order, 120, order.price)
    sent = [ref.partition("@")[0] for ref in (order.venue_ref,)]
    assert sent[0].endswith(".1.2")
    starts_path(link.state_dir, "cboe").unlink()  # the state_dir's start count lost, the journal kept
    with caplog.at_level(logging.WARNING, logger="venues.boe.adapter"):
        link.restart()
    link.connect()
    link.send_replace(order, 130, order.price)
    link.send_replace(order, 140, order.price)
    modifies = [r.cl_ord_id for r in link.exchange_records if r.type == "Modify Order"]
    assert len(modifies) == 4 and len(set(modifies)) == 4, modifies  # the old code: .1.1 and .1.2 again
    assert link.core.exchange.violations == []
    assert order.qty == 140
    assert "the journal names Modify ClOrdID" in caplog.text and "use start 2" in caplog.text
    assert json.loads(starts_path(link.state_dir, "cboe").read_text())["starts"] == 2  # the next start: 3


def test_restart_when_cboe_ended_the_day_while_down_then_the_requests_sent_before_are_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path / "boe")
    link.connect()
    live, new, modified = make_order(1), make_order(2), make_order(3)
    link.send_new(live)
    link.send_new(modified)
    link.core.hold = True  # Cboe receives the next requests and answers none of them
    link.send_cancel(live)
    link.send_new(new)
    link.send_replace(modified, 150, modified.price)
    link.disconnect()  # kill -9
    link.core.end_of_day(link.clock())  # no connection: the Logout E reaches nobody; logins are refused D from now
    link.restart()
    link.events.clear()
    with caplog.at_level(logging.WARNING, logger="venues.boe.adapter"):
        for _ in range(3):
            link.connect()
    assert link.venue.state is VenueState.LOGIN_REFUSED
    answers = {(type(e).__name__, e.order_id, e.code) for e in link.events if isinstance(e, VenueRejected)}
    answers |= {(type(e).__name__, e.order_id, e.code) for e in link.events if isinstance(e, VenueCancelRejected)}
    assert not [e for e in link.events if not isinstance(e, (VenueRejected, VenueCancelRejected))]
    assert answers == {  # the old code: none (PENDING_NEW, the Cancel and the Modify unanswered all day)
        ("VenueCancelRejected", 1, "BOE_SESSION_ENDED"),
        ("VenueRejected", 2, "BOE_SESSION_ENDED"),
        ("VenueCancelRejected", 3, "BOE_SESSION_ENDED"),
    }
    texts = [e.text for e in link.events if isinstance(e, (VenueRejected, VenueCancelRejected))]
    assert all("whether Cboe received it and what it did is unknown; reconcile with Cboe" in t for t in texts)
    assert all("SequenceNumber" in t for t in texts)
    assert (live.state, new.state, modified.state) == (OrderState.LIVE, OrderState.REJECTED, OrderState.LIVE)
    assert modified.qty == 100
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("no login can settle 3 request(s) sent before (orders 1, 2, 3)" in e for e in errors), errors
    assert any("if Cboe's trading day is over" in e for e in errors), errors


def test_login_refused_when_not_d_then_the_requests_wait_for_a_login(tmp_path: Path) -> None:
    """N (the credentials): a fix and ``gateway venue reconnect`` let the replay settle them, as before."""
    link = Link(tmp_path / "boe")
    link.connect()
    order = make_order(1)
    link.core.hold = True
    link.send_new(order)
    link.disconnect()
    link.config = msgspec.structs.replace(link.config, password="WRONG")
    link.restart()
    link.events.clear()
    for _ in range(3):
        link.connect()
    assert link.venue.state is VenueState.LOGIN_REFUSED
    assert link.events == [] and order.state is OrderState.PENDING_NEW
