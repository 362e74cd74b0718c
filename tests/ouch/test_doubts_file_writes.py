"""The OUCH doubts file is written once per batch of requests put in doubt, not once per request (ouch55).

``<state_dir>/<name>.ouch-doubts.json`` is written atomically and fsynced on the event loop before the answers of
the requests it names reach the core (so before they are journaled): a replay gap that put N Replaces in doubt
wrote it N times (rev54diff: ~8 ms a write for 1-1,000 entries, 14-56 ms at 4,000: seconds of loop for a few
hundred Replaces). Now the login's requests in doubt, and those of an answer-timeout sweep, go on file in one
write before their answers. The promise kept (docs/reliability.md): a restart after any answer that reached the
journal finds the request in doubt again; an entry that left (its order ended) may linger until the next sweep's
write, which a restart ignores (it restores open orders only).

Real engine and journal over the OUCH simulator (fake clock); the writes are counted (no timing: that is
benchmarks/bench_doubts_writes.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

import venues.ouch.adapter as adapter_module
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, NewOrder, OrderAccepted, Replace
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _restart, _up
from venues.ouch.doubts import read_doubts, save_doubts

ORDERS = 6


def _count_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the doubts file's writes (each entry: how many Enters and Replaces it named)."""
    writes: list[int] = []

    def counting(
        state_dir: str,
        name: str,
        day: str,
        session: str,
        doubts: dict[int, tuple[int, bytes]],
        replaces: dict[int, tuple[int, int]] | None = None,
        unreadable: Iterable[int] = (),
        replace_terms: dict[int, tuple[int, int]] | None = None,
        foreign: Iterable[int] = (),
        replace_only: Iterable[int] = (),
        replayed: Iterable[int] = (),
    ) -> None:
        writes.append(len(doubts) + len(replaces or {}))
        save_doubts(
            state_dir, name, day, session, doubts, replaces, unreadable, replace_terms, foreign, replace_only, replayed
        )

    monkeypatch.setattr(adapter_module, "save_doubts", counting)
    return writes


def _gateway(tmp_path: Path) -> tuple[Link, object, object, object]:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    return link, engine, rig, strat


def _sent_and_lost_in_a_gap(link: Link, engine: object) -> None:
    """The venue reads what the gateway sent; the connection dies before its answers arrive, which it can no longer
    replay (a replay gap at the next Login Accepted)."""
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    link.disconnect()
    link.core.stream.replayable_from = link.core.stream.next_sequence


def test_replay_gap_when_many_replaces_are_put_in_doubt_then_the_doubts_file_is_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    for n in range(ORDERS):
        rig.send(strat, NewOrder(f"r{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    assert len([m for m in _events(strat) if isinstance(m, OrderAccepted)]) == ORDERS
    for n in range(ORDERS):
        rig.send(strat, Replace(f"r{n}", 200, RESTING - 100))  # type: ignore[attr-defined]
    _sent_and_lost_in_a_gap(link, engine)  # the venue applied every Replace; its Replaced messages are gone
    writes = _count_writes(monkeypatch)
    _up(link, engine)
    answers = [m for m in _events(strat) if isinstance(m, CancelRejected)]
    assert [a.code for a in answers] == ["OUCH_IN_DOUBT"] * ORDERS
    assert writes == [ORDERS], writes  # old: one write per Replace ([1, 2, 3, 4, 5, 6])
    store = link.store
    _enters, replaces = read_doubts(link.state_dir, link.config.name, store.day, store.session)
    assert sorted(replaces) == list(range(ORDERS + 1, 2 * ORDERS + 1))  # every new number on file


def test_replay_gap_when_enters_and_replaces_are_put_in_doubt_then_a_restart_finds_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a crash right after the login's answers were journaled: the one write before them holds every request in doubt
    link, engine, rig, strat = _gateway(tmp_path)
    rig.send(strat, NewOrder("a", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    _events(strat)
    rig.send(strat, Replace("a", 200, RESTING - 100))  # type: ignore[attr-defined]  # UserRefNum 2
    rig.send(strat, NewOrder("b", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # type: ignore[attr-defined]
    _sent_and_lost_in_a_gap(link, engine)  # the venue took both (UserRefNums 2 and 3), then lost b
    link.core.exchange.orders.pop(3)
    writes = _count_writes(monkeypatch)
    _up(link, engine)
    assert writes == [2], writes  # Replace 2 and Enter 3 in one write (old: [1, 2]: the Enter's, then the Replace's)
    events = _events(strat)
    assert [type(m).__name__ for m in events if isinstance(m, CancelRejected | OrderAccepted)] == [
        "CancelRejected",
        "OrderAccepted",
    ]
    assert _cancels(link) == [3]  # ignored: the venue lost it
    second, engine2, rig2 = _restart(link, engine, tmp_path)  # kill -9 right after
    _up(second, engine2)
    assert _cancels(second) == [3, 3]  # Enter 3 in doubt again: canceled again after the restarted process's login
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    strat2.received()
    rig2.send(strat2, Cancel("a"))  # type: ignore[attr-defined]
    engine2.flush()  # type: ignore[attr-defined]
    second.pump()
    engine2.flush()  # type: ignore[attr-defined]
    # order a's Cancel names its Replace in doubt (restored from the same write)
    assert sorted(_cancels(second)[2:]) == [1, 2]
    _run(second, engine2, 6_000)
    ended = [m for m in _events(strat2) if isinstance(m, Canceled)]
    assert sorted(m.cl_ord_id for m in ended) == ["a", "b"], ended  # a: the venue's Canceled; b: OUTCOME_UNKNOWN
    assert [m.reason for m in ended if m.cl_ord_id == "b"] == ["OUCH_OUTCOME_UNKNOWN"]


def test_order_in_doubt_ended_when_the_gateway_dies_before_the_file_drops_it_then_the_restart_ignores_the_entry(
    tmp_path: Path,
) -> None:
    # the write that drops an entry comes at the next sweep, after the order's end was journaled: a crash in between
    # leaves a stale entry, which a restart ignores (it restores open orders only): nothing sent, nothing answered
    from tests.ouch.test_unreadable_answer_doubt import _enter_answered
    from tests.ouch.test_unreadable_answer_doubt import _gateway as _gateway_no_refetch

    link, engine, rig, strat = _gateway_no_refetch(tmp_path)
    _enter_answered(link, engine, rig, strat, None)  # a broken Accepted: in doubt, canceled at the venue
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    _answered, ended = _events(strat)
    assert isinstance(ended, Canceled)  # the venue's Canceled ended it (journaled) ...
    store = link.store
    enters, _replaces = read_doubts(link.state_dir, link.config.name, store.day, store.session)
    assert list(enters) == [1]  # ... the file still names it (dropped at the next sweep) ...
    second, engine2, rig2 = _restart(link, engine, tmp_path)  # ... when the gateway dies
    _up(second, engine2)
    assert _cancels(second) == [1]  # the first process's Cancel only: none after the restart
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    replayed = [m for m in _events(strat2) if isinstance(m, OrderAccepted | Canceled)]
    assert [type(m).__name__ for m in replayed] == ["OrderAccepted", "Canceled"]  # the journal's, replayed: once
    _run(second, engine2, 12_000)
    assert _events(strat2) == [] and second.venue.status()["outcome_unknown"] == 0
    enters, _replaces = read_doubts(second.state_dir, second.config.name, store.day, store.session)
    assert enters == {}  # the restarted process's first sweep drops it
