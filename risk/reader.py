"""A reload's read in another process: the limits files read, composed and checked by ``python -m risk.reader``.

Composing the YAML of a large limits file is pure Python: seconds at 30,000 accounts. In a worker thread of
the gateway it holds the GIL the event loop needs (every order waited for it: 145-544 ms at worst, stop 54).
Here the gateway's worker thread reads the limits file's bytes, hands them to a child process started for this
reload (``sys.executable -m risk.reader <limits file>``: what ``ps`` shows) on its stdin, and waits (the GIL
free) for the child's answer on its stdout. The child runs the same ``read_limits`` the gateway runs at
start-up, on exactly those bytes (its sha256 is the one recorded), plus the diff against the limits in force,
and answers in MessagePack: every problem (file, line, column, field path, message: the same texts), or the
document, its display tree, the reference prices it read (their bytes), the warnings and the changes.

The answer is decoded in slices (``SLICE`` entries of a large mapping or list per call, ~0.1-0.5 ms each at
30,000 accounts), the GIL let go between slices (``PAUSE_S``), so no single call holds the event loop off.

A watch reload (risk62) also hands the child the sha256 and file id of the reference-price file's version the file
watch decided (``DecidedFile``; never the file's bytes): read from the same file with other bytes (written in place
since), that file is not used and the prices in force stay (``read_limits(decided_reference=...)``).

Fail closed: a child that cannot be started, ends without an answer (killed, crashed), does not answer within
``timeout_s`` (it is killed), or answers what cannot be decoded or does not match the bytes sent, refuses the
reload: ``ReaderFailedError`` (a ``LimitsFileError``) with one problem saying so (the limits in force stay; the refusal
is audited). It says nothing about the file: the file watch reads the same content again (``RiskEngine``, risk56).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, Final

import msgspec

from risk.diff import Change, diff_trees
from risk.limitsfile import DecidedReference, KnownNames, LimitsFile, LimitsFileError, read_limits
from risk.loader import CONVERT_SLICE, Parsed, Problem, parse_file, read_bounded
from risk.model import LimitsDocument, ReferencePriceDocument, StartPositionsDocument

SLICE: Final = CONVERT_SLICE
"""Entries of a large mapping (a file's accounts) or items of a long list encoded and decoded per call."""
PAUSE_S: Final = 0.0002
"""The gateway's worker thread sleeps this long between two slices it decodes: the GIL is free meanwhile, so the
event loop, if it waits for it, takes it at once (without a pause it waits up to the 5 ms switch interval)."""
TIMEOUT_S: Final = 120.0
"""How long a reload waits for its reader process before killing it and refusing the reload."""
MODULE: Final = "risk.reader"


def reader_command() -> list[str]:
    """Return the command that starts a reader process: this interpreter, ``-m risk.reader``."""
    return [sys.executable, "-m", MODULE]


class Sliced(msgspec.Struct, array_like=True, frozen=True):
    """A value in MessagePack with each large top-level mapping cut into slices of ``SLICE`` entries."""

    head: msgspec.Raw
    """The value with its large mappings empty."""
    parts: list[tuple[str, list[msgspec.Raw]]]
    """(field or key, the mapping's slices) for each large mapping, in order."""


class KeptFile(msgspec.Struct, array_like=True, frozen=True):
    """The reference-price file in force, kept as it is (the file watch: modified in place): its name and bytes."""

    file: str
    raw: bytes


class DecidedFile(msgspec.Struct, array_like=True, frozen=True):
    """A watch reload (risk62): the reference-price file in force, the sha256 of its version the file watch decided,
    and what the child needs of the prices in force to use them instead of a version read with other bytes (never
    their bytes: a large file through MessagePack held the event loop's GIL, rev61merge9)."""

    file: str
    sha256: str
    file_id: tuple[int, int]
    """The decided version's file id, high and low 64 bits."""
    in_force_sha256: str
    in_force_as_of: str
    """The ``as_of`` of the prices in force (their age warning); their display tree is ``previous_reference``."""


class ReadRequest(msgspec.Struct, array_like=True, frozen=True):
    """What the gateway hands its reader process (on its stdin)."""

    path: str
    raw: bytes
    """The limits file's bytes as the gateway read them: the child reads these, never the file."""
    wall_now: datetime.datetime
    known: KnownNames | None
    keep: KeptFile | None
    previous: Sliced | None
    """The display tree of the limits in force (the changes are diffed against it), None: no diff."""
    previous_reference: Sliced | None
    decided: DecidedFile | None = None


class ReferenceAnswer(msgspec.Struct, array_like=True, frozen=True):
    file: str
    raw: bytes
    kept: bool
    """True: the kept reference prices (``ReadRequest.keep``) are used as they are."""
    value: Sliced
    display: Sliced
    signature: tuple[int, int, int, int, int] | None = None
    """The file's signature taken just before the child read it (``Parsed.signature``): mtime ns, size, the file id's
    high and low 64 bits (MessagePack integers stop at 64 bits), and ctime ns."""
    skipped: str = ""
    """sha256 of the file's bytes read and not used (not the version the watch decided, ``ReadRequest.decided``):
    ``kept`` is then True for the prices in force, and ``signature`` the skipped file's; "": none skipped."""


def _split(signature: tuple[int, int, int, int] | None) -> tuple[int, int, int, int, int] | None:
    if signature is None:
        return None
    mtime_ns, size, file_id, ctime_ns = signature
    return (mtime_ns, size, file_id >> 64, file_id & 0xFFFF_FFFF_FFFF_FFFF, ctime_ns)


def _joined(signature: tuple[int, int, int, int, int] | None) -> tuple[int, int, int, int] | None:
    if signature is None:
        return None
    mtime_ns, size, high, low, ctime_ns = signature
    return (mtime_ns, size, (high << 64) | low, ctime_ns)


class ReadAnswer(msgspec.Struct, array_like=True, frozen=True):
    """What the reader process answers (on its stdout)."""

    sha256: str
    """sha256 of the bytes the child read (``ReadRequest.raw``)."""
    problems: list[msgspec.Raw]
    """Slices of ``list[Problem]``: every problem (none: the files are valid)."""
    document: Sliced | None = None
    display: Sliced | None = None
    reference: ReferenceAnswer | None = None
    positions: tuple[str, str] | None = None
    """(file, sha256) of the start-of-day positions file named (a reload only hashes it)."""
    warnings: list[msgspec.Raw] = []
    summary: list[str] = []
    changes: list[msgspec.Raw] = []


_ENCODER: Final = msgspec.msgpack.Encoder()


def _no_pause() -> None:
    return None


def _pause() -> None:
    time.sleep(PAUSE_S)


_UNSET: Final = object()
_DEFAULTS: dict[type, list[tuple[str, str, Any, Any]]] = {}


def _defaults(kind: type) -> list[tuple[str, str, Any, Any]]:
    """(attribute, encoded name, default, default factory) of each field of a Struct type."""
    found = _DEFAULTS.get(kind)
    if found is None:
        found = _DEFAULTS[kind] = [
            (
                f.name,
                f.encode_name,
                _UNSET if f.default is msgspec.NODEFAULT else f.default,
                _UNSET if f.default_factory is msgspec.NODEFAULT else f.default_factory,
            )
            for f in msgspec.structs.fields(kind)
        ]
    return found


def compact(value: Any) -> Any:
    """Return ``value`` with every Struct as a mapping of its fields that differ from their defaults.

    Decoded as the Struct type, a field left out takes its default: the same value, in a fraction of the bytes (a
    30,000-account file: every account's unset limits encoded as ``null`` made a 12 MB answer).
    """
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        for name, key, default, factory in _defaults(type(value)):
            item = getattr(value, name)
            if (default is not _UNSET and item == default) or (factory is not _UNSET and item == factory()):
                continue
            out[key] = compact(item)
        return out
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [compact(v) for v in value]
    return value


def encode_sliced(value: Any, pause: Callable[[], None] = _no_pause) -> Sliced:
    """Encode a Struct or a dict with each top-level mapping of more than ``SLICE`` entries in slices.

    A Struct's large mappings of Structs (a file's accounts) are encoded ``compact``: their defaults left out.
    """
    if isinstance(value, msgspec.Struct):
        items = {name: getattr(value, name) for name in value.__struct_fields__}
    elif isinstance(value, dict):
        items = value
    else:
        return Sliced(msgspec.Raw(_ENCODER.encode(value)), [])
    large = [name for name, v in items.items() if isinstance(v, dict) and len(v) > SLICE]
    if isinstance(value, msgspec.Struct):
        head: Any = msgspec.structs.replace(value, **{name: {} for name in large})
    else:
        head = {k: {} if k in large else v for k, v in items.items()}
    parts: list[tuple[str, list[msgspec.Raw]]] = []
    for name in large:
        chunks: list[msgspec.Raw] = []
        entries = iter(items[name].items())
        while chunk := dict(islice(entries, SLICE)):
            chunks.append(msgspec.Raw(_ENCODER.encode(compact(chunk) if isinstance(value, msgspec.Struct) else chunk)))
            pause()
        parts.append((name, chunks))
    return Sliced(msgspec.Raw(_ENCODER.encode(head)), parts)


def decode_sliced(sliced: Sliced, type_: Any = Any, pause: Callable[[], None] = _no_pause) -> Any:
    """Decode what ``encode_sliced`` encoded (``type_``: the Struct to decode into, or Any), a slice a call."""
    value = msgspec.msgpack.decode(sliced.head, type=type_)
    if not sliced.parts:
        return value
    is_struct = isinstance(value, msgspec.Struct)
    hints = typing.get_type_hints(type_, include_extras=True) if is_struct else {}
    filled: dict[str, Any] = {}
    for name, chunks in sliced.parts:
        decoder = msgspec.msgpack.Decoder(hints[name] if is_struct else Any)
        out: dict[Any, Any] = {}
        for chunk in chunks:
            out.update(decoder.decode(chunk))
            pause()
        filled[name] = out
    if is_struct:
        return msgspec.structs.replace(value, **filled)
    if not isinstance(value, dict):
        raise msgspec.ValidationError("a sliced mapping's head is not a mapping")
    value.update(filled)  # the keys were written in order, the large ones empty: their places are kept
    return value


def encode_list(items: Sequence[Any]) -> list[msgspec.Raw]:
    """Encode a list in slices of ``SLICE`` items."""
    return [msgspec.Raw(_ENCODER.encode(list(items[i : i + SLICE]))) for i in range(0, len(items), SLICE)]


def decode_list(chunks: list[msgspec.Raw], item: Any, pause: Callable[[], None] = _no_pause) -> list[Any]:
    """Decode what ``encode_list`` encoded, a slice a call."""
    decoder = msgspec.msgpack.Decoder(list[item])
    out: list[Any] = []
    for chunk in chunks:
        out.extend(decoder.decode(chunk))
        pause()
    return out


# ---------------------------------------------------------------- the child


def answer(request: ReadRequest) -> ReadAnswer:
    """Read and check the files as ``read_limits`` does at a reload, on the bytes sent; never raises."""
    path = Path(request.path)
    sha256 = hashlib.sha256(request.raw).hexdigest()
    keep = None
    if request.keep is not None:
        keep = parse_file(Path(request.keep.file), ReferencePriceDocument, content=request.keep.raw)
    previous_reference = decode_sliced(request.previous_reference) if request.previous_reference is not None else None
    decided = None
    if request.decided is not None:  # the prices in force, as far as reading the limits needs them (not their bytes)
        given = request.decided
        in_force = Parsed[ReferencePriceDocument](
            given.file,
            given.in_force_sha256,
            value=ReferencePriceDocument(as_of=given.in_force_as_of, prices={}),
            display=previous_reference,
        )
        decided = DecidedReference(given.file, given.sha256, (given.file_id[0] << 64) | given.file_id[1], in_force)
    try:
        limits = read_limits(
            path, request.wall_now, request.known, keep, start_up=False, content=request.raw, decided_reference=decided
        )
    except LimitsFileError as exc:
        return ReadAnswer(sha256, encode_list(exc.problems))
    except Exception as exc:  # a bug while reading: refused, as in the gateway's own thread
        problem = Problem(str(path), 0, 0, "", f"internal error while reading: {exc!r}")
        return ReadAnswer(sha256, encode_list([problem]))
    changes: list[Change] = []
    if request.previous is not None:
        changes = diff_trees(decode_sliced(request.previous), limits.display)
        changes += diff_trees(previous_reference, limits.reference_display, ("reference_file",))
    reference = None
    parsed = limits.reference_parsed
    skipped = limits.reference_skipped
    if parsed is not None and decided is not None and parsed is decided.in_force and skipped is not None:
        nothing = Sliced(msgspec.Raw(_ENCODER.encode(None)), [])  # the gateway has them: it uses its own
        reference = ReferenceAnswer(parsed.file, b"", True, nothing, nothing, _split(skipped[1]), skipped[0])
    elif parsed is not None:
        reference = ReferenceAnswer(
            parsed.file,
            parsed.raw,
            parsed is keep,
            encode_sliced(parsed.value),
            encode_sliced(parsed.display),
            _split(parsed.signature),
        )
    positions = (str(limits.positions_path), limits.positions_sha256) if limits.positions_path is not None else None
    return ReadAnswer(
        sha256,
        [],
        encode_sliced(limits.document),
        encode_sliced(limits.display),
        reference,
        positions,
        encode_list(limits.warnings),
        limits.summary,
        encode_list(changes),
    )


def main() -> int:
    """Answer one request: MessagePack ``ReadRequest`` on stdin, ``ReadAnswer`` on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C at the gateway's terminal is the gateway's to handle
    try:
        request = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=ReadRequest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        print(f"risk.reader: the request cannot be decoded: {exc}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(_ENCODER.encode(answer(request)))
    sys.stdout.buffer.flush()
    return 0


# ---------------------------------------------------------------- the gateway's side


def _environment() -> dict[str, str]:
    """The child's environment: the gateway's, with this tree importable and the pure-Python modules (no build check:
    what the child runs, the loader, is never compiled)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["GATEWAY_PURE_PYTHON"] = "1"
    return env


class ReaderFailedError(LimitsFileError):
    """The reader process gave no usable answer: no verdict on the file (the file watch reads it again, risk56)."""

    sha256 = ""
    """sha256 of the limits file's bytes handed to the reader process (set by ``read_in_child``)."""


def _refused(path: Path, message: str) -> ReaderFailedError:
    text = f"{message}; the reload is refused (old limits stay in force)"
    return ReaderFailedError([Problem(str(path), 0, 0, "", text)])


def _stopped(path: Path, message: str) -> LimitsFileError:
    """Refuse a reload the stop ended: not a reader failure (``ReaderFailedError``), so the watch retries nothing."""
    return LimitsFileError(
        [Problem(str(path), 0, 0, "", f"{message}; the reload is refused (old limits stay in force)")]
    )


@contextlib.contextmanager
def _off_the_loops_cpus() -> Iterator[None]:
    """While the calling thread starts a child: ``SCHED_OTHER``, and the CPUs the gateway is not pinned to.

    A child inherits the starting thread's scheduling policy and CPU affinity; a worker thread inherits the event
    loop thread's. A gateway under ``spin.sched_fifo_priority`` pinned to one CPU (``spin.cpu``) would start its
    reader at SCHED_FIFO on the loop's own CPU: a second of Python that the loop could not preempt. The policy
    is dropped for good (a worker thread has no use for it); the affinity is the complement of the thread's
    while it starts the child (when the host has other CPUs), then put back.
    """
    with contextlib.suppress(OSError, AttributeError):
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    pinned: set[int] | None = None
    with contextlib.suppress(OSError, AttributeError):
        mine = os.sched_getaffinity(0)
        others = set(range(os.cpu_count() or 1)) - mine
        if others:
            os.sched_setaffinity(0, others)
            pinned = mine
    try:
        yield
    finally:
        if pinned is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, pinned)


class ReaderControl:
    """The reader process of one reload under way, for the gateway's stop to end it (``stop``).

    A stop does not wait for a read it will never apply: the child is killed and the reload refused with a line
    saying the gateway stopped (rev56diff: the process used to linger after "stopped" until the read ended, up
    to the reader's timeout).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self.stopped = False

    def started(self, child: subprocess.Popen[bytes]) -> bool:
        """Note the reader process; return False (and kill it) if the stop came first."""
        with self._lock:
            self._child = child
            if self.stopped:
                child.kill()
            return not self.stopped

    def stop(self) -> None:
        """Kill the reader process if one runs; a reader not started yet is killed as it starts."""
        with self._lock:
            self.stopped = True
            child = self._child
            if child is not None and child.poll() is None:
                child.kill()


def _run(
    command: Sequence[str], path: Path, request: bytes, timeout_s: float, control: ReaderControl | None = None
) -> bytes:
    """Start the reader process, hand it ``request``, return its answer; raise ``LimitsFileError`` if none."""
    what = "the process reading the limits files"
    if control is not None and control.stopped:  # a reload queued behind the one the stop ended: none started
        raise _stopped(path, f"the gateway stopped before {what} was started")
    try:
        with _off_the_loops_cpus():
            child = subprocess.Popen(
                [*command, str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_environment(),
                close_fds=True,
            )
    except (OSError, ValueError) as exc:
        raise _refused(path, f"{what} cannot be started ({' '.join(command[:3])}): {exc}") from exc
    if control is not None:
        control.started(child)
    try:
        out, err = child.communicate(request, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise _refused(path, f"{what} (pid {child.pid}) did not answer within {timeout_s:g} s: killed") from None
    except BaseException:
        child.kill()
        child.communicate()
        raise
    if control is not None and control.stopped:
        raise _stopped(path, f"the gateway stopped while {what} (pid {child.pid}) was reading them: killed")
    if child.returncode != 0:
        code = child.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        said = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
        tail = f" ({said[0][:300]})" if said else ""
        raise _refused(path, f"{what} (pid {child.pid}) {how} before answering{tail}")
    return out


def read_in_child(
    path: Path,
    wall_now: datetime.datetime,
    known: KnownNames | None,
    keep: Parsed[ReferencePriceDocument] | None,
    previous: LimitsFile | None,
    *,
    command: Sequence[str] | None = None,
    timeout_s: float = TIMEOUT_S,
    pause: Callable[[], None] = _pause,
    control: ReaderControl | None = None,
    raw: bytes | None = None,
    decided: DecidedReference | None = None,
) -> tuple[LimitsFile, list[Change]]:
    """``read_limits(path, wall_now, known, keep, start_up=False, decided_reference=decided)`` in a reader process,
    and the changes over ``previous`` (none if None); raise ``LimitsFileError`` as ``read_limits`` does (the same
    problems), or with one problem saying why the reader process gave no usable answer. ``raw``: the limits file's
    bytes, read already (None: read here)."""
    if raw is None:
        try:
            raw = read_bounded(path)
        except OSError as exc:
            raise LimitsFileError([Problem(str(path), 0, 0, "", f"cannot read the file: {exc}")]) from exc
    sha256 = hashlib.sha256(raw).hexdigest()
    decided_file = None
    in_force = decided.in_force if decided is not None else None
    if decided is not None and in_force is not None and in_force.value is not None:
        file_id = (decided.file_id >> 64, decided.file_id & 0xFFFF_FFFF_FFFF_FFFF)
        decided_file = DecidedFile(decided.file, decided.sha256, file_id, in_force.sha256, in_force.value.as_of)
    request = ReadRequest(
        str(path),
        raw,
        wall_now,
        known,
        KeptFile(keep.file, keep.raw) if keep is not None else None,
        encode_sliced(previous.display, pause) if previous is not None else None,
        encode_sliced(previous.reference_display, pause)
        if previous is not None and previous.reference_display is not None
        else None,
        decided_file,
    )
    try:
        out = _run(
            command if command is not None else reader_command(), path, _ENCODER.encode(request), timeout_s, control
        )
        try:
            return _decode(out, path, raw, sha256, keep, pause, in_force if decided_file is not None else None)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError, ValueError) as exc:
            message = f"the process reading the limits files answered what cannot be decoded ({exc})"
            raise _refused(path, message) from exc
    except ReaderFailedError as exc:
        exc.sha256 = sha256
        raise


def _decode(
    out: bytes,
    path: Path,
    raw: bytes,
    sha256: str,
    keep: Parsed[ReferencePriceDocument] | None,
    pause: Callable[[], None],
    in_force: Parsed[ReferencePriceDocument] | None = None,
) -> tuple[LimitsFile, list[Change]]:
    reply = msgspec.msgpack.decode(out, type=ReadAnswer)
    if reply.sha256 != sha256:
        raise ValueError(f"it read bytes of sha256 {reply.sha256[:12]}, not the {sha256[:12]} sent")
    problems = decode_list(reply.problems, Problem, pause)
    if problems:
        raise LimitsFileError(problems)
    if reply.document is None or reply.display is None:
        raise ValueError("neither problems nor a document")
    parsed = Parsed[LimitsDocument](
        str(path),
        sha256,
        value=decode_sliced(reply.document, LimitsDocument, pause),
        display=decode_sliced(reply.display, Any, pause),
    )
    parsed.raw = raw
    reference: Parsed[ReferencePriceDocument] | None = None
    skipped = None
    if reply.reference is not None:
        given = reply.reference
        if given.skipped:  # not the version the watch decided: the prices in force stay (risk62)
            if not given.kept or in_force is None or given.file != in_force.file:
                raise ValueError("it kept reference prices it was not given")
            reference = in_force
            skipped = (given.skipped, _joined(given.signature))
        elif given.kept:
            if keep is None or given.file != keep.file or given.raw != keep.raw:
                raise ValueError("it kept reference prices it was not given")
            reference = keep
        else:
            reference = Parsed[ReferencePriceDocument](
                given.file,
                hashlib.sha256(given.raw).hexdigest(),
                value=decode_sliced(given.value, ReferencePriceDocument, pause),
                display=decode_sliced(given.display, Any, pause),
            )
            reference.raw = given.raw
            reference.signature = _joined(given.signature)
    positions = None
    if reply.positions is not None:
        positions = Parsed[StartPositionsDocument](reply.positions[0], reply.positions[1])
    warnings = decode_list(reply.warnings, str, pause)
    changes = decode_list(reply.changes, Change, pause)
    limits = LimitsFile(path, parsed, reference, positions, warnings, summary=reply.summary)
    limits.reference_skipped = skipped
    return limits, changes


if __name__ == "__main__":
    sys.exit(main())
