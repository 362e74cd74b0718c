"""``kill -9`` of ``gateway run`` in the middle of a kill switch's walk, then a restart: every order canceled once.

walk59: a kill over more than ``MASS_CANCEL_WALK_SLICE`` open orders sends their Cancels a slice per loop turn (other
accounts served in between); its answer comes after the first slice. A crash between two slices leaves orders of
its scope with no Cancel journaled; the start sends theirs (``Recovered.kill_owed``), held until the venue is UP, and
the orders whose Cancel was journaled get their venue's answer at the reconnect, no second Cancel. Real processes:
``gateway run``, ``gateway sim ouch`` (its record file and outbound stream are the venue's truth), the admin socket.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.admin import admin_request
from gateway.engine import MASS_CANCEL_WALK_SLICE
from gateway.journal import JSentCancel, read_journal
from gateway.protocol.messages import OrderAccepted, OrderRejected
from model.enums import Side
from tests.reliability.support import (
    Gateway,
    RecordingClient,
    Simulator,
    venue_orders,
    wait_for,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.timeout(300)

RESTING = 2_290_000  # 229.00: below AAPL's reference 230.10, rests on the book
ORDERS = 24 * MASS_CANCEL_WALK_SLICE  # 24 slices, as many loop turns: the crash lands in the middle of the walk


async def _rest_orders(gateway: Gateway, count: int) -> None:
    """S1 rests ``count`` orders of ACC1 (each accepted by the venue), then disconnects (policy keep)."""
    client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="K")
    await client.connect()
    for n in range(count):  # no two alike (the duplicate window), under ACC1's 2,000 orders per s in AAPL
        client.submit_nowait("ACC1", "OUCH", "AAPL", Side.BUY, 1 + n % 500, price_ticks=RESTING - n // 500 * 100)
        if n % 100 == 99:
            await asyncio.sleep(0.08)

    def accepted() -> bool:
        events = client.order_events()
        refused = [e for e in events if isinstance(e, OrderRejected)]
        assert not refused, refused[:3]
        return sum(1 for e in events if isinstance(e, OrderAccepted)) >= count

    await wait_for(accepted, 120, "every order accepted")
    await client.close()


def test_kill9_mid_kill_walk_then_restart_cancels_every_order_of_the_scope_at_the_venue_exactly_once(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port))
    gateways.append(gateway)
    gateway.start()
    asyncio.run(_rest_orders(gateway, ORDERS))
    reply = admin_request(gateway.admin, {"cmd": "kill", "account": "ACC1", "who": "ops", "reason": "walk59 drill"})
    gateway.kill9()  # at once: the answer comes after the first slice, the rest are walked a slice per loop turn
    assert reply["orders_canceled"] == ORDERS, reply
    journaled = sum(1 for rec in read_journal(gateway.journal()) if isinstance(rec, JSentCancel))
    assert journaled < ORDERS, "the crash came after the kill's last Cancel (main: all of them in the kill's turn)"
    gateway.start()
    risk = gateway.status()["risk"]
    assert risk["accounts"]["ACC1"]["runtime_state"] == "HALTED"

    def all_canceled() -> bool:
        return int(gateway.status()["risk"]["open_orders"]) == 0

    wait_until(all_canceled, 120, "every order of the killed account canceled after the restart")
    at_venue = venue_orders(sim.outbound())
    assert len(at_venue) == ORDERS
    assert all(order.accepted == 1 and order.open_qty == 0 for order in at_venue.values())
    urns = {urn: oid for oid, order in at_venue.items() for urn in order.user_ref_nums}
    cancels: dict[int, int] = {}
    for record in sim.records():
        if record.type == "X":
            oid = urns[record.user_ref_num]
            cancels[oid] = cancels.get(oid, 0) + 1
    assert sorted(cancels) == sorted(at_venue), "an order of the scope got no Cancel at the venue"
    twice = {oid: n for oid, n in cancels.items() if n != 1}
    assert not twice, f"Cancels sent more than once: {twice}"
    assert "a kill switch's Cancels were cut short" in gateway.log_text()
