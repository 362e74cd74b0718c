"""The ``spin:`` section: defaults, the documented example, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from gateway.ops import config as config_module
from gateway.ops.config import AutomaticGc, GcConfig, SpinConfig, SpinConfigError, parse_spin_config
from gateway.ops.iouring import IoUringGuard


def test_parse_when_section_missing_then_defaults() -> None:
    assert parse_spin_config(None) == SpinConfig()
    assert SpinConfig().loop_spin_us == 0
    assert SpinConfig().gc == GcConfig()


def test_parse_when_documented_example_then_accepted_with_its_values() -> None:
    doc = config_module.__doc__ or ""
    example = doc.split("::", 1)[1].split("Parse with", 1)[0]
    raw = yaml.safe_load(example)["spin"]
    assert parse_spin_config(raw) == SpinConfig()


def test_parse_when_ops_guide_example_then_accepted() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "ops-guide.md").read_text()
    block = next(b for b in guide.split("```yaml\n")[1:] if b.startswith("spin:"))
    cfg = parse_spin_config(yaml.safe_load(block.split("```", 1)[0])["spin"])
    assert isinstance(cfg, SpinConfig)
    assert (cfg.loop_spin_us, cfg.cpu, cfg.mlockall) == (100, (2,), True)


def test_parse_when_every_field_set_then_typed_config() -> None:
    raw = {
        "loop_spin_us": -1,
        "so_busy_poll_us": 100,
        "cpu": [2, 3],
        "sched_fifo_priority": 10,
        "mlockall": True,
        "io_uring_guard": "always",
        "gc": {
            "freeze_after_startup": False,
            "automatic": "off",
            "gen0_threshold": 50000,
            "quiet_period_ms": 0,
        },
    }
    cfg = parse_spin_config(raw)
    assert isinstance(cfg, SpinConfig)
    assert cfg.cpu == (2, 3)
    assert cfg.io_uring_guard is IoUringGuard.ALWAYS
    assert cfg.gc.automatic is AutomaticGc.OFF
    assert cfg.gc.gen0_threshold == 50000


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ({"loop_spin_us": -2}, "spin.loop_spin_us", "Expected `int` >= -1"),
        ({"so_busy_poll_us": -1}, "spin.so_busy_poll_us", "Expected `int` >= 0"),
        ({"sched_fifo_priority": 0}, "spin.sched_fifo_priority", "Expected `int` >= 1"),
        ({"sched_fifo_priority": 100}, "spin.sched_fifo_priority", "Expected `int` <= 99"),
        ({"cpu": [-1]}, "spin.cpu[0]", "Expected `int` >= 0"),
        ({"cpu": "2"}, "spin.cpu", "Expected `array | null`, got `str`"),
        ({"cpu": []}, "spin", "cpu must list at least one CPU, or be null to leave affinity alone"),
        ({"cpu": [1, 1]}, "spin", "cpu lists a CPU twice: [1, 1]"),
        ({"mlockall": "yes"}, "spin.mlockall", "Expected `bool`, got `str`"),
        ({"io_uring_guard": "sometimes"}, "spin.io_uring_guard", "Invalid enum value 'sometimes'"),
        ({"gc": {"automatic": "never"}}, "spin.gc.automatic", "Invalid enum value 'never'"),
        ({"gc": {"quiet_generation": 3}}, "spin.gc.quiet_generation", "Expected `int` <= 2"),
        ({"gc": {"quiet_period_ms": "1s"}}, "spin.gc.quiet_period_ms", "Expected `int`, got `str`"),
        ({"spin_us": 5}, "spin", "Object contains unknown field `spin_us`"),
        ({"gc": {"freeze": True}}, "spin.gc", "Object contains unknown field `freeze`"),
        ([1, 2], "spin", "Expected `object`, got `array`"),
        ("fast", "spin", "Expected `object`, got `str`"),
    ],
)
def test_parse_when_value_bad_then_error_names_field_and_reason(raw: Any, path: str, message: str) -> None:
    assert parse_spin_config(raw) == SpinConfigError(path, message)
    assert str(parse_spin_config(raw)) == f"{path}: {message}"


def test_config_when_frozen_then_cannot_be_changed_at_run_time() -> None:
    cfg = SpinConfig()
    with pytest.raises(AttributeError):
        cfg.loop_spin_us = 5  # type: ignore[misc]


def test_config_when_encoded_then_round_trips() -> None:
    cfg = SpinConfig(loop_spin_us=100, cpu=(2,), gc=GcConfig(automatic=AutomaticGc.ALL))
    assert parse_spin_config(msgspec.to_builtins(cfg)) == cfg
