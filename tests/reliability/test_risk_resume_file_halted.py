"""``gateway resume`` for a scope the limits file halts: the run-time halt is lifted, trading is not (exit 5).

Real processes: ``gateway sim ouch``, ``gateway run`` and the ``gateway`` CLI.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from gateway.commands.admin import EXIT_STILL_STOPPED
from tests.reliability.support import GATEWAY, Gateway, Simulator, write_config


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args, "--config", str(config)], capture_output=True, text=True, timeout=60, check=False
    )


def test_resume_when_the_file_halts_the_account_then_says_so_and_exits_5(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """rev47risk LOW: exit 0 printing only "trading state: HALTED for ACC1"."""
    config = write_config(workdir, sim.port)
    limits = workdir / "limits.yaml"
    doc = yaml.safe_load(limits.read_text())
    doc["accounts"]["ACC1"] = {**(doc["accounts"]["ACC1"] or {}), "trading_state": "HALTED"}
    limits.write_text(yaml.safe_dump(doc, sort_keys=False))
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()

    assert _cli(config, "kill", "--account", "ACC1", "--reason", "test").returncode == 0
    resumed = _cli(config, "resume", "--account", "ACC1")
    assert resumed.returncode == EXIT_STILL_STOPPED, (resumed.stdout, resumed.stderr)
    assert resumed.stdout.strip() == "trading state: HALTED for ACC1"
    assert "the run-time halt is lifted, but the limits file keeps account ACC1 HALTED" in resumed.stderr
    [line] = [x for x in _cli(config, "status").stdout.splitlines() if x.strip().startswith("ACC1 ")]
    assert "HALTED" in line and "at run time" not in line, line  # lifted at run time, halted by the file
    assert _cli(config, "kill", "--reason", "firm").returncode == 0
    assert _cli(config, "resume").returncode == 0  # the file does not halt the firm


def test_resume_of_an_account_under_a_firm_wide_halt_names_the_firm_halt_not_the_file(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """rev48diff MEDIUM: exit 5 told the operator to edit a limits file that says ACTIVE."""
    config = write_config(workdir, sim.port)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()

    assert _cli(config, "kill", "--reason", "firm").returncode == 0
    assert _cli(config, "kill", "--account", "ACC1", "--reason", "acct").returncode == 0
    resumed = _cli(config, "resume", "--account", "ACC1")
    assert resumed.returncode == EXIT_STILL_STOPPED, (resumed.stdout, resumed.stderr)
    assert resumed.stdout.strip() == "trading state: HALTED for ACC1"
    assert "a firm-wide halt (`gateway kill` without --account) keeps it HALTED" in resumed.stderr
    assert "limits file" not in resumed.stderr, resumed.stderr
    assert _cli(config, "resume").returncode == 0
    assert _cli(config, "resume", "--account", "ACC1").returncode == 0


def test_resume_of_an_account_never_halted_under_a_firm_wide_halt_says_there_was_none_to_lift(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """rev49diff LOW: "the run-time halt of account ACC1 is lifted" when ACC1 had none."""
    config = write_config(workdir, sim.port)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()

    assert _cli(config, "kill", "--reason", "firm").returncode == 0
    resumed = _cli(config, "resume", "--account", "ACC1")
    assert resumed.returncode == EXIT_STILL_STOPPED, (resumed.stdout, resumed.stderr)
    assert resumed.stdout.strip() == "trading state: HALTED for ACC1"
    assert (
        "gateway resume: account ACC1 had no run-time halt to lift, but a firm-wide halt (`gateway kill` without "
        "--account) keeps it HALTED" in resumed.stderr
    ), resumed.stderr
    assert "is lifted" not in resumed.stderr, resumed.stderr
    assert _cli(config, "resume").returncode == 0


def test_resume_without_account_while_only_an_account_is_killed_then_names_it_and_exits_5(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """rev59ops MEDIUM: "trading state: ACTIVE for the whole gateway", exit 0, while ACC1 stayed HALTED."""
    config = write_config(workdir, sim.port)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()

    assert _cli(config, "kill", "--account", "ACC1", "--reason", "desk").returncode == 0
    resumed = _cli(config, "resume", "--reason", "all clear")
    assert resumed.returncode == EXIT_STILL_STOPPED, (resumed.stdout, resumed.stderr)  # the old code: 0
    assert resumed.stdout.strip() == "trading state: ACTIVE for the whole gateway"
    assert (
        "gateway resume: the whole gateway had no run-time halt to lift, but 1 account(s) stay stopped by a kill of "
        "their own (`gateway kill --account`): ACC1 HALTED; `gateway resume --account A` lifts each" in resumed.stderr
    ), resumed.stderr
    [line] = [x for x in _cli(config, "status").stdout.splitlines() if x.strip().startswith("ACC1 ")]
    assert "HALTED" in line, line

    assert _cli(config, "kill", "--reason", "firm").returncode == 0  # a firm halt lifted, the account's stays
    resumed = _cli(config, "resume")
    assert resumed.returncode == EXIT_STILL_STOPPED, (resumed.stdout, resumed.stderr)
    assert "gateway resume: the firm-wide run-time halt is lifted, but 1 account(s) stay stopped" in resumed.stderr
    assert _cli(config, "resume", "--account", "ACC1").returncode == 0
    assert _cli(config, "resume").returncode == 0  # nothing left halted


def test_resume_without_account_while_the_file_halts_the_firm_then_also_names_the_accounts_killed_on_their_own(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """rev59merge6 LOW 5: exit 5 with the file's line only; ACC1, halted by its own kill, was not named."""
    config = write_config(workdir, sim.port)
    limits = workdir / "limits.yaml"
    doc = yaml.safe_load(limits.read_text())
    doc["defaults"] = {**(doc.get("defaults") or {}), "trading_state": "HALTED"}
    limits.write_text(yaml.safe_dump(doc, sort_keys=False))
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()

    assert _cli(config, "kill", "--account", "ACC1", "--reason", "desk").returncode == 0
    resumed = _cli(config, "resume", "--reason", "all clear")
    assert resumed.returncode == EXIT_STILL_STOPPED, (resumed.stdout, resumed.stderr)
    assert resumed.stdout.strip() == "trading state: HALTED for the whole gateway"
    assert "but the limits file keeps the whole gateway HALTED" in resumed.stderr, resumed.stderr
    assert (
        "gateway resume: also, 1 account(s) stay stopped by a kill of their own (`gateway kill --account`): "
        "ACC1 HALTED; `gateway resume --account A` lifts each" in resumed.stderr  # the old code: not named
    ), resumed.stderr
