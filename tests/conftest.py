"""Shared test set-up.

Hypothesis runs with no per-example deadline (see below). Every asyncio test runs once
under the stdlib loop and once under uvloop, and fails if anything raised inside an
event-loop callback (a protocol method, a timer), which asyncio would otherwise only log.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import uvloop
from hypothesis import settings

# Hypothesis fails an example that takes over 200 ms by default: one GC pause or preemption on a shared or
# loaded CI machine would turn the run red (DeadlineExceeded / Flaky). Property tests here check behaviour, not
# speed (speed is measured by benchmarks/), so no deadline anywhere.
settings.register_profile("gateway", deadline=None)
settings.load_profile("gateway")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
_loop_errors: list[dict[str, Any]] = []


def _recording(make_loop: LoopFactory) -> LoopFactory:
    def create() -> asyncio.AbstractEventLoop:
        loop = make_loop()
        loop.set_exception_handler(lambda _loop, context: _loop_errors.append(context))
        return loop

    return create


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, LoopFactory]:
    """Run each async test under both event loops the gateway supports."""
    del config, item
    return {"asyncio": _recording(asyncio.new_event_loop), "uvloop": _recording(uvloop.new_event_loop)}


@pytest.fixture(autouse=True)
def fail_on_event_loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Fail the test if an exception escaped into the event loop's handler."""
    _loop_errors.clear()
    yield _loop_errors
    if _loop_errors:
        details = "; ".join(f"{ctx.get('message')}: {ctx.get('exception')!r}" for ctx in _loop_errors)
        _loop_errors.clear()
        pytest.fail(f"exception in event loop callback: {details}")


@pytest.fixture(autouse=True)
def no_fix_store_thread_outlives_its_test() -> Iterator[None]:
    """Fail a test that leaves a FIX FileStore's fsync thread (``fixstore-*``) running: close what you open.

    A leaked flusher keeps fsyncing a file nobody uses and, in numbers, disturbs later tests (it
    made a GC-freeze test flaky). Only threads started during the test count against it.
    """
    before = {thread.ident for thread in threading.enumerate() if thread.name.startswith("fixstore-")}
    yield
    leaked = [
        thread.name
        for thread in threading.enumerate()
        if thread.name.startswith("fixstore-") and thread.ident not in before and thread.is_alive()
    ]
    if leaked:
        pytest.fail(f"FIX store flusher threads still running after the test (close the store): {leaked}")


@pytest.fixture(autouse=True)
def no_gc_callback_outlives_its_test() -> Iterator[None]:
    """Fail a test that leaves a ``gc.callbacks`` entry behind (a ``GcController`` not closed, say).

    A callback left installed runs at every later collection, in every later test. Hypothesis's own (from a
    ``hypothesis.*`` module) is not counted: the first ``@given`` test of a run installs it, for good, to time
    collections.
    """
    before = list(gc.callbacks)
    yield
    left = [
        callback
        for callback in gc.callbacks
        if callback not in before and not getattr(callback, "__module__", "").startswith("hypothesis.")
    ]
    if left:
        pytest.fail(f"gc.callbacks entries still installed after the test (close what installed them): {left}")


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """Return a fresh directory with a short path, for Unix sockets (AF_UNIX paths are limited to ~107 bytes).

    Not under ``tmp_path``, which is too long; removed after the test.
    """
    directory = Path(tempfile.mkdtemp(prefix="gw", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
