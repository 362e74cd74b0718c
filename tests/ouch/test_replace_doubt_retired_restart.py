"""A Replace number that is not the order's stays so after a restart, and after the order ends (rev58merge8).

The Replace 1->2 never reaches the venue (held from it here: the venue does not use up number 2, OUCH 5.0 2.2), so
it is answered ``CancelRejected`` ``OUCH_IN_DOUBT``; another host on the account (a standby numbering from the
venue's NextUserRefNum) then enters its own order as UserRefNum 2.

* HIGH 1: the gateway retired 2 (the other host's Accepted names it: a Replace is never answered Accepted), then is
  killed (-9). Before, the retirement lived in memory only: the replay's Accepted of 2, found in the journal's
  Replace record, made the gateway cancel the other host's order by itself, end this order Canceled while it was
  live at the venue, and apply the other host's fill to it. Now the retired number is on file (the doubts file).
* HIGH 2: this order ended (canceled) while its Replace was in doubt, the gateway restarts, then the other host
  enters under 2. Before, its Accepted was taken for this order live at the venue after its end: canceled (X 2).
* MEDIUM 3: a replay gap at a login before the Replace no longer keeps the Replace in doubt at a later complete
  replay (before: "the replay had a gap", every Replace refused OUCH_IN_DOUBT all day).

Real engine and journal over the project's OUCH simulator (fake clock), the rigs of
tests/ouch/test_replace_doubt_not_the_orders.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, NewOrder, Replace, Replaced
from model.enums import Side
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from tests.harness import Rig
from tests.ouch.harness import PX, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _up
from tests.ouch.test_replace_doubt_not_the_orders import OTHER_PRICE, _doubted_replaces, _fill_then_drop
from tests.ouch.test_replace_doubt_old_number import NEW_PRICE, _deliver, _held, _replace_in_doubt, _venue_open
from tests.ouch.test_replace_doubt_restart import _restart_same_journal
from venues.ouch.codec import encode_message
from venues.ouch.doubts import doubts_path, read_doubt_file
from venues.ouch.messages import EnterOrder


def _other_host_enters(link: Link) -> None:
    other = EnterOrder(2, "S", 500, "AAPL", OTHER_PRICE, "0", "Y", "A", "N", "N", "OTHERHOST0001")
    link.core.exchange.on_message(encode_message(other))  # the standby's own Enter, numbered from NextUserRefNum


def test_retired_replace_number_after_a_kill_9_then_the_other_hosts_order_is_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, strat = _fill_then_drop(tmp_path)  # A1 90 open as 1, Replace 1->2 in doubt, dropped
    _other_host_enters(link)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.connect()
        _run(link, engine, 1_000)
    assert "UserRefNum 2, its replace answered in doubt, is not the order's" in caplog.text
    assert _events(strat) == []
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)  # kill -9
    _up(second, engine2)  # the replay holds the other host's Accepted of 2 again
    _run(second, engine2, 1_000)
    assert _cancels(second) == []  # before: [2]: the gateway canceled the other host's order by itself
    assert sorted(_venue_open(second)) == [(1, 90), (2, 500)]
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    assert not [m for m in _events(strat2) if isinstance(m, Canceled)]  # before: Canceled(90) while live at 1
    assert second.core.exchange.execute(2, 60)  # the other host's fill
    _run(second, engine2, 1_000)
    assert _events(strat2) == []  # before: Executed(60) applied to this order
    rig2.send(strat2, Cancel("r1"))  # type: ignore[attr-defined]
    _deliver(second, engine2, _held(second, engine2))
    assert _cancels(second) == [1]
    (canceled,) = _events(strat2)
    assert isinstance(canceled, Canceled) and (canceled.canceled_qty, canceled.leaves_qty) == (90, 0), canceled
    assert _venue_open(second) == [(2, 440)]  # the other host's order still works
    store = second.store
    assert read_doubt_file(second.state_dir, second.config.name, store.day, store.session).foreign == {2}


@pytest.mark.parametrize("restart", [False, True])
def test_order_ended_with_its_replace_in_doubt_then_another_hosts_order_under_its_number_is_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, restart: bool
) -> None:
    link, engine, rig, strat, _replace = _replace_in_doubt(tmp_path)
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    _deliver(link, engine, _held(link, engine))  # X(1) cancels it, X(2) ignored (the venue never took 2)
    assert _cancels(link) == [1, 2]
    (canceled,) = _events(strat)
    assert isinstance(canceled, Canceled) and canceled.leaves_qty == 0, canceled
    if restart:
        link, engine, rig = _restart_same_journal(link, engine, tmp_path)  # kill -9
        _up(link, engine)
        _run(link, engine, 1_000)
        strat = rig.connect("S1")  # type: ignore[attr-defined]
        _events(strat)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _other_host_enters(link)
        _run(link, engine, 1_000)
    assert _cancels(link) == [1, 2]  # before: [1, 2, 2]: "order 1 live at the venue as UserRefNum 2", canceled
    assert "another host's Enter (left alone)" in caplog.text
    assert _venue_open(link) == [(2, 500)]
    assert link.core.exchange.execute(2, 60)  # the other host's fill: not a late fill of this order
    _run(link, engine, 1_000)
    assert _events(strat) == []
    assert _cancels(link) == [1, 2]


def test_replay_gap_at_a_login_before_the_replace_then_a_complete_replay_settles_its_doubt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    _deliver(link, engine)
    _events(strat)
    link.disconnect()
    assert link.core.exchange.execute(1, 5)  # a message the venue can no longer replay: a gap, nothing in doubt
    link.core.stream.replayable_from = link.core.stream.next_sequence
    link.connect()
    _run(link, engine, 1_000)
    assert link.venue.status()["sequence_gaps"] == 1
    _events(strat)
    rig.send(strat, Replace("r1", 300, NEW_PRICE))
    assert _held(link, engine)[3:4] == b"U"  # never reaches the venue
    _run(link, engine, 6_000)
    (answer,) = _events(strat)
    assert isinstance(answer, CancelRejected) and answer.code == "OUCH_IN_DOUBT", answer
    link.disconnect()
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.connect()  # its replay is read in full, NextUserRefNum 2: the venue never took 2
        _run(link, engine, 1_000)
    assert "stay in doubt: the replay had a gap" not in caplog.text  # before: the earlier login's gap blamed
    assert "no message of the venue named it up to the end of this login's replay" in caplog.text
    assert _doubted_replaces(link) == {}
    rig.send(strat, Replace("r1", 200, NEW_PRICE))
    _deliver(link, engine, _held(link, engine))
    (replaced,) = _events(strat)  # before: CancelRejected OUCH_IN_DOUBT
    assert isinstance(replaced, Replaced) and replaced.qty == 200, replaced


@pytest.mark.parametrize("own_after", [0, 5], ids=["alone", "own_fill_after"])
def test_retired_replace_number_when_the_doubts_file_cannot_be_written_then_the_cancel_still_goes_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, own_after: int
) -> None:
    """rev59merge2 HIGH 2: every write of the doubts file failing (a directory where it is) when another host's Order
    Accepted retires the Replace's number: the login goes on, the order's own fill is applied and its Cancel reaches
    the venue at once; the ERROR says what a restart would lose and to fix the state directory first.

    ouchmark59 held the login instead (not UP until the file was written): no Cancel reached the venue, the kill
    switch's included, for as long as the disk stayed broken.
    """
    blocked = doubts_path(tmp_path / "ouch", "nasdaq")
    blocked.mkdir(parents=True)  # every atomic rename onto it fails (as a full disk fails every write)
    link, engine, rig, strat, _replace = _replace_in_doubt(tmp_path)  # as ``_fill_then_drop``: nothing on file
    assert link.core.exchange.execute(1, 10)
    _run(link, engine, 200)
    assert [type(m) for m in _events(strat)] == [Executed]
    link.disconnect()
    _other_host_enters(link)
    if own_after:
        assert link.core.exchange.execute(1, own_after)  # the order's own fill, after the other host's Accepted
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.connect()
        _run(link, engine, 1_000)
    assert "cannot write the orders answered in doubt" in caplog.text
    assert "fix the state directory before any restart" in caplog.text
    assert "UserRefNum 2, its replace answered in doubt, is not the order's" in caplog.text
    assert link.venue.state is VenueState.UP  # ouchmark59: held out of UP while the file could not be written
    fills = [(type(m), getattr(m, "qty", None)) for m in _events(strat)]
    assert fills == ([(Executed, own_after)] if own_after else [])
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    _deliver(link, engine, _held(link, engine))
    assert _cancels(link) == [1]  # the Cancel reaches the venue, and names only the order's own number
    (canceled,) = _events(strat)
    left = 90 - own_after
    assert isinstance(canceled, Canceled) and (canceled.canceled_qty, canceled.leaves_qty) == (left, 0), canceled
    assert _venue_open(link) == [(2, 500)]  # the other host's order untouched


def test_replace_doubt_below_another_hosts_number_named_in_a_complete_replay_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ouchmark59 (rev58merge8 MEDIUM 4): the standby numbered a margin above the venue's NextUserRefNum (1002).

    The replay (no gap) names 1002 and nothing names 2: UserRefNums strictly increase, so the venue ignores the
    Replace now and would have answered it before 1002 had it processed it. Before: 2 was kept (the venue's
    NextUserRefNum 1003 is above it), every Replace of the order refused OUCH_IN_DOUBT for the rest of the day and its
    Cancel named 2 as well.
    """
    link, engine, rig, strat = _fill_then_drop(tmp_path)  # A1 90 open as 1, Replace 1->2 in doubt, dropped
    other = EnterOrder(1002, "S", 500, "AAPL", OTHER_PRICE, "0", "Y", "A", "N", "N", "OTHERHOST0001")
    link.core.exchange.on_message(encode_message(other))
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.connect()
        _run(link, engine, 1_000)
    assert "this login's replay names UserRefNum 1002 of another host, above it" in caplog.text
    assert _doubted_replaces(link) == {}
    assert _events(strat) == []
    rig.send(strat, Replace("r1", 200, NEW_PRICE))  # type: ignore[attr-defined]
    _deliver(link, engine, _held(link, engine))
    (replaced,) = _events(strat)  # before: CancelRejected OUCH_IN_DOUBT
    assert isinstance(replaced, Replaced) and replaced.qty == 200, replaced
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    _deliver(link, engine, _held(link, engine))
    (canceled,) = _events(strat)
    assert isinstance(canceled, Canceled), canceled
    assert 2 not in _cancels(link)  # before: the Cancel named 2 as well
    assert _venue_open(link) == [(1002, 500)]  # the other host's order untouched


def _queries(link: Link) -> int:
    return sum(r.type == "Q" for r in link.core.exchange.records)


def test_replace_doubt_the_venue_took_then_a_later_login_does_not_wait_for_the_account_query(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ouchmark59 (rev58merge8 LOW 5): once an Account Query answer showed the venue took the doubted Replace's
    number (NextUserRefNum above it), another answer can only say so again: a later login goes UP without asking.

    Before: every re-login with a Replace in doubt asked the query and waited for it (up to server_timeout_ms
    with a venue that does not answer it).
    """
    link, engine, rig, strat, _replace = _replace_in_doubt(tmp_path)  # 2 never reached the venue
    rig.send(strat, NewOrder("r2", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # type: ignore[attr-defined]
    _deliver(link, engine)
    _events(strat)
    link.disconnect()
    asked = _queries(link)
    link.connect()  # the venue's NextUserRefNum is 4 (it took 3): 2 stays in doubt
    _run(link, engine, 1_000)
    assert _queries(link) == asked + 1
    assert _doubted_replaces(link) == {2: (1, 1)}
    link.disconnect()
    link.connect()
    _run(link, engine, 1_000)
    assert link.venue.state is VenueState.UP
    assert _queries(link) == asked + 1  # before: asked + 2, one more per login
    assert _doubted_replaces(link) == {2: (1, 1)}  # still in doubt: a cancel names both numbers


@pytest.mark.parametrize("restart", [False, True], ids=["same_process", "kill_9_after_the_gap_login"])
def test_replace_applied_whose_answer_an_earlier_login_lost_in_a_gap_stays_in_doubt_below_another_hosts_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, restart: bool
) -> None:
    """rev59merge2 HIGH 1: the rule above must not retire a Replace whose answer may have been lost.

    The venue applies the Replace 1->2 (Replaced sequenced), the connection drops before the gateway reads it, and
    the venue can no longer replay it: the next login has a gap and answers the Replace OUCH_IN_DOUBT. A standby
    then enters 1002; a later complete replay names it and nothing names 2. Before: 2 was retired, the order's own
    fill under 2 dropped as another host's, its Cancel named only 1 and 250 shares stayed live at the venue. Now 2
    stays in doubt and the fill settles it; also when the gateway restarts after the gap login (the doubt restored
    from its file: whether its answer was lost is not on file, so it is kept).
    """
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    _deliver(link, engine)
    _events(strat)
    rig.send(strat, Replace("r1", 300, NEW_PRICE))
    replace = _held(link, engine)
    assert replace[3:4] == b"U" and link.connection is not None
    link.core.receive(link.connection, replace, link.clock())  # the venue applies it: Replaced 1->2 sequenced
    link.disconnect()  # ... which the gateway never reads
    link.core.stream.replayable_from = link.core.stream.next_sequence  # nor can the venue replay it: a gap
    link.connect()
    _run(link, engine, 2_000)
    (answer,) = _events(strat)
    assert isinstance(answer, CancelRejected) and answer.code == "OUCH_IN_DOUBT", answer
    link.disconnect()
    if restart:
        link, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)  # kill -9
        engine, rig = cast(Engine, engine2), cast(Rig, rig2)
        strat = rig.connect("S1")
        _events(strat)
    other = EnterOrder(1002, "S", 500, "AAPL", OTHER_PRICE, "0", "Y", "A", "N", "N", "OTHERHOST0001")
    link.core.exchange.on_message(encode_message(other))  # the standby numbers above the venue's NextUserRefNum
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.connect()  # read in full: names 1002, nothing names 2
        _run(link, engine, 2_000)
    assert "is not the order's" not in caplog.text
    assert _doubted_replaces(link) == {2: (1, 1)}  # before: {} (retired)
    assert link.core.exchange.execute(2, 50)  # the order's own fill, under the number the venue works it as
    _run(link, engine, 1_000)
    events = _events(strat)
    assert [type(m) for m in events] == [Replaced, Executed], events  # before: [] (the fill dropped)
    rig.send(strat, Cancel("r1"))
    _deliver(link, engine, _held(link, engine))
    assert 2 in _cancels(link)  # before: X(1) only
    (canceled,) = _events(strat)
    assert isinstance(canceled, Canceled) and canceled.canceled_qty == 250, canceled
    assert _venue_open(link) == [(1002, 500)]  # before: (2, 250) live at the venue as well
