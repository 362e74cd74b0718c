"""A damaged FIX store record against the real QuickFIX acceptor over loopback.

The acceptor loses our order (the relay drops it), then asks for it again; meanwhile the store's
record of it has been damaged (rewritten without BodyLength: CRC-valid, so the store keeps it). The
session must still answer the ResendRequest -- a SequenceReset-GapFill over the record -- so that the
acceptor's numbers recover, nothing it receives is rejected, the link stays up, and one warning names
the number. The order's outcome is then unknown: the adapter still reads which request the record was
and asks the acceptor, which never had it: the order is reported NOT_SENT, once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.clock import monotonic_ns
from model.venue_events import VenueRejected, VenueState
from simulators.fix.simulator import FixSimulator, SimMessage
from venues.fix.fields import MsgType

from ..fix.helpers import make_order
from ..fix.live import GatewaySide, running_simulator, wait_until

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


async def wait_until_one(sim: FixSimulator, msg_type: bytes) -> list[SimMessage]:
    """Wait for the acceptor to receive a message of ``msg_type``; return those received."""
    await wait_until(lambda: sim.messages("in", msg_type), 15.0, f"a {msg_type!r} at the acceptor")
    return sim.messages("in", msg_type)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[FixSimulator]:
    with running_simulator(tmp_path / "sim", "equities-fix42", reference_prices={"AAPL": 1_500_000}) as simulator:
        yield simulator


async def test_resend_request_when_lost_order_record_damaged_then_gap_filled_and_acceptor_recovers(
    sim: FixSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    side = GatewaySide(sim, tmp_path / "store")
    await side.start()
    sim.drop_next_input(1)
    ref = side.send(make_order(3, symbol="MSFT"))
    await wait_until(lambda: sim.relay.dropped_input, 15.0, "the lost order")
    session = side.venue.session
    lost_seq = session.next_sender_seq - 1
    (stored,) = session.store.get_sent(lost_seq, lost_seq)
    session.store.save_sent(lost_seq, re.sub(rb"\x019=\d+", b"", stored[1], count=1))  # the damaged record
    with caplog.at_level(logging.WARNING, logger="venues.fix.session.session"):
        session.send_test_request(monotonic_ns())
        side.venue.flush()
        await wait_until(lambda: sim.messages("out", MsgType.RESEND_REQUEST), 15.0, "the acceptor's ResendRequest")
        await wait_until(lambda: sim.next_target_seq() == session.next_sender_seq, 15.0, "recovery")
    (resend,) = sim.messages("out", MsgType.RESEND_REQUEST)
    assert int(resend.get(b"7")) == lost_seq
    assert sim.messages("in", MsgType.NEW_ORDER_SINGLE) == []
    gap_fills = [m for m in sim.messages("in", MsgType.SEQUENCE_RESET) if m.get(b"123") == b"Y"]
    assert gap_fills[0].seq == lost_seq
    damaged = [r.getMessage() for r in caplog.records if "damaged store records" in r.getMessage()]
    assert len(damaged) == 1 and f"[{lost_seq}]" in damaged[0], damaged
    assert session.counters["damaged_not_resent"] == 1
    (asking,) = await wait_until_one(sim, MsgType.ORDER_CANCEL_REQUEST)
    assert asking.get(b"41").decode() == ref
    (event,) = await side.wait_events(1)
    assert isinstance(event, VenueRejected) and (event.order_id, event.code) == (3, "NOT_SENT")
    await asyncio.sleep(0.2)
    assert len(side.events) == 1
    assert [m.raw for m in sim.messages("out", MsgType.REJECT)] == []
    assert side.venue.state is VenueState.UP
    await side.stop()
