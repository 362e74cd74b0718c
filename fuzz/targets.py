"""Fuzz targets: every decoder and state machine that reads bytes from outside the gateway.

Each target is ``one_input(data: bytes) -> None`` plus a few valid seed inputs. A target raises
only when the code under test breaks its contract (a decoder must return a message or a
decode error, a session must turn any input into events, errors or a close, a loader must
report problems, never raise anything else). ``fuzz/run.py`` drives them under atheris
(coverage-guided); ``tests/reliability/test_fuzz.py`` runs each briefly in the suite.

Targets are imported lazily by name so that the atheris runner can instrument the code under
test as it is imported.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

Target = Callable[[bytes], None]

if os.environ.get("GWFUZZ_SCRATCH"):  # set by fuzz/run.py: inside its work directory (libFuzzer skips atexit)
    _SCRATCH = Path(os.environ["GWFUZZ_SCRATCH"])
    _SCRATCH.mkdir(parents=True, exist_ok=True)
else:
    _SCRATCH = Path(tempfile.mkdtemp(prefix="gwfuzz", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)


def _rig() -> Any:
    """A fresh engine rig (its latency histograms are 46 KiB: cheap to make per input)."""
    from tests.harness import Rig

    return Rig()


# ---- strategy frames and session --------------------------------------------------------------


def _strategy_seeds() -> list[bytes]:
    from gateway.protocol.framing import encode_frame
    from gateway.protocol.messages import PROTOCOL_VERSION, Cancel, Heartbeat, Hello, MassCancel, NewOrder, Replace
    from model.enums import Side

    hello = encode_frame(Hello("S1", PROTOCOL_VERSION, 0, 1000))
    hello_v2 = encode_frame(Hello("S1", 2, 0, 1000))
    new_order = encode_frame(NewOrder("A1", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_502_500, req_seq=1))
    return [
        hello,
        hello + new_order,
        hello
        + new_order
        + encode_frame(Cancel("A1", req_seq=2))
        + encode_frame(Replace("A1", 200, 1_500_000, req_seq=3)),
        hello + encode_frame(MassCancel("ACC1", "", "", "M1", req_seq=1)) + encode_frame(Heartbeat()),
        hello + new_order + new_order + encode_frame(Cancel("A1", req_seq=5)),  # a duplicate, then a gap
        hello_v2 + encode_frame(NewOrder("A1", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_502_500)),  # version 2: no number
        b"\x00\x00\x00\x03\x93\x02\xa1",
    ]


def strategy_session(data: bytes) -> None:
    """Strategy frames into the session state machine: requests, errors or a close, never an exception."""
    from gateway.protocol.framing import encode_frame
    from gateway.protocol.messages import PROTOCOL_VERSION, Hello
    from gateway.strategy_session import StrategySession, StrategySessionState

    session = StrategySession(0, max_errors=50)
    prefix = encode_frame(Hello("S1", PROTOCOL_VERSION, 0, 1000)) if data[:1] == b"\x01" else b""
    stream = prefix + data[1:]
    for cut in (len(stream) // 3, len(stream)):
        session.receive_data(stream[: cut or None] if cut else b"", 1)
        session.end_of_read()
        stream = stream[cut:]
        if session.state is StrategySessionState.PENDING_WELCOME:
            session.welcome(1)
    session.poll(10**12)
    assert session.state in StrategySessionState
    output = session.take_output(2) or b""
    assert len(output) < 64 * 1024 + 1024 * (len(data) + 1), "output grows without bound"


def strategy_engine(data: bytes) -> None:
    """Strategy bytes through the whole engine (entitlements, risk, a scripted venue): never an exception."""
    from gateway.protocol.framing import encode_frame
    from gateway.protocol.messages import PROTOCOL_VERSION, Hello

    rig = _rig()
    link = rig.connect("S1")
    rig.engine.link_data(link, data, rig.clock())
    for order_id in list(rig.engine.open_orders)[:3]:
        rig.venue.accept(order_id)
        rig.venue.fill(order_id, 1, 1_000_000)
    rig.engine.flush()
    other = rig.connect("S2")
    rig.engine.link_data(other, encode_frame(Hello("S2", PROTOCOL_VERSION)), rig.clock())
    for st in rig.engine.strategies.values():
        assert [e.seq for e in st.events] == list(range(1, len(st.events) + 1))
    for order in rig.engine.orders.values():
        assert order.strategy_id == "S1", "an order can only belong to the strategy that sent it"


# ---- SoupBinTCP and OUCH ----------------------------------------------------------------------


def _ouch_seeds() -> list[bytes]:
    from venues.ouch.codec import encode_message
    from venues.ouch.messages import OrderAccepted, OrderCanceled, OrderExecuted, OrderRejected
    from venues.ouch.options import NO_OPTIONS
    from venues.ouch.soupbin import encode_login_accepted, encode_sequenced

    login = encode_login_accepted("OUCHSIM", 1)
    accepted = encode_message(
        OrderAccepted(1, 1, "B", 100, "AAPL", 2_301_000, "0", "Y", 100_000_001, "A", "N", "N", "L", "1", NO_OPTIONS)
    )
    executed = encode_message(OrderExecuted(2, 1, 40, 2_301_000, "A", 500_000_001, NO_OPTIONS))
    canceled = encode_message(OrderCanceled(3, 1, 60, "U", NO_OPTIONS))
    rejected = encode_message(OrderRejected(4, 2, 0x17, "2", NO_OPTIONS))
    return [
        b"\x00" + login,
        b"\x00" + login + b"".join(encode_sequenced(m) for m in (accepted, executed, canceled, rejected)),
        b"\x01" + accepted,
        b"\x02" + executed,
        b"\x00\x00\x01H\x00\x01Z",
    ]


def ouch_decoders(data: bytes) -> None:
    """Every OUCH and SoupBinTCP decoder: a message or a DecodeError, and hot == generic decoders."""
    from venues.ouch.codec import OUTBOUND_DECODERS, decode_inbound, decode_outbound, decode_outbound_generic
    from venues.ouch.errors import DecodeError
    from venues.ouch.soupbin import SoupSplitter, decode_client_packet, decode_server_packet

    body = data[1:]
    for decode in (decode_inbound, decode_outbound, decode_outbound_generic):
        result = decode(body)
        assert result is not None
    hot = OUTBOUND_DECODERS.get(body[0]) if body else None
    if hot is not None:
        fast, generic = hot(body), decode_outbound_generic(body)
        assert isinstance(fast, DecodeError) == isinstance(generic, DecodeError), (fast, generic)
        if not isinstance(fast, DecodeError):
            assert fast == generic, (fast, generic)
    splitter = SoupSplitter()
    for packet in splitter.feed(body[: len(body) // 2]) + splitter.feed(body[len(body) // 2 :]):
        assert decode_server_packet(packet) is not None
        assert decode_client_packet(packet) is not None
    assert splitter.buffered <= len(body)


def soupbin_ouch_adapter(data: bytes) -> None:
    """Venue bytes into the SoupBinTCP client session and the OUCH adapter with live orders: never raises."""
    from model.clock import FakeClock
    from model.enums import OrderType, Side, TimeInForce
    from model.order import Order
    from model.venue_events import VenueEvent
    from venues.ouch.adapter import OuchVenue
    from venues.ouch.config import OuchVenueConfig
    from venues.ouch.soupbin import encode_login_accepted, encode_packet

    clock = FakeClock()
    state_dir = _SCRATCH / "ouch"
    for old in state_dir.glob("*"):
        old.unlink(missing_ok=True)
    venue = OuchVenue(
        OuchVenueConfig(name="OUCH", host="127.0.0.1", port=1, username="U", password="P", state_dir=str(state_dir)),
        clock,
    )
    events: list[VenueEvent] = []
    venue.event_sink = events.append
    written = bytearray()
    venue.attach(written.extend, lambda: None)
    venue.connection_made(clock())
    if data[:1] == b"\x00":
        venue.data_received(encode_login_accepted("OUCHSIM", 1) + encode_packet(b"H"), clock())  # no replay
    orders = []
    for i in range(1, 4):
        order = Order(
            i, "S1", f"C{i}", "ACC1", "OUCH", "AAPL", Side.BUY, 100, 2_301_000, TimeInForce.DAY, OrderType.LIMIT
        )
        order.leaves_qty = 100
        orders.append(order)
        venue.send_new(order)
    venue.send_cancel(orders[0])
    venue.send_replace(orders[1], 150, 2_300_000)
    body = data[1:]
    for chunk in (body[: len(body) // 2], body[len(body) // 2 :]):
        venue.data_received(chunk, clock())
        clock.advance(1_000_000)
        venue.poll(clock())
    venue.flush()
    venue.connection_lost(clock())
    assert all(e.order_id in (1, 2, 3) for e in events), "an event for an order the venue was never sent"
    venue.status()
    venue.close()  # the end-of-day mark's writer thread done before the next input clears the directory


# ---- Cboe BOE v2 ---------------------------------------------------------------------------------


def _boe_seeds() -> list[bytes]:
    from venues.boe.codec import REPLAY_COMPLETE_BYTES, encode_message
    from venues.boe.messages import LoginResponse, OrderAcknowledgment, OrderExecution, ReturnFields

    login = encode_message(LoginResponse("A", "Login Accepted", 0, 0, ((1, 0), (2, 0))))
    ack = encode_message(OrderAcknowledgment(1, 1, 1, "C1", 7, ReturnFields(side="1", symbol="AAPL"), 2))
    execution = encode_message(OrderExecution(1, 2, 2, "C1", 9, 100, 1_502_500, 0, "R", "", "SIMU"))
    return [
        b"\x00" + login + REPLAY_COMPLETE_BYTES + ack + execution,
        b"\x01" + login + ack + ack + REPLAY_COMPLETE_BYTES,
        b"\x00" + ack,
        b"\x01" + execution,
    ]


def boe_decoders(data: bytes) -> None:
    """Every BOE decoder: a message or a DecodeError, the hot decoders equal the table-driven one."""
    from venues.boe.codec import (
        BoeSplitter,
        ReturnDecoder,
        ack_core,
        cancelled_core,
        decode_inbound,
        decode_outbound,
        decode_outbound_generic,
        execution_core,
    )
    from venues.boe.errors import DecodeError

    body = data[1:]
    returns = {0x25: bytes([0x01, 0x01]), 0x2C: bytes([0x01, 0x01]), 0x2A: b""}
    hot = ReturnDecoder(returns)
    for message in [body, *(bytes(m) for m in BoeSplitter().feed(body))]:
        assert decode_inbound(message) is not None
        generic = decode_outbound_generic(message)
        fast = hot.decode(message)
        assert isinstance(fast, DecodeError) == isinstance(generic, DecodeError), (fast, generic)
        if not isinstance(fast, DecodeError):
            assert fast == generic == decode_outbound(message), (fast, generic)
        for core in (ack_core, execution_core, cancelled_core):
            assert core(message) is not None
    splitter = BoeSplitter()
    for view in splitter.feed(body[: len(body) // 2]) + splitter.feed(body[len(body) // 2 :]):
        assert len(view) >= 10
    assert splitter.buffered <= len(body)


def boe_session(data: bytes) -> None:
    """Venue bytes into the BOE client session (logging in or logged in): events or a close, never raises."""
    from model.clock import FakeClock
    from venues.boe.codec import REPLAY_COMPLETE_BYTES, encode_message
    from venues.boe.messages import LoginResponse
    from venues.boe.session import BoeClientSession, BoeSessionConfig

    class Listener:
        def __init__(self) -> None:
            self.events = 0

        def __getattr__(self, name: str) -> Any:
            def record(*args: object) -> None:
                self.events += 1

            return record

    clock = FakeClock()
    listener = Listener()
    session = BoeClientSession(BoeSessionConfig("1", "U", "P", return_bitfields={0x25: b"\x01"}), listener)
    session.resume({1: 3})
    session.connection_made(clock())
    if data[:1] == b"\x00":
        session.data_received(
            encode_message(LoginResponse("A", "", 0, 0, ((1, 3), (2, 0)))) + REPLAY_COMPLETE_BYTES, clock()
        )
    body = data[1:]
    for chunk in (body[: len(body) // 2], body[len(body) // 2 :]):
        session.data_received(chunk, clock())
        clock.advance(700_000_000)
        session.poll(clock())
        assert all(sequence >= 0 for sequence in session.units.values())
    session.connection_lost(clock())
    delay = session.reconnect_delay_ns(1)
    assert delay is None or delay >= 0


# ---- FIX ----------------------------------------------------------------------------------------


def _fix_seeds() -> list[bytes]:
    from venues.fix.codec import build_message

    def message(msg_type: bytes, seq: int, body: list[tuple[bytes, bytes]]) -> bytes:
        return build_message(
            b"FIX.4.2",
            msg_type,
            sender=b"EQX",
            target=b"GATEWAY",
            seq=seq,
            sending_time=b"20240102-10:00:00.000",
            body_fields=body,
        )

    logon = message(b"A", 1, [(b"98", b"0"), (b"108", b"30")])
    report = message(
        b"8",
        2,
        [
            (b"37", b"V1"),
            (b"11", b"1"),
            (b"17", b"E1"),
            (b"20", b"0"),
            (b"150", b"0"),
            (b"39", b"0"),
            (b"55", b"AAPL"),
            (b"54", b"1"),
            (b"38", b"100"),
            (b"44", b"150.25"),
            (b"32", b"0"),
            (b"31", b"0"),
            (b"151", b"100"),
            (b"14", b"0"),
            (b"6", b"0"),
        ],
    )
    return [
        logon,
        logon + report,
        logon + message(b"0", 2, []),
        logon + message(b"2", 2, [(b"7", b"1"), (b"16", b"0")]),
    ]


def fix_decoder(data: bytes) -> None:
    """FIX frame decoder: messages or decode errors, whatever the chunking; the buffer stays bounded."""
    from venues.fix.codec import DecodeError, FixMessage, FrameDecoder

    decoder = FrameDecoder(max_body_length=4096)
    third = len(data) // 3
    for chunk in (data[:third], data[third : 2 * third], data[2 * third :]):
        for item in decoder.feed(chunk):
            assert isinstance(item, FixMessage | DecodeError), item
        assert decoder.buffered <= len(data)


def fix_session(data: bytes) -> None:
    """Venue bytes into the FIX session and adapter (logged on, orders live): never raises."""
    from model.clock import FakeClock
    from model.enums import OrderType, Side, TimeInForce
    from model.order import Order
    from model.venue_events import VenueEvent
    from venues.fix.adapter import FixVenue
    from venues.fix.config import FixVenueConfig, StoreKind, session_config
    from venues.fix.dialect import load_dialect
    from venues.fix.store import MemoryStore

    clock = FakeClock()
    dialect = load_dialect("equities-fix42")
    config = FixVenueConfig(name="FIXV", host="127.0.0.1", port=1, dialect="equities-fix42", store=StoreKind.MEMORY)
    venue = FixVenue(
        "FIXV", dialect, session_config(config, dialect), MemoryStore(), clock, wall_offset_ns=1_704_189_599_000_000_000
    )
    events: list[VenueEvent] = []
    venue.event_sink = events.append
    venue.state_sink = lambda name, state, reason: None
    written = bytearray()
    venue.attach(written.extend, lambda: None)
    venue.connection_made(clock())
    if data[:1] == b"\x00":
        venue.data_received(_fix_logon(), clock())
        for i in range(1, 3):
            order = Order(
                i, "S1", f"C{i}", "ACC1", "FIXV", "AAPL", Side.BUY, 100, 1_502_500, TimeInForce.DAY, OrderType.LIMIT
            )
            order.leaves_qty = 100
            venue.send_new(order)
        venue.flush()
    body = data[1:]
    for chunk in (body[: len(body) // 2], body[len(body) // 2 :]):
        venue.data_received(chunk, clock())
        clock.advance(500_000_000)
        venue.poll(clock())
    venue.flush()
    venue.connection_lost(clock())
    venue.status()


@functools.cache
def _fix_logon() -> bytes:
    return _fix_seeds()[0]


# ---- journal, risk limits, gateway config ----------------------------------------------------------


def _journal_seeds() -> list[bytes]:
    from gateway.journal import (
        FileJournal,
        JOrderCreated,
        JOrderSent,
        JPositionAdjusted,
        JRequest,
        JSentCancel,
        JSentNew,
        JStrategyEvent,
        JVenueApplied,
        JVenueEvent,
        MmapJournal,
    )
    from gateway.protocol.messages import MassCancelAck, OrderAccepted
    from model.enums import OrderType, Side, TimeInForce
    from model.fsync import FsyncPolicy
    from model.venue_events import VenueAccepted

    path = _SCRATCH / "seed.journal"
    path.unlink(missing_ok=True)
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    created = JOrderCreated(
        1, "S1", "A", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, TimeInForce.DAY, OrderType.LIMIT, 0
    )
    journal.append(JRequest("S1", 1, created))  # protocol version 3: the request's number wraps its decision
    journal.append(JSentNew(1, "1"))
    journal.append(JVenueEvent("V1", VenueAccepted(1, 1, "X1", 100, 1_000_000)))
    journal.append(JStrategyEvent("S1", OrderAccepted(1, "A", "X1", 100, 1_000_000)))
    journal.append(JRequest("S1", 2, JSentCancel(1)))
    journal.append(JRequest("S1", 3, None, MassCancelAck("M1", 0)))  # a MassCancel that matched nothing
    journal.append(JPositionAdjusted("ACC1", "AAPL", -100, 1_000_000, -100_000_000, "ops", "bust"))  # a correction
    journal.close()
    good = path.read_bytes()
    path.unlink()
    current = MmapJournal(path, fsync=FsyncPolicy.NONE, grow_bytes=4096)  # one record per order event, crashed
    sent = JOrderSent(
        2, "S1", "B", "ACC1", "V1", "AAPL", Side.SELL, 10, 10_000, TimeInForce.DAY, OrderType.LIMIT, 0, "2"
    )
    current.append(JRequest("S1", 4, sent))  # version 3: the request's number wraps the order sent
    current.append(JVenueApplied("V1", VenueAccepted(2, 2, "X2", 10, 10_000), 1))
    current.flush()
    mapped = path.read_bytes()
    current.close()
    return [good, good[:-3], good[:20] + b"\xff" + good[21:], mapped, mapped[:4200]]


def journal_recovery(data: bytes) -> None:
    """Journal bytes: read (torn tail cut, damage refused) and replayed into an engine; clear errors only."""
    from gateway.journal import JournalCorruptError, JournalScan, read_journal
    from gateway.recovery import recover

    path = _SCRATCH / "fuzz.journal"
    path.write_bytes(data)
    scan = JournalScan()
    rig = _rig()
    try:
        recovered = recover(read_journal(path, scan))
    except JournalCorruptError:
        return
    cut = scan.good_bytes + scan.torn_bytes
    assert cut <= len(data) and not data[cut:].strip(b"\0")  # what follows is the never-written part: zeros
    rig.engine.adopt(recovered)


def _limits_seeds() -> list[bytes]:
    root = Path(__file__).resolve().parents[1] / "deploy" / "risk"
    return [(root / "limits.yaml").read_bytes(), b"version: 1\ndefaults: {max_qty: 10}\n", b"- [\n"]


def risk_limits(data: bytes) -> None:
    """A risk officer's limits file: a loaded limits file or LimitsFileError with locations, never anything else."""
    from risk.limitsfile import LimitsFileError, read_limits

    path = _SCRATCH / "limits.yaml"
    path.write_bytes(data)
    try:
        read_limits(path)
    except LimitsFileError as exc:
        assert exc.problems, "an error without a single problem"


def _config_seeds() -> list[bytes]:
    root = Path(__file__).resolve().parents[1] / "deploy"
    return [(root / "gateway.yaml").read_bytes(), b"gateway_id: x\nstrategies: {S1: {accounts: [A]}}\n"]


def gateway_config(data: bytes) -> None:
    """The gateway's own YAML config: a config or ConfigError, never anything else."""
    from gateway.config import ConfigError, load_config

    path = _SCRATCH / "gateway.yaml"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc)


TARGETS: dict[str, tuple[Target, Callable[[], list[bytes]]]] = {
    "strategy_session": (strategy_session, lambda: [b"\x01" + s for s in _strategy_seeds()] + _strategy_seeds()),
    "strategy_engine": (strategy_engine, _strategy_seeds),
    "ouch_decoders": (ouch_decoders, _ouch_seeds),
    "soupbin_ouch_adapter": (soupbin_ouch_adapter, _ouch_seeds),
    "boe_decoders": (boe_decoders, _boe_seeds),
    "boe_session": (boe_session, _boe_seeds),
    "fix_decoder": (fix_decoder, _fix_seeds),
    "fix_session": (
        fix_session,
        lambda: [b"\x00" + s[-200:] for s in _fix_seeds()] + [b"\x01" + s for s in _fix_seeds()],
    ),
    "journal_recovery": (journal_recovery, _journal_seeds),
    "risk_limits": (risk_limits, _limits_seeds),
    "gateway_config": (gateway_config, _config_seeds),
}
"""name -> (target, seed inputs)."""


def run_seeds(name: str) -> int:
    """Run a target on its seeds (a smoke check without atheris); return how many."""
    target, seeds = TARGETS[name]
    inputs = seeds()
    for data in inputs:
        target(data)
    return len(inputs)


def describe() -> dict[str, Any]:
    """Return each target's first docstring line (for the runner's --list)."""
    return {name: (fn.__doc__ or "").splitlines()[0] for name, (fn, _seeds) in TARGETS.items()}
