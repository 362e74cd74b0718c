"""An OUCH Replace not sent again because its order is in doubt: its number a candidate, on file (ouch56).

A Replace the replay left unanswered while its order's live UserRefNum is in doubt is answered ``CancelRejected``
``OUCH_IN_DOUBT`` "not sent again" (the venue may have ignored it, and would ignore it again). docs/venues/ouch.md
promises its number joins the candidates a Cancel names, "as the venue may still process it". Before ouch56 it did
not, and it was not put in ``<name>.ouch-doubts.json`` either: when the venue had applied it, a strategy's Cancel
named only the order's older numbers, which the venue ignores, and was never answered; and a restart forgot it.

The case: order r1 (UserRefNum 1), its Replace to 2 answered in doubt (on file, fixouch54; the venue is slow), the
venue's late Rejected of 2 settles it (1 live; 2 stays on file until the next sweep prunes it; before ouchdoubt58 a
fill naming 1 did, which proves nothing of a Replace the venue may still apply); at once Replace 1->3, which the venue
applies without a word yet (a slow venue: its Replaced is not on the stream); the gateway dies (kill -9) before that
sweep. The restarted process knows the order by 1 and 2 (the file's entry makes 2 a candidate again) with Replace 3
in flight: the login's replay has no answer for 3, so 3 is not sent again. (Before ouchdoubt57 this file settled the
doubt with a fill on 2 and Replace 2->3; a fill naming 2 now gives the order Replace 2's terms and the journal its
number, so the restarted process is not in doubt there: tests/ouch/test_replace_doubt_settled_new_number.py.)

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_replace_doubt_restart.py.
"""

from __future__ import annotations

from pathlib import Path

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, NewOrder, OrderAccepted, Replace
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, TS, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _up
from tests.ouch.test_replace_doubt_restart import _restart_same_journal
from venues.ouch.codec import encode_message
from venues.ouch.doubts import read_doubts
from venues.ouch.messages import OrderRejected as OuchRejected


def _third_number_applied_silently(tmp_path: Path) -> tuple[Link, object, int]:
    """Order r1 (1); Replace 1->2 in doubt (on file), settled by its late Rejected; Replace 1->3 applied silently."""
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, _rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = _rig.connect("S1")
    strat.received()
    _rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    _rig.send(strat, Replace("r1", 200, RESTING - 100))  # UserRefNum 2
    engine.flush()
    link.venue.flush()
    link._to_server.clear()  # the venue is slow: its answer comes below
    _run(link, engine, 6_000)
    assert [type(m) for m in _events(strat)] == [OrderAccepted, CancelRejected]  # OUCH_IN_DOUBT, 2 on file
    # the venue's late Rejected of 2 settles the doubt (1 live), 2 on file until a sweep. (Before ouchdoubt58 a fill
    # naming 1 did; it does not any more: the venue may still apply a Replace after a fill of the original in flight)
    link.core.stream.append(encode_message(OuchRejected(TS, 2, 0x0001, f"{next(iter(engine.orders)):014d}")))
    link.pump()
    engine.flush()
    assert _events(strat) == []  # the strategy had its one answer (CancelRejected OUCH_IN_DOUBT)
    _rig.send(strat, Replace("r1", 300, RESTING - 200))  # UserRefNum 3, replacing 1
    engine.flush()
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())  # the venue applies it ...
    link._to_server.clear()
    replaced = link.core.stream.packets.pop()  # ... and has said nothing yet
    assert replaced[3:4] == b"U"
    assert [o.user_ref_num for o in link.core.exchange.orders.values() if o.open] == [3]
    (order_id,) = engine.orders
    return link, engine, order_id


def _cancel_answered(link: Link, engine: object, rig: object) -> list[object]:
    strat = rig.connect("S1")  # type: ignore[attr-defined]
    strat.received()
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    _run(link, engine, 2_000)
    return [m for m in _events(strat) if isinstance(m, Canceled | CancelRejected)]


def test_replace_not_sent_again_when_its_order_is_in_doubt_then_a_cancel_names_it_and_is_answered(
    tmp_path: Path,
) -> None:
    link, engine, order_id = _third_number_applied_silently(tmp_path)
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)  # kill -9; the venue keeps order 3 live
    _up(second, engine2)
    store = second.store
    _enters, replaces = read_doubts(second.state_dir, second.config.name, store.day, store.session)
    assert replaces.get(3) == (order_id, 2)  # the highest candidate then; old: None (forgotten by the next restart)
    answers = _cancel_answered(second, engine2, rig2)
    assert 3 in _cancels(second)  # old: [1, 2] only, both dead at the venue: ignored
    assert [type(m) for m in answers] == [Canceled], answers  # old: no answer at all
    assert [o.user_ref_num for o in second.core.exchange.orders.values() if o.open] == []
    assert second.core.exchange.violations == []


def test_replace_not_sent_again_when_the_gateway_restarts_once_more_then_the_next_process_still_cancels_it(
    tmp_path: Path,
) -> None:
    link, engine, order_id = _third_number_applied_silently(tmp_path)
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)
    _up(second, engine2)
    strat = rig2.connect("S1")  # type: ignore[attr-defined]  # replayed: the journal's events of the order
    refused = [m for m in _events(strat) if isinstance(m, CancelRejected)]
    assert [m.code for m in refused] == ["OUCH_IN_DOUBT", "OUCH_IN_DOUBT"], refused  # Replace 2's, then 3's
    assert "not sent again" in refused[1].text, refused
    third, engine3, rig3 = _restart_same_journal(second, engine2, tmp_path)  # kill -9 again
    _up(third, engine3)
    answers = _cancel_answered(third, engine3, rig3)
    assert 3 in _cancels(third)  # by the third process (the second sent no Cancel); old: [1, 2]
    assert [type(m) for m in answers] == [Canceled], answers  # old: the Cancel named 1 and 2 only: never answered
    assert engine3.orders[order_id].leaves_qty == 0  # type: ignore[attr-defined]
    assert third.core.exchange.violations == []
