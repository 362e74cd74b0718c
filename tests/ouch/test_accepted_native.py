"""``venues.ouch._accepted.core``: the compiled codec's read of an Order Accepted's fixed fields (issue 12)."""

from __future__ import annotations

import importlib.util
import random
from typing import Any

import pytest

from obs import native
from venues.ouch import codec
from venues.ouch.errors import DecodeError
from venues.ouch.messages import OrderAccepted


def _core() -> Any:
    """Return the C ``core``: the codec's with the compiled modules, loaded from the build under pure Python."""
    if codec._CORE is not None:
        return codec._CORE
    found = sorted((native.BUILD / "venues" / "ouch").glob("_accepted.*.so"))
    if not found or not native.MANIFEST.exists():
        pytest.skip("the C extension is not built (make venv builds it)")
    spec = importlib.util.spec_from_file_location("venues.ouch._accepted", found[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.core


def _reference(buf: bytes | bytearray | memoryview) -> tuple[int, int, int, int, str] | None:
    """What ``core`` returns: the struct path of ``accepted_core`` (its checks by the codec's dicts), else None."""
    if len(buf) != 64:
        return None
    urn, side, qty, price, orn, state, alen = codec._ACCEPTED_CORE.unpack_from(buf)
    if alen == 0 and side in codec._SIDE and state in codec._STATE:
        return urn, qty, price, orn, codec._STATE[state]
    return None


def test_core_when_64_bytes_then_the_codecs_fields_if_it_reads_them_else_none() -> None:
    core = _core()
    message = OrderAccepted(
        34_200_000_000_000, 7, "B", 100, "AAPL", 2_290_000, "0", "Y", 100_000_001, "A", "N", "N", "L", "12"
    )
    golden = codec.encode_message(message)
    assert len(golden) == 64
    assert core(golden) == (7, 100, 2_290_000, 100_000_001, "L")
    rng = random.Random(50)
    read = 0
    for _ in range(3_000):
        raw = bytearray(rng.getrandbits(8) for _ in range(64))
        if rng.random() < 0.8:  # mostly messages it reads: a known side and state, no appendage
            raw[13] = ord(rng.choice("BSTE"))
            raw[47] = ord(rng.choice("LD"))
            raw[62:64] = b"\0\0" if rng.random() < 0.9 else rng.randbytes(2)
        for buf in (bytes(raw), raw, memoryview(bytes(raw)), memoryview(b"xx" + raw)[2:]):
            assert core(buf) == _reference(buf)
        read += core(raw) is not None
    assert read > 2_000
    top = bytearray(b"A" + b"\xff" * 63)  # every field at its maximum
    top[13], top[47], top[62:64] = ord("E"), ord("D"), b"\0\0"
    assert core(top) == _reference(top) == (2**32 - 1, 2**32 - 1, 2**64 - 1, 2**64 - 1, "D")


def test_core_when_each_side_and_state_byte_or_an_appendage_then_as_the_codecs_dicts_decide() -> None:
    core = _core()
    base = bytearray(
        codec.encode_message(OrderAccepted(1, 9, "S", 300, "MSFT", 4_000_000, "0", "Y", 77, "A", "N", "N", "L", "c1"))
    )
    for at in (13, 47, 62, 63):
        for value in range(256):
            buf = bytearray(base)
            buf[at] = value
            assert core(buf) == _reference(buf), (at, value)


def test_core_when_not_64_bytes_then_none() -> None:
    core = _core()
    for size in (0, 1, 35, 63, 65, 66, 200):
        assert core(bytes(size)) is None
        assert core(memoryview(bytes(size + 3))[3:]) is None


def test_core_when_not_a_buffer_then_type_error() -> None:
    core = _core()
    for bad in ("A" * 64, 64, None, [0] * 64):
        with pytest.raises(TypeError):
            core(bad)


def test_accepted_core_when_each_side_and_state_byte_then_as_the_full_decoder_decides() -> None:
    """Every value of the two one-byte codes, and a non-zero appendage length: ``accepted_core`` (the C path's
    table checks with the compiled modules, the struct path's dict checks without) gives the five fields exactly
    when the message is one it reads, else what ``decode_accepted`` makes of it."""
    base = bytearray(
        codec.encode_message(OrderAccepted(1, 9, "S", 300, "MSFT", 4_000_000, "0", "Y", 77, "A", "N", "N", "L", "c1"))
    )
    read = 0
    for at in (13, 47):
        for value in range(256):
            buf = bytearray(base)
            buf[at] = value
            urn, side, qty, price, orn, state, alen = codec._ACCEPTED_CORE.unpack_from(buf)
            core = codec.accepted_core(buf)
            if side in codec._SIDE and state in codec._STATE and alen == 0:
                assert core == (urn, qty, price, orn, codec._STATE[state])
                read += 1
            else:
                full = codec.decode_accepted(buf)
                assert isinstance(full, DecodeError) and isinstance(core, DecodeError)
                assert core == full
    assert read == 4 + 2  # the four sides, the two states
    longer = bytearray(base)
    longer[62:64] = (1).to_bytes(2, "big")
    full = codec.decode_accepted(longer)
    core = codec.accepted_core(longer)
    assert isinstance(full, DecodeError) and isinstance(core, DecodeError)
    assert core == full
