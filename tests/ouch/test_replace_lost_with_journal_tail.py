"""An OUCH Replace whose journal records a power failure cut: the venue's replayed Replaced applies (rev60chaos HIGH 1).

Under ``fsync: interval`` (the default) a power failure loses the journal's last interval: a Replace sent and
answered ``U`` Order Replaced in it is gone from the journal, while the venue works the order under the Replace's
new UserRefNum. After the restart the login's replay brings that Replaced back (OrigUserRefNum = the order's number,
ClOrdID = the order's). Before, the adapter counted it "for unknown UserRefNum" and kept the order under its old
number: every Cancel of it (the strategy's, the kill switch's) named a number the venue ignores, never answered, the
order working at the venue. Now it is this gateway's lost Replace: the order takes the new number and terms, the
strategy gets ``Replaced``, and the Cancel names the live number. Not after a clean stop (the journal then holds
every Replace sent), nor for a Replaced carrying another ClOrdID (another host's order).

Real engine and journal over the OUCH simulator (fake clock); the power failure is the journal file put back as it
was before the Replace (its durable part), as tests/reliability/test_power_failure.py cuts it on a real process.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.journal import read_journal
from gateway.protocol.messages import Cancel, Canceled, NewOrder, OrderAccepted, Replace, Replaced, Welcome
from gateway.recovery import recover
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _up

NEW_PRICE = RESTING - 100
CL_ORD_ID_AT = 52  # Order Replaced: ClOrdID at offset 52 (OUCH 5.0, 2.2.3)


def _replaced_then_power_failure(
    tmp_path: Path,
    *,
    clean: bool = False,
    batch: bool = False,
    cl_ord_id: bytes = b"",
    accepted_lost: bool = False,
    owed: bool = False,
    replaces: int = 1,
) -> tuple[Link, object, object]:
    """Order r1 accepted (journaled), Replace 1->2 answered Replaced, then a power failure cuts both from the journal.

    Returns the restarted gateway's link (not yet connected), engine and rig, recovered from the cut journal as
    ``gateway run`` does (appending to it; ``journal_opened`` told how the last run stopped). ``cl_ord_id``: the
    ClOrdID the venue's Replaced carries in its replay (default: the order's own). ``accepted_lost``: the cut takes the
    order's Accepted too (the journal holds the Enter unanswered). ``owed``: the venue's NextUserRefNum is owed on file
    (an earlier login's failback or replay gap: another host may have used the session). ``replaces``: how many
    Replaces (each doubling the quantity) the cut takes.
    """
    journal = tmp_path / "j1"
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, journal)
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    engine.journal.flush()
    sent_only = journal.read_bytes()  # the Enter sent, its Accepted not journaled yet
    link.pump()
    engine.flush()
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted)
    engine.journal.flush()
    durable = journal.read_bytes()  # synced: what a power failure leaves
    for n in range(1, replaces + 1):
        rig.send(strat, Replace("r1", 100 << n, NEW_PRICE))
        engine.flush()
        link.pump()
        engine.flush()
        (replaced,) = _events(strat)
        assert isinstance(replaced, Replaced) and replaced.qty == 100 << n, replaced
    engine.journal.flush()
    engine.journal.close()
    link.disconnect()  # kill -9 ...
    journal.write_bytes(sent_only if accepted_lost else durable)  # ... and the power failure: the Replace and its
    # Replaced gone from the journal
    if cl_ord_id:
        packets = link.core.stream.packets
        (at,) = [i for i, packet in enumerate(packets) if packet[3:4] == b"U"]
        packet = bytearray(packets[at])
        packet[3 + CL_ORD_ID_AT : 3 + CL_ORD_ID_AT + 14] = cl_ord_id.ljust(14)
        packets[at] = bytes(packet)
    second = Link(tmp_path / "ouch", core=link.core, clock=link.clock)
    if owed:
        assert second.store.mark_ask()
    recovered = recover(read_journal(journal))
    engine2, rig2 = gateway_over(second, journal)
    engine2.adopt(recovered)
    second.venue.journal_opened(str(journal), clean, batch, False)
    point = recovered.resume.get(second.venue.name)
    assert point is not None
    second.venue.resume_after(point)
    return second, engine2, rig2


def _cancel(link: Link, engine: object, rig: object) -> list[object]:
    """A strategy connects (replay from the start) and cancels r1; return its events."""
    strat = rig.connect("S1")  # type: ignore[attr-defined]
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    _run(link, engine, 1_000)
    return [event for event in _events(strat) if not isinstance(event, Welcome)]


def test_replace_lost_with_the_journal_tail_when_the_venue_replays_its_replaced_then_applied_and_cancel_names_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig = _replaced_then_power_failure(tmp_path)
    (order,) = engine.orders.values()  # type: ignore[attr-defined]
    assert (order.qty, order.venue_ref) == (100, "1")  # what the cut journal knows
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _up(link, engine)
    assert (order.qty, order.price, order.leaves_qty, order.venue_ref) == (200, NEW_PRICE, 200, "2")
    counters = link.venue.counters
    assert counters["unknown_user_ref_num"] == 0  # before: 1, and the order kept UserRefNum 1
    assert counters["replaced_journal_lost"] == 1
    assert any("whose records the journal may have lost with its tail" in r.getMessage() for r in caplog.records)
    assert link.store.last_issued >= 2
    events = _cancel(link, engine, rig)
    assert _cancels(link) == [2]  # before: 1, ignored by the venue, never answered
    assert [type(e) for e in events] == [OrderAccepted, Replaced, Canceled], events
    assert (events[1].qty, events[1].price, events[1].leaves_qty) == (200, NEW_PRICE, 200)  # type: ignore[attr-defined]
    assert events[2].canceled_qty == 200, events[2]  # type: ignore[attr-defined]
    assert not [o for o in link.core.exchange.orders.values() if o.open]  # nothing works at the venue


def test_two_replaces_lost_with_the_journal_tail_then_both_applied_and_cancel_names_the_last(tmp_path: Path) -> None:
    """The second Replace replaced the first one's number, which only the first adoption made the order's."""
    link, engine, rig = _replaced_then_power_failure(tmp_path, replaces=2)
    _up(link, engine)
    (order,) = engine.orders.values()  # type: ignore[attr-defined]
    assert (order.qty, order.venue_ref) == (400, "3")
    assert link.venue.counters["replaced_journal_lost"] == 2
    assert link.venue.counters["unknown_user_ref_num"] == 0
    events = _cancel(link, engine, rig)
    assert _cancels(link) == [3]
    assert [type(e) for e in events] == [OrderAccepted, Replaced, Replaced, Canceled], events
    assert not [o for o in link.core.exchange.orders.values() if o.open]


@pytest.mark.parametrize(
    ("clean", "batch", "cl_ord_id", "accepted_lost", "owed"),
    [
        (True, False, b"", False, False),
        (False, True, b"", False, False),
        (False, False, b"4194305", False, False),
        (False, False, b"", True, False),
        (False, False, b"", False, True),
    ],
    ids=["clean stop", "fsync batch", "another host's ClOrdID", "its Accepted lost too", "another host possible"],
)
def test_replaced_of_an_unknown_number_when_no_replace_can_be_lost_or_not_ours_then_counted_unknown(
    tmp_path: Path, clean: bool, batch: bool, cl_ord_id: bytes, accepted_lost: bool, owed: bool
) -> None:
    """The journal holds every Replace sent (a clean stop, ``batch``), or the Replaced is another host's: unknown.

    Also when the number it replaced is not one the journal confirmed (the Enter's Accepted was lost too: after a
    failback that number may be another host's Enter under the same ClOrdID, rev60merge9 HIGH 1), or when another
    host may have used the session (the venue's NextUserRefNum owed on file): not adopted, as before ouchpf60.
    """
    link, engine, _rig = _replaced_then_power_failure(
        tmp_path, clean=clean, batch=batch, cl_ord_id=cl_ord_id, accepted_lost=accepted_lost, owed=owed
    )
    _up(link, engine)
    (order,) = engine.orders.values()  # type: ignore[attr-defined]
    assert (order.qty, order.venue_ref) == (100, "1")
    assert link.venue.counters.get("replaced_journal_lost", 0) == 0
    assert link.venue.counters["unknown_user_ref_num"] == 1
