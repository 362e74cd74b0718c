"""``venues.ouch._enter.pack_enter_order``: the compiled adapter's C writer of the Enter Order packet."""

from __future__ import annotations

import functools
import importlib.util
import random
from types import FunctionType
from typing import Any

import pytest

from obs import native
from venues.ouch import adapter, codec

SPEC_WORKED_EXAMPLE = bytes.fromhex(
    "00 36 55 4F 00 00 00 01 42 00 00 00 64 41 41 50"
    "4C 20 20 20 20 00 00 00 00 00 16 ED 24 30 59 41"
    "4E 4E 4F 52 44 31 20 20 20 20 20 20 20 20 20 20"
    "00 06 05 03 00 00 00 64"
)
"""The spec's worked example (ouch50-soupbintcp.md): buy 100 AAPL @ 150.2500, Day, MinQty 100, a 56-byte U packet."""
MIN_QTY_100 = bytes.fromhex("05 03 00 00 00 64")
"""The worked example's appendage: TagValue length 5, tag 3 (MinQty), 100."""


def _writer() -> Any:
    """Return the C writer: the adapter's with the compiled modules, loaded from the build under pure Python."""
    if adapter._PACK_ENTER is not codec.pack_enter_order:
        return adapter._PACK_ENTER
    found = sorted((native.BUILD / "venues" / "ouch").glob("_enter.*.so"))
    if not found or not native.MANIFEST.exists():
        pytest.skip("the C extension is not built (make venv builds it)")
    spec = importlib.util.spec_from_file_location("venues.ouch._enter", found[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pack_enter_order


@functools.cache
def _interpreted() -> Any:
    """Return the interpreted ``codec.pack_enter_order`` (the reference), loaded from its source when compiled.

    Compiled, the codec's own function checks its arguments' types at the call (a ``TypeError``) before its
    ``struct.pack_into``; the pure path, which the C writer stands in for, is the interpreted one.
    """
    if codec.__file__ is not None and codec.__file__.endswith(".py"):
        return codec.pack_enter_order
    spec = importlib.util.spec_from_file_location("venues.ouch.codec_interpreted", native.ROOT / "venues/ouch/codec.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.pack_enter_order, FunctionType)
    return module.pack_enter_order


def _both(prefix: bytes, args: tuple[Any, ...]) -> tuple[tuple[object, bytes], tuple[object, bytes]]:
    """Run the C writer and the codec on ``prefix`` + the args; return each one's (result or error, buffer)."""
    results = []
    for write in (_writer(), _interpreted()):
        buf = bytearray(prefix)
        try:
            outcome: object = write(buf, *args)
        except Exception as error:  # compared: the same type and text on both paths
            outcome = (type(error), str(error))
        results.append((outcome, bytes(buf)))
    return results[0], results[1]


def _args(**changes: object) -> tuple[Any, ...]:
    """Return the worked example's arguments, with some changed."""
    fields: dict[str, object] = {
        "user_ref_num": 1,
        "side": b"B",
        "quantity": 100,
        "symbol": b"AAPL    ",
        "price": 1_502_500,
        "time_in_force": b"0",
        "display": b"Y",
        "capacity": b"A",
        "intermarket_sweep": b"N",
        "cross_type": b"N",
        "cl_ord_id": b"ORD1          ",
        "appendage": MIN_QTY_100,
    }
    fields.update(changes)
    return tuple(fields.values())


def test_pack_enter_order_when_spec_worked_example_then_its_56_bytes_after_the_buffer() -> None:
    write = _writer()
    buf = bytearray(b"prefix")
    assert write(buf, *_args()) == 6
    assert bytes(buf) == b"prefix" + SPEC_WORKED_EXAMPLE
    empty = bytearray()
    assert write(empty, *_args()[:-1]) == 0  # no appendage: Packet Length 48, Appendage Length 0
    assert bytes(empty) == b"\x00\x30" + SPEC_WORKED_EXAMPLE[2:48] + b"\x00\x00"


def test_pack_enter_order_when_random_and_bound_values_then_the_codecs_bytes() -> None:
    rng = random.Random(48)
    ints32 = [0, 1, 255, 256, 65_535, 2**31 - 1, 2**31, 2**32 - 1]
    ints64 = [0, 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63, 2**64 - 1]
    for _ in range(3_000):
        appendage = rng.choice([b"", MIN_QTY_100, rng.randbytes(rng.randrange(1, 40)), bytes(65_535 - 48)])
        symbol = rng.randbytes(rng.randrange(0, 11))  # short: zero-padded; long: cut at 8 (struct's 8s)
        cl_ord_id = rng.randbytes(rng.randrange(0, 17))
        args = _args(
            user_ref_num=rng.choice(ints32) if rng.random() < 0.5 else rng.randrange(2**32),
            side=bytes([rng.randrange(256)]),
            quantity=rng.choice(ints32) if rng.random() < 0.5 else rng.randrange(2**32),
            symbol=symbol if rng.random() < 0.7 else bytearray(symbol),
            price=rng.choice(ints64) if rng.random() < 0.5 else rng.randrange(2**64),
            time_in_force=bytes([rng.randrange(256)]),
            display=rng.choice([b"Y", b"N", b"\0"]),
            capacity=rng.choice([b"A", b"P", b"R"]),
            intermarket_sweep=rng.choice([b"Y", b"N"]),
            cross_type=rng.choice([b"N", b"O", b"C"]),
            cl_ord_id=cl_ord_id if rng.random() < 0.7 else bytearray(cl_ord_id),
            appendage=appendage if rng.random() < 0.8 else bytearray(appendage),
        )
        prefix = rng.randbytes(rng.randrange(0, 100))
        c_side, py_side = _both(prefix, args)
        assert c_side == py_side
        assert c_side[0] == len(prefix)


class _Index:
    """An int-like with ``__index__`` (struct takes it for an integer field)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


@pytest.mark.parametrize(
    "changes",
    [
        {"user_ref_num": -1},
        {"user_ref_num": 2**32},
        {"user_ref_num": 2**64},
        {"user_ref_num": 1.0},
        {"user_ref_num": "1"},
        {"user_ref_num": None},
        {"user_ref_num": _Index(7)},
        {"user_ref_num": _Index(2**32)},
        {"user_ref_num": True},
        {"quantity": -1},
        {"quantity": 2**32},
        {"quantity": 10**30},
        {"quantity": 1.5},
        {"price": -1},
        {"price": 2**64},
        {"price": -(2**70)},
        {"price": 1.5},
        {"price": "1"},
        {"price": _Index(2**64 - 1)},
        {"price": _Index(-5)},
        {"side": b""},
        {"side": b"BB"},
        {"side": "B"},
        {"side": bytearray(b"B")},
        {"side": 66},
        {"time_in_force": b""},
        {"display": None},
        {"capacity": b"AB"},
        {"intermarket_sweep": "Y"},
        {"cross_type": memoryview(b"N")},
        {"symbol": "AAPL"},
        {"symbol": memoryview(b"AAPL    ")},
        {"symbol": None},
        {"cl_ord_id": "ORD1"},
        {"cl_ord_id": 1},
        {"appendage": bytes(65_535 - 48)},
        {"appendage": bytes(65_535 - 47)},
        {"appendage": memoryview(MIN_QTY_100)},
        {"appendage": "abc"},
        {"appendage": 5},
        {"appendage": 0},
        {"appendage": None},
        {"appendage": [1, 2]},
    ],
    ids=lambda changes: "-".join(f"{name}={value!r}"[:40] for name, value in changes.items()),
)
def test_pack_enter_order_when_a_value_is_out_of_range_or_of_a_wrong_type_then_as_the_codec(
    changes: dict[str, object],
) -> None:
    c_side, py_side = _both(b"xy", _args(**changes))
    assert c_side == py_side  # the same error (type and text) and the same bytes left in the buffer


def test_pack_enter_order_when_the_buffer_is_exported_or_wrong_then_refused_as_the_codec() -> None:
    write = _writer()
    for pack in (write, _interpreted()):
        buf = bytearray(b"held")
        view = memoryview(buf)
        with pytest.raises(BufferError):
            pack(buf, *_args())
        view.release()
        assert buf == b"held"
    with pytest.raises(TypeError):
        write(bytes(4), *_args())
    with pytest.raises(TypeError):
        write(bytearray(), *_args()[:10])
    with pytest.raises(TypeError):
        write(bytearray(), *_args(), b"")


class _Growing:
    """A price whose ``__index__`` appends to the buffer being written (held by the writer: refused)."""

    def __init__(self, buf: bytearray) -> None:
        self.buf = buf

    def __index__(self) -> int:
        self.buf.extend(b"zz")
        return 5


def test_pack_enter_order_when_an_index_grows_the_buffer_while_written_then_refused_as_the_codec() -> None:
    outcomes = []
    for pack in (_writer(), _interpreted()):
        buf = bytearray(b"xy")
        with pytest.raises(BufferError) as raised:
            pack(buf, *_args(price=_Growing(buf)))
        outcomes.append((str(raised.value), bytes(buf)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == b"xy"  # the packet begun is dropped whole (fixouch48; before, 50 zeroed bytes stayed)


def test_adapter_when_compiled_then_the_c_writer_else_the_codecs() -> None:
    compiled = adapter._SAME is not None  # the other C extension the adapter takes with the compiled modules
    assert (adapter._PACK_ENTER is not codec.pack_enter_order) is compiled
    if compiled:
        assert type(adapter._PACK_ENTER).__name__ == "builtin_function_or_method"


def _writer_id() -> Any:
    """Return the C ``pack_enter_order_id``: the adapter's with the compiled modules, else loaded from the build."""
    if adapter._PACK_ENTER_ID is not None:
        return adapter._PACK_ENTER_ID
    found = sorted((native.BUILD / "venues" / "ouch").glob("_enter.*.so"))
    if not found or not native.MANIFEST.exists():
        pytest.skip("the C extension is not built (make venv builds it)")
    spec = importlib.util.spec_from_file_location("venues.ouch._enter", found[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pack_enter_order_id


def test_pack_enter_order_id_when_any_order_id_then_the_bytes_of_its_cl_ord_id() -> None:
    """The ClOrdID written from the order id is ``adapter._cl_ord_id``'s, at every length and at the bounds (14
    digits, then "Z" + base 36); everything else of the packet as ``pack_enter_order`` writes it."""
    write, write_id = _writer(), _writer_id()
    rng = random.Random(50)
    ids = [0, 1, 9, 10, 99_999, 10**13, 10**14 - 1, 10**14, 10**14 + 1, 36**12, 2**63, 2**64 - 1]
    ids += [10 ** rng.randrange(0, 20) + rng.randrange(10**6) for _ in range(2_000)]
    ids += [rng.randrange(2**64) for _ in range(2_000)]
    for order_id in ids:
        if order_id >= 2**64:
            continue
        args = list(_args())
        appendage = args.pop()
        expected = bytearray(b"head")
        by_id = bytearray(b"head")
        assert write(expected, *args[:10], adapter._cl_ord_id(order_id), appendage) == 4
        assert write_id(by_id, *args[:10], order_id, appendage) == 4
        assert bytes(by_id) == bytes(expected), order_id
        assert bytes(by_id[4 + 34 : 4 + 48]) == adapter._cl_ord_id(order_id)
    no_appendage = bytearray()
    assert write_id(no_appendage, *_args()[:10], 5) == 0
    assert bytes(no_appendage[34:48]) == b"5             " and len(no_appendage) == 50


def test_pack_enter_order_id_when_not_an_id_of_0_to_2_64_then_refused_and_the_buffer_as_it_was() -> None:
    write_id = _writer_id()
    for bad, error in (
        (-1, OverflowError),
        (2**64, OverflowError),
        ("12", TypeError),
        (b"12", TypeError),
        (None, TypeError),
    ):
        buf = bytearray(b"kept")
        with pytest.raises(error):
            write_id(buf, *_args()[:10], bad)
        assert buf == b"kept"


def test_adapter_when_compiled_then_the_clordid_written_from_the_id() -> None:
    compiled = adapter._SAME is not None
    assert (adapter._PACK_ENTER_ID is not None) is compiled
