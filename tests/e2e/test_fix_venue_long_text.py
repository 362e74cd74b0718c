"""A FIX venue's Text(58) near 64 KiB reaches the strategy clipped, in a readable frame, live and in replays (fix55).

Before, the text went whole into the venue event, the journal record and the strategy's ``Canceled``: a 60 KiB
Text of Latin-1 (its accented letters no UTF-8, each read as U+FFFD, 3 bytes) made a frame of 72,240 bytes, a
200 KiB one (a venue whose ``max_body_length`` was raised) one of 204,822, above the protocol's 65,536 bytes
(docs/strategy-protocol.md, sections 2 and 5), which a client written to the doc cannot read; journaled so, every
replay from before it carried it again (seen failing so on main). Now every venue text is clipped to
``EVENT_MAX_TEXT`` characters where the engine takes the venue event, before it is journaled, with a marker naming
its length; the whole text is in the gateway log once. A real gateway (``GatewayProcess``), the QuickFIX acceptor of
``gateway sim fix`` (the Latin-1 text injected through its raw relay, the ASCII one sent by QuickFIX itself), and a
strategy client written from the protocol doc (``tests/rawclient.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from gateway.app import GatewayProcess
from gateway.config import GatewayConfig
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.messages import MAX_FRAME_SIZE
from gateway.protocol.prices import to_fixed
from model.venue_events import EVENT_MAX_TEXT, VenueState
from simulators.fix.simulator import FixSimulator
from tests import rawclient
from tests.e2e.support import e2e_limits, gateway_config, gateway_metrics, short_tmp, wait_for
from tests.rawclient import CANCELED, NEW_ORDER, ORDER_ACCEPTED, RawClient, frame, order_events
from venues.fix.fields import MsgType

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(90)

RESTING = to_fixed("229.00")  # below AAPL's reference 230.10: rests on the book
LATIN_1 = ("Ordre annulé: quantité supérieure à la limite autorisée. ".encode("latin-1") * 1200)[: 60 * 1024]
"""60 KiB of a venue's Latin-1 text: its é and à are no UTF-8, each read as U+FFFD (3 bytes of UTF-8)."""
ASCII = (b"Order canceled by the venue: risk limit breached. " * 4200)[: 200 * 1024]
"""200 KiB of ASCII, for a venue whose ``max_body_length`` was raised for its long texts (docs/venues/fix.md)."""


@contextlib.asynccontextmanager
async def _gateway(workdir: Path, **venue_settings: object) -> AsyncIterator[tuple[GatewayConfig, FixSimulator]]:
    """A QuickFIX acceptor with a raw relay, and the gateway config of a FIX venue ``FIXV`` to it."""
    sim = FixSimulator(
        dialect="broker-fix44",
        reference_prices={"AAPL": to_fixed("230.10")},
        raw_channel=True,
        work_dir=str(workdir / "sim"),
    )
    sim.start()
    config = gateway_config(workdir, 1, e2e_limits(workdir, ("S1",)))
    venue = {
        "protocol": "fix",
        "name": "FIXV",
        "host": "127.0.0.1",
        "port": sim.port,
        "dialect": "broker-fix44",
        "heartbeat_interval_s": 1,
        "store_dir": str(workdir / "fix"),
        "username": "user1",
        "password": "pw",
        **venue_settings,
    }
    config = replace(
        config, venues=[venue], strategies={"S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()])}
    )
    try:
        yield config, sim
    finally:
        sim.close()


async def _started(config: GatewayConfig, sim: FixSimulator) -> GatewayProcess:
    process = GatewayProcess(config)
    await process.start()
    await wait_for(lambda: process.venues[0].state is VenueState.UP, what="FIX logon")
    await wait_for(lambda: bool(sim.logged_on), what="the acceptor to mark the session logged on")
    return process


async def _order_events(client: RawClient, count: int, timeout_s: float = 30.0) -> list[list[Any]]:
    """Return the next ``count`` order events (VenueStatus frames skipped)."""
    out: list[list[Any]] = []
    while len(out) < count:
        out += order_events(await client.read(1, timeout_s))
    return out


def _sized_split(sizes: list[int]) -> Any:
    """Return ``rawclient.split`` noting each complete frame's length in ``sizes`` (the client reads any length)."""
    split = rawclient.split

    def sized(buffer: bytearray) -> list[list[Any]]:
        pos = 0
        while len(buffer) - pos >= 4:
            (length,) = struct.unpack_from(">I", buffer, pos)
            if len(buffer) - pos < 4 + length:
                break
            sizes.append(length)
            pos += 4 + length
        return split(buffer)

    return sized


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
    monkeypatch.setattr(rawclient, "split", _sized_split(sizes))
    workdir = short_tmp()
    async with _gateway(workdir, **venue_settings) as (config, sim):
        process = await _started(config, sim)
        try:
            client = await RawClient(str(config.path(config.strategy_socket))).connect()
            await client.hello("S1", version=2)
            await client.send(frame(NEW_ORDER, "A1", "ACC1", "FIXV", "AAPL", "B", 100, RESTING, "0", "2", 0))
            (accepted,) = await _order_events(client, 1)
            assert accepted[0] == ORDER_ACCEPTED, accepted
            await wait_for(lambda: bool(sim.book.orders), what="the order on the venue's book")
            (report,) = sim.book.cancel_all(sim.session_key())  # the venue cancels it, unsolicited, with a long Text
            body = [(tag, text if tag == b"58" else value) for tag, value in report[1]]
            with caplog.at_level(logging.WARNING, logger="gateway.engine"):
                if send_raw:
                    sim.inject_message(MsgType.EXECUTION_REPORT, body)  # its bytes as they are (Latin-1)
                else:
                    sim.send(MsgType.EXECUTION_REPORT, body)  # QuickFIX's own
                (canceled,) = await _order_events(client, 1)
            assert canceled[0] == CANCELED, canceled[:5]
            live_text = canceled[6]
            assert max(sizes) <= MAX_FRAME_SIZE, sizes  # before fix55: 72,240 (Latin-1), 204,822 (ASCII)
            assert len(live_text) <= EVENT_MAX_TEXT
            assert live_text.endswith(f"… [clipped: {len(text):,} characters; the gateway log has the whole text]")
            whole = text.decode(errors="replace")
            assert live_text.startswith(whole[:1000])
            lines = [r.getMessage() for r in caplog.records if "clipped to" in r.getMessage()]
            assert len(lines) == 1 and f"has {len(text)} characters" in lines[0], [line[:300] for line in lines]
            assert repr(whole) in lines[0]  # the whole text, once
            samples = await gateway_metrics(config)  # counted per venue (texts56)
            assert samples["gateway_venue_texts_clipped_total"] == [({"venue": "FIXV"}, 1.0)], samples

            again = await RawClient(str(config.path(config.strategy_socket))).connect()
            client.close()
            await again.hello("S1", version=2, last_seq=0)  # a replay from before it, from memory
            replayed = await _order_events(again, 2)
            assert [m[0] for m in replayed] == [ORDER_ACCEPTED, CANCELED]
            assert replayed[1][6] == live_text
            again.close()
        finally:
            await process.stop()

        process = await _started(config, sim)  # restarted: the replay comes from the journal
        try:
            sizes.clear()
            after = await RawClient(str(config.path(config.strategy_socket))).connect()
            await after.hello("S1", version=2, last_seq=0)
            replayed = await _order_events(after, 2)
            assert [m[0] for m in replayed] == [ORDER_ACCEPTED, CANCELED]
            assert replayed[1][6] == live_text  # the journal holds the clipped text
            assert max(sizes) <= MAX_FRAME_SIZE, sizes
            after.close()
        finally:
            await process.stop()
