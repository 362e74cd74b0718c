"""BOE over loopback: the kill switch's Cancel refused ``O`` by the order's old ClOrdID in Cboe's replay (boepf60b).

``gateway run`` as a process, the project's BOE simulator in this process (the test holds and releases messages
inside it). A Modify is reported refused at the in-doubt deadline while its original is still held inside Cboe;
``gateway kill``: its Cancel names the order's ClOrdID and waits behind the Modify. ``kill -9``; Cboe applies the
Modify (the order goes by ``<ClOrdID>.1.1`` now) and refuses the Cancel ``O`` (sequenced): the restart's replay
brings both. The old code took the refusal for the Cancel's answer (nothing can be sent during a replay): the order
worked on at Cboe under a standing kill, also after another restart (rev60merge6 HIGH 1). Now the Cancel naming the
current ClOrdID goes out at Replay Complete and Cboe cancels the order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.protocol.messages import CancelRejected
from model.enums import Side
from tests.reliability.support import BOE_VENUE, BoeGateway, Gateway, RecordingClient, wait_until, write_boe_config
from tests.reliability.test_boe_bust_restart import RESTING, _SimThread
from venues.boe.messages import CancelRejected as BoeCancelRejected

UNIT = 1  # AAPL's matching unit


@pytest.fixture
def boe() -> Iterator[_SimThread]:
    simulator = _SimThread()
    yield simulator
    simulator.stop()


def _held(boe: _SimThread) -> int:
    return boe.call(lambda: len(boe.sim.core.held))


def test_kill_switch_cancel_refused_o_by_the_old_clordid_in_the_replay_then_sent_again_and_cancels_at_cboe(
    workdir: Path, boe: _SimThread, gateways: list[Gateway]
) -> None:
    gateway = BoeGateway(workdir, write_boe_config(workdir, boe.sim.port))
    gateways.append(gateway)
    gateway.start()
    core = boe.sim.core

    async def lapse() -> None:
        async with RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="K") as client:
            handle = await client.submit("ACC1", BOE_VENUE, "AAPL", Side.BUY, 100, price_ticks=RESTING)
            await handle.wait_accepted(15)

            def hold() -> None:
                core.hold = core.duplicates_first = True

            boe.call(hold)
            await client.replace(handle, 150, price_ticks=RESTING - 100)
            await asyncio.to_thread(wait_until, lambda: _held(boe) == 1, 15, "the Modify held inside Cboe")
            boe.call(boe.sim.drop_connections)  # the copy after the re-login is refused D; the original stays held
            for _ in range(300):  # reported refused at the in-doubt deadline (5 s)
                if any(isinstance(m, CancelRejected) for m in client.order_events()):
                    break
                await asyncio.sleep(0.1)
            [refused] = [m for m in client.order_events() if isinstance(m, CancelRejected)]
            assert refused.code == "BOE_ANSWER_LOST"

    asyncio.run(lapse())
    [old] = boe.call(lambda: list(core.exchange.orders))
    assert gateway.cli("kill", "--reason", "boepf60b drill").returncode == 0
    wait_until(lambda: _held(boe) == 2, 15, "the kill's Cancel held behind the Modify")
    gateway.kill9()

    def apply_then_refuse() -> None:
        assert core.release_held(None) == 2  # Order Modified (sequenced); Cancel Rejected O on no connection
        core.streams.append(UNIT, BoeCancelRejected(0, 0, 0, old, "O", "ClOrdID does not match a live order"))

    boe.call(apply_then_refuse)
    assert boe.call(lambda: list(core.exchange.orders)) == [old + ".1.1"]
    gateway.start()  # the replay brings the Order Modified and the refusal
    # the old code: the refusal answered the kill's Cancel, {old.1.1: 150} worked on at Cboe under the kill
    wait_until(lambda: not boe.call(lambda: list(core.exchange.orders)), 20, "the order canceled at Cboe")
    cancels = [(r.orig_cl_ord_id, r.outcome) for r in core.exchange.records if r.type == "Cancel Order"]
    assert cancels == [(old, "cancel-rejected:O"), (old + ".1.1", "cancelled")]
    wait_until(lambda: gateway.status()["orders_open"] == 0, 15, "no order open")
    venue = gateway.status()["venues"][BOE_VENUE]
    assert venue["ignored_by_type"]["stale-cancel-reject"] == 1 and venue["ended_not_at_cboe"] == 0
    assert venue["late_cancels_waiting"] == 0
    assert "the Cancel is sent again naming that after the replay" in gateway.log_text()
