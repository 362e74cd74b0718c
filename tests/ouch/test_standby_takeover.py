"""A standby host taking over mid-day with neither the journal nor the OUCH state_dir (fixouch51, item 1).

The venue session already carries the day's traffic of another host (UserRefNums 1..N). The new gateway logs in
blank from sequence 1: every replayed message names a UserRefNum this gateway never issued. Before fixouch51 each
such message was taken as a stream out of frame and asked for again (a re-login ~3 times per message, the venue
flapping and new orders refused ``VENUE_UNAVAILABLE``). Now the gateway says once, at ERROR, that it has no record
of the day's earlier traffic, counts those messages as not its own, floors its UserRefNums on the venue's
NextUserRefNum and trades. Real engine and journal over the OUCH simulator in strict mode (fake clock).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, NewOrder, OrderAccepted
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.ouch.harness import PX, Link, gateway_over
from venues.ouch.codec import encode_message
from venues.ouch.messages import DisableOrderEntry, EnableOrderEntry, MassCancel
from venues.ouch.soupbin import SoupSplitter

RESTING = PX - 100


def _logins(link: Link) -> int:
    return sum(1 for packet in SoupSplitter().feed(b"".join(link.wire)) if packet[0] == ord("L"))


def test_a_standby_host_without_journal_or_state_dir_trades_above_the_venues_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True)
    first = Link(tmp_path / "a" / "ouch", sim=SimulatorConfig(exchange=exchange))
    engine, rig = gateway_over(first, tmp_path / "a" / "journal")
    first.connect()
    strat = rig.connect("S1")
    for n in range(5):
        rig.send(strat, NewOrder(f"o{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100 + n, RESTING))
        engine.flush()
        first.pump()
        engine.flush()
    rig.send(strat, Cancel("o0"))
    engine.flush()
    first.pump()
    engine.flush()
    first.disconnect()  # the primary host is gone, with its disk
    assert first.core.exchange.next_user_ref_num() == 6

    second = Link(tmp_path / "b" / "ouch", core=first.core, clock=first.clock)
    engine2, rig2 = gateway_over(second, tmp_path / "b" / "journal")
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        second.connect()
        engine2.flush()
        for _ in range(5):  # time passes: no re-login loop
            second.clock.advance_ms(1000)
            second.poll()
            engine2.flush()
        assert second.venue.state.value == "UP"
        strat2 = rig2.connect("S1")
        rig2.send(strat2, NewOrder("n1", "ACC1", "nasdaq", "AAPL", Side.BUY, 50, RESTING))
        engine2.flush()
        second.pump()
        engine2.flush()

    assert [m.cl_ord_id for m in strat2.received() if isinstance(m, OrderAccepted)] == ["n1"]
    assert first.core.exchange.violations == []
    assert _logins(second) == 1
    status = second.venue.status()
    assert status["last_user_ref_num"] == 6  # above every number the venue has seen (1..5)
    assert status["refetches"] == 0
    assert status["earlier_traffic"] == 6  # the other host's 5 Accepted and 1 Canceled
    assert status["unknown_user_ref_num"] == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "NO RECORD OF TODAY" in r.getMessage()]
    assert len(errors) == 1, caplog.text
    assert "Reconcile the account" in errors[0].getMessage()


def test_a_standby_host_whose_account_query_goes_unanswered_numbers_above_mass_cancel_and_entry_responses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other host's last numbers went to a Mass Cancel and a Disable/Enable: no order message names them.

    rev52ouch (HIGH): with no Account Query answer, the store was floored only on the numbers order messages named
    (5), so the first Enter went out as 6, a number the venue had seen (it ignores those): an order in doubt that
    never reached the venue. Now every replayed message naming a UserRefNum counts (Mass Cancel Response X, Disable
    G and Enable K responses too), and the ERROR names the number new orders start at after the floor.
    """
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True)
    first = Link(tmp_path / "a" / "ouch", sim=SimulatorConfig(exchange=exchange))
    engine, rig = gateway_over(first, tmp_path / "a" / "journal")
    first.connect()
    strat = rig.connect("S1")
    for n in range(5):
        rig.send(strat, NewOrder(f"o{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100 + n, RESTING))
        engine.flush()
        first.pump()
        engine.flush()
    first.disconnect()  # the primary host is gone, with its disk; its operator's last requests reached the venue:
    venue = first.core.exchange
    for message in (MassCancel(6, "", "AAPL"), DisableOrderEntry(7, ""), EnableOrderEntry(8, "")):
        venue.on_message(encode_message(message))
    assert venue.next_user_ref_num() == 9
    monkeypatch.setattr(venue, "_account_query", lambda message: None)  # the venue does not answer the query

    second = Link(tmp_path / "b" / "ouch", core=first.core, clock=first.clock)
    engine2, rig2 = gateway_over(second, tmp_path / "b" / "journal")
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        second.connect()
        engine2.flush()
        for _ in range(20):  # time passes: the query goes unanswered
            second.clock.advance_ms(1000)
            second.poll()
            engine2.flush()
        assert second.venue.state.value == "UP"
        strat2 = rig2.connect("S1")
        rig2.send(strat2, NewOrder("n1", "ACC1", "nasdaq", "AAPL", Side.BUY, 50, RESTING))
        engine2.flush()
        second.pump()
        engine2.flush()

    assert venue.violations == []  # before: UserRefNum 6 "not above 8"
    assert [m.cl_ord_id for m in strat2.received() if isinstance(m, OrderAccepted)] == ["n1"]
    # a tenth of a block (50 here: 5) above the highest number named (8): the other host's Enters the venue took
    # unanswered may be live under the numbers right above it (ouchstandby57: before, 9); not a whole block, where
    # that host's next reserved block starts (ouchmargin57: before, 59)
    assert second.venue.status()["last_user_ref_num"] == 8 + 5 + 1
    unanswered = [r.getMessage() for r in caplog.records if "did not say its NextUserRefNum" in r.getMessage()]
    assert len(unanswered) == 1 and "new UserRefNums start at 14, a margin of 5" in unanswered[0], unanswered
