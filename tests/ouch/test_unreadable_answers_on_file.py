"""OUCH answers that could not be read: one doubts-file write per read, their own text kept across a restart (ouch56).

1. Each Enter or Replace whose answer arrived but could not be read goes on file (``<name>.ouch-doubts.json``)
   before its answer is journaled (ouch55). Before ouch56 each such answer wrote the whole file again, fsynced:
   a read carrying N of them (a burst of broken messages, a replay) cost N writes on the event loop. Now the read's
   entries are written once, when the read ends: still before the core journals the answers (at its flush after the
   read) and before any byte of them reaches the strategy; a restart finds every one of them in doubt.
2. Such an Enter that the venue then says nothing about ends ``OUCH_OUTCOME_UNKNOWN`` with its own text ("... could
   not be read ...: most likely rejected by the venue"): the venue had the Enter. Before ouch56 a restarted process
   used the general text ("most likely never received by the venue"), the opposite advice: the file now says which
   Enters' answers could not be read.

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_unreadable_answer_doubt.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import venues.ouch.adapter as adapter_module
from gateway.protocol.messages import Canceled, CancelRejected, NewOrder, OrderAccepted, Replace
from model.enums import Side
from model.order import OrderState
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _run
from tests.ouch.test_doubt_restart import _restart, _up
from tests.ouch.test_unreadable_answer_doubt import _enter_answered, _gateway, _short_rejected
from venues.ouch.doubts import doubts_path, read_doubts, save_doubts

ORDERS = 3


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
        **marks: Any,  # unreadable, replace_terms
    ) -> None:
        writes.append(len(doubts) + len(replaces or {}))
        save_doubts(state_dir, name, day, session, doubts, replaces, **marks)

    monkeypatch.setattr(adapter_module, "save_doubts", counting)
    return writes


def _taken_with_broken_answers(link: object, engine: object, rig: object, strat: object, count: int) -> None:
    """``count`` Enters reach the venue, which takes them; each Accepted on its stream has Side 'Z' (unreadable)."""
    for n in range(count):
        rig.send(strat, NewOrder(f"b{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()  # type: ignore[attr-defined]
    link.core.receive(link.connection, bytes(link._to_server), link.clock())  # type: ignore[attr-defined]
    link._to_server.clear()  # type: ignore[attr-defined]
    packets = link.core.stream.packets  # type: ignore[attr-defined]
    for index in range(len(packets) - count, len(packets)):
        packet = bytearray(packets[index])
        assert packet[3:4] == b"A"
        packet[3 + 13] = ord("Z")
        packets[index] = bytes(packet)


def _on_file(link: object) -> tuple[list[int], list[int], list[int]]:
    """The doubts file's Enters, Replaces and Enters whose answer could not be read (UserRefNums, sorted)."""
    store = link.store  # type: ignore[attr-defined]
    enters, replaces = read_doubts(link.state_dir, link.config.name, store.day, store.session)  # type: ignore[attr-defined]
    raw = json.loads(doubts_path(link.state_dir, link.config.name).read_bytes())  # type: ignore[attr-defined]
    return sorted(enters), sorted(replaces), sorted(raw.get("unreadable", []))


def _one_read(link: object) -> None:
    """Everything the venue has for the gateway, handed over as one read (as one recv would)."""
    out, cut = link.core.output(link.connection, link.clock())  # type: ignore[attr-defined]
    assert out and not cut
    link.venue.data_received(bytes(out), link.clock())  # type: ignore[attr-defined]


def test_unreadable_answers_when_several_come_in_one_read_then_the_doubts_file_is_written_once_before_the_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    _taken_with_broken_answers(link, engine, rig, strat, ORDERS)
    writes = _count_writes(monkeypatch)
    _one_read(link)
    assert writes == [ORDERS], writes  # old: one fsynced write per answer ([1, 2, 3])
    assert _on_file(link) == ([1, 2, 3], [], [1, 2, 3])  # on disk before the core's flush below ...
    assert _events(strat) == []  # ... which journals the answers and writes them to the strategy
    engine.flush()  # type: ignore[attr-defined]
    answered = _events(strat)
    assert [type(m).__name__ for m in answered] == ["OrderAccepted"] * ORDERS  # in doubt, answered once each
    assert _cancels(link) == []
    link.pump()  # the Cancels by UserRefNum reach the venue
    assert _cancels(link) == [1, 2, 3]
    assert writes == [ORDERS]


def test_unreadable_answers_when_the_gateway_dies_after_the_read_was_journaled_then_the_restart_finds_them_all(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    _taken_with_broken_answers(link, engine, rig, strat, ORDERS)
    link.core.exchange.orders.clear()  # the venue refused them all (what its broken answers said)
    _one_read(link)
    engine.flush()  # type: ignore[attr-defined]  # journaled; the gateway dies before its Cancels reach the venue
    link._to_server.clear()
    assert len(_events(strat)) == ORDERS
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    _up(second, engine2)
    assert sorted(_cancels(second)) == [1, 2, 3]  # each in doubt again: canceled after the first login
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    strat2.received()
    _run(second, engine2, 6_000)
    ended = _events(strat2)
    assert sorted(m.cl_ord_id for m in ended) == ["b0", "b1", "b2"]  # type: ignore[attr-defined]
    for message in ended:
        assert isinstance(message, Canceled) and message.reason == "OUCH_OUTCOME_UNKNOWN", message
        # old: "... most likely never received by the venue ..." after the restart (the general text)
        assert "could not be read" in message.text and "most likely rejected by the venue" in message.text
    assert all(order.state is OrderState.CANCELED for order in engine2.orders.values())  # type: ignore[attr-defined]
    assert second.core.exchange.violations == []


def test_broken_answer_when_the_gateway_restarts_then_outcome_unknown_says_most_likely_rejected_as_before_it(
    tmp_path: Path,
) -> None:
    # the single-order case of tests/ouch/test_unreadable_answer_doubt.py, whose restart used the general text
    link, engine, rig, strat = _gateway(tmp_path)
    _enter_answered(link, engine, rig, strat, _short_rejected(1))
    link.core.exchange.orders.clear()
    _one_read(link)
    engine.flush()  # type: ignore[attr-defined]
    link._to_server.clear()  # the gateway dies before its Cancel leaves
    (answered,) = _events(strat)
    assert isinstance(answered, OrderAccepted)
    second, engine2, rig2 = _restart(link, engine, tmp_path)
    _up(second, engine2)
    assert _cancels(second) == [1]
    strat2 = rig2.connect("S1")  # type: ignore[attr-defined]
    strat2.received()
    _run(second, engine2, 6_000)
    (ended,) = _events(strat2)
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    assert "most likely rejected by the venue" in ended.text, ended.text  # old: "most likely never received"
    assert _on_file(second) == ([], [], [])


def test_doubts_file_of_an_earlier_version_when_read_then_its_enters_get_the_general_text(tmp_path: Path) -> None:
    # a file written before ouch56 has no "unreadable" list: read as none, not refused
    from venues.ouch.doubts import read_doubt_entries

    state = tmp_path / "ouch"
    state.mkdir()
    doubts_path(state, "nasdaq").write_bytes(
        b'{"day":"d","session":"s","orders":{"4":[7,"00"]},"replaces":{"6":[7,4]}}'
    )
    assert read_doubt_entries(state, "nasdaq", "d", "s") == ({4: (7, b"\x00")}, {6: (7, 4)}, set())
    save_doubts(state, "nasdaq", "d", "s", {4: (7, b""), 5: (8, b"")}, {}, unreadable=[5, 9])
    assert read_doubt_entries(state, "nasdaq", "d", "s") == ({4: (7, b""), 5: (8, b"")}, {}, {5})


def test_unreadable_replaced_answers_when_several_come_in_one_read_then_one_write_before_the_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, engine, rig, strat = _gateway(tmp_path)
    for n in range(ORDERS):
        rig.send(strat, NewOrder(f"r{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    assert [type(m).__name__ for m in _events(strat)] == ["OrderAccepted"] * ORDERS
    for n in range(ORDERS):
        rig.send(strat, Replace(f"r{n}", 200, RESTING - 100))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())  # the venue applies them
    link._to_server.clear()
    packets = link.core.stream.packets
    for index in range(len(packets) - ORDERS, len(packets)):
        packet = bytearray(packets[index])
        assert packet[3:4] == b"U"
        packets[index] = bytes(packet[:-3])  # a truncated Replaced: the new number readable, the rest not
        packets[index] = (len(packets[index]) - 2).to_bytes(2, "big") + packets[index][2:]
    writes = _count_writes(monkeypatch)
    _one_read(link)
    assert writes == [ORDERS], writes  # old: one write per Replace ([1, 2, 3])
    assert _on_file(link)[1] == [4, 5, 6]
    engine.flush()  # type: ignore[attr-defined]
    answers = _events(strat)
    assert [(type(m).__name__, getattr(m, "code", "")) for m in answers] == [
        ("CancelRejected", "OUCH_IN_DOUBT")
    ] * ORDERS, answers
    assert all(isinstance(m, CancelRejected) for m in answers)


def test_unreadable_answer_when_a_later_message_of_the_same_read_raises_then_the_file_is_written_all_the_same(
    tmp_path: Path,
) -> None:
    # the write at the read's end runs as a read that raised unwinds (the connector then flushes what it produced)
    link, engine, rig, strat = _gateway(tmp_path)
    _taken_with_broken_answers(link, engine, rig, strat, 1)
    assert link.core.exchange.execute(1, 40)  # an Executed after the broken Accepted, in the same read
    venue = link.venue
    decode, user_ref_num, _handler = venue._dispatch[ord("E")]

    def fault(*_args: object) -> None:
        raise RuntimeError("a fault of the gateway's own")

    venue._dispatch[ord("E")] = (decode, user_ref_num, fault)
    with pytest.raises(RuntimeError, match="fault of the gateway"):
        _one_read(link)
    assert _on_file(link) == ([1], [], [1])
