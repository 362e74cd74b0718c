"""One fsync policy for the journal and the FIX store; the FIX store's former spellings still load."""

from __future__ import annotations

import msgspec
import pytest

from gateway.config import GatewayConfig, JournalConfig
from model.fsync import FsyncPolicy
from venues.fix.config import FixVenueConfig

FIX_VENUE = b"""
protocol: fix
name: EQX
host: 127.0.0.1
port: 9878
dialect: equities-fix42
"""


def test_fsync_policy_when_listed_then_none_interval_batch() -> None:
    assert [p.value for p in FsyncPolicy] == ["none", "interval", "batch"]


@pytest.mark.parametrize(
    ("spelling", "policy"),
    [
        ("none", FsyncPolicy.NONE),
        ("interval", FsyncPolicy.INTERVAL),
        ("batch", FsyncPolicy.BATCH),
        ("never", FsyncPolicy.NONE),
        ("always", FsyncPolicy.BATCH),
    ],
)
def test_fsync_policy_when_spelled_old_or_new_then_same_policy(spelling: str, policy: FsyncPolicy) -> None:
    assert FsyncPolicy(spelling) is policy
    fix = msgspec.yaml.decode(FIX_VENUE + f"fsync: {spelling}\n".encode(), type=FixVenueConfig)
    assert fix.fsync is policy
    journal = msgspec.convert({"journal": {"fsync": spelling}}, GatewayConfig).journal
    assert journal.fsync is policy


def test_fsync_policy_when_not_set_then_interval_for_both() -> None:
    assert JournalConfig().fsync is FsyncPolicy.INTERVAL
    assert msgspec.yaml.decode(FIX_VENUE, type=FixVenueConfig).fsync is FsyncPolicy.INTERVAL


@pytest.mark.parametrize("spelling", ["sometimes", "ALWAYS", ""])
def test_fsync_policy_when_unknown_then_validation_error_names_the_value(spelling: str) -> None:
    with pytest.raises(ValueError, match="is not a valid FsyncPolicy"):
        FsyncPolicy(spelling)
    with pytest.raises(msgspec.ValidationError, match=f"Invalid enum value '{spelling}' - at `\\$.journal.fsync`"):
        msgspec.convert({"journal": {"fsync": spelling}}, GatewayConfig)
