"""The simulators' record files, read by tests in another process while the simulator appends to them."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import msgspec
import pytest

from simulators.boe import exchange as boe_exchange
from simulators.ouch import exchange as ouch_exchange


@pytest.mark.parametrize("exchange", [ouch_exchange, boe_exchange], ids=["ouch", "boe"])
def test_read_records_when_the_last_line_is_still_being_appended_then_it_is_not_read_yet(
    tmp_path: Path, exchange: ModuleType
) -> None:
    lines = [msgspec.json.encode(exchange.InboundRecord(i, 1_000 + i, "O", outcome="accepted")) for i in (1, 2, 3)]
    path = tmp_path / "record.jsonl"
    path.write_bytes(lines[0] + b"\n" + lines[1] + b"\n" + lines[2][: len(lines[2]) // 2])  # the third, half written
    assert [r.index for r in exchange.read_records(path)] == [1, 2]
    path.write_bytes(b"\n".join(lines) + b"\n")  # the third, complete
    assert [r.index for r in exchange.read_records(path)] == [1, 2, 3]
