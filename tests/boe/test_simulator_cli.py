"""``gateway sim boe`` as ops run it: flags, the listening line, clean exits, the record file."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from simulators.boe.exchange import read_records
from tests.boe.raw_client import RawClient
from tests.simulator_cli import SimulatorCli
from venues.boe.messages import OrderAcknowledgment, OrderExecution, OrderRejected

CLI = SimulatorCli("boe", "Cboe BOE v2 simulator")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fill-ratio", "2"], "argument --fill-ratio: expected a number between 0 and 1, got '2'"),
        (["--listen", "nowhere"], "argument --listen: expected HOST:PORT, got 'nowhere'"),
        (["--reference-price", "AAPL=1.23456"], "4 decimals at most"),
        (["--symbol-unit", "AAPL"], "argument --symbol-unit: expected SYMBOL=UNIT"),
        (["--units", "0"], "argument --units: expected a positive whole number"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
    ids=["fill-ratio", "listen", "reference-price", "symbol-unit", "units", "unknown"],
)
def test_cli_when_flag_is_bad_then_exit_2_with_argparse_message(args: list[str], message: str) -> None:
    result = CLI.run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "usage: gateway" in result.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [(["--username", "TOOLONG"], "username"), (["--units", "3", "--symbol-unit", "AAPL=4"], "unit 4")],
    ids=["username", "symbol-unit-out-of-range"],
)
def test_cli_when_configuration_invalid_then_exit_2(args: list[str], field: str) -> None:
    result = CLI.run(*args)
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert field in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_when_signalled_then_stops_cleanly_with_exit_0(signum: signal.Signals) -> None:
    process, port = CLI.start("--loop", "asyncio")
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    process.send_signal(signum)
    stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Cboe BOE v2 simulator stopped" in stdout


def test_cli_when_port_taken_then_exit_1_with_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CLI.run("--listen", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


async def test_cli_when_recording_then_another_process_sees_every_order_once(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    process, port = CLI.start(
        "--reference-price",
        "AAPL=150.25",
        "--symbol-unit",
        "AAPL=2",
        "--reject-symbol",
        "BAD",
        "--record",
        str(record),
        "--loop",
        "asyncio",
    )
    try:
        client = await RawClient.connect(port)
        await client.login_and_replay()
        await client.new_order("1", "AAPL", 100, 1_502_500)
        await client.new_order("2", "BAD", 100, 1_502_500)
        execution = await client.wait_for(lambda m: isinstance(m, OrderExecution))
        assert isinstance(execution, OrderExecution) and execution.matching_unit == 2
        assert isinstance(await client.wait_for(lambda m: isinstance(m, OrderRejected)), OrderRejected)
        assert not any(isinstance(m, OrderAcknowledgment) and m.cl_ord_id == "2" for m in client.received)
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
    records = read_records(record)
    assert [(r.type, r.sequence, r.cl_ord_id, r.symbol, r.qty, r.outcome) for r in records] == [
        ("New Order", 1, "1", "AAPL", 100, "acknowledged"),
        ("New Order", 2, "2", "BAD", 100, "rejected:Y"),
    ]
