"""The released-id table: preallocated for ``memory.released_ids_capacity``, one for the gateway, never forgetting.

Deterministic (no timing, no RSS): the table's buffer and size are compared, duplicates are sent.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gateway.admin import fetch_metrics, fetch_status
from gateway.commands.admin import format_status
from gateway.config import ConfigError, load_config
from gateway.journal import FileJournal
from gateway.protocol.messages import OrderRejected
from gateway.recovery import recover
from gateway.strategy_state import ReleasedIds, StrategyIds, slots_for
from model.fsync import FsyncPolicy
from tests.e2e.support import JOURNAL_METRICS_AT_START, running_gateway, short_tmp, without_free_bytes
from tests.harness import Rig
from tests.test_memory_bounds import KEPT, _rig, _trade


def test_released_ids_when_filled_to_capacity_then_the_same_buffer_holds_them() -> None:
    ids = ReleasedIds(10_000)
    table, nbytes = ids._table, ids.nbytes
    assert ids.slots == slots_for(10_000) == 16_384 and nbytes == 8 * 16_384
    assert ids.holds_without_growing() == 11_468 >= ids.capacity
    strategy = StrategyIds(ids)
    for i in range(ids.holds_without_growing()):
        strategy.add(f"c{i}")
    assert ids._table is table and ids.nbytes == nbytes and ids.grown == 0  # allocated once, at start-up
    assert len(strategy) == len(ids) == 11_468
    assert ids.status() == {"capacity": 10_000, "used": 11_468, "slots": 16_384, "bytes": nbytes, "grown": 0}
    strategy.add("one-more")  # past 70 %: grows, never refuses
    assert ids._table is not table and ids.grown == 1 and ids.slots == 32_768
    assert all(f"c{i}" in strategy for i in range(0, 11_468, 7)) and "one-more" in strategy


def test_released_ids_of_two_strategies_share_one_table_without_mixing_their_ids() -> None:
    ids = ReleasedIds(1_024)
    s1, s2 = StrategyIds(ids), StrategyIds(ids)
    for i in range(500):
        s1.add(f"c{i}")
    s2.add("c0")
    assert len(ids) == 501 and len(s1) == 500 and len(s2) == 1
    assert "c0" in s1 and "c0" in s2 and "c1" in s1 and "c1" not in s2
    assert "c9999" not in s1


def test_a_released_id_is_refused_beyond_the_capacity_with_one_warning_per_growth(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = _rig(tmp_path)
    rig.engine.released_ids = ReleasedIds(1_024)  # holds 1,433 before it grows
    link = rig.connect("S1")
    other = rig.connect("S2")
    with caplog.at_level(logging.WARNING, logger="gateway.strategy_state"):
        _trade(rig, link, 0, 3_000)
    table = rig.engine.released_ids
    st = rig.engine.strategies["S1"]
    assert st.released.ids is table and rig.engine.strategies["S2"].released.ids is table
    assert table.grown == 1 and len(table) == len(st.released) > 1_433
    growth = [r for r in caplog.records if "released cl_ord_id table over its capacity" in r.getMessage()]
    assert len(growth) == 1 and "1433 ids held" in growth[0].getMessage()
    assert "2048 to 4096 slots" in growth[0].getMessage()
    rig.new_order(link, "c0")
    rig.new_order(other, "c0", account="ACC2")  # the same id of another strategy is not a duplicate
    answers = link.received()
    assert len(answers) == 1 and isinstance(answers[0], OrderRejected)
    assert (answers[0].cl_ord_id, answers[0].code) == ("c0", "DUPLICATE_CL_ORD_ID")
    assert not [a for a in other.received() if isinstance(a, OrderRejected)]


def test_after_a_restart_a_released_id_is_in_the_new_engines_table_and_refused(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    link = rig.connect("S1")
    _trade(rig, link, 0, 3_000)
    rig.engine.journal.close()
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    again = Rig(journal=journal)
    again.engine.terminal_orders_kept = KEPT
    again.engine.events_kept = KEPT
    again.engine.adopt(recover(journal.records()))
    st = again.engine.strategies["S1"]
    assert st.released.ids is again.engine.released_ids and len(again.engine.released_ids) == len(st.released)
    assert len(st.released) >= 3_000 - KEPT - 1_024
    link = again.connect("S1", last_seq=6_000)
    again.new_order(link, "c0")
    again.new_order(link, "fresh")
    rejected = [a for a in link.received() if isinstance(a, OrderRejected)]
    assert [(a.cl_ord_id, a.code) for a in rejected] == [("c0", "DUPLICATE_CL_ORD_ID")]  # "fresh" went out


@pytest.mark.parametrize("value", [0, 1_023, 1 << 31])
def test_released_ids_capacity_out_of_range_is_a_config_error_saying_why(tmp_path: Path, value: int) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(f"memory:\n  released_ids_capacity: {value}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "released_ids_capacity must be 1,024 to 1,073,741,824 ids" in str(error.value)
    assert f"got {value:,}" in str(error.value) and str(error.value).startswith(f"{path}:2:3: memory: ")


def test_released_ids_capacity_from_the_config_is_the_engines_table(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("memory:\n  released_ids_capacity: 100000\n")
    assert load_config(path).memory.released_ids_capacity == 100_000


async def test_status_metrics_and_the_start_up_log_show_the_released_id_table(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.app")
    async with running_gateway(short_tmp()) as (process, _sim):
        process.add_memory_providers()
        engine = process.engine
        assert engine is not None
        assert engine.released_ids.capacity == process.config.memory.released_ids_capacity == 1_048_576
        admin = process.config.path(process.config.admin_socket)
        loop = asyncio.get_running_loop()
        status = await loop.run_in_executor(None, fetch_status, admin)  # as ``gateway status`` reads it
        metrics = await loop.run_in_executor(None, fetch_metrics, admin)
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("released cl_ord_id table:")]
    assert len(logged) == 1
    assert "16 MiB (2097152 slots) for 1048576 ids (memory.released_ids_capacity; grows past 1468006)" in logged[0]
    table = {"capacity": 1_048_576, "used": 0, "slots": 2_097_152, "bytes": 16 << 20, "grown": 0}
    assert status["memory"] == {"released_ids": table}
    assert "released cl_ord_ids: 0 of capacity 1048576 (16 MiB, grown 0 times)" in format_status(status)
    assert without_free_bytes(metrics.extra) == {
        **JOURNAL_METRICS_AT_START,
        "released_ids_capacity": 1_048_576,
        "released_ids_used": 0,
        "released_ids_bytes": 16 << 20,
        "released_ids_grown_total": 0,
    }
