"""Regression (found in review): valid requests read together with a fatal frame are never answered nor journaled."""

from __future__ import annotations

import struct

from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import NewOrder
from model.enums import Side
from tests.harness import Rig


def test_link_data_when_valid_order_precedes_an_oversized_frame_in_one_read_then_order_still_handled() -> None:
    rig = Rig()
    link = rig.connect("S1")
    good = encode_frame(NewOrder("A", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=1))
    rig.engine.link_data(link, good + struct.pack(">I", 1 << 20), rig.clock())  # a client bug after a good order
    assert link.session.close_reason.startswith("FRAME_TOO_LARGE")
    assert "A" in rig.engine.strategies["S1"].orders, "order A was read but neither sent nor rejected"
