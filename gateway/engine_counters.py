"""The engine's counters (a msgspec Struct: kept out of the compiled ``engine``).

mypyc drops the class keywords of a ``msgspec.Struct`` subclass, so the Structs of a compiled module live in an
interpreted sibling like this one (see ``obs.native``).
"""

from __future__ import annotations

import msgspec


class EngineCounters(msgspec.Struct):
    """Monotonic counters shown by ``gateway status`` and the demo summary."""

    orders_received: int = 0
    orders_sent: int = 0
    rejected_gateway: int = 0
    rejected_risk: int = 0
    rejected_venue: int = 0
    accepted: int = 0
    executions: int = 0
    filled: int = 0
    canceled: int = 0
    replaced: int = 0
    cancel_rejected: int = 0
    cancels_sent: int = 0
    replaces_sent: int = 0
    venue_events: int = 0
    venue_events_unknown_order: int = 0
    venue_events_out_of_place: int = 0
    overfills: int = 0
    """Executions for more than the order had open (a venue's error, or a state the gateway lost): applied, the
    order FILLED, and counted and logged here."""
    repeated_fills: int = 0
    """Executions whose execution id the order had already applied (a venue's copy under a new message number:
    a FIX PossResend, an OUCH or BOE replay after the numbering restarted): not applied, logged once per 10 s."""
    late_fills: int = 0
    """Executions the venue reported after the order had ended here (filled, canceled, rejected): applied to the
    position and traded notional, delivered as an ``Executed`` with ``leaves_qty`` 0, logged at ERROR (at most once
    per 10 s, with the count)."""
    strategy_connections: int = 0
    strategy_refused: int = 0
    strategy_seq_ahead: int = 0
    """Hellos whose ``last_seq`` was beyond the strategy's last journaled event (``Error(LAST_SEQ_AHEAD)``)."""
    account_not_permitted: int = 0
    strategy_disconnects: int = 0
    strategy_connections_evicted: int = 0
    """Connections without a Hello closed (``Error(TOO_MANY_CONNECTIONS)``): ``strategy_max_pending_hello``."""
    descriptors_near_limit: int = 0
    """Times the descriptors open rose past 80 % of the process's limit (``gateway.descriptors``)."""
    admin_connections_closed: int = 0
    """Admin connections the gateway closed: idle too long, or past the bound on them (``gateway.admin``)."""
    invalid_requests: int = 0
    duplicate_requests: int = 0
    """Version-3 requests received again after they were processed (not carried out again)."""
    internal_errors: int = 0
    """Faults of the gateway's own while carrying out a strategy's request (``Engine._internal_error``): each ended
    that strategy's session and halted its accounts (docs/reliability.md 2.8)."""
