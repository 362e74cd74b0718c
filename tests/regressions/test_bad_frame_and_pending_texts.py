"""Regressions found by a strategy developer's raw client written from docs/strategy-protocol.md (rev54strat).

1. A frame holding a byte that is not MessagePack at all (``c1``, never used) where the tag or the ``cl_ord_id``
   should be was reported by the typed decoder as a wrong type: ``HELLO_REQUIRED`` before the Hello,
   ``INVALID_MESSAGE`` after it, with a text about lengths or types that hid the bad byte. Tables 7.1 and 7.2 name
   such a frame ``BAD_FRAME``.
2. A second Cancel while the first was held (the venue down) was told "a cancel is already in flight".
"""

from __future__ import annotations

import pytest

from gateway.protocol.messages import Cancel, CancelRejected, Error
from gateway.strategy_session import StrategySession
from model.venue_events import VenueState
from tests.harness import Rig


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def test_first_frame_when_tag_byte_is_not_msgpack_then_bad_frame_not_hello_required() -> None:
    session = StrategySession(0)
    session.receive_data(_frame(bytes.fromhex("95c1")), 1)
    assert session.is_closed() and session.close_reason.startswith("BAD_FRAME: ")


@pytest.mark.parametrize("payload", ["95c1", "9202c1", "9403c10005"], ids=["no-tag", "short-with-tag", "with-tag"])
def test_frame_after_hello_when_a_byte_is_not_msgpack_and_no_id_then_bad_frame_naming_the_byte(payload: str) -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.engine.link_data(link, _frame(bytes.fromhex(payload)), rig.clock())
    (error,) = link.received()
    assert isinstance(error, Error) and (error.code, error.fatal) == ("BAD_FRAME", False)
    assert "c1" in error.text.lower()  # the malformed byte, not a length or a type
    assert not link.closed


def test_second_cancel_when_the_first_is_held_then_text_says_held_not_in_flight() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.engine.flush()
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.send(link, Cancel("A"))
    rig.send(link, Cancel("A"))
    rig.engine.flush()
    (rejected,) = [m for m in link.received() if isinstance(m, CancelRejected)]
    assert rejected.code == "CANCEL_PENDING"
    assert rejected.text == "a cancel is already pending: it is held until venue V1 is up"
