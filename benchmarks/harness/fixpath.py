"""The FIX side of the benchmark: the quickfix-python initiator as a load generator, and the FIX acceptor.

Paths (same venue, FIX 4.4 ``broker-fix44`` dialect, orders rest, so each new order gets exactly
one ExecutionReport(New)). The venue is the benchmark's FIX venue (``simulators.fix.fast_venue``:
the project's own FIX session as acceptor, reports from templates); ``--fix-venue quickfix``
puts the QuickFIX acceptor (``gateway sim fix``, ~80 µs of Python callback per message) back:

* ``fix-floor``: the load generator sends pre-encoded NewOrderSingles (the gateway's templates)
  straight to the venue: what any initiator's round trip has to include;
* ``fix-quickfix``: a quickfix-python ``SocketInitiator`` (memory store, its best case) sends the
  NewOrderSingles itself; in ping-pong the next order is built and sent from ``fromApp`` on
  QuickFIX's own thread, the fastest way quickfix-python can be driven;
* ``fix-gw-kernel`` / ``fix-gw-spin``: the strategy load generator through the gateway, whose FIX
  venue (``venues.fix``) sends the same NewOrderSingle (same account, tags and values) to the
  same venue. Its figure includes the strategy hop the quickfix initiator does not have.

Timestamps: ``sent`` right before the NewOrderSingle is built; ``done`` on entry to ``fromApp``
(QuickFIX has parsed the report: what a strategy built on quickfix-python sees).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from benchmarks.harness.plan import QTY, SYMBOL, Action, Plan, price_of, side_of
from benchmarks.harness.wires import ACCEPTED, REJECTED, SKIPPED, Results

OURS: Final = "GATEWAY"
"""SenderCompID of the gateway's FIX session."""
THEIRS: Final = "QFCLIENT"
"""SenderCompID of the quickfix-python initiator."""
VENUE_COMP_ID: Final = "BRKR"
DIALECT: Final = "broker-fix44"
VENUE_NAME: Final = "FIXV"
"""The FIX venue's name in the gateway config (what strategies put in NewOrder.venue)."""
ACCOUNT: Final = "ACC1"
"""Gateway account of FIX orders (the dialect maps it to the broker account below)."""
BROKER_ACCOUNT: Final = "BRK-0001"
PRICE_SCALE: Final = 10_000


def simulator_args(python: str) -> list[str]:
    """Return the command line of the FIX acceptor (any free port; it prints the port it took)."""
    return [
        python,
        "-m",
        "gateway",
        "--log-level",
        "WARNING",
        "sim",
        "fix",
        "--listen",
        "127.0.0.1:0",
        "--begin-string",
        "FIX.4.4",
        "--target",
        OURS,
        "--target",
        THEIRS,
        "--stats",
    ]


def listening_port(log_text: str) -> int | None:
    """Return the port from the acceptor's "listening on HOST:PORT" line, if it has printed it."""
    for line in log_text.splitlines():
        if "listening on" in line:
            address = line.split("listening on", 1)[1].split()[0]
            return int(address.rsplit(":", 1)[1])
    return None


def venue_config(port: int) -> dict[str, Any]:
    """Return the gateway's FIX venue section for the acceptor on ``port``."""
    return {
        "protocol": "fix",
        "name": VENUE_NAME,
        "host": "127.0.0.1",
        "port": port,
        "dialect": DIALECT,
        "sender_comp_id": OURS,
        "store_dir": "fix",
        "fsync": "interval",
        "heartbeat_interval_s": 30,
    }


def initiator_application(
    quickfix: Any, on_logon: Callable[[], None], on_report: Callable[[Any], None], on_error: Callable[[], None]
) -> Any:
    """Return a ``quickfix.Application`` for a benchmark initiator.

    Logon and every application message (``fromApp``) go to the callbacks; nothing may escape
    into QuickFIX's C++ thread, so an exception from ``on_report`` calls ``on_error`` instead.
    """

    class Application(quickfix.Application):  # type: ignore[misc]
        def onCreate(self, session_id: Any) -> None:  # noqa: N802
            return None

        def onLogon(self, session_id: Any) -> None:  # noqa: N802
            on_logon()

        def onLogout(self, session_id: Any) -> None:  # noqa: N802
            return None

        def toAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
            return None

        def fromAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
            return None

        def toApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
            return None

        def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
            try:
                on_report(message)
            except BaseException:  # nothing may escape into QuickFIX's thread
                on_error()

    return Application()


class QuickfixLoad:
    """A quickfix-python initiator that runs plan actions (new orders only) and records the reports."""

    def __init__(self, port: int, workdir: Path, prefix: str, results: Results) -> None:
        import quickfix  # noqa: PLC0415 - the fix extra

        from venues.fix.dialect import load_dialect  # noqa: PLC0415
        from venues.fix.dictionary import dictionary_path  # noqa: PLC0415

        self.fix: Any = quickfix
        self.prefix = prefix
        self.results = results
        workdir.mkdir(parents=True, exist_ok=True)
        settings = workdir / "initiator.cfg"
        settings.write_text(
            "\n".join(
                [
                    "[DEFAULT]",
                    "ConnectionType=initiator",
                    "StartTime=00:00:00",
                    "EndTime=00:00:00",
                    "UseDataDictionary=Y",
                    f"DataDictionary={dictionary_path(load_dialect(DIALECT), workdir)}",
                    "SocketConnectHost=127.0.0.1",
                    f"SocketConnectPort={port}",
                    "HeartBtInt=30",
                    "ReconnectInterval=1",
                    "SocketNodelay=Y",
                    "[SESSION]",
                    "BeginString=FIX.4.4",
                    f"SenderCompID={THEIRS}",
                    f"TargetCompID={VENUE_COMP_ID}",
                ]
            )
            + "\n"
        )
        self.session_id = quickfix.SessionID("FIX.4.4", THEIRS, VENUE_COMP_ID)
        self.logged_on = threading.Event()
        self.finished = threading.Event()
        self.errors = 0
        self.answered = 0
        self.target = 0
        self.chain_next = -1
        """Closed loop: index of the next action to send from ``fromApp`` (-1: open loop)."""
        self.chain_stop = 0
        self.last_event_ns = 0
        load = self

        def failed() -> None:
            load.errors += 1
            load.finished.set()

        self.application = initiator_application(quickfix, load.logged_on.set, load.on_report, failed)
        self.initiator = quickfix.SocketInitiator(
            self.application,
            quickfix.MemoryStoreFactory(),
            quickfix.SessionSettings(str(settings)),
            quickfix.ScreenLogFactory(False, False, False),
        )

    def start(self, timeout_s: float = 15.0) -> None:
        """Start the initiator and wait for the logon."""
        self.initiator.start()
        if not self.logged_on.wait(timeout_s):
            raise ConnectionError("the quickfix initiator did not log on")

    def stop(self) -> None:
        """Log out and stop the initiator."""
        self.initiator.stop()

    def send(self, index: int) -> None:
        """Build and send the NewOrderSingle of action ``index`` (what a quickfix-python strategy does)."""
        fix = self.fix
        now = time.monotonic_ns()
        self.results.sent[index] = now
        message = fix.Message()
        message.getHeader().setField(fix.MsgType("D"))
        message.setField(fix.ClOrdID(f"{self.prefix}{index}"))
        message.setField(fix.Account(BROKER_ACCOUNT))
        message.setField(fix.HandlInst("1"))
        message.setField(fix.ExDestination("SMART"))
        message.setField(fix.Symbol(SYMBOL))
        message.setField(fix.Side(fix.Side_BUY if side_of(index) == "B" else fix.Side_SELL))
        message.setField(fix.OrderQty(QTY))
        message.setField(fix.OrdType(fix.OrdType_LIMIT))
        message.setField(fix.Price(price_of(index) / PRICE_SCALE))
        message.setField(fix.TimeInForce(fix.TimeInForce_DAY))
        message.setField(fix.TransactTime())
        message.setField(528, "A")
        message.setField(9101, "DMA")
        message.setField(9102, "bench")
        fix.Session.sendToTarget(message, self.session_id)

    def on_report(self, message: Any) -> None:
        """Record the first report of each order; in ping-pong send the next order from here."""
        now = time.monotonic_ns()
        exec_type = message.getField(150)
        cl_ord_id = message.getField(11)
        if not cl_ord_id.startswith(self.prefix):
            return
        index = int(cl_ord_id[len(self.prefix) :])
        results = self.results
        if results.done[index]:
            return
        results.done[index] = now
        results.outcome[index] = REJECTED if exec_type == "8" else ACCEPTED
        order_id = message.getField(37)
        if order_id.isdigit():  # the fast FIX venue's OrderIDs: the one-way join key
            results.venue_id[index] = int(order_id)
        self.last_event_ns = now
        self.answered += 1
        if 0 <= self.chain_next < self.chain_stop:
            following = self.chain_next
            self.chain_next += 1
            self.send(following)
            results.intended[following] = results.sent[following]
        if self.answered >= self.target:
            self.finished.set()


def run_quickfix_phase(
    load: QuickfixLoad, plan: Plan, start: int, stop: int, *, closed_loop: bool, answer_timeout_s: float
) -> tuple[int, int]:
    """Run actions ``start..stop`` (new orders; anything else is skipped); return (phase start, last answer)."""
    results = load.results
    wanted = [i for i in range(start, stop) if plan.kinds[i] == Action.NEW]
    for i in range(start, stop):
        if plan.kinds[i] != Action.NEW:
            results.outcome[i] = SKIPPED
    load.answered = 0
    load.target = len(wanted)
    load.finished.clear()
    t0 = time.monotonic_ns()
    load.last_event_ns = t0
    if not wanted:
        return t0, t0
    if closed_loop:
        # every action of a ping-pong plan is a new order: chain them through fromApp
        load.chain_next = start + 1
        load.chain_stop = stop
        results.intended[start] = t0
        load.send(start)
        results.intended[start] = results.sent[start]
    else:
        load.chain_next = -1
        offsets = plan.offsets_ns
        for i in wanted:
            due = t0 + offsets[i]
            delay = due - time.monotonic_ns()
            if delay > 0:
                time.sleep(delay / 1e9)
            results.intended[i] = due
            load.send(i)
    load.finished.wait(answer_timeout_s + 5)
    load.chain_next = -1
    return t0, load.last_event_ns
