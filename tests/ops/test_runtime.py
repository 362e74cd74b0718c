"""``OpsRuntime``: the start-up sequence the core calls, and the status it serves."""

from __future__ import annotations

import asyncio
import gc
import json
import logging

import msgspec
import pytest

from gateway.ops.acceleration import Acceleration
from gateway.ops.config import GcConfig, SpinConfig
from gateway.ops.iouring import IoUringGuard
from gateway.ops.onload import OnloadProcessInfo
from gateway.ops.runtime import LoopImpl, OpsRuntime, io_uring_decision
from gateway.snapshot import word_live_sections

_ONLOAD = Acceleration("onload", "x", OnloadProcessInfo("/lib/libonload.so", True, True), "onload", None, False)
_KERNEL = Acceleration("kernel", "x", OnloadProcessInfo(None, None, False), None, None, False)


@pytest.mark.parametrize(
    ("guard", "acceleration", "loop", "block"),
    [
        (IoUringGuard.AUTO, _ONLOAD, LoopImpl.UVLOOP, True),
        (IoUringGuard.AUTO, _ONLOAD, LoopImpl.ASYNCIO, False),
        (IoUringGuard.AUTO, _KERNEL, LoopImpl.UVLOOP, False),
        (IoUringGuard.AUTO, _KERNEL, LoopImpl.ASYNCIO, False),
        (IoUringGuard.ALWAYS, _KERNEL, LoopImpl.UVLOOP, True),
        (IoUringGuard.ALWAYS, _KERNEL, LoopImpl.ASYNCIO, True),
        (IoUringGuard.NEVER, _ONLOAD, LoopImpl.UVLOOP, False),
        (IoUringGuard.NEVER, _KERNEL, LoopImpl.ASYNCIO, False),
    ],
)
def test_io_uring_decision_when_guard_path_and_loop_then_blocks_only_where_needed(
    guard: IoUringGuard, acceleration: Acceleration, loop: LoopImpl, block: bool
) -> None:
    assert io_uring_decision(guard, acceleration, loop)[0] is block


def test_io_uring_decision_when_never_under_onload_with_uvloop_then_explains_the_risk() -> None:
    _, why = io_uring_decision(IoUringGuard.NEVER, _ONLOAD, LoopImpl.UVLOOP)
    assert "Onload will not see" in why


async def test_runtime_when_prepared_and_attached_then_status_has_every_section(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    env = {"GATEWAY_ACCEL_MODE": "kernel", "GATEWAY_ACCEL_REASON": "onload executable not found on PATH"}
    spin = SpinConfig(loop_spin_us=200, gc=GcConfig(quiet_period_ms=0))
    ops = OpsRuntime.prepare(spin, loop_impl=LoopImpl.ASYNCIO, environ=env)
    try:
        spinner = ops.attach(asyncio.get_running_loop())
        spinner.kick()
        await asyncio.sleep(0)
        ops.startup_complete()
        status = ops.status()
        json.dumps(status)  # served as JSON by the admin socket
        assert status["acceleration"]["mode"] == "kernel"
        assert status["acceleration"]["reason"] == "onload executable not found on PATH"
        assert status["acceleration"]["all_venue_sockets_accelerated"] is None  # no venue connected yet
        assert status["io_uring"] == {
            "guard": "auto",
            "blocked": False,
            "detail": "auto: the stdlib loop registers sockets with epoll_ctl already",
        }
        assert [s["name"] for s in status["tuning"]][:3] == ["cpu", "sched_fifo", "mlockall"]
        assert status["gc"]["frozen_objects"] > 0
        assert status["spinner"]["kicks"] == 1
        assert status["spinner"]["mode"] == "200 us after activity"
        messages = [r.getMessage() for r in caplog.records]
        assert messages[0] == "acceleration: kernel (Onload not present: onload executable not found on PATH)"
        assert messages[1] == "onload environment: none (kernel path)"
        assert messages[2] == "io_uring: left alone (auto: the stdlib loop registers sockets with epoll_ctl already)"
        assert messages[3].startswith("tuning cpu: ")
        assert status["acceleration"]["onload_env"] == []
        assert status["acceleration"]["verdict"] == "no venue socket connected yet"
        assert messages[-1].startswith("gc: start-up complete, ")
    finally:
        ops.close()
        gc.unfreeze()


def test_runtime_when_guard_override_is_garbage_then_warns_and_keeps_config(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spin = SpinConfig(gc=GcConfig(quiet_period_ms=0))
    ops = OpsRuntime.prepare(spin, loop_impl=LoopImpl.ASYNCIO, environ={"GATEWAY_IO_URING_GUARD": "sometimes"})
    try:
        assert ops.io_uring_guard is IoUringGuard.AUTO
        assert "io_uring: ignoring GATEWAY_IO_URING_GUARD='sometimes' (use auto, always or never)" in caplog.text
    finally:
        ops.close()


def test_runtime_when_ef_variables_on_the_kernel_path_then_listed_as_ignored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    spin = SpinConfig(gc=GcConfig(quiet_period_ms=0))
    ops = OpsRuntime.prepare(spin, loop_impl=LoopImpl.ASYNCIO, environ={"EF_POLL_USEC": "0"})
    try:
        assert (
            "onload environment: ignored on the kernel path: EF_POLL_USEC=0 (environment: started without gateway"
            " launch)" in caplog.text
        )
    finally:
        ops.close()


async def test_runtime_when_its_live_sections_go_through_the_status_snapshot_then_worded_as_status_says() -> None:
    spin = SpinConfig(loop_spin_us=200, gc=GcConfig(quiet_period_ms=0))
    ops = OpsRuntime.prepare(spin, loop_impl=LoopImpl.ASYNCIO, environ={"GATEWAY_ACCEL_MODE": "kernel"})
    try:
        ops.attach(asyncio.get_running_loop()).kick()
        ops.startup_complete()
        fixed, live = ops.status_parts()
        sent = msgspec.msgpack.decode(msgspec.msgpack.encode(live))  # what the reader of the snapshot gets
        worded, document = word_live_sections(sent), ops.status()
    finally:
        ops.close()
        gc.unfreeze()
    assert set(worded) == {"gc", "spinner"} and set(fixed) | set(worded) == set(document)
    for section in ("gc", "spinner"):
        assert set(worded[section]) == set(document[section])
    assert worded["gc"]["policy"] == document["gc"]["policy"]
    assert worded["gc"]["frozen_objects"] == document["gc"]["frozen_objects"] > 0
    assert worded["spinner"]["mode"] == "200 us after activity"
    assert worded["spinner"]["kicks"] == document["spinner"]["kicks"] == 1
    with pytest.raises(ValueError, match="unknown kind"):
        word_live_sections(["later", 1])
