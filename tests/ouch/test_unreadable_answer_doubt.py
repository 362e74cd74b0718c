"""An OUCH Enter in doubt because its answer arrived but could not be read: canceled, bounded, kept (ouch55).

A broken Accepted (a field outside its enumeration, a quantity out of range), a Rejected too short to carry its
reason: the venue processed the Enter (this message is its answer) but what it said cannot be known. The Enter is
answered in doubt (``OrderAccepted`` at its own terms, fixouch35). Before ouch55 that was all: no Cancel and no
bound, unlike every other in-doubt Enter (answer_timeout_ms, a re-login, a replay gap: doubt53, ouchid54), so an
order the venue had rejected stayed open here (exposure counted, a strategy's Cancel of it ignored by the venue and
never answered) until End of Session, and one it had accepted was never asked about. Now it is on file in the
doubts file before its answer is journaled, canceled at the venue by its UserRefNum at once, and ended
``OUCH_OUTCOME_UNKNOWN`` if the venue says nothing of it ``answer_timeout_ms`` after that Cancel, also across a
restart.

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_doubt_gap_and_replay.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, Executed, NewOrder, OrderAccepted, OrderRejected
from model.enums import Side
from model.order import OrderState
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, TS, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _restart, _up
from venues.ouch.doubts import load_doubts


def _gateway(tmp_path: Path) -> tuple[Link, object, object, object]:
    link = Link(
        tmp_path / "ouch",
        exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True),
        max_refetches=0,  # a message that cannot be read is taken as lost at once (the path after max_refetches)
    )
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    return link, engine, rig, strat


def _enter_answered(link: Link, engine: object, rig: object, strat: object, answer: bytes | None) -> None:
    """Send one Enter; the venue takes it; its answer on the stream is replaced by ``answer`` (a whole packet) or
    corrupted at the Side (``None``: Side 'Z'). Nothing is read yet."""
    rig.send(strat, NewOrder("bad", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())  # the venue takes UserRefNum 1
    link._to_server.clear()
    packet = bytearray(link.core.stream.packets[-1])
    assert packet[3:4] == b"A"
    if answer is None:
        packet[3 + 13] = ord("Z")  # Side 'Z': an Accepted of the right length with a field outside its enumeration
        link.core.stream.packets[-1] = bytes(packet)
    else:
        link.core.stream.packets[-1] = answer


def _short_rejected(urn: int) -> bytes:
    """A Rejected (J) cut after its UserRefNum: the reason cannot be read (the venue refused the Enter)."""
    message = b"J" + TS.to_bytes(8, "big") + urn.to_bytes(4, "big")
    return (len(message) + 1).to_bytes(2, "big") + b"S" + message


def test_broken_accepted_when_the_venue_has_the_order_then_canceled_there_at_once_and_its_canceled_ends_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    _enter_answered(link, engine, rig, strat, None)
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        link.pump()
        engine.flush()  # type: ignore[attr-defined]
        link.pump()
        engine.flush()  # type: ignore[attr-defined]
    assert link.venue.status()["decode_errors"] == 1
    assert _cancels(link) == [1]  # old: no Cancel; the order stayed open at the venue, in doubt here, for good
    assert any("its answer could not be read" in r.getMessage() for r in caplog.records)
    answered, ended = _events(strat)
    assert isinstance(answered, OrderAccepted) and answered.cl_ord_id == "bad"  # in doubt, answered once
    assert isinstance(ended, Canceled) and ended.reason != "OUCH_OUTCOME_UNKNOWN", ended  # the venue's Canceled
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert engine.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]
    assert all(not o.open for o in link.core.exchange.orders.values())
    _run(link, engine, 12_000)
    assert _events(strat) == []  # nothing more: no second answer, no OUTCOME_UNKNOWN after the venue's Canceled
    assert link.venue.status()["outcome_unknown"] == 0
    assert link.core.exchange.violations == []


def test_short_rejected_when_the_venue_never_says_more_then_ended_outcome_unknown_and_the_cancel_answered(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    _enter_answered(link, engine, rig, strat, _short_rejected(1))
    link.core.exchange.orders.clear()  # the venue refused it: it holds nothing (a Cancel of UserRefNum 1 is ignored)
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    (answered,) = _events(strat)
    assert isinstance(answered, OrderAccepted)  # a Rejected whose reason cannot be read: in doubt, never rejected
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    store = link.store
    on_file = load_doubts(link.state_dir, link.config.name, store.day, store.session)
    assert list(on_file) == [1] and on_file[1][0] == order_id and on_file[1][1][3:4] == b"O"  # old: not on file
    assert _cancels(link) == [1]  # ignored by a venue that has no such order
    rig.send(strat, Cancel("bad"))  # type: ignore[attr-defined]  # the strategy's own Cancel: answered once
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    _run(link, engine, 4_000)
    assert _events(strat) == []
    _run(link, engine, 2_000)
    (ended,) = _events(strat)  # old: never; the order stayed open (exposure counted) until End of Session
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    assert "could not be read" in ended.text and "reconcile" in ended.text
    assert engine.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]
    assert link.venue.status()["outcome_unknown"] == 1
    _run(link, engine, 1_000)
    assert load_doubts(link.state_dir, link.config.name, store.day, store.session) == {}
    assert link.core.exchange.violations == []


def test_broken_answer_when_the_gateway_restarts_before_its_cancel_leaves_then_canceled_after_login_and_bounded(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    _enter_answered(link, engine, rig, strat, _short_rejected(1))
    link.core.exchange.orders.clear()  # the venue refused it
    assert link.connection is not None
    out, _cut = link.core.output(link.connection, link.clock())
    link.venue.data_received(bytes(out), link.clock())  # the broken answer is read ...
    link._to_server.clear()
    engine.flush()  # type: ignore[attr-defined]  # ... its OrderAccepted journaled ...
    link._to_server.clear()  # ... and the gateway dies before its Cancel reaches the venue
    (answered,) = _events(strat)
    assert isinstance(answered, OrderAccepted)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert _cancels(link) == []
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    assert engine2.orders[order_id].state is OrderState.LIVE  # type: ignore[attr-defined]
    _up(second, engine2)
    assert _cancels(second) == [1]  # old: none (restored as an acknowledged order; the file did not name it)
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    strat2.received()
    _run(second, engine2, 6_000)
    (ended,) = _events(strat2)
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    assert engine2.orders[order_id].state is OrderState.CANCELED  # type: ignore[attr-defined]
    assert second.core.exchange.violations == []


def test_broken_accepted_when_a_fill_comes_before_the_cancel_lands_then_the_fill_reaches_the_strategy(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    _enter_answered(link, engine, rig, strat, None)
    assert link.core.exchange.execute(1, 40)  # on the stream after the broken Accepted
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    received = _events(strat)
    assert [m for m in received if isinstance(m, OrderRejected)] == []
    assert [(type(m).__name__, getattr(m, "qty", None)) for m in received] == [
        ("OrderAccepted", 100),
        ("Executed", 40),
        ("Canceled", None),
    ], received
    assert isinstance(received[1], Executed) and received[2].leaves_qty == 0  # type: ignore[attr-defined]
    assert link.core.exchange.violations == []


def test_late_replaced_after_a_restart_when_the_replace_was_in_doubt_then_its_warning_says_in_doubt_not_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.ouch.test_replace_doubt_restart import _replace_applied_silently, _restart_same_journal

    link, engine, _rig, _strat, replaced = _replace_applied_silently(tmp_path)
    link.core.stream.append(replaced)  # the venue's Replaced comes as the gateway dies (kill -9): replayed
    second, engine2, _rig2 = _restart_same_journal(link, engine, tmp_path)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _up(second, engine2)
    lines = [r.getMessage() for r in caplog.records if "Order Replaced at sequence" in r.getMessage()]
    assert len(lines) == 1, lines
    # old: "a replace the gateway had reported refused", but the strategy was told CancelRejected OUCH_IN_DOUBT
    assert "reported refused" not in lines[0] and "answered in doubt (CancelRejected OUCH_IN_DOUBT" in lines[0]
    assert "the doubt is settled" in lines[0]
