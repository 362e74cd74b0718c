"""A Replace answered OUCH_IN_DOUBT, then a message naming the OLD UserRefNum, then the venue applies it (rev58ouch).

The venue is slow: Replace 1->2 (100 -> 300) has no answer within ``answer_timeout_ms``, so the strategy gets
``CancelRejected`` ``OUCH_IN_DOUBT``. OUCH 5.0 (section 4, Order Replaced): "An execution of the original that was in
flight carries the original UserRefNum. It arrives before the Replaced message". A fill of number 1 (or a supervisory
cut of it) therefore proves nothing of the Replace: the venue may still apply it. Before ouchdoubt58 such a message
settled the doubt on the old number: number 2 was dropped from the candidates and its terms forgotten, so

* HIGH 1: the strategy's Cancel named 1 alone; the venue applied the Replace (Replaced 1->2), then ignored the Cancel
  of the dead number 1; the Cancel was never answered and the order stayed live at the venue;
* HIGH 2: with the Replaced lost, a fill naming 2 was applied at the OLD terms (30 open here, 250 live there), and the
  Cancel again named 1 alone. After a kill -9 the same sequence was right (the doubts file kept number 2).

Now the doubt stands until the venue names the highest number (its Replaced, a message naming 2), rejects the
Replace, or ends the order; a Cancel names both numbers; a Replaced arriving after a Cancel of the old number went out
sends that Cancel again to the new number (the venue ignored it there).

Real engine and journal over the project's OUCH simulator (fake clock), as
tests/ouch/test_replace_doubt_settled_new_number.py; requests are held on their way to the venue and delivered in
the order the venue takes them.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, NewOrder, Replace, Replaced
from model.enums import Side
from model.order import OrderState
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _up
from tests.ouch.test_replace_doubt_restart import _restart_same_journal

NEW_PRICE = RESTING - 50


def _held(link: Link, engine: object) -> bytes:
    """Return what the gateway just wrote for the venue, kept from it (a slow venue has not read it yet)."""
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    data = bytes(link._to_server)
    link._to_server.clear()
    return data


def _packets(data: bytes) -> list[bytes]:
    """Split SoupBinTCP packets (2-byte length, then the packet)."""
    packets = []
    while data:
        (length,) = struct.unpack(">H", data[:2])
        packets.append(data[: 2 + length])
        data = data[2 + length :]
    return packets


def _deliver(link: Link, engine: object, *chunks: bytes) -> None:
    """The venue reads ``chunks`` in this order, then both sides run."""
    assert link.connection is not None
    for chunk in chunks:
        link.core.receive(link.connection, chunk, link.clock())
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    _run(link, engine, 1_000)


def _replace_in_doubt(tmp_path: Path) -> tuple[Link, object, object, object, bytes]:
    """Order r1 (100 resting, UserRefNum 1); Replace 1->2 (300 @ NEW_PRICE) held from the venue, answered in doubt."""
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    _events(strat)
    rig.send(strat, Replace("r1", 300, NEW_PRICE))
    replace = _held(link, engine)
    assert replace[3:4] == b"U"
    _run(link, engine, 6_000)
    (answer,) = _events(strat)
    assert isinstance(answer, CancelRejected) and answer.code == "OUCH_IN_DOUBT", answer
    return link, engine, rig, strat, replace


def _venue_open(link: Link) -> list[tuple[int, int]]:
    return [(o.user_ref_num, o.open) for o in link.core.exchange.orders.values() if o.open]


def test_fill_of_the_old_number_in_flight_then_cancel_names_both_and_the_late_replaced_order_is_canceled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat, replace = _replace_in_doubt(tmp_path)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert link.core.exchange.execute(1, 40)  # in flight before the venue reads the Replace
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _run(link, engine, 200)
    assert "doubt is settled" not in caplog.text  # before: "... as UserRefNum 1 (its doubt is settled)"
    (executed,) = _events(strat)
    assert isinstance(executed, Executed) and (executed.cum_qty, executed.leaves_qty) == (40, 60), executed
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    cancels = _held(link, engine)
    _deliver(link, engine, replace, cancels)  # in order: Replaced 1->2 (260 open), the Cancel of 1 ignored (dead)
    # before: [1] only, ignored: the Cancel never answered. Then 2 again once the venue named it live (a venue may
    # have taken the first before the Replace; a second Cancel of it is ignored as superfluous)
    assert _cancels(link) == [1, 2, 2]
    replaced, canceled = _events(strat)
    assert isinstance(replaced, Replaced) and (replaced.qty, replaced.leaves_qty) == (300, 260), replaced
    assert isinstance(canceled, Canceled) and (canceled.canceled_qty, canceled.leaves_qty) == (260, 0), canceled
    assert engine.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]
    assert _venue_open(link) == [] and link.core.exchange.violations == []
    assert link.venue.status()["awaiting_answer"] == 0
    # one text for the late Replaced: the in-doubt one (rev57merge3 LOW 3: before, "reported refused")
    assert "a replace answered in doubt (CancelRejected OUCH_IN_DOUBT" in caplog.text
    assert "reported refused" not in caplog.text


def test_supervisory_cut_of_the_old_number_then_cancel_names_both_and_the_late_replaced_order_is_canceled(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat, replace = _replace_in_doubt(tmp_path)
    assert link.core.exchange.cancel(1, "S", quantity=20)
    _run(link, engine, 200)
    (cut,) = _events(strat)
    assert isinstance(cut, Canceled) and (cut.canceled_qty, cut.leaves_qty) == (20, 80), cut
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    cancels = _held(link, engine)
    _deliver(link, engine, replace, cancels)
    assert _cancels(link) == [1, 2, 2]  # before: [1] only
    replaced, canceled = _events(strat)
    assert isinstance(replaced, Replaced) and replaced.qty == 300, replaced
    assert isinstance(canceled, Canceled) and canceled.leaves_qty == 0, canceled
    assert _venue_open(link) == [] and link.core.exchange.violations == []


def test_replace_while_the_old_number_fills_is_refused_in_doubt(tmp_path: Path) -> None:
    link, engine, rig, strat, _replace = _replace_in_doubt(tmp_path)
    assert link.core.exchange.execute(1, 10)
    _run(link, engine, 200)
    _events(strat)
    rig.send(strat, Replace("r1", 200, NEW_PRICE))  # type: ignore[attr-defined]
    assert _held(link, engine) == b""  # nothing on the wire: the venue may still apply Replace 2
    (refused,) = _events(strat)  # before: sent naming 1, which the venue ignores once Replace 2 took effect
    assert isinstance(refused, CancelRejected) and refused.code == "OUCH_IN_DOUBT", refused


def test_late_replaced_after_a_cancel_the_venue_took_before_the_replace_then_the_cancel_goes_to_the_new_number(
    tmp_path: Path,
) -> None:
    """The venue took the Cancel of number 2 before it applied the Replace (2 unknown then: ignored)."""
    link, engine, rig, strat, replace = _replace_in_doubt(tmp_path)
    assert link.core.exchange.execute(1, 40)
    _run(link, engine, 200)
    _events(strat)
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    packets = _packets(_held(link, engine))
    early = [p for p in packets if p[4:8] == (2).to_bytes(4, "big")]  # X of UserRefNum 2
    rest = [p for p in packets if p not in early]
    _deliver(link, engine, *early, replace, *rest)
    replaced, canceled = _events(strat)  # before: the Replaced only, the Cancel never answered
    assert isinstance(replaced, Replaced) and replaced.leaves_qty == 260, replaced
    assert isinstance(canceled, Canceled) and canceled.leaves_qty == 0, canceled
    assert _cancels(link)[-1] == 2  # sent again to 2 once the venue named it live
    assert _venue_open(link) == [] and link.core.exchange.violations == []
    assert link.venue.status()["awaiting_answer"] == 0


def _cut_then_replaced_lost(tmp_path: Path) -> tuple[Link, object, object, object]:
    """HIGH 2: a cut of 1 (20), then the venue applies Replace 1->2 and its Replaced never reaches the gateway."""
    link, engine, rig, strat, replace = _replace_in_doubt(tmp_path)
    assert link.core.exchange.cancel(1, "S", quantity=20)
    _run(link, engine, 200)
    (cut,) = _events(strat)
    assert isinstance(cut, Canceled) and cut.leaves_qty == 80, cut
    assert link.connection is not None
    link.core.receive(link.connection, replace, link.clock())
    assert link.core.stream.packets.pop()[3:4] == b"U"  # the Replaced, lost
    assert _venue_open(link) == [(2, 300)]
    return link, engine, rig, strat


def _fill_of_the_new_number_applied_at_its_terms(link: Link, engine: object, strat: object) -> None:
    replaced, executed = [m for m in _events(strat) if isinstance(m, Replaced | Executed)]
    # before: Executed 50 leaves 30 at the old terms, 250 live at the venue
    assert isinstance(replaced, Replaced) and (replaced.qty, replaced.price) == (300, NEW_PRICE), replaced
    assert isinstance(executed, Executed) and (executed.cum_qty, executed.leaves_qty) == (50, 250), executed
    (order,) = engine.orders.values()  # type: ignore[attr-defined]
    assert (order.qty, order.price, order.leaves_qty, order.venue_ref) == (300, NEW_PRICE, 250, "2")


def test_cut_of_the_old_number_then_replaced_lost_then_fill_of_the_new_number_applied_at_the_replace_terms(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _cut_then_replaced_lost(tmp_path)
    assert link.core.exchange.execute(2, 50)
    _run(link, engine, 200)
    _fill_of_the_new_number_applied_at_its_terms(link, engine, strat)
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    _deliver(link, engine, _held(link, engine))
    assert _cancels(link) == [2]  # before: [1], ignored
    (canceled,) = _events(strat)
    assert isinstance(canceled, Canceled) and (canceled.canceled_qty, canceled.leaves_qty) == (250, 0), canceled
    assert _venue_open(link) == [] and link.core.exchange.violations == []


def test_same_sequence_across_a_kill_9_then_the_same_outcome(tmp_path: Path) -> None:
    link, engine, _rig, _strat = _cut_then_replaced_lost(tmp_path)
    assert link.core.exchange.execute(2, 50)  # while the gateway is down: in the replay
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)
    _up(second, engine2)
    strat = rig2.connect("S1")  # type: ignore[attr-defined]
    _fill_of_the_new_number_applied_at_its_terms(second, engine2, strat)
    rig2.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    _deliver(second, engine2, _held(second, engine2))
    assert 2 in _cancels(second)
    (canceled,) = [m for m in _events(strat) if isinstance(m, Canceled)]
    assert canceled.leaves_qty == 0, canceled
    assert _venue_open(second) == [] and second.core.exchange.violations == []


def test_venue_that_counts_the_cut_against_the_replace_then_its_canceled_ends_the_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The gateway reckons 300 - executed open; a venue that also took the cut off holds 20 fewer: its Canceled U,
    the answer to the gateway's Cancel (which asks for everything), ends the order (before: 20 stayed open here)."""
    link, engine, rig, strat = _cut_then_replaced_lost(tmp_path)
    (venue_order,) = [o for o in link.core.exchange.orders.values() if o.user_ref_num == 2]
    venue_order.open -= 20  # 280 there
    assert link.core.exchange.execute(2, 50)
    _run(link, engine, 200)
    _fill_of_the_new_number_applied_at_its_terms(link, engine, strat)
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _deliver(link, engine, _held(link, engine))
    (said,) = [r.getMessage() for r in caplog.records if "the venue had no more; the order ends" in r.getMessage()]
    assert "the other 20 were not live there (a replace answered in doubt" in said, said  # (rev61ouch: the why kept)
    (canceled,) = _events(strat)
    assert isinstance(canceled, Canceled) and canceled.leaves_qty == 0, canceled
    (order,) = engine.orders.values()  # type: ignore[attr-defined]
    assert order.state is OrderState.CANCELED
    assert _venue_open(link) == [] and link.venue.status()["awaiting_answer"] == 0


def test_venue_that_counts_the_cut_against_the_replace_across_a_kill_9_then_its_canceled_ends_the_order(
    tmp_path: Path,
) -> None:
    """As above, the fill naming 2 in the replay of a restarted process (which applied the terms before, too)."""
    link, engine, _rig, _strat = _cut_then_replaced_lost(tmp_path)
    (venue_order,) = [o for o in link.core.exchange.orders.values() if o.user_ref_num == 2]
    venue_order.open -= 20
    assert link.core.exchange.execute(2, 50)
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)
    _up(second, engine2)
    strat = rig2.connect("S1")  # type: ignore[attr-defined]
    _fill_of_the_new_number_applied_at_its_terms(second, engine2, strat)
    rig2.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    _deliver(second, engine2, _held(second, engine2))
    # before: Canceled 230 leaves 20, the order open here for ever (its Cancel answered in part only)
    (canceled,) = [m for m in _events(strat) if isinstance(m, Canceled)]
    assert canceled.leaves_qty == 0, canceled
    (order,) = engine2.orders.values()  # type: ignore[attr-defined]
    assert order.state is OrderState.CANCELED
    assert _venue_open(second) == [] and second.venue.status()["awaiting_answer"] == 0
