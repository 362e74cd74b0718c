"""A FIX venue logging out with a 60 KB Text: every log line and the strategy's VenueStatus stay bounded.

rev59merge3 MEDIUM 1: the Text of the venue's Logout went whole into the reason of the connection's end, logged twice
per connection: the session's WARNING "closing the connection: venue logged out: <text>" and the engine's "UP ->
DISCONNECTED (<reason>)", 180 KB each for 60,000 Latin-1 bytes (each read as U+FFFD); a venue refusing every Logon so
grew the log ~400 KB a second. Now the session keeps the first characters of such a Text and names the rest by its
length and SHA-256 (", not UTF-8" when it is not): lines of a few hundred characters, the same text to the strategy.
A real gateway (``GatewayProcess``), the QuickFIX acceptor of ``gateway sim fix`` (the Logout injected through its raw
relay, its bytes as they are), and a strategy client written from the protocol doc (``tests/rawclient.py``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import pytest

from model.venue_events import VenueState
from tests.e2e.fix_support import fix_gateway, started
from tests.e2e.support import short_tmp, wait_for
from tests.rawclient import VENUE_STATUS, RawClient
from venues.fix.fields import MsgType
from venues.fix.session.session import VENUE_TEXT_LOGGED

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(90)

LATIN_1 = ("Session refusée: identifiant réservé à un autre participant. ".encode("latin-1") * 1100)[:60_000]
ASCII = (b"Logged out: the session is held by another host. " * 1300)[:60_000]


async def _status_not_up(client: RawClient) -> list[Any]:
    """Return the strategy's next VenueStatus of FIXV other than UP."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for message in await client.read(1, deadline - time.monotonic()):
            if message[0] == VENUE_STATUS and message[1] == "FIXV" and message[2] != "UP":
                return message
    raise AssertionError("no VenueStatus other than UP")


@pytest.mark.parametrize(("text", "utf8"), [(LATIN_1, False), (ASCII, True)], ids=["latin1-60k", "ascii-60k"])
async def test_venue_logout_with_a_60k_text_then_log_lines_and_venue_status_bounded_and_the_venue_back_up(
    caplog: pytest.LogCaptureFixture, text: bytes, utf8: bool
) -> None:
    marker = f"… [{len(text):,} bytes{'' if utf8 else ', not UTF-8'}, sha256 {hashlib.sha256(text).hexdigest()}]"
    async with fix_gateway(short_tmp()) as (config, sim):
        process = await started(config, sim)
        try:
            client = await RawClient(str(config.path(config.strategy_socket))).connect()
            await client.hello("S1", version=2)
            with caplog.at_level(logging.INFO):
                sim.inject_message(MsgType.LOGOUT, [(b"58", text)])
                status = await _status_not_up(client)
                await wait_for(lambda: process.venues[0].state is VenueState.UP, what="FIX logon again")
            status_text = status[3]
            assert status_text.startswith("venue logged out: " + text[:200].decode(errors="replace")), status[:3]
            assert status_text.endswith(marker), status_text[-200:]
            # 500 characters of the text, then the marker (fixresend59c: the marker took ~90 of the 500)
            assert len(status_text) == len("venue logged out: ") + VENUE_TEXT_LOGGED + len(marker)
            lines = [r.getMessage() for r in caplog.records]
            closing = [line for line in lines if "closing the connection: venue logged out" in line]
            transition = [line for line in lines if "FIXV: UP -> " in line]
            assert closing and transition, lines
            assert all(line.endswith(marker) for line in closing), closing[0][-200:]
            assert all(marker in line for line in transition), transition[0][-300:]
            # merge59: the two lines of 60,000+ characters (latin1: 180 KB of UTF-8 each)
            assert max(len(line) for line in lines) < 2000, sorted(len(line) for line in lines)[-3:]
            client.close()
        finally:
            await process.stop()
