"""A refused ``gateway run`` leaves no empty directory behind, whatever refused it (fixboe54).

The ops guide (section 1) promises "a refused start leaves no empty ``journal/``, ``run/``, ``audit/`` or venue
directory behind". Before, only a refusal of the path checks kept it: a start refused later (risk limits that do not
load, a socket another process listens on) had already created ``var/{journal,run,audit,state,ouch}`` (with the
journal's and state directories' lock files in them) and left them there. Now the run notes the directories it
created and removes those a refused start left empty (lock files of its own aside); data is never removed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.test_startup_log_doc import documented

REPO = Path(__file__).resolve().parents[2]
PORT = 49503  # fixboe54's range: nothing listens there (the venue never connects before the refusal)

CONFIG = """\
gateway_id: gwrefused
strategy_socket: {strategy_socket}
admin_socket: var/run/admin.sock
state_dir: var/state
loop: asyncio
risk_limits: risk/limits.yaml
risk_audit_log: var/audit/risk-audit.jsonl
journal:
  directory: var/journal
strategies:
  demo:
    accounts: [ACC1, ACC2, FUND7]
  momentum:
    accounts: [PROP3]
venues:
  - protocol: ouch
    name: OUCH
    host: 127.0.0.1
    port: {port}
    username: USER
    password: PASS
    state_dir: var/ouch
"""


def _setup(tmp_path: Path, *, strategy_socket: str = "var/run/strategies.sock") -> Path:
    shutil.copytree(REPO / "deploy" / "risk", tmp_path / "risk")
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG.format(strategy_socket=strategy_socket, port=PORT))
    return config


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway", "run", "--config", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=config.parent, check=False)


def _tree(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if not p.is_relative_to(tmp_path / "risk"))


@pytest.mark.parametrize("kind", ["config", "limits", "paths", "socket in use"])
def test_run_when_the_start_is_refused_then_no_directory_it_created_is_left(tmp_path: Path, kind: str) -> None:
    listener = None
    if kind == "socket in use":  # another process listens on the strategy socket (its directory exists)
        (tmp_path / "sockets").mkdir()
        config = _setup(tmp_path, strategy_socket="sockets/strategies.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(tmp_path / "sockets" / "strategies.sock"))
        listener.listen()
    else:
        config = _setup(tmp_path)
    if kind == "config":
        config.write_text(config.read_text().replace("gateway_id:", "gateway_idd:"))
    elif kind == "limits":
        (tmp_path / "risk" / "limits.yaml").write_text("version: [1, 2\n")
    elif kind == "paths":  # the admin socket's path is a regular file: refused before anything is created
        config.write_text(config.read_text().replace("var/run/admin.sock", "admin.sock"))
        (tmp_path / "admin.sock").write_text("not a socket\n")
    before = _tree(tmp_path)
    try:
        run = _run(config)
    finally:
        if listener is not None:
            listener.close()
    expected_rc = {"config": 2, "limits": 2, "paths": 1, "socket in use": 1}[kind]
    assert run.returncode == expected_rc and "Traceback" not in run.stderr, run.stderr
    assert "failed to start" in run.stderr or kind == "config", run.stderr
    left = [p for p in _tree(tmp_path) if p not in before]
    assert not [p for p in left if p.endswith(".lock")], left  # the old code: gateway.lock, state.lock
    for name in left:  # a directory the start created stays only with data in it (the journal file, the audit log)
        path = tmp_path / name
        assert not path.is_dir() or any(p.is_file() for p in path.rglob("*")), left
    if kind == "socket in use":  # the start got as far as the journal and the audit log: data, kept
        assert "var/run" not in left and "var/journal" in left, left  # the old code: var/run left, empty
    else:
        assert left == [], left  # the old code, limits: var, var/journal, var/journal/gateway.lock, var/run, ...
    removed = [line for line in run.stderr.splitlines() if "this refused start had created" in line]
    assert len(removed) == (1 if kind in ("limits", "socket in use") else 0), run.stderr
    assert all(documented(line) for line in removed), removed  # ops guide section 6


def test_run_when_a_refused_start_removes_one_directory_then_the_line_says_directory_not_1_directories(
    tmp_path: Path,
) -> None:
    """boe55 item 3: one directory removed read "removed the 1 empty directories"."""
    config = _setup(tmp_path)
    for name in ("journal", "audit", "state", "ouch"):  # all there but var/run: the start creates that one only
        (tmp_path / "var" / name).mkdir(parents=True)
    (tmp_path / "risk" / "limits.yaml").write_text("version: [1, 2\n")
    run = _run(config)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    (removed,) = [line for line in run.stderr.splitlines() if "this refused start had created" in line]
    assert f"removed the empty directory this refused start had created: {tmp_path / 'var' / 'run'}" in removed or (
        "removed the empty directory this refused start had created: var/run" in removed
    ), removed  # the old code: "removed the 1 empty directories ..."
    assert "1 empty directories" not in removed
    assert documented(removed), removed  # ops guide section 6
    assert not (tmp_path / "var" / "run").exists()
