"""Process tuning applied to a real process (a child, so the test runner keeps its own settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from gateway.ops.config import SpinConfig
from gateway.ops.tuning import SettingResult, TuningReport

CHILD = """
import json, logging, os, sys, threading
from gateway.ops.config import GcConfig, SpinConfig, parse_spin_config
from gateway.ops.gc_control import GcController
from gateway.ops.tuning import apply_process_tuning

lines = []
class Keep(logging.Handler):
    def emit(self, record):
        lines.append(record.getMessage())
logging.getLogger("gateway.ops.tuning").addHandler(Keep())
logging.getLogger().setLevel(logging.INFO)

cfg = parse_spin_config(json.loads(sys.argv[1]))
early = threading.Event(); done = threading.Event()
worker = threading.Thread(target=lambda: (early.set(), done.wait(10)))
worker.start(); early.wait(10)          # a thread that exists before tuning
if sys.argv[2] == "nobody":
    os.setgid(65534); os.setuid(65534)
report = apply_process_tuning(cfg, GcController(cfg.gc))

def status_field(name, tid=None):
    path = f"/proc/self/task/{tid}/status" if tid else "/proc/self/status"
    for line in open(path):
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()

print(json.dumps({
    "report": report.status(),
    "lines": lines,
    "affinity": sorted(os.sched_getaffinity(0)),
    "worker_cpus": status_field("Cpus_allowed_list", worker.native_id),
    "policy": os.sched_getscheduler(0),
    "priority": os.sched_getparam(0).sched_priority,
    "vmlck_kb": int(status_field("VmLck").split()[0]),
}))
done.set(); worker.join()
"""


def _tune(raw: dict[str, Any], user: str = "root") -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(raw), user],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    data["by_name"] = {s["name"]: s for s in data["report"]}
    return data


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (SCHED_FIFO, mlockall beyond the default limit, dropping to nobody)")


def test_apply_when_permitted_then_affinity_fifo_and_mlockall_are_live_on_the_process() -> None:
    _need_root()
    data = _tune({"cpu": [0], "sched_fifo_priority": 3, "mlockall": True, "loop_spin_us": 50})
    assert data["affinity"] == [0]
    assert data["worker_cpus"] == "0"  # threads started before tuning are pinned too
    assert data["policy"] == os.SCHED_FIFO and data["priority"] == 3
    assert data["vmlck_kb"] > 1000
    by_name = data["by_name"]
    assert all(s["applied"] for s in data["report"])
    assert by_name["cpu"]["effective"] == "0"
    assert by_name["sched_fifo"]["effective"] == "SCHED_FIFO priority 3"
    assert by_name["mlockall"]["effective"] == "on"
    assert by_name["loop_spin"]["effective"] == "50 us after each socket read"
    assert len(data["lines"]) == len(data["report"])  # one log line per setting
    assert data["lines"][0] == "tuning cpu: 0"


def test_apply_when_not_permitted_then_reports_why_and_the_process_still_starts() -> None:
    _need_root()
    data = _tune({"cpu": [0], "sched_fifo_priority": 3, "mlockall": True}, user="nobody")
    by_name = data["by_name"]
    assert by_name["cpu"]["applied"] is True  # pinning needs no privilege
    assert by_name["sched_fifo"]["applied"] is False
    assert "Operation not permitted" in by_name["sched_fifo"]["detail"]
    assert "LimitRTPRIO=" in by_name["sched_fifo"]["detail"]
    assert data["policy"] == os.SCHED_OTHER
    assert by_name["mlockall"]["applied"] is False
    assert "LimitMEMLOCK=infinity" in by_name["mlockall"]["detail"]
    assert data["vmlck_kb"] == 0
    assert any(
        line.startswith("tuning sched_fifo: NOT APPLIED, requested SCHED_FIFO priority 3") for line in data["lines"]
    )


def test_apply_when_cpu_does_not_exist_then_not_applied_with_online_list() -> None:
    data = _tune({"cpu": [4095]})
    cpu = data["by_name"]["cpu"]
    assert cpu["applied"] is False
    assert cpu["requested"] == "4095"
    assert "offline, missing or outside this process's cpuset (online: " in cpu["detail"]
    assert data["affinity"] == sorted(os.sched_getaffinity(0))  # left as it was


def test_apply_when_defaults_then_nothing_changes_and_everything_is_reported() -> None:
    data = _tune({})
    names = [s["name"] for s in data["report"]]
    assert names == ["cpu", "sched_fifo", "mlockall", "gc", "loop_spin", "so_busy_poll", "tcp_nodelay"]
    assert data["by_name"]["sched_fifo"]["effective"] == "off (SCHED_OTHER)"
    assert data["by_name"]["mlockall"]["effective"] == "off"
    assert data["by_name"]["so_busy_poll"]["effective"] == "50 us on kernel-path venue sockets"


def test_report_when_queried_then_finds_settings_and_overall_state() -> None:
    report = TuningReport((SettingResult("cpu", "2", "0-1", False, "x"), SettingResult("mlockall", "off", "off", True)))
    assert report.get("cpu") is not None and report.get("nope") is None
    assert SpinConfig().mlockall is False
