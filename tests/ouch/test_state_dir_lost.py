"""The OUCH state_dir lost while today's journal survives (rev44ouch s21, s21c).

kill -9, ``rm -rf`` of the venue's state_dir, restart: the login asks for the journal's session from its next
sequence (not the venue's current session from 1), and the venue's NextUserRefNum (Account Query) floors the
UserRefNum store before anything is sent, so the next order goes out above every number the venue has seen
(a strict venue ignores and flags a number not above its last). Real engine and journal over the project's
OUCH simulator in strict mode (fake clock).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, NewOrder, OrderAccepted
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.harness import MemoryLink, Rig
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal
from venues.ouch.soupbin import SoupSplitter, decode_login_request

RESTING = PX - 100


def _day(tmp_path: Path, orders: int, canceled: int) -> tuple[Link, Engine, Rig, MemoryLink]:
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True)
    link = Link(tmp_path / "ouch", sim=SimulatorConfig(exchange=exchange))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    for n in range(orders):
        rig.send(strat, NewOrder(f"o{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100 + n, RESTING))
        engine.flush()
        link.pump()
        engine.flush()
    for n in range(canceled):
        rig.send(strat, Cancel(f"o{n}"))
        engine.flush()
        link.pump()
        engine.flush()
    return link, engine, rig, strat


def _logins(link: Link) -> list[tuple[str, int]]:
    asked = []
    for packet in SoupSplitter().feed(b"".join(link.wire)):
        if packet[0] == ord("L"):
            request = decode_login_request(packet)
            asked.append((request.session.strip(), request.sequence))  # type: ignore[union-attr]
    return asked


def _restart_without_state_dir(first: Link, tmp_path: Path) -> tuple[Link, Engine, Rig, MemoryLink]:
    first.disconnect()  # kill -9: nothing more is written
    shutil.rmtree(tmp_path / "ouch")
    second, engine, rig = restart_from_journal(first, tmp_path)
    second.connect()
    engine.flush()
    strat = rig.connect("S1")
    strat.received()
    return second, engine, rig, strat


@pytest.mark.parametrize("still_open", [0, 1])
def test_restart_when_the_state_dir_was_lost_then_the_login_resumes_the_journal_and_the_next_order_is_accepted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, still_open: int
) -> None:
    first, _engine, _rig, _strat = _day(tmp_path, 3, 3 - still_open)
    sent = first.core.stream.next_sequence - 1  # every message the journal has applied
    assert first.core.exchange.next_user_ref_num() == 4

    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        second, engine, rig, strat = _restart_without_state_dir(first, tmp_path)
        assert second.venue.state.value == "UP"
        assert _logins(second) == [("OUCHSIM", sent + 1)]  # the journal's session and next sequence, not ("", 1)
        rig.send(strat, NewOrder("n1", "ACC1", "nasdaq", "AAPL", Side.BUY, 50, RESTING))
        engine.flush()
        second.pump()
        engine.flush()

    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["n1"]
    assert first.core.exchange.violations == []
    assert second.venue.status()["last_user_ref_num"] == 4  # above every one the journal has (1..3)
    assert "has no session for today but the journal has session 'OUCHSIM'" in caplog.text
    assert "NextUserRefNum 4: new UserRefNums start at 4" in caplog.text
    if still_open:  # the open order is still reachable: its cancel is answered
        rig.send(strat, Cancel("o2"))
        engine.flush()
        second.pump()
        engine.flush()
        assert [m.cl_ord_id for m in strat.received() if isinstance(m, Canceled)] == ["o2"]
