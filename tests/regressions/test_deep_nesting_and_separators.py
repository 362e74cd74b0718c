"""Regressions found by a code review of stop 54 (rev55diff).

1. A frame of valid MessagePack nested deeper than the decoder goes (``0x91`` x 1,100 then ``0x01``) raised
   ``RecursionError`` in the check stop 54 added for non-MessagePack bytes: the session ended with a fatal
   ``INTERNAL_ERROR``, the disconnect policy ran and the strategy's accounts were halted. Table 7.2 makes such a
   frame ``INVALID_MESSAGE`` (valid MessagePack that is not a message), not fatal; before the Hello,
   ``HELLO_REQUIRED``.
2. The same on the admin socket: a JSON request nested too deep is a bad request, answered, not a failure.
3. An operator's ``--reason`` took U+2028/U+2029 (line and paragraph separators): one audit record read back
   as several lines. The help says "printable characters on one line".
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.admin import start_admin_server
from gateway.protocol.messages import Error
from gateway.strategy_session import StrategySession
from model.operator_text import operator_text_problem
from tests.harness import Rig


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


DEEP = b"\x91" * 1_100 + b"\x01"


def test_first_frame_nested_too_deep_then_hello_required() -> None:
    session = StrategySession(0)
    session.receive_data(_frame(b"\x91" * 2_000 + b"\x01"), 1)
    assert session.is_closed() and session.close_reason.startswith("HELLO_REQUIRED: ")


@pytest.mark.parametrize("depth", [900, 1_100, 5_000])
def test_frame_nested_too_deep_after_hello_then_invalid_message_and_session_goes_on(depth: int) -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.engine.link_data(link, _frame(b"\x91" * depth + b"\x01"), rig.clock())
    (error,) = link.received()
    assert isinstance(error, Error) and (error.code, error.fatal) == ("INVALID_MESSAGE", False)
    assert not link.closed
    assert rig.engine.counters.internal_errors == 0
    rig.new_order(link, "A")  # the session still takes orders
    assert [c[0] for c in rig.venue.commands] == ["new"]


def test_request_id_field_nested_too_deep_then_invalid_message() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    # a Cancel (tag 4 in the v3 layout) whose id is an array nested too deep: no id to answer by
    rig.engine.link_data(link, _frame(b"\x93\x04" + DEEP + b"\x05"), rig.clock())
    (error,) = link.received()
    assert isinstance(error, Error) and error.code == "INVALID_MESSAGE" and not error.fatal
    assert not link.closed


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_operator_text_with_a_line_separator_then_refused(char: str) -> None:
    problem = operator_text_problem(f"desk A{char}INFO fake line")
    assert problem is not None and "one line" in problem


def test_operator_text_plain_unicode_then_taken() -> None:
    assert operator_text_problem("desk Zürich: café halt, 東京") is None


def test_admin_request_nested_too_deep_then_answered_bad_request(tmp_path: Path) -> None:
    async def run() -> tuple[dict[str, object], dict[str, object]]:
        path = tmp_path / "admin.sock"
        server = await start_admin_server(path, {"ping": lambda request, who: {"pong": True}})
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b"[" * 5_000 + b"\n")
            await writer.drain()
            first = await asyncio.wait_for(reader.readline(), 10)
            writer.write(b'{"cmd": "ping"}\n')
            await writer.drain()
            second = await asyncio.wait_for(reader.readline(), 10)
            writer.close()
            return dict(json.loads(first)), dict(json.loads(second))
        finally:
            server.close()
            await server.wait_closed()

    refused, answered = asyncio.run(run())
    assert refused["ok"] is False and "nested too deep" in str(refused["error"])
    assert answered["ok"] is True  # the connection still answers
