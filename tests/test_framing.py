"""Strategy-protocol framing: splitting, limits and round trips."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.framing import (
    LENGTH_PREFIX,
    FrameSplitter,
    FrameWriter,
    encode_frame,
    strategy_message_decoder,
)
from gateway.protocol.messages import NewOrder
from model.enums import Side


def _order(i: int) -> NewOrder:
    return NewOrder(f"C{i}", "ACC1", "OUCH", "AAPL", Side.BUY, 100 + i, 1_502_500)


def test_feed_when_frames_split_at_every_byte_then_each_frame_comes_out_once() -> None:
    data = b"".join(encode_frame(_order(i)) for i in range(3))
    splitter = FrameSplitter()
    got: list[bytes] = []
    for i in range(len(data)):
        got.extend(bytes(f) for f in splitter.feed(data[i : i + 1]))
    assert [strategy_message_decoder.decode(f) for f in got] == [_order(i) for i in range(3)]
    assert splitter.buffered == 0


def test_feed_when_length_exceeds_maximum_then_marks_oversized_and_stops() -> None:
    splitter = FrameSplitter(max_frame=16)
    frames = splitter.feed(LENGTH_PREFIX.pack(17) + b"x" * 17 + encode_frame(_order(1)))
    assert frames == []
    assert splitter.oversized == 17
    assert splitter.feed(encode_frame(_order(2))) == []


def test_writer_when_messages_written_then_take_returns_all_and_resets() -> None:
    writer = FrameWriter()
    writer.write(_order(1))
    writer.write(_order(2))
    out = writer.take()
    assert bytes(out) == encode_frame(_order(1)) + encode_frame(_order(2))
    assert writer.buffer == bytearray()


@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_feed_when_arbitrary_payloads_chunked_arbitrarily_then_payloads_preserved(
    payloads: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(LENGTH_PREFIX.pack(len(p)) + p for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    splitter = FrameSplitter(max_frame=300)
    got: list[bytes] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        got.extend(bytes(f) for f in splitter.feed(stream[start:cut]))
        start = cut
    assert got == payloads


async def test_event_loop_fixture_runs_under_each_loop() -> None:
    loop = asyncio.get_running_loop()
    assert type(loop).__module__ in {"asyncio.unix_events", "uvloop"}
