"""Fixtures for the ops tests: a fake ``onload`` on PATH, a recording child, a fake host root."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ONLOAD_BASE_PROFILES = Path(__file__).resolve().parent / "onload_profiles"
"""Stand-ins for Onload's latency, latency-best and throughput profiles (see its README.md)."""

ONLOAD_VERSION_OUTPUT = (
    "OpenOnload 8.1.2.26\nCopyright 2019-2024 Advanced Micro Devices, Inc.\nBuilt: Jan 1 2025 (release)\n"
    "Kernel module: 8.1.2.26\n"
)

FAKE_ONLOAD = """#!{python}
# A stand-in for onload: answers --version, records how it was run, then execs the
# command like the real script does (after its options).
import json, os, sys
if sys.argv[1:2] == ["--version"]:
    sys.stdout.write(os.environ.get("FAKE_ONLOAD_VERSION_OUTPUT", {version!r}))
    sys.exit(int(os.environ.get("FAKE_ONLOAD_VERSION_RC", "0")))
with open(os.environ["FAKE_ONLOAD_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ), "pid": os.getpid()}}, f)
args = sys.argv[1:]
while args and args[0].startswith("-"):
    args.pop(0)
os.execvp(args[0], args)
"""

FAKE_CHILD = """#!{python}
# Stands in for the gateway interpreter: records argv, environment and pid.
import json, os, sys
with open(os.environ["FAKE_CHILD_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ), "pid": os.getpid()}}, f)
sys.exit(int(os.environ.get("FAKE_CHILD_RC", "0")))
"""


@dataclass
class LaunchRig:
    """A sandbox for running ``gateway launch`` as ops would, with fakes where the host has nothing."""

    tmp: Path
    bin_dir: Path
    host_root: Path
    child: Path
    onload_record: Path
    child_record: Path

    def install_onload(self, version_output: str = ONLOAD_VERSION_OUTPUT) -> Path:
        """Put a fake ``onload`` on PATH."""
        path = self.bin_dir / "onload"
        path.write_text(FAKE_ONLOAD.format(python=sys.executable, version=version_output))
        path.chmod(0o755)
        return path

    def install_onload_profiles(self) -> Path:
        """Put stand-ins for Onload's own profiles where ``onload_import`` finds them on the fake host."""
        target = self.host_root / "usr" / "libexec" / "onload" / "profiles"
        target.mkdir(parents=True, exist_ok=True)
        for profile in ONLOAD_BASE_PROFILES.iterdir():
            if profile.suffix in (".opf", ".opf-fragment"):
                (target / profile.name).write_text(profile.read_text())
        return target

    def load_driver(self, version: str = "8.1.2.26", *, device: bool = True) -> None:
        """Make the fake host look like the onload module is loaded (and, with ``device``, udev made /dev/onload)."""
        module = self.host_root / "sys" / "module" / "onload"
        module.mkdir(parents=True, exist_ok=True)
        (module / "version").write_text(version + "\n")
        if device:
            self.create_device()

    def create_device(self) -> None:
        """Make the fake host's /dev/onload, owned by this user with mode 0666 (what udev does, a little later)."""
        (self.host_root / "dev").mkdir(exist_ok=True)
        node = self.host_root / "dev" / "onload"
        node.write_text("")
        node.chmod(0o666)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for the launcher: PATH without any real onload, the fake host root, record paths."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "EF_"))}
        env["PATH"] = f"{self.bin_dir}:/usr/bin:/bin"
        env["GATEWAY_HOST_ROOT"] = str(self.host_root)
        env["FAKE_ONLOAD_RECORD"] = str(self.onload_record)
        env["FAKE_CHILD_RECORD"] = str(self.child_record)
        env.update(extra)
        return env

    def launch(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``python -m gateway launch --python <recording child> ARGS`` and wait for it."""
        argv = [sys.executable, "-m", "gateway", "launch", "--python", str(self.child), *args]
        return subprocess.run(
            argv, env=env or self.env(), capture_output=True, text=True, timeout=60, cwd=self.tmp, check=False
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start the launcher without waiting (to compare pids across exec)."""
        argv = [sys.executable, "-m", "gateway", "launch", "--python", str(self.child), *args]
        return subprocess.Popen(
            argv, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.tmp
        )

    @staticmethod
    def record(path: Path) -> dict[str, Any] | None:
        """Return what a fake recorded, or ``None`` if it never ran."""
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return data


@pytest.fixture
def rig(tmp_path: Path) -> LaunchRig:
    """A launch sandbox with an empty bin dir, an empty host root and a recording child."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    host_root = tmp_path / "host"
    host_root.mkdir()
    child = tmp_path / "gateway-python"
    child.write_text(FAKE_CHILD.format(python=sys.executable))
    child.chmod(0o755)
    return LaunchRig(tmp_path, bin_dir, host_root, child, tmp_path / "onload.json", tmp_path / "child.json")


def require_tool(name: str) -> str:
    """Return the tool's path or skip the test, saying which tool is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed on this machine")
    return path


def run_traced(
    argv: list[str], syscalls: str, trace: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` under ``strace -f``, writing the ``syscalls`` it makes to ``trace``; it must exit 0."""
    strace = require_tool("strace")
    result = subprocess.run(
        [strace, "-f", "-qq", "-o", str(trace), "-e", f"trace={syscalls}", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def io_uring_setup_results(trace: str) -> list[str]:
    """Return what each traced ``io_uring_setup`` returned (``4``, ``-1 ENOSYS (...)``)."""
    return re.findall(r"io_uring_setup\(.*\)\s+=\s+(.+)$", trace, re.MULTILINE)


def epoll_adds(trace: str, fd: int) -> list[str]:
    """Return the traced ``epoll_ctl(..., EPOLL_CTL_ADD, fd, ...)`` calls for ``fd``."""
    return re.findall(rf"epoll_ctl\(\d+, EPOLL_CTL_ADD, {fd}, .*", trace)


Writer = Callable[[str, str], Path]


@pytest.fixture
def fake_root(tmp_path: Path) -> Writer:
    """Return ``write(absolute_path, text)`` that builds a fake host tree under tmp_path/root."""
    root = tmp_path / "root"
    root.mkdir()

    def write(absolute: str, text: str) -> Path:
        path = root / absolute.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write
