"""rev44ouch s4 over real loopback sockets: a packet whose length swallows the next one is asked for again.

The project's OUCH simulator sends a Canceled whose Packet Length takes in the next packet (an Executed) once;
the gateway drops the connection, logs in again asking for the Canceled's number and gets both, framed right:
the partial cancel and the fill are each applied once.
"""

from __future__ import annotations

import struct
from pathlib import Path

from gateway.protocol.messages import Canceled, Executed, NewOrder
from model.enums import Side
from model.order import OrderState
from simulators.ouch.simulator import OuchSimulator
from tests.ouch.harness import PX, TS
from tests.ouch.test_late_fill_released import Gateway, sim, wait_until
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderCanceled, OrderExecuted
from venues.ouch.soupbin import encode_sequenced

__all__ = ["sim"]  # the fixture


async def test_canceled_swallowing_the_next_packet_when_sent_then_both_asked_again_and_applied_once(
    sim: OuchSimulator, tmp_path: Path
) -> None:
    gw = await Gateway(sim, tmp_path).start()
    try:
        link = gw.rig.connect("S1")
        for cl_ord_id in ("a1", "b1"):
            gw.send(link, NewOrder(cl_ord_id, "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
        a1, b1 = gw.rig.order("S1", "a1"), gw.rig.order("S1", "b1")
        await wait_until(lambda: a1.state is OrderState.LIVE and b1.state is OrderState.LIVE, "the acknowledgments")
        logins = gw.venue.status()["logins"]
        canceled = encode_message(OrderCanceled(TS, int(b1.venue_ref), 5, "U"))
        executed = encode_message(OrderExecuted(TS, int(a1.venue_ref), 20, PX - 100, "R", 7))
        packets = sim.stream.packets
        first = len(packets)
        sim.stream.append(canceled)
        sim.stream.append(executed)
        good = packets[first:]
        inner = encode_sequenced(executed)
        packets[first : first + 2] = [struct.pack(">H", 1 + len(canceled) + len(inner)) + b"S" + canceled + inner, b""]
        sim.flush_all()  # the lying bytes are on the wire; the venue's stream holds them framed right again
        packets[first : first + 2] = good

        await wait_until(lambda: a1.leaves_qty == 80 and b1.leaves_qty == 95, "the cancel and the fill")
        await wait_until(lambda: gw.venue.status()["next_sequence"] == first + 3, "the stream read")
        status = gw.venue.status()
        assert (status["refetches"], status["decode_errors"]) == (1, 0)
        assert status["logins"] == logins + 1  # type: ignore[operator]
        events = [(type(m).__name__, m.cl_ord_id) for m in link.received() if isinstance(m, Executed | Canceled)]
        assert events == [("Canceled", "b1"), ("Executed", "a1")]
    finally:
        await gw.stop()
