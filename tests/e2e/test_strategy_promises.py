"""Promises to strategies (issue 16), end to end with a raw client built from docs/strategy-protocol.md.

A real gateway (``GatewayProcess``) and the real OUCH simulator over loopback TCP; the strategy
side is ``tests/rawclient.py``, which knows only the doc's byte layouts, over the real Unix
socket. Messages are lists ``[tag, field, ...]`` in the doc's field order.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.app import GatewayProcess
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import e2e_limits, running_gateway, short_tmp, wait_for
from tests.rawclient import (
    CANCEL,
    CANCELED,
    ERROR,
    HELLO,
    MASS_CANCEL,
    MASS_CANCEL_ACK,
    MASS_CANCEL_REJECTED,
    NEW_ORDER,
    ORDER_ACCEPTED,
    ORDER_REJECTED,
    VENUE_STATUS,
    WELCOME,
    RawClient,
    RawStr,
    frame,
    order_events,
    pack,
    raw_frame,
)

REFS = {"AAPL": 2_301_000, "MSFT": 4_205_500}
RESTING = 2_290_000  # 229.00: rests on the simulator's book
IOC_AWAY = 2_280_000  # an IOC that cannot fill: accepted, then canceled


def _sock(process: GatewayProcess) -> str:
    return str(process.config.path(process.config.strategy_socket))


def _exchange() -> ExchangeConfig:
    return ExchangeConfig(reference_prices=REFS)


def _order(cl_ord_id: str, price: int = RESTING, *, tif: str = "0", qty: int = 100) -> bytes:
    return frame(NEW_ORDER, cl_ord_id, "ACC1", "OUCH", "AAPL", "B", qty, price, tif, "2", 0)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _connect(process: GatewayProcess) -> RawClient:
    return await RawClient(_sock(process)).connect()


async def _login(process: GatewayProcess, strategy_id: str, version: int = 2) -> RawClient:
    """Connect, Hello, Welcome, and the one venue's VenueStatus that follows it."""
    client = await _connect(process)
    welcome = await client.hello(strategy_id, version)
    assert welcome[1] == version
    (status,) = await client.read(1)
    assert status[:3] == [VENUE_STATUS, "OUCH", "UP"]
    return client


# ---- item 1: deadlines ---------------------------------------------------------------------------


async def _drip(client: RawClient, data: bytes, interval_s: float, until_s: float) -> list[list[Any]]:
    """Send ``data`` one byte every ``interval_s`` until the gateway closes (or ``until_s`` passes)."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + until_s
    for byte in data:
        try:
            await client.send(bytes([byte]))
        except OSError:
            break
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(client.sock, 4096), interval_s)
        except TimeoutError:
            continue
        except ConnectionResetError:
            chunk = b""
        client.buffer += chunk
        if not chunk:
            client.closed = True
            break
        if time.monotonic() > deadline:
            break
    return await client.read_until_closed(15)


def _all_accepted(engine: Any, count: int) -> Callable[[], bool]:
    return lambda: len(engine._links) == count


@pytest.mark.slow
async def test_drip_when_1000_connections_send_a_byte_at_a_time_then_each_closed_by_frame_timeout_and_fds_freed() -> (
    None
):
    # 1000 connections wait for their Hello: above the default bound (strategy_max_pending_hello 64, which would
    # close the oldest TOO_MANY_CONNECTIONS: tests/e2e/test_hello_backlog.py); this test is about the frame deadline
    async with running_gateway(short_tmp(), exchange=_exchange(), strategy_max_pending_hello=1000) as (process, _sim):
        engine = process.engine
        assert engine is not None
        before = _open_fds()
        clients = []
        for _ in range(20):  # in batches: the listen backlog is 100
            clients += [await _connect(process) for _ in range(50)]
            await wait_for(_all_accepted(engine, len(clients)), what="the gateway to accept them")
        started = time.monotonic()
        hello = frame(HELLO, "S1" * 16, 2, 0, 1000)  # 43 bytes: never complete at one byte per 200 ms
        results = await asyncio.gather(*(_drip(c, hello, 0.2, 5.0) for c in clients))
        elapsed = time.monotonic() - started
        for messages in results:
            assert messages == [[ERROR, "FRAME_TIMEOUT", messages[0][2], True]], messages
            assert "a frame must be complete within 1000 ms" in messages[0][2]
        # 1 s frame timeout (+ the 100 ms poll); the code above already tells it from the 3 s Hello deadline. The
        # upper bound is the drip's own end: a gateway that never timed the frame out would reach it.
        assert 0.9 < elapsed < 5.0, elapsed
        for client in clients:
            client.close()
        await wait_for(lambda: not engine._links, what="the gateway to forget every connection")
        await wait_for(lambda: _open_fds() <= before + 5, what="the descriptors to be freed")


async def test_hello_deadline_when_bytes_keep_coming_then_absolute_3_s_from_connecting() -> None:
    workdir = short_tmp()
    async with running_gateway(workdir, exchange=_exchange(), strategy_frame_timeout_ms=60_000) as (process, _sim):
        clients = [await _connect(process) for _ in range(20)]
        started = time.monotonic()
        hello = frame(HELLO, "S1" * 16, 2, 0, 1000)
        results = await asyncio.gather(*(_drip(c, hello, 0.1, 6.0) for c in clients))
        elapsed = time.monotonic() - started
        for messages in results:
            assert [(m[0], m[1], m[3]) for m in messages] == [(ERROR, "HELLO_TIMEOUT", True)], messages
            assert "no Hello within 3000 ms of connecting" in messages[0][2]
        # Absolute from connecting: a deadline pushed back by each byte would not fire before the drip's end (6 s).
        assert 2.9 < elapsed < 6.0, elapsed
        for client in clients:
            client.close()


async def test_frame_timeout_when_half_a_frame_sent_after_hello_then_fatal_and_other_strategy_unaffected() -> None:
    async with running_gateway(short_tmp(), exchange=_exchange()) as (process, _sim):
        slow = await _login(process, "S1")
        good = await _login(process, "S2")
        await slow.send(_order("HALF")[:20])
        started = time.monotonic()
        messages = await slow.read_until_closed(15)
        assert [(m[0], m[1], m[3]) for m in messages if m[0] == ERROR] == [(ERROR, "FRAME_TIMEOUT", True)]
        assert time.monotonic() - started > 0.9  # not before the 1 s frame timeout (the read ends only on the close)
        await good.send(frame(NEW_ORDER, "G1", "ACC2", "OUCH", "AAPL", "B", 100, RESTING))
        (accepted,) = order_events(await good.read(1))
        assert accepted[0] == ORDER_ACCEPTED and accepted[2] == "G1"
        slow.close()
        good.close()


# ---- item 2: every request answered, even when the error budget closes the session ---------------


async def test_150_invalid_orders_in_one_write_when_budget_runs_out_then_all_answered_then_fatal_and_replayed() -> None:
    async with running_gateway(short_tmp(), exchange=_exchange()) as (process, sim):
        other = await _login(process, "S2")
        client = await _login(process, "S1")
        bad = b"".join(
            frame(NEW_ORDER, f"BAD{i}", "ACC1", "OUCH", "AAPL", "B", -5, RESTING) for i in range(150)
        )  # qty -5 breaks a field rule
        await client.send(bad + _order("GOOD1") + frame(CANCEL, "NOPE1", 0))
        messages = await client.read_until_closed()
        events = order_events(messages)
        assert [e[2] for e in events] == [f"BAD{i}" for i in range(150)] + ["GOOD1", "NOPE1"]
        assert [e[4] for e in events] == ["INVALID_FIELD"] * 101 + ["TOO_MANY_ERRORS"] * 50 + ["UNKNOWN_ORDER"]
        assert [e[1] for e in events] == list(range(1, 153))
        assert "`qty`" in events[0][5]
        last = messages[-1]
        assert last[:2] == [ERROR, "TOO_MANY_ERRORS"] and last[3] is True
        assert sim.exchange.records == []  # GOOD1 was refused, not sent

        # The other strategy never noticed.
        await other.send(frame(NEW_ORDER, "O1", "ACC2", "OUCH", "AAPL", "B", 100, RESTING))
        (accepted,) = order_events(await other.read(1))
        assert accepted[:3] == [ORDER_ACCEPTED, 1, "O1"]

        # Everything is in the replay log.
        again = await _connect(process)
        welcome = await again.hello("S1", last_seq=0)
        assert welcome[3:] == [153, 10_000, 152]  # next_seq, heartbeat_ms, replayed
        replay = order_events(await again.read(152))
        assert replay == events
        for raw in (client, other, again):
            raw.close()


# ---- item 3: invalid UTF-8 is answered by cl_ord_id ------------------------------------------------


async def test_new_order_when_a_field_is_not_utf8_then_order_rejected_for_its_cl_ord_id() -> None:
    async with running_gateway(short_tmp(), exchange=_exchange()) as (process, _sim):
        client = await _login(process, "S1")
        fields = ["U1", "ACC1", "OUCH", RawStr(b"\xff\xfeAPL"), "B", 100, RESTING]
        await client.send(raw_frame(pack([NEW_ORDER, *fields])))
        await client.send(_order("U2"))
        rejected, accepted = order_events(await client.read(2))
        assert rejected[:5] == [ORDER_REJECTED, 1, "U1", "GATEWAY", "INVALID_FIELD"]
        assert "`symbol` is not valid UTF-8" in rejected[5]
        assert accepted[:3] == [ORDER_ACCEPTED, 2, "U2"]
        client.close()


# ---- item 4: slow consumers are told ------------------------------------------------------------------


def _fast_limits(directory: Path) -> Path:
    path = e2e_limits(directory)
    doc = yaml.safe_load(path.read_text())
    doc["accounts"]["ACC1"]["orders_per_s"] = {"per_account": 100_000, "per_symbol": 100_000}
    doc["strategies"]["S1"]["orders_per_s"] = {"per_strategy": 100_000}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.slow
async def test_slow_consumer_when_cut_off_then_error_behind_its_backlog_and_everything_replayed() -> None:
    workdir = short_tmp()
    async with running_gateway(
        workdir, _fast_limits(workdir), exchange=_exchange(), max_strategy_write_buffer=16 * 1024
    ) as (process, _sim):
        assert process.engine is not None
        engine = process.engine
        slow = await _connect(process)
        orders = b"".join(_order(f"Q{i}", IOC_AWAY, tif="3", qty=1 + i % 50) for i in range(4000))
        await slow.send(frame(HELLO, "S1", 2, 0, 60_000) + orders)  # and never reads
        await wait_for(lambda: engine.counters.strategy_disconnects >= 1, timeout_s=20, what="the cut-off")
        assert engine.strategies["S1"].link is None  # detached at once: it may reconnect right away
        messages = await slow.read_until_closed(15)  # it reads within the linger: backlog, then the Error
        last = messages[-1]
        assert last[:2] == [ERROR, "SLOW_CONSUMER"] and last[3] is True and "reconnect with last_seq" in last[2]
        seen = order_events(messages)
        assert [e[1] for e in seen] == list(range(1, len(seen) + 1))
        # the orders read before the cut, in the order written; the rest of the read still kept (taken 16 KiB
        # per loop turn) was dropped undecoded with the connection, as bytes left in its socket (4.6, 6.2)
        carried = sorted(int(o.cl_ord_id[1:]) for o in engine.orders.values() if o.strategy_id == "S1")
        assert carried == list(range(len(carried))) and carried
        total = 2 * len(carried)  # OrderAccepted and Canceled each
        await wait_for(lambda: len(engine.strategies["S1"].events) == total, timeout_s=20, what="every IOC done")
        again = await _connect(process)
        welcome = await again.hello("S1", last_seq=len(seen))
        assert welcome[5] == total - len(seen)
        replay = order_events(await again.read(total - len(seen), timeout_s=10))
        assert [e[1] for e in replay] == list(range(len(seen) + 1, total + 1))
        slow.close()
        again.close()


async def test_slow_consumer_when_it_never_reads_then_socket_dropped_after_the_linger() -> None:
    workdir = short_tmp()
    async with running_gateway(
        workdir, _fast_limits(workdir), exchange=_exchange(), max_strategy_write_buffer=16 * 1024
    ) as (process, _sim):
        assert process.engine is not None
        engine = process.engine
        before = _open_fds()
        slow = await _connect(process)
        await wait_for(lambda: _open_fds() == before + 2, what="both ends of the connection")
        orders = b"".join(_order(f"Q{i}", IOC_AWAY, tif="3") for i in range(3000))
        await slow.send(frame(HELLO, "S1", 2, 0, 60_000) + orders)
        await wait_for(lambda: engine.counters.strategy_disconnects >= 1, timeout_s=20, what="the cut-off")
        cut = time.monotonic()
        assert not engine._links  # the engine forgot it at once
        await wait_for(lambda: _open_fds() == before + 1, timeout_s=15, what="the gateway's end to be dropped")
        assert time.monotonic() - cut > 1.5  # the 2 s linger, not at once (the wait above bounds "never")
        slow.close()


# ---- item 5: VenueStatus after Welcome; MassCancel answered -----------------------------------------


async def test_welcome_when_reconnecting_then_replay_then_every_venue_status_then_live() -> None:
    async with running_gateway(short_tmp(), exchange=_exchange()) as (process, _sim):
        client = await _connect(process)
        welcome = await client.hello("S1")
        assert welcome == [WELCOME, 2, "e2e", 1, 10_000, 0]
        (status,) = await client.read(1)
        assert status[:3] == [VENUE_STATUS, "OUCH", "UP"]
        await client.send(_order("A1") + _order("A2"))
        await client.read(2)
        client.close()

        again = await _connect(process)
        await again.send(frame(HELLO, "S1", 2, 1, 1000))  # processed seq 1
        messages = await again.read(3)
        assert messages[0] == [WELCOME, 2, "e2e", 3, 1000, 1]  # next_seq 3: the replay holds seq 2 only
        assert messages[1][:3] == [ORDER_ACCEPTED, 2, "A2"]
        assert messages[2][:3] == [VENUE_STATUS, "OUCH", "UP"]
        again.close()


async def test_mass_cancel_when_version_2_then_acked_with_count_or_rejected_with_code() -> None:
    async with running_gateway(short_tmp(), exchange=_exchange()) as (process, _sim):
        client = await _login(process, "S1")
        await client.send(_order("R1") + _order("R2") + frame(NEW_ORDER, "R3", "ACC2", "OUCH", "MSFT", "B", 1, 4200000))
        assert [e[0] for e in order_events(await client.read(3))] == [ORDER_ACCEPTED] * 3
        await client.send(frame(MASS_CANCEL, "ACC9", "", "", "M1"))
        assert await client.read(1) == [[MASS_CANCEL_REJECTED, "M1", "ACCOUNT_NOT_PERMITTED", client.received[-1][3]]]
        await client.send(frame(MASS_CANCEL, "", "", "AAPL", "M2"))
        ack, *cancels = await client.read(3)
        assert ack == [MASS_CANCEL_ACK, "M2", 2]
        assert sorted((c[0], c[2], c[4]) for c in cancels) == [(CANCELED, "R1", 0), (CANCELED, "R2", 0)]
        await client.send(frame(MASS_CANCEL, "", "NOWHERE", "", "M3"))
        assert await client.read(1) == [[MASS_CANCEL_ACK, "M3", 0]]
        await client.send(frame(MASS_CANCEL, 7, "", "", "M4"))  # a field of the wrong type
        (bad,) = await client.read(1)
        assert bad[:3] == [MASS_CANCEL_REJECTED, "M4", "INVALID_FIELD"] and "`account`" in bad[3]
        client.close()


async def test_mass_cancel_when_version_1_session_then_carried_out_without_an_answer() -> None:
    async with running_gateway(short_tmp(), exchange=_exchange()) as (process, _sim):
        client = await _login(process, "S1", version=1)
        await client.send(_order("V1"))
        await client.read(1)
        await client.send(frame(MASS_CANCEL) + frame(CANCEL, "NOPE", 0))
        messages = await client.read(2)
        assert sorted(m[0] for m in messages) == [CANCELED, 22]  # the Canceled and the CancelRejected: no ack
        client.close()


# ---- item 6: the doc's details --------------------------------------------------------------------------


async def test_identifiers_when_counted_in_bytes_then_32_euro_signs_rejected_and_10_accepted() -> None:
    async with running_gateway(short_tmp(), exchange=_exchange()) as (process, _sim):
        client = await _login(process, "S1")
        await client.send(frame(NEW_ORDER, "E1", "ACC1", "OUCH", "€" * 32, "B", 100, RESTING))
        await client.send(frame(NEW_ORDER, "E2", "ACC1", "OUCH", "€" * 10, "B", 100, RESTING))
        first, second = order_events(await client.read(2))
        assert first[2:5] == ["E1", "GATEWAY", "INVALID_FIELD"] and "96 bytes of UTF-8" in first[5]
        assert second[2:5] == ["E2", "GATEWAY", "OUCH_SYMBOL"]  # 30 bytes: valid protocol, but not an OUCH symbol
        client.close()


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (raw_frame(b""), "BAD_FRAME"),
        (raw_frame(b"\xc1\x00\x17"), "BAD_FRAME"),
        (frame(NEW_ORDER, "C1", "ACC1", "OUCH", "AAPL", "B", 1, 1), "HELLO_REQUIRED"),
        (frame(HELLO, "S1", 2, 0, 5), "BAD_HELLO"),
        (frame(HELLO, "S1", 4, 0, 1000), "UNSUPPORTED_VERSION"),
        (frame(HELLO, "NOBODY", 2, 0, 1000), "NOT_AUTHORIZED"),
    ],
    ids=["zero-length", "garbage", "not-hello", "bad-hello", "version", "unknown-strategy"],
)
async def test_first_frame_when_not_an_acceptable_hello_then_one_fatal_error_with_its_code_and_closed(
    first: bytes, code: str
) -> None:
    async with running_gateway(short_tmp(), exchange=_exchange()) as (process, _sim):
        client = await _connect(process)
        await client.send(first + frame(HELLO, "S1", 2, 0, 1000))  # a good Hello after it changes nothing
        messages = await client.read_until_closed()
        assert [(m[0], m[1], m[3]) for m in messages] == [(ERROR, code, True)], messages
        client.close()


async def test_session_errors_when_non_fatal_then_reported_and_the_session_goes_on() -> None:
    async with running_gateway(short_tmp(), exchange=_exchange()) as (process, _sim):
        client = await _login(process, "S1")
        await client.send(frame(77, "x") + raw_frame(b"\xc1") + frame(HELLO, "S1", 2) + _order("OK"))
        messages = await client.read(4)
        assert [(m[0], m[1], m[3]) for m in messages[:3]] == [
            (ERROR, "INVALID_MESSAGE", False),
            (ERROR, "BAD_FRAME", False),
            (ERROR, "ALREADY_LOGGED_IN", False),
        ]
        assert messages[3][:3] == [ORDER_ACCEPTED, 1, "OK"]
        client.close()
