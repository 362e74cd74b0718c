"""Long reads are taken in slices, each flushed: the first orders of a burst do not wait for the whole read."""

from __future__ import annotations

from gateway.engine import BATCH_BYTES
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import NewOrder, OrderAccepted
from model.enums import Side
from tests.harness import Rig, ScriptedVenue
from venues.connector import BATCH_BYTES as VENUE_BATCH_BYTES
from venues.connector import VenueConnector, _VenueProtocol


def test_link_data_when_read_holds_a_burst_then_flushed_slice_by_slice_in_order() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    flushes_before = rig.venue.flushes
    frames = b"".join(
        encode_frame(NewOrder(f"c{i}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=i + 1))
        for i in range(500)
    )
    assert len(frames) > 4 * BATCH_BYTES
    rig.engine.link_data(link, frames, rig.clock())
    assert [command[1] for command in rig.venue.commands] == list(range(1, 501))  # every order, in order
    slices = -(-len(frames) // BATCH_BYTES)
    assert rig.venue.flushes - flushes_before == slices
    for order_id in range(1, 501):
        rig.venue.accept(order_id, 1_000_000)
    rig.engine.flush()
    events = link.received()
    assert [e.cl_ord_id for e in events if isinstance(e, OrderAccepted)] == [f"c{i}" for i in range(500)]


def test_link_data_when_frame_straddles_slices_then_decoded_once() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    frame = encode_frame(NewOrder("x" * 32, "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=1))
    count = BATCH_BYTES // len(frame) + 5  # the frame at the slice boundary is split across two slices
    rig.engine.link_data(
        link,
        frame * 1
        + b"".join(
            encode_frame(NewOrder(f"k{i}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=i + 2))
            for i in range(count)
        ),
        rig.clock(),
    )
    assert len(rig.venue.commands) == count + 1
    assert link.session.errors == 0


class _RecordingVenue(ScriptedVenue):
    def __init__(self) -> None:
        super().__init__("V1")
        self.reads: list[bytes] = []

    def data_received(self, data: bytes, now_ns: int) -> None:
        self.reads.append(bytes(data))


async def test_venue_protocol_when_long_read_then_adapter_gets_slices_each_followed_by_a_flush() -> None:
    venue = _RecordingVenue()
    flushes: list[int] = []
    connector = VenueConnector(venue, "127.0.0.1", 1, after_input=lambda: flushes.append(len(venue.reads)))
    protocol = _VenueProtocol(connector)
    data = bytes(range(256)) * 100  # 25,600 bytes
    protocol.data_received(data)
    assert b"".join(venue.reads) == data
    assert all(len(read) <= VENUE_BATCH_BYTES for read in venue.reads)
    assert flushes == list(range(1, len(venue.reads) + 1))
    protocol.data_received(b"short")
    assert venue.reads[-1] == b"short" and flushes[-1] == len(venue.reads)


class _BackingUpVenue(ScriptedVenue):
    """Its socket backs up as soon as anything is written to it."""

    def flush(self) -> None:
        super().flush()
        if self.commands:
            self.set_write_paused(True)


def test_link_data_when_venue_backs_up_during_a_long_read_then_rest_of_read_sent_next_read_refused() -> None:
    from gateway.protocol.messages import OrderRejected

    venue = _BackingUpVenue()
    rig = Rig(venues=[venue])
    link = rig.connect("S1")
    link.received()
    frames = b"".join(
        encode_frame(NewOrder(f"c{i}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=i + 1))
        for i in range(200)
    )
    rig.engine.link_data(link, frames, rig.clock())
    link.req_seq = 200
    assert len(venue.commands) == 200  # judged once for the read: not paused when it began
    assert venue.write_paused
    rig.new_order(link, "late")
    (event,) = link.received()
    assert isinstance(event, OrderRejected) and event.code == "VENUE_BACKPRESSURE"
    assert len(venue.commands) == 200
