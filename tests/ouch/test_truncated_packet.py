"""A truncated packet followed by a valid one loses no fill (fixouch46, rev46ouch t7/t13).

A venue that sends the first 15 bytes of an Order Executed packet, then the next packet whole, puts the stream out
of frame: the bytes read as one message are an Order Executed for UserRefNum 0 (the truncated UserRefNum and the
next packet's length). OUCH 5.0 UserRefNums begin at 1 and only the gateway issues them, so a message about a
number never issued is taken as suspect framing and asked for again from its sequence number, as is a SoupBinTCP
packet type no server sends: both fills arrive, once each. Adapter over the project's OUCH simulator (fake clock);
the venue's bytes are the OUCH 5.0 / SoupBinTCP 4.1 layouts.
"""

from __future__ import annotations

from pathlib import Path

from model.venue_events import VenueExecuted, VenueState
from tests.ouch.golden import PRICE_150_25, TS_0930, hexb
from tests.ouch.harness import Link, make_order


def _executed(user_ref_num: int, match: int) -> bytes:
    """Order Executed: E | Timestamp | UserRefNum | Quantity 5 | Price 150.25 | Liquidity A | Match | no appendage."""
    return hexb("45", TS_0930, f"{user_ref_num:08x}", "00 00 00 05", PRICE_150_25, "41", f"{match:016x}", "00 00")


def _two_resting(tmp_path: Path) -> Link:
    link = Link(tmp_path)
    link.connect()
    link.send_new(make_order(1))  # UserRefNum 1, sequence 1
    link.send_new(make_order(2))  # UserRefNum 2, sequence 2
    assert len(link.events) == 2
    return link


def _reconnect_until_up(link: Link) -> None:
    for _ in range(4):
        link.pump()
        if link.connection is None:
            link.connect()
    assert link.venue.state is VenueState.UP


def _fills(link: Link) -> list[tuple[int, int, str]]:
    return [(e.venue_seq, e.order_id, e.exec_id) for e in link.events if isinstance(e, VenueExecuted)]


def test_truncated_executed_followed_by_a_valid_one_when_read_then_refetched_and_both_fills_applied_once(
    tmp_path: Path,
) -> None:
    link = _two_resting(tmp_path)
    first, second = _executed(1, 9001), _executed(2, 9002)
    assert len(first) == 36  # OUCH 5.0 Order Executed with an empty appendage
    link.core.stream.append(first)  # sequence 3
    link.core.stream.append(second)  # sequence 4
    assert link.connection is not None
    wire, _cut = link.core.output(link.connection, link.clock())  # both SoupBinTCP Sequenced Data packets
    assert wire[:3] == b"\x00\x25S" and len(wire) == 2 * 39
    link.venue.data_received(bytes(wire[:15]) + bytes(wire[39:]), link.clock())  # the first cut after 15 bytes

    assert _fills(link) == []  # UserRefNum 0, never issued: not applied, asked for again from sequence 3
    assert link.venue.status()["refetches"] == 1
    _reconnect_until_up(link)

    assert _fills(link) == [(3, 1, "9001"), (4, 2, "9002")]
    status = link.venue.status()
    assert status["unknown_user_ref_num"] == 0 and status["refetch_given_up"] == 0


def test_unknown_soupbintcp_packet_type_when_logged_in_then_refetched_from_there(tmp_path: Path) -> None:
    link = _two_resting(tmp_path)
    link.core.stream.append(_executed(1, 9001))  # sequence 3
    assert link.connection is not None
    wire, _cut = link.core.output(link.connection, link.clock())
    link.venue.data_received(b"\x00\x02Q\x00" + bytes(wire), link.clock())  # type Q: no server sends it

    assert _fills(link) == []  # nothing of that read is taken: asked for again from sequence 3
    assert link.venue.status()["refetches"] == 1
    _reconnect_until_up(link)
    assert _fills(link) == [(3, 1, "9001")]


def test_executed_for_a_user_ref_num_above_every_one_issued_when_read_then_refetched_before_taken_as_lost(
    tmp_path: Path,
) -> None:
    link = _two_resting(tmp_path)
    link.core.stream.append(_executed(3, 9003))  # UserRefNum 3: the gateway issued 1 and 2 only
    link.pump()
    assert link.venue.status()["refetches"] == 1 and link.venue.status()["unknown_user_ref_num"] == 0
    _reconnect_until_up(link)  # the venue sends it alike each time: after max_refetches (3) taken as not ours
    status = link.venue.status()
    assert (status["refetches"], status["refetch_given_up"], status["unknown_user_ref_num"]) == (3, 1, 1)
    assert _fills(link) == []
