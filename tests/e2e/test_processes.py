"""Real processes: ``gateway sim ouch``, ``gateway launch -- run`` (kernel fallback, spin on), the CLI tools."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway.admin import AdminError, admin_request
from gateway.client import BlockingGatewayClient
from gateway.journal import JTradingState, read_journal
from gateway.protocol.messages import Executed
from model.enums import Side
from tests.e2e.support import e2e_limits, short_tmp
from tests.reliability.support import spawn_listening

GATEWAY = [sys.executable, "-m", "gateway"]

SEND_SIGHUP = """
import ctypes, os, signal, sys, time
ctypes.CDLL(None).prctl(15, b"hup-sender", 0, 0, 0)  # PR_SET_NAME: what /proc/<pid>/comm shows
os.kill(int(sys.argv[1]), signal.SIGHUP)
print("sent", flush=True)
time.sleep(30)  # stay alive so that the gateway can read the name
"""


def wait_until(condition: object, timeout_s: float, what: str) -> None:
    """Poll ``condition()`` until true or fail."""
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def write_config(workdir: Path, port: int, *, spin_us: int = 100) -> Path:
    """Write a gateway.yaml for one OUCH venue on ``port`` into ``workdir``."""
    config = {
        "gateway_id": "proc",
        "strategy_socket": "s.sock",
        "admin_socket": "a.sock",
        "risk_limits": str(e2e_limits(workdir, ("S1",))),
        "risk_audit_log": "audit.jsonl",
        "journal": {"directory": "journal", "fsync": "interval"},
        "strategies": {"S1": {"accounts": ["ACC1"]}},
        "venues": [
            {
                "protocol": "ouch",
                "name": "OUCH",
                "host": "127.0.0.1",
                "port": port,
                "username": "USER",
                "password": "PASS",
                "state_dir": "ouch",
                "reconnect_initial_ms": 20,
            }
        ],
        "spin": {"loop_spin_us": spin_us, "so_busy_poll_us": 50},
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def simulator() -> Iterator[int]:
    """Run ``gateway sim ouch`` as a process; yield its port."""
    port, proc = spawn_listening(["sim", "ouch"], ["--reference-price", "AAPL=230.10"], short_tmp() / "sim.log", "sim")
    try:
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def _venue_state(admin: Path) -> str:
    try:
        reply = admin_request(admin, {"cmd": "status"}, timeout_s=2)
    except AdminError:
        return ""
    return str(reply["status"]["venues"]["OUCH"]["state"])


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GATEWAY, *args], capture_output=True, text=True, timeout=30, cwd=cwd, check=False)


@pytest.mark.slow
def test_launch_when_no_onload_then_kernel_fallback_runs_gateway_with_spin_and_cli_tools_work(simulator: int) -> None:
    workdir = short_tmp()
    config = write_config(workdir, simulator)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "EF_"))}
    env["PATH"] = "/usr/bin:/bin"  # no onload here
    log = workdir / "gateway.log"  # a file, not a pipe nobody reads until the end: the log cannot fill it and block
    with log.open("wb") as out:
        gateway = subprocess.Popen(
            [*GATEWAY, "launch", "--", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        wait_until((workdir / "a.sock").exists, 30, "the admin socket")  # start-up on a loaded 2-core machine
        wait_until(lambda: _venue_state(workdir / "a.sock") == "UP", 20, "the venue session")
        with BlockingGatewayClient(workdir / "s.sock", "S1") as client:
            order = client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "230.15")
            assert isinstance(client.wait_done(order, timeout=15), Executed)

        status = _cli("status", "--config", str(config), "--json")
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        assert doc["venues"]["OUCH"]["state"] == "UP"
        assert doc["acceleration"]["mode"] == "kernel"
        assert doc["spinner"]["budget_us"] == 100 and doc["spinner"]["iterations"] > 0
        assert doc["gc"]["hot_path_full_collections"] == 0
        human = _cli("status", "--config", str(config))
        assert "OUCH" in human.stdout and "UP" in human.stdout

        kill = _cli("kill", "--config", str(config), "--reason", "drill")
        assert kill.returncode == 0 and "HALTED" in kill.stdout
        with BlockingGatewayClient(workdir / "s.sock", "S1") as client:
            refused = client.wait_done(client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "230.15"), timeout=15)
            assert getattr(refused, "code", "") == "TRADING_HALTED"

        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(15) == 0
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait(10)
    output = log.read_text(errors="replace")
    assert "acceleration: kernel" in output
    assert "onload executable not found" in output
    assert "socket fd" in output and "TCP_NODELAY on" in output
    assert "KILL SWITCH" in output


def test_run_when_config_invalid_then_exits_2_with_location() -> None:
    workdir = short_tmp()
    bad = workdir / "gateway.yaml"
    bad.write_text("gateway_id: x\nstrategy_sockett: nope\n")
    result = _cli("run", "--config", str(bad))
    assert result.returncode == 2  # a bad config: systemd does not restart it
    assert "strategy_sockett" in result.stderr


def test_run_when_risk_limits_invalid_then_refuses_to_start(simulator: int) -> None:
    workdir = short_tmp()
    config = write_config(workdir, simulator)
    limits = workdir / "limits.yaml"
    limits.write_text(limits.read_text().replace("max_qty: 10000", "max_qty: -5", 1))
    result = _cli("run", "--config", str(config))
    assert result.returncode == 2
    assert re.search(rf"{re.escape(str(limits))}:\d+:\d+: defaults\.max_qty: expected int > 0, got -5", result.stderr)


def test_cli_when_gateway_not_running_then_status_and_kill_exit_1_with_reason() -> None:
    workdir = short_tmp()
    config = write_config(workdir, 1)
    for args in (("status",), ("kill",)):
        result = _cli(*args, "--config", str(config))
        assert result.returncode == 1
        assert "is the gateway running" in result.stderr


@pytest.mark.slow
def test_kill_and_resume_when_account_unknown_then_refused_naming_known_accounts_and_nothing_persisted(
    simulator: int,
) -> None:
    workdir = short_tmp()
    config = write_config(workdir, simulator)
    gateway = subprocess.Popen([*GATEWAY, "run", "--config", str(config)], stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _venue_state(workdir / "a.sock") == "UP", 30, "the gateway")
        for command in ("kill", "resume"):
            refused = _cli(command, "--config", str(config), "--account", "NOSUCH", "--reason", "typo")
            assert refused.returncode == 1, refused.stdout
            assert f"gateway {command}: refused: unknown account 'NOSUCH'" in refused.stderr
            assert "Known accounts: ACC1, ACC2, FUND7, PROP3 " in refused.stderr and refused.stdout == ""
        empty = _cli("kill", "--config", str(config), "--account", "")
        assert empty.returncode == 2 and "must name an account" in empty.stderr
        status = admin_request(workdir / "a.sock", {"cmd": "status"})["status"]
        assert "NOSUCH" not in json.dumps(status)
        assert status["known_accounts"] == ["ACC1", "ACC2", "FUND7", "PROP3"]
        assert "(all of them: gateway status --json, under known_accounts)" in refused.stderr
        halted = _cli("kill", "--config", str(config), "--account", "ACC2", "--reason", "drill")
        assert halted.returncode == 0 and "account ACC2 HALTED" in halted.stdout
    finally:
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(15) == 0
    audit = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    assert [(a["account"], a["new"]) for a in audit if a["event"] == "trading_state"] == [("ACC2", "HALTED")]
    (journal,) = (workdir / "journal").glob("*.journal")  # the lock file (gateway.lock) is there too
    states = [r for r in read_journal(journal) if isinstance(r, JTradingState)]
    assert [(r.account, r.state) for r in states] == [("ACC2", "HALTED")]


def test_cli_when_flag_unknown_then_exit_2() -> None:
    assert _cli("run", "--bogus").returncode == 2
    assert _cli("nonsense").returncode == 2


@pytest.mark.slow
def test_risk_reload_when_cli_sighup_or_file_change_then_applied_and_audited(simulator: int) -> None:
    workdir = short_tmp()
    config = write_config(workdir, simulator)
    limits = workdir / "limits.yaml"
    audit = workdir / "audit.jsonl"
    gateway = subprocess.Popen([*GATEWAY, "run", "--config", str(config)], stderr=subprocess.DEVNULL)

    def audit_events() -> list[dict[str, object]]:
        return [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []

    try:
        wait_until(lambda: _venue_state(workdir / "a.sock") == "UP", 30, "the gateway")

        def records(event: str, trigger: str | None = None) -> list[dict[str, object]]:
            return [e for e in audit_events() if e["event"] == event and trigger in (None, e["trigger"])]

        def content_sha() -> str:
            return hashlib.sha256(limits.read_bytes()).hexdigest()

        limits.write_text(limits.read_text().replace("max_qty: 10000", "max_qty: 9000", 1))
        ok = _cli("risk", "reload", "--config", str(config))
        assert ok.returncode == 0 and "reloaded" in ok.stdout, ok.stderr
        # each change as `gateway risk diff` prints it (polish34: it was a Python dict)
        changes = [line for line in ok.stdout.splitlines()[1:] if not line.startswith("  warning: ")]
        assert changes == ["  defaults.max_qty: 10000 -> 9000"], ok.stdout
        assert records("reload", "gateway risk reload")[-1]["sha256"] == content_sha()

        limits.write_text(limits.read_text().replace("max_qty: 9000", "max_qty: -1", 1))
        refused = _cli("risk", "reload", "--config", str(config))
        assert refused.returncode == 1 and "REFUSED" in refused.stderr
        # the same line `gateway risk check` prints: file:line:column: path: message (never a Python dict)
        line = rf"^{re.escape(str(limits))}:\d+:\d+: defaults\.max_qty: expected int > 0, got -1$"
        assert re.search(line, refused.stderr, re.M), refused.stderr
        assert "{" not in refused.stderr and "1 error(s): the limits were NOT accepted" in refused.stderr
        assert records("reload_refused", "gateway risk reload")[-1]["sha256"] == content_sha()
        count = len(records("reload_refused"))
        time.sleep(1.5)  # longer than the file watch's period: it must not refuse the same content again
        assert len(records("reload_refused")) == count

        limits.write_text(limits.read_text().replace("max_qty: -1", "max_qty: 8000", 1))
        sha = content_sha()
        sender = subprocess.Popen([sys.executable, "-c", SEND_SIGHUP, str(gateway.pid)], stdout=subprocess.PIPE)
        try:
            assert sender.stdout is not None and sender.stdout.readline() == b"sent\n"
            wait_until(lambda: any(e["sha256"] == sha for e in records("reload", "SIGHUP")), 15, "the SIGHUP reload")
        finally:
            sender.kill()
            sender.wait()
        user = pwd.getpwuid(os.getuid()).pw_name
        # the audit says which process sent the signal, under which user, not just "signal"
        assert records("reload", "SIGHUP")[-1]["who"] == f"pid {sender.pid} (hup-sender) uid {os.getuid()} ({user})"

        copy = workdir / "limits.yaml.new"  # the watch applies a replacement (mv), never an in-place write
        copy.write_text(limits.read_text().replace("max_qty: 8000", "max_qty: 7000", 1))
        copied = copy.stat()  # written before its mv (a write and a rename in one clock tick look like in place)
        os.utime(copy, ns=(copied.st_atime_ns, copied.st_mtime_ns - 1_000_000_000))
        copy.replace(limits)
        sha = content_sha()
        wait_until(lambda: any(e["sha256"] == sha for e in records("reload")), 15, "the file-watch reload")
        assert records("reload")[-1]["trigger"] == "file changed on disk"

        # an override for a strategy this gateway does not run (S1 is the only one): refused, old limits stay
        limits.write_text(limits.read_text().replace("strategies:\n", "strategies:\n  S9:\n    max_qty: 1\n", 1))
        unknown = _cli("risk", "reload", "--config", str(config))
        assert unknown.returncode == 1
        said = f"strategies.S9: strategy 'S9' is not configured in {config}"
        assert re.search(rf"^{re.escape(str(limits))}:\d+:3: {re.escape(said)}", unknown.stderr, re.M), unknown.stderr
        assert admin_request(workdir / "a.sock", {"cmd": "status"})["status"]["risk"]["sha256"] == sha
    finally:
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(15) == 0
