"""The journal's trading day is the venues' (day55, rev55boe s12), against the BOE simulator over loopback TCP.

Before, the journal was named by the host's local date (``dt.date.today()``) while a BOE or OUCH venue's trading day
is the date in its ``timezone`` (US Eastern by default): on a UTC host a restart after midnight UTC, before midnight
Eastern, opened a new, empty journal while Cboe's day went on. Cboe's replay of the day's fills was then logged as
"cut from its tail by a power failure" and not applied (the position lost them), the open orders were forgotten,
and the next New Order reused the day's first ClOrdID (order ids restarted at 1; BOE had no order id floor).

The host's time zone is changed between the two processes (``TZ``, ``time.tzset``) to two zones 25 hours apart,
whose dates always differ: what a host's midnight does to a venue's day that goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.config import ConfigError, GatewayConfig, JournalConfig
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.messages import OrderAccepted
from model.enums import Side
from model.venue_events import VenueState
from risk.engine import RiskEngine
from simulators.boe.simulator import BoeSimulator
from tests.e2e.support import e2e_limits, short_tmp, wait_for
from tests.e2e.test_boe_modify_up_and_late_fill import _simulator
from tests.e2e.test_boe_pipeline import boe_gateway_config

EAST = "Pacific/Kiritimati"
"""UTC+14: the venue's time zone (and the first host's)."""
WEST = "Pacific/Pago_Pago"
"""UTC-11: the second host's. 25 hours behind EAST: its date is never EAST's."""


@contextlib.contextmanager
def host_zone(zone: str) -> Iterator[None]:
    """Run with the host's local time zone ``zone`` (what ``dt.date.today()`` and ``local`` take)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def _date(zone: str) -> str:
    return dt.datetime.now(zoneinfo.ZoneInfo(zone)).strftime("%Y%m%d")


def _config(workdir: Path, port: int, venue_zone: str, journal_zone: str | None = None) -> GatewayConfig:
    config = boe_gateway_config(workdir, port, e2e_limits(workdir, ["S1"]), timezone=venue_zone)
    journal = config.journal
    if journal_zone is not None:
        journal = JournalConfig(directory=journal.directory, fsync=journal.fsync, timezone=journal_zone)
    keep = {"S1": StrategyEntitlement(accounts=["ACC1", "ACC2"], uids=[os.getuid()], on_disconnect="keep")}
    fields = {f: getattr(config, f) for f in config.__struct_fields__}
    return GatewayConfig(**{**fields, "journal": journal, "strategies": keep})  # open orders outlive the client


async def _started(config: GatewayConfig) -> GatewayProcess:
    process = GatewayProcess(config)
    try:
        await process.start()
        await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), 30, "venue UP")
    except BaseException:
        await process.stop()
        raise
    return process


def _position(process: GatewayProcess) -> int:
    risk = process.risk
    assert isinstance(risk, RiskEngine)
    return risk.position("ACC1", "AAPL").position


def _journals(workdir: Path) -> list[str]:
    return sorted(p.name for p in (workdir / "journal").glob("*.journal"))


def _sock(process: GatewayProcess) -> Path:
    return Path(process.config.path(process.config.strategy_socket))


def _new_order_ids(sim: BoeSimulator) -> list[str]:
    return [r.cl_ord_id for r in sim.exchange.records if r.type == "New Order"]


async def test_restart_when_the_hosts_date_changes_but_not_the_venues_then_the_same_journal_goes_on() -> None:
    workdir = short_tmp()
    sim = await _simulator()
    config = _config(workdir, sim.port, EAST)  # journal.timezone: auto (the default) -> the venue's, EAST
    process: GatewayProcess | None = None
    try:
        with host_zone(EAST):  # the first process: the host's date is the venue's
            process = await _started(config)
            start = _position(process)
            async with GatewayClient(_sock(process), "S1") as client:
                orders = [await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00") for _ in range(2)]
                for order in orders:
                    assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
                first, second = list(sim.exchange.orders)
                sim.execute(first, 100)
                await wait_for(lambda: orders[0].cum_qty == 100, what="the fill of 100")
            await process.stop()
            process = None
        sim.execute(second, 40)  # while the gateway is down
        with host_zone(WEST):  # the host's midnight went by, the venue's did not
            process = await _started(config)
            assert process.engine is not None
            await wait_for(lambda: _position(process) - start == 140, what="the fill while down applied")
            assert _journals(workdir) == [f"e2e-{_date(EAST)}.journal"]  # the old code: a second one, WEST's date
            assert process.engine.orders[2].cum_qty == 40  # the open order is known, with its fill
            async with GatewayClient(_sock(process), "S1") as client:
                third = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
                assert isinstance(await third.wait_accepted(timeout=15), OrderAccepted)
        ids = _new_order_ids(sim)
        assert len(ids) == 3 and len(set(ids)) == 3
        assert sim.exchange.violations == []
    finally:
        if process is not None:
            await process.stop()
        await sim.stop()


async def test_start_when_the_journals_trading_day_is_not_the_venues_then_refused_naming_the_keys() -> None:
    workdir = short_tmp()
    sim = await _simulator()
    try:
        with host_zone(EAST):  # journal.timezone: local, the host's date; the venue's is WEST's
            process = GatewayProcess(_config(workdir, sim.port, WEST, "local"))
            with pytest.raises(ConfigError) as refused:
                await process.start()
            await process.stop()
        text = str(refused.value)
        assert f"the journal's trading day is {dt.datetime.now(zoneinfo.ZoneInfo(EAST)).date().isoformat()}" in text
        assert "journal.timezone: local" in text and f"venues[CBOE].timezone: {WEST}" in text
        assert f"set journal.timezone to {WEST}" in text
        assert _journals(workdir) == []  # nothing opened (the old code: a journal of EAST's date, and a login)
        assert sim.core.connections == []
    finally:
        await sim.stop()


async def test_restart_on_an_empty_journal_when_cboe_has_the_days_clordids_then_none_is_used_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    workdir = short_tmp()
    sim = await _simulator()
    config = _config(workdir, sim.port, EAST)
    process: GatewayProcess | None = None
    try:
        process = await _started(config)
        async with GatewayClient(_sock(process), "S1") as client:
            old = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await old.wait_accepted(timeout=15)
        [working] = list(sim.exchange.orders)
        await process.stop()
        process = None
        # the day's journal moved away and the note with it: the next start begins an empty journal on purpose
        aside = workdir / "aside"
        aside.mkdir()
        for path in (workdir / "journal").glob("*.journal"):
            shutil.move(path, aside / path.name)
        shutil.move(workdir / "state" / "e2e.journal-begun", aside / "e2e.journal-begun")
        caplog.set_level(logging.INFO)
        process = await _started(config)
        async with GatewayClient(_sock(process), "S1") as client:
            new = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await new.wait_accepted(timeout=15), OrderAccepted)
        # Cboe's replay shows the order the empty journal lacks working: its ERROR does not blame a power failure
        [line] = [r.getMessage() for r in caplog.records if f"working at Cboe (ClOrdID {working})" in r.getMessage()]
        assert "power failure" not in line.split("not a power failure")[0]  # the old code: "cut ... power failure"
        assert "not a power failure" in line and "was begun empty at this start" in line
        assert "another journal" in line
        ids = _new_order_ids(sim)
        assert len(ids) == 2 and len(set(ids)) == 2  # the old code: the first ClOrdID twice
        assert sim.exchange.violations == []
    finally:
        if process is not None:
            await process.stop()
        await sim.stop()


async def test_start_when_the_journal_begun_last_is_of_a_later_date_then_refused() -> None:
    workdir = short_tmp()
    sim = await _simulator()
    try:
        process = await _started(_config(workdir, sim.port, EAST))  # begins EAST's date's journal
        await process.stop()
        # the venues' day is WEST's now (the date a host ahead of the venues named the journal by, seen from after)
        process = GatewayProcess(_config(workdir, sim.port, WEST))
        with pytest.raises(ConfigError) as refused:
            await process.start()
        await process.stop()
        text = str(refused.value)
        assert f"e2e-{_date(EAST)}.journal this gateway began last is dated {_date(EAST)}" in text
        assert "e2e.journal-begun aside" in text
        assert _journals(workdir) == [f"e2e-{_date(EAST)}.journal"]  # the old code: WEST's opened as well
    finally:
        await sim.stop()
