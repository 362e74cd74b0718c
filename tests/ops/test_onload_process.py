"""In-process Onload detection through ctypes, against a stand-in libonload.so preloaded like Onload preloads.

The stand-in exports ``onload_is_present`` and ``onload_fd_stat`` with Onload's ABI
(``struct onload_stat`` from onload/extensions.h), so the ctypes bindings, the start-up
decision (acceleration line, io_uring guard under "Onload" with uvloop) and the per-socket
hook are exercised for real; only the network stack behind them is not Onload's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.commands.admin import format_status
from tests.ops.conftest import epoll_adds, io_uring_setup_results, require_tool, run_traced
from tests.ops.test_startup_log_doc import documented

FAKE_LIBONLOAD_C = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct onload_stat { int32_t stack_id; char* stack_name; int32_t endpoint_id; int32_t endpoint_state; };

int onload_is_present(void) { return 1; }

int onload_fd_stat(int fd, struct onload_stat* stat) {
    int domain = 0;
    socklen_t len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return -9;
    if (domain != AF_INET && domain != AF_INET6) return 0;
    if (getenv("FAKE_ONLOAD_HANDOVER")) return 0;
    stat->stack_id = 7;
    stat->stack_name = strdup("gateway");
    stat->endpoint_id = fd;
    stat->endpoint_state = 0;
    return 1;
}
"""

CHILD = """
import asyncio, json, logging, sys
import uvloop
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
from gateway.ops.config import SpinConfig
from gateway.ops.runtime import LoopImpl, OpsRuntime

ops = OpsRuntime.prepare(SpinConfig(so_busy_poll_us=50), loop_impl=LoopImpl.UVLOOP)
loop = uvloop.new_event_loop()
asyncio.set_event_loop(loop)
ops.attach(loop)

class Venue(asyncio.Protocol):
    def connection_made(self, transport):
        ops.venue_socket_hook(transport.get_extra_info("socket"), "OUCH")

async def main():
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    transport, _ = await loop.create_connection(Venue, "127.0.0.1", server.sockets[0].getsockname()[1])
    print("CLIENT_FD", transport.get_extra_info("socket").fileno(), flush=True)
    await asyncio.sleep(0.02)
    print("STATUS", json.dumps(ops.status()), flush=True)
    transport.close()
    server.close()

loop.run_until_complete(main())
ops.close()
"""


@pytest.fixture(scope="module")
def fake_libonload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = require_tool("cc")
    build = tmp_path_factory.mktemp("libonload")
    source = build / "fake_onload.c"
    source.write_text(FAKE_LIBONLOAD_C)
    library = build / "libonload.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True, timeout=60)
    return library


def _run_child(tmp_path: Path, env_extra: dict[str, str], strace: bool = False) -> tuple[str, str, dict[str, Any]]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "EF_"))}
    env.update(env_extra)
    argv = [sys.executable, str(script)]
    trace = tmp_path / "trace.txt"
    if strace:
        result = run_traced(argv, "io_uring_setup,epoll_ctl", trace, env)
    else:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout.split("STATUS ", 1)[1])
    return result.stdout, result.stderr, {"status": status, "trace": trace.read_text() if strace else ""}


def test_startup_when_preloaded_onload_then_reports_onload_blocks_io_uring_and_socket_is_accelerated(
    tmp_path: Path, fake_libonload: Path
) -> None:
    stdout, stderr, out = _run_child(
        tmp_path,
        {
            "LD_PRELOAD": str(fake_libonload),
            "GATEWAY_ACCEL_MODE": "onload",
            "GATEWAY_ONLOAD_PROFILE": "/opt/gw/deploy/onload/gateway-latency.opf",
        },
        strace=True,
    )
    fd = int(re.search(r"CLIENT_FD (\d+)", stdout).group(1))  # type: ignore[union-attr]
    assert (
        f"acceleration: onload ({fake_libonload} loaded, onload_is_present()=1;"
        " profile /opt/gw/deploy/onload/gateway-latency.opf)" in stderr
    )
    assert "io_uring: blocked for this process (auto: uvloop under Onload must register sockets with epoll_ctl)" in (
        stderr
    )
    assert re.search(
        rf"venue OUCH socket fd {fd} \S+ -> \S+: accelerated by Onload stack 7 \(gateway\); TCP_NODELAY on",
        stderr,
    )
    status = out["status"]
    assert status["acceleration"]["mode"] == "onload"
    assert status["acceleration"]["all_venue_sockets_accelerated"] is True
    assert status["acceleration"]["sockets"][0]["stack_id"] == 7
    assert status["io_uring"]["blocked"] is True
    # what matters under Onload: the venue socket is registered by an epoll_ctl call it can intercept
    trace = out["trace"]
    assert epoll_adds(trace, fd)
    setups = io_uring_setup_results(trace)
    assert setups and all(s.startswith("-1 ENOSYS") for s in setups)


def test_startup_when_onload_hands_venue_socket_to_kernel_then_warns_and_busy_polls_it(
    tmp_path: Path, fake_libonload: Path
) -> None:
    _, stderr, out = _run_child(
        tmp_path,
        {"LD_PRELOAD": str(fake_libonload), "GATEWAY_ACCEL_MODE": "onload", "FAKE_ONLOAD_HANDOVER": "1"},
    )
    assert "WARNING gateway.ops.sockets: venue OUCH socket fd" in stderr
    assert "kernel (Onload present but this socket was handed to the kernel); TCP_NODELAY on, SO_BUSY_POLL 50 us" in (
        stderr
    )
    assert out["status"]["acceleration"]["all_venue_sockets_accelerated"] is False


def test_startup_when_launcher_chose_onload_but_library_missing_then_warns_and_runs_kernel(
    tmp_path: Path,
) -> None:
    _, stderr, out = _run_child(tmp_path, {"GATEWAY_ACCEL_MODE": "onload"})
    assert "acceleration: kernel (Onload not present: libonload.so not loaded in this process)" in stderr
    assert "WARNING gateway.ops.runtime: acceleration: launcher chose onload but libonload.so not loaded" in stderr
    assert "io_uring: left alone (auto: kernel path, io_uring registrations are fine)" in stderr
    assert out["status"]["acceleration"]["mode"] == "kernel"


def test_startup_when_launcher_fell_back_then_acceleration_line_gives_launchers_reason(
    tmp_path: Path,
) -> None:
    _, stderr, out = _run_child(
        tmp_path,
        {"GATEWAY_ACCEL_MODE": "kernel", "GATEWAY_ACCEL_REASON": "onload executable not found on PATH"},
    )
    line = "acceleration: kernel (Onload not present: onload executable not found on PATH)"
    assert f"INFO gateway.ops.runtime: {line}" in stderr
    socket_line = next(line for line in stderr.splitlines() if "venue OUCH socket fd" in line)
    assert socket_line.startswith("INFO ")
    assert socket_line.endswith(": kernel (Onload not present); TCP_NODELAY on, SO_BUSY_POLL 50 us")
    assert out["status"]["acceleration"]["sockets"][0]["so_busy_poll_us"] == 50


def test_status_when_guard_never_under_onload_with_uvloop_then_not_accelerated_and_text_shows_the_guard(
    tmp_path: Path, fake_libonload: Path
) -> None:
    _, stderr, out = _run_child(
        tmp_path,
        {"LD_PRELOAD": str(fake_libonload), "GATEWAY_ACCEL_MODE": "onload", "GATEWAY_IO_URING_GUARD": "never"},
    )
    assert "WARNING gateway.ops.runtime: io_uring: left alone (io_uring_guard=never under Onload with uvloop" in stderr
    accel = out["status"]["acceleration"]
    assert accel["sockets"][0]["path"] == "onload"  # Onload owns the socket ...
    assert accel["all_venue_sockets_accelerated"] is False  # ... but its epoll never hears of it
    assert "io_uring not blocked (io_uring_guard: never)" in accel["verdict"]
    text = format_status(out["status"])
    assert (
        "all venue sockets accelerated: no (io_uring not blocked (io_uring_guard: never): uvloop registers the venue"
        " sockets through io_uring, so Onload's epoll never sees them)" in text
    )
    assert "io_uring guard: never (not blocked: io_uring_guard=never under Onload with uvloop: " in text


def test_status_when_guard_auto_under_onload_then_accelerated_yes_in_text(tmp_path: Path, fake_libonload: Path) -> None:
    _, _, out = _run_child(tmp_path, {"LD_PRELOAD": str(fake_libonload), "GATEWAY_ACCEL_MODE": "onload"})
    text = format_status(out["status"])
    assert "all venue sockets accelerated: yes\n" in text
    assert "io_uring guard: auto (blocked: " in text


def test_startup_when_launcher_planned_ef_variables_then_one_line_and_status_say_where_each_came_from(
    tmp_path: Path, fake_libonload: Path
) -> None:
    planned = [
        {"name": "EF_NAME", "value": "gateway", "source": "profile", "origin": "/opt/gw/gateway-latency.opf"},
        {"name": "EF_POLL_USEC", "value": "0", "source": "environment", "origin": "inherited from the caller",
         "profile_value": "100000"},
        {"name": "EF_NO_FAIL", "value": "0", "source": "launcher", "origin": "--strict-acceleration"},
    ]  # fmt: skip
    env = {
        "LD_PRELOAD": str(fake_libonload),
        "GATEWAY_ACCEL_MODE": "onload",
        "GATEWAY_ONLOAD_ENV": json.dumps(planned),
        "EF_NAME": "gateway",
        "EF_POLL_USEC": "0",
        "EF_NO_FAIL": "0",
        "EF_SPIN_USEC": "7",  # set after the launcher decided (e.g. by /etc/openonload.sh)
    }
    _, stderr, out = _run_child(tmp_path, env)
    line = next(line for line in stderr.splitlines() if "onload environment:" in line)
    assert line == (
        "WARNING gateway.ops.runtime: onload environment: EF_NAME=gateway (profile gateway-latency.opf),"
        " EF_NO_FAIL=0 (launcher: --strict-acceleration), EF_POLL_USEC=0 (environment: inherited from the caller;"
        " the profile sets 100000), EF_SPIN_USEC=7 (unplanned: not set by the launcher's plan)"
    )
    settings = {s["name"]: (s["source"], s["value"]) for s in out["status"]["acceleration"]["onload_env"]}
    assert settings == {
        "EF_NAME": ("profile", "gateway"),
        "EF_NO_FAIL": ("launcher", "0"),
        "EF_POLL_USEC": ("environment", "0"),
        "EF_SPIN_USEC": ("unplanned", "7"),
    }
    assert line.split("onload environment: ")[1] in format_status(out["status"])


def test_startup_when_planned_ef_variables_never_arrive_then_warns_naming_each_missing_and_status_lists_them(
    tmp_path: Path, fake_libonload: Path
) -> None:
    # rev46ops: a site's onload wrapper dropped EF_UL_EPOLL and EF_EPOLL_MT_SAFE; only unplanned values were flagged
    planned = [
        {"name": "EF_EPOLL_MT_SAFE", "value": "1", "source": "profile", "origin": "/opt/gw/gateway-latency.opf"},
        {"name": "EF_NAME", "value": "gateway", "source": "profile", "origin": "/opt/gw/gateway-latency.opf"},
        {"name": "EF_NO_FAIL", "value": "0", "source": "launcher", "origin": "--strict-acceleration"},
        {"name": "EF_UL_EPOLL", "value": "1", "source": "profile", "origin": "/opt/gw/gateway-latency.opf",
         "profile_value": "1"},
    ]  # fmt: skip
    env = {
        "LD_PRELOAD": str(fake_libonload),
        "GATEWAY_ACCEL_MODE": "onload",
        "GATEWAY_ONLOAD_ENV": json.dumps(planned),
        "EF_NAME": "gateway",
        "EF_NO_FAIL": "0",
    }
    _, stderr, out = _run_child(tmp_path, env)
    line = next(line for line in stderr.splitlines() if "onload environment:" in line)
    assert line == (
        "WARNING gateway.ops.runtime: onload environment: EF_EPOLL_MT_SAFE MISSING (the launcher planned 1"
        " (profile gateway-latency.opf), not in this process's environment: Onload's default applies),"
        " EF_NAME=gateway (profile gateway-latency.opf), EF_NO_FAIL=0 (launcher: --strict-acceleration),"
        " EF_UL_EPOLL MISSING (the launcher planned 1 (profile gateway-latency.opf), not in this process's"
        " environment: Onload's default applies)"
    )
    assert documented(f"2026-12-06 02:38:36,434 {line}"), line
    settings = {s["name"]: (s["source"], s["value"]) for s in out["status"]["acceleration"]["onload_env"]}
    assert settings == {
        "EF_EPOLL_MT_SAFE": ("missing", ""),
        "EF_NAME": ("profile", "gateway"),
        "EF_NO_FAIL": ("launcher", "0"),
        "EF_UL_EPOLL": ("missing", ""),
    }
    assert line.split("onload environment: ")[1] in format_status(out["status"])


def test_startup_when_the_launcher_chose_the_kernel_but_onload_is_preloaded_then_warns_as_the_guide_lists(
    tmp_path: Path, fake_libonload: Path
) -> None:
    # rev46ops: LD_PRELOAD set by hand, no onload on PATH: the WARNING was missing from the guide's section 6
    env = {"LD_PRELOAD": str(fake_libonload), "GATEWAY_ACCEL_MODE": "kernel", "GATEWAY_ACCEL_REASON": "no onload"}
    _, stderr, out = _run_child(tmp_path, env)
    (line,) = (line for line in stderr.splitlines() if line.startswith("WARNING gateway.ops.runtime: acceleration"))
    assert line.endswith("acceleration: launcher chose the kernel path but Onload is active in this process")
    assert documented(f"2026-12-06 02:38:36,434 {line}"), line
    assert out["status"]["acceleration"]["mode"] == "onload"
