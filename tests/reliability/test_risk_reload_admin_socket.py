"""``gateway risk reload --admin-socket`` without ``--config`` waits as long as the limits file needs.

Found by rev51risk (LOW): the wait for a reload's answer scales with the limits file's size (10 s plus 60 s per
MB), but the size was taken from the file ``--config`` names; with ``--admin-socket`` alone (the guide's equal
alternative) it waited 10 s, exited 4 ``MAY STILL BE APPLIED``, and a 1.9 MB file applied 13.5 s later. The
command now learns the limits file from the gateway's status. Real processes: ``gateway sim ouch``,
``gateway run`` and the ``gateway`` CLI.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import pytest

from gateway.commands.risk_admin import RELOAD_BASE_S, RELOAD_S_PER_MB, RELOAD_UNKNOWN_S, reload_timeout
from tests.reliability.support import GATEWAY, Gateway, Simulator, write_config


def test_reload_with_only_the_admin_socket_then_the_wait_scales_with_the_gateways_limits_file(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    config = write_config(workdir, sim.port)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    status = gateway.status()
    assert status is not None
    limits = Path(status["risk"]["limits_file"])
    padded = limits.with_name(limits.name + ".new")
    padded.write_text(limits.read_text() + ("# " + "x" * 98 + "\n") * 9_000)  # a 0.9 MB file, as a big desk's
    os.replace(padded, limits)
    size = limits.stat().st_size
    assert size > 900_000

    elsewhere = workdir / "elsewhere"  # no gateway.yaml here: the default --config names nothing
    elsewhere.mkdir()
    args = argparse.Namespace(timeout=None, config=str(elsewhere / "gateway.yaml"), admin_socket=str(gateway.admin))
    assert reload_timeout(args) == pytest.approx(RELOAD_BASE_S + RELOAD_S_PER_MB * size / 1_000_000)  # was 10 s
    args.config = str(config)  # the same gateway named both ways: the same wait
    assert reload_timeout(args) == pytest.approx(RELOAD_BASE_S + RELOAD_S_PER_MB * size / 1_000_000)
    args.admin_socket = str(workdir / "nobody.sock")  # the size cannot be learned: the longest default wait
    args.config = str(elsewhere / "gateway.yaml")
    assert reload_timeout(args) == RELOAD_UNKNOWN_S

    done = subprocess.run(
        [*GATEWAY, "risk", "reload", "--admin-socket", str(gateway.admin)],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        timeout=RELOAD_UNKNOWN_S + 30,
        check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.startswith("risk limits reloaded (sha256 "), done.stdout
