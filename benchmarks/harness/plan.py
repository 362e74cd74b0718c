"""Benchmark scenarios as deterministic action plans, identical for every path they run on.

An action is one request a strategy sends: a new order, a cancel or a replace of an earlier new
order, or a new order the gateway's risk check must refuse (quantity above ``max_qty``). Each has
an intended send time relative to the start of the run:

* ``pingpong``: closed loop, one action in flight (the next goes when the previous is answered);
* ``rate``: open loop, ``rate`` actions per second evenly spaced;
* ``burst``: open loop, ``burst_size`` actions back to back every ``burst_interval_ms``;
* ``mixed``: like ``rate`` with cancels, replaces and risk rejects mixed in (seeded, reproducible).

Every order is a resting limit order (the simulator runs without reference prices, so nothing
executes): its answer is the venue's Accepted, relayed by the gateway as OrderAccepted.
"""

from __future__ import annotations

import enum
import random
from array import array
from typing import Final

import msgspec

SYMBOL: Final = "AAPL"
ACCOUNT: Final = "BENCH"
QTY: Final = 100
REJECT_QTY: Final = 20_000
"""Above the bench limits' ``max_qty`` (10,000): refused by the gateway's risk check."""
REPLACE_QTY: Final = 200
BUY_PRICE: Final = 2_290_000
"""229.00: inside the 5 % collar around the 230.10 reference, below it, so it rests."""
SELL_PRICE: Final = 2_310_000
REPLACE_PRICE_STEP: Final = 100
MIN_TARGET_AGE: Final = 50
"""A cancel or replace targets a new order sent at least this many actions earlier."""


class Action(enum.IntEnum):
    """What one step of a plan sends."""

    NEW = 0
    CANCEL = 1
    REPLACE = 2
    REJECT = 3
    """A new order the gateway's risk check refuses (never reaches a venue)."""


class Kind(enum.StrEnum):
    """How actions are paced."""

    PINGPONG = "pingpong"
    RATE = "rate"
    BURST = "burst"
    MIXED = "mixed"


class Scenario(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One benchmark scenario."""

    name: str
    kind: Kind
    actions: int
    """Measured actions."""
    warmup: int = 0
    """Actions sent before the measured ones (same pacing), not counted."""
    rate: int = 0
    """Actions per second (rate, mixed)."""
    burst_size: int = 0
    burst_interval_ms: int = 0
    cancel_pct: int = 0
    replace_pct: int = 0
    reject_pct: int = 0
    seed: int = 1
    description: str = ""

    @property
    def open_loop(self) -> bool:
        """Return True when actions follow a schedule rather than the previous answer."""
        return self.kind is not Kind.PINGPONG

    @property
    def corrected(self) -> bool:
        """Return True when latency is measured from the intended send time (rate scenarios)."""
        return self.kind in (Kind.RATE, Kind.MIXED)

    def scaled(self, factor: float) -> Scenario:
        """Return the scenario with its action counts multiplied by ``factor`` (at least 1 burst / 100 actions)."""
        actions = max(int(self.actions * factor), 100)
        burst = self.burst_size
        if self.kind is Kind.BURST:
            burst = max(min(int(burst * factor), actions), 50)
            actions = max(actions // burst, 1) * burst
        return msgspec.structs.replace(self, actions=actions, warmup=int(self.warmup * factor), burst_size=burst)


class Plan:
    """The actions of one scenario run: kind, target and intended offset of each (warm-up first)."""

    __slots__ = ("actions", "kinds", "offsets_ns", "targets", "warmup")

    def __init__(self, kinds: array[int], targets: array[int], offsets_ns: array[int], warmup: int) -> None:
        self.kinds = kinds
        self.targets = targets
        """For CANCEL/REPLACE: index of the NEW action whose order they act on; -1 otherwise."""
        self.offsets_ns = offsets_ns
        """Intended send time relative to the start of its phase (warm-up, then measured)."""
        self.warmup = warmup
        self.actions = len(kinds)

    def counts(self) -> dict[str, int]:
        """Return how many measured actions of each kind the plan has."""
        out = {a.name.lower(): 0 for a in Action}
        for kind in self.kinds[self.warmup :]:
            out[Action(kind).name.lower()] += 1
        return out


def interval_ns(rate: int) -> int:
    """Return the spacing of ``rate`` actions per second in ns."""
    return 1_000_000_000 // rate


def build_plan(scenario: Scenario) -> Plan:
    """Return the deterministic plan of ``scenario`` (warm-up actions first, then measured ones)."""
    total = scenario.warmup + scenario.actions
    kinds = array("b", bytes(total))
    targets = array("q", [-1]) * total
    offsets = array("q", bytes(8 * total))
    warmup = scenario.warmup
    if scenario.kind in (Kind.RATE, Kind.MIXED):
        if scenario.rate <= 0:
            raise ValueError(f"scenario {scenario.name}: rate must be positive")
        step = interval_ns(scenario.rate)
        for i in range(total):
            offsets[i] = (i if i < warmup else i - warmup) * step
    elif scenario.kind is Kind.BURST:
        if scenario.burst_size <= 0 or scenario.burst_interval_ms <= 0:
            raise ValueError(f"scenario {scenario.name}: burst_size and burst_interval_ms must be positive")
        gap = scenario.burst_interval_ms * 1_000_000
        size = scenario.burst_size
        for i in range(total):
            offsets[i] = ((i if i < warmup else i - warmup) // size) * gap
    if scenario.kind is Kind.MIXED:
        _mix(scenario, kinds, targets)
    return Plan(kinds, targets, offsets, scenario.warmup)


def _mix(scenario: Scenario, kinds: array[int], targets: array[int]) -> None:
    """Turn some actions into cancels, replaces and risk rejects of earlier, not yet touched new orders."""
    rng = random.Random(scenario.seed)
    untouched: list[int] = []
    start = scenario.warmup
    for i in range(start, len(kinds)):
        roll = rng.randrange(100)
        eligible = [t for t in untouched[:64] if i - t >= MIN_TARGET_AGE]
        if roll < scenario.cancel_pct and eligible:
            target = eligible[0]
            kinds[i] = Action.CANCEL
            targets[i] = target
            untouched.remove(target)
        elif roll < scenario.cancel_pct + scenario.replace_pct and eligible:
            target = eligible[0]
            kinds[i] = Action.REPLACE
            targets[i] = target
            untouched.remove(target)
        elif roll < scenario.cancel_pct + scenario.replace_pct + scenario.reject_pct:
            kinds[i] = Action.REJECT
        else:
            untouched.append(i)


def side_of(index: int) -> str:
    """Return the side of new order ``index`` ("B" or "S", alternating so exposure stays flat)."""
    return "B" if index % 2 == 0 else "S"


def price_of(index: int) -> int:
    """Return the limit price of new order ``index``."""
    return BUY_PRICE if index % 2 == 0 else SELL_PRICE


def replace_price_of(index: int) -> int:
    """Return the new price a replace of order ``index`` asks for (one step further from the market)."""
    return price_of(index) - REPLACE_PRICE_STEP if index % 2 == 0 else price_of(index) + REPLACE_PRICE_STEP


FULL_SCENARIOS: Final = (
    Scenario("pingpong", Kind.PINGPONG, 20_000, warmup=2_000, description="one order in flight: the latency floor"),
    Scenario("rate-10k", Kind.RATE, 30_000, warmup=2_000, rate=10_000, description="10,000 orders/s for 3 s"),
    Scenario("rate-50k", Kind.RATE, 100_000, warmup=5_000, rate=50_000, description="50,000 orders/s for 2 s"),
    Scenario("rate-100k", Kind.RATE, 100_000, warmup=5_000, rate=100_000, description="100,000 orders/s for 1 s"),
    Scenario("rate-150k", Kind.RATE, 150_000, warmup=7_500, rate=150_000, description="150,000 orders/s for 1 s"),
    Scenario("rate-200k", Kind.RATE, 200_000, warmup=10_000, rate=200_000, description="200,000 orders/s for 1 s"),
    Scenario("rate-250k", Kind.RATE, 250_000, warmup=12_500, rate=250_000, description="250,000 orders/s for 1 s"),
    Scenario("rate-400k", Kind.RATE, 400_000, warmup=20_000, rate=400_000, description="400,000 orders/s for 1 s"),
    Scenario(
        "burst-5k",
        Kind.BURST,
        50_000,
        warmup=5_000,
        burst_size=5_000,
        burst_interval_ms=100,
        description="5,000 orders back to back every 100 ms (10 bursts)",
    ),
    Scenario(
        "burst-50k",
        Kind.BURST,
        50_000,
        warmup=5_000,
        burst_size=50_000,
        burst_interval_ms=1_000,
        description="one burst of 50,000 orders",
    ),
    Scenario(
        "mixed",
        Kind.MIXED,
        30_000,
        warmup=2_000,
        rate=10_000,
        cancel_pct=15,
        replace_pct=10,
        reject_pct=5,
        description="10,000/s: 70 % new, 15 % cancel, 10 % replace, 5 % risk rejects",
    ),
)
"""What ``gateway bench`` runs by default."""


def scenarios_by_name() -> dict[str, Scenario]:
    """Return the default scenarios keyed by name."""
    return {s.name: s for s in FULL_SCENARIOS}
