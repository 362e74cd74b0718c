"""A refusal never echoes a bad value unbounded: every frame the gateway writes is at most 65,536 bytes (stratecho57).

Before, a NewOrder whose ``side`` (``tif``, ``ord_type``) was 20,000 ``\\x01`` characters (a 20,055-byte frame) was
answered ``OrderRejected INVALID_FIELD`` quoting msgspec's repr of the whole value, 4 characters per control
character: a frame of 80,081 bytes (a 65,400-character value: 261,681), above the protocol's maximum
(docs/strategy-protocol.md, sections 2 and 5). It was journaled and kept in the replay, so a client that enforces
the maximum (the SDK's ``FrameSplitter``) resuming from before it got its Welcome, then nothing more (rev57strat
F1). Now the session names a long bad value by its length and its first ``ECHO_MAX`` characters, escaped; every text
it builds is bounded (``bounded_answer_text``); ``StrategySession.send`` never writes a frame above the maximum (an
event an earlier version journaled is sent bounded); and recovery keeps such an event's text bounded.

A real engine and strategy server on a Unix socket, journaling to a file and recovered from it
(``tests/socket_gateway.py``); the strategy side is a client written from the protocol doc (``tests/rawclient.py``)
and the SDK (``gateway.client.GatewayClient``).
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Any

import pytest

import gateway.strategy_session as session_module
from gateway.client import GatewayClient
from gateway.journal import FileJournal
from gateway.journal_records import JRequest, JStrategyEvent
from gateway.protocol.messages import MAX_FRAME_SIZE, Canceled, CancelRejected, Executed, OrderRejected
from gateway.strategy_session import StrategySession
from model.enums import RejectSource
from model.fsync import FsyncPolicy
from model.venue_events import EVENT_MAX_TEXT
from tests import rawclient
from tests.rawclient import CANCEL, CANCEL_REJECTED, NEW_ORDER, ORDER_EVENTS, ORDER_REJECTED, RawClient, frame
from tests.socket_gateway import Gateway, wait_for

pytestmark = pytest.mark.timeout(120)

BAD_VALUES = [
    ("side", "\x01" * 20_000),  # 4 characters of repr each: an 80,081-byte answer before
    ("side", "X" * 65_400),  # a request frame just under the maximum: an answer just above it before
    ("tif", "\u2028" * 10_000),  # a line separator: escaped, never a line break in the text
]


def _new_order(cl_ord_id: str, req_seq: int, *, side: str = "B", tif: str = "0") -> bytes:
    return frame(NEW_ORDER, cl_ord_id, "ACC1", "V1", "AAPL", side, 100, 1_000_000, tif, "2", 0, req_seq)


def _sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Note the length of every complete frame the raw client reads (it reads any length, as a lenient client)."""
    sizes: list[int] = []
    monkeypatch.setattr(rawclient, "split", rawclient.sized_split(sizes))
    return sizes


async def _order_events(client: RawClient, count: int) -> list[list[Any]]:
    out: list[list[Any]] = []
    while len(out) < count:
        out += [m for m in await client.read(1, 20.0) if m[0] in ORDER_EVENTS]
    return out


def _journal_as_an_earlier_version(workdir: Path, values: list[str]) -> list[str]:
    """Journal S1's NewOrders 1.. refused as a version before stratecho57 refused them: msgspec's text quoting the
    whole bad ``side`` (written with the journal's own API: the compiled session cannot be patched to be old)."""
    texts = [f"Invalid enum value {value!r} - at `side`" for value in values]
    journal = FileJournal(workdir / "j", fsync=FsyncPolicy.NONE)
    for n, text in enumerate(texts, 1):
        event = OrderRejected(n, f"A{n}", RejectSource.GATEWAY, "INVALID_FIELD", text)
        journal.append(JRequest("S1", n, JStrategyEvent("S1", event)))
    journal.flush()
    journal.close()
    return texts


async def _sdk_resumes_and_gets_the_next_answer(gateway: Gateway, replayed: int) -> GatewayClient:
    """An SDK client resuming from seq 0 gets every event replayed, then the answer to a new request."""
    client = GatewayClient(gateway.path, "S1", last_seq=0)
    welcome = await client.connect(timeout=10)
    assert welcome.replayed == replayed
    await wait_for(lambda: len(client.history) == replayed, "the replay, read by the SDK", timeout_s=10)
    await client.cancel("after-it")
    await wait_for(lambda: len(client.history) == replayed + 1, "the answer after the replay", timeout_s=10)
    last = client.history[-1]
    assert isinstance(last, CancelRejected) and last.code == "UNKNOWN_ORDER", last
    return client


async def test_new_order_when_an_enum_is_a_huge_value_then_answer_bounded_readable_and_sdk_resumes_past_it(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = _sizes(monkeypatch)
    gateway = Gateway(sock_dir)
    await gateway.start()
    try:
        client = await RawClient(str(gateway.path)).connect()
        welcome = await client.hello("S1", version=3)
        assert welcome[5] == 0
        requests = b""
        for n, (field, value) in enumerate(BAD_VALUES, 1):
            request = _new_order(f"A{n}", n, **{field: value})
            assert len(request) - 4 <= MAX_FRAME_SIZE
            requests += request
        await client.send(requests + frame(CANCEL, "nope", 0, len(BAD_VALUES) + 1))
        answers = await _order_events(client, len(BAD_VALUES) + 1)
        assert max(sizes) <= MAX_FRAME_SIZE, sizes  # before: 80,081 / 261,681-byte frames
        for (field, value), answer in zip(BAD_VALUES, answers, strict=False):
            assert answer[:5] == [ORDER_REJECTED, answer[1], answer[2], "GATEWAY", "INVALID_FIELD"], answer[:5]
            text = answer[5]
            assert text.startswith(f"Invalid enum value of {len(value):,} characters, starting "), text[:200]
            assert text.endswith(f" - at `{field}`"), text[-100:]
            assert len(text) <= 400 and text.isprintable(), text
            assert repr(value[: session_module.ECHO_MAX]) in text
        assert answers[-1][:5] == [CANCEL_REJECTED, 4, "nope", "GATEWAY", "UNKNOWN_ORDER"]
        client.close()
    finally:
        gateway.stop()
        gateway.engine.journal.close()


async def test_sdk_when_resuming_from_before_such_an_answer_then_gets_it_and_every_answer_after(sock_dir: Path) -> None:
    """Before, the SDK got its Welcome, then nothing more, for as long as it ran (its splitter stopped at the
    oversize frame): every later answer and fill of the strategy lost to it, on every resume from before it."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    try:
        client = await RawClient(str(gateway.path)).connect()
        await client.hello("S1", version=3)
        await client.send(_new_order("A1", 1, side="\x01" * 20_000) + frame(CANCEL, "nope", 0, 2))
        answers = await _order_events(client, 2)
        client.close()
        sdk = await _sdk_resumes_and_gets_the_next_answer(gateway, 2)
        assert [e.seq for e in sdk.history] == [1, 2, 3]
        assert isinstance(sdk.history[0], OrderRejected) and sdk.history[0].text == answers[0][5]
        await sdk.close()
    finally:
        gateway.stop()
        gateway.engine.journal.close()


async def test_restart_when_an_earlier_version_journaled_an_unbounded_answer_then_kept_and_replayed_bounded(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An earlier version's answer (its whole value quoted) in today's journal: memory and every replay bounded."""
    sizes = _sizes(monkeypatch)
    (whole,) = _journal_as_an_earlier_version(sock_dir, ["\x01" * 20_000])
    assert len(whole) == 80_033  # a frame of 80,081 bytes, as the earlier version wrote and journaled it
    gateway = Gateway(sock_dir)  # restarted: recovered from the journal
    await gateway.start()
    try:
        (kept,) = gateway.engine.strategies["S1"].events
        assert isinstance(kept, OrderRejected)
        assert len(kept.text) <= EVENT_MAX_TEXT, len(kept.text)
        # as a new version answers it (echo57b: before, clipped, ending `\x01\x… [clipped: 80,033 characters]`)
        assert kept.text == f"Invalid enum value of 20,000 characters, starting {chr(1) * 32!r} - at `side`", kept.text
        again = await RawClient(str(gateway.path)).connect()
        welcome = await again.hello("S1", version=3, last_seq=0)
        assert welcome[5] == 1 and welcome[6] == 1
        (replayed,) = await _order_events(again, 1)
        assert replayed[:5] == [ORDER_REJECTED, 1, "A1", "GATEWAY", "INVALID_FIELD"] and replayed[5] == kept.text
        assert max(sizes) <= MAX_FRAME_SIZE, sizes
        again.close()
        sdk = await _sdk_resumes_and_gets_the_next_answer(gateway, 1)
        await sdk.close()
    finally:
        gateway.stop()
        gateway.engine.journal.close()


def test_journaled_form_when_an_earlier_answer_is_long_then_its_quoted_value_is_named_by_length() -> None:
    """The rule for an earlier version's answer (recovery and the journal read): a long quoted value gets the form a
    new answer has, also when the text says the request took no place (``NO_PLACE``); any other long text is
    clipped; a text within ``ANSWER_TEXT_MAX`` stays as it was journaled, byte for byte."""
    value = "\u2028" * 3_000
    old = f"Invalid value {value!r} - at `tif`{session_module.NO_PLACE}"
    event = OrderRejected(3, "A1", RejectSource.GATEWAY, "INVALID_FIELD", old)
    assert session_module.journaled_form(event).text == (
        f"Invalid value of 3,000 characters, starting {value[:32]!r} - at `tif`{session_module.NO_PLACE}"
    )
    other = OrderRejected(4, "A2", RejectSource.GATEWAY, "INVALID_FIELD", "y" * 3_000)
    marker = "… [clipped: 3,000 characters]"
    assert session_module.journaled_form(other).text == "y" * (EVENT_MAX_TEXT - len(marker)) + marker
    within = OrderRejected(5, "A3", RejectSource.GATEWAY, "INVALID_FIELD", f"Invalid enum value {'Z' * 200!r}")
    assert session_module.journaled_form(within) is within


@pytest.mark.parametrize(
    "message",
    [
        OrderRejected(7, "A1", RejectSource.GATEWAY, "INVALID_FIELD", "x" * 100_000),
        Canceled(8, "A1", 0, 0, "U", "\x01" * 70_000),
        Executed(9, "A1", 1, 1, "A", "E" * 80_000, 1, 0),
    ],
    ids=["rejected-text", "canceled-control-text", "executed-exec-id"],
)
def test_send_when_a_message_would_make_a_frame_above_the_maximum_then_sent_bounded_counted_and_logged(
    message: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The last guard: whatever the engine hands ``send`` (a replay of an earlier version's event), never a frame
    above the maximum; a message within it is written as it is."""
    session = StrategySession(0)
    with caplog.at_level(logging.WARNING, logger="gateway.strategy_session"):
        session.send(message)
        session.send(message)
        session.send(OrderRejected(10, "A2", RejectSource.GATEWAY, "INVALID_FIELD", "short"))
    out = bytes(session.take_output(0) or b"")
    frames = []
    while out:
        (length,) = struct.unpack_from(">I", out)
        frames.append(out[4 : 4 + length])
        out = out[4 + length :]
    assert [len(f) <= MAX_FRAME_SIZE for f in frames] == [True, True, True], [len(f) for f in frames]
    first = rawclient.unpack(frames[0])[0]
    assert first[:3] == [message.__struct_config__.tag, message.seq, "A1"]
    assert rawclient.unpack(frames[2])[0] == [18, 10, "A2", "GATEWAY", "INVALID_FIELD", "short"]
    assert session.oversize_replaced == 2
    lines = [r.getMessage() for r in caplog.records if "above the protocol's" in r.getMessage()]
    assert len(lines) == 1, lines  # the first on the connection; the next counted


def _frame_bytes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Keep the bytes of every complete order-event frame the raw client reads (with their length prefix)."""
    kept: list[bytes] = []
    split = rawclient.split

    def keeping(buffer: bytearray) -> list[list[Any]]:
        pos = 0
        while len(buffer) - pos >= 4:
            (length,) = struct.unpack_from(">I", buffer, pos)
            if len(buffer) - pos < 4 + length:
                break
            data = bytes(buffer[pos : pos + 4 + length])
            if rawclient.unpack(data[4:])[0][0] in ORDER_EVENTS:
                kept.append(data)
            pos += 4 + length
        return split(buffer)

    monkeypatch.setattr(rawclient, "split", keeping)
    return kept


async def _replayed_bytes(gateway: Gateway, frames: list[bytes], count: int) -> list[bytes]:
    """Resume S1 from seq 0 and return the bytes of the ``count`` events replayed."""
    frames.clear()
    client = await RawClient(str(gateway.path)).connect()
    welcome = await client.hello("S1", version=3, last_seq=0)
    assert welcome[5] == count, welcome
    await _order_events(client, count)
    client.close()
    return list(frames)


async def test_replay_when_an_earlier_version_journaled_a_long_answer_then_same_bytes_from_memory_and_journal(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One rule for an earlier version's long answer, however it is replayed (echo57b).

    Before, a 10,033-character INVALID_FIELD text (a frame of 10,064 bytes, under the maximum) was replayed clipped
    to 2,000 characters from memory (recovery's rule) but whole from the journal (``events_kept`` 0: no rule there,
    and the send guard only acts above 65,536 bytes); and the clip cut an escape in half (``\\x01\\x…``). Now both
    paths give the answer a new version gives (the value named by its length), before and after another restart.
    """
    frames = _frame_bytes(monkeypatch)
    values = ["\x01" * 2_500, "\x01" * 20_000]  # texts of 10,033 and 80,033 characters
    old = _journal_as_an_earlier_version(sock_dir, values)
    assert [len(text) for text in old] == [10_033, 80_033]

    seen: list[list[bytes]] = []
    for _ in range(2):  # the first start after the earlier version, then another restart
        gateway = Gateway(sock_dir)
        await gateway.start()
        try:
            seen.append(await _replayed_bytes(gateway, frames, len(values)))  # from memory
            gateway.engine.events_kept = 0
            assert gateway.engine.strategies["S1"].release_events(0) == len(values)
            seen.append(await _replayed_bytes(gateway, frames, len(values)))  # read from the journal
        finally:
            gateway.stop()
            gateway.engine.journal.close()

    sizes = [[len(f) - 4 for f in replay] for replay in seen]
    assert all(replay == seen[0] for replay in seen), sizes  # before: [2033, 2033] from memory, [10064, 2033] read
    for value, data in zip(values, seen[0], strict=True):
        answer = rawclient.unpack(data[4:])[0]
        assert answer[:5] == [ORDER_REJECTED, answer[1], answer[2], "GATEWAY", "INVALID_FIELD"], answer[:5]
        # as a new version answers it: the value named by its length, no escape cut in half
        expected = f"Invalid enum value of {len(value):,} characters, starting {value[:32]!r} - at `side`"
        assert answer[5] == expected, answer[5][-80:]


async def test_new_order_when_a_bad_value_is_just_over_or_under_32_characters_then_its_own_length_decides(
    sock_dir: Path,
) -> None:
    """The documented 32 characters are the value's, not its escaped form's (echo57b: before, values of 33 to 71
    characters were quoted whole, and 18 control characters were named by their length)."""
    cases = [
        ("X" * 33, False),
        ("X" * 71, False),
        ("€" * 70, False),
        ("X" * 32, True),
        ("\x01" * 18, True),
        ("\u2028" * 20, True),
        ("\x01" * 32, True),
    ]
    gateway = Gateway(sock_dir)
    await gateway.start()
    try:
        client = await RawClient(str(gateway.path)).connect()
        await client.hello("S1", version=3)
        await client.send(b"".join(_new_order(f"A{n}", n, side=value) for n, (value, _) in enumerate(cases, 1)))
        answers = await _order_events(client, len(cases))
        for (value, quoted), answer in zip(cases, answers, strict=True):
            assert answer[4] == "INVALID_FIELD", answer
            if quoted:
                assert answer[5] == f"Invalid enum value {value!r} - at `side`", answer[5]
            else:
                assert answer[5] == (
                    f"Invalid enum value of {len(value)} characters, starting {value[:32]!r} - at `side`"
                ), answer[5]
        client.close()
    finally:
        gateway.stop()
        gateway.engine.journal.close()
