"""The per-order journal records' bytes in one C call (``gateway._journalpack``), with the compiled modules.

``MmapJournal.append`` runs twice per order round trip; with msgspec it makes a payload copy, a CRC call and
a header pack besides the encoding. ``gateway/_journalpack.c`` writes the header and the MessagePack body
msgspec's encoder makes (the same bytes: ``tests/test_journal_pack.py`` compares them for random records of
every type registered here) straight from the record's fields into the batch buffer. It handles the Struct
types registered below holding exact ints within int64/uint64, exact strs, None, bools and the members of
the enums registered here (written as msgspec's own bytes for each member); for any other record it writes
nothing and returns -1, and ``append`` encodes with msgspec as before (whose bytes, or error, are the reference).

``PACK_FIELDS`` and ``PACK_REQUEST`` write the same bytes from a record's parts, without the record:
``MmapJournal.append_fields`` and ``append_order_sent`` (the engine's per-order ``JVenueApplied`` and
``JRequest(JOrderSent)``) skip making and freeing a Struct each; -1 there, they make it and append it as before.
``PACK_FRAME`` writes a strategy-protocol frame of an order event (``FrameWriter.write``'s bytes: a 4-byte length,
no CRC) for ``Engine._deliver``, in place of msgspec's ``encode_into`` and ``struct.pack_into``.

Built by ``build_native.py`` into ``build/native/gateway/`` (``obs.native.EXTENSIONS``), on the import path only
with the compiled modules: pure Python, or nothing built, ``PACKER`` is None and the journal is as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

from gateway.journal_records import (
    JCancelQueued,
    JCancelRefused,
    JOrderCreated,
    JOrderRefused,
    JOrderSent,
    JReplaceRejected,
    JRequest,
    JSentCancel,
    JSentNew,
    JSentReplace,
    JVenueApplied,
    JVenueEvent,
)
from gateway.protocol.messages import Canceled, CancelRejected, Executed, OrderAccepted, OrderRejected, Replaced
from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.venue_events import (
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
)

PACKED: Final[tuple[type[msgspec.Struct], ...]] = (
    JRequest,
    JOrderSent,
    VenueAccepted,
    JVenueApplied,
    VenueExecuted,
    VenueCanceled,
    JSentCancel,
    JSentReplace,
    VenueReplaced,
    VenueRejected,
    VenueCancelRejected,
    JOrderCreated,
    JVenueEvent,
    JCancelQueued,
    JSentNew,
    JOrderRefused,
    JReplaceRejected,
    JCancelRefused,
    OrderAccepted,
    Executed,
    Canceled,
    Replaced,
    OrderRejected,
    CancelRejected,
)
"""The Struct types the C function writes: the journal's per-order records and venue events, and the strategy
protocol's order events (``PACK_FRAME``: ``Engine._deliver``'s frames)."""
CONSTANTS: Final = (*Side, *TimeInForce, *OrderType, *RejectSource)
"""The enum members the records hold (``OrderTicket``'s side, time in force and order type; a refusal's source)."""

Packer = Callable[[bytearray, int, object], int]
"""``append(buf, start, record)``: write the record's bytes at ``buf[start:]``, return their end (-1: not written)."""
PartsPacker = Callable[..., int]
"""``append_fields(buf, start, cls, *values)``: as ``append(buf, start, cls(*values))``;
``append_request(buf, start, strategy_id, req_seq, cls, *values)``: as ``append(buf, start, JRequest(strategy_id,
req_seq, cls(*values)))``."""


def prefix(cls: type[msgspec.Struct]) -> bytes:
    """Return msgspec's bytes before ``cls``'s first field value: the array header and the tag.

    Raises TypeError for a Struct the C function cannot write as msgspec does (not array_like, omit_defaults).
    """
    config = cls.__struct_config__
    fields = cls.__struct_fields__
    if not config.array_like or config.omit_defaults or not fields:
        raise TypeError(f"{cls.__name__}: not an array_like Struct with fields, without omit_defaults")
    head = (config.tag,) if config.tag is not None else ()
    encoded = msgspec.msgpack.encode((*head, *(None for _ in fields)))
    return encoded[: len(encoded) - len(fields)]  # each None is one byte


def register(module: object, types: tuple[type[msgspec.Struct], ...] = PACKED) -> None:
    """Register ``types`` (their prefixes and field slots), ``JRequest`` as the outer record of ``append_request``
    and ``CONSTANTS`` with the C extension ``module``."""
    for cls in types:
        fields = [getattr(cls, name) for name in cls.__struct_fields__]
        module.register(cls, prefix(cls), *fields)  # type: ignore[attr-defined]
    if JRequest in types:  # the outer record of append_request
        module.register_request(JRequest)  # type: ignore[attr-defined]
    for member in CONSTANTS:
        module.register_constant(member, msgspec.msgpack.encode(member))  # type: ignore[attr-defined]


def native_module() -> object | None:
    """Return the C extension with the records registered, or None when it is absent (pure Python)."""
    try:
        from gateway import _journalpack  # noqa: PLC0415 - optional: built with the compiled modules
    except ImportError:
        return None
    if not _journalpack.registered():
        register(_journalpack)
    return _journalpack


_NATIVE: Final = native_module()
PACKER: Final[Packer | None] = None if _NATIVE is None else _NATIVE.append  # type: ignore[attr-defined]
"""With the compiled modules, the C ``append``; else None (``MmapJournal.append`` encodes with msgspec)."""
PACK_FIELDS: Final[PartsPacker | None] = None if _NATIVE is None else _NATIVE.append_fields  # type: ignore[attr-defined]
"""With the compiled modules, the C ``append_fields``; else None (the record is made and appended)."""
PACK_REQUEST: Final[PartsPacker | None] = None if _NATIVE is None else _NATIVE.append_request  # type: ignore[attr-defined]
"""With the compiled modules, the C ``append_request``; else None (the records are made and appended)."""
PACK_FRAME: Final[Packer | None] = None if _NATIVE is None else _NATIVE.append_frame  # type: ignore[attr-defined]
"""With the compiled modules, the C ``append_frame(buf, start, message)``: a strategy-protocol frame (4-byte
length, MessagePack body: ``FrameWriter.write``'s bytes); else None."""
