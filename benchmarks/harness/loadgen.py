"""The load generator: one process that runs a scenario's plan over a wire and stamps every action.

Run by the harness as ``python -m benchmarks.harness.loadgen SPEC.json``; writes the per-action arrays
(intended send, actual send, answer time, outcome, venue order id) to ``spec.out``.

Timing, all CLOCK_MONOTONIC ns:

* ``sent``: plans of new orders only (``Wire.preencode``: ping-pong, rates, bursts) are encoded
  before the run; every action due at a wake-up goes out as one slice of that buffer in one
  ``send``, all stamped right before it. Other plans (``mixed``) stamp each action right before it
  is encoded, in chunks of at most ``CHUNK`` actions, each chunk stamped afresh;
* ``intended``: the plan's schedule (``phase start + offset``); in ping-pong it equals ``sent``;
* ``done``: taken right after the ``recv`` that returned the answer, before decoding it.

The generator never spins: between sends it sleeps in ``select`` with a microsecond timeout (timer
slack lowered to 1 ns, Linux), so it shares a core with the venue without starving it and wakes at
the next intended send time, as soon as an answer arrives, or when a full socket has room again.

Phases: warm-up actions first (same pacing), then - once every warm-up action is answered and,
through the gateway, its latency rings are reset over the admin socket - the measured actions.
"""

from __future__ import annotations

import bisect
import ctypes
import gc
import json
import select
import sys
import time
from array import array
from pathlib import Path
from typing import Any, Final

import msgspec

from benchmarks.harness.plan import Action, Plan, Scenario, build_plan
from benchmarks.harness.wires import NONE, SKIPPED, BoeWire, FixWire, OuchWire, Results, StrategyWire, Wire

CHUNK: Final = 256
"""Most actions encoded between two send attempts (and under one send stamp)."""
MAX_PENDING_OUT: Final = 1 << 20
"""Stop encoding while this many bytes wait to be written (the target is not reading)."""
RECV_SIZE: Final = 1 << 20
HEARTBEAT_NS: Final = 1_000_000_000
PR_SET_TIMERSLACK: Final = 29


class LoadgenSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one load-generator process does."""

    wire: str
    """``strategy`` (through the gateway), ``ouch`` (straight to the OUCH venue), ``fix`` (straight to the FIX
    venue: the FIX floor), ``boe`` (straight to the BOE venue: the BOE floor) or ``quickfix`` (the
    quickfix-python initiator)."""
    scenario: Scenario
    out: str
    socket_path: str = ""
    strategy_id: str = "bench"
    venue: str = "OUCH"
    account: str = "BENCH"
    prefix: str = "b"
    admin_socket: str = ""
    """Gateway admin socket: reset its latency rings after the warm-up."""
    host: str = "127.0.0.1"
    port: int = 0
    first_user_ref_num: int = 1
    answer_timeout_s: float = 20.0
    """After the last send, how long to wait for missing answers before counting them lost."""


class RunOutput(msgspec.Struct):
    """What the load generator writes: measured actions only, arrays as raw native bytes."""

    scenario: str
    wire: str
    actions: int
    kinds: bytes
    intended: bytes
    sent: bytes
    done: bytes
    outcome: bytes
    venue_id: bytes
    phase_start_ns: int
    phase_end_ns: int
    errors: int
    error_texts: list[str]
    warmup_unanswered: int
    latency_reset: bool


def lower_timer_slack() -> None:
    """Ask the kernel for 1 ns timer slack so ``select`` timeouts of a few µs are honoured (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def make_wire(spec: LoadgenSpec) -> Wire:
    """Connect the wire the spec names and return it."""
    if spec.wire == "strategy":
        strategy = StrategyWire(
            spec.socket_path, spec.strategy_id, venue=spec.venue, prefix=spec.prefix, account=spec.account
        )
        strategy.connect()
        return strategy
    if spec.wire == "ouch":
        ouch = OuchWire(spec.host, spec.port, first_user_ref_num=spec.first_user_ref_num, socket_path=spec.socket_path)
        ouch.connect()
        return ouch
    if spec.wire == "fix":
        fix = FixWire(spec.host, spec.port, account=spec.account, strategy_id=spec.strategy_id)
        fix.connect()
        return fix
    if spec.wire == "boe":
        boe = BoeWire(spec.host, spec.port)
        boe.connect()
        return boe
    raise ValueError(f"unknown wire {spec.wire!r} (strategy, ouch, fix or boe)")


def run_phase(
    wire: Wire,
    plan: Plan,
    results: Results,
    start: int,
    stop: int,
    *,
    closed_loop: bool,
    answer_timeout_s: float,
    pre: tuple[bytes, array[int]] | None = None,
) -> tuple[int, int]:
    """Send actions ``start..stop`` of the plan and collect their answers; return (phase start, last event ns).

    With ``pre`` (the plan encoded up front, ``Wire.preencode``) sending is a slice of one buffer:
    every action that is due goes out in one ``send``, stamped together.
    """
    clock = time.monotonic_ns
    sock = wire.sock
    fileno = sock.fileno()
    kinds = plan.kinds
    targets = plan.targets
    offsets = plan.offsets_ns
    intended = results.intended
    sent = results.sent
    outcome = results.outcome
    encode = wire.encode
    feed = wire.feed
    send = sock.send
    recv = sock.recv
    poll = select.select
    skip_rejects = not wire.supports_reject
    view = memoryview(pre[0]) if pre is not None else None
    starts = pre[1] if pre is not None else array("q")
    out = bytearray()
    next_i = start
    answered = 0
    total = stop - start
    t0 = clock()
    last_event = t0
    last_send = t0
    deadline = 0
    timeout_ns = int(answer_timeout_s * 1e9)
    while answered < total:
        now = clock()
        # ---- send what is due
        if next_i < stop and len(out) < MAX_PENDING_OUT:
            if closed_loop:
                if next_i - start == answered:
                    kind = kinds[next_i]
                    if view is not None:
                        sent[next_i] = now
                        out += view[starts[next_i] : starts[next_i + 1]]
                    elif skip_rejects and kind == Action.REJECT:
                        outcome[next_i] = SKIPPED
                        answered += 1
                    else:
                        intended[next_i] = sent[next_i] = now
                        encode(out, next_i, kind, targets[next_i], now)
                    next_i += 1
            elif view is not None:
                due = bisect.bisect_right(offsets, now - t0, next_i, stop)
                if due > next_i:
                    sent[next_i:due] = array("q", [now]) * (due - next_i)
                    out += view[starts[next_i] : starts[due]]
                    next_i = due
            else:
                chunk_end = min(next_i + CHUNK, stop)
                while next_i < chunk_end and t0 + offsets[next_i] <= now:
                    kind = kinds[next_i]
                    intended[next_i] = t0 + offsets[next_i]
                    if skip_rejects and kind == Action.REJECT:
                        outcome[next_i] = SKIPPED
                        answered += 1
                    elif (kind in (Action.CANCEL, Action.REPLACE)) and outcome[targets[next_i]] != 1:
                        # the order to act on is not live (yet): send a new order instead, on every path alike
                        kinds[next_i] = Action.NEW
                        sent[next_i] = now
                        encode(out, next_i, Action.NEW, -1, now)
                    else:
                        sent[next_i] = now
                        encode(out, next_i, kind, targets[next_i], now)
                    next_i += 1
            if next_i >= stop and not deadline:
                deadline = clock() + timeout_ns
        if out:
            try:
                written = send(out)
            except BlockingIOError:
                written = 0
            if written:
                del out[:written]
                last_send = now
        elif now - last_send > HEARTBEAT_NS:
            beat = wire.heartbeat()
            if beat:
                out += beat
            last_send = now
        # ---- wait for answers, for room to write, or for the next send time
        if deadline and clock() > deadline:
            break
        if next_i < stop and not closed_loop:
            timeout = max(t0 + offsets[next_i] - clock(), 0) / 1e9
        elif next_i < stop and closed_loop and next_i - start == answered:
            timeout = 0.0
        else:
            timeout = 0.05
        readable, _, _ = poll([fileno], [fileno] if out else [], [], timeout)
        if readable:
            try:
                data = recv(RECV_SIZE)
            except BlockingIOError:
                continue
            now = clock()
            if not data:
                raise ConnectionError("the peer closed the connection")
            answered += feed(data, now, results)
            last_event = now
    if view is not None:
        if closed_loop:
            intended[start:stop] = sent[start:stop]
        else:
            intended[start:stop] = array("q", [t0 + offsets[i] for i in range(start, stop)])
    return t0, last_event


def run(spec: LoadgenSpec) -> RunOutput:
    """Connect, run warm-up and measured phases, return the measured arrays."""
    lower_timer_slack()
    if spec.wire == "quickfix":
        return run_quickfix(spec)
    scenario = spec.scenario
    plan = build_plan(scenario)
    results = Results(plan.actions)
    wire = make_wire(spec)
    pre = wire.preencode(plan.kinds)
    gc.collect()
    gc.freeze()
    gc.disable()
    closed = not scenario.open_loop
    warmup_unanswered = 0
    if plan.warmup:
        run_phase(
            wire, plan, results, 0, plan.warmup, closed_loop=closed, answer_timeout_s=spec.answer_timeout_s, pre=pre
        )
        warmup_unanswered = sum(1 for i in range(plan.warmup) if results.outcome[i] == NONE)
        time.sleep(0.05)
        _drain(wire, results)
    reset = _reset_gateway_latency(spec.admin_socket) if spec.admin_socket else False
    t0, t_end = run_phase(
        wire,
        plan,
        results,
        plan.warmup,
        plan.actions,
        closed_loop=closed,
        answer_timeout_s=spec.answer_timeout_s,
        pre=pre,
    )
    gc.enable()
    w = plan.warmup
    return RunOutput(
        scenario=scenario.name,
        wire=spec.wire,
        actions=plan.actions - w,
        kinds=plan.kinds[w:].tobytes(),
        intended=results.intended[w:].tobytes(),
        sent=results.sent[w:].tobytes(),
        done=results.done[w:].tobytes(),
        outcome=results.outcome[w:].tobytes(),
        venue_id=results.venue_id[w:].tobytes(),
        phase_start_ns=t0,
        phase_end_ns=t_end,
        errors=wire.errors,
        error_texts=list(getattr(wire, "error_texts", [])),
        warmup_unanswered=warmup_unanswered,
        latency_reset=reset,
    )


def run_quickfix(spec: LoadgenSpec) -> RunOutput:
    """Run the plan's new orders through a quickfix-python initiator (the FIX comparison path)."""
    from benchmarks.harness.fixpath import QuickfixLoad, run_quickfix_phase  # noqa: PLC0415 - the fix extra

    scenario = spec.scenario
    plan = build_plan(scenario)
    results = Results(plan.actions)
    load = QuickfixLoad(spec.port, Path(spec.out).parent / "quickfix", spec.prefix, results)
    load.start()
    try:
        gc.collect()
        gc.freeze()
        gc.disable()
        closed = not scenario.open_loop
        warmup_unanswered = 0
        if plan.warmup:
            run_quickfix_phase(load, plan, 0, plan.warmup, closed_loop=closed, answer_timeout_s=spec.answer_timeout_s)
            warmup_unanswered = sum(1 for i in range(plan.warmup) if results.outcome[i] == NONE)
        t0, t_end = run_quickfix_phase(
            load, plan, plan.warmup, plan.actions, closed_loop=closed, answer_timeout_s=spec.answer_timeout_s
        )
        gc.enable()
    finally:
        load.stop()
    w = plan.warmup
    return RunOutput(
        scenario=scenario.name,
        wire=spec.wire,
        actions=plan.actions - w,
        kinds=plan.kinds[w:].tobytes(),
        intended=results.intended[w:].tobytes(),
        sent=results.sent[w:].tobytes(),
        done=results.done[w:].tobytes(),
        outcome=results.outcome[w:].tobytes(),
        venue_id=results.venue_id[w:].tobytes(),
        phase_start_ns=t0,
        phase_end_ns=t_end,
        errors=load.errors,
        error_texts=[],
        warmup_unanswered=warmup_unanswered,
        latency_reset=False,
    )


def _drain(wire: Wire, results: Results) -> None:
    """Read whatever late answers are already waiting (so they do not land in the measured phase)."""
    while True:
        readable, _, _ = select.select([wire.sock], [], [], 0)
        if not readable:
            return
        try:
            data = wire.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        if not data:
            return
        wire.feed(data, time.monotonic_ns(), results)


def _reset_gateway_latency(admin_socket: str) -> bool:
    from gateway.admin import AdminError, admin_request  # noqa: PLC0415

    try:
        reply = admin_request(admin_socket, {"cmd": "latency_reset"}, timeout_s=5)
    except AdminError:
        return False
    return bool(reply.get("ok"))


def main(argv: list[str] | None = None) -> int:
    """Read the spec file, run, write the output file; exit 0 (1 on a connection failure)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.harness.loadgen SPEC.json", file=sys.stderr)
        return 2
    spec = msgspec.json.decode(Path(args[0]).read_bytes(), type=LoadgenSpec)
    try:
        output = run(spec)
    except (OSError, ConnectionError) as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 1
    Path(spec.out).write_bytes(msgspec.msgpack.encode(output))
    return 0


def read_output(path: str | Path) -> RunOutput:
    """Read what a load generator wrote."""
    return msgspec.msgpack.decode(Path(path).read_bytes(), type=RunOutput)


def spec_json(spec: LoadgenSpec) -> bytes:
    """Return the spec as the JSON file the process reads."""
    return msgspec.json.encode(spec)


def to_builtins(spec: LoadgenSpec) -> dict[str, Any]:
    """Return the spec as plain data (for the report)."""
    return dict(json.loads(spec_json(spec)))


if __name__ == "__main__":
    sys.exit(main())
