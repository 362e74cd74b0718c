"""rev50ouch s13b/s13c: the Logout Request reaches the venue when the gateway stops, not only with its close.

The certification run saw the Logout arrive 1.13 s after SIGTERM, in the same read as the close: its venue ran
in the same event loop as the harness, which waited for the gateway's exit with a blocking ``Popen.wait`` and so
could not read (or close) until the gateway had given up waiting and exited. The gateway writes the Logout at once
(``OuchVenue.shutdown`` -> ``flush``). Here a venue that closes as soon as it reads ``00 01 4F`` runs in a loop of
its own thread: the gateway's stop sees the close, never logs ``no close after the logout``. The same run reads
the per-venue session counters through ``gateway metrics`` (the loop's snapshot and the admin socket's).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.admin import fetch_metrics
from gateway.app import GatewayProcess
from gateway.exporter import render
from model.venue_events import VenueState
from tests.e2e.support import e2e_limits, gateway_config, short_tmp
from venues.ouch.soupbin import LOGOUT_REQUEST_PACKET, SERVER_HEARTBEAT_PACKET, encode_login_accepted


class ThreadVenue:
    """A SoupBinTCP server on its own thread: Login Accepted, heartbeats; closes as soon as it reads a Logout."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = int(self.sock.getsockname()[1])
        self.logout_at = 0.0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(30)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(0.1)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:  # the Login Request
                try:
                    data += conn.recv(4096)
                except TimeoutError:
                    continue
            conn.sendall(encode_login_accepted("SESS01", 1))
            data = b""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    conn.sendall(SERVER_HEARTBEAT_PACKET)
                    continue
                if not chunk:
                    return
                data += chunk
                if LOGOUT_REQUEST_PACKET in data:  # client heartbeats are 00 01 52: no false match
                    self.logout_at = time.monotonic()
                    return  # closes at once, as the certification venue did

    def close(self) -> None:
        self.thread.join(10)
        self.sock.close()


async def test_stop_when_the_venue_closes_on_the_logout_then_the_logout_was_written_at_once_and_the_close_seen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    venue = ThreadVenue()
    workdir = short_tmp()
    process = GatewayProcess(gateway_config(workdir, venue.port, e2e_limits(workdir)))
    await process.start()
    try:
        for _ in range(200):
            if process.venues[0].state is VenueState.UP:
                break
            await asyncio.sleep(0.05)
        assert process.venues[0].state is VenueState.UP
        admin = process.config.path(process.config.admin_socket)
        for snapshot in (process.metrics(), await asyncio.to_thread(fetch_metrics, admin, 5.0)):
            samples = {
                (s.name, s.labels.get("venue")): s.value
                for family in text_string_to_metric_families(render(snapshot).decode())
                for s in family.samples
            }
            for name in ("sequence_gaps", "refetches_given_up", "protocol_errors", "decode_errors"):
                assert samples[(f"gateway_venue_{name}_total", "OUCH")] == 0.0, name
            assert samples[("gateway_venue_unsequenced_ignored_total", "OUCH")] == 0.0
            assert samples[("gateway_venue_debug_packets_total", "OUCH")] == 0.0
    finally:
        with caplog.at_level(logging.INFO, logger="gateway.app"):
            started = time.monotonic()
            await process.stop()
            stopped = time.monotonic()
        venue.close()
    assert venue.logout_at, "the venue never read the Logout Request"
    assert venue.logout_at - started < 0.9  # written at once, not with the close after the 1 s wait
    assert not [r for r in caplog.records if "no close after the logout" in r.getMessage()]
    assert stopped >= venue.logout_at
