"""rev52ouch: the venue's late Order Accepted of an Enter the gateway answered in doubt (fixdoubt52).

An Enter the venue does not answer within ``answer_timeout_ms`` is answered ``OrderAccepted`` at the order's own size
and price (in doubt) and canceled at the venue. When the venue's Accepted comes after all:

* (a) for fewer shares (and the venue then cancels those): the venue's quantity is the order's from then on
  (docs/strategy-protocol.md 5). Before, the Accepted only set the adapter's count: the order stayed open in the core
  and risk with the shares the venue never took, its Canceled was a partial one, and a Cancel of the rest was ignored
  by the venue (the order dead there) and never answered. Now the strategy gets ``Canceled`` reason ``MODIFIED`` of the
  difference, and the venue's Canceled ends the order;
* (M1) for another order (another symbol): compared with the Enter as for any Accepted. Before, it was taken as this
  order (no compare: the Enter's bytes had left the in-flight table). Now the order ends ``Canceled``
  ``OUCH_ACCEPTED_MISMATCH`` (the strategy had its ``OrderAccepted``), the wrong order is canceled at the venue,
  counted ``accepted_mismatch``.

Real engine and journal over the OUCH simulator (fake clock); the venue's late messages are appended to its stream.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Canceled, NewOrder, OrderAccepted, VenueStatus
from model.enums import Side
from model.order import OrderState
from tests.ouch.harness import PX, TS, Link, gateway_over
from tests.ouch.test_answer_timeout import _run
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderAccepted as OuchAccepted
from venues.ouch.messages import OrderCanceled as OuchCanceled

RESTING = PX - 100


def _in_doubt(tmp_path: Path) -> tuple[Link, object, object]:
    """Enter 100 AAPL (UserRefNum 1) the venue does not get; answered in doubt after answer_timeout_ms."""
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    rig.send(strat, NewOrder("d1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.venue.flush()
    link._to_server.clear()  # the venue has not got it (yet)
    _run(link, engine, 6_000)
    (answer,) = strat.received()
    assert isinstance(answer, OrderAccepted) and answer.qty == 100
    return link, engine, strat


def _late(link: Link, engine: object, *messages: object) -> None:
    for message in messages:
        link.core.stream.append(encode_message(message))  # type: ignore[arg-type]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]


def test_in_doubt_enter_when_the_venue_accepts_fewer_shares_late_and_cancels_them_then_the_order_ends(
    tmp_path: Path,
) -> None:
    link, engine, strat = _in_doubt(tmp_path)
    _late(
        link,
        engine,
        OuchAccepted(TS, 1, "B", 50, "AAPL", RESTING, "0", "Y", 7001, "A", "N", "N", "L", "d1"),
        OuchCanceled(TS, 1, 50, "U"),  # answering the gateway's Cancel
    )
    received = [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]
    assert [(type(m).__name__, m.canceled_qty, m.leaves_qty, m.reason) for m in received] == [
        ("Canceled", 50, 50, "MODIFIED"),  # the venue took 50 of the 100
        ("Canceled", 50, 0, "U"),  # and canceled those: the order's end
    ]
    (order,) = engine.orders.values()  # type: ignore[attr-defined]
    assert (order.state, order.qty, order.leaves_qty) == (OrderState.CANCELED, 100, 0)
    assert link.venue.status()["awaiting_answer"] == 0
    assert engine.counters.venue_events_out_of_place == 0  # type: ignore[attr-defined]


def test_in_doubt_enter_when_the_venue_accepts_all_shares_late_then_nothing_more_for_the_strategy(
    tmp_path: Path,
) -> None:
    link, engine, strat = _in_doubt(tmp_path)
    _late(link, engine, OuchAccepted(TS, 1, "B", 100, "AAPL", RESTING, "0", "Y", 7001, "A", "N", "N", "L", "d1"))
    assert [m for m in strat.received() if not isinstance(m, VenueStatus)] == []  # type: ignore[attr-defined]
    (order,) = engine.orders.values()  # type: ignore[attr-defined]
    assert (order.state, order.leaves_qty) == (OrderState.LIVE, 100)
    assert link.venue.status()["accepted_mismatch"] == 0


def test_in_doubt_enter_when_the_late_accepted_names_another_symbol_then_mismatch_canceled_here_and_there(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, strat = _in_doubt(tmp_path)
    sent = len(link.core.exchange.records)
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _late(link, engine, OuchAccepted(TS, 1, "B", 100, "MSFT", RESTING, "0", "Y", 7001, "A", "N", "N", "L", "d1"))
    received = [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]
    assert [(type(m).__name__, m.leaves_qty, m.reason) for m in received] == [("Canceled", 0, "OUCH_ACCEPTED_MISMATCH")]
    assert isinstance(received[0], Canceled) and "symbol 'AAPL' -> 'MSFT'" in received[0].text
    (order,) = engine.orders.values()  # type: ignore[attr-defined]
    assert order.state is OrderState.CANCELED
    assert link.venue.status()["accepted_mismatch"] == 1
    assert any("acknowledges another order" in r.getMessage() for r in caplog.records)
    link.pump()
    assert [(r.type, r.user_ref_num) for r in link.core.exchange.records[sent:]] == [("X", 1)]  # canceled there
