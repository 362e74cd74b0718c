"""A FIX venue's ExecID (17) and OrderID (37) of 100 KB reach the strategy bounded, in legal frames, and two ids stay
two (texts56).

Before, a venue's ids went whole into the venue event, the journal and the strategy's ``OrderAccepted`` /
``Executed``: a 100 KB OrderID made a frame of about 100,000 bytes, above the protocol's 65,536
(docs/strategy-protocol.md, section 2), which a client written to the doc cannot read (the SDK's splitter stops at
it, and every answer after it with it), in every replay from before it too (journaled). Now an id longer than
``EVENT_MAX_ID`` is replaced, where the engine takes the event and before it is journaled, by its first characters
and the SHA-256 of the whole (``model.venue_events.bounded_id``): two fills whose 100 KB ExecIDs differ only in their
last character stay two fills (a prefix alone would have made the second a "repeated fill", never applied), a
repeat of one is still refused, and the gateway's cancel does not echo the bounded OrderID back to the venue (it
omits the optional OrderID: OrigClOrdID names the order). A real gateway (``GatewayProcess``), the QuickFIX acceptor
of ``gateway sim fix`` (a venue whose ``max_body_length`` was raised), a strategy client written from the protocol
doc (``tests/rawclient.py``), and a restart whose replay comes from the journal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.protocol.messages import MAX_FRAME_SIZE
from gateway.protocol.prices import to_fixed
from model import venue_events
from simulators.fix.simulator import FixSimulator
from tests import rawclient
from tests.e2e.fix_support import fix_gateway, next_order_events, started
from tests.e2e.support import gateway_metrics, short_tmp, wait_for
from tests.rawclient import CANCEL, CANCELED, EXECUTED, NEW_ORDER, ORDER_ACCEPTED, RawClient, frame
from venues.fix import fields as f
from venues.fix.fields import MsgType

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(120)

RESTING = to_fixed("229.00")  # below AAPL's reference 230.10: rests on the book
LONG_OID = b"OID-" + b"7" * 100_000
"""A 100 KB OrderID (37)."""
EXEC_A = b"EXEC-" + b"5" * 99_999 + b"A"
EXEC_B = b"EXEC-" + b"5" * 99_999 + b"B"
"""Two 100 KB ExecIDs (17) alike but for their last character: two fills."""


def _long_order_ids(sim: FixSimulator) -> None:
    """Have the acceptor's book give every order ``LONG_OID`` (in every report about it)."""
    on_new = sim.book.on_new

    def long_order_ids(session: str, fields: Mapping[bytes, bytes], poss_dup: bool = False) -> list[Any]:
        reports = on_new(session, fields, poss_dup)
        order = sim.book.orders.get((session, fields.get(f.CL_ORD_ID, b"")))
        if order is not None:
            order.order_id = LONG_OID  # its later reports too
        return [(kind, [(t, LONG_OID if t == f.ORDER_ID else v) for t, v in body]) for kind, body in reports]

    sim.book.on_new = long_order_ids  # type: ignore[method-assign]


def _fill(sim: FixSimulator, qty: int, exec_id: bytes) -> list[tuple[bytes, bytes]]:
    """Have the venue fill ``qty`` of its one order and report it under ``exec_id``; return the report's body."""
    ((session, cl_ord_id),) = sim.book.orders  # the gateway's ClOrdID for A1
    (report,) = sim.book.execute(session, cl_ord_id, qty)
    body = [(t, exec_id if t == f.EXEC_ID else v) for t, v in report[1]]
    sim.inject_message(report[0], body)  # through the raw relay, numbered as QuickFIX's next
    return body


async def test_fix_ids_when_100kb_then_bounded_in_legal_frames_two_stay_two_a_repeat_refused_and_replayed_alike(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sizes: list[int] = []
    monkeypatch.setattr(rawclient, "split", rawclient.sized_split(sizes))
    workdir = short_tmp()
    async with fix_gateway(workdir, _long_order_ids, max_body_length=1 << 20) as (config, sim):
        process = await started(config, sim)
        try:
            client = await RawClient(str(config.path(config.strategy_socket))).connect()
            await client.hello("S1", version=2)
            with caplog.at_level(logging.WARNING, logger="gateway.engine"):
                await client.send(frame(NEW_ORDER, "A1", "ACC1", "FIXV", "AAPL", "B", 100, RESTING, "0", "2", 0))
                (accepted,) = await next_order_events(client, 1)
                assert accepted[0] == ORDER_ACCEPTED, accepted[:4]
                assert max(sizes) <= MAX_FRAME_SIZE, sizes  # before texts56: a frame of 100,021 bytes
                assert accepted[3] == venue_events.bounded_id(LONG_OID.decode()), accepted[3][:200]

                fill_a = _fill(sim, 10, EXEC_A)
                (first,) = await next_order_events(client, 1)  # (QuickFIX idle before the next send)
                _fill(sim, 20, EXEC_B)
                (second,) = await next_order_events(client, 1)
            assert [first[0], second[0]] == [EXECUTED, EXECUTED]
            assert max(sizes) <= MAX_FRAME_SIZE, sizes
            assert (first[3], first[7], first[8]) == (10, 10, 90)  # qty, cum_qty, leaves_qty
            assert (second[3], second[7], second[8]) == (20, 30, 70)  # two fills, not one and a "repeat"
            assert (
                first[6]
                == venue_events.bounded_id(EXEC_A.decode())
                != second[6]
                == venue_events.bounded_id(EXEC_B.decode())
            )
            assert first[6].startswith("EXEC-555") and venue_events.EVENT_MAX_ID < len(first[6]) <= 200
            lines = [r.getMessage() for r in caplog.records if "SHA-256 of the whole" in r.getMessage()]
            assert lines and "has 100004 characters" in lines[0] and repr(LONG_OID.decode()) in lines[0]

            sim.inject_message(MsgType.EXECUTION_REPORT, fill_a)  # the venue sends fill A again, a new MsgSeqNum
            engine = process.engine
            assert engine is not None
            await wait_for(lambda: engine.counters.repeated_fills == 1, what="the repeat refused")

            await client.send(frame(CANCEL, "A1", 0))
            (canceled,) = await next_order_events(client, 1)
            assert canceled[0] == CANCELED and canceled[3:5] == [70, 0], canceled  # the repeat added nothing
            (request,) = sim.messages("in", MsgType.ORDER_CANCEL_REQUEST)
            assert request.get(f.ORDER_ID) == b"", request  # not the bounded form: the venue never sent that
            samples = await gateway_metrics(config)  # the ack, two fills, the repeat
            assert samples["gateway_venue_ids_bounded_total"] == [({"venue": "FIXV"}, 4.0)], samples
            assert samples["gateway_venue_texts_clipped_total"] == [({"venue": "FIXV"}, 0.0)]

            live = [accepted, first, second, canceled]
            again_client = await RawClient(str(config.path(config.strategy_socket))).connect()
            client.close()
            await again_client.hello("S1", version=2, last_seq=0)  # a replay from memory
            assert await next_order_events(again_client, 4) == live
            again_client.close()
        finally:
            await process.stop()

        process = await started(config, sim)  # restarted: the replay comes from the journal
        try:
            sizes.clear()
            after = await RawClient(str(config.path(config.strategy_socket))).connect()
            await after.hello("S1", version=2, last_seq=0)
            assert await next_order_events(after, 4) == live
            assert max(sizes) <= MAX_FRAME_SIZE, sizes
            after.close()
        finally:
            await process.stop()
