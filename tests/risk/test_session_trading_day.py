"""Risk's session date is the journal's trading day (``journal.timezone``), not the host's date (risk56).

The start-of-day positions the day's first start read are kept in ``state_dir`` for the session date: a restart
the same date keeps them in force (the journal's fills were counted on them). day55 named the journal by the venues'
trading day; risk still took the host's local date, so a restart after the host's midnight (a UTC host, US venues,
19:00-24:00 Eastern) took the day for a new one while the journal's went on: a positions file modified in place
since was read as it was, under the day's fills.

The host's time zone is changed between the two starts (``TZ``) to two zones 25 hours apart, whose dates always
differ; the venue's (and so the journal's: ``auto``) stays the same.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

from gateway.app import GatewayProcess, journal_path
from gateway.config import GatewayConfig
from risk.engine import RiskEngine
from tests.e2e.support import short_tmp
from tests.e2e.test_trading_day import EAST, WEST, _config, host_zone

VENUE = "America/New_York"


def _built(config: GatewayConfig) -> tuple[GatewayProcess, RiskEngine]:
    process = GatewayProcess(config)
    process.build()
    risk = process.risk
    assert isinstance(risk, RiskEngine)
    return process, risk


def test_restart_when_the_hosts_date_changes_but_not_the_venues_then_the_days_first_positions_stay() -> None:
    workdir = short_tmp()
    venue_day = dt.datetime.now(zoneinfo.ZoneInfo(VENUE)).date()
    config = _config(workdir, 1, VENUE)  # journal.timezone: auto, the venue's
    with host_zone(EAST):
        process, risk = _built(config)
        assert risk.position("FUND7", "AAPL").position == 12000
        journal = journal_path(process.config)
        risk.close()
    note = json.loads((workdir / "state" / "e2e-risk-in-force-start-positions.yaml.not-applied.json").read_text())
    assert note["day"] == venue_day.isoformat(), note  # the old code: the host's (EAST's) date
    assert journal.name == f"e2e-{venue_day.strftime('%Y%m%d')}.journal"  # the journal's day is the same
    positions = workdir / "start-positions.yaml"
    positions.write_text(positions.read_text().replace("AAPL: 12000", "AAPL: 1200"))  # in place: maybe cut short
    with host_zone(WEST):  # the host's midnight passed; the venue's trading day goes on
        _process, risk = _built(config)
        try:
            assert risk.position("FUND7", "AAPL").position == 12000  # the old code: 1200 (a "new day" read it)
            notice = risk.status()["not_applied"]
            assert any(item["file"] == str(positions) for item in notice), notice
        finally:
            risk.close()
