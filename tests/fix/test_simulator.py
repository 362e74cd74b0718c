"""The FIX venue simulator: its order book, and ``gateway sim fix`` as ops run it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulators.fix.sim_book import SimBook
from venues.fix import fields as f
from venues.fix.codec import FixMessage, FrameDecoder, build_message
from venues.fix.dialect import load_dialect
from venues.fix.fields import MsgType

GATEWAY = [sys.executable, "-m", "gateway"]


def _book(dialect: str = "equities-fix42", **kw: object) -> SimBook:
    return SimBook(load_dialect(dialect), reference_prices={"AAPL": 1_500_000}, **kw)  # type: ignore[arg-type]


def _new(
    cl: bytes, symbol: bytes = b"AAPL", side: bytes = b"1", qty: bytes = b"100", px: bytes = b"150.25"
) -> dict[bytes, bytes]:
    return {f.CL_ORD_ID: cl, f.SYMBOL: symbol, f.SIDE: side, f.ORDER_QTY: qty, f.ORD_TYPE: b"2", f.PRICE: px}


def _summary(reports: list[tuple[bytes, list[tuple[bytes, bytes]]]]) -> list[tuple[bytes, ...]]:
    out: list[tuple[bytes, ...]] = []
    for msg_type, body in reports:
        fields = dict(body)
        out.append(
            (
                msg_type,
                fields.get(f.EXEC_TYPE, b""),
                fields.get(f.LEAVES_QTY, b""),
                fields.get(f.LAST_QTY, b""),
            )
        )
    return out


# ---- the book ---------------------------------------------------------------------------------


def test_book_when_buy_at_or_above_reference_then_accepted_and_filled_at_reference() -> None:
    book = _book()
    reports = book.on_new("s", _new(b"Q1"))
    assert _summary(reports) == [(b"8", b"0", b"100", b""), (b"8", b"2", b"0", b"100")]
    fill = dict(reports[1][1])
    assert (fill[f.LAST_PX], fill[f.AVG_PX], fill[b"9730"]) == (b"150", b"150", b"R")


def test_book_when_fix44_and_partial_ratio_then_trade_exec_type_and_rest_open() -> None:
    book = _book("broker-fix44", fill_ratio=0.25)
    reports = book.on_new("s", {**_new(b"B1"), b"9102": b"strat1"})
    assert _summary(reports) == [(b"8", b"0", b"100", b""), (b"8", b"F", b"75", b"25")]
    assert dict(reports[1][1])[b"9102"] == b"strat1"  # echoed
    assert dict(reports[1][1])[b"851"] == b"2"


def test_book_when_not_marketable_then_rests_and_cancel_cancels_it() -> None:
    book = _book()
    book.on_new("s", _new(b"Q1", px=b"149"))
    reports = book.on_cancel("s", {f.CL_ORD_ID: b"Q1-3", f.ORIG_CL_ORD_ID: b"Q1"})
    assert _summary(reports) == [(b"8", b"4", b"0", b"")]
    assert dict(reports[0][1])[f.ORIG_CL_ORD_ID] == b"Q1"


def test_book_when_replace_makes_order_marketable_then_replaced_then_filled() -> None:
    book = _book()
    book.on_new("s", _new(b"Q1", px=b"149"))
    replace = {**_new(b"Q1-4", qty=b"300", px=b"151"), f.ORIG_CL_ORD_ID: b"Q1"}
    assert _summary(book.on_replace("s", replace)) == [(b"8", b"5", b"300", b""), (b"8", b"2", b"0", b"300")]


def test_book_when_cancel_or_replace_unknown_order_then_cancel_reject() -> None:
    book = _book()
    (cancel_reject,) = book.on_cancel("s", {f.CL_ORD_ID: b"Q9-2", f.ORIG_CL_ORD_ID: b"Q9"})
    (replace_reject,) = book.on_replace("s", {**_new(b"Q9-3"), f.ORIG_CL_ORD_ID: b"Q9"})
    assert [(m, dict(b)[f.CXL_REJ_RESPONSE_TO]) for m, b in (cancel_reject, replace_reject)] == [
        (MsgType.ORDER_CANCEL_REJECT, b"1"),
        (MsgType.ORDER_CANCEL_REJECT, b"2"),
    ]


def test_book_when_reject_symbol_duplicate_or_market_without_reference_then_rejected() -> None:
    book = _book(reject_symbols=frozenset({"BAD"}))
    (bad,) = book.on_new("s", _new(b"Q1", symbol=b"BAD"))
    book.on_new("s", _new(b"Q2", px=b"1"))
    (duplicate,) = book.on_new("s", _new(b"Q2", px=b"1"))
    (market,) = book.on_new("s", {**_new(b"Q3", symbol=b"MSFT"), f.ORD_TYPE: b"1"})
    reasons = [dict(r[1])[f.ORD_REJ_REASON] for r in (bad, duplicate, market)]
    assert reasons == [b"1", b"6", b"0"]
    assert book.on_new("s", _new(b"Q2", px=b"1"), poss_dup=True) == []  # a replay is not a duplicate order


# ---- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nowhere"], "expected HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "expected HOST:PORT"),
        (["--listen", "127.0.0.1:0", "--fill-ratio", "2"], "fill ratio must be between 0 and 1"),
        (["--listen", "127.0.0.1:0", "--reference-price", "AAPL=abc"], "bad price"),
        (["--listen", "127.0.0.1:0", "--begin-string", "FIX.5.0"], "invalid choice"),
        (["--listen", "127.0.0.1:0", "--dialect", "nope"], "unknown dialect 'nope'"),
        (
            ["--listen", "127.0.0.1:0", "--begin-string", "FIX.4.4", "--dialect", "equities-fix42"],
            "speaks FIX.4.2",
        ),
    ],
)
def test_cli_when_bad_flag_then_exit_2_with_reason(args: list[str], message: str) -> None:
    result = subprocess.run([*GATEWAY, "sim", "fix", *args], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert message in result.stderr


def _read_line(stream: object, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline and not line:
        line = stream.readline()  # type: ignore[attr-defined]
    return str(line)


def test_cli_when_started_then_listening_line_accepts_logon_records_and_sigterm_exits_0(
    tmp_path: Path,
) -> None:
    pytest.importorskip("quickfix")
    record = tmp_path / "sim.jsonl"
    proc = subprocess.Popen(
        [
            *GATEWAY,
            "sim",
            "fix",
            "--listen",
            "127.0.0.1:0",
            "--begin-string",
            "FIX.4.4",
            "--target",
            "GW1",
            "--reference-price",
            "AAPL=150.00",
            "--record",
            str(record),
            "--stats",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = _read_line(proc.stdout)
        assert line.startswith("FIX simulator listening on 127.0.0.1:")
        assert "FIX.4.4, dialect broker-fix44, BRKR -> GW1" in line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        logon = build_message(
            b"FIX.4.4",
            b"A",
            sender=b"GW1",
            target=b"BRKR",
            seq=1,
            sending_time=time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()).encode(),
            body_fields=[(b"98", b"0"), (b"108", b"30")],
        )
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(logon)
            decoder = FrameDecoder()
            replies: list[FixMessage] = []
            deadline = time.monotonic() + 15
            while not replies and time.monotonic() < deadline:
                replies = [m for m in decoder.feed(sock.recv(4096)) if isinstance(m, FixMessage)]
        assert replies[0].msg_type == MsgType.LOGON
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == {"turnaround": {}}
        lines = [json.loads(x) for x in record.read_text().splitlines()]
        assert [(x["dir"], x["raw"].split("|")[2]) for x in lines[:2]] == [("in", "35=A"), ("out", "35=A")]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


# ---- the acceptor's port ----------------------------------------------------------------------


def test_simulator_when_picked_acceptor_port_is_taken_then_another_is_picked_and_relay_follows(
    tmp_path: Path,
) -> None:
    """A port free_port() picked can be taken before QuickFIX binds it (CI saw EADDRINUSE)."""
    pytest.importorskip("quickfix")
    from simulators.fix.simulator import FixSimulator  # needs quickfix

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        sim = FixSimulator(raw_channel=True, work_dir=str(tmp_path / "sim"))
        sim.acceptor_port = taken_port  # as if another socket won the race for the picked port
        sim.start()
        try:
            assert sim.acceptor_port != taken_port
            assert sim.relay is not None
            assert sim.relay.upstream_port == sim.acceptor_port
            with socket.create_connection(("127.0.0.1", sim.acceptor_port), timeout=2):
                pass  # QuickFIX listens on the port the relay forwards to
        finally:
            sim.stop(graceful=False)


def test_simulator_when_requested_port_is_taken_then_start_fails_naming_it(tmp_path: Path) -> None:
    """A port the caller asked for is never silently swapped for another."""
    quickfix = pytest.importorskip("quickfix")
    from simulators.fix.simulator import FixSimulator  # needs quickfix

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        sim = FixSimulator(port=taken_port, work_dir=str(tmp_path / "sim"))
        with pytest.raises(quickfix.RuntimeError, match=str(taken_port)):
            sim.start()
        assert sim.acceptor_port == taken_port
