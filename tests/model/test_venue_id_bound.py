"""Venue ids bounded where the engine takes a venue event (texts56): ``model.venue_events.bounded_id(s)``.

An id (``exec_id``; ``venue_order_id`` of VenueAccepted / VenueReplaced) longer than ``EVENT_MAX_ID`` characters is
replaced by its first ``ID_PREFIX`` characters and the SHA-256 of the whole: the strategy's frame stays legal, and
two different ids never become equal (the core's duplicate-ExecID check and the strategy's own dedup depend on it):
a bounded form is always longer than ``EVENT_MAX_ID``, so it equals no id a venue sent within the bound, and two
forms are equal only for equal ids. An id within the bound is the event unchanged (the same object). The loopback
case (a real gateway, QuickFIX, a strategy client, a restart) is tests/e2e/test_fix_venue_long_ids.py.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.venue_events import (
    EVENT_MAX_ID,
    ID_PREFIX,
    VenueAccepted,
    VenueCanceled,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    bounded_id,
    bounded_ids,
    event_id,
    is_bounded_id,
)

LONG = "E" * 99_999


def test_bounded_id_when_long_then_prefix_length_and_sha256_of_the_whole() -> None:
    whole = LONG + "A"
    digest = hashlib.sha256(whole.encode()).hexdigest()
    assert bounded_id(whole) == f"{'E' * ID_PREFIX}…[100000 characters, sha256 {digest}]"
    assert is_bounded_id(bounded_id(whole)) and not is_bounded_id("E" * EVENT_MAX_ID)


def test_bounded_id_when_two_long_ids_differ_in_their_last_character_then_they_stay_two() -> None:
    assert bounded_id(LONG + "A") != bounded_id(LONG + "B")
    assert bounded_id(LONG + "A") == bounded_id(LONG + "A")  # a repeat of one is still the same id


def test_bounded_id_when_at_the_bound_kept_and_one_over_bounded_longer_than_any_kept_id() -> None:
    at = "é" * EVENT_MAX_ID
    assert bounded_id(at) is at
    over = bounded_id("é" * (EVENT_MAX_ID + 1))
    assert len(over) > EVENT_MAX_ID and over.startswith("é" * ID_PREFIX)
    assert len(over.encode()) < 400


@settings(max_examples=300, deadline=None)
@given(
    st.text(min_size=EVENT_MAX_ID - 2, max_size=EVENT_MAX_ID + 40),
    st.text(min_size=EVENT_MAX_ID - 2, max_size=EVENT_MAX_ID + 40),
)
def test_bounded_id_when_any_two_different_ids_then_two_different_results(a: str, b: str) -> None:
    if a != b:
        assert bounded_id(a) != bounded_id(b)
    # a bounded form is never an id as a venue sent it within the bound
    assert is_bounded_id(bounded_id(a)) == (len(a) > EVENT_MAX_ID)


@pytest.mark.parametrize(
    "event",
    [
        VenueExecuted(5, 1, 100, 1, "A", LONG),
        VenueAccepted(5, 1, LONG, 100, 1),
        VenueReplaced(5, 1, 50, 1, LONG),
    ],
    ids=lambda e: type(e).__name__,
)
def test_bounded_ids_when_an_id_is_long_then_its_bounded_form_and_the_rest_unchanged(event: VenueEvent) -> None:
    bounded = bounded_ids(event)
    field, value = event_id(bounded)
    assert value == bounded_id(LONG) and getattr(bounded, field) == value
    assert type(bounded) is type(event) and bounded.order_id == 1 and bounded.venue_seq == 5


@pytest.mark.parametrize(
    "event",
    [
        VenueExecuted(5, 1, 100, 1, "A", "E" * EVENT_MAX_ID),
        VenueAccepted(5, 1, "OID", 100, 1, "D", "x" * 70_000),  # a text: bounded_texts' (fix55), not an id
        VenueReplaced(5, 1, 50, 1, ""),
        VenueRejected(5, 1, "VENUE", "y" * 70_000),
        VenueCanceled(5, 1, 0, "REJECTED", ""),
    ],
    ids=lambda e: type(e).__name__,
)
def test_bounded_ids_when_within_the_bound_or_no_id_then_the_same_event(event: VenueEvent) -> None:
    assert bounded_ids(event) is event
