"""Run scenarios side by side: the floors, the do-nothing relay, the gateway without and with spin, OUCH and FIX.

One run = one scenario on one path, on fresh processes, so no run inherits another's state:

1. the venue (``benchmarks.harness.simproc``: the fast OUCH or FIX bench venue), pinned with the load
   generator;
2. for gateway paths, the gateway with a generated config, started exactly as ops start it
   (``python -m gateway run --config ...``: ops runtime, spin settings, GC policy, journal);
3. the load generator (``benchmarks.harness.loadgen``): warm-up, gateway latency rings reset, measured phase;
4. the gateway's ``status`` over the admin socket (stage breakdown, GC counters), then SIGTERM;
5. SIGTERM to the venue, which writes its receive times for the one-way join.

Counting runs (``run_counting``) repeat ping-pong with the gateway or relay under cProfile and strace
for the per-order counters (``benchmarks.harness.counters``).

Paths alternate within each scenario (floor, kernel, spin, floor, ...) so slow drift on this shared
machine spreads over all of them; comparisons are only ever made within one ``gateway bench`` run.

Pinning (``pin=True``, 2 CPUs): the gateway alone on the second CPU (its ``spin.cpu``), the load
generator and the venue together on the first, for every path, the floor included: the outside
world (strategies and exchange) shares one core, the gateway gets the dedicated core it gets in
production. With 3+ CPUs each process gets its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import msgspec
import yaml

from benchmarks.harness.counters import CallCounts, count_calls, parse_strace_summary
from benchmarks.harness.fixpath import ACCOUNT as FIX_ACCOUNT
from benchmarks.harness.fixpath import DIALECT as FIX_DIALECT
from benchmarks.harness.fixpath import OURS as FIX_OURS
from benchmarks.harness.fixpath import THEIRS as FIX_THEIRS
from benchmarks.harness.fixpath import VENUE_COMP_ID as FIX_VENUE_COMP_ID
from benchmarks.harness.fixpath import VENUE_NAME as FIX_VENUE
from benchmarks.harness.fixpath import listening_port
from benchmarks.harness.fixpath import simulator_args as fix_simulator_args
from benchmarks.harness.fixpath import venue_config as fix_venue_config
from benchmarks.harness.loadgen import LoadgenSpec, RunOutput, read_output, spec_json
from benchmarks.harness.plan import ACCOUNT, Action, Kind, Scenario
from benchmarks.harness.simproc import read_receive_times
from benchmarks.harness.wires import ACCEPTED, CANCEL_REJECTED, CANCELED, NONE, REJECTED, REPLACED, SKIPPED
from gateway.admin import AdminError, admin_request, fetch_status

PYTHON: Final = sys.executable
STARTUP_TIMEOUT_S: Final = 30.0
REFERENCE_PRICE: Final = "230.10"


class PathSpec(msgspec.Struct, frozen=True):
    """One way for orders to reach the venue."""

    name: str
    label: str
    gateway: bool
    venue: str = "ouch"
    """``ouch`` (OUCH venue), ``fix`` (FIX venue) or ``boe`` (Cboe BOE venue)."""
    loop_spin_us: int = 0
    so_busy_poll_us: int = 0
    baseline: str = ""
    """The path this one is compared with ("" for a baseline itself)."""
    scenarios: tuple[str, ...] | None = None
    """Scenario names this path runs (None: every scenario)."""
    relay: bool = False
    """Put a do-nothing Python relay (``benchmarks.harness.relay``) between the floor load generator and simulator."""
    skip: tuple[str, ...] = ()
    """Scenario names this path leaves out."""
    wire: str = ""
    """Load generator wire for a path without gateway ("": ``ouch``)."""

    def runs(self, scenario: Scenario) -> bool:
        """Return True if this path takes part in ``scenario``."""
        return (self.scenarios is None or scenario.name in self.scenarios) and scenario.name not in self.skip


FIX_SCENARIOS: Final = ("pingpong",)
BOE_SCENARIOS: Final = ("pingpong",)
"""What the BOE paths run: ping-pong against the fast BOE venue, beside its floor."""
BOE_VENUE: Final = "BOE"
"""The BOE venue's name in the gateway config."""
"""What the FIX paths run: ping-pong (the quickfix-python initiator is driven from its callback thread)."""
RELAY_SCENARIOS: Final = ("pingpong",)
FLOOR_ONLY: Final = ("rate-400k",)
"""Scenarios that only show the floor's headroom (the gateway paths leave them out)."""
FIX_TARGETS: Final = (FIX_OURS, FIX_THEIRS, "LOADGEN")
"""CompIDs the fast FIX venue accepts: the gateway, the quickfix-python initiator, the FIX floor load generator."""


def default_paths(spin_us: int) -> list[PathSpec]:
    """Return every known path: OUCH floor, gateway without and with spin; the same for FIX against quickfix."""
    spin = f"spin {spin_us} us" if spin_us >= 0 else "spin always"
    return [
        PathSpec("floor", "floor: load generator -> OUCH venue", gateway=False),
        PathSpec("gw-kernel", "gateway, kernel sockets, no spin", gateway=True, baseline="floor", skip=FLOOR_ONLY),
        PathSpec(
            "gw-spin",
            f"gateway, kernel sockets, {spin}",
            gateway=True,
            loop_spin_us=spin_us,
            so_busy_poll_us=50,
            baseline="floor",
            skip=FLOOR_ONLY,
        ),
        PathSpec(
            "relay",
            "do-nothing Python relay, no spin",
            gateway=False,
            relay=True,
            baseline="floor",
            scenarios=RELAY_SCENARIOS,
        ),
        PathSpec(
            "relay-spin",
            f"do-nothing Python relay, {spin}",
            gateway=False,
            relay=True,
            loop_spin_us=spin_us,
            baseline="floor",
            scenarios=RELAY_SCENARIOS,
        ),
        PathSpec(
            "fix-floor",
            "FIX floor: load generator -> FIX venue",
            gateway=False,
            venue="fix",
            scenarios=FIX_SCENARIOS,
            wire="fix",
        ),
        PathSpec(
            "fix-quickfix",
            "quickfix-python initiator -> FIX venue",
            gateway=False,
            venue="fix",
            baseline="fix-floor",
            scenarios=FIX_SCENARIOS,
            wire="quickfix",
        ),
        PathSpec(
            "fix-gw-kernel",
            "gateway FIX venue, no spin -> FIX venue",
            gateway=True,
            venue="fix",
            baseline="fix-floor",
            scenarios=FIX_SCENARIOS,
        ),
        PathSpec(
            "fix-gw-spin",
            f"gateway FIX venue, {spin} -> FIX venue",
            gateway=True,
            venue="fix",
            loop_spin_us=spin_us,
            so_busy_poll_us=50,
            baseline="fix-floor",
            scenarios=FIX_SCENARIOS,
        ),
        PathSpec(
            "boe-floor",
            "BOE floor: load generator -> BOE venue",
            gateway=False,
            venue="boe",
            scenarios=BOE_SCENARIOS,
            wire="boe",
        ),
        PathSpec(
            "boe-gw-kernel",
            "gateway BOE venue, no spin -> BOE venue",
            gateway=True,
            venue="boe",
            baseline="boe-floor",
            scenarios=BOE_SCENARIOS,
        ),
        PathSpec(
            "boe-gw-spin",
            f"gateway BOE venue, {spin} -> BOE venue",
            gateway=True,
            venue="boe",
            loop_spin_us=spin_us,
            so_busy_poll_us=50,
            baseline="boe-floor",
            scenarios=BOE_SCENARIOS,
        ),
    ]


class Placement(msgspec.Struct, frozen=True):
    """CPUs for each process (empty: not pinned)."""

    loadgen: tuple[int, ...] = ()
    simulator: tuple[int, ...] = ()
    gateway: tuple[int, ...] = ()
    fifo: int | None = None
    """SCHED_FIFO priority of the load generator (the simulator gets one more), or None."""
    gateway_fifo: int | None = None
    """The gateway's ``spin.sched_fifo_priority``."""
    nice: int | None = None
    """Nice value of every bench process (load generator, simulator, gateway), or None to leave it."""
    journal_fsync: str = "interval"
    """The gateway journal's fsync policy (none | interval | batch); deploy/gateway.yaml uses interval."""
    ouch_venue: str = "fast"
    """``fast`` (``simulators.ouch.fast``) or ``full`` (the ``gateway sim ouch`` simulator)."""
    fix_venue: str = "fast"
    """``fast`` (``simulators.fix.fast_venue``) or ``quickfix`` (the ``gateway sim fix`` QuickFIX acceptor)."""

    def describe(self) -> str:
        """Return the placement in words."""
        where = (
            f"load generator on CPU {list(self.loadgen)}, simulator on CPU {list(self.simulator)}, "
            f"gateway on CPU {list(self.gateway)}"
            if self.gateway
            else "not pinned"
        )
        outside = (
            "load generator and simulator SCHED_OTHER"
            if self.fifo is None
            else f"SCHED_FIFO load generator {self.fifo}, simulator {self.fifo + 1}"
        )
        inside = "gateway SCHED_OTHER" if self.gateway_fifo is None else f"gateway SCHED_FIFO {self.gateway_fifo}"
        nice = "" if self.nice is None else f"; nice {self.nice} for all three"
        venues = f"OUCH venue {self.ouch_venue}, FIX venue {self.fix_venue}, BOE venue fast"
        return f"{where}; {outside}; {inside}{nice}; journal fsync {self.journal_fsync}; {venues}"


def placement(
    pin: bool, fifo: int | None = None, gateway_fifo: int | None = None, nice: int | None = None
) -> Placement:
    """Choose CPUs for load generator, simulator and gateway from the CPUs this process may use."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return Placement(fifo=fifo, gateway_fifo=gateway_fifo, nice=nice)
    if len(cpus) == 2:
        return Placement((cpus[0],), (cpus[0],), (cpus[1],), fifo, gateway_fifo, nice)
    return Placement((cpus[0],), (cpus[1],), (cpus[2],), fifo, gateway_fifo, nice)


def bench_limits(directory: Path) -> Path:
    """Write risk limits that let 100k orders/s through (throttles open, duplicate check off)."""
    directory.mkdir(parents=True, exist_ok=True)
    rates = {"per_strategy": 1_000_000, "per_account": 1_000_000, "per_symbol": 1_000_000}
    doc = {
        "version": 1,
        "defaults": {
            "trading_state": "ACTIVE",
            "max_qty": 10_000,
            "max_notional": 10_000_000.0,
            "collar_pct": 5.0,
            "max_open_orders": 100_000_000,
            "max_open_notional": 1_000_000_000_000.0,
            "credit_limit": 1_000_000_000_000.0,
            "max_long_qty": 10_000_000_000,
            "max_short_qty": 10_000_000_000,
            "max_net_qty": 10_000_000_000,
            "orders_per_s": rates,
            "cancels_per_s": dict(rates),  # a copy: a value used twice is dumped as a YAML alias (refused)
            "duplicate_window_ms": 0,
            "allow_market_orders": False,
            "allow_short_sales": True,
            "allow_short_exempt": False,
            "tick_size": 0.01,
            "lot_size": 1,
        },
        "reference_prices": {"file": "reference-prices.yaml", "max_age_s": 300, "use_last_trade": False},
        "accounts": {ACCOUNT: {}, FIX_ACCOUNT: {}},
        "start_positions_file": "start-positions.yaml",
    }
    (directory / "reference-prices.yaml").write_text(f"as_of: loaded\nprices:\n  AAPL: {REFERENCE_PRICE}\n")
    # a long start position, so sells are long sales and exposure never gets near a limit
    as_of = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    (directory / "start-positions.yaml").write_text(
        f"as_of: {as_of}\naccounts:\n  {ACCOUNT}:\n    AAPL: 1000000000\n  {FIX_ACCOUNT}:\n    AAPL: 1000000000\n"
    )
    path = directory / "limits.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def ouch_venue(port: int) -> dict[str, Any]:
    """Return the gateway's OUCH venue section for the simulator on ``port``."""
    return {
        "protocol": "ouch",
        "name": "OUCH",
        "host": "127.0.0.1",
        "port": port,
        "username": "USER",
        "password": "PASS",
        "state_dir": "ouch",
        "server_timeout_ms": 60_000,
        "reconnect_initial_ms": 20,
    }


def boe_venue(port: int) -> dict[str, Any]:
    """Return the gateway's BOE venue section for the fast BOE venue on ``port``."""
    return {
        "protocol": "boe",
        "name": BOE_VENUE,
        "host": "127.0.0.1",
        "port": port,
        "session_sub_id": "0001",
        "username": "USER",
        "password": "PASS",
        "state_dir": "boe",
        "server_timeout_ms": 60_000,
        "reconnect_initial_ms": 20,
    }


def gateway_config(
    workdir: Path,
    sim_port: int,
    path: PathSpec,
    cpus: tuple[int, ...],
    fifo: int | None = None,
    journal_fsync: str = "interval",
) -> Path:
    """Write the gateway config of one run (one venue, OUCH or FIX as the path says; strategy ``bench``)."""
    limits = bench_limits(workdir / "risk")
    if path.venue == "fix":
        venue = fix_venue_config(sim_port)
    elif path.venue == "boe":
        venue = boe_venue(sim_port)
    else:
        venue = ouch_venue(sim_port)
    config = {
        "gateway_id": "bench",
        "strategy_socket": "s.sock",
        "admin_socket": "a.sock",
        "state_dir": "state",
        "loop": "uvloop",
        "risk_limits": str(limits),
        "risk_audit_log": "audit.jsonl",
        "journal": {"directory": "journal", "fsync": journal_fsync, "fsync_interval_ms": 10},
        "strategies": {"bench": {"accounts": [ACCOUNT, FIX_ACCOUNT], "on_disconnect": "keep"}},
        "venues": [venue],
        "spin": {
            "loop_spin_us": path.loop_spin_us,
            "so_busy_poll_us": path.so_busy_poll_us,
            "cpu": list(cpus) if cpus else None,
            "sched_fifo_priority": fifo,
        },
    }
    target = workdir / "gateway.yaml"
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


# --------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------


def _pinned(cpus: tuple[int, ...], fifo: int | None = None, nice: int | None = None) -> Callable[[], None] | None:
    if not cpus and fifo is None and nice is None:
        return None

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, set(cpus))
        if nice is not None:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, nice)
        if fifo is not None:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(fifo))

    return pin


def _wait(condition: Callable[[], bool], timeout_s: float, what: str, proc: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


@contextlib.contextmanager
def _process(
    args: list[str], log: Path, cpus: tuple[int, ...], fifo: int | None = None, nice: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        pin = _pinned(cpus, fifo, nice)
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, preexec_fn=pin)  # noqa: PLW1509
        try:
            yield proc
        finally:
            _stop(proc)


def _venue_up(admin: Path, venue: str) -> bool:
    if not admin.exists():
        return False
    try:
        reply = admin_request(admin, {"cmd": "status"}, timeout_s=5)
    except AdminError:
        return False
    return str(reply.get("status", {}).get("venues", {}).get(venue, {}).get("state")) == "UP"


# --------------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------------


class RunData(msgspec.Struct):
    """Everything one run produced, ready for statistics."""

    scenario: str
    path: str
    repeat: int
    kinds: bytes
    intended: bytes
    sent: bytes
    done: bytes
    outcome: bytes
    one_way_ns: bytes
    """Per measured action: simulator read time minus send time (0 when not joined)."""
    phase_start_ns: int
    phase_end_ns: int
    errors: int
    error_texts: list[str]
    warmup_unanswered: int
    latency_reset: bool
    gateway_status: dict[str, Any] | None
    gateway_exit: int | None
    seconds: float

    def arrays(self) -> dict[str, array[int]]:
        """Return the per-action arrays."""
        out: dict[str, array[int]] = {}
        for name, code in (("intended", "q"), ("sent", "q"), ("done", "q"), ("one_way_ns", "q")):
            values = array(code)
            values.frombytes(getattr(self, name))
            out[name] = values
        for name in ("kinds", "outcome"):
            values = array("b")
            values.frombytes(getattr(self, name))
            out[name] = values
        return out


def run_one(
    scenario: Scenario, path: PathSpec, repeat: int, workdir: Path, cpus: Placement, *, log: Callable[[str], None]
) -> RunData:
    """Run ``scenario`` on ``path`` with fresh processes; return the joined data."""
    started = time.monotonic()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    port_file = workdir / "sim.port"
    receive_file = workdir / "sim.receive"
    sim_log = workdir / "simulator.log"
    quickfix_acceptor = path.venue == "fix" and cpus.fix_venue == "quickfix"
    if quickfix_acceptor:
        sim_args = fix_simulator_args(PYTHON)
    else:
        sim_args = [
            PYTHON,
            "-m",
            "benchmarks.harness.simproc",
            "--port-file",
            str(port_file),
            "--out",
            str(receive_file),
        ]
        if path.venue == "fix":
            sim_args += ["--venue", "fix", "--dialect", FIX_DIALECT, "--sender", FIX_VENUE_COMP_ID]
            sim_args += [f"--target={t}" for t in FIX_TARGETS]
        elif path.venue == "boe":
            sim_args += ["--venue", "boe"]
        else:
            sim_args += ["--venue", cpus.ouch_venue]
    status: dict[str, Any] | None = None
    gateway_exit: int | None = None
    sim_fifo = cpus.fifo + 1 if cpus.fifo is not None else None
    with _process(sim_args, sim_log, cpus.simulator, sim_fifo, cpus.nice) as sim:
        if quickfix_acceptor:
            _wait(lambda: listening_port(sim_log.read_text()) is not None, STARTUP_TIMEOUT_S, "the FIX acceptor", sim)
            port = listening_port(sim_log.read_text()) or 0
        else:
            _wait(port_file.exists, STARTUP_TIMEOUT_S, "the simulator to listen", sim)
            port = int(port_file.read_text())
        gateway_ctx: contextlib.AbstractContextManager[subprocess.Popen[bytes] | None]
        relay_socket = workdir / "relay.sock"
        if path.gateway:
            config = gateway_config(workdir, port, path, cpus.gateway, cpus.gateway_fifo, cpus.journal_fsync)
            gw_args = [PYTHON, "-m", "gateway", "--log-level", "WARNING", "run", "--config", str(config)]
            gateway_ctx = _process(gw_args, workdir / "gateway.log", (), None, cpus.nice)
        elif path.relay:
            relay_args = [
                PYTHON,
                "-m",
                "benchmarks.harness.relay",
                "--listen",
                str(relay_socket),
                "--venue-port",
                str(port),
            ]
            relay_args += ["--spin-us", str(path.loop_spin_us), *(f"--cpu={c}" for c in cpus.gateway)]
            gateway_ctx = _process(relay_args, workdir / "relay.log", (), None, cpus.nice)
        else:
            gateway_ctx = contextlib.nullcontext(None)
        with gateway_ctx as gateway:
            admin = workdir / "a.sock"
            venue_name = {"fix": FIX_VENUE, "boe": BOE_VENUE}.get(path.venue, "OUCH")
            if path.relay:
                assert gateway is not None
                _wait(relay_socket.exists, STARTUP_TIMEOUT_S, "the relay", gateway)
                spec = LoadgenSpec(
                    wire="ouch", scenario=scenario, out=str(workdir / "loadgen.out"), socket_path=str(relay_socket)
                )
            elif gateway is not None:
                _wait(lambda: _venue_up(admin, venue_name), STARTUP_TIMEOUT_S, "the gateway's venue session", gateway)
                spec = LoadgenSpec(
                    wire="strategy",
                    scenario=scenario,
                    out=str(workdir / "loadgen.out"),
                    socket_path=str(workdir / "s.sock"),
                    strategy_id="bench",
                    venue=venue_name,
                    account=FIX_ACCOUNT if path.venue == "fix" else ACCOUNT,
                    prefix=f"r{repeat}-",
                    admin_socket=str(admin),
                )
            elif path.wire == "quickfix":
                spec = LoadgenSpec(
                    wire="quickfix",
                    scenario=scenario,
                    out=str(workdir / "loadgen.out"),
                    port=port,
                    prefix=f"Q{repeat}-",
                )
            elif path.wire == "fix":
                spec = LoadgenSpec(
                    wire="fix", scenario=scenario, out=str(workdir / "loadgen.out"), port=port, account=FIX_ACCOUNT
                )
            elif path.wire == "boe":
                spec = LoadgenSpec(wire="boe", scenario=scenario, out=str(workdir / "loadgen.out"), port=port)
            else:
                spec = LoadgenSpec(wire="ouch", scenario=scenario, out=str(workdir / "loadgen.out"), port=port)
            spec_path = workdir / "loadgen.json"
            spec_path.write_bytes(spec_json(spec))
            with (workdir / "loadgen.log").open("wb") as lg_log:
                loadgen = subprocess.run(
                    [PYTHON, "-m", "benchmarks.harness.loadgen", str(spec_path)],
                    stdout=lg_log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_pinned(cpus.loadgen, cpus.fifo, cpus.nice),
                    timeout=600,
                    check=False,
                )
            if loadgen.returncode != 0:
                raise RuntimeError(
                    f"{scenario.name} on {path.name}: load generator exited {loadgen.returncode}: "
                    + (workdir / "loadgen.log").read_text()[-2000:]
                )
            if gateway is not None and path.gateway:
                status = fetch_status(admin, timeout_s=60)
            if gateway is not None:
                gateway_exit = _stop(gateway)
        _stop(sim)
    output = read_output(workdir / "loadgen.out")
    receive = read_receive_times(receive_file) if receive_file.exists() else {}
    one_way = _one_way(output, receive)
    log(
        f"  {scenario.name:<10} {path.name:<10} #{repeat}: {output.actions} actions in "
        f"{(output.phase_end_ns - output.phase_start_ns) / 1e9:.2f} s "
        f"({time.monotonic() - started:.1f} s with start-up)"
    )
    return RunData(
        scenario=scenario.name,
        path=path.name,
        repeat=repeat,
        kinds=output.kinds,
        intended=output.intended,
        sent=output.sent,
        done=output.done,
        outcome=output.outcome,
        one_way_ns=one_way.tobytes(),
        phase_start_ns=output.phase_start_ns,
        phase_end_ns=output.phase_end_ns,
        errors=output.errors,
        error_texts=output.error_texts,
        warmup_unanswered=output.warmup_unanswered,
        latency_reset=output.latency_reset,
        gateway_status=status,
        gateway_exit=gateway_exit,
        seconds=time.monotonic() - started,
    )


def _one_way(output: RunOutput, receive: dict[int, int]) -> array[int]:
    """Return per action the simulator's read time minus the send time (0 when it cannot be joined)."""
    sent = array("q")
    sent.frombytes(output.sent)
    venue = array("q")
    venue.frombytes(output.venue_id)
    outcome = output.outcome
    result = array("q", bytes(8 * output.actions))
    for i in range(output.actions):
        if outcome[i] == ACCEPTED and venue[i]:
            t = receive.get(venue[i])
            if t is not None:
                result[i] = max(t - sent[i], 1)
    return result


# --------------------------------------------------------------------------------------------------
# Per-run figures
# --------------------------------------------------------------------------------------------------


class RunFigures(msgspec.Struct):
    """The latency series and counts of one run (ns lists, measured actions only)."""

    round_trip: list[int]
    """New orders accepted: send -> acknowledgement (what the tables show for ping-pong and bursts)."""
    round_trip_corrected: list[int]
    """New orders accepted: intended send -> acknowledgement (coordinated omission corrected)."""
    one_way: list[int]
    """New orders accepted: send -> simulator read."""
    reject_round_trip: list[int]
    cancel_round_trip: list[int]
    replace_round_trip: list[int]
    counts: dict[str, int]
    lost: int
    throughput: float
    """Answered actions per second over the measured phase (first send to last answer)."""
    send_rate: float
    """Actions sent per second (first to last send)."""


def figures(run: RunData) -> RunFigures:
    """Split one run's arrays into latency series and counts."""
    a = run.arrays()
    kinds, outcome, intended, sent, done, one_way = (
        a["kinds"],
        a["outcome"],
        a["intended"],
        a["sent"],
        a["done"],
        a["one_way_ns"],
    )
    rt: list[int] = []
    rtc: list[int] = []
    ow: list[int] = []
    rej: list[int] = []
    cxl: list[int] = []
    rpl: list[int] = []
    counts = {"accepted": 0, "rejected": 0, "canceled": 0, "replaced": 0, "cancel_rejected": 0, "skipped": 0}
    lost = 0
    last_done = 0
    first_sent = 0
    last_sent = 0
    answered = 0
    for i in range(len(kinds)):
        result = outcome[i]
        if result == NONE:
            lost += 1
            continue
        if result == SKIPPED:
            counts["skipped"] += 1
            continue
        answered += 1
        if not first_sent or sent[i] < first_sent:
            first_sent = sent[i]
        last_sent = max(last_sent, sent[i])
        last_done = max(last_done, done[i])
        kind = kinds[i]
        if result == ACCEPTED:
            counts["accepted"] += 1
            rt.append(done[i] - sent[i])
            rtc.append(done[i] - intended[i])
            if one_way[i]:
                ow.append(one_way[i])
        elif result == REJECTED:
            counts["rejected"] += 1
            if kind == Action.REJECT:
                rej.append(done[i] - sent[i])
        elif result == CANCELED:
            counts["canceled"] += 1
            cxl.append(done[i] - sent[i])
        elif result == REPLACED:
            counts["replaced"] += 1
            rpl.append(done[i] - sent[i])
        elif result == CANCEL_REJECTED:
            counts["cancel_rejected"] += 1
    span = last_done - first_sent
    return RunFigures(
        round_trip=rt,
        round_trip_corrected=rtc,
        one_way=ow,
        reject_round_trip=rej,
        cancel_round_trip=cxl,
        replace_round_trip=rpl,
        counts=counts,
        lost=lost,
        throughput=answered * 1e9 / span if span > 0 else 0.0,
        send_rate=answered * 1e9 / (last_sent - first_sent) if last_sent > first_sent else 0.0,
    )


# --------------------------------------------------------------------------------------------------
# Counting runs: Python calls and system calls per order (benchmarks.harness.counters)
# --------------------------------------------------------------------------------------------------


def counted(path: PathSpec) -> bool:
    """Return True for the paths whose middle process is counted (the gateway paths and the relays)."""
    return path.gateway or path.relay


def spins(path: PathSpec) -> bool:
    """Return True when the path's middle process polls its loop (``loop_spin_us`` != 0) instead of blocking."""
    return path.loop_spin_us != 0


def run_counting(
    path: PathSpec, orders: int, workdir: Path, cpus: Placement, *, log: Callable[[str], None]
) -> tuple[CallCounts, dict[str, int] | None, str]:
    """Ping-pong ``orders`` new orders through ``path`` with its gateway (or relay) profiled and straced.

    Returns the call counts of the process's main thread, its system calls by name (None when
    strace is missing or cannot attach) and a note saying why not.
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    port_file = workdir / "sim.port"
    sim_args = [PYTHON, "-m", "benchmarks.harness.simproc", "--port-file", str(port_file), "--out", "/dev/null"]
    if path.venue == "fix":
        sim_args += ["--venue", "fix", "--dialect", FIX_DIALECT, "--sender", FIX_VENUE_COMP_ID]
        sim_args += [f"--target={t}" for t in FIX_TARGETS]
    elif path.venue == "boe":
        sim_args += ["--venue", "boe"]
    else:
        sim_args += ["--venue", cpus.ouch_venue]
    profile = workdir / "profile.pstats"
    scenario = Scenario(f"count-{orders}", Kind.PINGPONG, orders)
    strace = shutil.which("strace")
    note = "" if strace else "strace not installed: system calls not counted"
    syscalls: dict[str, int] | None = None
    with _process(sim_args, workdir / "simulator.log", cpus.simulator, None, cpus.nice) as sim:
        _wait(port_file.exists, STARTUP_TIMEOUT_S, "the simulator to listen", sim)
        port = int(port_file.read_text())
        profiled = [PYTHON, "-m", "benchmarks.harness.profiled", str(profile)]
        relay_socket = workdir / "relay.sock"
        admin = workdir / "a.sock"
        if path.gateway:
            config = gateway_config(workdir, port, path, cpus.gateway, cpus.gateway_fifo, cpus.journal_fsync)
            args = [*profiled, "gateway", "--log-level", "WARNING", "run", "--config", str(config)]
        else:
            args = [*profiled, "benchmarks.harness.relay", "--listen", str(relay_socket), "--venue-port", str(port)]
            args += ["--spin-us", str(path.loop_spin_us), *(f"--cpu={c}" for c in cpus.gateway)]
        with _process(args, workdir / "process.log", (), None, cpus.nice) as proc:
            venue_name = {"fix": FIX_VENUE, "boe": BOE_VENUE}.get(path.venue, "OUCH")
            if path.gateway:
                _wait(lambda: _venue_up(admin, venue_name), STARTUP_TIMEOUT_S, "the gateway's venue session", proc)
                spec = LoadgenSpec(
                    wire="strategy",
                    scenario=scenario,
                    out=str(workdir / "loadgen.out"),
                    socket_path=str(workdir / "s.sock"),
                    strategy_id="bench",
                    venue=venue_name,
                    account=FIX_ACCOUNT if path.venue == "fix" else ACCOUNT,
                    prefix="c-",
                )
            else:
                _wait(relay_socket.exists, STARTUP_TIMEOUT_S, "the relay", proc)
                spec = LoadgenSpec(
                    wire="ouch", scenario=scenario, out=str(workdir / "loadgen.out"), socket_path=str(relay_socket)
                )
            spec_path = workdir / "loadgen.json"
            spec_path.write_bytes(spec_json(spec))
            tracer = _attach_strace(strace, proc.pid, workdir) if strace else None
            if strace and tracer is None:
                note = "strace could not attach (ptrace not permitted?): system calls not counted"
            try:
                with (workdir / "loadgen.log").open("wb") as lg_log:
                    result = subprocess.run(
                        [PYTHON, "-m", "benchmarks.harness.loadgen", str(spec_path)],
                        stdout=lg_log,
                        stderr=subprocess.STDOUT,
                        preexec_fn=_pinned(cpus.loadgen, None, cpus.nice),
                        timeout=600,
                        check=False,
                    )
            finally:
                if tracer is not None:
                    tracer.send_signal(signal.SIGINT)
                    tracer.wait(30)
            if result.returncode != 0:
                raise RuntimeError(
                    f"counting {path.name}: load generator exited {result.returncode}: "
                    + (workdir / "loadgen.log").read_text()[-2000:]
                )
            if tracer is not None:
                syscalls = parse_strace_summary((workdir / "strace.out").read_text())
            _stop(proc)
        _stop(sim)
    log(f"  counting   {path.name:<13} {orders} orders (profiled{', straced' if syscalls is not None else ''})")
    return count_calls(profile), syscalls, note


def _attach_strace(strace: str, pid: int, workdir: Path) -> subprocess.Popen[bytes] | None:
    """Attach ``strace -c -f`` to ``pid``; return it once attached (None if it could not attach)."""
    err = workdir / "strace.err"
    with err.open("wb") as out:
        tracer = subprocess.Popen([strace, "-c", "-f", "-o", str(workdir / "strace.out"), "-p", str(pid)], stderr=out)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if tracer.poll() is not None:
            return None
        if b"attached" in err.read_bytes():
            time.sleep(0.2)  # every thread of the process
            return tracer
        time.sleep(0.02)
    tracer.kill()
    tracer.wait(5)
    return None
