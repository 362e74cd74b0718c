"""A price feed replacing a large reference-price file every half second holds back no limits change (risk61).

rev61diff HIGH 1: a reference-price file over ``INLINE_BYTES`` is read and hashed in the watch's thread (risk60), and a
watch reload that found a look under way was put off; with a feed, the file's next replacement was always under look
when the reload began, so a limits file `mv`-ed over the path was never applied (25 s, 90 s: never), nor the feed's
prices. The guide (risk-officer-guide section 11 step 3) promises the feed does not hold back a limits change, and that
the reload reads both files as they are. A real `gateway run` process and a feed in a thread of the test.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.admin import AdminError, admin_request
from risk.audit import read_audit_log
from risk.filewatch import INLINE_BYTES
from tests.e2e.support import short_tmp
from tests.e2e.test_processes import GATEWAY, wait_until, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FEED_INTERVAL_S = 0.5
APPLIED_WITHIN_S = 15.0
"""The watch looks every second and applies a replacement that stayed a whole second: ~2-3 s; margin for a loaded
machine (before the fix: never)."""


def _prices(version: int) -> str:
    lines = "".join(f"  S{i:05d}: {10 + (i + version) % 97}.01\n" for i in range(6000))  # ~96 KB
    return f"as_of: loaded\nprices:\n  AAPL: 230.10\n{lines}"


class Feed:
    """Replace ``refs.yaml`` (``mv``) with a new version every ``FEED_INTERVAL_S``; remember each version's sha256."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written: list[str] = []
        self.stop = threading.Event()
        self.running = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def write(self, version: int) -> None:
        text = _prices(version)
        new = self.path.with_name("refs.yaml.tmp")
        new.write_text(text)
        os.replace(new, self.path)
        self.written.append(hashlib.sha256(text.encode()).hexdigest())

    def _run(self) -> None:
        version = 1
        while not self.stop.is_set():
            self.write(version)
            if version == 4:
                self.running.set()
            version += 1
            self.stop.wait(FEED_INTERVAL_S)


def _status(admin: Path) -> dict[str, Any] | None:
    try:
        status: dict[str, Any] = admin_request(admin, {"cmd": "status"}, timeout_s=2)["status"]
    except (AdminError, OSError):
        return None
    return status


def _applied(audit: Path) -> dict[str, Any] | None:
    for record in read_audit_log(audit):
        changes = record.get("changes", [])
        if record.get("event") == "reload" and any(c.get("field") == "defaults.max_qty" for c in changes):
            return record
    return None


def test_price_feed_replacing_a_large_reference_file_then_a_limits_change_applied_with_the_feeds_prices() -> None:
    workdir = short_tmp()
    config = write_config(workdir, 1, spin_us=0)  # no venue listens: the watch runs all the same
    limits = workdir / "limits.yaml"
    doc = yaml.safe_load(limits.read_text())
    doc["reference_prices"]["file"] = "refs.yaml"
    limits.write_text(yaml.safe_dump(doc, sort_keys=False))
    feed = Feed(workdir / "refs.yaml")
    feed.write(0)
    assert feed.path.stat().st_size > INLINE_BYTES  # read and hashed in the watch's thread
    log = workdir / "gateway.log"
    with log.open("wb") as out:
        gateway = subprocess.Popen([*GATEWAY, "run", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _status(workdir / "a.sock") is not None or gateway.poll() is not None, 40, "the gateway")
        assert gateway.poll() is None, log.read_text()
        [startup] = read_audit_log(workdir / "audit.jsonl")
        feed.thread.start()
        assert feed.running.wait(30)
        new = workdir / "limits.yaml.new"
        new.write_text(limits.read_text().replace("max_qty: 10000", "max_qty: 9000", 1))
        stat = new.stat()
        os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns - 1_000_000_000))  # written before its mv
        os.replace(new, limits)
        moved = time.monotonic()
        wait_until(lambda: _applied(workdir / "audit.jsonl") is not None, APPLIED_WITHIN_S, "the limits change")
        took = time.monotonic() - moved
        record = _applied(workdir / "audit.jsonl")
        assert record is not None
        assert record["reference_sha256"] in feed.written[1:], "the reload did not read a version of the feed"
        assert record["reference_sha256"] != startup["reference_sha256"]
        assert "NOT started" not in log.read_text()
        print(f"limits change applied {took:.1f} s after its mv")
    finally:
        feed.stop.set()
        if feed.thread.is_alive():
            feed.thread.join(10)
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait(10)


def test_gateway_waits_for_the_looks_of_the_risk_engines_watch_reloads() -> None:
    from gateway.app import RISK_WATCH_TRIGGER
    from risk.engine import WATCH_TRIGGER

    assert RISK_WATCH_TRIGGER == WATCH_TRIGGER  # the trigger ``_risk_looks_decided`` runs for
