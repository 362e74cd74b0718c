"""A FIX venue's Text(58) near 64 KiB reaches the strategy clipped, in a readable frame, live and in replays (fix55).

Before, the text went whole into the venue event, the journal record and the strategy's ``Canceled``: a 60 KiB
Text of Latin-1 (its accented letters no UTF-8, each read as U+FFFD, 3 bytes) made a frame of 72,240 bytes, a
200 KiB one (a venue whose ``max_body_length`` was raised) one of 204,822, above the protocol's 65,536 bytes
(docs/strategy-protocol.md, sections 2 and 5), which a client written to the doc cannot read; journaled so, every
replay from before it carried it again (seen failing so on main). Now every venue text is clipped to
``EVENT_MAX_TEXT`` characters where the engine takes the venue event, before it is journaled, with a marker naming
its length; the whole text is in the gateway log once. One that is not UTF-8 (the Latin-1 one) is bounded by the FIX
adapter instead, named by its bytes' length and SHA-256 (fixresend59: the engine's "whole text" line of it did not
hold the bytes). A real gateway (``GatewayProcess``), the QuickFIX acceptor of
``gateway sim fix`` (the Latin-1 text injected through its raw relay, the ASCII one sent by QuickFIX itself), and a
strategy client written from the protocol doc (``tests/rawclient.py``).
"""

from __future__ import annotations

import hashlib
import logging

import pytest

from gateway.protocol.messages import MAX_FRAME_SIZE
from gateway.protocol.prices import to_fixed
from model.venue_events import EVENT_MAX_TEXT
from tests import rawclient
from tests.e2e.fix_support import fix_gateway, next_order_events, started
from tests.e2e.support import gateway_metrics, short_tmp, wait_for
from tests.rawclient import CANCELED, NEW_ORDER, ORDER_ACCEPTED, RawClient, frame
from venues.fix.fields import MsgType

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(90)

RESTING = to_fixed("229.00")  # below AAPL's reference 230.10: rests on the book
LATIN_1 = ("Ordre annulé: quantité supérieure à la limite autorisée. ".encode("latin-1") * 1200)[: 60 * 1024]
"""60 KiB of a venue's Latin-1 text: its é and à are no UTF-8, each read as U+FFFD (3 bytes of UTF-8)."""
ASCII = (b"Order canceled by the venue: risk limit breached. " * 4200)[: 200 * 1024]
"""200 KiB of ASCII, for a venue whose ``max_body_length`` was raised for its long texts (docs/venues/fix.md)."""


@pytest.mark.parametrize(
    ("text", "send_raw", "venue_settings"),
    [(LATIN_1, True, {}), (ASCII, False, {"max_body_length": 1 << 20})],
    ids=["latin1-60k", "ascii-200k-raised-max-body"],
)
async def test_venue_cancel_when_its_text_is_near_64k_or_above_then_clipped_readable_and_replayed_after_restart(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    text: bytes,
    send_raw: bool,
    venue_settings: dict[str, object],
) -> None:
    sizes: list[int] = []
    monkeypatch.setattr(rawclient, "split", rawclient.sized_split(sizes))
    workdir = short_tmp()
    async with fix_gateway(workdir, None, **venue_settings) as (config, sim):
        process = await started(config, sim)
        try:
            client = await RawClient(str(config.path(config.strategy_socket))).connect()
            await client.hello("S1", version=2)
            await client.send(frame(NEW_ORDER, "A1", "ACC1", "FIXV", "AAPL", "B", 100, RESTING, "0", "2", 0))
            (accepted,) = await next_order_events(client, 1)
            assert accepted[0] == ORDER_ACCEPTED, accepted
            await wait_for(lambda: bool(sim.book.orders), what="the order on the venue's book")
            (report,) = sim.book.cancel_all(sim.session_key())  # the venue cancels it, unsolicited, with a long Text
            body = [(tag, text if tag == b"58" else value) for tag, value in report[1]]
            with caplog.at_level(logging.WARNING):
                if send_raw:
                    sim.inject_message(MsgType.EXECUTION_REPORT, body)  # its bytes as they are (Latin-1)
                else:
                    sim.send(MsgType.EXECUTION_REPORT, body)  # QuickFIX's own
                (canceled,) = await next_order_events(client, 1)
            assert canceled[0] == CANCELED, canceled[:5]
            live_text = canceled[6]
            assert max(sizes) <= MAX_FRAME_SIZE, sizes  # before fix55: 72,240 (Latin-1), 204,822 (ASCII)
            assert len(live_text) <= EVENT_MAX_TEXT
            whole = text.decode(errors="replace")
            assert live_text.startswith(whole[:1000])
            lines = [r.getMessage() for r in caplog.records if "clipped to" in r.getMessage()]
            samples = await gateway_metrics(config)
            if send_raw:  # not UTF-8: bounded by the FIX adapter, named by its bytes' length and SHA-256 (fixresend59)
                digest = hashlib.sha256(text).hexdigest()
                assert live_text.endswith(f"… [{len(text):,} bytes, not UTF-8, sha256 {digest}]"), live_text[-200:]
                assert lines == []  # before fixresend59: "the whole text", 184 KB of mostly U+FFFD-strewn text
                (line,) = [r.getMessage() for r in caplog.records if "not UTF-8" in r.getMessage()]
                assert f"{len(text)} bytes, not UTF-8" in line and digest in line and text[:64].hex() in line, line
                assert samples["gateway_venue_texts_clipped_total"] == [({"venue": "FIXV"}, 0.0)], samples
            else:
                assert live_text.endswith(f"… [clipped: {len(text):,} characters; the gateway log has the whole text]")
                assert len(lines) == 1 and f"has {len(text)} characters" in lines[0], [line[:300] for line in lines]
                assert repr(whole) in lines[0]  # the whole text, once
                # counted per venue (texts56)
                assert samples["gateway_venue_texts_clipped_total"] == [({"venue": "FIXV"}, 1.0)], samples

            again = await RawClient(str(config.path(config.strategy_socket))).connect()
            client.close()
            await again.hello("S1", version=2, last_seq=0)  # a replay from before it, from memory
            replayed = await next_order_events(again, 2)
            assert [m[0] for m in replayed] == [ORDER_ACCEPTED, CANCELED]
            assert replayed[1][6] == live_text
            again.close()
        finally:
            await process.stop()

        process = await started(config, sim)  # restarted: the replay comes from the journal
        try:
            sizes.clear()
            after = await RawClient(str(config.path(config.strategy_socket))).connect()
            await after.hello("S1", version=2, last_seq=0)
            replayed = await next_order_events(after, 2)
            assert [m[0] for m in replayed] == [ORDER_ACCEPTED, CANCELED]
            assert replayed[1][6] == live_text  # the journal holds the clipped text
            assert max(sizes) <= MAX_FRAME_SIZE, sizes
            after.close()
        finally:
            await process.stop()
