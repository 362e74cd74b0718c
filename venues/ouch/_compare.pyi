"""One compare of two byte ranges, not sliced (C, ``venues/ouch/_compare.c``; built with the compiled modules)."""

def same(a: object, a_start: int, b: object, b_start: int, n: int) -> bool:
    """Return ``a[a_start:a_start + n] == b[b_start:b_start + n]`` for two buffers, read in place."""
