"""``codec.accepted_core``'s read of a 64-byte OUCH Order Accepted in one call (C, ``venues/ouch/_accepted.c``;
built with the compiled modules)."""

from venues.ouch.codec import Buffer

def core(buf: Buffer, /) -> tuple[int, int, int, int, str] | None:
    """Return ``accepted_core``'s five fields of a 64-byte Accepted it reads; None for any other message."""
