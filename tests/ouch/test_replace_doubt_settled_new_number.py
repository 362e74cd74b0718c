"""A Replace answered OUCH_IN_DOUBT whose doubt a message naming its NEW UserRefNum settles (rev57ouch F1).

The venue applies Replace 1->2 and never answers it: after ``answer_timeout_ms`` the strategy gets ``CancelRejected``
``OUCH_IN_DOUBT`` (the order may be at its old or its new terms). A fill, a partial Canceled or an Order Modified
naming UserRefNum 2 then proves the Replace took effect. Before ouchdoubt57 the adapter only took 2 as the live
number and applied the message against the OLD size and price: a partial Canceled of the replaced order ended it
here (everything canceled, exposure released) while the venue kept the rest live; a fill above the old size ended
it FILLED (overfill) with shares live at the venue and a strategy's Cancel refused ``ORDER_CLOSED``; a Replace down
filled in full at the venue left the order open here with a Cancel the venue ignored, never answered. Now the order
first takes the Replace's terms, as from a late Replaced (the strategy gets ``Replaced`` after its
``CancelRejected``, then the fill or the Canceled), exactly once, also after a restart (the terms are on file with
the doubt). A message naming the OLD number is applied at the old terms, and the doubt stands (the venue may still
apply the Replace: ouchdoubt58, tests/ouch/test_replace_doubt_old_number.py).

Real engine and journal over the project's OUCH simulator (fake clock), as tests/ouch/test_replace_doubt_restart.py.
"""

from __future__ import annotations

from pathlib import Path

from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
    Executed,
    NewOrder,
    OrderAccepted,
    Replace,
    Replaced,
)
from model.enums import Side
from model.order import OrderState
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _restart, _up
from tests.ouch.test_replace_doubt_restart import _restart_same_journal
from venues.ouch.doubts import read_doubt_file

NEW_PRICE = RESTING - 50


def _replace_applied_silently(tmp_path: Path, qty: int, *, applied: bool = True) -> tuple[Link, object, object, object]:
    """Order r1 (100 resting) is UserRefNum 1; Replace 1->2 to ``qty`` @ NEW_PRICE, answered OUCH_IN_DOUBT.

    ``applied``: the venue applies the Replace and sends no Replaced; else the Replace never reaches it.
    """
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted)
    rig.send(strat, Replace("r1", qty, NEW_PRICE))
    engine.flush()
    link.venue.flush()
    assert link.connection is not None
    if applied:
        link.core.receive(link.connection, bytes(link._to_server), link.clock())  # the venue applies it ...
        replaced = link.core.stream.packets.pop()  # ... and says nothing
        assert replaced[3:4] == b"U"
    link._to_server.clear()
    live = [o for o in link.core.exchange.orders.values() if o.open]
    assert [(o.user_ref_num, o.open) for o in live] == ([(2, qty)] if applied else [(1, 100)])
    _run(link, engine, 6_000)
    (answer,) = _events(strat)
    assert isinstance(answer, CancelRejected) and answer.code == "OUCH_IN_DOUBT", answer
    return link, engine, rig, strat


def _cancel(rig: object, strat: object, engine: object, link: Link) -> None:
    rig.send(strat, Cancel("r1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    _run(link, engine, 1_000)


def _venue_open(link: Link) -> list[tuple[int, int]]:
    return [(o.user_ref_num, o.open) for o in link.core.exchange.orders.values() if o.open]


def test_partial_canceled_naming_the_new_number_then_new_terms_applied_and_rest_stays_open(tmp_path: Path) -> None:
    link, engine, rig, strat = _replace_applied_silently(tmp_path, 300)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert link.core.exchange.cancel(2, "S", quantity=100)  # supervisory: 100 of the 300 off, 200 stay live
    _run(link, engine, 200)
    replaced, canceled = _events(strat)  # before: only Canceled 100 leaves 0, the order CANCELED here
    assert isinstance(replaced, Replaced), replaced
    assert (replaced.qty, replaced.price, replaced.leaves_qty) == (300, NEW_PRICE, 300)
    assert isinstance(canceled, Canceled) and (canceled.canceled_qty, canceled.leaves_qty) == (100, 200), canceled
    order = engine.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.LIVE and (order.qty, order.price, order.leaves_qty) == (300, NEW_PRICE, 200)
    assert order.venue_ref == "2"
    assert _venue_open(link) == [(2, 200)]
    assert link.venue.status()["replaced_after_reject"] == 1
    _cancel(rig, strat, engine, link)
    assert _cancels(link) == [2]
    (answer,) = _events(strat)
    assert isinstance(answer, Canceled) and (answer.canceled_qty, answer.leaves_qty) == (200, 0), answer
    assert engine.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]
    assert _venue_open(link) == [] and link.core.exchange.violations == []


def test_fill_above_the_old_size_naming_the_new_number_then_order_stays_open_for_the_rest(tmp_path: Path) -> None:
    link, engine, rig, strat = _replace_applied_silently(tmp_path, 300)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert link.core.exchange.execute(2, 250)
    _run(link, engine, 200)
    replaced, executed = _events(strat)  # before: Executed 250 cum 250 leaves 0, the order FILLED (overfill)
    assert isinstance(replaced, Replaced) and (replaced.qty, replaced.leaves_qty) == (300, 300), replaced
    assert isinstance(executed, Executed) and (executed.qty, executed.cum_qty, executed.leaves_qty) == (250, 250, 50)
    assert link.core.exchange.execute(2, 30)
    _run(link, engine, 200)
    (second,) = _events(strat)  # the Replace's terms applied once: no second Replaced
    assert isinstance(second, Executed) and (second.cum_qty, second.leaves_qty) == (280, 20), second
    order = engine.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.LIVE and (order.qty, order.leaves_qty) == (300, 20)
    _cancel(rig, strat, engine, link)  # before: refused ORDER_CLOSED, 20 shares live at the venue
    assert _cancels(link) == [2]
    (answer,) = _events(strat)
    assert isinstance(answer, Canceled) and (answer.canceled_qty, answer.leaves_qty) == (20, 0), answer
    assert _venue_open(link) == [] and link.core.exchange.violations == []
    assert link.venue.status()["replaced_after_reject"] == 1


def test_replace_down_filled_in_full_on_the_new_number_then_order_filled_and_nothing_waits(tmp_path: Path) -> None:
    link, engine, rig, strat = _replace_applied_silently(tmp_path, 40)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert link.core.exchange.execute(2, 40)  # the venue's order is done
    _run(link, engine, 200)
    replaced, executed = _events(strat)  # before: Executed 40 leaves 60, the order open here for ever
    assert isinstance(replaced, Replaced) and (replaced.qty, replaced.leaves_qty) == (40, 40), replaced
    assert isinstance(executed, Executed) and (executed.cum_qty, executed.leaves_qty) == (40, 0), executed
    order = engine.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.FILLED and order.qty == 40
    _cancel(rig, strat, engine, link)
    (answer,) = _events(strat)  # refused at once (the order ended): no Cancel the venue would ignore
    assert isinstance(answer, CancelRejected) and answer.code == "ORDER_CLOSED", answer
    assert _cancels(link) == []
    assert link.venue.status()["awaiting_answer"] == 0
    assert _venue_open(link) == [] and link.core.exchange.violations == []


def test_fill_naming_the_new_number_in_the_replay_after_a_restart_then_new_terms_applied_once(tmp_path: Path) -> None:
    link, engine, _rig, _strat = _replace_applied_silently(tmp_path, 300)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    store = link.store
    on_file = read_doubt_file(link.state_dir, link.config.name, store.day, store.session)
    assert on_file.replaces == {2: (order_id, 1)} and on_file.replace_terms == {2: (300, NEW_PRICE)}
    assert link.core.exchange.execute(2, 120)  # while the gateway is down (kill -9): in the replay
    second, engine2, rig2 = _restart_same_journal(link, engine, tmp_path)
    _up(second, engine2)
    order = engine2.orders[order_id]  # type: ignore[attr-defined]
    # before: Executed 120 of the old 100 -> FILLED here, 180 shares live at the venue
    assert order.state is OrderState.LIVE and (order.qty, order.price, order.leaves_qty) == (300, NEW_PRICE, 180)
    strat = rig2.connect("S1")  # type: ignore[attr-defined]
    replaced, executed = [m for m in _events(strat) if isinstance(m, Replaced | Executed)]
    assert isinstance(replaced, Replaced) and (replaced.qty, replaced.leaves_qty) == (300, 300), replaced
    assert isinstance(executed, Executed) and (executed.cum_qty, executed.leaves_qty) == (120, 180), executed
    _run(second, engine2, 500)
    second.venue.poll(second.clock())  # the sweep prunes the settled doubt off the file
    # Once more (kill -9 again): the journal knows the order by 2 at the new terms; nothing is applied twice
    third, engine3, rig3 = _restart(second, engine2, tmp_path)
    _up(third, engine3)
    order = engine3.orders[order_id]  # type: ignore[attr-defined]
    assert (order.qty, order.leaves_qty, order.venue_ref) == (300, 180, "2")
    assert third.venue.status()["replaced_after_reject"] == 0
    strat3 = rig3.connect("S1")  # type: ignore[attr-defined]
    _cancel(rig3, strat3, engine3, third)
    assert _cancels(third) == [2]
    answers = [m for m in _events(strat3) if isinstance(m, Canceled)]
    assert [(m.canceled_qty, m.leaves_qty) for m in answers] == [(180, 0)]
    assert _venue_open(third) == [] and third.core.exchange.violations == []


def test_fill_naming_the_old_number_then_old_terms_kept_and_cancel_names_both(tmp_path: Path) -> None:
    link, engine, rig, strat = _replace_applied_silently(tmp_path, 300, applied=False)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert link.core.exchange.execute(1, 30)
    _run(link, engine, 200)
    (executed,) = _events(strat)  # the Replace did not take effect: no Replaced
    assert isinstance(executed, Executed) and (executed.cum_qty, executed.leaves_qty) == (30, 70), executed
    order = engine.orders[order_id]  # type: ignore[attr-defined]
    assert (order.qty, order.price, order.leaves_qty, order.venue_ref) == (100, RESTING, 70, "1")
    _cancel(rig, strat, engine, link)
    # the venue may still apply the Replace (a fill of the original in flight comes before the Replaced): both numbers
    # (before ouchdoubt58: 1 alone, never answered once the venue applied the Replace: test_replace_doubt_old_number.py)
    assert _cancels(link) == [1, 2]
    (answer,) = _events(strat)
    assert isinstance(answer, Canceled) and (answer.canceled_qty, answer.leaves_qty) == (70, 0), answer
    assert _venue_open(link) == [] and link.venue.status()["replaced_after_reject"] == 0


def test_partial_canceled_naming_the_old_number_then_old_terms_less_the_cut_stay_open(tmp_path: Path) -> None:
    link, engine, rig, strat = _replace_applied_silently(tmp_path, 300, applied=False)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert link.core.exchange.cancel(1, "S", quantity=30)  # supervisory: 30 off, 70 stay live on UserRefNum 1
    _run(link, engine, 200)
    (canceled,) = _events(strat)  # before: Canceled 100 leaves 0, the order CANCELED here, 70 live at the venue
    assert isinstance(canceled, Canceled) and (canceled.canceled_qty, canceled.leaves_qty) == (30, 70), canceled
    order = engine.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.LIVE and (order.qty, order.leaves_qty, order.venue_ref) == (100, 70, "1")
    _cancel(rig, strat, engine, link)
    assert _cancels(link) == [1, 2]  # the venue may still apply the Replace (before ouchdoubt58: 1 alone)
    (answer,) = _events(strat)
    assert isinstance(answer, Canceled) and (answer.canceled_qty, answer.leaves_qty) == (70, 0), answer
    assert _venue_open(link) == [] and link.core.exchange.violations == []
