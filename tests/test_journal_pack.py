"""The C journal writer (``gateway._journalpack``) against msgspec: the same bytes, or nothing written."""

from __future__ import annotations

import enum
import importlib.util
import types
import typing
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway import journal_mmap, journal_pack
from gateway.journal import (
    DATA_START,
    JOrderRefused,
    JOrderSent,
    JournalScan,
    JRequest,
    JStrategyEvent,
    JTradingState,
    JVenueApplied,
    MmapJournal,
    data_end,
    read_journal,
)
from gateway.journal_pack import CONSTANTS, PACKED, Packer
from gateway.protocol.framing import FrameWriter
from gateway.protocol.messages import (
    Canceled,
    CancelRejected,
    Executed,
    MassCancelAck,
    OrderAccepted,
    OrderRejected,
    Replaced,
)
from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.fsync import FsyncPolicy
from model.venue_events import VenueAccepted, VenueExecuted
from obs import native

_module: list[ModuleType] = []


class _AsMap(msgspec.Struct):
    """A Struct msgspec writes as a map."""

    a: int


def _c_module() -> ModuleType:
    """Return the C extension, registered: imported when compiled, loaded from the build under pure Python."""
    if journal_pack.PACKER is not None:
        from gateway import _journalpack  # on the path only with the compiled modules

        return _journalpack
    if not _module:
        found = sorted((native.BUILD / "gateway").glob("_journalpack.*.so"))
        if not found or not native.MANIFEST.exists():
            pytest.skip("the C extension is not built (make venv builds it)")
        spec = importlib.util.spec_from_file_location("gateway._journalpack", found[0])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not module.registered():
            journal_pack.register(module)
        _module.append(module)
    return _module[0]


def _c_pack() -> Packer:
    pack: Packer = _c_module().append
    return pack


def _msgspec_append(buf: bytearray, start: int, record: object) -> None:
    """Append as ``MmapJournal.append`` does with msgspec (the reference): body at start + 8, header, buffer cut."""
    msgspec.msgpack.Encoder().encode_into(record, buf, start + 8)
    payload = buf[start + 8 :]
    buf[start : start + 8] = len(payload).to_bytes(4, "big") + zlib.crc32(payload).to_bytes(4, "big")


# ---- random records of every registered type, with the values at msgpack's boundaries ----------------------

_INT_EDGES = [
    0, 1, -1, 31, 32, 127, 128, 255, 256, 65_535, 65_536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 - 1,
    2**63 - 1, 2**63, 2**64 - 1, -32, -33, -127, -128, -129, -32_768, -32_769, -(2**31), -(2**31) - 1,
    -(2**32), -(2**63),
]  # fmt: skip
_INTS = st.one_of(
    st.sampled_from(_INT_EDGES),
    st.integers(-(2**63), 2**64 - 1),
    st.integers(-300, 70_000),
    st.sampled_from([2**64, -(2**63) - 1, 2**100, -(2**100)]),  # beyond MessagePack: msgspec raises, C writes nothing
    st.booleans(),  # a bool where an int belongs: msgspec writes true/false, so does C
    st.floats(allow_nan=False),  # not handled: msgspec's float
)
_LENGTHS = [0, 1, 30, 31, 32, 33, 254, 255, 256, 257, 1_000, 2_100, 65_535, 65_536]
_OK_INTS = st.one_of(st.sampled_from(_INT_EDGES), st.integers(-(2**63), 2**64 - 1), st.booleans())
_OK_STRS = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, c: c * n, st.sampled_from(_LENGTHS[:10]), st.sampled_from(["x", "é", "€"])),
)
_STRS = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, c: c * n, st.sampled_from(_LENGTHS), st.sampled_from(["x", "é", "€", "😀"])),
    st.builds(lambda n: "x" * n, st.integers(0, 300)),
    st.just("\ud800"),  # a lone surrogate: msgspec cannot encode it, C writes nothing
    st.builds(type("Sub", (str,), {}), st.text(max_size=5)),  # a str subclass: msgspec's, not C's
)


def _values(hint: Any, ok: bool = False) -> st.SearchStrategy[Any]:
    """Return a strategy for a field annotated ``hint`` (``ok``: only values the C function writes)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if not ok or arg is type(None) or arg in PACKED]
        return st.one_of(*(_values(arg, ok) for arg in args))
    if hint is type(None):
        return st.none()
    if hint is bool:
        return st.booleans()
    if hint is int:
        return _OK_INTS if ok else _INTS
    if hint is str:
        return _OK_STRS if ok else _STRS
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint)) | st.sampled_from([str(member.value) for member in hint])
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        return st.deferred(lambda: _records(hint, ok))
    return st.none()


def _records(cls: type[msgspec.Struct], ok: bool = False) -> st.SearchStrategy[Any]:
    """Return a strategy for ``cls`` instances with every field drawn from its annotation."""
    hints = typing.get_type_hints(cls)
    return st.builds(cls, *(_values(hints[name], ok) for name in cls.__struct_fields__))


_ANY_RECORD = st.one_of(*(_records(cls) for cls in PACKED), _records(JStrategyEvent), _records(JTradingState))


def _handled(obj: object, depth: int = 0) -> bool:
    """Return whether the C function writes ``obj`` (mirrors its rules: msgspec's bytes decide the rest)."""
    kind = type(obj)
    if kind is int:
        return -(2**63) <= obj < 2**64  # type: ignore[operator]
    if kind is str:
        try:
            return len(obj.encode()) < 65_536  # type: ignore[attr-defined]
        except UnicodeEncodeError:
            return False
    if obj is None or kind is bool:
        return True
    if kind in PACKED:
        return depth < 4 and all(_handled(getattr(obj, name), depth + 1) for name in kind.__struct_fields__)
    return any(obj is member for member in CONSTANTS)


def _check(pack: Packer, record: object, head: bytes) -> bool:
    """Pack ``record`` after ``head`` both ways; assert the same bytes, or C writing nothing. Return C wrote it."""
    ours, theirs = bytearray(head), bytearray(head)
    start = len(head) // 2  # the batch's old bytes after ``start`` are cut, as ``flush`` leaves them
    del ours[start + 3 :], theirs[start + 3 :]
    end = pack(ours, start, record)
    try:
        _msgspec_append(theirs, start, record)
    except (OverflowError, msgspec.EncodeError, UnicodeEncodeError, TypeError):
        assert end == -1
        assert bytes(ours) == head[: start + 3]
        return False
    if end < 0:
        assert bytes(ours) == head[: start + 3]  # untouched
        assert not _handled(record) or len(theirs) - start - 8 > 2048, record  # only what it does not handle
        return False
    assert end == len(theirs)
    assert bytes(ours) == bytes(theirs)
    return True


_EDGY_SENT = JOrderSent(
    2**64 - 1, "é" * 16, "", "x" * 255, "X", "😀" * 64, Side.SELL_SHORT, 0, -(2**63), TimeInForce.IOC,
    OrderType.MARKET, -1, "r" * 256,
)  # fmt: skip


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_ANY_RECORD, st.binary(max_size=40))
@example(JRequest("s" * 31, 2**63 - 1, _EDGY_SENT), b"")
@example(JVenueApplied("OUCH", VenueAccepted(2**32, 7, "", 2**31 - 1, 2**53 - 1, "", "€" * 100), -33), b"batch")
@example(JVenueApplied("v", VenueExecuted(1, 2, 3, 4, "A", "x" * 65_536, True, False, True), 0), b"")
@example(JRequest("s", 1, None, MassCancelAck("r", 3)), b"")
@example(OrderAccepted(0, "😀" * 254, "😀" * 254, 0, 0), b"")  # found by hypothesis: an int in the last 8 bytes
def test_append_when_random_records_then_msgspec_s_bytes_or_nothing_written(record: object, head: bytes) -> None:
    _check(_c_pack(), record, head)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(*(_records(cls, ok=True) for cls in PACKED)), st.binary(max_size=40))
def test_append_when_random_records_it_handles_then_written_with_msgspec_s_bytes(record: object, head: bytes) -> None:
    assert _check(_c_pack(), record, head) or len(msgspec.msgpack.encode(record)) > 2048  # over the C buffer


def test_append_when_the_per_order_records_then_c_writes_them_with_msgspec_s_bytes() -> None:
    pack = _c_pack()
    sent = JOrderSent(
        1_000_001, "strat-1", "c123456789", "ACC1", "OUCH", "AAPL", Side.BUY, 100, 1_500_000, TimeInForce.DAY,
        OrderType.LIMIT, 1_733_400_000_123_456_789, "000000000042",
    )  # fmt: skip
    applied = JVenueApplied("OUCH", VenueAccepted(12, 1_000_001, "9876543210", 100, 1_500_000), 5)
    for record in (JRequest("strat-1", 77, sent), sent, applied):
        assert _check(pack, record, b"")
        assert _check(pack, record, bytes(range(40)))


def test_append_when_an_int_beyond_messagepack_then_nothing_written_and_the_journal_raises_overflow(
    tmp_path: Path,
) -> None:
    """The engine journals an adapter's number beyond MessagePack's ints as an OverflowError (nothing journaled)."""
    pack = _c_pack()
    too_big = JVenueApplied("OUCH", VenueAccepted(2**64, 1, "", 1, 1), 1)
    buf = bytearray(b"12345678")
    assert pack(buf, 8, too_big) == -1
    assert buf == b"12345678"
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    with pytest.raises(OverflowError):
        journal.append(too_big)
    journal.close()


def test_append_when_called_wrongly_then_refused_and_nothing_written() -> None:
    module = _c_module()
    record = JOrderRefused(1)
    buf = bytearray(b"abc")
    with pytest.raises(TypeError):
        module.append(b"abc", 0, record)
    with pytest.raises(TypeError):
        module.append(buf, 0)
    with pytest.raises(ValueError, match="start"):
        module.append(buf, 4, record)
    with pytest.raises(ValueError, match="start"):
        module.append(buf, -1, record)
    view = memoryview(buf)  # exported: it cannot be resized (nor could msgspec)
    with pytest.raises(BufferError):
        module.append(buf, 3, record)
    with pytest.raises(BufferError):
        _msgspec_append(buf, 3, record)
    view.release()
    assert buf == b"abc"
    long = bytearray(64)
    view = memoryview(long)  # exported and cut shorter: refused too
    with pytest.raises(BufferError):
        module.append(long, 0, record)
    view.release()
    assert long == bytes(64)
    with pytest.raises(TypeError, match="member descriptor"):
        module.register(JOrderRefused, b"\x92\x02", "order_id")
    with pytest.raises(TypeError, match="array_like"):
        journal_pack.prefix(_AsMap)  # msgspec writes it as a map: not registrable
    assert set(module.registered()) == set(PACKED)


def test_mmap_journal_when_records_appended_then_the_file_holds_msgspec_s_bytes_and_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ``MmapJournal.append`` (compiled: its C call; pure Python: the C call put in by hand)."""
    if journal_pack.PACKER is None:
        monkeypatch.setattr(journal_mmap, "_PACKER", _c_pack())
    sent = JOrderSent(1, "s", "c1", "A", "OUCH", "SYM", Side.SELL, 10, 99, TimeInForce.IOC, OrderType.LIMIT, 5, "r1")
    records: list[object] = [
        JRequest("s", 1, sent),
        JVenueApplied("OUCH", VenueAccepted(1, 1, "v1", 10, 99), 1),
        JStrategyEvent("s", OrderAccepted(1, "c1", "v1", 10, 99)),  # not registered: msgspec
        JVenueApplied("OUCH", VenueExecuted(2, 1, 4, 99, "A", "e1"), 2),
        JTradingState("", "halted", "ops", "é" * 40),  # not registered: msgspec
        JRequest("s", 2, None, MassCancelAck("m1", 0)),  # an answer not registered: msgspec
    ]
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    for i, record in enumerate(records):
        journal.append(record)
        if i % 2:
            journal.flush()
    journal.close()
    expected = bytearray()
    for record in records:
        _msgspec_append(expected, len(expected), record)
    path = tmp_path / "j"
    assert path.read_bytes()[DATA_START : data_end(path)] == expected
    assert list(read_journal(path, JournalScan())) == records


def test_append_when_a_new_batch_starts_then_the_buffer_keeps_its_allocation() -> None:
    """rev42diff: cut back to a batch's start, the buffer keeps its memory (as msgspec's ``encode_into`` does).

    ``PyByteArray_Resize`` gives memory back when a bytearray is cut below half its allocation; the next
    appends of the batch would then grow it again, a realloc or two per batch.
    """
    module = _c_module()
    record = VenueAccepted(1, 2, "abc", 100, 5_000)
    for append in (module.append, None):
        buf = bytearray()
        end = 0
        for _ in range(300):
            if append is None:
                _msgspec_append(buf, end, record)
                end = len(buf)
            else:
                end = append(buf, end, record)
        allocated = buf.__alloc__()
        if append is None:
            _msgspec_append(buf, 0, record)
        else:
            assert append(buf, 0, record) == len(buf)
        assert buf.__alloc__() == allocated
        assert len(buf) < 100


# ---- the part writers: a record's bytes from its field values, without the record --------------------------


def _check_parts(record: object, head: bytes) -> bool:
    """Write ``record`` from its parts (``append_fields``; a ``JRequest`` of a registered record also with
    ``append_request``) after ``head``; assert ``append``'s bytes (``_check``: msgspec's) or nothing written."""
    module = _c_module()
    cls = type(record)
    values = msgspec.structs.astuple(record)  # type: ignore[arg-type]

    def fields(buf: bytearray, start: int, _: object) -> int:
        end: int = module.append_fields(buf, start, cls, *values)
        return end

    written = _check(fields, record, head)
    if cls is JRequest and type(record.record) in PACKED and record.answer is None:  # type: ignore[attr-defined]
        inner = record.record  # type: ignore[attr-defined]

        def request(buf: bytearray, start: int, _: object) -> int:
            end: int = module.append_request(
                buf, start, values[0], values[1], type(inner), *msgspec.structs.astuple(inner)
            )
            return end

        assert _check(request, record, head) == written
    return written


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_ANY_RECORD.filter(lambda record: type(record) in PACKED), st.binary(max_size=40))
@example(JRequest("s" * 31, 2**63 - 1, _EDGY_SENT), b"")
@example(JRequest("s", 2**64, _EDGY_SENT), b"old")  # beyond MessagePack: nothing written
@example(JRequest("s", 1, msgspec.structs.replace(_EDGY_SENT, venue_ref="\ud800")), b"")
@example(JVenueApplied("OUCH", VenueAccepted(2**32, 7, "", 2**31 - 1, 2**53 - 1, "", "€" * 100), -33), b"batch")
@example(JVenueApplied("v", VenueExecuted(1, 2, 3, 4, "A", "x" * 2_100, True, False, True), 0), b"")
def test_append_parts_when_random_records_then_append_s_bytes_or_nothing_written(record: object, head: bytes) -> None:
    _check_parts(record, head)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    _OK_STRS,
    _OK_INTS.filter(lambda n: n != 0),
    st.one_of(*(_records(cls, ok=True) for cls in PACKED)),
    st.binary(max_size=40),
)
def test_append_request_when_records_it_handles_then_written_with_msgspec_s_bytes(
    strategy_id: str, req_seq: int, inner: object, head: bytes
) -> None:
    record = JRequest(strategy_id, req_seq, inner)  # type: ignore[arg-type]  # any registered record, for C
    assert _check_parts(record, head) or len(msgspec.msgpack.encode(record)) > 2048  # over the C buffer


def test_append_parts_when_called_wrongly_then_refused_and_nothing_written() -> None:
    module = _c_module()
    buf = bytearray(b"abc")
    with pytest.raises(TypeError, match="not registered"):
        module.append_fields(buf, 3, JStrategyEvent, "s", None)
    with pytest.raises(TypeError, match="value for each field"):
        module.append_fields(buf, 3, JOrderRefused)
    with pytest.raises(TypeError, match="value for each field"):
        module.append_fields(buf, 3, JOrderRefused, 1, 2)
    with pytest.raises(TypeError):
        module.append_fields(buf, 3)
    with pytest.raises(ValueError, match="start"):
        module.append_fields(buf, 4, JOrderRefused, 1)
    with pytest.raises(TypeError, match="value missing"):
        module.append_request(buf, 3, "s", 1, JOrderRefused)
    with pytest.raises(TypeError, match="not registered"):
        module.append_request(buf, 3, "s", 1, JStrategyEvent, "s", None)
    with pytest.raises(TypeError, match="four fields"):
        module.register_request(JOrderRefused)
    assert buf == b"abc"
    assert module.append_fields(buf, 3, JOrderRefused, 2**64) == -1  # not handled: nothing written
    assert module.append_request(buf, 3, "s", -(2**63) - 1, JOrderRefused, 1) == -1
    assert buf == b"abc"
    assert module.append_fields(buf, 1, JOrderRefused, 7) == len(buf)
    expected = bytearray(b"a")
    _msgspec_append(expected, 1, JOrderRefused(7))
    assert buf == expected


_SENT_PARTS = (1, "s", "c1", "A", "OUCH", "SYM", Side.SELL, 10, 99, TimeInForce.IOC, OrderType.LIMIT, 5, "r1")


@pytest.mark.parametrize("packed", ["c", "msgspec"])
def test_mmap_journal_when_appended_from_parts_then_the_file_holds_append_s_bytes_and_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packed: str
) -> None:
    """``append_order_sent`` and ``append_fields`` (the engine's compiled calls) write what ``append`` writes of
    the records; with C (put in by hand under pure Python) or without it (the records made and appended)."""
    module = _c_module()
    for name, writer in (("_PACKER", module.append), ("_PACK_FIELDS", module.append_fields)):
        monkeypatch.setattr(journal_mmap, name, writer if packed == "c" else None)
    monkeypatch.setattr(journal_mmap, "_PACK_REQUEST", module.append_request if packed == "c" else None)
    edgy = msgspec.structs.astuple(_EDGY_SENT)
    long_ref = msgspec.structs.replace(_EDGY_SENT, venue_ref="x" * 70_000)
    accepted = VenueAccepted(1, 1, "v1", 10, 99)
    records: list[object] = [
        JRequest("s", 3, JOrderSent(*_SENT_PARTS)),
        JOrderSent(*_SENT_PARTS),
        JVenueApplied("OUCH", accepted, 1),
        JRequest(edgy[1], 2**64 - 1, _EDGY_SENT),
        JVenueApplied("OUCH", VenueExecuted(2, 1, 4, 99, "A", "é" * 3_000), 2),  # over the C buffer: msgspec
        long_ref,  # str32: msgspec
    ]
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    journal.append_order_sent(3, *_SENT_PARTS)
    journal.append_order_sent(0, *_SENT_PARTS)
    journal.flush()
    journal.append_fields(JVenueApplied, "OUCH", accepted, 1)
    journal.append_order_sent(2**64 - 1, *edgy)
    journal.append_fields(JVenueApplied, "OUCH", VenueExecuted(2, 1, 4, 99, "A", "é" * 3_000), 2)
    journal.append_order_sent(0, *msgspec.structs.astuple(long_ref))
    with pytest.raises(OverflowError):  # beyond MessagePack's ints: raised as append raises it, nothing written
        journal.append_fields(JVenueApplied, "OUCH", VenueAccepted(2**64, 1, "", 1, 1), 1)
    with pytest.raises(OverflowError):
        journal.append_order_sent(2**64, *_SENT_PARTS)
    assert journal.records_written == len(records)
    journal.close()
    expected = bytearray()
    for record in records:
        _msgspec_append(expected, len(expected), record)
    path = tmp_path / "j"
    assert path.read_bytes()[DATA_START : data_end(path)] == expected
    assert list(read_journal(path, JournalScan())) == records


@pytest.mark.parametrize("packed", ["c", "msgspec"])
def test_append_when_a_record_cannot_be_encoded_then_the_batch_is_as_it_was_and_flushes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packed: str
) -> None:
    """perf43: msgspec's failed ``encode_into`` left the buffer longer than the batch; the next ``flush`` (before
    any other append) then raised IndexError copying it into the mapping. Now the buffer is cut back."""
    monkeypatch.setattr(journal_mmap, "_PACKER", _c_pack() if packed == "c" else None)
    good = JVenueApplied("OUCH", VenueAccepted(1, 1, "v", 1, 1), 1)
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    journal.append(good)
    pending = journal.pending_bytes
    with pytest.raises(OverflowError):
        journal.append(JVenueApplied("OUCH", VenueAccepted(2**64, 1, "", 1, 1), 1))
    assert journal.pending_bytes == pending
    journal.flush()
    journal.close()
    assert list(read_journal(tmp_path / "j", JournalScan())) == [good]


# ---- the strategy-protocol frames of order events (``Engine._deliver``) --------------------------------------

_EVENTS = (OrderAccepted, Executed, Canceled, Replaced, OrderRejected, CancelRejected)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(*(_records(cls) for cls in _EVENTS), _records(MassCancelAck)), st.binary(max_size=40))
@example(OrderAccepted(2**64 - 1, "c" * 32, "", 2**63, 0), b"")
@example(OrderAccepted(0, "😀" * 254, "😀" * 254, 0, 0), b"")  # 2,043 bytes: the last ints near the buffer's end
@example(Executed(1, "é" * 32, 1, 1, "A", "x" * 2_100, 2, 0), b"old")  # over the C buffer: msgspec
def test_append_frame_when_random_order_events_then_frame_writer_s_bytes_or_nothing_written(
    message: object, head: bytes
) -> None:
    """``append_frame`` writes ``FrameWriter.write``'s frame after the buffer's bytes, or nothing (-1)."""
    module = _c_module()
    ours = bytearray(head)
    end = module.append_frame(ours, len(head), message)
    writer = FrameWriter()
    writer.buffer += head
    try:
        writer.write(message)
    except (OverflowError, msgspec.EncodeError, UnicodeEncodeError, TypeError):
        assert end == -1
        assert ours == head
        return
    if end < 0:
        assert ours == head
        assert not _handled(message) or len(writer.buffer) - len(head) - 4 > 2048 or type(message) not in PACKED
        return
    assert end == len(writer.buffer)
    assert ours == writer.buffer
    assert type(message) in _EVENTS


def test_append_frame_when_the_steady_state_events_then_c_writes_them() -> None:
    module = _c_module()
    for message in (
        OrderAccepted(5, "c123456789", "9876543210", 100, 1_500_000),
        Executed(6, "c1", 100, 1_500_000, "A", "m1", 100, 0),
        Canceled(7, "c1", 100, 0, "USER", ""),
        OrderRejected(8, "c1", RejectSource.RISK, "MAX_QTY", "qty 10 over 5"),
    ):
        writer = FrameWriter()
        writer.buffer += b"before"
        writer.write(message)
        buf = bytearray(b"before")
        assert module.append_frame(buf, 6, message) == len(buf)
        assert buf == writer.buffer
    with pytest.raises(TypeError):
        module.append_frame(bytearray(), 0)
    with pytest.raises(ValueError, match="start"):
        module.append_frame(bytearray(), 1, OrderAccepted(5, "c", "v", 1, 1))
