"""A FIX store that cannot be opened at start names the venue and its ``store_dir`` (rev47fix 4).

Before fixfix47 a full disk under the store stopped the start with "failed to start: [Errno 28] No space left on
device", naming neither; ops guide section 6 promises ``failed to start: venue <name> ... store_dir <dir>: <reason>``.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from venues.fix import config as fix_config
from venues.fix.config import FixVenueConfig, build_fix_venue


def test_store_unwritable_at_start_then_the_error_names_the_venue_store_dir_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: Path, **_options: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fix_config, "FileStore", full)
    store_dir = tmp_path / "fixstore"
    cfg = FixVenueConfig(name="BRKR", host="127.0.0.1", port=1, dialect="broker-fix44", store_dir=str(store_dir))
    with pytest.raises(OSError) as raised:
        build_fix_venue(cfg, time.monotonic_ns)
    assert str(raised.value) == f"venue BRKR store_dir {store_dir}: No space left on device"
    assert raised.value.errno == errno.ENOSPC
