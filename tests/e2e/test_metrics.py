"""``gateway metrics``, the exporter process and the status snapshot, against real gateway processes.

The gateway (``gateway run``) and the OUCH simulator (``gateway sim ouch``) are the shipped entry
points; so are ``gateway metrics`` and ``gateway metrics serve``. Every exposition is parsed with
prometheus_client's own parser.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.admin import admin_request, admin_request_msgpack, fetch_status
from gateway.client import BlockingGatewayClient
from gateway.commands.admin import EXIT_STILL_STOPPED
from gateway.latency import STAGES
from model.enums import Side
from tests.e2e.support import short_tmp
from tests.reliability.support import GATEWAY, Gateway, Simulator, spawn_listening, write_config

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "gateway.json"
ALERTS = ROOT / "deploy" / "prometheus" / "gateway-alerts.yaml"

REQUIRED_COUNTERS = {
    "gateway_orders_received_total",
    "gateway_orders_sent_total",
    "gateway_order_rejects_total",
    "gateway_cancel_rejects_total",
    "gateway_fills_total",
    "gateway_orders_filled_total",
    "gateway_orders_canceled_total",
    "gateway_orders_replaced_total",
    "gateway_cancels_sent_total",
    "gateway_replaces_sent_total",
    "gateway_strategy_connections_total",
    "gateway_venue_connections_total",
    "gateway_venue_reconnects_total",
    "gateway_journal_bytes_total",
    "gateway_journal_synced_bytes_total",
    "gateway_journal_fsyncs_total",
    "gateway_gc_collections_total",
    "gateway_admin_requests_total",
}
REQUIRED_GAUGES = {
    "gateway_strategy_sessions",
    "gateway_venue_up",
    "gateway_venue_state",
    "gateway_journal_unsynced_bytes",
    "gateway_open_orders",
    "gateway_trading_state",
}


@pytest.fixture(scope="module")
def traded() -> Iterator[tuple[Gateway, Path]]:
    """A gateway process with one venue, after fills, a cancel, a replace and a risk reject."""
    workdir = short_tmp()
    sim = Simulator(workdir, "--fill-ratio", "0.5")
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    try:
        gateway.start()
        with BlockingGatewayClient(str(gateway.socket), "S1") as client:
            for i in range(20):
                order = client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "231.00" if i % 2 else "229.00")
                client.wait_accepted(order, timeout=15)
            resting = client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "228.00")
            client.wait_accepted(resting, timeout=15)
            client.replace(resting, 200, "228.00")
            client.cancel(resting)
            refused = client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 20_000, "229.00")  # over max_qty: RISK
            client.wait_accepted(refused, timeout=15)
            time.sleep(0.3)
        yield gateway, workdir
    finally:
        gateway.stop()
        sim.stop()


def _families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Parse an exposition; return {sample name: [(name, labels, value)]} for every sample.

    A labelled family with no label set yet (no cancel reject so far) has no sample: it is listed
    under its sample name with none.
    """
    samples: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        samples.setdefault(family.name + ("_total" if family.type == "counter" else ""), [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.name, dict(sample.labels), sample.value))
    return samples


def _check_exposition(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    samples = _families(text)
    missing = (REQUIRED_COUNTERS | REQUIRED_GAUGES) - set(samples)
    assert not missing, missing
    assert samples["gateway_orders_received_total"][0][2] >= 22
    assert samples["gateway_orders_sent_total"][0][2] >= 21
    assert samples["gateway_fills_total"][0][2] >= 1
    assert ("RISK", "MAX_QTY") in {(s[1]["source"], s[1]["code"]) for s in samples["gateway_order_rejects_total"]}
    assert {s[1]["venue"]: s[2] for s in samples["gateway_venue_up"]} == {"OUCH": 1.0}
    assert samples["gateway_strategy_sessions"][0][2] >= 0
    # every latency stage is a histogram: cumulative buckets ending in +Inf == _count
    buckets = samples["gateway_stage_latency_seconds_bucket"]
    counts = {s[1]["stage"]: s[2] for s in samples["gateway_stage_latency_seconds_count"]}
    assert set(counts) == set(STAGES)
    assert counts["ingress_to_wire"] >= 21 and counts["journal_write"] >= 1
    for stage in STAGES:
        series = [(s[1]["le"], s[2]) for s in buckets if s[1]["stage"] == stage]
        values = [v for _, v in series]
        assert values == sorted(values) and series[-1] == ("+Inf", counts[stage]), stage
    assert "gateway_journal_fsync_seconds_bucket" in samples
    assert samples["gateway_journal_fsyncs_total"][0][2] >= 1
    return samples


def test_gateway_metrics_when_run_then_prometheus_text_with_every_counter_and_histogram(traded) -> None:
    gateway, _ = traded
    result = subprocess.run(
        [*GATEWAY, "metrics", "--config", str(gateway.config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    samples = _check_exposition(result.stdout)
    assert "gateway_up" not in samples  # only the exporter says whether a scrape reached the gateway


def test_exporter_when_scraped_then_reads_the_admin_socket_per_scrape(traded) -> None:
    gateway, workdir = traded
    options = ["--config", str(gateway.config)]
    port, exporter = spawn_listening(["metrics", "serve"], options, workdir / "exporter.log", "exporter", timeout_s=20)
    try:
        first = _check_exposition(_scrape(port))
        assert first["gateway_up"][0][2] == 1.0
        requests = {s[1]["command"]: s[2] for s in first["gateway_admin_requests_total"]}
        second = _families(_scrape(port))
        later = {s[1]["command"]: s[2] for s in second["gateway_admin_requests_total"]}
        assert later["metrics"] == requests["metrics"] + 1  # one admin request per scrape

        # a second exporter on the same port: a clear message and a non-zero exit
        taken = subprocess.run(
            [*GATEWAY, "metrics", "serve", "--listen", f"127.0.0.1:{port}", "--config", str(gateway.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert taken.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr
        assert "another exporter running there" in taken.stderr
    finally:
        exporter.terminate()
        assert exporter.wait(15) == 0


def test_exporter_when_gateway_not_running_then_up_is_zero_and_exporter_stays() -> None:
    workdir = short_tmp()
    options = ["--admin-socket", str(workdir / "none.sock")]
    port, exporter = spawn_listening(["metrics", "serve"], options, workdir / "exporter.log", "exporter", timeout_s=20)
    try:
        samples = _families(_scrape(port))
        assert samples["gateway_up"][0][2] == 0.0 and "gateway_orders_sent_total" not in samples
        assert exporter.poll() is None
    finally:
        exporter.terminate()
        exporter.wait(15)


def _metrics_text(gateway: Gateway) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    result = subprocess.run(
        [*GATEWAY, "metrics", "--config", str(gateway.config)], capture_output=True, text=True, timeout=60, check=True
    )
    return _families(result.stdout)


def _by(samples: dict[str, list[tuple[str, dict[str, str], float]]], name: str, *labels: str) -> dict[object, float]:
    return {(s[1][labels[0]] if len(labels) == 1 else tuple(s[1][k] for k in labels)): s[2] for s in samples[name]}


def _admin(gateway: Gateway, *argv: str, code: int = 0) -> None:
    result = subprocess.run(
        [*GATEWAY, *argv, "--config", str(gateway.config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == code, result.stderr


def test_kill_switch_when_account_or_firm_killed_then_every_scope_visible_in_metrics() -> None:
    """``gateway kill --account`` and REDUCING/HALTED scopes of the limits file show in Prometheus (rev38mon).

    The old exposition had only the firm-wide ``gateway_trading_state``: an account kill left it ACTIVE 1.
    """
    workdir = short_tmp()
    sim = Simulator(workdir)
    strategies = {"S1": {"accounts": ["ACC1", "ACC2"], "on_disconnect": "keep"}}
    gateway = Gateway(workdir, write_config(workdir, sim.port, strategies=strategies))
    limits = workdir / "limits.yaml"
    doc = yaml.safe_load(limits.read_text())
    doc["symbols"]["TSLA"]["trading_state"] = "REDUCING"
    doc["accounts"]["ACC2"]["trading_state"] = "REDUCING"
    doc["accounts"]["ACC1"]["symbols"]["TSLA"]["trading_state"] = "HALTED"
    limits.write_text(yaml.safe_dump(doc, sort_keys=False))
    zero_scopes = {
        (scope, state): 0.0
        for scope in ("firm", "account", "strategy", "symbol", "account_strategy", "account_symbol")
        for state in ("REDUCING", "HALTED")
    }
    try:
        gateway.start()
        samples = _metrics_text(gateway)
        assert _by(samples, "gateway_kill_switches", "scope") == {"firm": 0.0, "account": 0.0}
        # ACC2 and (the deployed file's) FUND7 REDUCING, TSLA REDUCING, ACC1's TSLA HALTED
        file_states = {("symbol", "REDUCING"): 1.0, ("account", "REDUCING"): 2.0, ("account_symbol", "HALTED"): 1.0}
        assert _by(samples, "gateway_trading_scopes", "scope", "state") == {**zero_scopes, **file_states}
        accounts = _by(samples, "gateway_account_trading_state", "account", "state")
        states = {"ACC1": "ACTIVE", "ACC2": "REDUCING", "FUND7": "REDUCING", "PROP3": "ACTIVE"}
        assert {k: v for k, v in accounts.items() if v} == {pair: 1.0 for pair in states.items()}
        assert len(accounts) == 3 * len(states)  # every state of every account: 1 for the current one
        # every documented RISK and GATEWAY code has its series before its first reject: rate() sees the first one
        rejects = _by(samples, "gateway_order_rejects_total", "source", "code")
        assert rejects[("RISK", "TRADING_HALTED")] == 0.0 and rejects[("GATEWAY", "VENUE_UNAVAILABLE")] == 0.0
        assert _by(samples, "gateway_cancel_rejects_total", "source", "code")[("GATEWAY", "UNKNOWN_ORDER")] == 0.0

        _admin(gateway, "kill", "--account", "ACC1", "--reason", "test")
        with BlockingGatewayClient(str(gateway.socket), "S1") as client:
            refused = client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            client.wait_accepted(refused, timeout=15)
        samples = _metrics_text(gateway)
        assert _by(samples, "gateway_trading_state", "state")["ACTIVE"] == 1.0  # firm-wide: still ACTIVE
        assert _by(samples, "gateway_kill_switches", "scope") == {"firm": 0.0, "account": 1.0}
        assert _by(samples, "gateway_trading_scopes", "scope", "state") == {
            **zero_scopes,
            **file_states,
            ("account", "HALTED"): 1.0,
        }
        assert _by(samples, "gateway_account_trading_state", "account", "state")[("ACC1", "HALTED")] == 1.0
        assert _by(samples, "gateway_order_rejects_total", "source", "code")[("RISK", "TRADING_HALTED")] == 1.0

        _admin(gateway, "kill", "--reason", "test")
        samples = _metrics_text(gateway)
        assert _by(samples, "gateway_kill_switches", "scope") == {"firm": 1.0, "account": 1.0}
        assert _by(samples, "gateway_trading_scopes", "scope", "state")[("firm", "HALTED")] == 1.0
        accounts = _by(samples, "gateway_account_trading_state", "account", "state")
        assert {k: v for k, v in accounts.items() if v} == {(name, "HALTED"): 1.0 for name in states}

        _admin(gateway, "resume", "--reason", "test", code=EXIT_STILL_STOPPED)  # ACC1's own kill stays (ops59)
        _admin(gateway, "resume", "--account", "ACC1", "--reason", "test")
        samples = _metrics_text(gateway)
        assert _by(samples, "gateway_kill_switches", "scope") == {"firm": 0.0, "account": 0.0}
        assert _by(samples, "gateway_trading_scopes", "scope", "state") == {**zero_scopes, **file_states}
    finally:
        gateway.stop()
        sim.stop()


def test_status_when_cli_used_then_percentiles_per_stage_in_text_and_json(traded) -> None:
    gateway, _ = traded
    text = subprocess.run(
        [*GATEWAY, "status", "--config", str(gateway.config)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert re.search(r"^\s+ingress_to_wire\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+$", text, re.M), text
    assert "admin: event-loop time per request" in text
    # request counts worded ("status 2, metrics 1"), not a Python dict
    assert re.search(r"^admin: .* requests (none|[a-z_]+ \d+(, [a-z_]+ \d+)*)$", text, re.M), text
    document = json.loads(
        subprocess.run(
            [*GATEWAY, "status", "--json", "--config", str(gateway.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    assert set(document["latency_us"]) == set(STAGES) and "latency" not in document
    assert document["latency_us"]["risk"]["count"] >= 21
    assert document["latency_us"]["risk"]["p99"] <= document["latency_us"]["risk"]["max"]


def test_status_when_orders_grow_then_the_loop_copies_the_same_amount(traded) -> None:
    """Deterministic stand-in for "no sorting, O(1) in orders processed": the reply does not grow with orders."""
    gateway, _ = traded
    before = admin_request_msgpack(gateway.admin, {"cmd": "status"})["status"]
    with BlockingGatewayClient(str(gateway.socket), "S1") as client:
        orders = [client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00") for _ in range(300)]
        for order in orders:
            client.wait_accepted(order, timeout=10)
    after = admin_request_msgpack(gateway.admin, {"cmd": "status"})["status"]
    assert len(after["latency"]["low"]) == len(before["latency"]["low"])
    assert len(after["latency"]["carried"]) <= len(before["latency"]["carried"]) + 2 * len(STAGES)
    assert after["counters"]["orders_received"] >= before["counters"]["orders_received"] + 300
    # the gateway accounts for what each request cost its loop, and reports it
    admin = fetch_status(gateway.admin)["admin"]
    assert admin["requests"]["status"] >= 3 and 0 < admin["last_cpu_us"] <= admin["max_cpu_us"]
    # the JSON form of the protocol still answers, histograms base64-encoded
    assert admin_request(gateway.admin, {"cmd": "status"})["status"]["latency"]["stages"] == list(STAGES)


def test_dashboard_when_read_then_valid_json_and_every_metric_it_queries_is_exported(traded) -> None:
    gateway, _ = traded
    exported = set(
        _families(
            subprocess.run(
                [*GATEWAY, "metrics", "--config", str(gateway.config)],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
        )
    ) | {"gateway_up"}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 8
    used = {name for expr in exprs for name in re.findall(r"\bgateway_[a-z0-9_]+", expr)}
    assert used and used <= exported, sorted(used - exported)
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for wanted in ("orders/s", "rejects", "p99", "venue", "journal", "kill switches", "sync stalls"):
        assert wanted in titles, wanted


def test_alert_rules_when_loaded_then_well_formed_and_every_metric_they_query_is_exported(traded) -> None:
    gateway, _ = traded
    exported = set(_metrics_text(gateway)) | {"gateway_up"}  # gateway_up: the exporter's own
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"} and rule["annotations"]["summary"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]
    used = {name for rule in rules for name in re.findall(r"\bgateway_[a-z0-9_]+", rule["expr"])}
    assert used <= exported, sorted(used - exported)
    for wanted in (  # what ops must hear about (rev38mon): down, venue, kill (any scope), sync, fsync, rejects
        "gateway_up",
        "gateway_venue_up",
        "gateway_kill_switches",
        "gateway_journal_sync_stalled",
        "gateway_journal_sync_stalls_total",
        "gateway_journal_fsync_seconds_bucket",
        "gateway_order_rejects_total",
        "gateway_journal_file_restores_total",  # what the ops guide says to alert on (rev40ops)
        "gateway_released_ids_grown_total",
        "gateway_gc_hot_path_full_collections_total",
        # what the ops guide and docs/venues/fix.md say to alert on (rev44metrics)
        "gateway_journal_write_failures_total",
        "gateway_journal_fsync_failures_total",
        "gateway_venue_orders_unchecked_after_gap_fill_total",
        "gateway_venue_orders_unchecked_after_reset_total",
        "gateway_late_fills_total",
        "gateway_journal_replays_failed_total",
        "gateway_start_time_seconds",  # a counter first seen after a restart fires too (rev44metrics)
    ):
        assert wanted in used, wanted


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Prometheus) is not installed here")
def test_alert_rules_when_checked_and_unit_tested_by_promtool_then_pass() -> None:
    command = ["promtool", "check", "rules", str(ALERTS)]
    checked = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = ALERTS.with_name("gateway-alerts.test.yaml")
    command = ["promtool", "test", "rules", str(tests)]
    tested = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        body: bytes = response.read()
    return body.decode()


@pytest.mark.parametrize(
    ("host", "hint"),
    [
        ("nohost.invalid", "not an address or a name this host resolves"),  # rev44metrics: said "another exporter"
        ("192.0.2.1", "not an address of this host"),  # TEST-NET-1: never a local address
    ],
)
def test_exporter_when_listen_address_is_wrong_then_exit_2_says_why(host: str, hint: str) -> None:
    from gateway.exporter import serve

    workdir = short_tmp()
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        code = serve(workdir / "none.sock", host, 9464)
    assert code == 2
    assert f"cannot listen on {host}:9464" in errors.getvalue()
    assert hint in errors.getvalue() and "another exporter" not in errors.getvalue()
