"""A journal record's bytes in one call (C, ``gateway/_journalpack.c``; built with the compiled modules)."""

def append(buf: bytearray, start: int, record: object) -> int:
    """Write ``record``'s header and body at ``buf[start:]``, cut ``buf`` after them; return their end (-1: not)."""

def register(cls: type, prefix: bytes, *fields: object) -> None:
    """Write instances of exactly ``cls`` as ``prefix`` then each field's value (``fields``: member descriptors)."""

def register_constant(obj: object, encoded: bytes) -> None:
    """Write this very object ``obj`` (an enum member) as ``encoded``."""

def registered() -> tuple[type, ...]:
    """Return the registered types, in the order they were registered."""
