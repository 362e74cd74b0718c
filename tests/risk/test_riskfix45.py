"""Findings of the stop-45 risk-officer review (rev45risk): restart after a held-back file, rm + write back."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from gateway.commands.risk_admin import RELOAD_BASE_S, RELOAD_S_PER_MB, RELOAD_UNKNOWN_S, reload_timeout
from model.clock import FakeClock
from risk.audit import read_audit_log
from risk.engine import WATCH_TRIGGER, WATCH_WHO, RiskEngine
from risk.limitsfile import LimitsFileError
from tests.risk.support import BASE_LIMITS, WALL_NS, merge, write_limits


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _full_and_prefix() -> tuple[str, str]:
    """A limits file whose restricted list comes last, and its prefix that ends before it (itself valid)."""
    doc = merge(BASE_LIMITS, {"restricted": {"no_trade": ["GME"], "sell_only": []}})
    doc["restricted"] = doc.pop("restricted")
    full = yaml.safe_dump(doc, sort_keys=False)
    return full, full[: full.index("restricted:")]


def _load(tmp_path: Path) -> RiskEngine:
    return RiskEngine.load(
        tmp_path / "limits.yaml",
        FakeClock(),
        tmp_path / "audit.jsonl",
        wall_clock=lambda: WALL_NS,
        keep=tmp_path / "state" / "gw-risk-in-force.yaml",
    )


def _held_back_then_restarted(tmp_path: Path) -> tuple[RiskEngine, str, str]:
    full, prefix = _full_and_prefix()
    limits = tmp_path / "limits.yaml"
    limits.write_text(full)
    engine = _load(tmp_path)
    limits.write_text(prefix)  # `cp` over it: in place, maybe half-written
    assert engine.changed_files() == []
    assert engine.status()["not_applied"][0]["sha256"] == _sha(prefix)
    assert (tmp_path / "state" / "gw-risk-in-force.yaml.not-applied.json").exists()
    engine.close()  # the process dies (kill -9 closes nothing more than this)
    return _load(tmp_path), full, prefix


def test_restart_when_file_was_held_back_then_the_limits_in_force_stay_and_it_is_still_not_applied(
    tmp_path: Path,
) -> None:
    engine, full, prefix = _held_back_then_restarted(tmp_path)
    status = engine.status()
    assert status["sha256"] == _sha(full)
    assert engine.limits_file.document.restricted.no_trade == ["GME"]
    assert [(n["file"], n["sha256"]) for n in status["not_applied"]] == [(str(tmp_path / "limits.yaml"), _sha(prefix))]
    startup = [r for r in read_audit_log(tmp_path / "audit.jsonl") if r["event"] == "startup"][-1]
    assert startup["sha256"] == _sha(full)
    [warning] = startup["warnings"]
    assert "modified in place and NOT applied before the gateway stopped" in warning
    assert _sha(prefix) in warning and _sha(full) in warning
    assert engine.changed_files() == [] and engine.status()["not_applied"] != []  # the watch still holds it back
    result = engine.reload("gateway risk reload", "alice")  # the write is complete
    assert result.ok and engine.status()["sha256"] == _sha(prefix) and engine.status()["not_applied"] == []
    assert not (tmp_path / "state" / "gw-risk-in-force.yaml.not-applied.json").exists()
    engine.close()
    again = _load(tmp_path)
    assert again.status()["sha256"] == _sha(prefix) and again.status()["not_applied"] == []
    assert (tmp_path / "state" / "gw-risk-in-force.yaml").read_text() == prefix
    again.close()


def test_restart_when_held_back_file_replaced_while_down_then_the_new_file_is_read(tmp_path: Path) -> None:
    full, prefix = _full_and_prefix()
    limits = tmp_path / "limits.yaml"
    limits.write_text(full)
    engine = _load(tmp_path)
    limits.write_text(prefix)
    assert engine.changed_files() == []
    engine.close()
    edited = full.replace("max_qty: 1000", "max_qty: 900", 1)
    copy = tmp_path / "limits.yaml.new"
    copy.write_text(edited)
    copy.replace(limits)  # `mv` while the gateway is down: another file
    restarted = _load(tmp_path)
    assert restarted.status()["sha256"] == _sha(edited) and restarted.status()["not_applied"] == []
    restarted.close()


def test_restart_when_held_back_and_the_copy_is_lost_then_refused_with_what_to_do(tmp_path: Path) -> None:
    engine, _, _ = _held_back_then_restarted(tmp_path)
    engine.close()
    (tmp_path / "state" / "gw-risk-in-force.yaml").unlink()
    with pytest.raises(LimitsFileError, match="modified in place and NOT applied before the gateway stopped"):
        _load(tmp_path)


def test_watch_when_removed_then_the_content_in_force_written_back_then_not_applied_is_cleared(
    tmp_path: Path,
) -> None:
    """rev45risk: `rm`, then the file written back as it is in force stayed NOT APPLIED until a reload."""
    limits = write_limits(tmp_path / "limits.yaml")
    in_force = limits.read_text()
    engine = _load(tmp_path)
    limits.unlink()
    assert engine.changed_files() == ["limits"]  # gone: the caller's reload is refused
    assert not engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    limits.write_text(in_force)  # a new file written at the path, exactly as in force
    assert engine.changed_files() == []
    assert engine.status()["not_applied"] == []
    assert [r["event"] for r in read_audit_log(tmp_path / "audit.jsonl")] == ["startup", "reload_refused"]
    limits.write_text(in_force.replace("max_qty: 1000", "max_qty: 10", 1))  # and written in place again later
    assert engine.changed_files() == [] and engine.status()["not_applied"] != []
    engine.close()


def _slow_admin(path: Path, delay_s: float) -> tuple[socket.socket, threading.Thread]:
    """An admin socket that answers one reload after ``delay_s`` (a gateway reading a large file)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            time.sleep(delay_s)
            reply = {"ok": True, "result": {"ok": True, "sha256": "ab" * 32, "changes": [], "warnings": []}}
            with contextlib.suppress(OSError):  # the CLI may have given up and closed
                conn.sendall(json.dumps(reply).encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def test_risk_reload_when_the_gateway_answers_late_then_the_cli_waits_as_long_as_told(tmp_path: Path) -> None:
    """rev45risk LOW: a 866 KB file took 23 s to apply; the CLI gave up after 10 s (exit 4, MAY STILL BE APPLIED)."""
    admin = tmp_path / "a.sock"
    for timeout, code in (("0.5", 4), ("10", 0)):
        server, thread = _slow_admin(admin, 1.5)
        argv = [sys.executable, "-m", "gateway", "risk", "reload", "--admin-socket", str(admin), "--timeout", timeout]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        thread.join(10)
        server.close()
        admin.unlink()
        assert result.returncode == code, result.stderr
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"risk_limits": "limits.yaml"}))
    (tmp_path / "limits.yaml").write_bytes(b"#" * 866_000)
    args = argparse.Namespace(timeout=None, config=str(config))
    assert reload_timeout(args) == pytest.approx(RELOAD_BASE_S + RELOAD_S_PER_MB * 0.866)
    assert reload_timeout(argparse.Namespace(timeout=None, config=str(tmp_path / "none.yaml"))) == RELOAD_UNKNOWN_S
    assert reload_timeout(argparse.Namespace(timeout=3.5, config=str(config))) == 3.5
