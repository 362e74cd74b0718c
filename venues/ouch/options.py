"""OUCH 5.0 optional appendage: TagValue elements (OUCH 5.0 spec, Appendix A "Optional Fields").

Each element is ``Length(u8) OptionTag(u8) OptionValue``, where Length counts the tag
byte and the value. ``Options`` holds every option defined in rev 1.04; tags we do
not know (for example 29/30 reported for rev 1.05) are kept raw in ``unknown`` so a
newer venue never makes a message undecodable.
"""

from __future__ import annotations

import struct
from typing import Final

import msgspec

from venues.ouch.errors import BAD_APPENDAGE, DecodeError


class Options(msgspec.Struct, frozen=True, gc=False):
    """The options present on one message; ``None`` means the tag was absent."""

    secondary_ord_ref_num: int | None = None  # 1, u64
    firm: str | None = None  # 2, alpha 4
    min_qty: int | None = None  # 3, u32
    customer_type: str | None = None  # 4, char
    max_floor: int | None = None  # 5, u32
    price_type: str | None = None  # 6, char
    peg_offset: int | None = None  # 7, signed price (i32, 4 implied decimals)
    discretion_price: int | None = None  # 9, price (u64)
    discretion_price_type: str | None = None  # 10, char
    discretion_peg_offset: int | None = None  # 11, signed price (i32)
    post_only: str | None = None  # 12, char
    random_reserves: int | None = None  # 13, u32
    route: str | None = None  # 14, alpha 4
    expire_time: int | None = None  # 15, u32 seconds
    trade_now: str | None = None  # 16, char
    handle_inst: str | None = None  # 17, char
    bbo_weight_indicator: str | None = None  # 18, char
    display_quantity: int | None = None  # 22, u32
    display_price: int | None = None  # 23, price (u64)
    group_id: int | None = None  # 24, u16
    shares_located: str | None = None  # 25, char
    locate_broker: str | None = None  # 26, alpha 4
    side: str | None = None  # 27, char
    user_ref_idx: int | None = None  # 28, u8
    unknown: tuple[tuple[int, bytes], ...] = ()
    """Tags not defined in rev 1.04, in arrival order, with their raw values."""


NO_OPTIONS: Final = Options()

# tag -> (field name, kind) where kind is a struct format char or "aN" for alpha of width N.
TAGS: Final[dict[int, tuple[str, str]]] = {
    1: ("secondary_ord_ref_num", "Q"),
    2: ("firm", "a4"),
    3: ("min_qty", "I"),
    4: ("customer_type", "c"),
    5: ("max_floor", "I"),
    6: ("price_type", "c"),
    7: ("peg_offset", "i"),
    9: ("discretion_price", "Q"),
    10: ("discretion_price_type", "c"),
    11: ("discretion_peg_offset", "i"),
    12: ("post_only", "c"),
    13: ("random_reserves", "I"),
    14: ("route", "a4"),
    15: ("expire_time", "I"),
    16: ("trade_now", "c"),
    17: ("handle_inst", "c"),
    18: ("bbo_weight_indicator", "c"),
    22: ("display_quantity", "I"),
    23: ("display_price", "Q"),
    24: ("group_id", "H"),
    25: ("shares_located", "c"),
    26: ("locate_broker", "a4"),
    27: ("side", "c"),
    28: ("user_ref_idx", "B"),
}

_STRUCTS: Final = {kind: struct.Struct(">" + kind) for kind in ("Q", "I", "i", "H", "B")}
_SIZES: Final = {
    tag: (int(kind[1:]) if kind[0] == "a" else 1 if kind == "c" else _STRUCTS[kind].size)
    for tag, (_, kind) in TAGS.items()
}
_ENCODE_ORDER: Final = tuple((tag, name, kind) for tag, (name, kind) in sorted(TAGS.items()))
_FIELD_TAG: Final = {name: tag for tag, (name, _) in TAGS.items()}


class OptionError(ValueError):
    """An option value cannot be encoded (a caller bug, never a peer's)."""


def _encode_value(tag: int, kind: str, value: object) -> bytes:
    if kind == "c":
        if not isinstance(value, str) or len(value) != 1:
            raise OptionError(f"option {tag} needs one character, got {value!r}")
        return value.encode("latin-1")
    if kind[0] == "a":
        width = int(kind[1:])
        if not isinstance(value, str):
            raise OptionError(f"option {tag} needs text, got {value!r}")
        raw = value.encode("ascii")
        if len(raw) > width:
            raise OptionError(f"option {tag} value {value!r} is longer than {width}")
        return raw.ljust(width)
    try:
        return _STRUCTS[kind].pack(value)
    except struct.error as exc:
        raise OptionError(f"option {tag} value {value!r}: {exc}") from None


def encode_option(tag: int, value: object) -> bytes:
    """Return one TagValue element for ``tag`` (a rev 1.04 tag) holding ``value``."""
    _, kind = TAGS[tag]
    raw = _encode_value(tag, kind, value)
    return bytes((len(raw) + 1, tag)) + raw


def encode_options(options: Options) -> bytes:
    """Return the appendage for ``options`` (elements in tag order, then unknown ones as given)."""
    if options is NO_OPTIONS:
        return b""
    parts: list[bytes] = []
    for tag, name, kind in _ENCODE_ORDER:
        value = getattr(options, name)
        if value is not None:
            raw = _encode_value(tag, kind, value)
            parts.append(bytes((len(raw) + 1, tag)))
            parts.append(raw)
    for tag, raw in options.unknown:
        if tag in TAGS or not 0 <= tag <= 255 or len(raw) > 254:
            raise OptionError(f"unknown option {tag} with {len(raw)} bytes cannot be encoded raw")
        parts.append(bytes((len(raw) + 1, tag)))
        parts.append(raw)
    return b"".join(parts)


def decode_options(buf: bytes | bytearray | memoryview, start: int, end: int) -> Options | DecodeError:
    """Decode the TagValue elements in ``buf[start:end]``."""
    values: dict[str, object] = {}
    unknown: list[tuple[int, bytes]] = []
    pos = start
    while pos < end:
        length = buf[pos]
        if length == 0:
            return DecodeError(BAD_APPENDAGE, f"option element at offset {pos} has length 0 (no tag)")
        stop = pos + 1 + length
        if stop > end:
            return DecodeError(BAD_APPENDAGE, f"option element at offset {pos} runs past the appendage")
        tag = buf[pos + 1]
        size = length - 1
        entry = TAGS.get(tag)
        if entry is None:
            unknown.append((tag, bytes(buf[pos + 2 : stop])))
            pos = stop
            continue
        name, kind = entry
        if size != _SIZES[tag]:
            return DecodeError(BAD_APPENDAGE, f"option {tag} ({name}) has {size} bytes, expected {_SIZES[tag]}")
        if name in values:
            return DecodeError(BAD_APPENDAGE, f"option {tag} ({name}) appears twice")
        if kind == "c":
            values[name] = chr(buf[pos + 2])
        elif kind[0] == "a":
            values[name] = bytes(buf[pos + 2 : stop]).decode("latin-1").rstrip(" ")
        else:
            (values[name],) = _STRUCTS[kind].unpack_from(buf, pos + 2)
        pos = stop
    if not values and not unknown:
        return NO_OPTIONS
    return Options(**values, unknown=tuple(unknown))  # type: ignore[arg-type]


def option_tag(field_name: str) -> int:
    """Return the OptionTag number of an ``Options`` field."""
    return _FIELD_TAG[field_name]
