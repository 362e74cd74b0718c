"""BOE: the re-login that corrects a unit Cboe renumbered does not back off further (boeq32).

A Login Response refused ``Q`` (sequence ahead, reference 7.2 item 7) that lists a unit below the
last number we received means Cboe restarted that unit's numbering; the session lists the unit from
0 and logs in again. That refused login is the cause of the correction, not a failed attempt: the
corrective re-login goes out after the delay the login before it had (the initial one after a
normal cut), not a doubled one. Once per correction: a ``Q`` again before Replay Complete counts as a
failed login, as any refusal does, so a venue that keeps refusing is not hammered. The same holds
for a login accepted with messages of a renumbered unit it would not replay (dropped for a login
from 0). Sans-IO with a fake clock; then once on loopback through the whole gateway.
"""

from __future__ import annotations

import logging
import re

import pytest

from gateway.client import GatewayClient
from gateway.protocol.messages import Executed, OrderAccepted
from model.clock import FakeClock
from model.enums import Side
from model.venue_events import VenueState
from tests.boe.test_session import CONFIG, Recorder, accepted, state_of
from tests.e2e.support import short_tmp, wait_for
from tests.e2e.test_boe_pipeline import REFS, running_boe_gateway
from venues.boe.codec import REPLAY_COMPLETE_BYTES, decode_inbound, encode_message
from venues.boe.messages import LoginRequest, LoginResponse, UnitSequences
from venues.boe.session import BoeClientSession, BoeSessionState

MS = 1_000_000
INITIAL = CONFIG.reconnect_initial_ns
assert INITIAL == 100 * MS and CONFIG.reconnect_max_ns >= 8 * INITIAL

Q_UNIT_1_AT_3 = encode_message(LoginResponse("Q", "Unit 1 sequence 50 ahead of 3", 0, 9, ((1, 3), (2, 7), (3, 0))))
"""Cboe restarted unit 1 (it has 1..3 of its new numbering); we listed 50."""


def _resumed(units: dict[int, int]) -> tuple[BoeClientSession, Recorder, FakeClock]:
    recorder = Recorder()
    client = BoeClientSession(CONFIG, recorder)
    client.resume(units)
    return client, recorder, FakeClock()


def _login(client: BoeClientSession, clock: FakeClock) -> tuple[tuple[int, int], ...]:
    """Connect; return the units the Login Request lists."""
    client.connection_made(clock())
    login = decode_inbound(bytes(client.take(clock())))
    assert isinstance(login, LoginRequest)
    group = login.param_groups[0]
    assert isinstance(group, UnitSequences)
    return group.units


def _answer_then_cut(client: BoeClientSession, clock: FakeClock, answer: bytes) -> int:
    """Feed Cboe's answer, lose the connection it asked to drop; return the delay before the next login."""
    client.data_received(answer, clock())
    client.connection_lost(clock())
    delay = client.reconnect_delay_ns(1)
    assert delay is not None
    clock.advance(delay)
    return delay


def test_login_refused_q_naming_a_renumbered_unit_then_the_corrective_relogin_waits_the_initial_delay() -> None:
    client, recorder, clock = _resumed({1: 50, 2: 7})
    assert _login(client, clock) == ((1, 50), (2, 7))
    assert _answer_then_cut(client, clock, Q_UNIT_1_AT_3) == INITIAL  # before: doubled, 200 ms
    assert recorder.rejected == [("Q", "Unit 1 sequence 50 ahead of 3")]
    assert client.login_rejects == 1 and client.numbering_restarts == 1
    assert _login(client, clock) == ((1, 0), (2, 7))  # the correction
    client.data_received(accepted(9, ((1, 3), (2, 7), (3, 0))) + REPLAY_COMPLETE_BYTES, clock())
    assert state_of(client) is BoeSessionState.LOGGED_IN
    client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == INITIAL


@pytest.mark.parametrize(
    "again",
    [
        LoginResponse("Q", "Sequence ahead", 0, 9, ((1, 3), (2, 7), (3, 0))),  # refuses the corrected numbers
        LoginResponse("Q", "Unit 2 sequence 7 ahead of 1", 0, 9, ((1, 3), (2, 1), (3, 0))),  # renumbers unit 2 too
        LoginResponse("Q", "Sequence ahead", 0, 9),  # lists no units
    ],
    ids=["same-units", "another-unit-renumbered", "no-units"],
)
def test_login_refused_q_again_after_the_correction_then_counted_and_the_delay_doubles(again: LoginResponse) -> None:
    client, recorder, clock = _resumed({1: 50, 2: 7})
    _login(client, clock)
    assert _answer_then_cut(client, clock, Q_UNIT_1_AT_3) == INITIAL
    _login(client, clock)
    assert _answer_then_cut(client, clock, encode_message(again)) == 2 * INITIAL
    _login(client, clock)
    assert _answer_then_cut(client, clock, encode_message(again)) == 4 * INITIAL
    assert _login(client, clock)[0] == (1, 0)
    assert _answer_then_cut(client, clock, Q_UNIT_1_AT_3) == 8 * INITIAL  # no second free correction
    assert [status for status, _ in recorder.rejected] == ["Q"] * 4


def test_login_failed_before_the_q_then_the_corrective_relogin_keeps_that_delay_not_doubled() -> None:
    client, _recorder, clock = _resumed({1: 50, 2: 7})
    _login(client, clock)
    assert _answer_then_cut(client, clock, encode_message(LoginResponse("N", "Not authorized", 0, 0))) == 2 * INITIAL
    _login(client, clock)
    assert _answer_then_cut(client, clock, Q_UNIT_1_AT_3) == 2 * INITIAL


def test_login_refused_q_after_a_completed_correction_then_the_next_correction_is_free_again() -> None:
    client, _recorder, clock = _resumed({1: 50, 2: 7})
    _login(client, clock)
    _answer_then_cut(client, clock, Q_UNIT_1_AT_3)
    _login(client, clock)
    client.data_received(accepted(9, ((1, 3), (2, 7), (3, 0))) + REPLAY_COMPLETE_BYTES, clock())
    client.connection_lost(clock())  # later in the day Cboe restarts unit 2's numbering
    assert _login(client, clock) == ((1, 0), (2, 7), (3, 0))
    refused = LoginResponse("Q", "Unit 2 sequence 7 ahead of 2", 0, 9, ((1, 3), (2, 2), (3, 0)))
    assert _answer_then_cut(client, clock, encode_message(refused)) == INITIAL
    assert client.numbering_restarts == 2
    assert _login(client, clock) == ((1, 0), (2, 0), (3, 0))


def test_login_accepted_with_a_renumbered_units_messages_then_the_relogin_from_0_waits_the_initial_delay() -> None:
    client, recorder, clock = _resumed({1: 50, 2: 7})
    _login(client, clock)
    # Cboe has 1..4 in unit 1's new numbering and would replay after our 50: dropped for a login from 0
    assert _answer_then_cut(client, clock, accepted(0, ((1, 4), (2, 7)))) == INITIAL
    assert len(recorder.disconnects) == 1 and "1: 1..4" in recorder.disconnects[0]
    assert _login(client, clock) == ((1, 0), (2, 7))


# ---- loopback: the whole gateway against the BOE simulator -------------------------------------------

_RECONNECTING = re.compile(r"reconnecting in (\d+) ms \(attempt (\d+)\)")


async def test_gateway_when_the_venue_renumbers_a_unit_then_refused_q_logs_in_again_at_the_initial_delay_and_trades(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The simulator restarts unit 1's numbering; the gateway's login (unit 1 at its old number) is refused ``Q``."""
    caplog.set_level(logging.INFO, logger="venues.boe.adapter")
    workdir = short_tmp()
    async with running_boe_gateway(workdir) as (process, sim):  # reconnect_initial_ms 20
        venue = process.venues[0]
        async with GatewayClient(workdir / "s.sock", "S1") as client:
            first = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, price_ticks=REFS["AAPL"] - 5_000)
            await first.wait_accepted(timeout=15)
            caplog.clear()
            sim.restart_numbering(1)
            await wait_for(
                lambda: venue.status()["numbering_restarts"] == 1 and venue.state is VenueState.UP,
                what="venue UP again in unit 1's new numbering",
            )
            status = venue.status()
            assert (status["login_rejects"], status["renumbered_units"]) == (1, {1: 1})
            delays = [(int(m[1]), int(m[2])) for r in caplog.records if (m := _RECONNECTING.search(r.getMessage()))]
            assert delays == [(20, 1), (20, 1)]  # after the cut, and after the Q: the same initial delay
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "230.15")
            final = await order.wait_done(timeout=15)
            assert isinstance(final, Executed) and final.leaves_qty == 0
            assert [type(e) for e in order.events] == [OrderAccepted, Executed]
        assert sim.exchange.violations == []
