"""The fixed fields of a 64-byte OUCH Order Accepted in one call (C, ``venues/ouch/_accepted.c``; built with the
compiled modules)."""

from venues.ouch.codec import Buffer

def core(buf: Buffer, /) -> tuple[int, int, int, int, int, int, int] | None:
    """Return ``codec._ACCEPTED_CORE.unpack_from(buf)`` with the side and the state as ints; None unless 64 bytes."""
