"""A journal on a full disk with less free space than a growth step: writing resumes once there is room.

Real processes (``gateway run`` + ``gateway sim ouch``) with the journal directory on a 2 MiB tmpfs
(``mount -t tmpfs -o size=2m``; skipped where mounting is not permitted). The disk is filled with a
filler file before the gateway starts, leaving just the pages of the lock file and the journal header:
the first journal write fails. Found by an ops review: each growth asked for the records plus a 64 MiB
step, so after space was freed (but less than 64 MiB) the journal never wrote again; a SIGTERM in
that state ended in a traceback (exit 1, no "stopped" line); text ``gateway status`` did not say it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.app import EXIT_JOURNAL_NOT_DURABLE
from gateway.commands.admin import format_status
from gateway.journal import lock_journal_directory
from model.enums import Side
from tests.reliability.support import (
    Gateway,
    RecordingClient,
    Simulator,
    fill_disk,
    fill_rest,
    journal_date,
    wait_until,
    write_config,
)

RESTING = 2_290_000


def _failing(gateway: Gateway) -> bool:
    status = gateway.status_or_none()
    return status is not None and bool(status.get("journal_error"))


async def _one_order(gateway: Gateway) -> None:
    client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="D")
    await client.connect()
    handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
    await handle.wait_accepted(10)
    await client.close()


def _start_on_full_disk(workdir: Path, sim: Simulator, disk: Path, gateways: list[Gateway]) -> tuple[Gateway, Path]:
    filler = fill_disk(disk, "rel")
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal={"directory": str(disk), "fsync": "none"}))
    gateways.append(gateway)
    gateway.start(wait_up=False)
    wait_until(lambda: _failing(gateway), 15, "the first journal write to fail (disk full)")
    assert "JOURNAL WRITE FAILED" in gateway.log_text()
    return gateway, filler


def test_journal_when_space_freed_below_a_growth_step_then_writing_resumes_and_status_text_says_it(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    gateway, filler = _start_on_full_disk(workdir, sim, small_disk, gateways)
    text = format_status(gateway.status())
    journal_line = next(line for line in text.splitlines() if line.startswith("journal:"))
    assert "WRITE FAILING" in journal_line and "No space left on device" in journal_line
    filler.unlink()  # 2 MiB free now: far less than a 64 MiB step (the old code never wrote again)
    wait_until(lambda: not _failing(gateway), 10, "the journal to be written again")
    assert "journal writable again" in gateway.log_text()
    assert "grew by" in gateway.log_text()  # the ops log says the step was cut short
    gateway.wait_up()
    asyncio.run(_one_order(gateway))
    assert "WRITE FAILING" not in format_status(gateway.status())
    assert gateway.stop() == 0


def test_sigterm_when_journal_cannot_be_written_then_stop_completes_logs_it_and_exits_with_its_code(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    gateway, _filler = _start_on_full_disk(workdir, sim, small_disk, gateways)
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE  # the old code: traceback out of close, exit 1
    text = gateway.log_text()
    assert "Traceback" not in text, text
    assert "JOURNAL NOT DURABLE AT STOP" in text and "bytes of records were never written" in text
    assert "gateway rel stopped" in text
    assert not gateway.admin.exists() and not gateway.socket.exists()


@pytest.mark.parametrize("lock_there", [False, True], ids=["no-lock-file", "lock-file-there"])
def test_start_when_journal_disk_full_then_exit_1_naming_the_file_and_its_config_key(
    workdir: Path, sim: Simulator, small_disk: Path, lock_there: bool
) -> None:
    # rev48chaos LOW: "failed to start: [Errno 28] No space left on device", naming neither file nor setting
    if lock_there:
        lock_journal_directory(small_disk).release()  # then the journal's header page is the first write to fail
    fill_rest(small_disk / "filler")
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal={"directory": str(small_disk)}))
    gateway.start(wait_up=False)
    assert gateway.proc is not None
    assert gateway.proc.wait(30) == 1
    (line,) = [line for line in gateway.log_text().splitlines() if "failed to start" in line]
    named = small_disk / (f"rel-{journal_date()}.journal" if lock_there else "gateway.lock")
    assert f"No space left on device: {named} " in line, line
    assert "journal.directory" in line, line
