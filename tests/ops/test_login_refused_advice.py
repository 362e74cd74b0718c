"""LOGIN_REFUSED: the advice names a restart for a wrong credential, ``gateway venue reconnect`` for the venue's side.

``gateway venue reconnect`` logs in with the venue config read at start (ops guide section 7: a new password in
gateway.yaml needs a restart). Before lows57 the OUCH ERROR line ("Check the username and password in the venue
config ..., then run `gateway venue reconnect V`") and `gateway status` ("fix the credentials, then `gateway venue
reconnect V`", also for BOE) told ops to fix the config and reconnect: the reconnect logged in with the old
password, the venue refused it ``max_login_refusals`` times more (the lock-out the limit exists to avoid).

The real adapters over the sans-IO simulators (fake clock) with another password than the simulator's; the status
line is ``gateway status``'s own rendering (``format_status``) of the adapter's status.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import build_parser
from gateway.commands.admin import format_status
from model.venue_events import VenueState
from tests.boe.harness import Link as BoeLink
from tests.ouch.harness import Link as OuchLink


def _refused(link: OuchLink | BoeLink, caplog: pytest.LogCaptureFixture, logger: str) -> tuple[str, dict[str, Any]]:
    """Three refused logins: return the ERROR line and the venue's status."""
    with caplog.at_level(logging.WARNING, logger=logger):
        for _ in range(3):
            link.connect()
    assert link.venue.state is VenueState.LOGIN_REFUSED
    (error,) = [
        r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "LOGIN REFUSED" in r.getMessage()
    ]
    return error, link.venue.status()


def _status_line(name: str, venue: dict[str, Any]) -> str:
    text = format_status({"venues": {name: {**venue, "state": "LOGIN_REFUSED"}}})
    (line,) = [line for line in text.splitlines() if line.strip().startswith(name)]
    return line


def _says_restart_for_the_config_and_reconnect_for_the_venue(text: str, name: str) -> None:
    config = text.index("venue config")
    restart = text.index("restart the gateway")
    reconnect = text.index(f"`gateway venue reconnect {name}`")
    assert config < restart < reconnect, text  # the config's fix is the restart; the reconnect comes after
    assert "then run `gateway venue reconnect" in text[restart:], text
    # before: "Check the username and password in the venue config (...), then run `gateway venue reconnect V`"
    # and "fix the credentials, then `gateway venue reconnect V`"
    assert "fix the credentials, then" not in text and "Check the username and password" not in text, text


def test_ouch_login_refused_when_password_wrong_then_error_and_status_say_restart_not_reconnect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = OuchLink(tmp_path / "ouch", password="WRONG")
    error, status = _refused(link, caplog, "venues.ouch.adapter")
    name = link.config.name
    assert "LOGIN REFUSED 3 times in a row" in error and "not authorized (A)" in error
    _says_restart_for_the_config_and_reconnect_for_the_venue(error, name)
    assert "login_refused_fix" in status, status
    _says_restart_for_the_config_and_reconnect_for_the_venue(status["login_refused_fix"], name)
    line = _status_line(name, status)
    assert "LOGIN_REFUSED" in line and "not reconnecting: " in line
    _says_restart_for_the_config_and_reconnect_for_the_venue(line, name)


def test_boe_login_refused_when_password_wrong_then_error_and_status_say_restart_not_reconnect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = BoeLink(tmp_path / "boe", password="WRONG")
    error, status = _refused(link, caplog, "venues.boe.adapter")
    name = link.config.name
    assert status["last_login_refusal_status"] == "N", status
    _says_restart_for_the_config_and_reconnect_for_the_venue(error, name)
    # before: the ERROR line's own "(a change to the venue config needs a restart instead)" came after the
    # reconnect, and `gateway status` had no advice from the adapter at all (the generic "fix the credentials")
    assert "login_refused_fix" in status, status
    _says_restart_for_the_config_and_reconnect_for_the_venue(status["login_refused_fix"], name)
    _says_restart_for_the_config_and_reconnect_for_the_venue(_status_line(name, status), name)


def test_status_line_when_the_adapter_gives_no_advice_then_the_generic_one_says_restart_too() -> None:
    line = _status_line("V", {"last_login_refusal": "x (A)", "login_refusals": 3})
    _says_restart_for_the_config_and_reconnect_for_the_venue(line, "V")


def test_venue_reconnect_help_says_it_keeps_the_config_read_at_start() -> None:
    parser = build_parser()
    text = " ".join(_subparser(parser, "venue", "reconnect").format_help().split())
    assert "venue config read at start" in text and "restarted" in text, text
    assert "fix the credentials, or have the venue unlock the account, first" not in text


def _subparser(parser: Any, *names: str) -> Any:
    for name in names:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = action.choices[name]
    return parser
