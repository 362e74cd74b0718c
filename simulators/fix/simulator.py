"""FIX venue simulator on a real QuickFIX ``SocketAcceptor`` (``gateway sim fix``).

``FixSimulator`` is usable in-process by tests: start it on 127.0.0.1 with a free port,
read what it received and sent, and trigger scenario behaviour -- skip outgoing
sequence numbers, send a SequenceReset or TestRequest, lower the number it expects from
us (so it asks for a resend), inject garbled bytes, hold or drop its output, restart.
Scenarios QuickFIX cannot produce go through the optional raw side channel
(``simulators.fix.relay.RawRelay``) in front of the acceptor.

QuickFIX runs its sessions on C++ threads and calls back into Python there; an exception
escaping a callback can end the process, so every callback is wrapped: errors are logged
and counted (``callback_errors``), never raised.

This module does not import ``quickfix`` at import time (``gateway sim`` lists it even
without the ``fix`` extra); the simulator class imports it when constructed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from simulators.fix.sim_book import Report, SimBook
from venues.fix import fields as f
from venues.fix.codec import FixMessage, FrameDecoder, build_message, parse_price
from venues.fix.dialect import BeginString, Dialect, DialectError, load_dialect
from venues.fix.fields import MsgType

log = logging.getLogger(__name__)

DEFAULT_DIALECTS: Final = {BeginString.FIX42: "equities-fix42", BeginString.FIX44: "broker-fix44"}
EXIT_USAGE: Final = 2
_MAX_SAMPLES: Final = 1_000_000
_BIND_ATTEMPTS: Final = 5


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class SimMessage:
    """One message the simulator received (``in``) or sent (``out``), with a monotonic timestamp."""

    __slots__ = ("_decoded", "direction", "raw", "session", "t_ns")

    def __init__(self, direction: str, session: str, raw: bytes, t_ns: int) -> None:
        self.direction = direction
        self.session = session
        self.raw = raw
        self.t_ns = t_ns
        self._decoded: FixMessage | None = None

    @property
    def message(self) -> FixMessage:
        """Return the decoded message."""
        if self._decoded is None:
            decoded = FrameDecoder().feed(self.raw)
            assert decoded and isinstance(decoded[0], FixMessage), self.raw
            self._decoded = decoded[0]
        return self._decoded

    @property
    def msg_type(self) -> bytes:
        """Return MsgType (35)."""
        return self.message.msg_type

    @property
    def seq(self) -> int:
        """Return MsgSeqNum (34)."""
        return self.message.seq

    def get(self, tag: bytes, default: bytes = b"") -> bytes:
        """Return the value of ``tag``."""
        return self.message.get(tag, default)

    def __repr__(self) -> str:
        return f"SimMessage({self.direction} {self.raw.replace(b'|', b'/').replace(bytes([1]), b'|')!r})"


class FixSimulator:
    """A FIX venue: a QuickFIX acceptor that accepts, fills and cancels orders."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        dialect: Dialect | str | None = None,
        begin_string: str = "FIX.4.2",
        sender_comp_id: str = "",
        target_comp_ids: Sequence[str] = (),
        reference_prices: dict[str, int] | None = None,
        fill_ratio: float = 1.0,
        reject_symbols: Iterable[str] = (),
        record_path: str | None = None,
        store_dir: str | None = None,
        raw_channel: bool = False,
        work_dir: str | None = None,
        keep_messages: bool = True,
    ) -> None:
        import quickfix  # noqa: PLC0415  (optional dependency)

        from venues.fix.dictionary import dictionary_path  # noqa: PLC0415

        self._quickfix: Any = quickfix
        if dialect is None:
            dialect = DEFAULT_DIALECTS[BeginString(begin_string)]
        self.dialect = load_dialect(dialect) if isinstance(dialect, str) else dialect
        self.begin_string = self.dialect.begin_string.value
        self.sender = sender_comp_id or self.dialect.target_comp_id
        self.targets = list(target_comp_ids) or [self.dialect.sender_comp_id]
        self.host = host
        self.requested_port = port
        self.port = 0
        """The port clients connect to (the relay's when ``raw_channel``), set by ``start``."""
        self.acceptor_port = 0
        self.book = SimBook(
            self.dialect,
            reference_prices=reference_prices,
            fill_ratio=fill_ratio,
            reject_symbols=frozenset(reject_symbols),
        )
        self.store_dir = store_dir
        self.raw_channel = raw_channel
        self.keep_messages = keep_messages
        """Keep every message in ``received`` / ``sent`` (tests); the command line does not."""
        self.received: list[SimMessage] = []
        self.sent: list[SimMessage] = []
        self.logged_on: set[str] = set()
        self.logons = 0
        self.refuse_logons = 0
        """Logons still to refuse (QuickFIX answers each with a Logout and closes): a venue turning the client away."""
        self.callback_errors = 0
        self.turnaround_ns: dict[str, list[int]] = {}
        """Per session: ns from an order reaching ``fromApp`` to its last report handed to QuickFIX."""
        self.relay: Any = None
        self._lock = threading.RLock()
        self._record: TextIO | None = open(record_path, "a", encoding="ascii") if record_path else None  # noqa: SIM115
        self._own_work = work_dir is None
        self._work = Path(work_dir or tempfile.mkdtemp(prefix="fix-sim-"))
        self._dictionary = dictionary_path(self.dialect, self._work / "dictionaries")
        self._acceptor: Any = None
        self._application: Any = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def _settings_text(self) -> str:
        lines = [
            "[DEFAULT]",
            "ConnectionType=acceptor",
            f"SocketAcceptPort={self.acceptor_port}",
            "SocketReuseAddress=Y",
            "SocketNodelay=Y",
            "StartTime=00:00:00",
            "EndTime=00:00:00",
            "UseDataDictionary=Y",
            f"DataDictionary={self._dictionary}",
            "ValidateUserDefinedFields=Y",
            "ValidateFieldsOutOfOrder=Y",
            "AllowUnknownMsgFields=N",
            "CheckLatency=N",
            "ResetOnLogon=N",
            "ResetOnLogout=N",
            "ResetOnDisconnect=N",
            "PersistMessages=Y",
            "TimestampPrecision=3",
        ]
        if self.store_dir:
            lines += [f"FileStorePath={self.store_dir}", "RefreshOnLogon=Y"]
        for target in self.targets:
            lines += [
                "[SESSION]",
                f"BeginString={self.begin_string}",
                f"SenderCompID={self.sender}",
                f"TargetCompID={target}",
            ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        """Start the acceptor (and the raw channel) and return once it listens."""
        quickfix = self._quickfix
        port_was_picked = self.raw_channel or (not self.acceptor_port and not self.requested_port)
        if self.raw_channel:
            from simulators.fix.relay import RawRelay  # noqa: PLC0415

            if not self.acceptor_port:
                self.acceptor_port = free_port()
            if self.relay is None:
                self.relay = RawRelay(self.host, self.requested_port, self.acceptor_port)
            self.port = self.relay.port
        else:
            if not self.acceptor_port:
                self.acceptor_port = self.requested_port or free_port(self.host)
            self.port = self.acceptor_port
        # A port picked by free_port() can be taken by another socket before QuickFIX binds it
        # (the relay's own ephemeral port, or any other process): pick again rather than fail.
        for attempt in range(_BIND_ATTEMPTS):
            try:
                self._start_acceptor()
                return
            except quickfix.RuntimeError as exc:
                if not port_was_picked or "in use" not in str(exc) or attempt == _BIND_ATTEMPTS - 1:
                    raise
                log.warning(
                    "simulator: port %d was taken before the acceptor bound it; picking another", self.acceptor_port
                )
                self.acceptor_port = free_port(self.host)
                if self.relay is not None:
                    self.relay.upstream_port = self.acceptor_port
                else:
                    self.port = self.acceptor_port

    def _start_acceptor(self) -> None:
        """Write the settings for ``acceptor_port`` and start QuickFIX's acceptor on it."""
        quickfix = self._quickfix
        settings_path = self._work / "acceptor.cfg"
        settings_path.write_text(self._settings_text(), encoding="ascii")
        settings = quickfix.SessionSettings(str(settings_path))
        if self.store_dir:
            Path(self.store_dir).mkdir(parents=True, exist_ok=True)
            store_factory = quickfix.FileStoreFactory(settings)
        else:
            store_factory = quickfix.MemoryStoreFactory()
        self._application = _make_application(quickfix, self)
        acceptor = quickfix.ThreadedSocketAcceptor(
            self._application, store_factory, settings, quickfix.ScreenLogFactory(False, False, False)
        )
        acceptor.start()
        self._acceptor = acceptor

    def stop(self, *, graceful: bool = True, timeout: float = 2.0) -> None:
        """Stop the acceptor: ``graceful`` logs sessions out first, otherwise connections just drop.

        QuickFIX 1.16 can crash (SocketServer::close racing its own thread) when an acceptor
        is stopped with TCP connections open, so connections are ended first: by the logout
        handshake, and through the raw channel when there is one.
        """
        if self._acceptor is None:
            return
        if graceful:
            for key in list(self.logged_on):
                with contextlib.suppress(Exception):
                    self._session(key.rpartition("->")[2]).logout("simulator stopping")
            self.wait_for(lambda: not self.logged_on, timeout)
        if self.relay is not None:
            self.relay.disconnect()
            self.wait_for(lambda: not self.logged_on, timeout)
        time.sleep(0.05)  # let QuickFIX's thread notice the closed sockets
        self._acceptor.stop(True)
        self._acceptor = None
        self.logged_on.clear()

    def restart(self, *, graceful: bool = False) -> None:
        """Stop and start again on the same port (sessions resume from the store if ``store_dir``)."""
        self.stop(graceful=graceful)
        self.start()

    def close(self, *, graceful: bool = False) -> None:
        """Stop everything, including the raw channel and the record file."""
        self.stop(graceful=graceful)
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        if self._record is not None:
            self._record.close()
            self._record = None
        if self._own_work:
            shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self) -> FixSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- observation -----------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until it is truthy or ``timeout`` seconds pass; return whether it held."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return bool(predicate())

    def messages(
        self, direction: str = "in", msg_type: bytes | None = None, target: str | None = None
    ) -> list[SimMessage]:
        """Return received (``in``) or sent (``out``) messages, optionally of one type / session."""
        with self._lock:
            source = list(self.received if direction == "in" else self.sent)
        session = self.session_key(target) if target else None
        return [
            m
            for m in source
            if (msg_type is None or m.msg_type == msg_type) and (session is None or m.session == session)
        ]

    def session_key(self, target: str | None = None) -> str:
        """Return the QuickFIX session id string for ``target`` (default: the first)."""
        return f"{self.begin_string}:{self.sender}->{target or self.targets[0]}"

    # ---- scenario triggers --------------------------------------------------------------------------

    def _session_id(self, target: str | None) -> Any:
        return self._quickfix.SessionID(self.begin_string, self.sender, target or self.targets[0])

    def _session(self, target: str | None) -> Any:
        session = self._quickfix.Session.lookupSession(self._session_id(target))
        if session is None:
            raise RuntimeError(f"no session for {target or self.targets[0]}")
        return session

    def next_sender_seq(self, target: str | None = None) -> int:
        """Return the MsgSeqNum the acceptor will send next."""
        return int(self._session(target).getExpectedSenderNum())

    def next_target_seq(self, target: str | None = None) -> int:
        """Return the MsgSeqNum the acceptor expects next from the client."""
        return int(self._session(target).getExpectedTargetNum())

    def set_next_sender_seq(self, seq: int, target: str | None = None) -> None:
        """Make the acceptor's next message carry ``seq`` (a gap above, or too low below)."""
        self._session(target).setNextSenderMsgSeqNum(seq)

    def set_next_target_seq(self, seq: int, target: str | None = None) -> None:
        """Make the acceptor expect ``seq`` next; lower than the client's makes it ask for a resend."""
        self._session(target).setNextTargetMsgSeqNum(seq)

    def skip_outgoing(self, count: int, target: str | None = None) -> None:
        """Leave ``count`` sequence numbers out before the acceptor's next message (a gap)."""
        session = self._session(target)
        session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + count)

    def send(self, msg_type: bytes, body: Sequence[tuple[bytes, bytes]] = (), target: str | None = None) -> None:
        """Send a message through QuickFIX (it fills the header, numbering and trailer)."""
        raw = _report_string(self.begin_string, (msg_type, list(body)))
        self._quickfix.Session.sendToTarget(self._quickfix.Message(raw, False), self._session_id(target))

    def send_heartbeat(self, target: str | None = None) -> None:
        """Send a Heartbeat now."""
        self.send(MsgType.HEARTBEAT, (), target)

    def send_test_request(self, test_req_id: str, target: str | None = None) -> None:
        """Send a TestRequest; the client must answer with a Heartbeat carrying ``test_req_id``."""
        self.send(MsgType.TEST_REQUEST, [(f.TEST_REQ_ID, test_req_id.encode())], target)

    def send_sequence_reset(self, new_seq: int, target: str | None = None) -> None:
        """Send SequenceReset-Reset (123=N) to ``new_seq`` and continue numbering from it."""
        self.send(MsgType.SEQUENCE_RESET, [(f.GAP_FILL_FLAG, b"N"), (f.NEW_SEQ_NO, b"%d" % new_seq)], target)
        self.set_next_sender_seq(new_seq, target)

    def logout(self, reason: str = "", target: str | None = None) -> None:
        """Start a logout from the venue side."""
        self._session(target).logout(reason)

    def execute(self, cl_ord_id: str, qty: int, price: int | None = None, target: str | None = None) -> bool:
        """Execute ``qty`` of the open order known by ``cl_ord_id`` now and report it; False if not open."""
        key = self.session_key(target)
        with self._lock:
            reports = self.book.execute(key, cl_ord_id.encode(), qty, price)
        for report in reports:
            self.send(report[0], report[1], target)
        return bool(reports)

    def cancel_all(self, target: str | None = None) -> int:
        """Cancel every open order of a session unsolicited; return how many."""
        key = self.session_key(target)
        with self._lock:
            reports = self.book.cancel_all(key)
        for report in reports:
            self.send(report[0], report[1], target)
        return len(reports)

    def _quiet(self, target: str | None) -> bool:
        """Return True when everything QuickFIX numbered has been relayed to the client."""
        pipe = self.relay.current if self.relay is not None else None
        return pipe is not None and pipe.last_seq_to_client == self.next_sender_seq(target) - 1 and not pipe.held

    def inject_message(
        self,
        msg_type: bytes,
        body: Sequence[tuple[bytes, bytes]] = (),
        *,
        corrupt: Callable[[bytes], bytes] | None = None,
        consume_seq: bool = True,
        target: str | None = None,
    ) -> bytes:
        """Send a hand-built message through the raw channel with the acceptor's next number.

        ``corrupt`` mangles the bytes (a bad checksum, a garbled field). ``consume_seq``
        moves QuickFIX past the number, as the client counts an intact-but-bad message;
        a message the client must ignore as garbled (bad checksum) should not consume it.
        """
        if self.relay is None:
            raise RuntimeError("inject_message needs raw_channel=True")
        if not self.wait_for(lambda: self._quiet(target), 2.0):
            raise RuntimeError("acceptor output not quiescent; cannot inject between messages")

        def build() -> tuple[bytes, int]:
            session = self._session(target)
            seq = int(session.getExpectedSenderNum())
            raw = build_message(
                self.begin_string.encode(),
                msg_type,
                sender=self.sender.encode(),
                target=(target or self.targets[0]).encode(),
                seq=seq,
                sending_time=time.strftime("%Y%m%d-%H:%M:%S.000", time.gmtime()).encode(),
                body_fields=list(body),
            )
            if consume_seq:
                session.setNextSenderMsgSeqNum(seq + 1)
            return (corrupt(raw) if corrupt is not None else raw), (seq if consume_seq else 0)

        data: bytes = self.relay.inject(build)
        return data

    def inject_raw(self, data: bytes) -> None:
        """Send raw bytes to the client between two messages."""
        if self.relay is None:
            raise RuntimeError("inject_raw needs raw_channel=True")
        self.relay.inject(lambda: (data, 0))

    def hold_output(self) -> None:
        """Keep the acceptor's messages back from the client (the link looks silent)."""
        self.relay.set_mode("hold")

    def drop_output(self) -> None:
        """Throw the acceptor's messages away (a one-way black hole)."""
        self.relay.set_mode("drop")

    def release_output(self) -> None:
        """Forward again, releasing held messages."""
        self.relay.set_mode("forward")

    def drop_next_input(self, count: int = 1) -> None:
        """Lose the client's next ``count`` messages before QuickFIX sees them (a gap on its side)."""
        with self.relay.lock:
            self.relay.drop_input += count

    def drop_connection(self) -> None:
        """Cut the TCP connection as a network failure would (raw channel only)."""
        self.relay.disconnect()

    # ---- callbacks (run on QuickFIX threads; wrapped by _make_application) -----------------------

    def _note(self, direction: str, message: Any, session_id: Any) -> SimMessage | None:
        if not self.keep_messages and self._record is None:
            return None
        return self._keep(direction, message.toString().encode("latin-1"), session_id.toString())

    def _keep(self, direction: str, raw: bytes, session: str) -> SimMessage:
        item = SimMessage(direction, session, raw, time.monotonic_ns())
        if self.keep_messages:
            with self._lock:
                (self.received if direction == "in" else self.sent).append(item)
        if self._record is not None:
            line = json.dumps(
                {"t_ns": item.t_ns, "dir": direction, "session": item.session, "raw": raw.decode("latin-1")}
            )
            self._record.write(line.replace("\\u0001", "|") + "\n")
            self._record.flush()
        return item

    def on_logon(self, session_id: Any) -> None:
        """Note a session logged on."""
        self.logged_on.add(session_id.toString())
        self.logons += 1
        log.info("FIX simulator: %s logged on", session_id.toString())

    def on_logout(self, session_id: Any) -> None:
        """Note a session logged out or disconnected."""
        self.logged_on.discard(session_id.toString())
        log.info("FIX simulator: %s logged out", session_id.toString())

    def on_app(self, message: Any, session_id: Any) -> None:
        """Handle a business message: orders go to the book, reports go back."""
        started = time.monotonic_ns()
        item = self._keep("in", message.toString().encode("latin-1"), session_id.toString())
        fields = item.message.fields
        msg_type = item.msg_type
        key = item.session
        with self._lock:
            if msg_type == MsgType.NEW_ORDER_SINGLE:
                reports = self.book.on_new(key, fields, poss_dup=item.message.poss_dup)
            elif msg_type == MsgType.ORDER_CANCEL_REQUEST:
                reports = self.book.on_cancel(key, fields)
            elif msg_type == MsgType.ORDER_CANCEL_REPLACE_REQUEST:
                reports = self.book.on_replace(key, fields)
            elif msg_type == MsgType.ORDER_STATUS_REQUEST and self.dialect.orders.status_request:
                reports = self.book.on_status(key, fields)
            else:
                reports = [
                    (
                        MsgType.BUSINESS_MESSAGE_REJECT,
                        [
                            (f.REF_SEQ_NUM, b"%d" % item.seq),
                            (f.REF_MSG_TYPE, msg_type),
                            (f.BUSINESS_REJECT_REASON, b"3"),
                        ],
                    )
                ]
        quickfix = self._quickfix
        for report in reports:
            quickfix.Session.sendToTarget(
                quickfix.Message(_report_string(self.begin_string, report), False), session_id
            )
        samples = self.turnaround_ns.setdefault(key, [])
        if len(samples) < _MAX_SAMPLES:
            samples.append(time.monotonic_ns() - started)

    def turnaround_summary(self) -> dict[str, dict[str, float]]:
        """Return per-session turnaround percentiles in microseconds."""
        out: dict[str, dict[str, float]] = {}
        for key, samples in self.turnaround_ns.items():
            ordered = sorted(samples)
            if not ordered:
                continue

            def pick(q: float, data: list[int] = ordered) -> float:
                return data[min(int(q * len(data)), len(data) - 1)] / 1000

            out[key] = {"n": len(ordered), "p50_us": pick(0.5), "p99_us": pick(0.99), "p999_us": pick(0.999)}
        return out


def _report_string(begin_string: str, report: Report) -> str:
    """Build the string QuickFIX parses into a message (it fills header, length and checksum)."""
    msg_type, body = report
    parts = [b"8=%b\x019=0\x0135=%b\x01" % (begin_string.encode(), msg_type)]
    parts.extend(b"%b=%b\x01" % (tag, value) for tag, value in body)
    parts.append(b"10=000\x01")
    return b"".join(parts).decode("latin-1")


def _make_application(quickfix: Any, simulator: FixSimulator) -> Any:
    """Build the quickfix.Application whose callbacks never let an exception escape."""

    def guarded(name: str, action: Callable[..., None]) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            try:
                action(*args)
            except BaseException:  # an escaping exception can end the process (SWIG director)
                simulator.callback_errors += 1
                with contextlib.suppress(BaseException):
                    log.exception("FIX simulator: %s callback failed", name)

        return callback

    def ignore(*_: Any) -> None:
        return None

    def note(direction: str) -> Callable[[Any, Any], None]:
        def record(message: Any, session_id: Any) -> None:
            simulator._note(direction, message, session_id)

        return record

    noted_in = guarded("fromAdmin", note("in"))

    def from_admin(message: Any, session_id: Any) -> None:
        """Note an admin message; refuse a Logon while ``refuse_logons`` says so (the one exception let out)."""
        noted_in(message, session_id)
        if simulator.refuse_logons > 0 and message.getHeader().getField(35) == "A":
            simulator.refuse_logons -= 1
            raise quickfix.RejectLogon("the simulator refuses this logon")

    class Application(quickfix.Application):  # type: ignore[misc]
        onCreate = staticmethod(guarded("onCreate", ignore))  # noqa: N815
        onLogon = staticmethod(guarded("onLogon", simulator.on_logon))  # noqa: N815
        onLogout = staticmethod(guarded("onLogout", simulator.on_logout))  # noqa: N815
        toAdmin = staticmethod(guarded("toAdmin", note("out")))  # noqa: N815
        fromAdmin = staticmethod(from_admin)  # noqa: N815
        toApp = staticmethod(guarded("toApp", note("out")))  # noqa: N815
        fromApp = staticmethod(guarded("fromApp", simulator.on_app))  # noqa: N815

    return Application()


# ---- command line ------------------------------------------------------------------------------


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _reference_price(text: str) -> tuple[str, int]:
    symbol, sep, price = text.partition("=")
    if not sep or not symbol:
        raise argparse.ArgumentTypeError(f"expected SYMBOL=PRICE, got {text!r}")
    try:
        value = parse_price(price.encode())
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad price in {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"price must be positive in {text!r}")
    return symbol, value


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"fill ratio must be between 0 and 1, got {text!r}")
    return value


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``gateway sim fix`` options."""
    parser.add_argument(
        "--listen", required=True, type=_listen_address, metavar="HOST:PORT", help="address to accept on"
    )
    parser.add_argument("--begin-string", choices=[b.value for b in BeginString], default=BeginString.FIX42.value)
    parser.add_argument("--dialect", metavar="NAME|PATH", help="venue dialect (default: by --begin-string)")
    parser.add_argument("--sender", default="", metavar="COMPID", help="the venue's SenderCompID")
    parser.add_argument(
        "--target", action="append", default=[], metavar="COMPID", help="a client SenderCompID (repeatable)"
    )
    parser.add_argument(
        "--reference-price",
        action="append",
        default=[],
        type=_reference_price,
        metavar="SYM=PX",
        help="price marketable orders fill at (repeatable)",
    )
    parser.add_argument(
        "--fill-ratio", type=_ratio, default=1.0, metavar="F", help="share of a marketable order filled"
    )
    parser.add_argument("--reject-symbol", action="append", default=[], metavar="SYM", help="reject orders in SYM")
    parser.add_argument("--record", metavar="PATH", help="append every message as a JSON line")
    parser.add_argument("--store-dir", metavar="DIR", help="persist sessions in QuickFIX file stores")
    parser.add_argument("--stats", action="store_true", help="print acceptor turnaround percentiles on exit")


def run_cli(args: argparse.Namespace) -> int:
    """Run the simulator until SIGTERM/SIGINT; return the exit code."""
    try:
        import quickfix  # noqa: F401, PLC0415
    except ImportError:
        print("gateway sim fix: the 'quickfix' package is not installed (pip install '.[fix]')", file=sys.stderr)
        return 1
    host, port = args.listen
    try:
        dialect = load_dialect(args.dialect or DEFAULT_DIALECTS[BeginString(args.begin_string)])
    except DialectError as exc:
        print(f"gateway sim fix: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if dialect.begin_string.value != args.begin_string:
        version = dialect.begin_string.value
        print(
            f"gateway sim fix: dialect {dialect.name} speaks {version}, not {args.begin_string}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    simulator = FixSimulator(
        host=host,
        port=port,
        dialect=dialect,
        sender_comp_id=args.sender,
        target_comp_ids=args.target,
        reference_prices=dict(args.reference_price),
        fill_ratio=args.fill_ratio,
        reject_symbols=args.reject_symbol,
        record_path=args.record,
        store_dir=args.store_dir,
        keep_messages=False,
    )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            simulator.start()
        except Exception as exc:  # quickfix raises its own RuntimeError/ConfigError types
            print(f"gateway sim fix: cannot start the acceptor on {host}:{port}: {exc}", file=sys.stderr)
            return 1
        sessions = f"{simulator.sender} -> {', '.join(simulator.targets)}"
        print(
            f"FIX simulator listening on {host}:{simulator.port} ({simulator.begin_string}, "
            f"dialect {dialect.name}, {sessions})",
            flush=True,
        )
        while not stop.wait(0.2):
            pass
        log.info("FIX simulator: stopping")
        simulator.close(graceful=True)
        if args.stats:
            print(json.dumps({"turnaround": simulator.turnaround_summary()}), flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
