"""``venues.ouch._compare.same``: the compiled adapter's in-place compare of the Accepted with the Enter sent."""

from __future__ import annotations

import importlib.util
import random
from typing import Any

import pytest

from obs import native
from venues.ouch import adapter


def _same() -> Any:
    """Return the C ``same``: the adapter's with the compiled modules, loaded from the build under pure Python."""
    if adapter._SAME is not None:
        return adapter._SAME
    found = sorted((native.BUILD / "venues" / "ouch").glob("_compare.*.so"))
    if not found or not native.MANIFEST.exists():
        pytest.skip("the C extension is not built (make venv builds it)")
    spec = importlib.util.spec_from_file_location("venues.ouch._compare", found[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.same


def test_same_when_given_any_buffers_and_ranges_then_as_the_slices_compare() -> None:
    same = _same()
    rng = random.Random(46)
    for _ in range(5_000):
        a = bytearray(rng.randbytes(rng.randrange(0, 40)))
        b = rng.randbytes(rng.randrange(0, 40))
        if a and b and rng.random() < 0.5:  # often equal ranges: copy part of a into b
            cut = rng.randrange(0, len(a))
            b = b[:5] + bytes(a[cut:]) + b[5:]
            a_start, b_start = cut, 5
        else:
            a_start, b_start = rng.randrange(0, 45), rng.randrange(0, 45)
        n = rng.randrange(0, 30)
        for other in (b, memoryview(b), bytearray(b), memoryview(b"xx" + b)[2:]):
            assert same(a, a_start, other, b_start, n) is (a[a_start : a_start + n] == other[b_start : b_start + n])


def test_same_when_the_accepted_is_as_sent_or_not_then_the_adapters_compare() -> None:
    same = _same()
    sent = bytearray(
        b"\0\x2f\x55O" + b"\0\0\0\x07" + b"B" + (500).to_bytes(4, "big") + b"ACME    " + (1_000).to_bytes(8, "big")
    )
    accepted = memoryview(b"\0\x3aSA" + b"\0" * 9 + bytes(sent[8:29]) + b"\0" * 24)
    assert same(sent, 8, accepted, 13, 21) and sent[8:29] == accepted[13:34]
    other = memoryview(bytes(accepted[:20]) + b"X" + bytes(accepted[21:]))  # a symbol byte differs
    assert not same(sent, 8, other, 13, 21) and sent[8:29] != other[13:34]
    assert not same(sent, 8, b"", 13, 21) and sent[8:29] != b""[13:34]  # no bytes (the fields-only path)


def test_same_when_given_wrong_arguments_then_refused() -> None:
    same = _same()
    with pytest.raises(TypeError):
        same(b"ab", 0, b"ab", 0)
    with pytest.raises(TypeError):
        same("ab", 0, b"ab", 0, 2)
    with pytest.raises(ValueError, match="negative"):
        same(b"ab", -1, b"ab", 0, 2)
    with pytest.raises(ValueError, match="negative"):
        same(b"ab", 0, b"ab", 0, -2)
