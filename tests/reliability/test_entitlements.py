"""Strategy authentication and entitlements with real processes under other Unix users.

``gateway run`` runs as this (root) test process's user. Strategies are forked children that drop
to another uid/gid with ``setgroups``/``setgid``/``setuid`` before touching the socket, so the
kernel's SO_PEERCRED and file permission checks see a genuinely different user.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.admin import admin_request
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import PROTOCOL_VERSION, Hello, NewOrder, VenueStatus
from model.enums import Side
from tests.reliability.support import Gateway, Simulator, wait_until, write_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run children under other uids")

TRADER_UID = 54_321
"""Configured for strategy S2 (account ACC2 only)."""
STRANGER_UID = 54_999
"""Configured for no strategy."""
RESTING = 2_290_000


def as_user(uid: int, groups: list[int], action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``action`` in a forked child that has become ``uid`` (gid = uid, plus ``groups``); return its result."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 0
        try:
            os.close(read_end)
            os.setgroups(groups)
            os.setgid(uid)
            os.setuid(uid)
            result = {"pid": os.getpid(), **action()}
        except BaseException as exc:
            result = {"pid": os.getpid(), "exception": type(exc).__name__, "text": str(exc)}
            code = 1
        os.write(write_end, json.dumps(result).encode())
        os._exit(code)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    reply: dict[str, Any] = json.loads(b"".join(chunks))
    return reply


def strategy_session(path: Path, strategy_id: str, *requests: NewOrder, expect: int) -> Callable[[], dict[str, Any]]:
    """Return an action: connect, Hello, send ``requests``, read ``expect`` messages (or until closed)."""

    def action() -> dict[str, Any]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(15)
        sock.connect(str(path))
        numbered = [msgspec.structs.replace(m, req_seq=n) for n, m in enumerate(requests, 1)]  # version 3
        sock.sendall(b"".join(encode_frame(m) for m in (Hello(strategy_id, PROTOCOL_VERSION), *numbered)))
        splitter = FrameSplitter()
        got: list[list[str]] = []
        closed = False
        while len(got) < expect:
            data = sock.recv(65536)
            if not data:
                closed = True
                break
            for frame in splitter.feed(data):
                message = gateway_message_decoder.decode(frame)
                if isinstance(message, VenueStatus):  # the venue snapshot after every Welcome: not under test here
                    continue
                got.append([type(message).__name__, str(getattr(message, "code", ""))])
        sock.close()
        return {"messages": got, "closed": closed}

    return action


def connect_only(path: Path) -> Callable[[], dict[str, Any]]:
    """Return an action that only tries to connect to the Unix socket at ``path``."""

    def action() -> dict[str, Any]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
        finally:
            sock.close()
        return {"connected": True}

    return action


@pytest.fixture
def gateway(workdir: Path, sim: Simulator, gateways: list[Gateway]) -> Gateway:
    config = write_config(
        workdir,
        sim.port,
        strategies={
            "S1": {"accounts": ["ACC1"]},  # uids omitted: the gateway's own user only
            "S2": {"accounts": ["ACC2"], "uids": [TRADER_UID]},
        },
    )
    gw = Gateway(workdir, config)
    gateways.append(gw)
    gw.start()
    return gw


def test_sockets_when_created_then_strategy_0660_admin_0600_owned_by_gateway_user(gateway: Gateway) -> None:
    assert stat.S_IMODE(gateway.socket.stat().st_mode) == 0o660
    assert stat.S_IMODE(gateway.admin.stat().st_mode) == 0o600
    assert gateway.socket.stat().st_uid == os.getuid() == gateway.admin.stat().st_uid


def test_connect_when_other_user_not_in_socket_group_then_permission_denied(gateway: Gateway) -> None:
    result = as_user(TRADER_UID, [], connect_only(gateway.socket))
    assert result["exception"] == "PermissionError"
    assert gateway.status()["counters"]["strategy_connections"] == 0


def test_admin_when_other_user_even_in_gateway_group_then_permission_denied(gateway: Gateway) -> None:
    group = gateway.socket.stat().st_gid

    def kill_switch() -> dict[str, Any]:
        return admin_request(gateway.admin, {"cmd": "kill", "who": "intruder"}, timeout_s=3)

    result = as_user(TRADER_UID, [group], kill_switch)
    assert result["exception"] == "AdminError"
    assert "permission denied" in result["text"]
    assert gateway.status()["risk"]["trading_state"]["firm_runtime"] == "ACTIVE"


def test_hello_when_uid_unknown_then_refused_at_hello_and_logged_with_pid_and_uid(gateway: Gateway) -> None:
    group = gateway.socket.stat().st_gid
    order = NewOrder("X1", "ACC2", "OUCH", "AAPL", Side.BUY, 10, RESTING)
    result = as_user(STRANGER_UID, [group], strategy_session(gateway.socket, "S2", order, expect=5))
    assert result["messages"] == [["Error", "NOT_AUTHORIZED"]]
    assert result["closed"]
    log = gateway.log_text()
    assert f"refused Hello: uid {STRANGER_UID} (pid {result['pid']}) may not connect as strategy 'S2'" in log
    status = gateway.status()
    assert status["counters"]["strategy_refused"] == 1 and status["orders_total"] == 0


def test_hello_when_uid_allowed_for_another_strategy_only_then_refused(gateway: Gateway) -> None:
    group = gateway.socket.stat().st_gid
    result = as_user(TRADER_UID, [group], strategy_session(gateway.socket, "S1", expect=5))
    assert result["messages"] == [["Error", "NOT_AUTHORIZED"]]
    assert f"uid {TRADER_UID} (pid {result['pid']}) may not connect as strategy 'S1'" in gateway.log_text()


def test_hello_when_strategy_not_configured_then_refused_and_logged_with_pid_and_uid(gateway: Gateway) -> None:
    group = gateway.socket.stat().st_gid
    result = as_user(STRANGER_UID, [group], strategy_session(gateway.socket, "GHOST", expect=5))
    assert result["messages"] == [["Error", "NOT_AUTHORIZED"]]
    assert result["closed"]
    expected = f"refused Hello: uid {STRANGER_UID} (pid {result['pid']}): strategy 'GHOST' is not configured"
    assert expected in gateway.log_text()  # the old line named neither pid nor uid
    assert gateway.status()["counters"]["strategy_refused"] == 1


def test_order_when_account_not_entitled_then_rejected_with_reason_and_entitled_one_accepted(
    gateway: Gateway, sim: Simulator
) -> None:
    group = gateway.socket.stat().st_gid
    orders = (
        NewOrder("N1", "ACC1", "OUCH", "AAPL", Side.BUY, 10, RESTING),  # S2 may not trade ACC1
        NewOrder("N2", "ACC2", "OUCH", "AAPL", Side.BUY, 10, RESTING),
    )
    result = as_user(TRADER_UID, [group], strategy_session(gateway.socket, "S2", *orders, expect=3))
    assert result["messages"] == [["Welcome", ""], ["OrderRejected", "ACCOUNT_NOT_PERMITTED"], ["OrderAccepted", ""]]
    log = gateway.log_text()
    assert f"strategy S2 connected (pid {result['pid']}, uid {TRADER_UID})" in log
    assert f"strategy S2 (pid {result['pid']}, uid {TRADER_UID}) is not entitled to account 'ACC1'" in log
    entered = [(r.type, r.outcome) for r in sim.records() if r.type == "O"]
    assert entered == [("O", "accepted")]  # the refused order never reached the venue


@pytest.mark.slow
def test_unauthorised_attempts_when_many_then_all_refused_and_gateway_keeps_serving(gateway: Gateway) -> None:
    group = gateway.socket.stat().st_gid
    attempts = 0
    for i in range(10):
        for uid, groups, sid in ((STRANGER_UID + i, [group], "S2"), (TRADER_UID, [group], "S1")):
            result = as_user(uid, groups, strategy_session(gateway.socket, sid, expect=2))
            assert result["messages"] == [["Error", "NOT_AUTHORIZED"]], result
            attempts += 1
        result = as_user(STRANGER_UID + i, [], connect_only(gateway.socket))
        assert result["exception"] == "PermissionError"
        attempts += 1
        result = as_user(STRANGER_UID + i, [group], connect_only(gateway.admin))
        assert result["exception"] == "PermissionError"
        attempts += 1
    status = gateway.status()
    assert status["counters"]["strategy_refused"] == 20
    assert status["counters"]["strategy_connections"] == 0
    assert attempts == 40
    # The legitimate user is unaffected.
    ok = as_user(TRADER_UID, [group], strategy_session(gateway.socket, "S2", expect=1))
    assert ok["messages"] == [["Welcome", ""]]
    wait_until(lambda: gateway.status()["counters"]["strategy_connections"] == 1, 15, "the good connection")
