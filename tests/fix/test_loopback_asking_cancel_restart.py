"""An asking cancel (FIX 4.2) out when the gateway is killed, over loopback (QuickFIX acceptor; fixfix46).

The venue never gets the new order (dropped on the way); its resend request finds it stale, so it is gap-filled and
the gateway asks about it with a cancel naming it. The venue's answer, "unknown order" (CxlRejReason 1), is held
until the gateway is killed, then stored by QuickFIX and resent at the next logon. Before fixfix46 the restarted
adapter did not take the asking cancel back: that answer was passed on as the refusal of a cancel the strategy never
sent and the order stayed PENDING_NEW for good. Now it is taken back from the store and the answer reports the
order NOT_SENT (the strategy gets OrderRejected). The stop-45 reviewer's case held because a venue that had the
order answers Canceled, which names its order by ClOrdID.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from gateway.journal import read_journal
from gateway.protocol.messages import OrderRejected
from gateway.recovery import recover
from model.order import OrderState
from simulators.fix.sim_book import Report
from simulators.fix.simulator import FixSimulator

from .live import GatewaySide, wait_until
from .loopback import journaled_rig, kill_gateway

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def _quick_stale_dialect(tmp_path: Path) -> str:
    """The equities-fix42 dialect with requests stale after 100 ms (gap-filled on a resend request, not replayed)."""
    data = yaml.safe_load((ROOT / "deploy/fix/dialects/equities-fix42.yaml").read_text())
    data["resend"]["stale_after_ms"] = 100
    path = tmp_path / "equities-fix42-stale.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


async def test_asking_cancel_out_when_gateway_killed_then_taken_back_and_the_unknown_order_answer_not_sent(
    equities: FixSimulator, tmp_path: Path
) -> None:
    venue = equities
    dialect = _quick_stale_dialect(tmp_path)
    path = tmp_path / "gw.journal"
    first = await GatewaySide(venue, tmp_path / "store", dialect=dialect).start()
    rig = journaled_rig(first, path)
    book = venue.book
    on_new, on_cancel = book.on_new, book.on_cancel
    dropped: list[Mapping[bytes, bytes]] = []
    held: list[Report] = []

    def lost(_session: str, fields: Mapping[bytes, bytes], poss_dup: bool = False) -> list[Report]:
        dropped.append(fields)  # the order never reaches the venue's book
        return []

    def hold(session: str, fields: Mapping[bytes, bytes]) -> list[Report]:
        held.extend(on_cancel(session, fields))
        return []

    book.on_new = lost  # type: ignore[method-assign,assignment]
    book.on_cancel = hold  # type: ignore[method-assign]
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=40, venue="FIXV", symbol="MSFT")
    order = rig.order("S1", "A")
    await wait_until(lambda: dropped, 15.0, "the order to reach the acceptor")
    await asyncio.sleep(0.2)  # stale for the dialect
    venue.set_next_target_seq(venue.next_target_seq() - 1)  # the venue asks for the order again: gap-filled
    await wait_until(lambda: held, 15.0, "the asking cancel's answer (held)")
    assert first.venue.status()["questions_open"] == 1
    rig.engine.flush()
    last_seq = rig.engine.strategies["S1"].next_seq - 1

    await kill_gateway(first, rig)  # kill -9: the question out was in memory only
    venue.drop_connection()
    await wait_until(lambda: not venue.logged_on, 15.0, "the acceptor to see the disconnect")
    book.on_new, book.on_cancel = on_new, on_cancel  # type: ignore[method-assign]
    for msg_type, body in held:
        venue.send(msg_type, body)  # stored by QuickFIX, resent PossDupFlag=Y at the next logon
    recovered = recover(read_journal(path))
    second = GatewaySide(venue, tmp_path / "store", dialect=dialect)
    rig2 = journaled_rig(second, path)
    rig2.engine.adopt(recovered)
    again = rig2.order("S1", "A")
    assert again.state is OrderState.PENDING_NEW
    try:
        link2 = rig2.connect("S1", last_seq=last_seq)
        link2.received()
        await second.start()
        await wait_until(lambda: again.state is OrderState.REJECTED, 15.0, "NOT_SENT")  # before: PENDING_NEW for good
        rig2.engine.flush()
        (rejected,) = [m for m in link2.received() if isinstance(m, OrderRejected)]
        assert rejected.code == "NOT_SENT"
        await wait_until(lambda: second.venue.status()["questions_open"] == 0, 15.0, "no question out")
        assert second.venue.counters["unknown_cl_ord_id"] == 0
        assert order.order_id == again.order_id
    finally:
        await second.stop()
        rig2.engine.journal.close()
