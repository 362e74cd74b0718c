"""A matching unit whose numbering Cboe restarted under the same session (a venue-side failover, a rebuilt venue).

The simulator's ``restart_numbering`` plays it: the unit numbers from 1 again, its earlier messages
gone, the book kept. Cboe refuses the next login ``Q`` (sequence ahead: we list the old number); a
lenient venue (``accept_sequence_ahead``) accepts it with the unit's highest below our mark. Either
way the unit's new messages (acknowledgments, fills, cancels) must reach the core exactly once, not
be dropped as repeats of the old numbering, and a restart from the journal must carry on in the new
numbering.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.exactly_once import split_stream_seq, stream_seq
from model.order import OrderState
from model.venue_events import VenueAccepted, VenueCanceled, VenueExecuted, VenueRejected, VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import SimulatorConfig
from tests.boe.harness import PX, Link, make_order
from venues.boe.adapter import PROBE_TIMEOUT_NS
from venues.boe.codec import decode_inbound
from venues.boe.messages import LoginRequest, UnitSequences
from venues.boe.state import BoeStateError, numbering_path, save_numbering

EXCHANGE = BoeExchangeConfig(
    units=3, symbol_units={"AAPL": 1, "MSFT": 2, "SPY": 3}, reference_prices={"AAPL": PX, "MSFT": PX, "SPY": PX}
)
RESTING = PX - 100
RENUMBERED_1 = 1 | 1 << 8
"""Unit 1's exactly-once stream after its first restart."""


def _link(tmp_path: Path, *, lenient: bool) -> Link:
    link = Link(tmp_path, sim=SimulatorConfig(exchange=EXCHANGE, accept_sequence_ahead=lenient))
    link.connect()
    assert link.venue.state is VenueState.UP
    return link


def _connect_until_up(link: Link, attempts: int = 3) -> int:
    """Connect until the venue is UP (a Q, or a login again for a renumbered unit, costs one); return how many."""
    for attempt in range(1, attempts + 1):
        link.connect()
        if link.venue.state is VenueState.UP:
            return attempt
        link.disconnect()
    raise AssertionError(f"not UP after {attempts} connections: {link.venue.reason}")


def _last_login_units(link: Link) -> tuple[tuple[int, int], ...]:
    logins = [m for m in (decode_inbound(w) for w in link.wire if w[4] == 0x37) if isinstance(m, LoginRequest)]
    group = logins[-1].param_groups[0]
    assert isinstance(group, UnitSequences)
    return group.units


def _accepted(link: Link) -> list[int]:
    return [e.order_id for e in link.events if isinstance(e, VenueAccepted)]


def _three_acks_then_restart(link: Link) -> None:
    """Three orders acknowledged on unit 1 (its 1..3) and one on unit 2; then the venue renumbers unit 1."""
    for order_id in (100, 101, 102):
        link.send_new(make_order(order_id, price=RESTING))
    link.send_new(make_order(110, symbol="MSFT", price=RESTING))
    assert _accepted(link) == [100, 101, 102, 110]
    link.disconnect()
    link.core.restart_numbering(1)


@pytest.mark.parametrize("lenient", [False, True], ids=["cboe-refuses-Q", "venue-accepts"])
def test_relogin_when_a_unit_restarted_its_numbering_then_its_new_answers_reach_the_core(
    tmp_path: Path, lenient: bool, caplog: pytest.LogCaptureFixture
) -> None:
    link = _link(tmp_path, lenient=lenient)
    _three_acks_then_restart(link)
    caplog.set_level(logging.WARNING, logger="venues.boe.adapter")
    assert _connect_until_up(link) == (1 if lenient else 2)
    new = make_order(200, price=RESTING)
    link.send_new(new)  # the renumbered unit's message 1
    assert _accepted(link)[-1] == 200 and new.state is OrderState.LIVE
    link.core.exchange.execute(link.venue.cl_ord_id(200), 40)
    link.send_cancel(new)
    fills = [e for e in link.events if isinstance(e, VenueExecuted)]
    assert [(e.order_id, e.qty) for e in fills] == [(200, 40)]
    assert [e.order_id for e in link.events if isinstance(e, VenueCanceled)] == [200]
    assert [split_stream_seq(e.venue_seq) for e in link.events if e.order_id == 200] == [
        (RENUMBERED_1, 1),
        (RENUMBERED_1, 2),
        (RENUMBERED_1, 3),
    ]
    link.send_new(make_order(111, symbol="MSFT", price=RESTING))  # unit 2 carries on in its own numbering
    assert link.events[-1].venue_seq == stream_seq(2, 2)
    assert _last_login_units(link)[0] == ((1, 3) if lenient else (1, 0))  # Q: logged in again from 0
    status = link.venue.status()
    assert (status["numbering_restarts"], status["renumbered_units"]) == (1, {1: 1})
    refused = "" if lenient else "; login refused Q: Unit 1 sequence 3 ahead of 0"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "venue cboe: Cboe restarted the numbering of matching unit(s) 1 (its highest now below the last we "
        f"received, 1: 0; restarts so far 1{refused}): their messages from 1 on are taken as new, not as repeats; "
        "the next login lists them from 0, and New Orders unanswered are probed, not re-sent"
    ]
    assert link.venue.status()["duplicates_dropped"] == 0


@pytest.mark.parametrize("lenient", [False, True], ids=["cboe-refuses-Q", "venue-accepts"])
def test_relogin_when_the_restarted_unit_sent_fills_meanwhile_then_they_are_replayed_and_applied_once(
    tmp_path: Path, lenient: bool
) -> None:
    link = _link(tmp_path, lenient=lenient)
    _three_acks_then_restart(link)
    # while the gateway is away, the venue fills two of the orders it kept: unit 1's new 1 and 2
    link.core.exchange.execute(link.venue.cl_ord_id(100), 100)
    link.core.exchange.execute(link.venue.cl_ord_id(101), 30)
    assert _connect_until_up(link) == 2  # Q, or accepted then logged in again from 0 for the replay
    fills = [(e.order_id, e.qty, e.venue_seq) for e in link.events if isinstance(e, VenueExecuted)]
    assert fills == [(100, 100, stream_seq(RENUMBERED_1, 1)), (101, 30, stream_seq(RENUMBERED_1, 2))]
    assert link.orders[100].state is OrderState.FILLED and link.orders[101].cum_qty == 30
    assert link.venue.status()["numbering_restarts"] == 1
    link.disconnect()  # a plain cut: nothing is renumbered again, nothing applied twice
    assert _connect_until_up(link) == 1
    assert _last_login_units(link)[0] == (1, 2)
    assert len([e for e in link.events if isinstance(e, VenueExecuted)]) == 2
    assert link.venue.status()["numbering_restarts"] == 1


def test_restart_from_the_journal_when_a_unit_was_renumbered_then_login_resumes_in_the_new_numbering(
    tmp_path: Path,
) -> None:
    link = _link(tmp_path, lenient=False)
    _three_acks_then_restart(link)
    _connect_until_up(link)
    link.send_new(make_order(200, price=RESTING))
    link.core.exchange.execute(link.venue.cl_ord_id(200), 10)
    link.pump()
    events = len(link.events)
    link.restart()  # the process dies; a new one recovers from the journal's events and epochs
    assert link.venue.status()["renumbered_units"] == {1: 1}
    assert _connect_until_up(link) == 1  # no Q: the login lists unit 1 at its new numbering's 2
    assert _last_login_units(link) == ((1, 2), (2, 1))
    assert len(link.events) == events
    link.send_new(make_order(201, price=RESTING))
    assert _accepted(link)[-1] == 201 and link.events[-1].venue_seq == stream_seq(RENUMBERED_1, 3)
    assert link.venue.status()["duplicates_dropped"] == 0


def test_restart_from_the_journal_before_anything_of_the_new_numbering_then_the_file_resumes_it_from_0(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = _link(tmp_path, lenient=False)
    _three_acks_then_restart(link)
    _connect_until_up(link)
    link.restart()  # nothing of the new numbering was journaled: the journal still says unit 1 is at 3
    caplog.set_level(logging.WARNING, logger="venues.boe.adapter")
    caplog.clear()
    assert link.venue.status()["renumbered_units"] == {1: 1}  # from <state_dir>/cboe.boe-numbering.json
    assert _connect_until_up(link) == 1  # no Q: unit 1 listed at 0 of its new numbering
    assert _last_login_units(link)[0] == (1, 0)
    assert not [r for r in caplog.records if "restarted the numbering" in r.getMessage()]
    link.send_new(make_order(200, price=RESTING))
    assert _accepted(link)[-1] == 200 and link.events[-1].venue_seq == stream_seq(RENUMBERED_1, 1)


def test_restart_after_a_renumbering_with_no_message_after_it_when_a_new_order_was_lost_then_resent_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # rev48boe: Cboe renumbers unit 2 and the gateway handles it; nothing comes on unit 2 after that; a New
    # Order to unit 1 is lost in transit; kill -9. The journal still has unit 2 at its old mark: the next login
    # listed it there, took Cboe's lower highest for a renumbering again and probed the order (BOE_ANSWER_LOST)
    # instead of re-sending it (docs/venues/boe.md: S > L, Cboe never received it, re-sent under the same ClOrdID).
    link = _link(tmp_path, lenient=False)
    link.send_new(make_order(100, price=RESTING))
    link.send_new(make_order(110, symbol="MSFT", price=RESTING))
    link.send_new(make_order(111, symbol="MSFT", price=RESTING))
    link.disconnect()
    link.core.restart_numbering(2)
    assert _connect_until_up(link) == 2  # Q, then a login listing unit 2 from 0
    assert link.venue.status()["renumbered_units"] == {2: 1}
    lost = make_order(300, price=RESTING)
    cl_ord_id = link.send_new(lost, pump=False).partition("@")[0]
    link.disconnect()  # the New Order never reached Cboe
    caplog.set_level(logging.WARNING, logger="venues.boe.adapter")
    caplog.clear()
    for resent in (1, 0):  # kill -9, and again: neither start takes a renumbering that did not happen
        link.restart()
        assert _connect_until_up(link) == 1
        assert dict(_last_login_units(link))[2] == 0
        counters = link.venue.counters
        assert (counters["resent"], counters["probes"], link.venue.status()["numbering_restarts"]) == (resent, 0, 0)
        assert lost.state is OrderState.LIVE and _accepted(link)[-1] == 300
    assert not [r for r in caplog.records if "restarted the numbering" in r.getMessage()]
    assert not [e for e in link.events if isinstance(e, VenueRejected)]
    assert [r.cl_ord_id for r in link.exchange_records if r.type == "New Order"].count(cl_ord_id) == 1
    assert link.core.exchange.violations == []


def test_restart_before_the_replay_after_a_renumbering_then_a_new_order_in_doubt_is_still_probed(
    tmp_path: Path,
) -> None:
    # The renumbering is on file as unsettled until a Replay Complete follows it: the next process probes a New
    # Order with S > L as the process that saw the renumbering would have (L no longer proves Cboe never had it).
    link = _link(tmp_path, lenient=False)
    link.send_new(make_order(100, price=RESTING))
    link.send_new(make_order(300, price=RESTING), pump=False)  # S > L: lost in the cut
    link.disconnect()
    link.core.restart_numbering(1)
    link.connect()  # refused Q: unit 1 renumbered, on file; the process dies before the corrective login
    assert link.venue.state is not VenueState.UP
    link.restart()
    assert _connect_until_up(link) == 1
    assert link.venue.counters["resent"] == 0 and link.venue.counters["probes"] == 1
    for _ in range(PROBE_TIMEOUT_NS // 500_000_000 + 1):
        link.clock.advance_ms(500)
        link.poll()
    link.restart()  # settled: a later start re-sends nothing and probes nothing
    assert _connect_until_up(link) == 1
    assert link.venue.counters["probes"] == 0 and link.venue.counters["resent"] == 0


def test_new_order_unanswered_when_the_venue_renumbered_then_probed_not_resent(tmp_path: Path) -> None:
    link = _link(tmp_path, lenient=True)
    link.send_new(make_order(100, price=RESTING))
    link.send_new(make_order(300, price=RESTING), pump=False)  # S > L: lost in the cut
    link.disconnect()
    link.core.restart_numbering(1)
    assert _connect_until_up(link) == 1
    assert link.venue.counters["resent"] == 0 and link.venue.counters["probes"] == 1
    assert [r.type for r in link.exchange_records][-1] == "Cancel Order"
    for _ in range(PROBE_TIMEOUT_NS // 500_000_000 + 1):
        link.clock.advance_ms(500)
        link.poll()
    [rejected] = [e for e in link.events if isinstance(e, VenueRejected)]
    assert rejected.order_id == 300 and rejected.code == "BOE_ANSWER_LOST"
    assert "restarted its numbering" in rejected.text


def test_numbering_file_when_of_another_day_or_corrupt_then_ignored_or_refused(tmp_path: Path) -> None:
    save_numbering(tmp_path, "cboe", "2024-04-30", {1: RENUMBERED_1}, True)  # yesterday's: means nothing today
    venue = Link(tmp_path).venue
    assert venue.status()["renumbered_units"] == {}
    numbering_path(tmp_path, "cboe").write_bytes(b'{"day": "2024-05-01", "streams": {"1": ')
    with pytest.raises(BoeStateError, match=r"cboe\.boe-numbering\.json is corrupt .*delete the file"):
        Link(tmp_path)
