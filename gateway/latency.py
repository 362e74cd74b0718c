"""Per-stage latency histograms: O(1) counting on the hot path, a copy of the counts for status, percentiles elsewhere.

Every stage is a log-linear histogram (``obs.histogram``: the HdrHistogram layout, 3,840 buckets,
0.78 % resolution), all stages side by side in the flat layout ``STAGES.index(stage) * BUCKETS + bucket``:

* ``lows``: one view per stage, one byte per bucket, incremented in the common case (a count
  up to 256 is a cached small int in CPython: no allocation); joined, they are the flat ``low``;
* ``mid``: one flat view, the 256s carried out of a low byte when it wraps (once per 256
  counts of a bucket);
* ``carried``: a dict, bucket index -> multiples of 65,536 carried out of ``mid`` when its byte wraps
  (only buckets that reached 65,536 counts have an entry: a handful in a day).

Both are views of one mapping (``gateway.stats_map``): a sealed memfd the readers map in the gateway (``status`` and
``metrics`` replies then leave them out), anonymous elsewhere; a carry is written between two writes of the
mapping's ``seq``.

A bucket's count is ``low + 256 * mid + carried``. The status snapshot sends the stages' low bytes and
``mid`` as they are (byte ranges the kernel copies into the admin reply, ``gateway.snapshot``) and the
small dict; ``snapshot`` copies them into a ``LatencySnapshot`` (``mid`` folded into its
``carried``). The percentiles are computed by whoever reads them (``gateway status``,
``gateway metrics``, the benchmark), never on the event loop.

The order path (``OrderStages``) makes one call per order, ``add``, before the venue write: it
appends the order's five marks to a list (cheaper than the ring store it replaces). ``wire``,
called once per batch after the venue write, buckets the batch's orders into the eight order
stages. Counts are since start-up or the last ``reset`` (admin ``latency_reset``).

With the compiled modules, the C extension ``gateway._stagecount`` (``COUNTER``) does a batch's increments
in one call (``NativeOrderStages.wire``, ``StageLatencies.delivered``): the same bytes and carries as the
inline increments, which pure Python keeps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, SupportsIndex, cast

from gateway.latency_snapshot import PERCENTILES
from gateway.latency_snapshot import LatencySnapshot as LatencySnapshot  # noqa: PLC0414 - re-exported
from gateway.stats_map import SEQ, WRAPS, StatsMap
from obs.histogram import (
    BUCKETS,
    RANGE_BITS,
    SUB_BITS,
    TABLE_LIMIT,
    TABLE_SHIFT,
    bucket_index,
    index_table,
)

STAGES: Final = (
    "ingress_to_risk",
    "risk_to_wire",
    "ingress_to_wire",
    "venue_to_strategy",
    "decode",
    "order_checks",
    "risk",
    "encode",
    "encode_to_wire",
    "journal_write",
    "venue_write",
    "strategy_write",
)
"""Per order (strategy -> venue), from the gateway's own monotonic timestamps:

* ``decode``: strategy bytes read -> the read's frames decoded (the whole read);
* ``order_checks``: decoded -> risk starts (order created and journaled, entitlement, venue checks);
* ``risk``: the risk chain (``check_and_commit_new``);
* ``encode``: the venue adapter's ``send_new`` (venue encoding into its buffer);
* ``encode_to_wire``: encoded -> the venue socket write returned (the rest of the read's orders,
  the journal write, the socket write);
* ``ingress_to_risk`` / ``risk_to_wire`` / ``ingress_to_wire``: the same path in three parts.

Per venue event (venue -> strategy): ``venue_to_strategy``: the adapter hands the decoded event
to the engine -> the strategy socket write returned (journal, order state, event encoding, write).

Per batch (one ``flush``): ``journal_write`` (from the batch's last order encoded: its journal record and the
batch's copy into the journal, the flush reading no clock of its own to start, unless a request was carried out
after that order: then from the flush's own clock read), ``venue_write``
(socket writes to venues), ``strategy_write`` (socket writes to strategies after venue events).
"""

_BASE: Final = {stage: k * BUCKETS for k, stage in enumerate(STAGES)}
_DECODE: Final = _BASE["decode"]
_CHECKS: Final = _BASE["order_checks"]
_RISK: Final = _BASE["risk"]
_ENCODE: Final = _BASE["encode"]
_IN_RISK: Final = _BASE["ingress_to_risk"]
_IN_WIRE: Final = _BASE["ingress_to_wire"]
_RISK_WIRE: Final = _BASE["risk_to_wire"]
_ENCODE_WIRE: Final = _BASE["encode_to_wire"]
_JOURNAL_WRITE: Final = _BASE["journal_write"]
_VENUE_WRITE: Final = _BASE["venue_write"]
_STRATEGY_WRITE: Final = _BASE["strategy_write"]
_VENUE_TO_STRATEGY: Final = _BASE["venue_to_strategy"]
_LIMIT: Final = TABLE_LIMIT
assert TABLE_SHIFT == 3, "OrderStages.wire shifts by 3"

Counter = Callable[..., None]
"""``gateway._stagecount.count(stages, mid, carried, times, *buckets)``: the C extension's increments in one call;
also ``count_orders(stages, mid, carried, t_wire, marks, *first)``: a batch of orders' buckets found and counted."""


def native_counter() -> Counter | None:
    """Return the C extension's ``count``, or None when it is absent (pure Python, or not built)."""
    try:
        from gateway._stagecount import count  # noqa: PLC0415 - optional: built with the compiled modules
    except ImportError:
        return None
    return count


def native_batch_counter() -> Counter | None:
    """Return the C extension's ``count_orders`` (checked against ``obs.histogram``'s layout), or None when absent."""
    try:
        from gateway import _stagecount  # noqa: PLC0415 - optional: built with the compiled modules
    except ImportError:
        return None
    return orders_counter(_stagecount)


def orders_counter(module: object) -> Counter:
    """Return ``module.count_orders`` once its histogram layout is seen to be ``obs.histogram``'s."""
    layout = (
        getattr(module, "SUB_BITS", None),
        getattr(module, "RANGE_BITS", None),
        getattr(module, "TABLE_LIMIT", None),
    )
    if layout != (SUB_BITS, RANGE_BITS, TABLE_LIMIT):
        raise ImportError(f"gateway._stagecount's histogram layout {layout} is not obs.histogram's")
    return cast(Counter, getattr(module, "count_orders"))  # noqa: B009 - an optional C extension's function


COUNTER: Final = native_counter()
"""With the compiled modules, the C increments (``NativeOrderStages``, ``StageLatencies.delivered``); else None."""
BATCH_COUNTER: Final = native_batch_counter() if COUNTER is not None else None
"""With the compiled modules, ``count_orders`` (``NativeOrderStages.wire`` of two orders or more); else None."""


class StageHistogram:
    """One per-batch stage (journal, venue and strategy writes; venue to strategy)."""

    __slots__ = ("_base", "_buckets", "_carried", "_control", "_counts", "_mid", "_table")

    def __init__(self, latencies: StageLatencies, stage: str) -> None:
        self._control = latencies.control
        self._mid = latencies.mid
        self._carried = latencies.carried
        self._base = _BASE[stage]
        self._table = latencies.table
        self._buckets = latencies.buckets
        self._counts = latencies.stage_counts(stage)

    def record(self, value_ns: int) -> None:
        """Count one sample (``StageLatencies.count`` inline: one call per sample on the hot path)."""
        counts = self._counts
        if 0 <= value_ns < TABLE_LIMIT:
            bucket = self._buckets[value_ns >> TABLE_SHIFT]
            value = counts[bucket] + 1
            if value > 255:  # the byte wraps: carry 256
                carry(self._control, self._mid, self._carried, self._base + bucket.__index__(), 1, counts, bucket, 0)
                value = 0
            counts[bucket] = value
            return
        index = bucket_index(value_ns)
        value = counts[index] + 1
        if value > 255:
            carry(self._control, self._mid, self._carried, self._base + index, 1, counts, index, 0)
            value = 0
        counts[index] = value

    def record_n(self, value_ns: int, times: int) -> None:
        """Count the same sample ``times`` times (one per event of a batch)."""
        if 0 <= value_ns < TABLE_LIMIT:
            index = self._table[value_ns >> TABLE_SHIFT]
        else:
            index = bucket_index(value_ns)
        counts = self._counts
        value = counts[index] + times
        if value > 255:
            carry(self._control, self._mid, self._carried, self._base + index, value >> 8, counts, index, value & 255)
            value &= 255
        counts[index] = value


class OrderStages:
    """The eight per-order stages: ``add`` per order (before the venue write), ``wire`` per batch (after it)."""

    __slots__ = (
        "_buckets",
        "_c_checks",
        "_c_decode",
        "_c_encode",
        "_c_encode_wire",
        "_c_in_risk",
        "_c_in_wire",
        "_c_journal_write",
        "_c_risk",
        "_c_risk_wire",
        "_c_venue_write",
        "_carried",
        "_control",
        "_count",
        "_lows",
        "_marks",
        "_mid",
        "_pending",
        "_t_checked",
        "_t_decoded",
        "_t_encoded",
        "_t_in",
        "_t_risk",
        "orders",
    )

    def __init__(self, latencies: StageLatencies) -> None:
        self._carried = latencies.carried
        self._control = latencies.control
        self._lows = latencies.lows
        self._mid = latencies.mid
        self._count = latencies.count
        self._buckets = latencies.buckets
        counts = latencies.stage_counts
        self._c_decode = counts("decode")
        self._c_in_wire = counts("ingress_to_wire")
        self._c_checks = counts("order_checks")
        self._c_risk = counts("risk")
        self._c_encode = counts("encode")
        self._c_risk_wire = counts("risk_to_wire")
        self._c_encode_wire = counts("encode_to_wire")
        self._c_in_risk = counts("ingress_to_risk")
        self._c_journal_write = counts("journal_write")
        self._c_venue_write = counts("venue_write")
        self._pending = 0
        """Orders added since the last ``wire``: the first one's marks in the five ``_t_*`` fields, the others'
        in ``_marks`` (compiled, the fields are plain machine integers: one order per batch, the ping-pong
        case, needs no list, no tuple and no int object)."""
        self._t_in = 0
        self._t_decoded = 0
        self._t_checked = 0
        self._t_risk = 0
        self._t_encoded = 0
        self._marks: list[int] = []
        self.orders = 0
        """Orders counted since start-up or the last reset."""

    def add(self, t_in: int, t_decoded: int, t_checked: int, t_risk: int, t_encoded: int) -> None:
        """Note one order's marks up to its encoding (``wire`` adds the write time and counts it).

        ``Engine._on_new_order`` does the same inline (keep the two alike).
        """
        if self._pending:
            self._marks += (t_in, t_decoded, t_checked, t_risk, t_encoded)
        else:
            self._t_in = t_in
            self._t_decoded = t_decoded
            self._t_checked = t_checked
            self._t_risk = t_risk
            self._t_encoded = t_encoded
        self._pending += 1

    def wire(self, t_wire: int, t_flush: int = -1, t_journal: int = -1) -> None:
        """Count every order added since the previous call in each of its stages, written at ``t_wire``.

        With ``t_flush`` (the flush began) and ``t_journal`` (the journal was written), also count the
        batch's ``journal_write`` and ``venue_write`` (what two ``StageHistogram.record`` calls
        count, without the calls).

        The orders of one batch normally come from one strategy read, so they share ``t_in`` and
        ``t_decoded``: ``decode`` and ``ingress_to_wire`` are then counted once with the batch's
        weight. The six other stages take one bucket increment each per order, written out
        rather than looped. Each increment reads and writes the stage's own ``bytearray`` at the
        bucket object the table holds (no stage offset is added, so compiled code boxes no index)
        and adds 1 as a machine integer, testing for 256 itself: no ``try``, and no generic add
        (mypyc has no native ``bytearray`` item access; a ``bytearray``'s generic get and set cost
        about two thirds of a ``memoryview``'s, docs/performance.md 9a, round 10).
        """
        buckets = self._buckets
        if t_flush >= 0:
            value = t_journal - t_flush
            bucket: SupportsIndex = buckets[value >> 3] if 0 <= value < _LIMIT else bucket_index(value)
            counts = self._c_journal_write
            value = counts[bucket] + 1
            if value > 255:  # the byte wraps: carry 256 (rare)
                self._carry(_JOURNAL_WRITE, bucket)
                value = 0
            counts[bucket] = value
            value = t_wire - t_journal
            bucket = buckets[value >> 3] if 0 <= value < _LIMIT else bucket_index(value)
            counts = self._c_venue_write
            value = counts[bucket] + 1
            if value > 255:  # the byte wraps: carry 256 (rare)
                self._carry(_VENUE_WRITE, bucket)
                value = 0
            counts[bucket] = value
        orders = self._pending
        if not orders:
            return
        self._pending = 0
        self.orders += orders
        t_in = self._t_in
        t_decoded = self._t_decoded
        t_checked = self._t_checked
        t_risk = self._t_risk
        t_encoded = self._t_encoded
        if orders == 1:  # one order in the batch (ping-pong): its marks are fields, no list
            if t_in <= t_decoded <= t_checked <= t_risk <= t_encoded <= t_wire < t_decoded + _LIMIT:
                decode = t_decoded - t_in
                bucket = buckets[decode >> 3] if decode < _LIMIT else bucket_index(decode)
                counts = self._c_decode
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_DECODE, bucket)
                    value = 0
                counts[bucket] = value
                in_wire = t_wire - t_in
                bucket = buckets[in_wire >> 3] if in_wire < _LIMIT else bucket_index(in_wire)
                counts = self._c_in_wire
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_IN_WIRE, bucket)
                    value = 0
                counts[bucket] = value
                # the six other stages (every one but ingress_to_risk is at most t_wire - t_decoded: in the table)
                bucket = buckets[(t_checked - t_decoded) >> 3]
                counts = self._c_checks
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_CHECKS, bucket)
                    value = 0
                counts[bucket] = value
                bucket = buckets[(t_risk - t_checked) >> 3]
                counts = self._c_risk
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_RISK, bucket)
                    value = 0
                counts[bucket] = value
                bucket = buckets[(t_encoded - t_risk) >> 3]
                counts = self._c_encode
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_ENCODE, bucket)
                    value = 0
                counts[bucket] = value
                bucket = buckets[(t_wire - t_risk) >> 3]
                counts = self._c_risk_wire
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_RISK_WIRE, bucket)
                    value = 0
                counts[bucket] = value
                bucket = buckets[(t_wire - t_encoded) >> 3]
                counts = self._c_encode_wire
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_ENCODE_WIRE, bucket)
                    value = 0
                counts[bucket] = value
                in_risk = t_risk - t_in
                bucket = buckets[in_risk >> 3] if in_risk < _LIMIT else bucket_index(in_risk)
                counts = self._c_in_risk
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_IN_RISK, bucket)
                    value = 0
                counts[bucket] = value
            else:  # a stage of a millisecond or more, or marks out of order (the arithmetic clamps)
                self._count_slowly(
                    (
                        _DECODE + bucket_index(t_decoded - t_in),
                        _IN_WIRE + bucket_index(t_wire - t_in),
                        _CHECKS + bucket_index(t_checked - t_decoded),
                        _RISK + bucket_index(t_risk - t_checked),
                        _ENCODE + bucket_index(t_encoded - t_risk),
                        _IN_RISK + bucket_index(t_risk - t_in),
                        _RISK_WIRE + bucket_index(t_wire - t_risk),
                        _ENCODE_WIRE + bucket_index(t_wire - t_encoded),
                    )
                )
            return
        marks = self._marks
        marks[0:0] = (t_in, t_decoded, t_checked, t_risk, t_encoded)  # the first order's marks in front
        if marks[0] == marks[-5] and marks[1] == marks[-4]:  # one read (marks only grow): shared marks
            decode = marks[1] - marks[0]
            bucket = buckets[decode >> 3] if 0 <= decode < _LIMIT else bucket_index(decode)
            counts = self._c_decode
            value = counts[bucket] + orders
            if value > 255:  # past 255: the carrying add
                self._count(_DECODE + bucket.__index__(), orders)
            else:
                counts[bucket] = value
            in_wire = t_wire - marks[0]
            bucket = buckets[in_wire >> 3] if 0 <= in_wire < _LIMIT else bucket_index(in_wire)
            counts = self._c_in_wire
            value = counts[bucket] + orders
            if value > 255:
                self._count(_IN_WIRE + bucket.__index__(), orders)
            else:
                counts[bucket] = value
        else:
            count = self._count
            for k in range(0, len(marks), 5):
                count(_DECODE + bucket_index(marks[k + 1] - marks[k]), 1)
                count(_IN_WIRE + bucket_index(t_wire - marks[k]), 1)
        it = iter(marks)
        for t_in, t_decoded, t_checked, t_risk, t_encoded in zip(it, it, it, it, it, strict=True):
            if t_in <= t_decoded <= t_checked <= t_risk <= t_encoded <= t_wire < t_decoded + _LIMIT:
                # every stage but ingress_to_risk is at most t_wire - t_decoded: within the table
                bucket = buckets[(t_checked - t_decoded) >> 3]
                counts = self._c_checks
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_CHECKS, bucket)
                    value = 0
                counts[bucket] = value
                bucket = buckets[(t_risk - t_checked) >> 3]
                counts = self._c_risk
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_RISK, bucket)
                    value = 0
                counts[bucket] = value
                bucket = buckets[(t_encoded - t_risk) >> 3]
                counts = self._c_encode
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_ENCODE, bucket)
                    value = 0
                counts[bucket] = value
                bucket = buckets[(t_wire - t_risk) >> 3]
                counts = self._c_risk_wire
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_RISK_WIRE, bucket)
                    value = 0
                counts[bucket] = value
                bucket = buckets[(t_wire - t_encoded) >> 3]
                counts = self._c_encode_wire
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_ENCODE_WIRE, bucket)
                    value = 0
                counts[bucket] = value
                in_risk = t_risk - t_in
                bucket = buckets[in_risk >> 3] if in_risk < _LIMIT else bucket_index(in_risk)
                counts = self._c_in_risk
                value = counts[bucket] + 1
                if value > 255:  # the byte wraps: carry 256 (rare)
                    self._carry(_IN_RISK, bucket)
                    value = 0
                counts[bucket] = value
            else:  # a stage of a millisecond or more, or marks out of order (the arithmetic clamps)
                self._count_slowly(
                    (
                        _CHECKS + bucket_index(t_checked - t_decoded),
                        _RISK + bucket_index(t_risk - t_checked),
                        _ENCODE + bucket_index(t_encoded - t_risk),
                        _IN_RISK + bucket_index(t_risk - t_in),
                        _RISK_WIRE + bucket_index(t_wire - t_risk),
                        _ENCODE_WIRE + bucket_index(t_wire - t_encoded),
                    )
                )
        marks.clear()

    def _count_slowly(self, indexes: tuple[int, ...]) -> None:
        """Count one sample in each bucket of ``indexes``."""
        count = self._count
        for index in indexes:
            count(index, 1)

    def _carry(self, base: int, bucket: SupportsIndex) -> None:
        """Bucket ``bucket`` of the stage at ``base`` holds 255 and counts one more: carry 256 and write its 0."""
        low = self._lows[base // BUCKETS]
        carry(self._control, self._mid, self._carried, base + bucket.__index__(), 1, low, bucket, 0)

    def reset(self) -> None:
        """Forget orders added but not yet written."""
        self._pending = 0
        self._marks.clear()
        self.orders = 0


class NativeOrderStages(OrderStages):
    """``OrderStages`` whose increments are one call of the C extension per batch (``gateway._stagecount``).

    Compiled, each ``counts[bucket] + 1`` / ``counts[bucket] = value`` of ``OrderStages.wire`` is a generic
    get and a generic set (mypyc has no native ``bytearray`` item access). One order (ping-pong): its
    buckets are found as there (native arithmetic, the table's int objects) and handed to ``count``
    together. Two orders or more: ``count_orders`` finds every order's buckets from the marks itself (the
    table's bucket of ``d`` is ``bucket_index(d | 7)``) and counts them, one call per batch. Both increment
    the same bytes with the same carries. Used only with the compiled modules (``StageLatencies``): the
    pure-Python path keeps ``OrderStages.wire`` and its call count.
    """

    __slots__ = ("_all", "_batch", "_counter", "_flush", "_order")

    def __init__(self, latencies: StageLatencies, counter: Counter, batch: Counter) -> None:
        super().__init__(latencies)
        self._counter = counter
        self._batch = batch
        """``count_orders``: a batch of two orders or more, every order's buckets found in C."""
        lows = latencies.lows
        journal = (lows[_JOURNAL_WRITE // BUCKETS], _JOURNAL_WRITE, lows[_VENUE_WRITE // BUCKETS], _VENUE_WRITE)
        shared = (lows[_DECODE // BUCKETS], _DECODE, lows[_IN_WIRE // BUCKETS], _IN_WIRE)
        six: tuple[object, ...] = ()
        for base in (_CHECKS, _RISK, _ENCODE, _RISK_WIRE, _ENCODE_WIRE, _IN_RISK):
            six += (lows[base // BUCKETS], base)
        self._flush: tuple[object, ...] = journal
        """``journal_write`` and ``venue_write``: the batch's two (``count``'s ``(low, base, ...)``)."""
        self._order: tuple[object, ...] = shared + six
        """An order's eight stages: ``decode``, ``ingress_to_wire`` (once per batch with its weight when its orders
        share one read), then the six counted per order (``order_checks`` ... ``ingress_to_risk``)."""
        self._all: tuple[object, ...] = journal + shared + six
        """The batch of one order (ping-pong): its eight and the batch's two, in one call."""

    def wire(self, t_wire: int, t_flush: int = -1, t_journal: int = -1) -> None:
        """Count what ``OrderStages.wire`` counts: one ``count`` call for one order, one ``count_orders`` for more."""
        buckets = self._buckets
        counter = self._counter
        mid = self._mid
        carried = self._carried
        orders = self._pending
        flushed = t_flush >= 0
        journal: SupportsIndex = 0
        venue: SupportsIndex = 0
        if flushed:
            value = t_journal - t_flush
            journal = buckets[value >> 3] if 0 <= value < _LIMIT else bucket_index(value)
            value = t_wire - t_journal
            venue = buckets[value >> 3] if 0 <= value < _LIMIT else bucket_index(value)
        if not orders:
            if flushed:
                counter(self._flush, mid, carried, 1, journal, venue)
            return
        self._pending = 0
        self.orders += orders
        t_in = self._t_in
        t_decoded = self._t_decoded
        t_checked = self._t_checked
        t_risk = self._t_risk
        t_encoded = self._t_encoded
        if orders == 1:  # one order in the batch (ping-pong): its marks are fields, no list
            b_decode: SupportsIndex
            b_in_wire: SupportsIndex
            b_in_risk: SupportsIndex
            b_checks: SupportsIndex
            b_risk: SupportsIndex
            b_encode: SupportsIndex
            b_risk_wire: SupportsIndex
            b_encode_wire: SupportsIndex
            if t_in <= t_decoded <= t_checked <= t_risk <= t_encoded <= t_wire < t_decoded + _LIMIT:
                decode = t_decoded - t_in
                in_wire = t_wire - t_in
                in_risk = t_risk - t_in
                b_decode = buckets[decode >> 3] if decode < _LIMIT else bucket_index(decode)
                b_in_wire = buckets[in_wire >> 3] if in_wire < _LIMIT else bucket_index(in_wire)
                b_in_risk = buckets[in_risk >> 3] if in_risk < _LIMIT else bucket_index(in_risk)
                # the five others are at most t_wire - t_decoded: in the table
                b_checks = buckets[(t_checked - t_decoded) >> 3]
                b_risk = buckets[(t_risk - t_checked) >> 3]
                b_encode = buckets[(t_encoded - t_risk) >> 3]
                b_risk_wire = buckets[(t_wire - t_risk) >> 3]
                b_encode_wire = buckets[(t_wire - t_encoded) >> 3]
            else:  # a stage of a millisecond or more, or marks out of order (the arithmetic clamps)
                b_decode = bucket_index(t_decoded - t_in)
                b_in_wire = bucket_index(t_wire - t_in)
                b_in_risk = bucket_index(t_risk - t_in)
                b_checks = bucket_index(t_checked - t_decoded)
                b_risk = bucket_index(t_risk - t_checked)
                b_encode = bucket_index(t_encoded - t_risk)
                b_risk_wire = bucket_index(t_wire - t_risk)
                b_encode_wire = bucket_index(t_wire - t_encoded)
            if flushed:
                counter(
                    self._all, mid, carried, 1, journal, venue, b_decode, b_in_wire,
                    b_checks, b_risk, b_encode, b_risk_wire, b_encode_wire, b_in_risk,
                )  # fmt: skip
            else:
                counter(
                    self._order, mid, carried, 1, b_decode, b_in_wire,
                    b_checks, b_risk, b_encode, b_risk_wire, b_encode_wire, b_in_risk,
                )  # fmt: skip
            return
        if flushed:
            counter(self._flush, mid, carried, 1, journal, venue)
        # every order of the batch in one call: its buckets found there as here, the marks list emptied
        self._batch(self._order, mid, carried, t_wire, self._marks, t_in, t_decoded, t_checked, t_risk, t_encoded)


class StageLatencies:
    """Every stage's histogram; the engine records, ``snapshot`` copies."""

    def __init__(
        self, counter: Counter | None = COUNTER, batch: Counter | None = BATCH_COUNTER, shared: bool = False
    ) -> None:
        """Make the arrays; ``counter`` and ``batch`` (default: the C extension's ``count`` and ``count_orders``
        when built with the compiled modules, else None) count the order stages and ``delivered`` in one call
        each, None the inline increments. ``shared``: the counts live in a sealed memfd (``gateway.stats_map``:
        readers map it; raises ``OSError`` if it cannot be made); else an anonymous mapping."""
        self.table = index_table()
        self.buckets = cast(list[SupportsIndex], self.table)
        """The same table typed for indexing: compiled code takes its int objects as they are (no unboxing)."""
        self.storage = StatsMap(len(STAGES), shared)
        """The mapping the counts live in (``gateway.stats_map``): ``lows`` and ``mid`` are views of it."""
        self.lows = self.storage.lows
        """Each stage's low bytes, one per bucket, in ``STAGES`` order: together the flat ``low`` layout
        (``index = STAGES.index(stage) * BUCKETS + bucket``) that the snapshot sends as they are."""
        self.mid = self.storage.mid
        """The 256s of each bucket, one byte each (``carry``), in the flat layout."""
        self.control = self.storage.control
        """The mapping's header words: ``seq`` (odd while a carry is written) and ``wraps`` (``carried`` changes)."""
        self.carried: dict[int, int] = {}
        """The 65,536s of the buckets that reached them."""
        self._c_strategy_write = self.stage_counts("strategy_write")
        self._c_venue_to_strategy = self.stage_counts("venue_to_strategy")
        self._counter = counter
        self._delivered: tuple[object, ...] = (
            self._c_strategy_write,
            _STRATEGY_WRITE,
            self._c_venue_to_strategy,
            _VENUE_TO_STRATEGY,
        )
        """``strategy_write`` and ``venue_to_strategy`` (``count``'s ``(low, base, ...)``)."""
        self._to_strategy = self._delivered[2:]
        """``venue_to_strategy`` alone (a write that delivered several events adds their number)."""
        self.orders = OrderStages(self) if counter is None or batch is None else NativeOrderStages(self, counter, batch)
        """Per-order marks: every stage in ``ORDER_STAGES`` is counted from here."""
        self.venue_to_strategy = StageHistogram(self, "venue_to_strategy")
        self.journal_write = StageHistogram(self, "journal_write")
        self.venue_write = StageHistogram(self, "venue_write")
        self.strategy_write = StageHistogram(self, "strategy_write")

    def stage_counts(self, stage: str) -> memoryview:
        """Return the low bytes of ``stage``'s buckets (its own view of the mapping), indexed by bucket.

        ``counts[bucket]`` with the table's bucket object boxes no index in compiled code (``low[base +
        bucket]`` on one flat array makes a new int object for every index above 256). Each array keeps its
        size for good: the snapshot sends them from where they are.
        """
        return self.lows[_BASE[stage] // BUCKETS]

    def delivered(self, t_write: int, t_done: int, t_event: int, events: int) -> None:
        """Count one strategy write (``strategy_write``: ``t_write`` -> ``t_done``) and the ``events`` venue
        events it delivered (``venue_to_strategy``: ``t_event`` -> ``t_done``): one call per batch."""
        buckets = self.buckets
        value = t_done - t_write
        bucket: SupportsIndex = buckets[value >> 3] if 0 <= value < _LIMIT else bucket_index(value)
        counter = self._counter
        if counter is not None:  # the C increments: one call when the write delivered one event
            value = t_done - t_event
            event: SupportsIndex = buckets[value >> 3] if 0 <= value < _LIMIT else bucket_index(value)
            if events == 1:
                counter(self._delivered, self.mid, self.carried, 1, bucket, event)
            else:
                counter(self._delivered, self.mid, self.carried, 1, bucket)
                counter(self._to_strategy, self.mid, self.carried, events, event)
            return
        counts = self._c_strategy_write
        value = counts[bucket] + 1
        if value > 255:  # past 255: the carrying add
            self.count(_STRATEGY_WRITE + bucket.__index__(), 1)
        else:
            counts[bucket] = value
        value = t_done - t_event
        bucket = buckets[value >> 3] if 0 <= value < _LIMIT else bucket_index(value)
        counts = self._c_venue_to_strategy
        value = counts[bucket] + events
        if value > 255:
            self.count(_VENUE_TO_STRATEGY + bucket.__index__(), events)
        else:
            counts[bucket] = value

    def count(self, index: int, times: int) -> None:
        """Add ``times`` to bucket ``index`` (of the flat layout), carrying whole 256s out of its byte."""
        low = self.lows[index // BUCKETS]
        bucket = index % BUCKETS
        value = low[bucket] + times
        if value > 255:
            carry(self.control, self.mid, self.carried, index, value >> 8, low, bucket, value & 255)
            value &= 255
        low[bucket] = value

    @property
    def low(self) -> bytes:
        """Return a copy of every stage's low bytes in the flat layout (``lows`` joined)."""
        return b"".join(self.lows)

    def reset(self) -> None:
        """Forget every count (e.g. after a benchmark's warm-up); the containers stay the same objects."""
        control = self.control
        seq = control[SEQ]
        control[SEQ] = seq + 1  # odd: a reader of the mapping copies again
        for low in self.lows:
            low[:] = bytes(BUCKETS)
        self.mid[:] = bytes(len(self.mid))
        self.carried.clear()
        control[WRAPS] += 1
        control[SEQ] = seq + 2
        self.orders.reset()

    def snapshot(self) -> LatencySnapshot:
        """Copy the counts (a memcpy per stage and a small dict); no percentile is computed here."""
        return LatencySnapshot(STAGES, SUB_BITS, RANGE_BITS, self.low, self.carried_counts())

    def carried_counts(self) -> dict[int, int]:
        """Return every count above a bucket's byte: ``mid``'s 256s and ``carried``'s 65,536s, by bucket."""
        return carried_counts(self.mid, self.carried)

    def view(self) -> LatencySnapshot:
        """Return the counts for encoding on the spot (the admin replies built as documents).

        The same as ``snapshot`` since the stages' low bytes live in separate arrays: ``low`` is their
        join (one 46 KiB copy), ``mid`` is folded into the carried dict (a scan of its 46 KiB).
        """
        return self.snapshot()


_NONZERO: Final = re.compile(b"[^\x00]")
"""Any byte but 0 (``carried_counts``)."""


def carry(
    control: memoryview,
    mid: memoryview,
    carried: dict[int, int],
    index: int,
    carries: int,
    low: memoryview,
    bucket: SupportsIndex,
    rest: int,
) -> None:
    """Add ``carries`` 256s to bucket ``index``: into its ``mid`` byte, its 256s past that into ``carried``; write
    ``rest`` into its low byte ``low[bucket]``. Between two writes of the mapping's ``seq`` (odd, then even): a
    reader of the mapping never sees the low byte and its ``mid`` byte half carried (``gateway.stats_map``)."""
    seq = control[SEQ]
    control[SEQ] = seq + 1
    value = mid[index] + carries
    if value > 255:
        carried[index] = carried.get(index, 0) + ((value >> 8) << 16)
        control[WRAPS] += 1
        value &= 255
    mid[index] = value
    low[bucket] = rest
    control[SEQ] = seq + 2


def carried_counts(mid: bytes | bytearray | memoryview, carried: dict[int, int]) -> dict[int, int]:
    """Return the counts above each bucket's low byte: 256 per ``mid`` count plus ``carried`` (a new dict)."""
    counts = dict(carried)
    for found in _NONZERO.finditer(mid):  # a scan in C; a match object per bucket past 255 only
        index = found.start()
        counts[index] = counts.get(index, 0) + (mid[index] << 8)
    return counts


ORDER_STAGES: Final = (
    "ingress_to_risk",
    "risk_to_wire",
    "ingress_to_wire",
    "decode",
    "order_checks",
    "risk",
    "encode",
    "encode_to_wire",
)
"""The stages ``OrderStages`` counts (one sample per order sent to a venue)."""


def percentile_of_sorted(values: list[int], pct: float) -> int:
    """Return the nearest-rank percentile of an ascending list (0 for an empty list)."""
    if not values:
        return 0
    rank = max(int(-(-pct * len(values) // 100)), 1)
    return values[min(rank, len(values)) - 1]


def summarize(values: list[int]) -> dict[str, float]:
    """Return count, percentiles and max of ``values`` (ns) in microseconds (exact; for client-side samples)."""
    ordered = sorted(values)
    out: dict[str, float] = {"count": float(len(ordered))}
    for pct in PERCENTILES:
        out[f"p{pct:g}"] = percentile_of_sorted(ordered, pct) / 1000
    out["max"] = (ordered[-1] / 1000) if ordered else 0.0
    return out
