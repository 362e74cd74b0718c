"""A real gateway (GatewayProcess) wired to a real OUCH simulator over loopback TCP, in one event loop."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from gateway.app import GatewayProcess
from gateway.config import GatewayConfig, JournalConfig
from gateway.entitlements import StrategyEntitlement
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig

DEPLOY_RISK = Path(__file__).resolve().parents[2] / "deploy" / "risk"
DEPLOY_LIMITS = DEPLOY_RISK / "limits.yaml"

JOURNAL_METRICS_AT_START: dict[str, float] = {
    "journal_file_missing": 0.0,  # the gateway's own (docs/reliability.md 2.3d)
    "disk_short_growths_total": 0.0,  # the disk watch (ops55); its disk_free_bytes varies: ``without_free_bytes``
    "disk_unreadable": 0.0,  # every written directory read (texts56)
    "journal_file_restores_total": 0.0,
    "journal_sync_lag_seconds": 0.0,
    "journal_sync_stalled": 0.0,
    "journal_sync_stalls_total": 0.0,
    "journal_replays_in_progress": 0.0,  # no strategy reached back into the journal
    "journal_replays_started_total": 0.0,
    "journal_replays_finished_total": 0.0,
    "journal_replays_failed_total": 0.0,
    "journal_replays_cancelled_total": 0.0,
    "risk_position_adjustments_total": 0.0,  # gateway risk adjust-position (bust39)
    "risk_reloads_applied_total": 0.0,  # reloads and the audit log (rev54risk)
    "risk_reloads_refused_total": 0.0,
    "risk_files_not_applied": 0.0,
    "risk_audit_records_late": 0.0,
    "risk_copies_not_kept": 0.0,  # every copy in force kept in state_dir (audit58b)
    "journal_ref_lookups_total": 0.0,  # OUCH UserRefNums looked up in the journal (late41ouch)
    "journal_ref_lookups_found_total": 0.0,
    "journal_ref_lookup_records_total": 0.0,
    "journal_ref_lookup_failures_total": 0.0,
    "journal_order_rebuilds_total": 0.0,  # released orders read back for a late fill
    "journal_order_rebuild_records_total": 0.0,
    "journal_order_rebuild_failures_total": 0.0,  # released orders the journal could not be read back for (fixboe54)
}
"""The journal's (and risk's) series in ``metrics.extra`` of a ``running_gateway`` nothing went wrong in yet."""


def e2e_limits(directory: Path, strategies: Iterable[str] = ("S1", "S2")) -> Path:
    """Write the deployed example limits into ``directory`` for a gateway running ``strategies``.

    Each test strategy gets the example's ``demo`` overrides; overrides for strategies the test
    gateway does not run are left out (the gateway refuses a limits file naming one).
    """
    import yaml

    doc = yaml.safe_load(DEPLOY_LIMITS.read_text())
    running = set(strategies)
    demo = doc["strategies"]["demo"]  # a deep copy each: shared values would be dumped as YAML aliases (refused)
    doc["strategies"] = {sid: yaml.safe_load(yaml.safe_dump(demo)) for sid in sorted(running)}
    for scope in doc["accounts"].values():
        nested = (scope or {}).get("strategies", {})
        for name in [n for n in nested if n not in running]:
            del nested[name]
        if scope and "strategies" in scope and not nested:
            del scope["strategies"]
    for name in ("reference-prices.yaml", "start-positions.yaml"):
        (directory / name).write_text((DEPLOY_RISK / name).read_text())
    path = directory / "limits.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def short_tmp() -> Path:
    """Return a fresh directory with a short path (AF_UNIX paths are limited to ~107 bytes).

    Removed when the test process exits: a gateway's journal is a preallocated 64 MiB file,
    so leaving one per test behind filled the disk of a machine that runs the suite often.
    """
    directory = Path(tempfile.mkdtemp(prefix="gwt", dir="/tmp"))
    atexit.register(shutil.rmtree, directory, True)
    return directory


def gateway_config(
    workdir: Path,
    sim_port: int,
    limits: Path,
    *,
    strategies: dict[str, StrategyEntitlement] | None = None,
    username: str = "USER",
    password: str = "PASS",
    fsync: str = "none",
    **extra: Any,
) -> GatewayConfig:
    """Return a gateway config for one OUCH venue named OUCH on ``sim_port`` (``extra``: other settings)."""
    return GatewayConfig(
        gateway_id="e2e",
        strategy_socket=str(workdir / "s.sock"),
        admin_socket=str(workdir / "a.sock"),
        state_dir=str(workdir / "state"),
        risk_limits=str(limits),
        risk_audit_log=str(workdir / "audit.jsonl"),
        journal=JournalConfig(directory=str(workdir / "journal"), fsync=fsync),  # type: ignore[arg-type]
        strategies=strategies
        or {
            "S1": StrategyEntitlement(accounts=["ACC1", "ACC2", "NOPE"], uids=[os.getuid()]),
            "S2": StrategyEntitlement(accounts=["ACC2"], uids=[os.getuid()]),
        },
        venues=[
            {
                "protocol": "ouch",
                "name": "OUCH",
                "host": "127.0.0.1",
                "port": sim_port,
                "username": username,
                "password": password,
                "state_dir": str(workdir / "ouch"),
                "reconnect_initial_ms": 20,
                "reconnect_max_ms": 200,
            }
        ],
        base_dir=str(workdir),
        **extra,
    )


async def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def running_gateway(
    workdir: Path,
    limits: Path | None = None,
    *,
    exchange: ExchangeConfig | None = None,
    sim_kwargs: dict[str, Any] | None = None,
    **config_kwargs: Any,
) -> AsyncIterator[tuple[GatewayProcess, OuchSimulator]]:
    """Start an OUCH simulator and a gateway connected to it; stop both afterwards."""
    sim = OuchSimulator(SimulatorConfig(exchange=exchange or ExchangeConfig(), **(sim_kwargs or {})))
    await sim.start()
    config = gateway_config(workdir, sim.port, limits or Path(), **config_kwargs)
    limits = limits or e2e_limits(workdir, config.strategies)
    process = GatewayProcess(gateway_config(workdir, sim.port, limits, **config_kwargs))
    try:
        await process.start()
        await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
        yield process, sim
    finally:
        await process.stop()
        await sim.stop()


def without_free_bytes(extra: dict[str, float]) -> dict[str, float]:
    """Return ``extra`` without ``disk_free_bytes`` (the host's free space), having checked it is a byte count."""
    free = extra.get("disk_free_bytes")
    assert free is not None and free >= 0, extra
    return {name: value for name, value in extra.items() if name != "disk_free_bytes"}


async def gateway_metrics(config: GatewayConfig) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Run ``gateway metrics`` against the gateway of ``config`` (in this process: the command runs as a child, so the
    loop goes on answering) and parse its output with prometheus_client's parser: {sample name: [(labels, value)]}."""
    from prometheus_client.parser import text_string_to_metric_families

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "metrics",
        "--admin-socket",
        str(config.path(config.admin_socket)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 0, err.decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(out.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples
