"""Regression (docs/strategy-protocol.md 7.1 against the code): a first frame whose MessagePack is cut short.

The page said "not MessagePack -> BAD_FRAME". The gateway reads a first frame's tag leniently, so a Hello cut
short is refused as a Hello (``BAD_HELLO``, "not valid MessagePack") and another message cut short as
``HELLO_REQUIRED``; only a payload whose tag cannot be read at all is ``BAD_FRAME``. Both are fatal, so no
client is harmed, but a client written from the page expects the code it names: the page now says which.
"""

from __future__ import annotations

import msgspec
import pytest

from gateway.protocol.messages import Error
from tests.harness import MemoryLink, Rig


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (msgspec.msgpack.encode([1, "S1", 3, 0, 1000])[:-1], "BAD_HELLO"),  # a Hello cut short
        (msgspec.msgpack.encode([2, "C1", "ACC1", "V1"])[:-1], "HELLO_REQUIRED"),  # a NewOrder cut short
        (b"\xc1", "BAD_FRAME"),  # never valid MessagePack: no tag to read
    ],
)
def test_first_frame_when_messagepack_cut_short_then_code_the_page_names(payload: bytes, code: str) -> None:
    rig = Rig()
    link = MemoryLink(rig.clock)
    rig.engine.link_opened(link)
    rig.engine.link_data(link, len(payload).to_bytes(4, "big") + payload, rig.clock())
    (error,) = link.received()
    assert isinstance(error, Error) and (error.code, error.fatal) == (code, True)
    assert link.closed
