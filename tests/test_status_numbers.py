"""Status sections sent as their numbers, worded by the reader: none built per ``status`` request (stop 62, stat62b).

Issue 13 asks for at most 100 us of event-loop time per ``status`` request. Five providers' values change per order
or per request (the released-id table, the admin connections open, the Hellos pending) or at events of owners that
the compiled engine or a replay thread updates (journal look-ups, replays), so they cannot be published when they
change without work per order; building their sections cost each request a dict, a nested dict and every key's text
(stop 60's breakdown: 3-6 us each). They now give a tagged tuple of their numbers (``gateway.status_numbers``),
worded into the same sections in the reading process. The ops sections' fixed part is rebuilt only when a venue
socket connects (the registry says so), no longer checked against seven objects per request.

A real gateway and OUCH simulator on loopback; the snapshot writer called on the loop as the admin server calls it,
and ``gateway status``'s own reader over the admin socket.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import gateway.app as app_module
from gateway.admin import fetch_status
from gateway.app import GatewayProcess
from gateway.ops.config import GcConfig, SpinConfig
from gateway.ops.runtime import LoopImpl, OpsRuntime
from gateway.ops.sockets import SocketAcceleration
from gateway.replay import JournalRead, ReplayJob
from gateway.snapshot import STATUS, decode_snapshot, status_document
from gateway.status_numbers import SECTIONS, word_numbers
from tests.e2e.support import running_gateway, short_tmp, wait_for

SECTION_BUILDERS = ("_journal_lookup_status", "_descriptor_status", "_admin_connection_status", "_memory_status")
"""The ``GatewayProcess`` methods that build a section's dict (for its own document, not for the snapshot)."""


def _snapshot_document(process: Any) -> dict[str, Any]:
    """Write a status snapshot as the admin server does (on the loop, nothing else in between) and assemble it."""
    writer = process._snapshot
    assert writer is not None
    frame = bytearray()
    at, spliced = writer.write_spliced(frame, 0, STATUS)
    return status_document(decode_snapshot(bytes(frame[:at]) + b"".join(spliced) + bytes(frame[at:])))


def _counted(calls: dict[str, int], name: str, build: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def counted(*args: Any) -> dict[str, Any]:
        calls[name] += 1
        return build(*args)

    return counted


async def _fetch(process: GatewayProcess) -> dict[str, Any]:
    """``gateway status``'s own request and reader, from a thread (the loop keeps running)."""
    admin = process.config.path(process.config.admin_socket)
    return await asyncio.get_running_loop().run_in_executor(None, fetch_status, admin)


def test_word_numbers_when_a_tagged_tuple_then_the_section_in_its_key_order() -> None:
    raw = ("descriptors", 12, 40, 1024, 1, 64)
    sent = msgspec.msgpack.decode(msgspec.msgpack.encode(raw))  # what the snapshot's reader gets: a list
    assert list(word_numbers(sent)["descriptors"].items()) == list(zip(SECTIONS["descriptors"], raw[1:], strict=True))
    assert word_numbers(["memory", 8, 1, 16, 128, 0]) == {
        "memory": {"released_ids": {"capacity": 8, "used": 1, "slots": 16, "bytes": 128, "grown": 0}}
    }
    assert word_numbers({}) == {}  # a provider without its section (no engine yet)
    with pytest.raises(ValueError, match="run the gateway's version"):
        word_numbers(["descriptors", 1, 2])


async def test_status_snapshot_when_requested_three_times_then_no_section_dict_built_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On main each request built the five sections' dicts (3 builds each here); now none, and the document is the
    gateway's own, in the same key order."""
    calls = dict.fromkeys((*SECTION_BUILDERS, "_replay_status"), 0)
    for name in SECTION_BUILDERS:
        monkeypatch.setattr(GatewayProcess, name, _counted(calls, name, getattr(GatewayProcess, name)))
    monkeypatch.setattr(app_module, "_replay_status", _counted(calls, "_replay_status", app_module._replay_status))
    async with running_gateway(short_tmp()) as (process, _sim):
        process.add_memory_providers()  # as ``gateway run`` does
        for _ in range(3):
            document = _snapshot_document(process)
        assert calls == dict.fromkeys(calls, 0), calls
        own = process.status()  # the document path still builds them (JSON, socat)
        assert calls == dict.fromkeys(calls, 1), calls
    for section in ("journal_lookups", "journal_replays", "descriptors", "admin_connections", "memory"):
        assert section in document
        assert list(document[section].items()) == list(own[section].items()), section
    assert document["memory"]["released_ids"] == own["memory"]["released_ids"]
    assert [key for key in document if key in own] == [key for key in own if key in document]  # same order


async def test_status_when_each_section_changes_then_the_next_gateway_status_shows_it() -> None:
    """Numbers read per request: a change in any of them is in the next ``gateway status``, nothing to publish."""
    async with running_gateway(short_tmp()) as (process, _sim):
        process.add_memory_providers()
        engine = process.engine
        assert engine is not None
        before = await _fetch(process)
        assert before["admin_connections"]["open"] == 1  # this request's own connection
        assert before["descriptors"]["pending_hello"] == 0
        assert before["journal_replays"]["started"] == before["journal_replays"]["cancelled"] == 0

        # a strategy connection without its Hello yet, an admin connection held open
        strategy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        admin = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        backlog, connections = process._hello_backlog, process._admin_connections
        assert backlog is not None and connections is not None
        try:
            strategy.connect(str(process.config.path(process.config.strategy_socket)))
            admin.connect(str(process.config.path(process.config.admin_socket)))
            await wait_for(lambda: backlog.waiting == 1 and connections.open == 1, what="both connections held")
            # a journal replay queued and cancelled (its connection closed), by the runner's own calls
            runner = engine.replay_reader.runner  # type: ignore[union-attr]

            def open_job() -> ReplayJob:
                raise AssertionError("never opened: cancelled first")

            read = JournalRead("S1", open_job, lambda _result: None)
            runner.submit(read)
            runner.cancel(read, close_now=True)
            engine.released_ids.add_key(0x5EED)  # an order's id released from memory
            used = engine.released_ids.count
            engine.ref_lookups += 1  # the engine looked a venue reference up in the journal
            after = await _fetch(process)
        finally:
            strategy.close()
            admin.close()
        assert after["admin_connections"]["open"] == 2
        assert after["descriptors"]["pending_hello"] == 1
        assert after["descriptors"]["open"] == process.status()["descriptors"]["open"]
        assert after["journal_replays"] == {**before["journal_replays"], "started": 1, "cancelled": 1}
        assert after["memory"]["released_ids"]["used"] == used == before["memory"]["released_ids"]["used"] + 1
        assert after["journal_lookups"]["ref_lookups"] == before["journal_lookups"]["ref_lookups"] + 1
        await wait_for(lambda: backlog.waiting == 0 and connections.open == 0, what="both connections gone")
        again = await _fetch(process)
        assert again["admin_connections"]["open"] == 1 and again["descriptors"]["pending_hello"] == 0


def test_ops_status_when_a_venue_socket_connects_then_its_fixed_sections_built_again_once() -> None:
    """The acceleration/io_uring/tuning sections: built at the first request, then only after a venue socket
    connected (the registry tells the runtime), not checked against their seven objects per request."""
    ops = OpsRuntime.prepare(SpinConfig(gc=GcConfig(quiet_period_ms=0)), loop_impl=LoopImpl.ASYNCIO, environ={})
    try:
        built = {"count": 0}
        fixed_status = ops._fixed_status

        def counted() -> dict[str, Any]:
            built["count"] += 1
            return fixed_status()

        ops._fixed_status = counted  # type: ignore[method-assign]
        first = [ops.status_parts()[0] for _ in range(3)]
        assert built["count"] == 1 and first[0] is first[1] is first[2]  # one object: the snapshot encodes it once
        assert first[0]["acceleration"]["connections_seen"] == 0
        ops.registry.record(
            SocketAcceleration("OUCH", 7, "127.0.0.1:1", "127.0.0.1:2", "kernel", "no Onload", 0, "", True, 0, (), 1)
        )
        again = [ops.status_parts()[0] for _ in range(3)]
        assert built["count"] == 2 and again[0] is again[2] is not first[0]
        assert again[0]["acceleration"]["connections_seen"] == 1
        assert again[0]["acceleration"]["verdict"] == ops.status()["acceleration"]["verdict"]
    finally:
        ops.close()
