"""``--host-root`` that is not a directory, Ctrl-C and SIGTERM during ``--wait-for-onload``, the boot race.

The ops review found ``--host-root /nonexistent`` accepted (the launch silently fell back to kernel
sockets, ``gateway doctor`` exited 0) and a KeyboardInterrupt traceback on Ctrl-C while the launcher
waited for Onload's driver (opsfix33); then (fixops35) a SIGTERM during the wait that ended the launcher
without a word, and a launcher that took ``/sys/module/onload`` alone for a usable Onload, before udev
had created ``/dev/onload``: it exec'd ``onload`` and every socket stayed on the kernel.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from gateway.ops.launch import EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_TERMINATED, EXIT_USAGE
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


def _waiting(launcher: subprocess.Popen[str], line: str) -> None:
    """Read the launcher's stderr up to the line that says it waits."""
    assert launcher.stderr is not None
    seen = []
    for text in launcher.stderr:
        seen.append(text)
        if line in text:
            return
    raise AssertionError(f"the launcher exited {launcher.wait()} without waiting:\n{''.join(seen)}")


def test_launch_when_terminated_while_waiting_for_onload_then_exit_143_with_one_line(rig: LaunchRig) -> None:
    # fixops35: SIGTERM (systemctl stop during the boot wait) ended the launcher without a word
    rig.install_onload()
    launcher = rig.popen("--wait-for-onload", "600", "--", "--config", str(_config(rig.tmp)))
    _waiting(launcher, "launch: waiting up to 600 s for Onload")
    launcher.send_signal(signal.SIGTERM)
    _, rest = launcher.communicate(timeout=30)
    assert launcher.returncode == EXIT_TERMINATED == 143
    lines = [line for line in rest.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].endswith(
        "ERROR   gateway.ops.launch: launch: interrupted (SIGTERM) while waiting for Onload; nothing exec'd"
    ), rest
    assert rig.record(rig.child_record) is None and rig.record(rig.onload_record) is None


# ------------------------------------------------------- boot race: the module is loaded before /dev/onload


def test_launch_when_module_loaded_before_dev_onload_then_waits_for_the_device_and_execs_onload(
    rig: LaunchRig,
) -> None:
    # fixops35: /sys/module/onload at once, /dev/onload later (udev): the launcher decided "ready" on the module
    rig.install_onload()
    rig.install_onload_profiles()
    rig.load_driver(device=False)
    launcher = rig.popen("--wait-for-onload", "30", "--", "--config", str(_config(rig.tmp)))
    _waiting(
        launcher,
        "launch: waiting up to 30 s for Onload: Onload 8.1.2.26 and its driver are loaded but there is no"
        " /dev/onload (udev has not created it yet",
    )
    time.sleep(0.5)
    assert launcher.poll() is None  # still waiting: the module alone is not enough
    assert rig.record(rig.onload_record) is None
    rig.create_device()
    _, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode == 0, stderr
    assert "launch: Onload's driver and /dev/onload are ready" in stderr
    seen = rig.record(rig.onload_record)
    assert seen is not None and seen["env"]["GATEWAY_ACCEL_MODE"] == "onload"


def test_launch_when_module_loaded_but_no_dev_onload_then_kernel_fallback_or_refused_with_the_reason(
    rig: LaunchRig,
) -> None:
    rig.install_onload()
    rig.install_onload_profiles()
    rig.load_driver(device=False)
    config = str(_config(rig.tmp))
    dry = rig.launch("--dry-run", "--", "--config", config)
    assert dry.returncode == 0, dry.stderr
    assert "mode: kernel" in dry.stdout.splitlines()
    assert "reason: Onload 8.1.2.26 and its driver are loaded but there is no /dev/onload" in dry.stdout
    required = rig.launch("--require-onload", "--", "--config", config)
    assert required.returncode == EXIT_REFUSED
    assert (
        "--require-onload given and Onload is not usable: Onload 8.1.2.26 and its driver are loaded but there is"
        " no /dev/onload" in required.stderr
    ), required.stderr
    assert rig.record(rig.onload_record) is None and rig.record(rig.child_record) is None


# ------------------------------------------------ signals during the launcher's own start-up (before any wait)


def _holding(pid: int) -> None:
    """Wait until ``pid`` holds the start-up signals: SIGHUP blocked, SIGTERM and SIGINT caught."""
    masks: dict[str, int] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as status:
            masks = {
                k: int(v, 16) for k, _, v in (line.partition(":\t") for line in status) if k in ("SigBlk", "SigCgt")
            }
        hup, caught = 1 << (signal.SIGHUP - 1), (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGINT - 1))
        if masks.get("SigBlk", 0) & hup and masks.get("SigCgt", 0) & caught == caught:
            return
        time.sleep(0.002)
    raise AssertionError(f"the launcher never held the signals: {masks}")


@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, EXIT_TERMINATED), (signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGHUP, 0)]
)
def test_launch_when_signalled_during_its_own_start_up_then_one_line_and_its_exit_code(
    rig: LaunchRig, sig: signal.Signals, code: int, dry_run: bool
) -> None:
    # rev42ops: SIGTERM ended the launcher silently (143), SIGINT with a KeyboardInterrupt traceback, SIGHUP
    # with 129 (which systemd counts as a clean exit: Restart=on-failure would not restart it)
    launcher = rig.popen(*(["--dry-run"] if dry_run else []), "--", "--config", str(_config(rig.tmp)))
    _holding(launcher.pid)
    launcher.send_signal(sig)
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == code, err
    assert "Traceback" not in err
    if sig is signal.SIGHUP:  # held: the launch goes on (the exec'd gateway receives it, pending, once it listens)
        assert (rig.record(rig.child_record) is None) == dry_run
        return
    assert f"launch: {sig.name} received during the launcher's start-up; nothing exec'd" in err
    assert rig.record(rig.child_record) is None
