"""Real processes for reliability tests: ``gateway sim ouch`` and ``gateway run`` as subprocesses.

Nothing here is a double: the gateway and the simulator are the shipped CLI entry points,
killed with SIGKILL and restarted like an operator (or a crash) would. The venue's view is
read two ways, both owned by the simulator: its inbound record file (``--record``) and its
SoupBinTCP outbound stream, read by logging in as a second, passive client from sequence 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from gateway.admin import AdminError, admin_request
from gateway.client import GatewayClient
from gateway.journal import JOrderCreated, MmapJournal, lock_journal_directory, read_journal, unwrap_requests
from gateway.protocol.messages import (
    Canceled,
    CancelRejected,
    Executed,
    GatewayMessage,
    OrderAccepted,
    OrderEvent,
    OrderRejected,
    Replaced,
    Welcome,
)
from model.enums import Side
from model.fsync import FsyncPolicy
from simulators.boe.exchange import InboundRecord as BoeRecord
from simulators.boe.exchange import read_records as read_boe_records
from simulators.ouch.exchange import InboundRecord, read_records
from tests.e2e.support import e2e_limits
from venues.ouch import messages as ouch
from venues.ouch.codec import decode_outbound
from venues.ouch.daytime import trading_day as ouch_trading_day
from venues.ouch.errors import DecodeError
from venues.ouch.messages import ORDER_STATE_DEAD, OutboundMessage
from venues.ouch.soupbin import (
    END_OF_SESSION,
    LOGIN_ACCEPTED,
    SEQUENCED_DATA,
    SERVER_HEARTBEAT,
    SoupSplitter,
    encode_login_request,
)

GATEWAY = [sys.executable, "-m", "gateway"]
ORDER_EVENTS = (OrderAccepted, OrderRejected, Executed, Canceled, Replaced, CancelRejected)


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Poll ``condition()`` until truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


def spawn_listening(
    command: list[str], options: list[str], log_path: Path, what: str, *, timeout_s: float = 30, attempts: int = 3
) -> tuple[int, subprocess.Popen[bytes]]:
    """Start ``gateway <command> --listen 127.0.0.1:<port> <options>`` and return its port and process.

    A port free_port() picked can be taken by another socket before the child binds it; the child then
    exits saying the address is in use, and another port is tried. The child is ready once it prints
    its own listening line (after its bind succeeded): a connect alone could reach whoever took the port.
    """
    for attempt in range(attempts):
        port = free_port()
        start = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [*GATEWAY, *command, "--listen", f"127.0.0.1:{port}", *options], stdout=log, stderr=subprocess.STDOUT
            )
        ready = (f"listening on 127.0.0.1:{port} ", f"http://127.0.0.1:{port}/")

        def said_ready(ready: tuple[str, ...] = ready, start: int = start) -> bool:
            text = _log_since(log_path, start)
            return any(line in text for line in ready)

        wait_until(lambda: said_ready() or proc.poll() is not None, timeout_s, f"{what} to listen")  # noqa: B023
        if proc.poll() is None:
            return port, proc
        text = _log_since(log_path, start)
        if "in use" not in text or attempt == attempts - 1:
            raise AssertionError(f"{what} exited {proc.returncode}:\n{text}")
    raise AssertionError("unreachable")


def _log_since(log_path: Path, start: int) -> str:
    """Return what was appended to ``log_path`` after byte ``start``."""
    with log_path.open("rb") as log:
        log.seek(start)
        return log.read().decode(errors="replace")


class Simulator:
    """``gateway sim ouch`` as a process, recording every inbound message to ``record``."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.record = workdir / "venue-record.jsonl"
        self.log = workdir / "sim.log"
        options = ["--record", str(self.record), "--reference-price", "AAPL=230.10", "--reference-price", "MSFT=420.55"]
        self.port, self.proc = spawn_listening(["sim", "ouch"], [*options, *extra], self.log, "the simulator")

    def records(self) -> list[InboundRecord]:
        """Return every inbound message the exchange received, with its outcome."""
        return read_records(self.record) if self.record.exists() else []

    def outbound(self, timeout_s: float = 15.0) -> list[tuple[int, OutboundMessage]]:
        """Return the whole outbound stream (sequence, message), read as a second SoupBinTCP client."""
        return read_outbound(self.port, timeout_s)

    def stop(self) -> None:
        """Stop the simulator (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def read_outbound(port: int, timeout_s: float = 15.0) -> list[tuple[int, OutboundMessage]]:
    """Log in from sequence 1 and read the stream up to the first Server Heartbeat (the venue's own record).

    The simulator sends the whole replay before any heartbeat (SoupBinTCP 3.00: a server heartbeats only
    after a while with nothing to send), so the heartbeat marks its end; a pause in a stalled simulator
    process does not cut the record short.
    """
    out: list[tuple[int, OutboundMessage]] = []
    splitter = SoupSplitter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(encode_login_request("USER", "PASS", "", 1))
        sock.settimeout(0.3)
        deadline = time.monotonic() + timeout_s
        sequence = 0
        logged_in = False
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            for packet in splitter.feed(data):
                kind = packet[0]
                if kind == LOGIN_ACCEPTED:
                    logged_in = True
                    sequence = int(bytes(packet[11:31]).decode().strip())
                elif kind == SEQUENCED_DATA:
                    message = decode_outbound(packet[1:])
                    if isinstance(message, DecodeError):
                        raise AssertionError(f"venue sent undecodable message {sequence}: {message.text}")
                    out.append((sequence, message))
                    sequence += 1
                elif kind == END_OF_SESSION or (kind == SERVER_HEARTBEAT and logged_in):
                    return out
    return out


@dataclass
class VenueOrder:
    """One gateway order as the venue saw it (keyed by the OUCH ClOrdID = gateway order id)."""

    user_ref_nums: list[int] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    executed: int = 0
    canceled: int = 0
    dead: bool = False
    qty: int = 0

    @property
    def open_qty(self) -> int:
        """Return what is still working at the venue."""
        if self.rejected or self.dead:
            return 0
        return max(self.qty - self.executed - self.canceled, 0)


def venue_orders(outbound: list[tuple[int, OutboundMessage]]) -> dict[int, VenueOrder]:
    """Summarise the venue's outbound stream per gateway order id (no Replace support needed here)."""
    by_urn: dict[int, VenueOrder] = {}
    orders: dict[int, VenueOrder] = {}
    for _seq, message in outbound:
        if isinstance(message, ouch.OrderAccepted | ouch.OrderRejected):
            oid = int(message.cl_ord_id.strip())
            order = orders.setdefault(oid, VenueOrder())
            order.user_ref_nums.append(message.user_ref_num)
            by_urn[message.user_ref_num] = order
            if isinstance(message, ouch.OrderAccepted):
                order.accepted += 1
                order.qty = message.quantity
                order.dead = message.order_state == ORDER_STATE_DEAD
            else:
                order.rejected += 1
        elif isinstance(message, ouch.OrderExecuted):
            by_urn[message.user_ref_num].executed += message.quantity
        elif isinstance(message, ouch.OrderCanceled):
            by_urn[message.user_ref_num].canceled += message.quantity
    return orders


def entered_at_venue(records: list[InboundRecord]) -> dict[str, list[InboundRecord]]:
    """Return the Enter Orders the exchange acted on (not ignored as repeats), by OUCH ClOrdID."""
    entered: dict[str, list[InboundRecord]] = {}
    for record in records:
        if record.type == "O" and not record.outcome.startswith(("ignored", "violation")):
            entered.setdefault(record.cl_ord_id.strip(), []).append(record)
    return entered


def journal_date() -> str:
    """Return the date in the name of the journal ``write_config``'s gateway opens now (``YYYYMMDD``).

    ``journal.timezone: auto`` names it by its OUCH venue's trading day (US Eastern), not the host's date (day55).
    """
    return dt.date.fromisoformat(ouch_trading_day()).strftime("%Y%m%d")


def fill_disk(disk: Path, gateway_id: str) -> Path:
    """Create the lock file and an empty journal (header page), then fill every page left; return the filler."""
    lock_journal_directory(disk).release()
    MmapJournal(disk / f"{gateway_id}-{journal_date()}.journal", fsync=FsyncPolicy.NONE).close()
    return fill_rest(disk / "filler")


def fill_rest(filler: Path) -> Path:
    """Allocate every page left on ``filler``'s file system to ``filler`` (created if missing); return it."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        chunk = 1 << 16
        while chunk >= 4096:
            try:
                os.posix_fallocate(fd, size, chunk)
                size += chunk
            except OSError:
                chunk //= 2
    finally:
        os.close(fd)
    return filler


def write_config(
    workdir: Path,
    venue_port: int,
    *,
    strategies: dict[str, Any] | None = None,
    fsync: str = "none",
    **extra: Any,
) -> Path:
    """Write a gateway.yaml for one OUCH venue on ``venue_port``; return its path."""
    strategies = strategies or {"S1": {"accounts": ["ACC1"], "on_disconnect": "keep"}}
    config: dict[str, Any] = {
        "gateway_id": "rel",
        "strategy_socket": "s.sock",
        "admin_socket": "a.sock",
        "risk_limits": str(e2e_limits(workdir, strategies)),
        "risk_audit_log": "audit.jsonl",
        "journal": {"directory": "journal", "fsync": fsync},
        "strategies": strategies,
        "venues": [
            {
                "protocol": "ouch",
                "name": "OUCH",
                "host": "127.0.0.1",
                "port": venue_port,
                "username": "USER",
                "password": "PASS",
                "state_dir": "ouch",
                "reconnect_initial_ms": 20,
                "reconnect_max_ms": 200,
            }
        ],
        "spin": {"loop_spin_us": 0, "gc": {"freeze_after_startup": False}},
        **extra,
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


BOE_VENUE: Final = "CBOE"
"""The BOE venue's name in the reliability configs."""


class Gateway:
    """``gateway run`` as a process; every start appends to one log file."""

    def __init__(self, workdir: Path, config: Path) -> None:
        self.workdir = workdir
        self.config = config
        self.admin = workdir / "a.sock"
        self.socket = workdir / "s.sock"
        self.log = workdir / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, wait_up: bool = True, user: int | None = None, nofile: int | None = None) -> None:
        """Start the gateway and (by default) wait until its venue session is UP.

        ``nofile``: its ``RLIMIT_NOFILE``, soft and hard (as ``prlimit --nofile=N:N``).
        """
        self.starts += 1

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        with self.log.open("ab") as log:
            log.write(f"==== start {self.starts}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [*GATEWAY, "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=user,
                preexec_fn=limit if nofile is not None else None,  # noqa: PLW1509 - only setrlimit, no threads
            )
        if wait_up:
            self.wait_up()

    def wait_up(self, timeout_s: float = 30.0) -> None:
        """Wait until the admin socket answers and the venue is UP."""
        assert self.proc is not None

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"gateway exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            status = self.status_or_none()
            return status is not None and status["venues"]["OUCH"]["state"] == "UP"

        wait_until(up, timeout_s, "the gateway to start with its venue UP")

    def status_or_none(self, timeout_s: float = 10) -> dict[str, Any] | None:
        """Return the status document, or None if the admin socket does not answer within ``timeout_s``."""
        try:
            reply = admin_request(self.admin, {"cmd": "status"}, timeout_s=timeout_s)
        except (AdminError, OSError):
            return None
        status: dict[str, Any] = reply["status"]
        return status

    def journal_error(self) -> str:
        """Return the status' ``journal_error`` ("" when the journal is fine or the gateway does not answer)."""
        status = self.status_or_none()
        return str(status.get("journal_error") or "") if status is not None else ""

    def firm_state(self) -> str:
        """Return risk's firm-wide trading state at run time (ACTIVE, HALTED, ...)."""
        return str(self.status()["risk"]["trading_state"]["firm_runtime"])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``gateway <args> --config <this gateway's config>`` (an admin command) and return what it did."""
        command = [*GATEWAY, *args, "--config", str(self.config)]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    def status(self) -> dict[str, Any]:
        """Return the status document (fail if the gateway does not answer)."""
        status = self.status_or_none(timeout_s=15)  # a slow, loaded machine answers late, not never
        assert status is not None, "gateway admin socket does not answer"
        return status

    def kill9(self) -> None:
        """SIGKILL the gateway: no flush, no cleanup, like a crash."""
        self.send_kill()
        assert self.proc is not None
        self.proc.wait(10)

    def send_kill(self) -> None:
        """Send SIGKILL now without waiting (safe to call from an event-loop callback)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)

    def stop(self) -> int | None:
        """SIGTERM the gateway if running; return its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def journal(self) -> Path:
        """Return today's journal file (the only one in the directory)."""
        files = sorted((self.workdir / "journal").glob("*.journal"))
        assert len(files) == 1, files
        return files[0]

    def log_text(self) -> str:
        """Return everything the gateway logged so far."""
        return self.log.read_text(errors="replace")


async def fill_the_journal(client: RecordingClient, gateway: Gateway, disk: Path, price_ticks: int) -> Path:
    """Take what ``disk`` has left, then send resting orders until the journal's own room is used up too.

    Return the second filler file (delete it to free the disk).
    """
    second = fill_rest(disk / "filler2")
    for i in range(400):
        for _ in range(20):
            await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 1_000 + i, price_ticks=price_ticks)
        await asyncio.sleep(0.02)
        if gateway.journal_error():
            return second
    raise AssertionError("the journal never failed")


def order_ids_by_cl_ord_id(journal: Path, strategy_id: str) -> dict[str, int]:
    """Return the gateway order id of each of the strategy's cl_ord_ids, from the journal."""
    return {
        rec.cl_ord_id: rec.order_id
        for rec in unwrap_requests(read_journal(journal))
        if isinstance(rec, JOrderCreated) and rec.strategy_id == strategy_id
    }


class RecordingClient(GatewayClient):
    """The SDK client, keeping every message exactly as the gateway sent it (duplicates included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw: list[GatewayMessage] = []
        self.trigger: tuple[int, Callable[[], None]] | None = None
        self._events = 0

    def kill_after(self, events: int, action: Callable[[], None]) -> None:
        """Run ``action`` as soon as ``events`` more order events have arrived (from the read that brings them)."""
        self.trigger = (self._events + events, action)

    def _on_message(self, message: GatewayMessage) -> None:
        self.raw.append(message)
        if isinstance(message, ORDER_EVENTS):
            self._events += 1
            if self.trigger is not None and self._events >= self.trigger[0]:
                action = self.trigger[1]
                self.trigger = None
                action()
        super()._on_message(message)

    def order_events(self) -> list[OrderEvent]:
        """Return the order events received on this connection, in arrival order."""
        return [m for m in self.raw if isinstance(m, ORDER_EVENTS)]


async def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Async poll of ``condition`` until it holds; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class StrategyView:
    """Everything one strategy id received across connections: events in order, per order totals."""

    events: list[OrderEvent] = field(default_factory=list)

    def add(self, events: list[OrderEvent]) -> None:
        """Append one connection's events."""
        self.events.extend(events)

    @property
    def last_seq(self) -> int:
        """Return the highest seq received."""
        return max((e.seq for e in self.events), default=0)

    def assert_exactly_once(self) -> None:
        """Every seq 1..last exactly once, in order."""
        seqs = [e.seq for e in self.events]
        assert seqs == list(range(1, len(seqs) + 1)), f"seqs not gap-free and unique: {seqs}"

    def per_order(self) -> dict[str, list[OrderEvent]]:
        """Group events by cl_ord_id."""
        grouped: dict[str, list[OrderEvent]] = {}
        for event in self.events:
            grouped.setdefault(event.cl_ord_id, []).append(event)
        return grouped


def final_state(events: Sequence[OrderEvent]) -> tuple[str, int, int]:
    """Return (state, cum_qty, leaves_qty) of one order from its events, checking they add up."""
    state, cum, leaves, qty = "PENDING_NEW", 0, -1, 0
    for event in events:
        if isinstance(event, OrderAccepted):
            assert state == "PENDING_NEW", f"{event} after {state}"
            state, qty, leaves = "LIVE", event.qty, event.qty
        elif isinstance(event, OrderRejected):
            assert state == "PENDING_NEW", f"{event} after {state}"
            state, leaves = "REJECTED", 0
        elif isinstance(event, Executed):
            assert state == "LIVE", f"{event} after {state}"
            cum += event.qty
            assert event.cum_qty == cum and event.leaves_qty == qty - cum, f"fills do not add up: {events}"
            leaves = event.leaves_qty
            if leaves == 0:
                state = "FILLED"
        elif isinstance(event, Canceled):
            assert state == "LIVE", f"{event} after {state}"
            leaves = event.leaves_qty
            if leaves == 0:
                state = "CANCELED"
        elif isinstance(event, CancelRejected):
            continue
        elif isinstance(event, Replaced):
            raise AssertionError("no replaces in these scenarios")
    return state, cum, leaves


async def reconnect_and_settle(
    socket_path: Path,
    view: StrategyView,
    sent: list[str],
    state: Callable[[list[Any]], tuple[str, int, int]] = final_state,
    timeout_s: float = 30,
) -> tuple[RecordingClient, Welcome]:
    """Reconnect S1 from ``view.last_seq`` and wait until every order ``sent`` has reached a known state.

    An order with no event may be pending at the venue or may never have reached the gateway: a Cancel tells
    which (UNKNOWN_ORDER: never reached it, and never will). ``state`` gives an order's (state, cum, leaves) from
    its events. Return the client, still connected, and its Welcome.
    """
    client = RecordingClient(socket_path, "S1", cl_ord_id_prefix="B", last_seq=view.last_seq)
    welcome = await client.connect()
    await wait_for(lambda: len(client.order_events()) >= welcome.replayed, 15, "the replayed events")
    seen = {e.cl_ord_id for e in view.events} | {e.cl_ord_id for e in client.order_events()}
    silent = [c for c in sent if c not in seen]
    for cl_ord_id in silent:
        await client.cancel(cl_ord_id)

    def settled() -> bool:
        events = view.events + client.order_events()
        known = {e.cl_ord_id for e in events}
        if not all(c in known for c in sent):
            return False
        for cl_ord_id, evs in StrategyView(events).per_order().items():
            order_events = [e for e in evs if not isinstance(e, CancelRejected)]
            if cl_ord_id in silent and not order_events:
                continue  # answered by UNKNOWN_ORDER
            if not order_events or state(order_events)[0] == "PENDING_NEW":
                return False
        return True

    await wait_for(settled, timeout_s, "every order to reach a known state")
    return client, welcome


class BoeSimulatorProcess:
    """``gateway sim boe`` as a process (three matching units), recording every inbound message."""

    def __init__(self, workdir: Path) -> None:
        self.record = workdir / "boe-record.jsonl"
        self.log = workdir / "boe-sim.log"
        options = [
            "--record",
            str(self.record),
            "--reference-price",
            "AAPL=230.10",
            "--reference-price",
            "MSFT=420.55",
            "--units",
            "3",
            "--symbol-unit",
            "AAPL=1",
            "--symbol-unit",
            "MSFT=2",
        ]
        self.port, self.proc = spawn_listening(["sim", "boe"], options, self.log, "the BOE simulator")

    def records(self) -> list[BoeRecord]:
        """Return every inbound message the exchange received, with its outcome."""
        return read_boe_records(self.record) if self.record.exists() else []

    def stop(self) -> None:
        """Stop the simulator."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class BoeGateway(Gateway):
    """``gateway run`` with one BOE venue: up when that venue is."""

    def wait_up(self, timeout_s: float = 30.0) -> None:
        """Wait until the admin socket answers and the BOE venue is UP."""

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"gateway exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            status = self.status_or_none()
            return status is not None and status["venues"][BOE_VENUE]["state"] == "UP"

        wait_until(up, timeout_s, "the gateway to start with its BOE venue UP")


def write_boe_config(workdir: Path, port: int, *, fsync: str = "none") -> Path:
    """Write a gateway.yaml for one BOE venue on ``port`` (the journal's ``fsync``: ``none`` unless told)."""
    strategies: dict[str, Any] = {"S1": {"accounts": ["ACC1"], "on_disconnect": "keep"}}
    config: dict[str, Any] = {
        "gateway_id": "rel",
        "strategy_socket": "s.sock",
        "admin_socket": "a.sock",
        "risk_limits": str(e2e_limits(workdir, strategies)),
        "risk_audit_log": "audit.jsonl",
        "journal": {"directory": "journal", "fsync": fsync},
        "strategies": strategies,
        "venues": [
            {
                "protocol": "boe",
                "name": BOE_VENUE,
                "host": "127.0.0.1",
                "port": port,
                "session_sub_id": "0001",
                "username": "USER",
                "password": "PASS",
                "state_dir": "boe",
                "reconnect_initial_ms": 20,
                "reconnect_max_ms": 200,
            }
        ],
        "spin": {"loop_spin_us": 0, "gc": {"freeze_after_startup": False}},
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
