"""Sans-IO doubles for driving the engine without sockets: a scripted venue and an in-memory link.

These stand in for transports in engine unit tests only; integration tests use the
real Unix-socket server, the real venue simulators and real TCP.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from gateway.engine import Engine
from gateway.entitlements import Entitlements, PeerCredentials, StrategyEntitlement
from gateway.journal import (
    FileJournal,
    JOrderCreated,
    JOrderSent,
    Journal,
    JournalRecord,
    JRequest,
    JSentNew,
    JStrategyEvent,
    JVenueApplied,
    JVenueEvent,
    MmapJournal,
)
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Cancel,
    GatewayMessage,
    Hello,
    MassCancel,
    NewOrder,
    Replace,
)
from gateway.recovery import recover
from gateway.strategy_session import StrategySession
from gateway.strategy_state import StrategyState
from model.clock import FakeClock
from model.denials import Denial
from model.enums import Side
from model.fsync import FsyncPolicy
from model.order import Order, OrderState
from model.send_result import BACKPRESSURED, Refused, SendResult, Sent, Verdict
from model.venue_events import (
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    VenueState,
)
from venues.base import VenueAdapter


def as_earlier_version(records: list[JournalRecord]) -> list[JournalRecord]:
    """Return the records an earlier version wrote for the same day: JOrderCreated + JSentNew for each
    JOrderSent, JVenueEvent + one JStrategyEvent per strategy event for each JVenueApplied."""
    out: list[JournalRecord] = []
    for i, rec in enumerate(records):
        if isinstance(rec, JRequest) and isinstance(rec.record, JOrderSent):  # version 3: the number on the created
            sent = rec.record
            out.append(JRequest(rec.strategy_id, rec.req_seq, JOrderCreated(*msgspec.structs.astuple(sent)[:-1])))
            out.append(JSentNew(sent.order_id, sent.venue_ref))
        elif isinstance(rec, JOrderSent):
            out.append(JOrderCreated(*msgspec.structs.astuple(rec)[:-1]))
            out.append(JSentNew(rec.order_id, rec.venue_ref))
        elif isinstance(rec, JVenueApplied):
            out.append(JVenueEvent(rec.venue, rec.event))
            strategy_id = recover(records[: i + 1]).orders[rec.event.order_id].strategy_id
            produced = [e for e in recover(records[: i + 1]).strategies[strategy_id].events if e.seq >= rec.seq]
            out.extend(JStrategyEvent(strategy_id, event) for event in produced)
        else:
            out.append(rec)
    return out


def sent_ref(result: object) -> str:
    """Return the venue reference of a ``Sent`` result (fail the test on anything else)."""
    assert isinstance(result, Sent), result
    return result.venue_ref


class ScriptedVenue(VenueAdapter):
    """A venue whose replies the test scripts; records every command the engine sent."""

    def __init__(self, name: str = "V1", *, resumes_after_end: bool = False) -> None:
        self.name = name
        self._state = VenueState.UP
        self._resumes = resumes_after_end
        self.commands: list[tuple[str, int, int, int]] = []
        self.flushes = 0
        self.restored: list[tuple[int, str]] = []
        self.seq = 0
        self.next_ref = 1

    @property
    def state(self) -> VenueState:
        return self._state

    @property
    def resumes_after_end(self) -> bool:
        return self._resumes

    def set_state(self, state: VenueState) -> None:
        self._state = state
        self.state_sink(self.name, state, "scripted")

    def check_order(self, order: Order) -> Verdict:
        if self._backpressured:
            return BACKPRESSURED
        if order.symbol == "UNSUPPORTED":
            return Refused("UNSUPPORTED_SYMBOL", "venue does not list it")
        return None

    def send_new(self, order: Order) -> SendResult:
        if self._backpressured:
            return BACKPRESSURED
        self.commands.append(("new", order.order_id, order.qty, order.price))
        ref = str(self.next_ref)
        self.next_ref += 1
        return Sent(ref)

    def send_cancel(self, order: Order) -> Sent | Refused:
        self.commands.append(("cancel", order.order_id, 0, 0))
        return Sent(order.venue_ref)

    def send_replace(self, order: Order, qty: int, price: int) -> SendResult:
        if self._backpressured:
            return BACKPRESSURED
        self.commands.append(("replace", order.order_id, qty, price))
        ref = str(self.next_ref)
        self.next_ref += 1
        return Sent(ref)

    def restore(self, order: Order, venue_ref: str) -> None:
        self.restored.append((order.order_id, venue_ref))

    def flush(self) -> None:
        self.flushes += 1

    def connection_made(self, now_ns: int) -> None:
        raise NotImplementedError

    def data_received(self, data: bytes, now_ns: int) -> None:
        raise NotImplementedError

    def connection_lost(self, now_ns: int) -> None:
        raise NotImplementedError

    def poll(self, now_ns: int) -> int:
        return 1_000_000_000

    def reconnect_delay_ns(self, attempt: int) -> int | None:
        return None

    # ---- scripted replies -----------------------------------------------------------------

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def emit(self, event: VenueEvent) -> None:
        """Hand ``event`` to the core as a real adapter does: only if its message is new."""
        if self.admit(event.venue_seq):
            self.event_sink(event)

    def new_epoch(self, epoch: str) -> None:
        """The venue's numbering restarts (e.g. a FIX sequence reset): its next message is 1."""
        self.seq = 0
        self.sequence.new_epoch(epoch)

    def accept(self, order_id: int, price: int = 0) -> None:
        self.emit(VenueAccepted(self._next(), order_id, f"X{order_id}", 0, price))

    def reject(self, order_id: int, code: str = "VENUE_NO", text: str = "no") -> None:
        self.emit(VenueRejected(self._next(), order_id, code, text))

    def fill(self, order_id: int, qty: int, price: int) -> None:
        self.emit(VenueExecuted(self._next(), order_id, qty, price, "A", f"M{self.seq}"))

    def cancel(self, order_id: int, qty: int = 0, reason: str = "U") -> None:
        self.emit(VenueCanceled(self._next(), order_id, qty, reason, "user requested"))

    def replaced(self, order_id: int, leaves: int, price: int) -> None:
        self.emit(VenueReplaced(self._next(), order_id, leaves, price, f"X{order_id}r"))

    def cancel_reject(self, order_id: int) -> None:
        self.emit(VenueCancelRejected(self._next(), order_id, "TOO_LATE", "too late"))


class LimitRisk:
    """A minimal RiskGate: a max order quantity; records exposure callbacks."""

    def __init__(self, max_qty: int = 10_000) -> None:
        self.max_qty = max_qty
        self.opened: list[int] = []
        self.executions: list[tuple[int, int, int]] = []
        self.changes: list[tuple[int, int, int]] = []

    def check_and_commit_new(self, order: Order, now_ns: int) -> Denial | None:
        if order.qty > self.max_qty:
            return Denial("MAX_ORDER_QTY", f"qty {order.qty} > {self.max_qty}")
        return None

    def check_replace(self, order: Order, qty: int, price: int, now_ns: int) -> Denial | None:
        if qty > self.max_qty:
            return Denial("MAX_ORDER_QTY", f"qty {qty} > {self.max_qty}")
        return None

    def check_cancel(self, order: Order, now_ns: int) -> Denial | None:
        return None

    def check_cancels(self, account_name: str, strategy: str, symbol: str, now_ns: int) -> Denial | None:
        return None

    def count_cancels(self, account_name: str, strategy: str, symbol: str, count: int, now_ns: int) -> None:
        pass

    def on_order_opened(self, order: Order) -> None:
        self.opened.append(order.order_id)

    def on_execution(self, order: Order, qty: int, price: int) -> None:
        self.executions.append((order.order_id, qty, price))

    def on_open_changed(self, order: Order, prev_leaves: int, prev_price: int) -> None:
        self.changes.append((order.order_id, prev_leaves, order.leaves_qty))


class MemoryLink:
    """A strategy connection whose bytes go to a list; decodes what the gateway sent."""

    def __init__(self, clock: FakeClock, uid: int = 1000, pid: int = 4242) -> None:
        self.session = StrategySession(clock())
        self.strategy: StrategyState | None = None
        self.peer: PeerCredentials | None = PeerCredentials(pid, uid, uid)
        self.written = bytearray()
        self.closed = False
        self.replaying = False
        """Whether the engine is writing a long replay to it a slice at a time (``set_replaying``)."""
        self.input_held = False
        """Whether the engine asked it to stop reading (``hold_input``)."""
        self.output_full = False
        """Whether its requests wait for it to read its answers (back-pressure: ``StrategyProtocol.output_full``)."""
        self.defers_reads = False
        """Whether it lets the engine take a long read's rest on later loop turns (``read_rest_soon``)."""
        self.rest_kept = False
        """Whether the engine keeps the rest of a long read for a later turn (not reading meanwhile)."""
        self.req_seq = 0
        """The last request number ``Rig.send`` gave this connection's requests (version 3)."""
        self.number_requests = True
        """Whether ``Rig.send`` numbers requests that carry none (False: send them exactly as given)."""
        self._splitter = FrameSplitter()

    def write_buffer_size(self) -> int:
        return 0

    def set_replaying(self, replaying: bool) -> None:
        self.replaying = replaying

    def hold_input(self, hold: bool) -> None:
        self.input_held = hold

    def read_rest_soon(self) -> bool:
        """Keep a long read's rest for ``Rig.read_rests`` if ``defers_reads`` (else the engine reads it all now)."""
        if self.defers_reads:
            self.rest_kept = True
        return self.defers_reads

    def read_rest_done(self) -> None:
        self.rest_kept = False

    def is_closing(self) -> bool:
        return self.closed

    def write_out(self, data: bytearray) -> None:
        self.written += data

    def close_transport(self, *, drop_unread: bool = False) -> None:
        self.closed = True

    def received(self) -> list[GatewayMessage]:
        """Return (and consume) every message the gateway sent since the last call."""
        data = bytes(self.written)
        self.written.clear()
        return [gateway_message_decoder.decode(f) for f in self._splitter.feed(data)]


class Rig:
    """An engine with scripted venues, a fake clock and helpers to act as strategies."""

    def __init__(
        self,
        *,
        strategies: dict[str, StrategyEntitlement] | None = None,
        journal: Journal | None = None,
        venues: list[ScriptedVenue] | None = None,
        risk: LimitRisk | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.venues = venues if venues is not None else [ScriptedVenue("V1")]
        self.venue = self.venues[0]
        self.risk = risk if risk is not None else LimitRisk()
        ents = strategies or {
            "S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000]),
            "S2": StrategyEntitlement(accounts=["ACC2"], uids=[1000]),
        }
        self.engine = Engine(
            risk=self.risk,
            venues=self.venues,
            entitlements=Entitlements(ents, gateway_uid=1000),
            clock=self.clock,
            journal=journal,
            gateway_id="test-gw",
        )

    def connect(
        self, strategy_id: str, *, last_seq: int = 0, uid: int = 1000, version: int = PROTOCOL_VERSION
    ) -> MemoryLink:
        """Open a connection and say Hello; a version-3 link numbers its requests from the Welcome's last_req_seq."""
        link = MemoryLink(self.clock, uid=uid)
        self.engine.link_opened(link)
        self.send(link, Hello(strategy_id, version, last_seq))
        link.req_seq = link.session.last_req_seq
        return link

    def send(self, link: MemoryLink, *messages: Any) -> None:
        """Send ``messages`` in one read; on a version-3 link, requests without a number get the next ones."""
        numbered = []
        for message in messages:
            if (
                type(message) in (NewOrder, Cancel, Replace, MassCancel)
                and not message.req_seq
                and link.number_requests
                and link.session.sequenced
            ):
                link.req_seq += 1
                numbered.append(msgspec.structs.replace(message, req_seq=link.req_seq))
            else:
                numbered.append(message)
        self.engine.link_data(link, b"".join(encode_frame(m) for m in numbered), self.clock())

    def new_order(
        self,
        link: MemoryLink,
        cl_ord_id: str,
        *,
        qty: int = 100,
        price: int = 1_000_000,
        account: str = "ACC1",
        venue: str = "V1",
        symbol: str = "AAPL",
        side: Side = Side.BUY,
    ) -> None:
        self.send(link, NewOrder(cl_ord_id, account, venue, symbol, side, qty, price))

    def order(self, strategy_id: str, cl_ord_id: str) -> Order:
        return self.engine.strategies[strategy_id].orders[cl_ord_id]


def open_fds_on(path: str | Path) -> list[int]:
    """Return this process's file descriptors open on ``path``."""
    target = os.path.realpath(path)
    return [int(fd) for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}") == target]


def journal_of_kind(kind: str, path: Path) -> Journal:
    """Return a journal at ``path`` with no fsync: an ``MmapJournal`` for ``"mmap"``, else a ``FileJournal``."""
    if kind == "mmap":
        return MmapJournal(path, fsync=FsyncPolicy.NONE, grow_bytes=1 << 20)
    return FileJournal(path, fsync=FsyncPolicy.NONE)


def self_numbered_link(rig: Rig, strategy_id: str = "S1", last_seq: int = 0) -> MemoryLink:
    """Connect ``strategy_id`` with its Welcome read, the test numbering each request (``req_seq``) itself."""
    link = rig.connect(strategy_id, last_seq=last_seq)
    link.number_requests = False
    link.received()
    return link


def mass_cancel_frames(link: MemoryLink, request_ids: Iterable[str], **filters: Any) -> bytes:
    """Return one MassCancel frame per request id, numbered after the link's last request, as one write."""
    frames = []
    for request_id in request_ids:
        link.req_seq += 1
        frames.append(encode_frame(MassCancel(request_id=request_id, req_seq=link.req_seq, **filters)))
    return b"".join(frames)


def step_at_random(rig: Rig, link: MemoryLink, order: Order, rnd: random.Random) -> None:
    """Move ``order`` one step on at random: the venue answers it, or its strategy (``link``) cancels or replaces it."""
    venue = rig.venue
    oid = order.order_id
    roll = rnd.random()
    if order.state is OrderState.PENDING_NEW:
        venue.accept(oid, 1_000_000) if roll < 0.9 else venue.reject(oid)
    elif order.state is OrderState.LIVE:
        if roll < 0.3 and order.leaves_qty > 10:
            venue.fill(oid, 10, 1_000_000)
        elif roll < 0.5:
            venue.fill(oid, order.leaves_qty, 1_000_000)
        elif roll < 0.75:
            rig.send(link, Cancel(order.cl_ord_id))
        else:
            rig.send(link, Replace(order.cl_ord_id, order.qty + 50, 1_000_100))
    elif order.state is OrderState.PENDING_CANCEL:
        venue.cancel(oid) if roll < 0.8 else venue.cancel_reject(oid)
    elif order.state is OrderState.PENDING_REPLACE:
        if roll < 0.8:
            venue.replaced(oid, order.pending_qty - order.cum_qty, order.pending_price)
        else:
            venue.cancel_reject(oid)


def journaling_rig(journal_path: Path) -> Rig:
    """Return a rig journaling to ``journal_path`` (no fsync), S1 (ACC1), S2 (ACC2) and the gateway under this uid.

    Its engine keeps 500 events and 500 ended orders in memory: older ones are read back from the journal.
    """
    uid = os.getuid()
    rig = Rig(
        journal=FileJournal(journal_path, fsync=FsyncPolicy.NONE),
        strategies={
            "S1": StrategyEntitlement(accounts=["ACC1"], uids=[uid]),
            "S2": StrategyEntitlement(accounts=["ACC2"], uids=[uid]),
        },
    )
    rig.engine.entitlements.gateway_uid = uid
    rig.engine.events_kept = rig.engine.terminal_orders_kept = 500
    return rig


def trade_filled(rig: Rig, link: MemoryLink, account: str, count: int, batch: int = 500) -> None:
    """Have ``count`` orders of ``account`` accepted and filled (two events each), ``batch`` a frame read."""
    engine = rig.engine
    for first in range(0, count, batch):
        frames = [
            encode_frame(NewOrder(f"c{i}", account, "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=i + 1))
            for i in range(first, first + batch)
        ]
        engine.link_data(link, b"".join(frames), rig.clock())
        for order_id in range(engine.next_order_id - batch, engine.next_order_id):
            rig.venue.accept(order_id, 1_000_000)
            rig.venue.fill(order_id, 100, 1_000_000)
        engine.flush()
        link.written.clear()


def engine_over(venue: VenueAdapter, clock: FakeClock, journal: Path, *, max_qty: int) -> tuple[Engine, Rig]:
    """Return a real engine over ``venue`` (S1 trading ACC1 as uid 1000, journal at ``journal``), and a Rig.

    The risk checks refuse orders above ``max_qty``; the Rig only lends its helpers (``connect``, ``send``...).
    """
    engine = Engine(
        risk=LimitRisk(max_qty=max_qty),
        venues=[venue],
        entitlements=Entitlements({"S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000])}, gateway_uid=1000),
        clock=clock,
        journal=FileJournal(journal, fsync=FsyncPolicy.NONE),
    )
    rig = Rig()
    rig.engine, rig.clock = engine, clock
    return engine, rig
