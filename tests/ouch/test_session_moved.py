"""The venue moves to a new session mid-day (rev38ouch s3, s3b): the session on file is refused ``S`` for ever.

Before ouchfix38 the gateway asked for the old session, alternating its padding, for ever (also after a
restart, the session coming from the journal): the venue stayed down, cancels held, new orders refused. Now,
refused in both paddings, the next login asks for the venue's current session (blank) and the orders of the old
one are handled as in any session change (docs/venues/ouch.md, "What the core must do").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, CancelRejected, NewOrder, OrderAccepted
from model.enums import Side
from model.venue_events import VenueState
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal

RESTING = PX - 100


def _log_in(link: Link, tries: int = 4) -> int:
    """Connect until the venue is UP (each Login Rejected closes the connection); return the connections used."""
    for attempt in range(1, tries + 1):
        link.connect()
        if link.venue.state is VenueState.UP:
            return attempt
        link.disconnect()
    raise AssertionError(f"not UP after {tries} connections: {link.venue.state} {link.venue.reason}")


def test_venue_moved_to_a_new_session_then_blank_login_after_both_paddings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("a0", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    link.pump()
    engine.flush()
    strat.received()
    link.disconnect()
    rig.send(strat, Cancel("a0"))  # held: the venue is down
    engine.flush()
    link.core = link.new_core(session="S2")  # the old session is not available any more
    assert _log_in(link) == 3  # old: never (Login Rejected S for 'OUCHSIM', both paddings, for ever)
    engine.flush()
    assert link.venue.status()["session"] == "S2"
    assert [r.levelname for r in caplog.records if "in every padding" in r.getMessage()] == ["ERROR"]
    answers = [(m.cl_ord_id, m.code) for m in strat.received() if isinstance(m, CancelRejected)]
    assert answers == [("a0", "OUCH_SESSION_CHANGED")]  # the held Cancel is answered, the order stays open
    rig.send(strat, NewOrder("b0", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    link.pump()
    engine.flush()
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["b0"]


def test_venue_moved_to_a_new_session_while_the_gateway_was_down_then_the_restart_logs_in(tmp_path: Path) -> None:
    first = Link(tmp_path / "ouch")
    engine, rig = gateway_over(first, tmp_path / "j1")
    first.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("a0", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    first.pump()
    engine.flush()
    first.disconnect()
    engine.journal.close()
    first.core = first.new_core(session="S2")
    second, engine2, rig2 = restart_from_journal(first, tmp_path)
    rig2.connect("S1").received()
    assert _log_in(second) == 3  # the journal's session 'OUCHSIM' twice, then the current one
    engine2.flush()
    assert second.venue.status()["session"] == "S2"
