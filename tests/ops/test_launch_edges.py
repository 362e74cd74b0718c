"""``--host-root`` that is not a directory, and Ctrl-C during ``--wait-for-onload`` (opsfix33).

The ops review found ``--host-root /nonexistent`` accepted (the launch silently fell back to kernel
sockets, ``gateway doctor`` exited 0) and a KeyboardInterrupt traceback on Ctrl-C while the launcher
waited for Onload's driver.
"""

from __future__ import annotations

import signal
import subprocess
import sys

from gateway.ops.launch import EXIT_INTERRUPTED, EXIT_USAGE
from tests.ops.conftest import LaunchRig
from tests.ops.test_launch_contract import _config


def test_launch_when_host_root_is_not_a_directory_then_exit_2(rig: LaunchRig) -> None:
    missing = rig.tmp / "nonexistent"
    result = rig.launch("--dry-run", "--host-root", str(missing), "--", "--config", str(_config(rig.tmp)))
    assert result.returncode == EXIT_USAGE
    assert f"argument --host-root: '{missing}' is not a directory" in result.stderr
    assert rig.record(rig.child_record) is None


def test_launch_when_host_root_env_is_not_a_directory_then_exit_2(rig: LaunchRig) -> None:
    a_file = rig.tmp / "a-file"
    a_file.write_text("")
    env = rig.env(GATEWAY_HOST_ROOT=str(a_file))
    result = rig.launch("--dry-run", "--", "--config", str(_config(rig.tmp)), env=env)
    assert result.returncode == EXIT_USAGE
    assert f"argument --host-root: '{a_file}' is not a directory" in result.stderr


def test_doctor_when_host_root_is_not_a_directory_then_exit_2(rig: LaunchRig) -> None:
    missing = rig.tmp / "nonexistent"
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "doctor", "--host-root", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"argument --host-root: '{missing}' is not a directory" in result.stderr


def test_launch_when_interrupted_while_waiting_for_onload_then_exit_130_with_one_line(rig: LaunchRig) -> None:
    rig.install_onload()  # installed, driver not loaded: the launcher waits
    launcher = rig.popen("--wait-for-onload", "600", "--", "--config", str(_config(rig.tmp)))
    assert launcher.stderr is not None
    seen = []
    for line in launcher.stderr:
        seen.append(line)
        if "launch: waiting up to 600 s for Onload" in line:
            break
    else:
        raise AssertionError(f"the launcher exited {launcher.wait()} without waiting:\n{''.join(seen)}")
    launcher.send_signal(signal.SIGINT)
    rest = launcher.stderr.read()
    assert launcher.wait(30) == EXIT_INTERRUPTED == 130
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    lines = [line for line in rest.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].endswith(
        "ERROR   gateway.ops.launch: launch: interrupted (SIGINT) while waiting for Onload; nothing exec'd"
    ), rest
    assert rig.record(rig.child_record) is None
