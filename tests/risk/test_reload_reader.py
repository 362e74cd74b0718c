"""A reload's read in a reader process (reload55): the same document and errors, fail closed, disk work off the loop.

The gateway reads a reload's files in a child process (``python -m risk.reader``) so that composing a large YAML
file never holds the GIL its event loop needs; the switch's disk work (the audit record, the copies in force)
runs in a worker thread while the loop's own audit records wait their turn.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayProcess
from risk.audit import AuditLog
from risk.engine import WATCH_TRIGGER, WATCH_WHO, RiskEngine, _changes
from risk.inforce import InForceCopy
from risk.limitsfile import KnownNames, LimitsFileError, read_limits
from risk.reader import SLICE, decode_sliced, encode_sliced, read_in_child, reader_command
from tests.e2e.support import e2e_limits, gateway_config, short_tmp
from tests.risk import test_loader

VALID = test_loader.VALID
NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
KNOWN = KnownNames.of({"S1": ["ACC1"]}, "gateway.yaml")
_ONE_BAD: Any = test_loader.test_read_limits_when_one_bad_value_then_refused_with_path_line_and_column
_BAD_VALUES = [  # the loader tests' own cases
    pytest.param(old, new, id=f"{where[0]}:{where[1]}") for old, new, where, _ in _ONE_BAD.pytestmark[0].args[1]
]


def _in_process(path: Path, known: KnownNames | None = KNOWN) -> Any:
    try:
        return read_limits(path, NOW, known, start_up=False)
    except LimitsFileError as exc:
        return exc.problems


def _in_child(path: Path, known: KnownNames | None = KNOWN, **kwargs: Any) -> Any:
    try:
        return read_in_child(path, NOW, known, None, None, **kwargs)[0]
    except LimitsFileError as exc:
        return exc.problems


def _same_file(one: Any, other: Any) -> None:
    assert not isinstance(one, list) and not isinstance(other, list), (one, other)
    assert one.document == other.document
    assert one.display == other.display
    assert (one.sha256, one.raw, one.warnings, one.summary) == (other.sha256, other.raw, other.warnings, other.summary)
    assert (one.reference_sha256, one.reference_display, one.reference) == (
        other.reference_sha256,
        other.reference_display,
        other.reference,
    )
    assert (one.positions_sha256, one.positions_path) == (other.positions_sha256, other.positions_path)


def test_read_in_child_when_valid_then_the_same_document_display_and_warnings(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    rows = "".join(f"  C{i:05d}: {{max_qty: {i + 1}}}\n" for i in range(3 * SLICE + 7))  # sliced: 4 slices
    (tmp_path / "prices.yaml").write_text(
        "as_of: loaded\nprices:\n" + "".join(f"  S{i}: {i + 1}.5\n" for i in range(SLICE + 3))
    )
    text = VALID.replace("\naccounts:\n", "\naccounts:\n" + rows, 1).replace(
        "  max_age_s: 300", "  max_age_s: 300\n  file: prices.yaml"
    )
    path.write_text(text + "start_positions_file: positions.yaml\n")
    (tmp_path / "positions.yaml").write_text("as_of: 2026-12-04T21:00:00Z\naccounts: {}\n")
    ours, theirs = _in_process(path), _in_child(path)
    _same_file(ours, theirs)
    assert len(theirs.document.accounts) == 3 * SLICE + 8 and len(theirs.warnings) > SLICE
    assert theirs.reference_parsed.raw == (tmp_path / "prices.yaml").read_bytes()
    assert theirs.positions_sha256 == hashlib.sha256((tmp_path / "positions.yaml").read_bytes()).hexdigest()


@pytest.mark.parametrize(("old", "new"), _BAD_VALUES)
def test_read_in_child_when_one_bad_value_then_the_same_problems_at_the_same_lines(
    tmp_path: Path, old: str, new: str
) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(VALID.replace(old, new, 1))
    ours, theirs = _in_process(path), _in_child(path)
    assert isinstance(ours, list) and ours, ours
    assert theirs == ours


@pytest.mark.parametrize(
    "text",
    [
        VALID.replace("max_qty: 10000", "max_qty: -1").replace("collar_pct: 5.0", "collar_pct: .nan"),
        VALID.replace("  max_age_s: 300", "  max_age_s: 300\n  file: missing.yaml"),
        VALID.replace("  max_age_s: 300", "  max_age_s: 300\n  file: prices.yaml"),  # prices.yaml is bad
        VALID + "strategies:\n  NOPE: {max_qty: 5}\n",  # a strategy the gateway does not run
        "defaults: [1, 2\n",
        "",
        "a: &x 1\nb: *x\n",
    ],
)
def test_read_in_child_when_files_are_bad_then_the_same_problems(tmp_path: Path, text: str) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    (tmp_path / "prices.yaml").write_text("as_of: yesterday\nprices: {AAPL: -1}\n")
    ours, theirs = _in_process(path), _in_child(path)
    assert isinstance(ours, list) and ours, ours
    assert theirs == ours


def test_read_in_child_when_the_file_cannot_be_read_then_the_same_problem(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    assert _in_child(path) == _in_process(path)


def test_encode_sliced_when_decoded_then_the_same_value() -> None:
    value = {"a": 1, "accounts": {f"A{i}": {"x": i} for i in range(2 * SLICE + 1)}, "z": [1, 2]}
    sliced = encode_sliced(value)
    assert [(name, len(chunks)) for name, chunks in sliced.parts] == [("accounts", 3)]
    decoded = decode_sliced(sliced)
    assert decoded == value and list(decoded) == ["a", "accounts", "z"]


def test_read_in_child_when_reloaded_over_limits_in_force_then_the_same_changes(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    (tmp_path / "prices.yaml").write_text("as_of: loaded\nprices: {AAPL: 100.5, MSFT: 3}\n")
    rows = "".join(f"  C{i:05d}: {{max_qty: {i + 1}}}\n" for i in range(SLICE + 1))
    text = VALID.replace("\naccounts:\n", "\naccounts:\n" + rows, 1)
    text = text.replace("  max_age_s: 300", "  max_age_s: 300\n  file: prices.yaml")
    path.write_text(text)
    previous = read_limits(path, NOW, KNOWN, start_up=False)
    path.write_text(text.replace("max_qty: 500", "max_qty: 400").replace("C00007: {max_qty: 8}", "C00007: {}"))
    (tmp_path / "prices.yaml").write_text("as_of: loaded\nprices: {AAPL: 101, NVDA: 2}\n")
    limits, changes = read_in_child(path, NOW, KNOWN, None, previous)
    assert changes == _changes(previous, read_limits(path, NOW, KNOWN, start_up=False))
    assert {c.field for c in changes} >= {"accounts.ACC1.symbols.AAPL.max_qty", "accounts.C00007.max_qty"}, changes
    assert [c for c in changes if c.field.startswith("reference_file")], changes
    assert limits.reference is not None and len(limits.reference.prices) == 2


def test_read_in_child_when_reference_prices_are_kept_then_the_kept_ones_are_used(tmp_path: Path) -> None:
    """The file watch keeps the reference prices in force when their file was modified in place."""
    path = tmp_path / "limits.yaml"
    prices = tmp_path / "prices.yaml"
    prices.write_text("as_of: loaded\nprices: {AAPL: 100.5}\n")
    path.write_text(VALID.replace("  max_age_s: 300", "  max_age_s: 300\n  file: prices.yaml"))
    keep = read_limits(path, NOW, KNOWN, start_up=False).reference_parsed
    assert keep is not None
    prices.write_text("as_of: loaded\nprices: {AAPL: -1\n")  # half-written, in place
    limits, _ = read_in_child(path, NOW, KNOWN, keep, None)
    assert limits.reference_parsed is keep
    assert read_limits(path, NOW, KNOWN, keep, start_up=False).reference_parsed is keep


# ---------------------------------------------------------------- fail closed


def _engine(tmp_path: Path) -> tuple[RiskEngine, Path]:
    path = tmp_path / "limits.yaml"
    path.write_text(VALID)
    engine = RiskEngine.load(path, audit_log_path=tmp_path / "audit.jsonl")
    return engine, path


_KILLED = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
_HANGS = [sys.executable, "-c", "import sys, time; sys.stdin.buffer.read(); time.sleep(600)"]
_GARBAGE = [sys.executable, "-c", "import sys; sys.stdin.buffer.read(); sys.stdout.buffer.write(b'\\x93garbage')"]
_CRASHES = [sys.executable, "-c", "import sys; sys.stdin.buffer.read(); sys.exit('reader: out of memory')"]
_MISSING = ["/nonexistent/bin/python3", "-m", "risk.reader"]


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (_KILLED, "was killed by signal 9 before answering"),
        (_HANGS, "did not answer within 1 s: killed"),
        (_GARBAGE, "answered what cannot be decoded"),
        (_CRASHES, "exited with status 1 before answering (reader: out of memory)"),
        (_MISSING, "cannot be started (/nonexistent/bin/python3 -m risk.reader)"),
    ],
    ids=["killed", "hangs", "garbage", "crashes", "cannot-start"],
)
def test_reload_when_the_reader_process_fails_then_refused_old_limits_kept_and_audited(
    tmp_path: Path, command: list[str], words: str
) -> None:
    engine, path = _engine(tmp_path)
    in_force = engine.status()["sha256"]
    path.write_text(VALID.replace("max_qty: 500", "max_qty: 400"))
    pending = engine.begin_reload("gateway risk reload", "officer")
    pending.reader, pending.reader_timeout_s = command, 1.0
    started = time.monotonic()
    pending.read()
    result = engine.finish_reload(pending)
    assert time.monotonic() - started < 60
    assert not result.ok
    assert len(result.errors) == 1 and words in result.errors[0].message, result.errors
    assert "the reload is refused (old limits stay in force)" in result.errors[0].message
    assert engine.status()["sha256"] == in_force
    last = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "reload_refused" and words in last["errors"][0]
    pending = engine.begin_reload("gateway risk reload", "officer")  # the real reader: applied
    pending.reader = reader_command()
    pending.read()
    assert engine.finish_reload(pending).ok
    assert engine.status()["sha256"] != in_force


def test_reload_when_the_reader_process_answers_for_other_bytes_then_refused(tmp_path: Path) -> None:
    engine, path = _engine(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(VALID.replace("max_qty: 500", "max_qty: 300"))
    fake = (  # a reader reading the file itself, not the bytes it is handed
        "import sys, msgspec; from pathlib import Path; from risk import reader; "
        "request = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=reader.ReadRequest); "
        f"request = msgspec.structs.replace(request, raw=Path({str(other)!r}).read_bytes()); "
        "sys.stdout.buffer.write(msgspec.msgpack.encode(reader.answer(request)))"
    )
    path.write_text(VALID.replace("max_qty: 500", "max_qty: 400"))
    pending = engine.begin_reload("gateway risk reload", "officer")
    pending.reader = [sys.executable, "-c", fake]
    pending.read()
    result = engine.finish_reload(pending)
    assert not result.ok and "it read bytes of sha256" in result.errors[0].message, result.errors


# ---------------------------------------------------------------- through the gateway


def _built(workdir: Path) -> tuple[GatewayProcess, Path]:
    config = gateway_config(workdir, 1, Path())
    limits = e2e_limits(workdir, config.strategies)
    process = GatewayProcess(gateway_config(workdir, 1, limits))
    process.build()
    return process, limits


def _replace(path: Path, text: str) -> None:
    copy = path.with_name(path.name + ".new")
    copy.write_text(text)
    copy.replace(path)


async def test_gateway_reload_when_its_reader_process_answers_garbage_then_refused_and_old_limits_stay() -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    assert process.risk is not None and process.risk_reader == reader_command()
    in_force = process.risk.status()["sha256"]
    _replace(limits, limits.read_text().replace("max_qty:", "max_qty: 1 #", 1))
    process.risk_reader = _GARBAGE
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    assert not result.ok and "answered what cannot be decoded" in result.errors[0].message
    assert process.risk.status()["sha256"] == in_force
    process.risk_reader = reader_command()
    _replace(limits, limits.read_text() + "\n")
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    assert result.ok, result
    assert process.risk.status()["sha256"] == hashlib.sha256(limits.read_bytes()).hexdigest()
    process.risk.close()  # type: ignore[attr-defined]


async def test_gateway_reload_when_its_audit_write_is_slow_then_the_loop_runs_and_kills_are_written_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reload's audit record and the copy in force are written in a worker thread (a slow disk: 0.5 s); the
    loop keeps running; the kills made meanwhile take effect at once and their records follow the reload's, whole,
    in order; none is lost."""
    workdir = short_tmp()
    process, limits = _built(workdir)
    assert process.risk is not None
    loop_thread = threading.get_ident()
    threads: dict[str, int] = {}
    write = AuditLog.write

    def slow_write(self: AuditLog, record: dict[str, Any]) -> None:
        if record.get("event") == "reload":
            threads["audit"] = threading.get_ident()
            time.sleep(0.5)
        write(self, record)

    commit = InForceCopy.commit

    def noted_commit(self: InForceCopy, prepared: bool, raw: bytes | None = None) -> str:
        threads["copy"] = threading.get_ident()
        return commit(self, prepared, raw)

    monkeypatch.setattr(AuditLog, "write", slow_write)
    monkeypatch.setattr(InForceCopy, "commit", noted_commit)
    process.risk.halt(None, who="before", reason="r0")
    _replace(limits, limits.read_text() + "\n# edited\n")
    task = process.reload_risk_soon("gateway risk reload", "officer")
    ticks = 0
    kills = 0
    while not task.done():
        await asyncio.sleep(0.01)
        ticks += 1
        if threads.get("audit") and kills < 5:  # the reload's record is being written: kill meanwhile
            kills += 1
            process.risk.halt(None, who=f"during{kills}", reason="r")
    result = await task
    assert result.ok, result
    assert kills >= 3, kills  # the loop ran during the 0.5 s write
    assert threads["audit"] != loop_thread and threads["copy"] != loop_thread
    process.risk.halt(None, who="after", reason="r")
    lines = (workdir / "audit.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole
    order = [r["who"] for r in records if r["event"] in ("reload", "trading_state")]
    assert order == ["before", "officer", *[f"during{i}" for i in range(1, kills + 1)], "after"], order
    process.risk.close()  # type: ignore[attr-defined]


async def test_gateway_reload_when_the_audit_log_refuses_the_record_in_the_thread_then_not_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    assert process.risk is not None
    in_force = process.risk.status()["sha256"]
    write = AuditLog.write

    def full_disk(self: AuditLog, record: dict[str, Any]) -> None:
        if record.get("event") == "reload":
            raise OSError(28, "No space left on device")
        write(self, record)

    monkeypatch.setattr(AuditLog, "write", full_disk)
    _replace(limits, limits.read_text() + "\n# edited\n")
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    assert not result.ok and "cannot be written" in result.message and "old limits stay in force" in result.message
    assert process.risk.status()["sha256"] == in_force
    process.risk.halt(None, who="after", reason="r")  # the audit log takes the loop's records again
    last = json.loads((workdir / "audit.jsonl").read_text().splitlines()[-1])
    assert (last["event"], last["who"]) == ("trading_state", "after")
    process.risk.close()  # type: ignore[attr-defined]


def test_reader_process_when_started_from_a_pinned_realtime_thread_then_other_cpus_and_sched_other(
    tmp_path: Path,
) -> None:
    """A gateway pinned to a CPU under SCHED_FIFO (``spin:``) starts its reader elsewhere, at SCHED_OTHER."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: nothing else to run the reader on")
    path = tmp_path / "limits.yaml"
    path.write_text(VALID)
    seen = tmp_path / "seen.json"
    spy = [
        sys.executable,
        "-c",
        f"import json, os; open({str(seen)!r}, 'w').write(json.dumps([sorted(os.sched_getaffinity(0)), "
        "os.sched_getscheduler(0)])); raise SystemExit(3)",
    ]
    outcome: list[Any] = []

    def pinned() -> None:
        os.sched_setaffinity(0, {0})
        fifo = True
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except OSError:
            fifo = False  # not permitted here: the affinity alone
        outcome.append(fifo)
        outcome.append(_in_child(path, command=spy))
        outcome.append((sorted(os.sched_getaffinity(0)), os.sched_getscheduler(0)))

    thread = threading.Thread(target=pinned)
    thread.start()
    thread.join(60)
    fifo, problems, after = outcome
    assert "exited with status 3" in problems[0].message
    cpus, policy = json.loads(seen.read_text())
    assert 0 not in cpus and cpus
    assert policy == os.SCHED_OTHER, (fifo, policy)
    assert after == ([0], os.SCHED_OTHER)  # the thread's affinity put back; its SCHED_FIFO dropped for good


_SLOW_READER = [  # says it started (a file beside the limits file), then reads for a minute
    sys.executable,
    "-c",
    "import pathlib, sys, time; pathlib.Path(sys.argv[1] + '.reading').touch(); time.sleep(60)",
]


def test_reload_when_its_reader_is_stopped_then_killed_at_once_and_refused_saying_the_gateway_stopped(
    tmp_path: Path,
) -> None:
    engine, path = _engine(tmp_path)
    in_force = engine.status()["sha256"]
    path.write_text(VALID.replace("max_qty: 500", "max_qty: 400"))
    pending = engine.begin_reload("gateway risk reload", "officer")
    pending.reader, pending.reader_timeout_s = _SLOW_READER, 120.0
    reading = threading.Thread(target=pending.read)
    started = time.monotonic()
    reading.start()
    time.sleep(0.3)  # the child is running (a stop before it starts kills it as it starts: same outcome)
    pending.reader_control.stop()
    reading.join(30)
    assert not reading.is_alive() and time.monotonic() - started < 30
    result = engine.finish_reload(pending)
    assert (
        not result.ok and "the gateway stopped while the process reading the limits files" in result.errors[0].message
    )
    assert engine.status()["sha256"] == in_force


async def test_gateway_stop_during_a_reload_read_ends_its_reader_process_and_does_not_wait_for_it() -> None:
    """rev56diff: the process used to wait for the reader (up to its 120 s timeout) after logging "stopped"."""
    workdir = short_tmp()
    process, limits = _built(workdir)
    process.risk_reader = _SLOW_READER
    _replace(limits, limits.read_text() + "\n")
    reload = process.reload_risk_soon("gateway risk reload", "officer")
    marker = limits.with_name(limits.name + ".reading")
    for _ in range(3000):  # until the reader process runs
        if marker.exists():
            break
        await asyncio.sleep(0.01)
    assert marker.exists()
    started = time.monotonic()
    await process.stop()
    result = await asyncio.wait_for(reload, 30)
    assert time.monotonic() - started < 30
    assert not result.ok and "the gateway stopped" in result.errors[0].message


def _counting_reader(log: Path) -> list[str]:
    """A reader that notes its start (a line in ``log``), then reads for a minute."""
    return [sys.executable, "-c", f"import time; open({str(log)!r}, 'a').write('started\\n'); time.sleep(60)"]


async def test_gateway_stop_when_a_second_reload_is_queued_then_it_starts_no_reader_and_neither_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rev56merge: a reload queued behind the one the stop ended started its own reader during the stop (the exit
    waited for it), and the stop's kill was taken for a reader failure (a watch retry logged that never came)."""
    workdir = short_tmp()
    process, limits = _built(workdir)
    started = workdir / "readers.log"
    process.risk_reader = _counting_reader(started)
    _replace(limits, limits.read_text() + "\n")
    first = process.reload_risk_soon(WATCH_TRIGGER, WATCH_WHO)  # a watch reload: retried after a reader failure
    second = process.reload_risk_soon("SIGHUP", "pid 1234")  # another trigger: queued behind the first, not joined
    for _ in range(3000):
        if started.exists():
            break
        await asyncio.sleep(0.01)
    assert started.exists()
    begun = time.monotonic()
    await process.stop()
    results = await asyncio.wait_for(asyncio.gather(first, second), 30)
    assert time.monotonic() - begun < 30
    assert started.read_text().count("started") == 1  # the queued reload started none
    assert [r.ok for r in results] == [False, False]
    assert "the gateway stopped while" in results[0].errors[0].message
    assert "the gateway stopped before" in results[1].errors[0].message
    for result in results:  # not taken for a problem of the file (rev56merge2)
        assert result.message.startswith("reload NOT applied: the gateway stopped before"), result.message
    assert not [r for r in caplog.records if "again in" in r.getMessage()]  # no retry announced
