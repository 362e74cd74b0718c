"""The kernel fallback end to end: ``gateway launch`` on this host (no Onload) execs a gateway that runs
``OpsRuntime`` with spin on, connects a venue through the real ``VenueConnector`` and reports status.

The gateway here is a small stand-in for ``gateway run`` (which the core provides) doing what the
core does with the ops API, in the documented order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.ops.conftest import LaunchRig

MINI_GATEWAY = """
import asyncio, json, logging, os, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
from gateway.ops.config import parse_spin_config
from gateway.ops.runtime import LoopImpl, OpsRuntime
from tests.ops.venue_double import BytesAdapter
from venues.connector import VenueConnector

assert sys.argv[1:4] == ["-m", "gateway", "run"], sys.argv
raw = {"loop_spin_us": 200, "cpu": [0], "so_busy_poll_us": 50, "gc": {"quiet_period_ms": 0}}
spin = parse_spin_config(raw)
ops = OpsRuntime.prepare(spin, loop_impl=LoopImpl.ASYNCIO)
loop = asyncio.new_event_loop()
spinner = ops.attach(loop)

class Venue(asyncio.Protocol):
    def connection_made(self, transport):
        for i in range(50):
            transport.write(b"%04d" % i)

async def main():
    server = await loop.create_server(Venue, "127.0.0.1", 0)
    adapter = BytesAdapter("OUCH")
    connector = VenueConnector(adapter, "127.0.0.1", server.sockets[0].getsockname()[1],
                               after_input=spinner.kick, socket_hooks=[ops.venue_socket_hook])
    connector.start()
    while len(adapter.received) < 200:
        await asyncio.sleep(0.001)
    ops.startup_complete()
    await asyncio.sleep(0.01)
    status = ops.status()
    status["pid"] = os.getpid()
    status["affinity"] = sorted(os.sched_getaffinity(0))
    print("STATUS " + json.dumps(status), flush=True)
    await connector.stop()
    server.close()

loop.run_until_complete(main())
ops.close()
"""


def test_launch_when_no_onload_then_gateway_runs_kernel_path_with_spin_and_busy_poll(rig: LaunchRig) -> None:
    script = rig.tmp / "mini_gateway.py"
    script.write_text(MINI_GATEWAY)
    wrapper = rig.tmp / "gateway-python"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    wrapper.chmod(0o755)
    env = rig.env(PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "launch",
            "--python",
            str(wrapper),
            "--",
            "--config",
            "deploy/gateway.yaml",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=rig.tmp,
    )
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    status = json.loads(stdout.split("STATUS ", 1)[1])
    assert status["pid"] == proc.pid  # launcher -> sh wrapper -> gateway, all one process
    assert status["acceleration"]["mode"] == "kernel"
    assert status["acceleration"]["reason"] == "onload executable not found on PATH"
    sock = status["acceleration"]["sockets"][0]
    assert (sock["venue"], sock["path"], sock["tcp_nodelay"], sock["so_busy_poll_us"]) == (
        "OUCH",
        "kernel",
        True,
        50,
    )
    assert status["spinner"]["kicks"] >= 1
    assert status["spinner"]["iterations"] > 0
    assert status["affinity"] == [0]
    assert status["gc"]["hot_path_full_collections"] == 0
    log = stderr.splitlines()
    order = [
        next(i for i, line in enumerate(log) if marker in line)
        for marker in (
            "launch: kernel fallback: onload executable not found on PATH",
            "acceleration: kernel (Onload not present: onload executable not found on PATH)",
            "io_uring: left alone",
            "tuning cpu: 0",
            "tuning loop_spin: 200 us after each socket read",
            "venue OUCH socket fd",
        )
    ]
    assert order == sorted(order)
