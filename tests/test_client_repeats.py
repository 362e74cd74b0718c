"""The SDK after a power failure (seq61): an Executed that repeats a fill it holds (same exec_id) is dropped, always.

The frames are handed to the client as its protocol object hands them over (``_on_message``), in the order the
gateway sends them (docs/strategy-protocol.md 4.1): the Welcome, ``Error(LAST_SEQ_AHEAD)``, then the events issued
again. The gateway side is tested in ``tests/test_seq_after_power_failure.py`` and, with the SDK over real sockets,
in ``tests/reliability/test_fix_journal_tail_lost.py``.
"""

from __future__ import annotations

from gateway.client import GatewayClient, OrderStatus
from gateway.protocol.messages import Error, Executed, OrderAccepted, Replaced, Welcome

PRICE = 1_000_000


def _welcome(next_seq: int, replayed: int) -> Welcome:
    return Welcome(3, "gw", next_seq, 1_000, replayed, 0)


def _fill(seq: int, exec_id: str, qty: int, cum: int, leaves: int) -> Executed:
    return Executed(seq, "A", qty, PRICE, "A", exec_id, cum, leaves)


async def test_events_issued_again_when_an_executed_repeats_a_held_exec_id_then_dropped() -> None:
    client = GatewayClient("/nonexistent", "S1")
    client._on_message(_welcome(1, 0))
    for event in (
        OrderAccepted(1, "A", "X1", 100, PRICE),
        _fill(2, "E1", 10, 10, 90),
        Replaced(3, "A", 200, PRICE, 190),
    ):
        client._on_message(event)
    client._on_message(_fill(4, "E2", 10, 20, 180))
    handle = client.orders["A"]
    assert (handle.cum_qty, handle.leaves_qty) == (20, 180)

    # a power failure lost 2..4 from the journal; the venue sent them again, numbered before the Hello: issued again
    client._on_message(_welcome(9, 4))
    client._on_message(Error("LAST_SEQ_AHEAD", "your last_seq 4 is beyond ...; the 4 events ... issued again", False))
    client._on_message(OrderAccepted(5, "A", "X1", 100, PRICE))
    client._on_message(_fill(6, "E1", 10, 10, 90))  # a repeat: dropped
    client._on_message(Replaced(7, "A", 200, PRICE, 190))  # a state it was in, in order
    client._on_message(_fill(8, "E2", 10, 20, 180))  # a repeat: dropped, its quantities taken
    assert client.last_seq == 8
    assert [(type(e).__name__, e.seq) for e in client.history] == [
        ("OrderAccepted", 1),
        ("Executed", 2),
        ("Replaced", 3),
        ("Executed", 4),
        ("OrderAccepted", 5),
        ("Replaced", 7),
    ]
    assert [e.seq for e in handle.events if isinstance(e, Executed)] == [2, 4]
    assert client.repeats_dropped == 2
    assert (handle.cum_qty, handle.leaves_qty, handle.status) == (20, 180, OrderStatus.LIVE)
    client._on_message(_fill(9, "E3", 180, 200, 0))  # a new fill
    assert handle.status is OrderStatus.FILLED and client.last_seq == 9

    # a later connection without a notice: the same rule (an exec_id names one fill; rev61merge6 HIGH 1)
    client._on_message(_welcome(11, 1))
    client._on_message(_fill(10, "E3", 180, 200, 0))
    assert client.repeats_dropped == 3 and [e.seq for e in client.history][-1] == 9

    # a jump in seq (made at a LAST_SEQ_AHEAD another connection got): copies may follow, the same rule
    client._on_message(_welcome(31, 1))
    client._on_message(_fill(30, "E1", 10, 10, 90))
    assert client.repeats_dropped == 4 and client.last_seq == 30 and [e.seq for e in client.history][-1] == 9


async def test_copies_when_the_connection_is_cut_among_them_then_the_rest_are_dropped_on_the_next() -> None:
    """rev61merge6 HIGH 1: the reconnect's Welcome replays the rest of the copies with no notice and no jump."""
    client = GatewayClient("/nonexistent", "S1")
    client._on_message(_welcome(1, 0))
    client._on_message(OrderAccepted(1, "A", "X1", 100, PRICE))
    client._on_message(_fill(2, "M2", 10, 10, 90))
    client._on_message(OrderAccepted(3, "B", "X2", 100, PRICE))
    client._on_message(_welcome(6, 2))
    client._on_message(Error("LAST_SEQ_AHEAD", "your last_seq 3 ...; the 2 events ... issued again as 4..5", False))
    client._on_message(OrderAccepted(4, "B", "X2", 100, PRICE))  # the connection is cut after this copy
    client._on_message(_welcome(6, 1))  # the reconnect (last_seq 4): copy 5 replayed, nothing else said
    client._on_message(_fill(5, "M2", 10, 10, 90))
    assert client.repeats_dropped == 1
    assert [(e.seq, e.exec_id) for e in client.history if isinstance(e, Executed)] == [(2, "M2")]
    handle = client.orders["A"]
    assert [e.seq for e in handle.events if isinstance(e, Executed)] == [2]
    assert (handle.cum_qty, handle.leaves_qty) == (10, 90) and client.last_seq == 5


async def test_replay_from_zero_when_it_holds_an_original_and_its_copy_then_one_fill() -> None:
    """rev61merge6 HIGH 1: a client started afresh (last_seq 0) is replayed the original fill and its copy."""
    client = GatewayClient("/nonexistent", "S1", last_seq=0)
    client._on_message(_welcome(5, 4))
    client._on_message(OrderAccepted(1, "A", "X1", 100, PRICE))
    client._on_message(_fill(2, "5001", 10, 10, 90))  # the original, numbered since the start
    client._on_message(_fill(3, "5001", 10, 10, 90))  # its copy, issued again at another client's Hello
    client._on_message(Executed(4, "A", 5, PRICE, "A", "", 15, 85))  # no exec_id: never a repeat
    client._on_message(Executed(5, "A", 5, PRICE, "A", "", 20, 80))
    fills = [e for e in client.history if isinstance(e, Executed)]
    assert [e.seq for e in fills] == [2, 4, 5] and sum(e.qty for e in fills) == 20
    assert client.repeats_dropped == 1 and client.orders["A"].cum_qty == 20
