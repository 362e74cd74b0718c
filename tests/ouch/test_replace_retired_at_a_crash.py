"""A crash after a waiting Replace's number went on file as another host's, before its answer was journaled.

rev60merge2 HIGH 1. Host A's Replace of a1 (UserRefNum 3) is lost in flight at its stop; the standby enters its own
order under 3 (the venue's NextUserRefNum): accepted, or refused (an Order Rejected with the standby's ClOrdID, which
uses the number up all the same). A back: the replay's message naming 3 makes ``_replace_number_taken`` put 3 on file
as another host's (the doubts file, ``foreign``) before the Replace's answer is journaled. A SIGKILL right after that
write (injected: ``sitecustomize`` in the gateway process's ``PYTHONPATH``). Before: the restart left the Replace
unanswered for good (``restore`` does not map a retired number back, ``after_replay`` only counted it), every Cancel
of a1 (the kill switch's here) stayed held behind it and a1 worked on at the venue. Now the restart answers it at UP,
``CancelRejected OUCH_NOT_RECEIVED`` (the file is the proof the venue never applied it), the held Cancels go out,
and a later restart answers nothing again (the journal's answer record wins).

Real ``gateway run`` processes (pure Python: the injection wraps a module function), a strict venue on a real
loopback socket in the test's loop, the strategy through ``gateway.client``, the kill switch through ``gateway
kill``. Every wait bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

import gateway
from gateway.client import GatewayClient
from gateway.protocol.messages import Canceled, CancelRejected, Executed, OrderAccepted
from model.enums import Side
from tests.e2e.support import e2e_limits, short_tmp
from tests.ouch.harness import TS
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_replace_number_taken_by_other_host import ReplaceVenue
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderAccepted as OuchAccepted
from venues.ouch.messages import OrderRejected as OuchRejected

ROOT = Path(gateway.__file__).resolve().parents[1]
"""The tree under test (its ``gateway run`` runs the same code as this test imports)."""

INJECTION = """\
import os, signal, sys
sys.path.insert(0, os.environ["INJ_ROOT"])
import venues.ouch.adapter as adapter
_real = adapter.save_doubts
def save_doubts(*args, **kwargs):
    _real(*args, **kwargs)
    if kwargs.get("foreign"):  # the retired number is on file: nothing of its answer journaled yet
        sys.stderr.write("INJ: SIGKILL after the doubts file names %s\\n" % sorted(kwargs["foreign"]))
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
adapter.save_doubts = save_doubts
"""

CONFIG = """\
gateway_id: gwA
strategy_socket: {d}/s.sock
admin_socket: {d}/a.sock
state_dir: {d}/state
risk_limits: {limits}
risk_audit_log: {d}/audit.jsonl
journal:
  directory: {d}/journal
  fsync: batch
strategies:
  S1:
    accounts: [ACC1]
    uids: [{uid}]
    on_disconnect: keep
venues:
  - protocol: ouch
    name: OUCH
    host: 127.0.0.1
    port: {port}
    username: USER
    password: PASS
    state_dir: {d}/ouch
    reconnect_initial_ms: 20
    reconnect_max_ms: 200
    server_timeout_ms: 1500
"""


class EchoVenue(ReplaceVenue):
    """The strict venue, its Accepted of an Enter at the Enter's own side, size and price."""

    def _on_message(self, message: bytes) -> None:
        if message[:1] != b"O":
            super()._on_message(message)
            return
        self.inbound.append(message)
        urn, qty = struct.unpack(">I", message[1:5])[0], struct.unpack(">I", message[6:10])[0]
        if urn < self.next_user_ref_num:
            self.ignored.append(urn)
            return
        (price,) = struct.unpack(">Q", message[18:26])
        cl_ord_id = message[31:45].decode().strip()
        self.next_user_ref_num = urn + 1
        self.live[urn] = cl_ord_id
        self.entered.append(cl_ord_id)
        side = message[5:6].decode()
        accepted = OuchAccepted(TS, urn, side, qty, "AAPL", price, "0", "Y", 7000 + urn, "A", "N", "N", "L", cl_ord_id)
        self.publish(encode_message(accepted))

    async def close_port(self) -> None:
        """Stop listening (a venue the gateway cannot reach); ``open_port`` listens again on the same port."""
        assert self.server is not None
        self.server.close()
        self.drop()

    async def open_port(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)


class Gateway:
    """``gateway run`` in a process of its own; each life logs to ``<dir>/gw<n>.log``."""

    def __init__(self, directory: Path, port: int) -> None:
        self.dir = directory
        self.config = directory / "gw.yaml"
        limits = e2e_limits(directory, ("S1",))
        limits.write_text(limits.read_text().replace("duplicate_window_ms: 250", "duplicate_window_ms: 0"))
        self.config.write_text(CONFIG.format(d=directory, limits=limits, uid=os.getuid(), port=port))
        self.proc: asyncio.subprocess.Process | None = None
        self.lives = 0

    async def start(self, inject: bool = False) -> None:
        self.lives += 1
        (self.dir / "s.sock").unlink(missing_ok=True)  # a killed life's: connect only once this life listens
        env = dict(os.environ, GATEWAY_PURE_PYTHON="1")
        if inject:
            (self.dir / "inj").mkdir(exist_ok=True)
            (self.dir / "inj" / "sitecustomize.py").write_text(INJECTION)
            env.update(PYTHONPATH=str(self.dir / "inj"), INJ_ROOT=str(ROOT))
        with open(self.log(), "wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "run", "--config", str(self.config),
                cwd=ROOT, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

    def log(self, life: int = 0) -> Path:
        return self.dir / f"gw{life or self.lives}.log"

    async def exited(self, timeout: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def kill9(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.exited(10)

    async def up(self, timeout: float = 20.0) -> None:
        await wait_until(lambda: "LOGGING_IN -> UP" in self.log().read_text(), "the venue UP", timeout)

    async def client(self) -> GatewayClient:
        try:
            await wait_until((self.dir / "s.sock").exists, "the strategy socket", 20.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.log().read_text()[-3000:]}") from None
        client = GatewayClient(str(self.dir / "s.sock"), "S1")
        await client.connect(20.0)
        return client

    async def admin(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", *args, "--config", str(self.config),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
        return out.decode()


def _answers(client: GatewayClient | None, kind: type, cl_ord_id: str) -> list[Any]:
    assert client is not None
    return [e for e in client.history if isinstance(e, kind) and getattr(e, "cl_ord_id", None) == cl_ord_id]


@pytest.mark.parametrize("standby", ["accepted", "rejected"])
async def test_replace_whose_number_went_on_file_as_another_hosts_before_a_crash_is_answered_once_at_the_restart(
    standby: str,
) -> None:
    venue = EchoVenue()
    await venue.start()
    workdir = short_tmp()
    gw = Gateway(workdir, venue.port)
    client: GatewayClient | None = None
    try:
        # A: a1 (UserRefNum 1) and a2 (2) live; its Replace of a1 (3) lost in flight; A killed
        await gw.start()
        await gw.up()
        client = await gw.client()
        a1 = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
        a2 = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "228.00")
        assert isinstance(await a1.wait_accepted(20), OrderAccepted)
        assert isinstance(await a2.wait_accepted(20), OrderAccepted)
        a1_id, a2_id = a1.cl_ord_id, a2.cl_ord_id
        venue.lose_replaces = True
        await client.replace(a1, 150, "229.10")
        await wait_until(lambda: any(m[:1] == b"U" for m in venue.inbound), "the Replace at the venue")
        await client.close()
        client = None
        await gw.kill9()
        venue.drop()
        venue.lose_replaces = False
        # the standby enters under 3 (the venue's NextUserRefNum), ClOrdID '3'
        if standby == "accepted":
            venue.take_enter(3, "3", answer=True)
        else:
            venue.next_user_ref_num = 4  # refused, the number used up all the same
            venue.publish(encode_message(OuchRejected(TS, 3, 0x17, "3")))
        # A back: killed right after the doubts file names 3 as another host's
        await gw.start(inject=True)
        assert await gw.exited(30) == -signal.SIGKILL, gw.log().read_text()[-3000:]
        assert "INJ: SIGKILL after the doubts file names [3]" in gw.log().read_text()
        doubts = json.loads((workdir / "ouch" / "OUCH.ouch-doubts.json").read_text())
        assert doubts["foreign"] == [3]
        # A again, the venue out of reach first: the kill switch's Cancel of a1 is held behind the Replace
        await venue.close_port()
        await gw.start()
        client = await gw.client()
        said = await gw.admin("kill")
        assert "2 open orders" in said, said
        sent = len(venue.inbound)
        await venue.open_port()
        await wait_until(lambda: _answers(client, CancelRejected, a1_id), "the Replace answered", 20.0)
        (answer,) = _answers(client, CancelRejected, a1_id)
        assert answer.code == "OUCH_NOT_RECEIVED"  # before: never answered
        await wait_until(lambda: sorted(venue.cancels(sent)) == [1, 2], "the kill's Cancels of 1 and 2", 20.0)
        await wait_until(lambda: len(_answers(client, Canceled, a1_id)) == 1, "a1 canceled", 20.0)
        assert venue.live == {3: "3"} if standby == "accepted" else venue.live == {}  # only the standby's order
        assert not [e for e in client.history if isinstance(e, Executed)]
        assert "names a number on file as another host's" in gw.log().read_text()
        assert "unanswered but not held" not in gw.log().read_text()
        await client.close()
        client = None
        # once answered (journaled), a restart answers nothing again
        await gw.kill9()
        await gw.start()
        await gw.up()
        client = await gw.client()
        await wait_until(lambda: _answers(client, Canceled, a2_id), "the strategy's events replayed", 20.0)
        assert len(_answers(client, CancelRejected, a1_id)) == 1
        assert len(_answers(client, OrderAccepted, a1_id)) == 1
        assert "names a number on file as another host's" not in gw.log().read_text()
    finally:
        if client is not None:
            await client.close()
        await gw.kill9()
        await venue.stop()
