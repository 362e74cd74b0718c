"""Venue texts bounded where the engine takes a venue event (fix55): ``model.venue_events.bounded_texts``.

Every text a venue event carries (``text``; ``canceled_text`` of VenueAccepted / VenueReplaced) longer than
``EVENT_MAX_TEXT`` characters is clipped with ``model.operator_text.clip`` (cut between characters: its UTF-8 stays
whole), on one line, with a marker naming its length; a text within the bound is the event unchanged (the same
object: nothing copied on the steady path). Ids are not clipped here (``bounded_ids``, texts56). The loopback
case (a real gateway, QuickFIX, a strategy client, a restart) is tests/e2e/test_fix_venue_long_text.py.
"""

from __future__ import annotations

import pytest

from model.venue_events import (
    EVENT_MAX_TEXT,
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    bounded_text,
    bounded_texts,
    event_text,
)

LONG = "€ refusé\n" * 7000  # 63,000 characters, 3- and 2-byte UTF-8, a newline in each


def _marker(length: int) -> str:
    return f"… [clipped: {length:,} characters; the gateway log has the whole text]"


@pytest.mark.parametrize(
    "event",
    [
        VenueRejected(5, 1, "VENUE", LONG),
        VenueCanceled(5, 1, 0, "REJECTED", LONG),
        VenueCancelRejected(5, 1, "VENUE", LONG),
        VenueAccepted(5, 1, "OID" * 30_000, 100, 1, "D", LONG),
        VenueReplaced(5, 1, 50, 1, "OID", "D", LONG),
    ],
    ids=lambda e: type(e).__name__,
)
def test_bounded_texts_when_a_venue_text_is_long_then_clipped_on_one_line_with_its_length(event: VenueEvent) -> None:
    bounded = bounded_texts(event)
    text = event_text(bounded)
    assert len(text) == EVENT_MAX_TEXT
    assert text.endswith(_marker(len(LONG)))
    assert "\n" not in text and text.startswith("€ refusé € refusé")
    assert len(text.encode()) <= 4 * EVENT_MAX_TEXT  # whole characters: the UTF-8 encodes (and stays small)
    assert type(bounded) is type(event) and bounded.order_id == event.order_id and bounded.venue_seq == 5
    if isinstance(event, VenueAccepted):
        assert isinstance(bounded, VenueAccepted) and bounded.venue_order_id == event.venue_order_id  # ids whole


@pytest.mark.parametrize(
    "event",
    [
        VenueRejected(5, 1, "VENUE", "x" * EVENT_MAX_TEXT),
        VenueCanceled(5, 1, 0, "REJECTED", "tab\there, newline\nthere"),  # short texts are as the venue sent them
        VenueAccepted(5, 1, "OID", 100, 1),
        VenueExecuted(5, 1, 100, 1, "A", "E" * 70_000),  # an id: not a text (``bounded_ids`` bounds it)
    ],
    ids=lambda e: type(e).__name__,
)
def test_bounded_texts_when_within_the_bound_then_the_same_event(event: VenueEvent) -> None:
    assert bounded_texts(event) is event


def test_bounded_text_when_one_over_then_clipped_and_when_at_the_bound_then_kept() -> None:
    assert bounded_text("é" * EVENT_MAX_TEXT) == "é" * EVENT_MAX_TEXT
    clipped = bounded_text("é" * (EVENT_MAX_TEXT + 1))
    assert len(clipped) == EVENT_MAX_TEXT and clipped.endswith(_marker(EVENT_MAX_TEXT + 1))
