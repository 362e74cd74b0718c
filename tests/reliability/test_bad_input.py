"""Regressions found by fuzzing: inputs that escaped a decoder's contract as an exception."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config
from gateway.journal import FileJournal, JournalCorruptError, JSentCancel, JSentNew, read_journal
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import PROTOCOL_VERSION, Error, Hello
from gateway.recovery import recover
from gateway.strategy_session import StrategySession, StrategySessionState
from model.fsync import FsyncPolicy
from tests.harness import Rig
from tests.reliability.support import GATEWAY

NOT_UTF8_HELLO = b"\x00\x00\x00\x06\x93\x01\xa2\xcd\x41\x01"
"""A Hello whose strategy_id is not valid UTF-8 (MessagePack str with bytes cd 41)."""
NOT_UTF8_ORDER = b"\x00\x00\x00\x05\x92\x02\xa2\xcd\x41"
"""A NewOrder, too short, whose cl_ord_id is not valid UTF-8."""


def test_session_when_first_frame_has_invalid_utf8_then_fatal_bad_hello_not_exception() -> None:
    session = StrategySession(0)
    assert session.receive_data(NOT_UTF8_HELLO + encode_frame(Hello("S1", PROTOCOL_VERSION)), 1) == []
    assert session.is_closed() and session.close_reason.startswith("BAD_HELLO: Hello: `strategy_id` is not valid UTF-8")


def test_session_when_frame_after_hello_has_invalid_utf8_then_error_reply_and_session_goes_on() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.engine.link_data(link, NOT_UTF8_ORDER + NOT_UTF8_HELLO, rig.clock())
    errors = [m for m in link.received() if isinstance(m, Error)]
    # not MessagePack (a str that is not UTF-8) and no cl_ord_id to answer by: BAD_FRAME (protocol doc 7.2), as for
    # the same NewOrder at its full length; before rev54strat the short one's length check named it INVALID_MESSAGE.
    # The Hello is a second Hello whatever its fields: ALREADY_LOGGED_IN (7.2; BAD_FRAME before strat58)
    assert [(e.code, e.fatal) for e in errors] == [("BAD_FRAME", False), ("ALREADY_LOGGED_IN", False)]
    assert link.session.state is StrategySessionState.ACTIVE
    rig.new_order(link, "OK1")
    assert rig.engine.orders  # still trading


def test_config_when_file_not_utf8_then_config_error_with_position(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_bytes(b"gateway_id: x\ns\xff\xfe: 1\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_run_when_config_not_utf8_then_exit_2_with_reason_not_traceback(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_bytes(b"gateway_id: x\ns\xff\xfe: 1\n")
    result = subprocess.run(
        [*GATEWAY, "run", "--config", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2  # a bad config: systemd does not restart it (RestartPreventExitStatus=2)
    assert "not UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_recover_when_record_names_an_order_the_journal_never_created_then_corrupt_error_not_keyerror(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.journal"
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    journal.append(JSentNew(1, "1"))  # CRC-valid, but order 1 was never created: not this journal's start
    journal.close()
    with pytest.raises(JournalCorruptError, match="refers to order 1, which the journal never created"):
        recover(read_journal(path))


def test_run_when_journal_refers_to_unknown_order_then_exit_1_with_reason(tmp_path: Path) -> None:
    from tests.reliability.support import write_config

    config = write_config(tmp_path, 9)
    (tmp_path / "journal").mkdir()
    gateway_id = "rel"
    from tests.reliability.support import journal_date

    journal = FileJournal(tmp_path / "journal" / f"{gateway_id}-{journal_date()}.journal", fsync=FsyncPolicy.NONE)
    journal.append(JSentCancel(5))
    journal.close()
    result = subprocess.run(
        [*GATEWAY, "run", "--config", str(config)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 1
    assert "refers to order 5, which the journal never created (after reading 1 records of" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("payload", [b"\x92\x91\x01\xa1A", b"\x92\x81\x01\x02\xa1A"])
def test_session_when_frame_tag_is_a_list_or_map_then_invalid_message_error_not_exception(payload: bytes) -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    frame = len(payload).to_bytes(4, "big") + payload
    rig.engine.link_data(link, frame, rig.clock())
    errors = [m for m in link.received() if isinstance(m, Error)]
    assert [(e.code, e.fatal) for e in errors] == [("INVALID_MESSAGE", False)]
    assert link.session.state is StrategySessionState.ACTIVE
