"""A refused ``gateway run`` takes back the FIX message store it created; what it keeps, it keeps for a reason (ops55).

Found by an ops review: a start refused after the venues were built (here: another process listens on the strategy
socket) left a 51-byte FIX store of its own in ``store_dir`` (so the directory it had created stayed too), although
the store held nothing the next start would not write anew (the creation time, the numbers 1 and 1). Now the stop
of a refused start deletes a store this start created and never wrote to, and logs it. The FIX (and BOE) start
counter stays raised, by design: a start number is never used twice, and the venue may have been reached before the
refusal (docs/venues/fix.md, ClOrdIDs); the ops guide says so (section 6).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

from tests.ops.test_startup_log_doc import documented
from venues.fix.store import FileStore

REPO = Path(__file__).resolve().parents[2]
PORT = 49250  # ops55's range: nothing listens there (the venue is never reached before the refusal)

CONFIG = """\
gateway_id: gwrefused55
strategy_socket: sockets/strategies.sock
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
  - protocol: fix
    name: EQX
    host: 127.0.0.1
    port: {port}
    dialect: equities-fix42
    heartbeat_interval_s: 30
    store: file
    store_dir: var/fix
"""


def test_run_when_refused_after_the_venues_were_built_then_its_unused_fix_store_is_removed(tmp_path: Path) -> None:
    shutil.copytree(REPO / "deploy" / "risk", tmp_path / "risk")
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG.format(port=PORT))
    (tmp_path / "sockets").mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "sockets" / "strategies.sock"))
    listener.listen()
    try:
        argv = [sys.executable, "-m", "gateway", "run", "--config", str(config)]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    finally:
        listener.close()
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "failed to start" in run.stderr, run.stderr
    fix_dir = tmp_path / "var" / "fix"
    assert not list(fix_dir.glob("*.fixstore")), sorted(fix_dir.iterdir())  # the old code: a 51-byte store left
    assert [p.name for p in fix_dir.iterdir()] == ["EQX.fix-starts.json"]  # the start counter stays (documented)
    (line,) = [line for line in run.stderr.splitlines() if "removed the unused file this refused start" in line]
    assert "FIX.4.2-GATEWAY-EQX.fixstore" in line
    assert documented(line), line  # ops guide section 6


def test_remove_if_unused_when_created_here_and_untouched_then_removed_else_kept(tmp_path: Path) -> None:
    """Only a store this process created and never wrote to goes: the next start writes the same anew."""
    store = FileStore(tmp_path / "s.fixstore")
    assert store.created_here
    store.close()
    assert store.remove_if_unused()
    assert not (tmp_path / "s.fixstore").exists()
    used = FileStore(tmp_path / "u.fixstore")
    used.set_next_target_seq(5)  # a logon's numbers: the session's, never taken back
    used.close()
    assert not used.remove_if_unused()
    reset = FileStore(tmp_path / "r.fixstore")
    reset.reset(123)
    reset.close()
    assert not reset.remove_if_unused()
    kept = FileStore(tmp_path / "u.fixstore")  # not created by this one: never removed
    kept.close()
    assert not kept.remove_if_unused() and (tmp_path / "u.fixstore").exists()
