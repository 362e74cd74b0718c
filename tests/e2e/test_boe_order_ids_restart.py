"""A real restart against the BOE simulator after a ``kill -9`` whose journal was then moved away (rev56diff item 1).

The killed process leaves ``<venue>.boe-order-ids.json`` as ``{reserved, last: null, journal: P}``. Its journal (and
its ``.open`` marker) is moved away and the day begun on an empty journal at the same path P on purpose (the
documented step: move ``<id>.journal-begun`` aside, docs/reliability.md 2.3d). The start sees a clean, empty journal;
before, BOE waived its floor because the path matched, the ids began at 1 again and Cboe got the day's first ClOrdID
a second time (the simulator: ``New Order 7l91 again``), then a Cancel naming it for the old order. The ``kill -9``
is the file put back as the killed process left it after a stop (the in-process gateway cannot be killed); the
marker left alone is written back with ``mark_journal_open``. Unit rules over every combination:
tests/boe/test_order_id_floor_every_start.py.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import msgspec
import pytest

from gateway.client import GatewayClient
from gateway.protocol.messages import OrderAccepted
from gateway.recovery import ORDER_ID_MARGIN, mark_journal_open
from model.enums import Side
from tests.e2e.support import short_tmp
from tests.e2e.test_boe_modify_up_and_late_fill import _simulator
from tests.e2e.test_trading_day import EAST, _config, _new_order_ids, _sock, _started
from venues.boe.state import ORDER_ID_BLOCK


@pytest.mark.parametrize(
    ("fsync", "marker_left"),
    [("none", False), ("batch", False), ("interval", True)],
    ids=["none-moved-with-marker", "batch-moved-with-marker", "interval-marker-left"],
)
async def test_restart_after_kill_on_an_empty_journal_at_the_same_path_then_no_clordid_again(
    fsync: str, marker_left: bool, caplog: pytest.LogCaptureFixture
) -> None:
    workdir = short_tmp()
    sim = await _simulator()
    config = _config(workdir, sim.port, EAST)
    config = msgspec.structs.replace(config, journal=msgspec.structs.replace(config.journal, fsync=fsync))
    process = None
    try:
        process = await _started(config)
        assert process.engine is not None and process.engine.next_order_id == 1
        async with GatewayClient(_sock(process), "S1") as client:
            old = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await old.wait_accepted(timeout=15), OrderAccepted)
        ids_file = workdir / "boe" / "CBOE.boe-order-ids.json"
        as_killed = ids_file.read_bytes()  # what a kill -9 leaves: the block reserved, no last
        [journal] = (workdir / "journal").glob("*.journal")
        assert json.loads(as_killed) == {
            "day": json.loads(as_killed)["day"],
            "reserved": 1 + ORDER_ID_BLOCK,
            "last": None,
            "journal": str(journal),
        }
        await process.stop()
        process = None
        ids_file.write_bytes(as_killed)
        aside = workdir / "aside"
        aside.mkdir()
        for path in (workdir / "journal").glob("*"):
            shutil.move(path, aside / path.name)  # the journal (and its marker, had the stop been a kill)
        if marker_left:  # only the journal file moved: the killed process's marker (its first id 1) stays
            assert mark_journal_open(Path(journal), 1) is None
        shutil.move(workdir / "state" / "e2e.journal-begun", aside / "e2e.journal-begun")  # begin the day empty
        caplog.set_level(logging.WARNING)
        process = await _started(config)
        assert process.engine is not None
        first = process.engine.next_order_id
        async with GatewayClient(_sock(process), "S1") as client:
            new = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            answer = await new.wait_accepted(timeout=15)
        ids = _new_order_ids(sim)
        assert len(ids) == 2 and len(set(ids)) == 2, ids  # the old code: ['7l91', '7l91']
        assert sim.exchange.violations == []  # the old code: ['#3 New Order 7l91 again (seq 3)']
        assert isinstance(answer, OrderAccepted), answer
        skips = marker_left  # the core saw a stop that was not clean (fsync interval): the margin from the journal
        # just above the ids reserved (65,537), or the margin past the journal's: never the margin past the file's
        assert first == (1 + ORDER_ID_MARGIN if skips else 1 + ORDER_ID_BLOCK + 1)  # the old code: 1
        if not skips:
            assert f"venue state names order ids up to {1 + ORDER_ID_BLOCK}" in caplog.text
    finally:
        if process is not None:
            await process.stop()
        await sim.stop()
