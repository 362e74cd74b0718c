"""A journal record's bytes in one call (C, ``gateway/_journalpack.c``; built with the compiled modules)."""

def append(buf: bytearray, start: int, record: object) -> int:
    """Write ``record``'s header and body at ``buf[start:]``, cut ``buf`` after them; return their end (-1: not)."""

def append_fields(buf: bytearray, start: int, cls: type, *values: object) -> int:
    """As ``append(buf, start, cls(*values))``, without making the record (-1: not written)."""

def append_request(buf: bytearray, start: int, first: object, second: object, cls: type, *values: object) -> int:
    """As ``append(buf, start, R(first, second, cls(*values), None))``, ``R`` given to ``register_request``."""

def append_frame(buf: bytearray, start: int, message: object) -> int:
    """Write ``message``'s frame (4-byte length, MessagePack body) at ``buf[start:]``; return its end (-1: not)."""

def register_request(cls: type) -> None:
    """Make ``cls`` (registered, four fields) the outer record ``append_request`` writes."""

def register(cls: type, prefix: bytes, *fields: object) -> None:
    """Write instances of exactly ``cls`` as ``prefix`` then each field's value (``fields``: member descriptors)."""

def register_constant(obj: object, encoded: bytes) -> None:
    """Write this very object ``obj`` (an enum member) as ``encoded``."""

def registered() -> tuple[type, ...]:
    """Return the registered types, in the order they were registered."""
