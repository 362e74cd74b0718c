"""Crash recovery on a FIX venue with real processes: ``kill -9`` of ``gateway run`` mid-session, restart.

The venue is ``gateway sim fix`` (a real QuickFIX acceptor) in its own process; its ``--record``
file (every FIX message it received and sent) is the truth the gateway is checked against:
the session resumes its sequence numbers without a reset, no order is entered twice, and the
strategy receives every event for its orders exactly once across the crash.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.client import GatewayError
from gateway.protocol.messages import Canceled, CancelRejected, Executed, OrderEvent, OrderRejected
from model.enums import Side
from tests.e2e.support import e2e_limits, short_tmp
from tests.reliability.support import (
    Gateway,
    RecordingClient,
    StrategyView,
    final_state,
    spawn_listening,
    wait_for,
    wait_until,
)

RESTING = 2_290_000  # 229.00: below the simulator's AAPL reference, rests
MARKETABLE = 2_301_500  # 230.15: fills at once


class FixGateway(Gateway):
    """``gateway run`` whose only venue is the FIX session EQX."""

    def wait_up(self, timeout_s: float = 30.0) -> None:
        """Wait until the admin socket answers and the FIX session is UP."""
        assert self.proc is not None

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"gateway exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            status = self.status_or_none()
            return status is not None and status["venues"]["EQX"]["state"] == "UP"

        wait_until(up, timeout_s, "the gateway to start with its FIX session UP")


def _write_config(workdir: Path, port: int) -> Path:
    config: dict[str, Any] = {
        "gateway_id": "fixrel",
        "strategy_socket": "s.sock",
        "admin_socket": "a.sock",
        "risk_limits": str(e2e_limits(workdir, ("S1",))),
        "risk_audit_log": "audit.jsonl",
        "journal": {"directory": "journal", "fsync": "none"},
        "strategies": {"S1": {"accounts": ["ACC1"], "on_disconnect": "keep"}},
        "venues": [
            {
                "protocol": "fix",
                "name": "EQX",
                "host": "127.0.0.1",
                "port": port,
                "dialect": "equities-fix42",
                "heartbeat_interval_s": 1,
                "store": "file",
                "store_dir": "fix",
                "fsync": "never",
                "reconnect": {"initial_ms": 20, "maximum_ms": 200},
            }
        ],
        "spin": {"loop_spin_us": 0, "gc": {"freeze_after_startup": False}},
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _fix_fields(raw: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in raw.split("|") if "=" in part)


def _venue_messages(record: Path) -> list[tuple[str, dict[str, str]]]:
    return [(line["dir"], _fix_fields(line["raw"])) for line in map(json.loads, record.read_text().splitlines())]


def _final(event: OrderEvent) -> bool:
    """Whether ``event`` ends its order: no event follows (UNKNOWN_ORDER: the order never reached the gateway)."""
    if isinstance(event, CancelRejected):
        return event.code == "UNKNOWN_ORDER"
    return isinstance(event, (OrderRejected, Canceled)) or (isinstance(event, Executed) and event.leaves_qty == 0)


def _all_final(cl_ord_ids: list[str], events: list[OrderEvent]) -> bool:
    """Whether every order of ``cl_ord_ids`` has had an event that ends it."""
    ended = {event.cl_ord_id for event in events if _final(event)}
    return all(cl_ord_id in ended for cl_ord_id in cl_ord_ids)


@pytest.mark.slow
async def test_fix_session_when_gateway_killed_mid_flow_then_resumes_sequence_and_loses_nothing() -> None:
    workdir = short_tmp()
    record = workdir / "venue.jsonl"
    venue_args = ["--begin-string", "FIX.4.2", "--reference-price", "AAPL=230.10", "--record", str(record)]
    port, sim = spawn_listening(["sim", "fix"], venue_args, workdir / "sim.log", "the FIX simulator")
    gateway = FixGateway(workdir, _write_config(workdir, port))
    view = StrategyView()
    try:
        gateway.start()
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="A")
        await client.connect()
        resting = [await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100 + i, price_ticks=RESTING) for i in range(5)]
        for handle in resting:
            await handle.wait_accepted(15)
        client.kill_after(20, gateway.send_kill)
        try:
            for i in range(150):
                client.submit_nowait(
                    "ACC1", "EQX", "AAPL", Side.BUY, 10 + i, price_ticks=MARKETABLE if i % 2 else RESTING
                )
                if i % 10 == 9:
                    await asyncio.sleep(0.001)
        except GatewayError:
            pass  # the gateway died under us
        await wait_for(lambda: not client.connected, 10, "the gateway to die mid-flow")
        gateway.kill9()
        view.add(client.order_events())
        sent = list(client.orders)

        gateway.start()
        again = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="B", last_seq=view.last_seq)
        await again.connect()
        for cl_ord_id in sent:  # probe the orders that never got an event: unknown ones never arrived
            if not any(e.cl_ord_id == cl_ord_id for e in view.events):
                await again.cancel(cl_ord_id)
        await again.mass_cancel()
        # Every order's last event can still be on its way from the venue (a fixed 1 s sleep was the only
        # wait, short on a loaded machine): wait for each to be final, then a second more for duplicates.
        await wait_for(lambda: _all_final(sent, [*view.events, *again.order_events()]), 30, "every order's final event")
        await asyncio.sleep(1.0)
        view.add(again.order_events())
        await again.close()
        status = gateway.status()
    finally:
        gateway.stop()
        sim.send_signal(signal.SIGTERM)
        sim.wait(15)

    view.assert_exactly_once()
    reached_gateway = 0
    for cl_ord_id, order_events in view.per_order().items():
        if [type(e).__name__ for e in order_events] == ["CancelRejected"]:
            assert getattr(order_events[0], "code", "") == "UNKNOWN_ORDER"  # never reached the gateway
            continue
        reached_gateway += 1
        state, _cum, leaves = final_state(order_events)
        assert leaves == 0 and state in {"FILLED", "CANCELED", "REJECTED"}, (cl_ord_id, order_events)
    assert status["orders_open"] == 0
    assert reached_gateway == status["orders_total"]

    messages = _venue_messages(record)
    logons = [fields for direction, fields in messages if direction == "in" and fields.get("35") == "A"]
    assert len(logons) == 2, "one logon per gateway process"
    assert logons[1].get("141", "N") != "Y", "the restarted gateway did not reset sequence numbers"
    assert int(logons[1]["34"]) > 1, "the restarted gateway resumed its outgoing sequence"
    new_orders = [
        fields["11"]
        for direction, fields in messages
        if direction == "in" and fields.get("35") == "D" and fields.get("43") != "Y"
    ]
    assert len(new_orders) == len(set(new_orders)), "no order entered twice at the venue"
    assert len(new_orders) <= reached_gateway
