"""A Replace answered OUCH_IN_DOUBT that the venue never applied: its number is not the order's (rev58merge3).

The Replace 1->2 never reaches the venue (held from it here: the venue does not use up number 2, OUCH 5.0 2.2), so
after ``answer_timeout_ms`` the strategy gets ``CancelRejected`` ``OUCH_IN_DOUBT`` and a Cancel names 1 and 2.

* HIGH 1: the connection drops; another host on the account (a standby numbering from the venue's NextUserRefNum)
  enters its own order as UserRefNum 2; the gateway logs in again and reads its Accepted in the replay. A Replace is
  answered Replaced or Rejected, never Accepted: number 2 is that other order's. Before, the Accepted was taken for
  this order's (the doubt "settled" on 2) and the strategy's Cancel named 1 and 2: it canceled the other host's order.
* MEDIUM 3: the connection drops (or the gateway is killed), the login's replay, read in full, names nothing of 2,
  and the venue's NextUserRefNum (Account Query) is 2: the venue never took it, the Replace never reached the venue,
  the doubt settles on 1 (the doubts file without 2). Before, every later Replace was refused OUCH_IN_DOUBT all
  day. After a replay gap the doubt stays (the Replaced may be in the gap).
* HIGH 4: the strategy cancels while the Replace is in doubt; the venue then rejects the Replace and cancels 1. The
  strategy had its answer to the Replace: the Rejected reaches it as nothing. Before, its Cancel got a false
  ``CancelRejected`` ("Quote Unavailable") and then its ``Canceled``.

Real engine and journal over the project's OUCH simulator (fake clock), the rigs of
tests/ouch/test_replace_doubt_old_number.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, Replace, Replaced
from tests.ouch.harness import TS, Link
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _up
from tests.ouch.test_replace_doubt_old_number import NEW_PRICE, _deliver, _held, _replace_in_doubt, _venue_open
from tests.ouch.test_replace_doubt_restart import _restart_same_journal
from venues.ouch.codec import encode_message
from venues.ouch.doubts import read_doubts
from venues.ouch.messages import EnterOrder
from venues.ouch.messages import OrderRejected as OuchRejected

OTHER_PRICE = RESTING + 5_000  # a sell above the order's buy: the two never cross


def _doubted_replaces(link: Link) -> dict[int, tuple[int, int]]:
    store = link.store
    return read_doubts(link.state_dir, link.config.name, store.day, store.session)[1]


def _fill_then_drop(tmp_path: Path) -> tuple[Link, object, object, object]:
    link, engine, rig, strat, _replace = _replace_in_doubt(tmp_path)  # the Replace never reaches the venue
    assert link.core.exchange.execute(1, 10)
    _run(link, engine, 200)
    (executed,) = _events(strat)
    assert isinstance(executed, Executed) and executed.leaves_qty == 90, executed
    assert _doubted_replaces(link) == {2: (1, 1)}
    link.disconnect()
    return link, engine, rig, strat


def test_another_hosts_order_under_the_replace_number_then_the_cancel_leaves_it_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _fill_then_drop(tmp_path)
    other = EnterOrder(2, "S", 500, "AAPL", OTHER_PRICE, "0", "Y", "A", "N", "N", "OTHERHOST0001")
    link.core.exchange.on_message(encode_message(other))  # the standby's own Enter, numbered from NextUserRefNum
    assert sorted(_venue_open(link)) == [(1, 90), (2, 500)]
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.connect()
        _run(link, engine, 1_000)
    assert _events(strat) == []  # nothing of the other host's order reaches this strategy
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
        _deliver(link, engine, _held(link, engine))
    assert _cancels(link) == [1]  # before: [1, 2]: the other host's order canceled
    assert "the venue applied it" not in caplog.text  # before: order 1 "live as UserRefNum 2", 500 @ OTHER_PRICE
    assert "UserRefNum 2, its replace answered in doubt, is not the order's" in caplog.text
    (canceled,) = _events(strat)
    assert isinstance(canceled, Canceled) and (canceled.canceled_qty, canceled.leaves_qty) == (90, 0), canceled
    assert _venue_open(link) == [(2, 500)]  # the other host's order still works
    assert _doubted_replaces(link) == {}


def _replace_goes_out(link: Link, engine: object, rig: object, strat: object) -> None:
    rig.send(strat, Replace("r1", 200, NEW_PRICE))  # type: ignore[attr-defined]
    _deliver(link, engine, _held(link, engine))
    (replaced,) = _events(strat)  # before: CancelRejected OUCH_IN_DOUBT, all day
    assert isinstance(replaced, Replaced) and (replaced.qty, replaced.leaves_qty) == (200, 190), replaced
    ((number, open_qty),) = _venue_open(link)
    assert number > 2 and open_qty == 190  # the Replace's number, from the store (a new block after a restart)


def test_replace_lost_with_the_connection_and_a_complete_replay_names_nothing_of_it_then_replaces_go_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _fill_then_drop(tmp_path)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.connect()
        _run(link, engine, 1_000)
    _replace_goes_out(link, engine, rig, strat)
    assert "no message of the venue named it up to the end of this login's replay" in caplog.text
    assert _doubted_replaces(link) == {}


def test_replace_lost_with_a_kill_9_and_the_replay_names_nothing_of_it_then_replaces_go_out(tmp_path: Path) -> None:
    link, engine, _rig, _strat = _fill_then_drop(tmp_path)
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)
    _up(second, engine2)
    _run(second, engine2, 1_000)
    assert _doubted_replaces(second) == {}
    strat = rig2.connect("S1")  # type: ignore[attr-defined]
    _events(strat)
    _replace_goes_out(second, engine2, rig2, strat)


def test_replace_lost_with_the_connection_and_a_replay_gap_then_it_stays_in_doubt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _fill_then_drop(tmp_path)
    assert link.core.exchange.execute(1, 5)  # a message the venue can no longer replay
    link.core.stream.replayable_from = link.core.stream.next_sequence
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.connect()
        _run(link, engine, 1_000)
    assert link.venue.status()["sequence_gaps"] == 1
    assert "stay in doubt: the replay had a gap" in caplog.text
    assert _doubted_replaces(link) == {2: (1, 1)}
    _events(strat)
    rig.send(strat, Replace("r1", 200, NEW_PRICE))  # type: ignore[attr-defined]
    assert _held(link, engine) == b""
    (refused,) = _events(strat)
    assert isinstance(refused, CancelRejected) and refused.code == "OUCH_IN_DOUBT", refused
    link.disconnect()  # a later complete replay does not make up for the gap
    link.connect()
    _run(link, engine, 1_000)
    assert _doubted_replaces(link) == {2: (1, 1)}


def test_replace_in_doubt_rejected_while_a_cancel_waits_then_the_cancel_gets_only_its_canceled(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat, _replace = _replace_in_doubt(tmp_path)
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    cancels = _held(link, engine)
    link.core.stream.append(encode_message(OuchRejected(TS, 2, 0x01, "1")))  # the venue refuses the Replace ...
    _deliver(link, engine, cancels)  # ... then cancels 1 (the Cancel of 2 ignored)
    answers = _events(strat)  # before: CancelRejected('0x0001', 'Quote Unavailable'), then Canceled
    assert [type(m) for m in answers] == [Canceled], answers
    assert answers[0].leaves_qty == 0  # type: ignore[attr-defined]
    assert _venue_open(link) == [] and link.core.exchange.violations == []
