"""A venue that refuses our Logon as numbered too low: LOGIN_REFUSED, one ERROR, ``reconnect`` (fixfix52).

QuickFIX's acceptor answers a Logon whose MsgSeqNum is below the one it expects with Logout "MsgSeqNum too low,
expecting N but received M" and drops the connection (the FIX spec's case of one side's numbers reset alone: here
the venue is made to expect more than our store says). Before fixfix52 the gateway reconnected without end, every
``reconnect.maximum_ms``, each Logon one number higher. Now the session stops in LOGIN_REFUSED (the venue's text
and the number it expects in one ERROR, with what to do), and ``reconnect`` (``gateway venue reconnect``) logs on
again. A refusal with another text (a venue restarting) is still retried. Real FixVenue + VenueConnector against
the QuickFIX acceptor over loopback.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from model.venue_events import VenueState
from venues.fix.codec import FixMessage, FrameDecoder
from venues.fix.fields import MsgType
from venues.fix.session import FixSessionState
from venues.fix.session.session import seq_too_low_refusal

from .live import GatewaySide, running_simulator, wait_until
from .test_loopback_gaps import RawVenue, _gateway

pytestmark = pytest.mark.timeout(60)


async def test_logon_when_venue_says_seq_too_low_then_login_refused_once_and_reconnect_logs_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        store = tmp_path / "store"
        first = await GatewaySide(sim, store).start()
        await first.stop()
        ours = first.venue.session.store.next_sender_seq  # what our next Logon carries
        sim.set_next_target_seq(ours + 40)  # the venue counted 40 messages of ours our store no longer has
        side = GatewaySide(sim, store)
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            side.task = side.connector.start()
            await wait_until(lambda: side.venue.state is VenueState.LOGIN_REFUSED, 10.0, "LOGIN_REFUSED")
            await wait_until(lambda: side.task is not None and side.task.done(), 5.0, "the connector to stop")
            await asyncio.sleep(0.8)  # the backoff is 50..300 ms: the old code had logged on 3 more times by now
        assert side.connector.connections == 1  # before fixfix52: a Logon every 300 ms, each one number higher
        assert side.venue.session.state is FixSessionState.LOGIN_REFUSED
        assert side.venue.reconnect_delay_ns(1) is None
        errors = [r.getMessage() for r in caplog.records if "LOGON REFUSED" in r.getMessage()]
        assert len(errors) == 1, errors
        assert f"expecting {ours + 40}" in errors[0] and f"it expects {ours + 40}" in errors[0]
        assert f"ask the venue desk to expect MsgSeqNum {ours + 1} from us" in errors[0]
        assert "gateway venue reconnect FIXV" in errors[0]
        status = side.venue.status()
        assert status["state"] == "LOGIN_REFUSED" and status["login_refused_expected_seq"] == ours + 40
        assert "MsgSeqNum too low" in str(status["last_login_refusal"])
        # the venue desk sets its expected number to ours; the operator's reconnect logs on
        sim.set_next_target_seq(side.venue.session.next_sender_seq)
        assert side.venue.reconnect() and side.venue.state is VenueState.DISCONNECTED
        assert not side.venue.reconnect()  # once out of LOGIN_REFUSED it is refused
        assert side.connector.restart()
        await side.wait_up(10.0)
        assert "last_login_refusal" not in side.venue.status()
        await side.stop()


class _RestartingVenue(RawVenue):
    """A raw acceptor that refuses the first ``refusals`` Logons with a Logout (a venue still starting) and closes."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusals > 0:
            self.refusals -= 1
            await reader.read(65536)
            self.peer.next_seq = 1
            writer.write(self.peer.message(MsgType.LOGOUT, [(b"58", b"session not available: venue restarting")]))
            await writer.drain()
            writer.close()
            return
        await super()._serve(reader, writer)


async def test_logon_when_venue_refuses_with_another_text_then_retried_and_up(tmp_path: Path) -> None:
    venue = await _RestartingVenue(refusals=2).start()
    try:
        side = await _gateway(venue, tmp_path)
        await wait_until(lambda: side.venue.state is VenueState.UP, 10.0, "the session to be UP")
        # counted when the connector's task resumes after the connect, which a loaded machine can run after the
        # Logon's answer made the session UP: waited for, not read at once
        await wait_until(lambda: side.connector.connections == 3, 10.0, "the third connection counted")
        assert VenueState.LOGIN_REFUSED not in side.states
        await side.stop()
    finally:
        await venue.close()


class _NotOpenYetVenue(RawVenue):
    """Refuses the first ``refusals`` Logons with Logout "Session not open yet, try later" and NextExpectedMsgSeqNum
    (789) = the Logon's MsgSeqNum + 1: it counted the Logon before refusing it, then closes."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.logon_seqs: list[int] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusals > 0:
            self.refusals -= 1
            (logon,) = [m for m in FrameDecoder().feed(await reader.read(65536)) if isinstance(m, FixMessage)]
            self.logon_seqs.append(logon.seq)
            self.peer.next_seq = 1
            fields = [(b"58", b"Session not open yet, try later"), (b"789", str(logon.seq + 1).encode())]
            writer.write(self.peer.message(MsgType.LOGOUT, fields))
            await writer.drain()
            writer.close()
            return
        await super()._serve(reader, writer)


async def test_logon_when_venue_refuses_not_open_yet_with_789_our_logon_plus_1_then_retried_and_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """fixfix54: 789 = our Logon + 1 says the venue counted our Logon, not that it expects more: the Text decides.
    Before, fix53 took any 789 above our Logon's number as "MsgSeqNum too low" whatever the Text: LOGIN_REFUSED
    after one try, with advice to set our number (a venue still opening was never tried again)."""
    venue = _NotOpenYetVenue(refusals=2)
    await venue.start()
    try:
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            side = await _gateway(venue, tmp_path)
            await wait_until(lambda: side.venue.state is VenueState.UP, 10.0, "the session to be UP")
        assert VenueState.LOGIN_REFUSED not in side.states
        assert not [r for r in caplog.records if "LOGON REFUSED" in r.getMessage()]
        assert venue.logon_seqs == [1, 2]  # each refused Logon took its number; the third logged on
        assert venue.messages(MsgType.LOGON)[0].seq == 3
        await side.stop()
    finally:
        await venue.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MsgSeqNum too low, expecting 57 but received 12", 57),
        ("Sequence number too low (expected: 900)", 900),
        ("MsgSeqNum(34) too low", 0),
        ("venue restarting", None),
        ("too low", None),
        ("", None),
        ("Invalid logon: unknown SenderCompID", None),
        # fix53: too low in other words, and expected/received pairs
        ("Sequence number 12 lower than expected 57", 57),
        ("MsgSeqNum 12 is less than expected", 0),
        ("Logon seq num below the expected value", 0),
        ("Expected sequence 57, received 12", 57),
        ("Sequence mismatch: expected 57 got 12", 57),
        ("received seq 12, expected 57", 57),
        ("MsgSeqNum too high, expecting 5 but received 9", None),  # QuickFIX's: too high is no such refusal
        ("NextExpectedMsgSeqNum too high, expecting 5 but received 9", None),
        ("Price less than expected", None),
        ("HeartBtInt 60 less than expected 30", None),
    ],
)
def test_seq_too_low_refusal_when_text_then_expected_number_or_none(text: str, expected: int | None) -> None:
    assert seq_too_low_refusal(text) == expected


@pytest.mark.parametrize(
    ("text", "logon_seq", "next_expected", "expected"),
    [
        ("expecting 57 but received 12", 12, 0, 57),  # no sequence words, but 12 is our Logon's number
        ("expecting 57 but received 12", 13, 0, None),  # not our Logon's number: not ours to judge
        ("", 12, 57, 57),  # NextExpectedMsgSeqNum (789) above our Logon's number
        ("", 12, 12, None),  # 789 at our Logon's number: not too low (retried)
        ("MsgSeqNum too low, expecting 57 but received 12", 12, 5, None),  # 789 is the venue's own word
        ("Logon rejected", 12, 14, 14),  # 789 above our Logon + 1: it expects more than our Logon took
        # fixfix54: 789 = our Logon + 1: it counted our Logon (or expected just that one more): the Text decides
        ("Session not open yet, try later", 12, 13, None),
        ("", 12, 13, None),
        ("MsgSeqNum too low, expecting 13 but received 12", 12, 13, 13),
        ("MsgSeqNum(34) too low", 12, 13, 13),  # too low in words, no number: 789's
    ],
)
def test_seq_too_low_refusal_when_logon_seq_and_789_then_judged_by_numbers(
    text: str, logon_seq: int, next_expected: int, expected: int | None
) -> None:
    assert seq_too_low_refusal(text, logon_seq, next_expected) == expected


class _RefusingVenue(RawVenue):
    """A raw acceptor that answers every Logon with a Logout carrying ``fields`` and closes (fix53)."""

    def __init__(self, fields: list[tuple[bytes, bytes]]) -> None:
        super().__init__()
        self.fields = fields
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.read(65536)
        self.peer.next_seq = 1
        writer.write(self.peer.message(MsgType.LOGOUT, self.fields))
        await writer.drain()
        writer.close()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([(b"58", b"Sequence number 1 lower than expected 57")], 57),
        ([(b"58", b"Expected sequence 57, received 1")], 57),
        ([(b"789", b"57")], 57),
        ([(b"58", b"Logon rejected"), (b"789", b"57")], 57),
        ([(b"58", b"MsgSeqNum 1 was below the expected 57")], 57),  # fix55: before, retried (57 taken as received)
    ],
    ids=["lower-than", "expected-received", "789-alone", "789-with-text", "was-below-the-expected"],
)
async def test_logon_when_venue_says_seq_too_low_in_other_words_then_login_refused_after_one_logon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fields: list[tuple[bytes, bytes]], expected: int
) -> None:
    venue = _RefusingVenue(fields)
    await venue.start()
    try:
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            side = await _gateway(venue, tmp_path)
            await wait_until(lambda: side.venue.state is VenueState.LOGIN_REFUSED, 10.0, "LOGIN_REFUSED")
            await wait_until(lambda: side.task is not None and side.task.done(), 5.0, "the connector to stop")
            await asyncio.sleep(0.8)  # before fix53 these were retried: 3 more Logons by now
        assert venue.connections == 1
        assert side.venue.status()["login_refused_expected_seq"] == expected
        errors = [r.getMessage() for r in caplog.records if "LOGON REFUSED" in r.getMessage()]
        assert len(errors) == 1 and f"it expects {expected}" in errors[0], errors
        await side.connector.stop()
        side.venue.close()
    finally:
        await venue.close()


async def test_logon_when_venue_logout_names_789_not_above_our_logon_then_retried(tmp_path: Path) -> None:
    venue = _RefusingVenue([(b"58", b"session closing"), (b"789", b"1")])
    await venue.start()
    try:
        side = await _gateway(venue, tmp_path)
        await wait_until(lambda: venue.connections >= 3, 10.0, "the Logon retried")
        assert VenueState.LOGIN_REFUSED not in side.states
        await side.connector.stop()
        side.venue.close()
    finally:
        await venue.close()
