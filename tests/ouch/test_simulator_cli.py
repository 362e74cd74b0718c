"""``gateway sim ouch`` as ops run it: flags, the listening line, clean exits, the record file."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest

from model.clock import monotonic_ns
from model.venue_events import VenueAccepted, VenueEvent, VenueState
from simulators.ouch.exchange import read_records
from tests.ouch.harness import make_order, venue_config
from tests.simulator_cli import SimulatorCli
from venues.connector import VenueConnector
from venues.ouch.adapter import OuchVenue
from venues.ouch.refstore import UserRefNumStore

CLI = SimulatorCli("ouch", "OUCH 5.0 simulator")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fill-ratio", "2"], "argument --fill-ratio: expected a number between 0 and 1, got '2'"),
        (["--listen", "nowhere"], "argument --listen: expected HOST:PORT, got 'nowhere'"),
        (["--reference-price", "AAPL"], "argument --reference-price: expected SYMBOL=PRICE"),
        (["--reference-price", "AAPL=1.23456"], "4 decimals at most"),
        (["--loop", "tokio"], "argument --loop: invalid choice: 'tokio'"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
    ids=["fill-ratio", "listen", "reference-price-form", "reference-price-decimals", "loop", "unknown"],
)
def test_cli_when_flag_is_bad_then_exit_2_with_argparse_message(args: list[str], message: str) -> None:
    result = CLI.run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "usage: gateway" in result.stderr


def test_cli_when_username_too_long_then_exit_2_with_configuration_error() -> None:
    result = CLI.run("--username", "TOOLONGNAME")
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert "username" in result.stderr


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_when_signalled_then_stops_cleanly_with_exit_0(loop: str, signum: signal.Signals) -> None:
    process, port = CLI.start("--loop", loop)
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    process.send_signal(signum)
    stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "OUCH 5.0 simulator stopped" in stdout


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
    process, port = CLI.start("--reference-price", "AAPL=150.25", "--record", str(record), "--loop", "asyncio")
    try:
        config = venue_config(tmp_path, port=port)
        venue = OuchVenue(config, monotonic_ns, store=UserRefNumStore(tmp_path, "x", today=lambda: "2024-05-01"))
        events: list[VenueEvent] = []
        venue.event_sink = events.append
        connector = VenueConnector(venue, "127.0.0.1", port, after_input=venue.flush)
        connector.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while venue.state is not VenueState.UP and loop.time() < deadline:
            await asyncio.sleep(0.005)
        for order_id in (1, 2, 3):
            venue.send_new(make_order(order_id))
        venue.flush()
        while sum(isinstance(e, VenueAccepted) for e in events) < 3 and loop.time() < deadline:
            await asyncio.sleep(0.005)
        await connector.stop()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
    records = read_records(record)
    assert [(r.type, r.user_ref_num, r.cl_ord_id, r.symbol, r.qty, r.outcome) for r in records] == [
        ("O", 1, "1", "AAPL", 100, "accepted"),
        ("O", 2, "2", "AAPL", 100, "accepted"),
        ("O", 3, "3", "AAPL", 100, "accepted"),
    ]
