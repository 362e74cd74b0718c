"""``SyncLagWatch``: the journal sync lag and stall count from the written and synced positions (sans-IO)."""

from __future__ import annotations

from gateway.app import SyncLagWatch

UPTIME = 35_372.3
"""A monotonic clock reading long after boot, as on a host up for ten hours."""


def test_first_check_finds_bytes_unsynced_with_nothing_synced_yet_then_lag_starts_at_zero() -> None:
    watch = SyncLagWatch(1.0)
    assert watch.check(UPTIME, 200, 0) == 0.0  # the old code: 35372.3, stalled at once
    assert not watch.stalled and watch.stalls == 0
    assert watch.check(UPTIME + 0.5, 200, 0) == 0.5
    assert not watch.stalled


def test_synced_position_not_moving_for_the_limit_then_stalled_once_and_counted_once() -> None:
    watch = SyncLagWatch(1.0)
    watch.check(UPTIME, 100, 0)
    assert watch.check(UPTIME + 1.0, 300, 0) == 1.0 and watch.stalled and watch.stalls == 1
    watch.check(UPTIME + 5.0, 400, 0)
    assert watch.stalled and watch.stalls == 1  # one stall, however long


def test_synced_position_moving_then_lag_restarts_and_a_second_stall_is_counted() -> None:
    watch = SyncLagWatch(1.0)
    watch.check(UPTIME, 100, 0)
    watch.check(UPTIME + 1.2, 300, 0)
    assert watch.stalls == 1
    assert watch.check(UPTIME + 1.4, 400, 300) == 0.0 and not watch.stalled  # it moved: the clock starts again
    assert watch.check(UPTIME + 1.9, 400, 300) == 0.5
    assert watch.check(UPTIME + 2.0, 400, 400) == 0.0  # all synced
    watch.check(UPTIME + 3.0, 500, 400)
    assert watch.check(UPTIME + 4.0, 500, 400) == 1.0 and watch.stalls == 2


def test_nothing_unsynced_then_no_lag_however_long_since_the_last_sync() -> None:
    watch = SyncLagWatch(2.0)
    assert watch.check(UPTIME, 0, 0) == 0.0
    assert watch.check(UPTIME + 60, 100, 100) == 0.0
    assert watch.check(UPTIME + 61, 150, 100) == 0.0  # the clock starts here, not at the last sync
    assert watch.check(UPTIME + 62.5, 150, 100) == 1.5 and not watch.stalled
