"""The OUCH Enter Order packet in one call (C, ``venues/ouch/_enter.c``; built with the compiled modules)."""

def pack_enter_order(
    buf: bytearray,
    user_ref_num: int,
    side: bytes,
    quantity: int,
    symbol: bytes,
    price: int,
    time_in_force: bytes,
    display: bytes,
    capacity: bytes,
    intermarket_sweep: bytes,
    cross_type: bytes,
    cl_ord_id: bytes,
    appendage: bytes = b"",
    /,
) -> int:
    """Append an Unsequenced Data packet carrying an Enter Order to ``buf``; return the offset it starts at."""

def pack_enter_order_id(
    buf: bytearray,
    user_ref_num: int,
    side: bytes,
    quantity: int,
    symbol: bytes,
    price: int,
    time_in_force: bytes,
    display: bytes,
    capacity: bytes,
    intermarket_sweep: bytes,
    cross_type: bytes,
    order_id: int,
    appendage: bytes = b"",
    /,
) -> int:
    """``pack_enter_order`` with the ClOrdID written from ``order_id`` as ``adapter._cl_ord_id`` makes it (0 to
    2**64 - 1; another int: ``OverflowError``, anything else: ``TypeError``; ``buf`` left as it was)."""
