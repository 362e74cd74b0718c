"""One gateway per journal directory and per socket: a second ``gateway run`` refuses and leaves the first alone.

Real processes on loopback: ``gateway sim ouch`` and two ``gateway run`` (A running, B started next to it).
Found by an ops review: B unlinked A's sockets on its way out (A unreachable: no status, no kill), and a B
with its own sockets but A's journal started fully, then truncated A's journal on its stop (A died SIGBUS).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.journal import read_journal
from gateway.journal_lock import LOCK_FILE
from model.enums import Side
from tests.reliability.support import GATEWAY, Gateway, RecordingClient, Simulator, wait_until, write_config

RESTING = 2_290_000


def _first(workdir: Path, sim: Simulator, gateways: list[Gateway], **options: Any) -> tuple[Gateway, Path]:
    """Start gateway A on a config written with ``options``; return it and the config (for B's)."""
    config = write_config(workdir, sim.port, **options)
    first = Gateway(workdir, config)
    gateways.append(first)
    first.start()
    return first, config


def _second(workdir: Path, config: Path, name: str, **changes: Any) -> Gateway:
    """Return gateway B: A's config with ``changes`` (its own log; its sockets as the changes say)."""
    values = yaml.safe_load(config.read_text())
    values.update(changes)
    path = workdir / f"gateway-{name}.yaml"
    path.write_text(yaml.safe_dump(values))
    second = Gateway(workdir, path)
    second.log = workdir / f"gateway-{name}.log"
    second.admin = workdir / values["admin_socket"]
    second.socket = workdir / values["strategy_socket"]
    return second


def _run_until_exit(gateway: Gateway, timeout_s: float = 30) -> int:
    gateway.start(wait_up=False)
    assert gateway.proc is not None
    return gateway.proc.wait(timeout_s)


def _inode(path: Path) -> int:
    return os.lstat(path).st_ino


def _errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if " ERROR " in line or " CRITICAL " in line]


async def _rest_orders(gateway: Gateway, count: int, prefix: str = "R") -> None:
    client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix=prefix)
    await client.connect()
    handles = [
        await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100 + i, price_ticks=RESTING) for i in range(count)
    ]
    for handle in handles:
        await handle.wait_accepted(15)
    await client.close()


def _refused_on_the_journal(first: Gateway, second: Gateway, workdir: Path) -> None:
    """B exits 1 with one ERROR line naming the journal directory and A's pid, having read and written nothing."""
    journal = first.journal()
    before = journal.read_bytes()[4096:]  # the records (A's own syncer may still update the header page's synced end)
    sockets = {path: _inode(path) for path in (first.admin, first.socket)}
    assert _run_until_exit(second) == 1
    text = second.log_text()
    errors = _errors(text)
    assert len(errors) == 1, text
    assert f"journal directory {workdir / 'journal'} is in use by another gateway" in errors[0]
    assert first.proc is not None and f"(pid {first.proc.pid}," in errors[0]
    for later in ("released cl_ord_id table", "recovered", "venue OUCH", "listening on"):
        assert later not in text, text  # refused first: before the journal, the venue session and the sockets
    assert journal.read_bytes()[4096:] == before
    assert {path: _inode(path) for path in sockets} == sockets  # A's sockets untouched
    assert first.status()["pid"] == first.proc.pid  # A still answers


def test_second_gateway_with_the_same_config_when_started_then_refused_and_first_keeps_its_sockets(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    first, config = _first(workdir, sim, gateways)
    asyncio.run(_rest_orders(first, 3))
    second = _second(workdir, config, "b")
    gateways.append(second)
    _refused_on_the_journal(first, second, workdir)
    assert first.status()["orders_open"] == 3
    assert first.stop() == 0
    assert not first.admin.exists() and not first.socket.exists()  # its own sockets: removed at its stop


def test_second_gateway_with_own_sockets_sharing_the_journal_when_started_then_refused_and_journal_intact(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    first, config = _first(workdir, sim, gateways, fsync="interval")
    asyncio.run(_rest_orders(first, 3))
    second = _second(workdir, config, "b", strategy_socket="sb.sock", admin_socket="ab.sock")
    gateways.append(second)
    _refused_on_the_journal(first, second, workdir)
    assert not second.admin.exists() and not second.socket.exists()
    asyncio.run(_rest_orders(first, 2, "T"))  # A keeps writing its journal (the old B had cut it: A died SIGBUS)
    assert first.status()["orders_open"] == 5
    assert first.stop() == 0
    first.start()  # and restarts from it
    assert first.status()["orders_open"] == 5


def test_second_gateway_with_own_journal_on_the_same_sockets_when_started_then_refused_and_sockets_kept(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    first, config = _first(workdir, sim, gateways)
    sockets = {path: _inode(path) for path in (first.admin, first.socket)}
    venues = yaml.safe_load(config.read_text())["venues"]
    own_state = {"state_dir": "state-b", "venues": [{**venues[0], "state_dir": "ouch-b"}]}
    second = _second(workdir, config, "b", journal={"directory": "journal-b", "fsync": "none"}, **own_state)
    gateways.append(second)
    assert _run_until_exit(second) == 1
    text = second.log_text()
    assert "another process is listening on this socket" in text
    assert {path: _inode(path) for path in sockets} == sockets  # the old B unlinked both on its way out
    assert first.status()["venues"]["OUCH"]["state"] == "UP"
    asyncio.run(_rest_orders(first, 1, "T"))  # strategies still reach A
    assert first.stop() == 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _holds(pid: int, path: Path) -> bool:
    target = os.path.realpath(path)
    fds = Path(f"/proc/{pid}/fd")
    return any(os.path.realpath(fd) == target for fd in fds.iterdir())


def test_lock_when_gateway_runs_then_only_it_holds_it_readers_still_read_and_kill_9_releases_it(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    first, _config = _first(workdir, sim, gateways, fsync="interval")
    asyncio.run(_rest_orders(first, 2))
    assert first.proc is not None
    lock = workdir / "journal" / LOCK_FILE
    assert lock.read_text() == f"{first.proc.pid}\n"
    assert _holds(first.proc.pid, lock)
    syncers = _children(first.proc.pid)
    assert syncers, "the journal syncer process"
    assert not any(_holds(pid, lock) for pid in syncers)  # it would keep the lock if it outlived the gateway
    wait_until(lambda: len(list(read_journal(first.journal()))) > 2, 15, "records readable while A runs")
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    first.start()  # at once: the kernel dropped the lock with the process
    assert first.status()["orders_open"] == 2


def _pid_in_lock(lock: Path) -> str:
    try:
        return lock.read_text()
    except OSError:
        return ""


def test_lock_file_deleted_then_second_gateway_refused_on_the_journal_and_lock_put_back(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    first, config = _first(workdir, sim, gateways, fsync="interval")
    asyncio.run(_rest_orders(first, 3))
    assert first.proc is not None
    lock = workdir / "journal" / LOCK_FILE
    lock.unlink()  # a clean-up of stale *.lock files
    second = _second(workdir, config, "b", strategy_socket="sb.sock", admin_socket="ab.sock")
    gateways.append(second)
    journal = first.journal()
    before = journal.read_bytes()[4096:]
    assert _run_until_exit(second, 15) == 1  # the old code: B started on A's journal and cut it at its stop
    assert "is in use by another gateway" in second.log_text()
    assert journal.read_bytes()[4096:] == before
    wait_until(lambda: _pid_in_lock(lock) == f"{first.proc.pid}\n", 15, "A's lock file put back")  # type: ignore[union-attr]
    assert _holds(first.proc.pid, lock)
    # A's 0.25 s check either re-created the file before B made one, or saw B's file held by B (refusing orders
    # meanwhile) and, once B had exited, locked that file in place: either way A holds the path's lock again
    log_text = first.log_text()
    assert (
        "was deleted while the gateway held it: re-created and locked it again" in log_text
        or "was replaced by another file while the gateway held it; locked it: re-created and locked it again"
        in log_text
    )
    asyncio.run(_rest_orders(first, 2, "T"))
    assert first.status()["orders_open"] == 5 and first.status()["journal_error"] is None
    assert first.stop() == 0
    first.start()
    assert first.status()["orders_open"] == 5


def test_lock_file_replaced_and_held_by_another_process_then_orders_refused_until_it_lets_go(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    # the branch CI met by timing: A's check saw another process's lock file before that process exited
    first, _config = _first(workdir, sim, gateways, fsync="interval")
    asyncio.run(_rest_orders(first, 2))
    assert first.proc is not None
    lock = workdir / "journal" / LOCK_FILE
    lock.unlink()
    held = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(held, f"{os.getpid()}\n".encode())
        wait_until(lambda: first.status()["journal_error"] is not None, 15, "A refusing orders")
        assert "another gateway took this journal directory" in first.log_text()
    finally:
        os.close(held)  # the other process lets go
    wait_until(lambda: _pid_in_lock(lock) == f"{first.proc.pid}\n", 15, "A's pid in the lock file")  # type: ignore[union-attr]
    assert _holds(first.proc.pid, lock)
    wait_until(lambda: first.status()["journal_error"] is None, 15, "A accepting orders again")
    assert "was replaced by another file while the gateway held it; locked it" in first.log_text()
    asyncio.run(_rest_orders(first, 2, "T"))
    assert first.status()["orders_open"] == 4


def test_journal_directory_removed_and_made_again_then_all_put_back_and_second_gateway_refused(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    first, config = _first(workdir, sim, gateways, fsync="interval")
    asyncio.run(_rest_orders(first, 3))
    assert first.proc is not None
    directory = workdir / "journal"
    journal = first.journal()
    marker = journal.with_name(journal.name + ".open")
    assert marker.exists()
    shutil.rmtree(directory)
    directory.mkdir()
    lock = directory / LOCK_FILE
    wait_until(lambda: journal.exists() and marker.exists() and _pid_in_lock(lock), 15, "journal, marker, lock back")
    assert _pid_in_lock(lock) == f"{first.proc.pid}\n"
    second = _second(workdir, config, "b", strategy_socket="sb.sock", admin_socket="ab.sock")
    gateways.append(second)
    assert _run_until_exit(second, 15) == 1  # the old code: lock and marker gone, B started on the journal
    assert "is in use by another gateway" in second.log_text()
    text = first.log_text()
    assert "open marker" in text and "wrote it again" in text
    asyncio.run(_rest_orders(first, 2, "T"))
    first.kill9()  # not a clean stop: the marker written again makes the next start skip ids past this run's first
    first.start()
    status = first.status()
    assert status["orders_open"] == 5
    assert status["recovery"]["stopped_cleanly"] is False


@pytest.mark.parametrize("shared", ["state_dir", "venue OUCH state_dir"])
def test_second_gateway_with_own_journal_and_sockets_sharing_a_state_directory_when_started_then_refused(
    workdir: Path, sim: Simulator, gateways: list[Gateway], shared: str
) -> None:
    # rev50ops: B (A's gateway_id, its own journal directory and sockets, A's state_dir) started with no warning,
    # rewrote A's <state_dir>/<id>.journal-begun and shared A's OUCH UserRefNum store; the dry run said exit 0
    first, config = _first(workdir, sim, gateways, fsync="interval")
    asyncio.run(_rest_orders(first, 2))
    venues = yaml.safe_load(config.read_text())["venues"]
    changes: dict[str, Any] = {
        "journal": {"directory": "journal-b", "fsync": "none"},
        "strategy_socket": "sb.sock",
        "admin_socket": "ab.sock",
    }
    if shared == "state_dir":
        changes["venues"] = [{**venues[0], "state_dir": "ouch-b"}]
        directory = workdir / "var" / "state"
    else:
        changes["state_dir"] = "state-b"
        directory = workdir / "ouch"
    second = _second(workdir, config, "b", **changes)
    gateways.append(second)
    notes = {path: path.read_bytes() for path in (workdir / "var" / "state").glob("*.journal-begun")}
    assert notes  # A's note naming its journal
    assert first.proc is not None
    refusal = f"{shared} {directory} is in use by another gateway (pid {first.proc.pid}, config {config}, lock "

    dry = subprocess.run(
        [*GATEWAY, "launch", "--dry-run", "--", "--config", str(second.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert refusal in dry.stderr, dry.stderr

    assert _run_until_exit(second) == 1
    text = second.log_text()
    errors = _errors(text)
    assert len(errors) == 1 and refusal in errors[0], text
    for later in ("released cl_ord_id table", "recovered", "venue OUCH", "listening on"):
        assert later not in text.replace(errors[0], ""), text  # refused before reading state, the venue, the sockets
    assert not (workdir / "journal-b").exists() or not any((workdir / "journal-b").glob("*.journal"))
    assert {path: path.read_bytes() for path in notes} == notes  # A's journal-begun note untouched
    assert first.status()["orders_open"] == 2
    assert first.stop() == 0
    assert _run_until_exit_or_up(second)  # A gone: B may start now


def _run_until_exit_or_up(gateway: Gateway) -> bool:
    gateway.start(wait_up=True)
    return gateway.stop() == 0
