"""A venue's corrupt state file stops the start with one clear line, exit 1 and the stop run (rev49diff 3).

Real ``gateway run`` processes. Before fixadm49 a corrupt ``<state_dir>/<name>.boe-numbering.json`` (or any BOE
state file, the OUCH ``<name>.userrefnum.json``, the FIX ``<name>.fix-starts.json``) ended the start with a Python
traceback: ``gateway run`` caught the config's, the limits file's and the host's errors only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Final

import pytest
import yaml

from tests.reliability.support import GATEWAY, write_config

PORT: Final = 49150
"""Nothing listens there: the start stops before any venue connects."""


def _config(workdir: Path) -> Path:
    path = write_config(workdir, PORT)
    config = yaml.safe_load(path.read_text())
    config["venues"] += [
        {
            "protocol": "boe",
            "name": "CBOE",
            "host": "127.0.0.1",
            "port": PORT + 1,
            "session_sub_id": "0001",
            "username": "USER",
            "password": "PASS",
            "state_dir": "boe",
        },
        {
            "protocol": "fix",
            "name": "EQX",
            "host": "127.0.0.1",
            "port": PORT + 2,
            "dialect": "equities-fix42",
            "store": "memory",
            "store_dir": "fix",
        },
    ]
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("state_file", "says"),
    [
        ("boe/CBOE.boe-numbering.json", "BOE state"),
        ("boe/CBOE.boe-owed-cancels.json", "BOE state"),
        ("boe/CBOE.boe-corrections.json", "BOE state"),
        ("boe/CBOE.boe-starts.json", "BOE state"),
        ("ouch/OUCH.userrefnum.json", "UserRefNum state"),
        ("fix/EQX.fix-starts.json", "FIX state"),
    ],
)
def test_corrupt_venue_state_file_when_starting_then_one_failed_to_start_line_exit_1_and_stopped(
    workdir: Path, state_file: str, says: str
) -> None:
    config = _config(workdir)
    corrupt = workdir / state_file
    corrupt.parent.mkdir(parents=True, exist_ok=True)
    corrupt.write_text("{not json")
    done = subprocess.run(
        [*GATEWAY, "run", "--config", str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out[-3000:]  # old: BoeStateError's (RefStoreError's, FixStateError's) traceback
    assert done.returncode == 1, out[-3000:]
    failed = [line for line in out.splitlines() if "failed to start" in line]
    assert len(failed) == 1, failed
    assert "ERROR   gateway.commands.run: gateway rel failed to start: " in failed[0]
    assert f"{says} {corrupt}" in failed[0] and "is corrupt" in failed[0], failed[0]
    assert "delete the file" in failed[0] or "restore it" in failed[0], failed[0]
    assert "gateway rel did not start; closed what it had opened" in out  # process.stop() ran
    assert corrupt.read_text() == "{not json"  # left for the operator to look at
