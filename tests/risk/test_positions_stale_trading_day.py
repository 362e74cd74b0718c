"""The start-of-day positions' staleness is judged by the gateway's trading day, not the host's date (killstop56).

risk56 made risk's session date the journal's trading day (``journal.timezone``); the staleness WARNING ("as_of ...
is older than the last close before today's session ... may be stale") still took the host's date: on a UTC host
with US venues, the same Monday session and the same file (as of Friday's close) gave no warning at 18:00 Eastern
and the warning at 20:00 Eastern (01:00 UTC Tuesday), which told the risk desk to rewrite a correct file (rev56ops).
Without a trading day (``gateway risk check`` without ``--config``) the host's dates are used, as documented.
"""

from __future__ import annotations

import datetime
import zoneinfo
from pathlib import Path

from model.clock import FakeClock
from risk.engine import RiskEngine
from risk.limitsfile import read_limits
from tests.e2e.test_trading_day import host_zone
from tests.risk.test_riskfix49 import POSITIONS, _startup, _write

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
FRIDAY_CLOSE = "2026-12-04T21:00:00Z"
"""Friday 16:00 Eastern."""
MONDAY_EVENING = datetime.datetime(2026, 12, 8, 1, 0, tzinfo=datetime.UTC)
"""Monday 20:00 Eastern: Tuesday on a UTC host."""


def _new_york_day(wall_ns: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(wall_ns / 1e9, NEW_YORK).date()


def _stale(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "may be stale" in w]


def _setup(tmp_path: Path) -> Path:
    limits = _write(tmp_path)
    (tmp_path / "sod.yaml").write_text(POSITIONS.replace("2025-06-12T20:00:00Z", FRIDAY_CLOSE))
    return limits


def test_read_when_after_the_hosts_midnight_in_the_same_trading_day_then_not_stale(tmp_path: Path) -> None:
    limits = _setup(tmp_path)
    with host_zone("UTC"):
        assert _stale(read_limits(limits, MONDAY_EVENING, trading_day=_new_york_day).warnings) == []
        # without the gateway's trading day: the host's dates (Tuesday), as documented for `gateway risk check`
        (host,) = _stale(read_limits(limits, MONDAY_EVENING).warnings)
        assert "the weekday before 2026-12-08" in host, host
        tuesday = MONDAY_EVENING + datetime.timedelta(days=1)  # Tuesday 20:00 Eastern: Friday's file is stale
        (late,) = _stale(read_limits(limits, tuesday, trading_day=_new_york_day).warnings)
        assert "(2026-12-07, the weekday before 2026-12-08)" in late, late


def test_gateway_start_when_after_the_hosts_midnight_in_the_same_trading_day_then_not_warned(tmp_path: Path) -> None:
    limits = _setup(tmp_path)
    wall_ns = int(MONDAY_EVENING.timestamp()) * 1_000_000_000
    with host_zone("UTC"):
        engine = RiskEngine.load(
            limits,
            FakeClock(),
            tmp_path / "audit.jsonl",
            wall_clock=lambda: wall_ns,
            keep=tmp_path / "state" / "gw-risk-in-force.yaml",
            trading_day=_new_york_day,  # what the gateway passes (load_risk: its journal's day)
        )
        engine.close()
    assert _stale(_startup(tmp_path)["warnings"]) == []  # merge56: "... may be stale; write the file ..."
