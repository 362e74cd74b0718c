"""``gateway metrics [serve]`` flags as the ops guide states them (opsfix33).

The ops review found ``metrics --config X serve`` ignoring X (the ``serve`` parser's defaults overwrote
the values given before ``serve``), ``--timeout -1|nan|inf`` ending in a traceback (and on ``serve`` an
HTTP 500 on every scrape), and ``--listen :PORT`` binding every interface.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from gateway.admin import AdminError, fetch_metrics
from gateway.cli import build_parser
from gateway.commands.metrics import parse_listen
from tests.e2e.support import short_tmp
from tests.reliability.support import spawn_listening

GATEWAY = [sys.executable, "-m", "gateway"]


def _gateway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GATEWAY, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("argv", "config", "admin_socket", "timeout"),
    [
        (["metrics", "--config", "x.yaml", "serve"], "x.yaml", None, 5.0),
        (
            ["metrics", "--admin-socket", "/p/a.sock", "--timeout", "2", "serve"],
            "deploy/gateway.yaml",
            "/p/a.sock",
            2.0,
        ),
        (["metrics", "serve", "--config", "y.yaml", "--timeout", "0.5"], "y.yaml", None, 0.5),
        (["metrics", "--config", "x.yaml", "serve", "--config", "y.yaml"], "y.yaml", None, 5.0),
        (["metrics", "serve"], "deploy/gateway.yaml", None, 5.0),
        (["metrics", "--config", "x.yaml"], "x.yaml", None, 5.0),
    ],
)
def test_metrics_flags_when_given_before_or_after_serve_then_both_count(
    argv: list[str], config: str, admin_socket: str | None, timeout: float
) -> None:
    args = build_parser().parse_args(argv)
    assert (args.config, args.admin_socket, args.timeout) == (config, admin_socket, timeout)


def test_metrics_serve_when_admin_socket_given_before_serve_then_it_scrapes_that_socket() -> None:
    workdir = short_tmp()
    sock = workdir / "none.sock"
    log = workdir / "exporter.log"
    port, exporter = spawn_listening(["metrics", "--admin-socket", str(sock), "serve"], [], log, "exporter")
    try:
        assert f"scraping {sock}" in log.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
            assert "gateway_up 0.0" in answer.read().decode()  # nobody there: up 0, not the default config's
    finally:
        exporter.terminate()
        exporter.wait(15)


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf", "abc"])
@pytest.mark.parametrize("where", ["metrics", "serve"])
def test_metrics_timeout_when_not_a_finite_positive_number_then_exit_2_without_traceback(
    value: str, where: str
) -> None:
    flag = f"--timeout={value}"  # "--timeout -inf" would read -inf as an option
    argv = ["metrics", flag] if where == "metrics" else ["metrics", "serve", flag]
    result = _gateway(*argv, "--admin-socket", "/nonexistent/a.sock")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "argument --timeout: expected a " in result.stderr and repr(value) in result.stderr


@pytest.mark.parametrize("timeout", [-1.0, 0.0, float("nan"), float("inf")])
def test_fetch_metrics_when_timeout_not_finite_positive_then_admin_error(tmp_path: Path, timeout: float) -> None:
    with pytest.raises(AdminError, match="expected a finite number of seconds above 0"):
        fetch_metrics(tmp_path / "a.sock", timeout)


@pytest.mark.parametrize("text", [":21472", "[]:21472", "127.0.0.1:", "127.0.0.1", "host:x", "host:\u00b2"])
def test_parse_listen_when_no_host_or_no_valid_port_then_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT with a host"):
        parse_listen(text)


@pytest.mark.parametrize(("text", "port"), [("host:0", 0), ("127.0.0.1:65536", 65536), ("127.0.0.1:99999", 99999)])
def test_parse_listen_when_the_port_is_out_of_range_then_said_so(text: str, port: int) -> None:
    with pytest.raises(ValueError, match=f"port {port} is out of range: expected 1-65535") as refused:
        parse_listen(text)
    assert "with a host" not in str(refused.value)  # rev48ops: the host was there; the port was the problem


def test_parse_listen_when_a_host_is_named_then_used_as_given() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)


def test_metrics_serve_when_listen_has_no_host_then_exit_2_and_nothing_listens() -> None:
    result = _gateway("metrics", "serve", "--listen", ":21472", "--admin-socket", "/nonexistent/a.sock")
    assert result.returncode == 2
    assert "--listen ':21472': expected HOST:PORT with a host" in result.stderr


@pytest.mark.parametrize("command", ["status", "metrics"])
@pytest.mark.parametrize("kind", ["a regular file", "a directory"])
def test_admin_socket_when_not_a_socket_then_exit_1_saying_so(command: str, kind: str) -> None:
    workdir = short_tmp()
    path = workdir / "gateway.yaml"
    if kind == "a directory":
        path = workdir
    else:
        path.write_text("gateway_id: x\n")
    result = _gateway(command, "--admin-socket", str(path))
    assert result.returncode == 1, result.stderr
    assert f"{path} is not a socket but {kind}" in result.stderr  # the old text: "nothing is listening"
    assert "stale socket" not in result.stderr and "Traceback" not in result.stderr


def test_metrics_serve_when_listening_on_ipv6_then_the_url_it_prints_has_the_address_in_brackets() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback on this host")
    proc = subprocess.Popen(
        [*GATEWAY, "metrics", "serve", "--listen", f"[::1]:{port}", "--admin-socket", "/nonexistent/a.sock"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://[::1]:{port}/metrics" in line, line  # the old line: http://::1:PORT/metrics
        with urllib.request.urlopen(f"http://[::1]:{port}/metrics", timeout=30) as answer:
            assert "gateway_up 0.0" in answer.read().decode()
    finally:
        proc.terminate()
        proc.wait(15)


def test_ops_guide_when_it_sets_up_the_scrape_then_scrape_timeout_exceeds_the_exporters_timeout() -> None:
    """rev48ops LOW: a scrape_timeout at or below --timeout hides a frozen gateway (GatewayDown cannot fire)."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "ops-guide.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", guide, re.S) if "scrape_timeout" in b)
    job = yaml.safe_load(block)["scrape_configs"][0]
    default = build_parser().parse_args(["metrics", "serve"]).timeout
    assert float(job["scrape_timeout"].removesuffix("s")) > default
    assert float(job["scrape_timeout"].removesuffix("s")) <= float(job["scrape_interval"].removesuffix("s"))
    assert "`scrape_timeout` must be longer than the exporter's `--timeout` (default 5 s)" in guide
    assert default == 5.0
