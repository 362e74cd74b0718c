"""A sequenced packet that cannot be read is asked for again, never counted as applied (rev44ouch s4, s7).

SoupBinTCP delivers every sequenced message (a re-login asks for the next number and the server replays). A
packet whose Packet Length lies either swallows the next packet (s4) or leaves the stream out of frame (s7):
it is not applied, the connection drops and the login asks for its number again. Real engine and journal over
the project's OUCH simulator (fake clock); the first delivery's bytes are the reviewer's golden bytes, the
resend is the simulator's own framing.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Canceled, Executed, NewOrder, OrderAccepted
from model.enums import Side
from tests.harness import MemoryLink, Rig
from tests.ouch.harness import PX, TS, Link, gateway_over
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderCanceled, OrderExecuted
from venues.ouch.soupbin import SoupSplitter, decode_login_request, encode_sequenced

RESTING = PX - 100


def _two_orders(tmp_path: Path, **venue: object) -> tuple[Link, Engine, Rig, MemoryLink]:
    link = Link(tmp_path / "ouch", **venue)  # type: ignore[arg-type]
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    for cl_ord_id in ("a1", "b1"):
        rig.send(strat, NewOrder(cl_ord_id, "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        engine.flush()
        _pump(link, engine)
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["a1", "b1"]
    return link, engine, rig, strat


def _pump(link: Link, engine: Engine) -> None:
    link.pump()
    engine.flush()


def _queue(link: Link, *messages: bytes) -> int:
    """Add ``messages`` to the venue's stream (not sent yet); return the sequence number of the first."""
    first = link.core.stream.next_sequence
    for message in messages:
        link.core.stream.append(message)
    return first


def _first_delivery_as(link: Link, first: int, wire: bytes, count: int) -> list[bytes]:
    """Make the next sending of sequences ``first``..``first + count - 1`` the bytes ``wire``; return the packets."""
    packets = link.core.stream.packets
    good = packets[first - 1 : first - 1 + count]
    packets[first - 1] = wire
    for index in range(first, first - 1 + count):
        packets[index] = b""  # already inside ``wire``
    return good


def _logins(link: Link) -> list[int]:
    """Return the sequence number every Login Request asked for, in order."""
    asked = []
    for packet in SoupSplitter().feed(b"".join(link.wire)):
        if packet[0] == ord("L"):
            request = decode_login_request(packet)
            assert not isinstance(request, Exception)
            asked.append(request.sequence)  # type: ignore[union-attr]
    return asked


def _relogin_with(link: Link, engine: Engine, first: int, good: list[bytes]) -> None:
    link.core.stream.packets[first - 1 : first - 1 + len(good)] = good  # the venue sends them again, framed right
    link.connect()
    engine.flush()


def test_canceled_whose_length_swallows_the_next_packet_when_read_then_neither_applied_until_sent_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """s4: a Canceled(b1, 5) whose Packet Length takes in the next packet (an Executed of a1 for 20)."""
    link, engine, _rig, strat = _two_orders(tmp_path)
    canceled = encode_message(OrderCanceled(TS, 2, 5, "U"))
    executed = encode_message(OrderExecuted(TS, 1, 20, RESTING, "R", 2))
    first = _queue(link, canceled, executed, encode_message(OrderCanceled(TS, 2, 7, "U")))
    inner = encode_sequenced(executed)
    lying = struct.pack(">H", 1 + len(canceled) + len(inner)) + b"S" + canceled + inner
    good = _first_delivery_as(link, first, lying, 2)

    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _pump(link, engine)

    assert link.connection is None  # dropped at once: the Canceled of 7 (sequence 5) is not taken either
    assert [m for m in strat.received() if isinstance(m, Canceled | Executed)] == []
    status = link.venue.status()
    assert (status["refetches"], status["decode_errors"], status["protocol_errors"]) == (1, 0, 0)
    assert status["next_sequence"] == first
    assert f"sequenced message {first} could not be read" in caplog.text

    _relogin_with(link, engine, first, good)
    assert _logins(link) == [1, first]
    received = [m for m in strat.received() if isinstance(m, Canceled | Executed)]
    assert [(type(m).__name__, m.cl_ord_id, m.leaves_qty) for m in received] == [
        ("Canceled", "b1", 95),
        ("Executed", "a1", 80),
        ("Canceled", "b1", 88),
    ]
    assert link.venue.status()["duplicates_dropped"] == 0


def test_executed_cut_short_when_read_then_the_stream_is_asked_for_again_from_it_and_every_fill_applied_once(
    tmp_path: Path,
) -> None:
    """s7: an Executed(a1, 10) whose Packet Length is 16 bytes short, then Executed(b1, 10), Executed(a1, 5)."""
    link, engine, _rig, strat = _two_orders(tmp_path)
    x1 = encode_message(OrderExecuted(TS, 1, 10, RESTING, "A", 11))
    x2 = encode_message(OrderExecuted(TS, 2, 10, RESTING, "A", 12))
    x3 = encode_message(OrderExecuted(TS, 1, 5, RESTING, "A", 13))
    first = _queue(link, x1, x2, x3)
    short = struct.pack(">H", 21) + b"S" + x1 + encode_sequenced(x2) + encode_sequenced(x3)
    good = _first_delivery_as(link, first, short, 3)

    _pump(link, engine)
    assert link.connection is None
    assert [m for m in strat.received() if isinstance(m, Executed)] == []
    assert link.venue.status()["next_sequence"] == first

    _relogin_with(link, engine, first, good)
    assert _logins(link) == [1, first]
    fills = [(m.cl_ord_id, m.qty, m.leaves_qty) for m in strat.received() if isinstance(m, Executed)]
    assert fills == [("a1", 10, 90), ("b1", 10, 90), ("a1", 5, 85)]
    status = link.venue.status()
    assert (status["refetches"], status["decode_errors"], status["refetch_given_up"]) == (1, 0, 0)


def test_a_venue_sending_the_same_broken_packet_when_asked_again_then_backs_off_and_after_the_limit_takes_it_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, strat = _two_orders(tmp_path, max_refetches=2)
    x1 = encode_message(OrderExecuted(TS, 1, 10, RESTING, "A", 11))
    first = _queue(link, x1, encode_message(OrderExecuted(TS, 2, 10, RESTING, "A", 12)))
    link.core.stream.packets[first - 1] = struct.pack(">H", 1 + 30) + b"S" + x1[:30]  # cut in the Match Number
    delays = []
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _pump(link, engine)
        for _ in range(2):
            assert link.connection is None
            delays.append(link.venue.reconnect_delay_ns(1))
            link.connect()
            engine.flush()
    assert delays == [100_000_000, 200_000_000]  # doubling, as after a failed login
    assert _logins(link) == [1, first, first]
    assert link.connection is not None  # the third time: taken as lost (the previous behaviour), session kept
    status = link.venue.status()
    assert (status["refetches"], status["refetch_given_up"], status["decode_errors"]) == (2, 1, 1)
    assert "could not be read 2 times in a row" in caplog.text
    assert [(m.cl_ord_id, m.qty) for m in strat.received() if isinstance(m, Executed)] == [("b1", 10)]


def test_a_field_value_out_of_its_enumeration_when_read_then_not_asked_again(tmp_path: Path) -> None:
    """A wrong value in a well-framed packet would come back the same: not a framing error, not asked again."""
    link, engine, rig, strat = _two_orders(tmp_path)
    rig.send(strat, NewOrder("c1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    packet = bytearray(link.core.stream.packets[-1])
    assert packet[3:4] == b"A"
    packet[3 + 13] = ord("Z")  # Side
    link.core.stream.packets[-1] = bytes(packet)
    _pump(link, engine)
    assert link.connection is not None
    status = link.venue.status()
    assert (status["refetches"], status["decode_errors"]) == (0, 1)
