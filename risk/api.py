"""What the gateway core asks of pre-trade risk, and what it tells risk about orders.

The core calls the ``check_*`` methods synchronously on the hot path and acts on
the answer: ``None`` lets the request through, a ``Denial`` (``model.denials``) is returned to the
strategy as an OrderRejected / CancelRejected with source RISK. Denials are data,
never exceptions.

After every change to an order the core reports it through the ``on_*`` methods,
so exposure and positions follow what the venues actually did.
"""

from __future__ import annotations

from typing import Protocol

from model.denials import Denial
from model.order import Order


class RiskGate(Protocol):
    """The pre-trade risk interface the gateway core depends on."""

    def check_and_commit_new(self, order: Order, now_ns: int) -> Denial | None:
        """Decide on a new order (not yet sent; ``order.state`` is PENDING_NEW); count it at once if accepted.

        Acceptance commits the order's rate, duplicate and exposure counters in the same call:
        the core must not call it twice for one order.
        """
        ...

    def check_replace(self, order: Order, qty: int, price: int, now_ns: int) -> Denial | None:
        """Decide on replacing ``order`` with total quantity ``qty`` at ``price``."""
        ...

    def check_cancel(self, order: Order, now_ns: int) -> Denial | None:
        """Decide on a cancel (cancels are allowed even when trading is halted)."""
        ...

    def check_cancels(self, account_name: str, strategy: str, symbol: str, now_ns: int) -> Denial | None:
        """Decide on a filtered MassCancel's Cancels of that account's and symbol's orders as on one Cancel's.

        Nothing is counted (``count_cancels`` counts what it then sends); never raises.
        """
        ...

    def count_cancels(self, account_name: str, strategy: str, symbol: str, count: int, now_ns: int) -> None:
        """Count ``count`` cancels a MassCancel sent (never refused) in the cancel-rate windows."""
        ...

    def on_order_opened(self, order: Order) -> None:
        """Count ``order`` (just sent to the venue) as open exposure: leaves_qty at price."""
        ...

    def on_execution(self, order: Order, qty: int, price: int) -> None:
        """Apply a fill; ``order`` fields are already updated (leaves reduced by ``qty``)."""
        ...

    def on_open_changed(self, order: Order, prev_leaves: int, prev_price: int) -> None:
        """Re-count open exposure after a cancel, replace or reject changed leaves or price."""
        ...
