"""Tell a replaying strategy's journal records from the others' by a few bytes, and pass over the others fast.

A far-back replay (``gateway.replay``) reads the journal from a position on, and most records there are
other strategies' (their requests, their orders' venue events). Decoding each one to learn that costs
the interpreter microseconds per record; here a record's first MessagePack bytes say it: its tag, then
the strategy id or the order id it begins with (a venue event's order id after its venue, its tag and its
``venue_seq``). ``skip_records`` walks the records of a buffer, each CRC-checked as every read checks it,
and stops at the first one that may concern the strategy. ``skip_order_records`` does the same for one
order (``gateway.replay.rebuild_order``: a late fill for an order released from memory). Compiled with mypyc
(``obs.native.MODULES``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Final

_MAX_RECORD_SIZE: Final = 1 << 20
"""As ``gateway.journal_read.MAX_RECORD_SIZE`` (a larger length is damage: the normal path reports it)."""


def _skip_str(buf: bytes, i: int) -> int:
    """Return where the MessagePack str at ``buf[i]`` ends (-1: not a str of up to 255 bytes)."""
    b = buf[i]
    if b & 0xE0 == 0xA0:
        return i + 1 + (b & 0x1F)
    if b == 0xD9:
        return i + 2 + buf[i + 1]
    return -1


def _int_size(b: int) -> int:
    """Return how many bytes follow the MessagePack int marker ``b`` (0: a fixint; -1: not an int)."""
    if b < 0x80 or b >= 0xE0:
        return 0
    if 0xCC <= b <= 0xCF:  # uint 8, 16, 32, 64
        return 1 << (b - 0xCC)
    if 0xD0 <= b <= 0xD3:  # int 8, 16, 32, 64
        return 1 << (b - 0xD0)
    return -1


def _read_uint(buf: bytes, i: int) -> int:
    """Return the non-negative MessagePack int at ``buf[i]`` (-1: anything else)."""
    b = buf[i]
    if b < 0x80:
        return b
    if b < 0xCC or b > 0xCF:
        return -1  # a negative int, or not an int
    size = _int_size(b)
    value = 0
    for k in range(i + 1, i + 1 + size):
        value = (value << 8) | buf[k]
    return value


def _venue_event_order(buf: bytes, at: int) -> int:
    """Return the order id of the venue event record (JVenueApplied, JVenueEvent) at ``buf[at]`` (-1: not read).

    Its layout: [tag, venue, [event tag, venue_seq, order_id, ...]]. Raises IndexError when cut short.
    """
    i = _skip_str(buf, at + 2)
    if i < 0 or buf[i] & 0xF0 != 0x90:
        return -1
    i = _skip_str(buf, i + 1)
    if i < 0:
        return -1
    size = _int_size(buf[i])
    if size < 0:
        return -1
    return _read_uint(buf, i + 1 + size)


def record_wanted(buf: bytes, at: int, sid: bytes, orders: Mapping[int, object]) -> bool:
    """Return whether the record whose payload starts at ``buf[at]`` may concern the strategy (then decode it).

    ``sid``: the strategy id as MessagePack (its length, then its bytes); ``orders``: its orders still open.
    Records of other strategies, of orders not in ``orders``, and the trading state, venue epoch and position
    adjustment records are not wanted; anything unexpected (another layout, a tag not known here) is.
    """
    try:
        if buf[at] & 0xF0 != 0x90:  # not a short array
            return True
        tag = buf[at + 1]
        if tag in {14, 7}:  # JVenueApplied, JVenueEvent: venue, [event tag, venue_seq, order_id, ...]
            order_id = _venue_event_order(buf, at)
            return order_id < 0 or order_id in orders
        if tag in {13, 8, 16}:  # JRequest, JStrategyEvent, JSeqAhead: the strategy id first
            return buf.startswith(sid, at + 2)
        if 2 <= tag <= 6 or tag in {9, 12}:  # the order id first
            order_id = _read_uint(buf, at + 2)
            return order_id < 0 or order_id in orders
        if tag in {1, 15}:  # JOrderCreated, JOrderSent: the order id, then the strategy id
            size = _int_size(buf[at + 2])
            return size < 0 or buf.startswith(sid, at + 3 + size)
        return tag not in {10, 11, 17}  # JTradingState, JVenueEpoch, JPositionAdjusted: no strategy's events
    except IndexError:  # cut short: decode it (the decoder judges it)
        return True


def order_record_wanted(buf: bytes, at: int, order_id: int) -> bool:
    """Return whether the record whose payload starts at ``buf[at]`` may concern order ``order_id`` (decode it).

    Wanted: the order's creation, every record naming it first (sent, refused, cancel, replace), a request
    carrying such a record (a JRequest: the strategy id, ``req_seq``, then the record), and its venue events.
    Not wanted: other orders' records, strategy events and requests that carry none (they move no order), and
    the trading state, venue epoch, ``seq`` ahead and position adjustment records; anything unexpected is.
    """
    try:
        if buf[at] & 0xF0 != 0x90:  # not a short array
            return True
        tag = buf[at + 1]
        if tag in {14, 7}:
            found = _venue_event_order(buf, at)
        elif tag in {1, 15} or 2 <= tag <= 6 or tag in {9, 12}:  # the order id first
            found = _read_uint(buf, at + 2)
        elif tag == 13:  # JRequest: strategy id, req_seq, then the record that decided it (or nil)
            i = _skip_str(buf, at + 2)
            if i < 0:
                return True
            size = _int_size(buf[i])
            if size < 0:
                return True
            i += 1 + size
            b = buf[i]
            if b == 0xC0:  # no record (a MassCancel's answer, a request that left none)
                return False
            if b & 0xF0 != 0x90:
                return True
            inner = buf[i + 1]
            if inner == 8:  # JStrategyEvent: an answer, no order moved
                return False
            if inner not in {1, 15, 3, 4, 5, 6}:
                return True
            found = _read_uint(buf, i + 2)
        else:  # JStrategyEvent, JTradingState, JVenueEpoch, JSeqAhead, JPositionAdjusted: no order moved
            return tag not in {8, 10, 11, 16, 17}
        return found < 0 or found == order_id
    except IndexError:  # cut short: decode it (the decoder judges it)
        return True


def may_add_order(buf: bytes, at: int) -> bool:
    """Return whether the record whose payload starts at ``buf[at]`` may create an order (or is not understood).

    A request, a created or sent order: after it a replay wants the new order's records too.
    """
    try:
        return buf[at] & 0xF0 != 0x90 or buf[at + 1] in {1, 13, 15}
    except IndexError:
        return True


def skip_records(
    buf: bytes, at: int, end: int, sid: bytes, orders: Mapping[int, object], limit: int
) -> tuple[int, int]:
    """Pass over up to ``limit`` whole, CRC-valid records from ``buf[at]`` (a header) on that are not wanted.

    Stop before the first that is wanted, damaged or not wholly in ``buf[:end]`` (the caller's normal path
    reads it). Return (where it stopped, records passed over).
    """
    return _skip(buf, at, end, sid, orders, -1, limit)


def skip_order_records(buf: bytes, at: int, end: int, order_id: int, limit: int) -> tuple[int, int]:
    """As ``skip_records``, for the records that cannot concern order ``order_id`` (``order_record_wanted``)."""
    return _skip(buf, at, end, b"", {}, order_id, limit)


def _skip(
    buf: bytes, at: int, end: int, sid: bytes, orders: Mapping[int, object], order_id: int, limit: int
) -> tuple[int, int]:
    """Pass over unwanted records: the strategy's filter, or (``order_id`` >= 0) the one order's."""
    crc32 = zlib.crc32
    view = memoryview(buf)
    n = 0
    while n < limit and end - at >= 8:
        length = (buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]
        stop = at + 8 + length
        if length == 0 or length > _MAX_RECORD_SIZE or stop > end:
            break
        crc = (buf[at + 4] << 24) | (buf[at + 5] << 16) | (buf[at + 6] << 8) | buf[at + 7]
        if crc32(view[at + 8 : stop]) != crc:
            break
        if order_id >= 0:
            if order_record_wanted(buf, at + 8, order_id):
                break
        elif record_wanted(buf, at + 8, sid, orders):
            break
        at = stop
        n += 1
    return at, n
