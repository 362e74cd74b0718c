"""What a venue adapter answers when asked to send: sent, refused or back-pressured (never an exception).

Like Artio's ``trySend``: ``send_new`` / ``send_cancel`` / ``send_replace`` return

* ``Sent(venue_ref)``: the request is queued for the wire under ``venue_ref`` (OUCH UserRefNum,
  FIX ClOrdID); the core journals it before the next flush writes it;
* ``Refused(code, text, source)``: nothing went out and neither the order nor the adapter
  changed (a request the venue cannot carry, a message store that cannot be written);
* ``BACKPRESSURED``: the venue is not reading; nothing was queued (new orders and replaces
  only: cancels always go out, they reduce risk).

The core turns a refusal into the strategy's OrderRejected / CancelRejected, once. The same
``Refused`` / ``BACKPRESSURED`` answers come from ``check_order`` / ``check_replace``, which the
core asks before risk commits its counters.
"""

from __future__ import annotations

from typing import Final

import msgspec

from model.enums import RejectSource


class Sent(msgspec.Struct, frozen=True, gc=False):
    """The request is queued for the venue under ``venue_ref``."""

    venue_ref: str


class Refused(msgspec.Struct, frozen=True, gc=False):
    """Nothing went out: a stable ``code``, a human ``text`` and who refused (told to the strategy)."""

    code: str
    text: str
    source: RejectSource = RejectSource.VENUE


class BackPressured(msgspec.Struct, frozen=True, gc=False):
    """The venue is not reading fast enough: nothing was queued; retry later."""


BACKPRESSURED: Final = BackPressured()

SendResult = Sent | Refused | BackPressured
Verdict = Refused | BackPressured | None
"""What ``check_order`` / ``check_replace`` answer: None when the request may be sent now."""
