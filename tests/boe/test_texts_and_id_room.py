"""BOE texts a strict venue review (rev48boe) found wrong, and what the start-up ERROR says when ids no longer fit.

* a probe's Cancel Rejected with no Text read ``Cboe rejected a Cancel of it (O: )``: the letter's meaning now;
* the Cancel owed after a restart said Cboe "has not received a Cancel of it yet" though Cboe may hold one
  unanswered: it says what the gateway knows, that Cboe has not answered one;
* the ERROR at start when the order ids no longer fit a BOE ClOrdID says how long the prefix may be.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

import simulators.boe.exchange as boe_exchange
from gateway.app import order_id_room_problems
from gateway.recovery import ORDER_ID_MARGIN
from model.order import OrderState
from model.venue_events import VenueRejected
from tests.boe.harness import DAY_NS, Link, connected_link, make_order
from venues.boe.adapter import ORDER_ID_SKIP, PROBE_TIMEOUT_NS, trading_day
from venues.boe.messages import CancelRejected
from venues.boe.state import save_owed_cancels


def _without_text(*fields: Any) -> CancelRejected:
    """A Cancel Rejected as a venue that sends no Text builds it."""
    return msgspec.structs.replace(CancelRejected(*fields), text="")


def test_probe_rejected_without_text_when_the_order_is_reported_lost_then_the_text_names_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boe_exchange, "CancelRejected", _without_text)
    link = connected_link(tmp_path, reject_symbols=frozenset({"SPY"}))
    lost = make_order(2, symbol="SPY")
    link.send_new(lost, pump=False)
    link.venue.flush()  # Cboe gets it and rejects it unsequenced; the crash loses the answer
    link.disconnect(lose_unsent=False)
    link.restart()
    link.connect()  # the probe (a Cancel Order) is refused O, with no Text
    for _ in range(PROBE_TIMEOUT_NS // 500_000_000 + 1):
        link.clock.advance_ms(500)
        link.poll()
    [rejected] = [e for e in link.events if e.order_id == 2]
    assert isinstance(rejected, VenueRejected) and rejected.code == "BOE_ANSWER_LOST"
    assert "Cboe rejected a Cancel of it (O: ClOrdID does not match any known order) and no acknowledgment" in (
        rejected.text
    )
    assert "(O: )" not in rejected.text and lost.state is OrderState.REJECTED


def test_cancel_owed_when_sent_after_the_replay_then_the_warning_says_cboe_has_not_answered_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path)
    day = trading_day(link.config.timezone, lambda: DAY_NS)
    save_owed_cancels(tmp_path, "cboe", day, {"GONE1": 0})  # a process before owed it, and died
    link.restart()
    caplog.set_level(logging.WARNING, logger="venues.boe.adapter")
    link.connect()
    [line] = [r.getMessage() for r in caplog.records if "GONE1 sent" in r.getMessage()]
    assert line == (
        "venue cboe: Cancel Order of ClOrdID GONE1 sent (again) after the replay: Cboe showed the order working "
        "after it had ended here, and has not answered a Cancel of it yet"
    )
    assert [r.orig_cl_ord_id for r in link.exchange_records if r.type == "Cancel Order"] == ["GONE1"]


@pytest.mark.parametrize(
    ("prefix", "stops", "allowed"),
    [("GWAB", 3, 3), ("GWABC", 1, 4), ("GW", 3, 3)],
)
def test_start_up_error_when_unclean_stops_push_ids_past_the_prefix_then_it_says_how_short_a_prefix_fits(
    tmp_path: Path, prefix: str, stops: int, allowed: int
) -> None:
    venue = Link(tmp_path, cl_ord_id_prefix=prefix).venue
    next_id = 1_000 + stops * ORDER_ID_MARGIN
    problems = order_id_room_problems({"BOE-A": venue}, next_id)
    if len(prefix) <= allowed:
        assert problems == []
        return
    assert problems == [
        f"venue BOE-A: order ids from {next_id} no longer fit its order references (up to {venue.max_order_id()}): "
        f"every order to it will be refused; shorten cl_ord_id_prefix {prefix!r} ({len(prefix)} characters) to "
        f"{allowed} characters at most (each unclean stop today moved the ids 4,194,304 ahead; docs/venues/boe.md, "
        "ClOrdIDs) and restart: open orders keep the ClOrdIDs they were sent with"
    ]
    assert ORDER_ID_SKIP == ORDER_ID_MARGIN


@pytest.mark.parametrize(("prefix_length", "tolerated"), [(0, 23_841), (1, 2_384), (2, 238), (3, 23), (4, 2), (5, 0)])
def test_unclean_stops_a_day_when_prefix_length_given_then_as_the_docs_table_says(
    tmp_path: Path, prefix_length: int, tolerated: int
) -> None:
    # docs/venues/boe.md, ClOrdIDs: the table of unclean stops per day each prefix length tolerates (few orders)
    venue = Link(tmp_path, cl_ord_id_prefix="P" * prefix_length).venue
    assert venue.max_order_id() // ORDER_ID_MARGIN == tolerated
