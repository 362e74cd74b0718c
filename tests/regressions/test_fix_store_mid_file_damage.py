"""Regression (found damaging a FIX store file): one bad byte in the middle cut every record after it, for good.

``FileStore`` cannot tell a torn tail from damage in the middle (it has no durable-point header like the
journal), so it cuts at the first record whose CRC fails. That stays, but it used to truncate the file there
with only a warning about a "torn or corrupt tail", although intact records followed: the sent messages and
both sequence numbers after the damage were deleted from disk, and nothing said that the numbers had gone
back. Now, when CRC-valid records follow the damage, the whole file is first kept next to the store
(``<name>.damaged-<offset>``), the store says how many intact records it cut (``damaged_records_cut``) and
logs that at ERROR; a plain torn tail is cut as before.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from venues.fix.store import FileStore


def _order(seq: int) -> bytes:
    return b"8=FIX.4.2\x019=5\x0135=D\x0111=Q%d\x0110=000\x01" % seq


def _written(path: Path) -> bytes:
    store = FileStore(path)
    for seq in range(1, 6):
        store.save_sent(seq, _order(seq))
    store.set_next_target_seq(42)
    store.close()
    return path.read_bytes()


def test_open_when_byte_flipped_mid_file_then_cut_but_whole_file_kept_and_error_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.fixstore"
    original = bytearray(_written(path))
    original[original.find(b"11=Q2") + 3] ^= 0x01
    path.write_bytes(bytes(original))
    with caplog.at_level(logging.WARNING, logger="venues.fix.store.file"):
        store = FileStore(path)
    assert [seq for seq, _ in store.get_sent(1, 10)] == [1]  # cut at the damage, as before
    assert store.damaged_records_cut == 4  # after the damaged SENT 2: SENT 3, 4, 5 and TARGET 42
    (kept,) = tmp_path.glob("s.fixstore.damaged-*")
    assert kept.read_bytes() == bytes(original)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "4 intact records" in errors[0].getMessage() and str(kept) in errors[0].getMessage()
    store.close()


def test_open_when_only_the_last_record_torn_then_cut_with_a_warning_and_nothing_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.fixstore"
    data = _written(path)
    path.write_bytes(data[:-3])  # the last record (TARGET 42) cut short
    with caplog.at_level(logging.WARNING, logger="venues.fix.store.file"):
        store = FileStore(path)
    assert store.truncated_bytes > 0 and store.damaged_records_cut == 0
    assert store.next_target_seq == 1 and store.next_sender_seq == 6
    assert list(tmp_path.glob("s.fixstore.damaged-*")) == []
    assert not [r for r in caplog.records if r.levelno == logging.ERROR]
    store.close()
