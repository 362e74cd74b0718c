"""Conformance s18 against a real QuickFIX acceptor over loopback (see ``docs/venues/fix.md``): a PossDupFlag=Y
copy whose OrigSendingTime (122) is later than its SendingTime (52), injected on the simulator's raw channel
(QuickFIX itself never sends one). Harness as in ``test_conformance.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.venue_events import VenueAccepted, VenueExecuted, VenueState
from simulators.fix.simulator import FixSimulator
from venues.fix.codec import build_message
from venues.fix.fields import MsgType

from .helpers import make_order
from .live import GatewaySide, running_simulator, wait_until

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)

_HEADER_AND_TRAILER: frozenset[bytes] = frozenset(
    {b"8", b"9", b"35", b"49", b"56", b"34", b"52", b"43", b"97", b"122", b"10"}
)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[FixSimulator]:
    with running_simulator(tmp_path / "sim", "equities-fix42", reference_prices={"AAPL": 1_500_000}) as simulator:
        yield simulator


async def test_s18_poss_dup_copy_with_orig_sending_time_after_sending_time_then_reject_10_logout_and_back_up(
    sim: FixSimulator, gateway: GatewaySide
) -> None:
    # QuickFIX's doPossDup: Reject (SessionRejectReason 10, SendingTime accuracy problem) and Logout. The acceptor
    # answers the Logout, the connection closes, the gateway logs on again; the copy is never applied.
    gateway.send(make_order(1))
    await gateway.wait_events(2)
    fill = sim.messages("out", MsgType.EXECUTION_REPORT)[-1]
    body = [(tag, value) for tag, value in fill.message.fields.items() if tag not in _HEADER_AND_TRAILER]
    now = time.time()
    copy = build_message(
        sim.begin_string.encode(),
        MsgType.EXECUTION_REPORT,
        sender=sim.sender.encode(),
        target=sim.targets[0].encode(),
        seq=fill.seq,
        sending_time=time.strftime("%Y%m%d-%H:%M:%S.000", time.gmtime(now)).encode(),
        body_fields=body,
        header_fields=[(b"43", b"Y"), (b"122", time.strftime("%Y%m%d-%H:%M:%S.000", time.gmtime(now + 60)).encode())],
    )
    sim.inject_raw(copy)
    await wait_until(lambda: sim.messages("in", MsgType.LOGOUT), 15.0, "the gateway's Logout")
    (reject,) = sim.messages("in", MsgType.REJECT)
    assert (reject.get(b"45"), reject.get(b"373"), reject.get(b"371")) == (b"%d" % fill.seq, b"10", b"")
    (logout,) = sim.messages("in", MsgType.LOGOUT)
    assert logout.seq == reject.seq + 1 and logout.get(b"58") == b""
    await wait_until(lambda: sim.messages("out", MsgType.LOGOUT), 15.0, "the acceptor's Logout answer")
    await wait_until(lambda: VenueState.DISCONNECTED in gateway.states, 15.0, "the connection to close")
    await gateway.wait_up()
    assert gateway.venue.session.counters["poss_dup_orig_sending_time_late"] == 1
    assert [type(e) for e in gateway.events] == [VenueAccepted, VenueExecuted]
    assert [m.raw for m in sim.messages("out", MsgType.REJECT)] == []
