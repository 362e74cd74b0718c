"""The systemd unit: starts through ``gateway launch``, pinned, memlock unlimited; systemd accepts it."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from tests.ops.conftest import require_tool

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "gateway.service"


METRICS_UNIT = REPO / "deploy" / "systemd" / "gateway-metrics.service"


def _settings(unit: Path = UNIT) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def test_unit_when_read_then_starts_through_gateway_launch_pinned_with_unlimited_memlock() -> None:
    unit = _settings()
    start = shlex.split(unit["Service.ExecStart"][0])
    assert start[1:3] == ["launch", "--profile"]
    assert start[start.index("--") + 1 :] == ["--config", "/opt/gateway/deploy/gateway.production.yaml"]
    assert unit["Service.CPUAffinity"] == ["2"]
    assert unit["Service.LimitMEMLOCK"] == ["infinity"]
    assert unit["Service.Restart"] == ["on-failure"]
    assert unit["Service.RestartPreventExitStatus"] == ["2"]
    # the launcher's SIGTERM during --wait-for-onload exits 143: a stop, as the gateway's own exit 0 on SIGTERM
    assert unit["Service.SuccessExitStatus"] == ["143"]
    assert "Service.PrivateDevices" not in unit  # would hide /dev/onload
    doctor = shlex.split(unit["Service.ExecStartPre"][0].lstrip("-"))
    config = start[start.index("--") + 2]
    assert doctor[1:] == ["doctor", "--cpu", unit["Service.CPUAffinity"][0], "--config", config]


def test_unit_when_booting_then_ordered_after_onloads_driver_and_waits_for_it_before_deciding() -> None:
    unit = _settings()
    after = " ".join(unit["Unit.After"]).split()
    wants = " ".join(unit["Unit.Wants"]).split()
    # Onload's installer loads onload.ko through modules-load.d; its udev rule sets /dev/onload's permissions
    for needed in ("network-online.target", "systemd-modules-load.service"):
        assert needed in after and needed in wants
    assert "systemd-udevd.service" in after
    start = shlex.split(unit["Service.ExecStart"][0])
    wait = float(start[start.index("--wait-for-onload") + 1])
    assert 0 < wait <= 60
    assert start.index("--wait-for-onload") < start.index("--")  # a launcher flag, not a gateway one
    assert "Unit.ConditionPathExists" not in unit  # a host without Onload must still start (kernel fallback)


def test_unit_when_profile_named_then_it_exists_in_deploy_onload() -> None:
    start = shlex.split(_settings()["Service.ExecStart"][0])
    profile = start[start.index("--profile") + 1]
    assert (REPO / "deploy" / "onload" / f"{profile}.opf").is_file()


def test_unit_when_verified_by_systemd_then_no_unknown_keys_or_errors(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    gateway = Path(sys.executable).parent / "gateway"
    text = UNIT.read_text().replace("/opt/gateway/.venv/bin/gateway", str(gateway)).replace("/opt/gateway", str(REPO))
    unit = tmp_path / "gateway.service"
    unit.write_text(text)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_unit_when_config_read_then_spin_cpu_is_the_units_affinity_and_mlockall_has_its_limit() -> None:
    from gateway.config import load_config

    unit = _settings()
    start = shlex.split(unit["Service.ExecStart"][0])
    config = load_config(REPO / start[start.index("--config") + 1].removeprefix("/opt/gateway/"))
    assert config.spin.cpu == tuple(int(cpu) for cpu in unit["Service.CPUAffinity"][0].split())
    assert config.spin.mlockall and unit["Service.LimitMEMLOCK"] == ["infinity"]


def test_production_config_when_compared_with_the_development_one_then_only_spin_differs() -> None:
    from gateway.config import load_config

    development = load_config(REPO / "deploy" / "gateway.yaml")
    production = load_config(REPO / "deploy" / "gateway.production.yaml")
    assert (development.spin.cpu, development.spin.mlockall) == (None, False)  # the 2-core VM, the demo, the tests
    assert msgspec.structs.replace(production, spin=development.spin, config_file=development.config_file) == (
        development
    )


def test_ops_guide_when_quoting_the_production_spin_section_then_it_is_the_shipped_one() -> None:
    import yaml

    from gateway.config import load_config
    from gateway.ops.config import parse_spin_config

    guide = (REPO / "docs" / "ops-guide.md").read_text()
    block = next(b for b in guide.split("```yaml\n")[1:] if b.startswith("spin:"))
    quoted = parse_spin_config(yaml.safe_load(block.split("```", 1)[0])["spin"])
    assert quoted == load_config(REPO / "deploy" / "gateway.production.yaml").spin


def test_metrics_unit_when_read_then_it_asks_the_gateway_of_gateway_service() -> None:
    # fixops35: the exporter's unit read deploy/gateway.yaml while gateway.service runs gateway.production.yaml
    start = shlex.split(_settings()["Service.ExecStart"][0])
    exporter = shlex.split(_settings(METRICS_UNIT)["Service.ExecStart"][0])
    assert exporter[1:3] == ["metrics", "serve"]
    assert exporter[exporter.index("--config") + 1] == start[start.index("--config") + 1]


def test_unit_when_stopping_then_timeout_stop_exceeds_the_gateways_longest_stop_wait(tmp_path: Path) -> None:
    """``TimeoutStopSec`` above the longest ``stop_cancel_timeout_s`` (20 s) plus the logouts (opsfix37)."""
    from gateway.config import ConfigError, load_config

    assert int(_settings()["Service.TimeoutStopSec"][0]) >= 20 + 5
    config = tmp_path / "gateway.yaml"
    base = (REPO / "deploy" / "gateway.yaml").read_text()
    assert load_config(_write(config, base)).stop_cancel_timeout_s == 5.0
    assert load_config(_write(config, base + "stop_cancel_timeout_s: 20\n")).stop_cancel_timeout_s == 20.0
    with pytest.raises(ConfigError, match="stop_cancel_timeout_s"):
        load_config(_write(config, base + "stop_cancel_timeout_s: 21\n"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
