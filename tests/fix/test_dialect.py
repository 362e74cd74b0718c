"""Dialect files and example venue configs: loading, validation errors, shipped examples."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from model.clock import FakeClock
from venues.fix.config import FixVenueConfig, build_fix_venue
from venues.fix.dialect import (
    DIALECT_DIR,
    AccountSource,
    BeginString,
    DialectError,
    load_dialect,
    parse_dialect,
)

DEPLOY = DIALECT_DIR.parent


def test_shipped_dialects_when_loaded_then_they_differ_in_real_ways() -> None:
    equities, broker = load_dialect("equities-fix42"), load_dialect("broker-fix44")
    assert (equities.begin_string, broker.begin_string) == (BeginString.FIX42, BeginString.FIX44)
    assert (equities.orders.account.source, broker.orders.account.source) == (
        AccountSource.ORDER,
        AccountSource.MAP,
    )
    assert equities.orders.ex_destination is None
    assert broker.orders.ex_destination == "SMART"
    assert "FOK" not in equities.orders.time_in_force
    assert "FOK" in broker.orders.time_in_force
    assert (equities.executions.liquidity_tag, broker.executions.liquidity_tag) == (9730, 851)
    assert (equities.resend.replay_business, broker.resend.replay_business) == (True, False)
    assert broker.logon.send_credentials
    assert {c.tag for c in broker.custom_fields} == {9101, 9102, 9200}


@pytest.mark.parametrize("path", sorted(DEPLOY.glob("venue-*.example.yaml")), ids=lambda p: p.name)
def test_example_venue_configs_when_decoded_then_build_a_venue(path: Path, tmp_path: Path) -> None:
    config = msgspec.yaml.decode(path.read_bytes(), type=FixVenueConfig)
    config = msgspec.structs.replace(config, store_dir=str(tmp_path))
    venue = build_fix_venue(config, FakeClock())
    assert venue.name == config.name
    assert venue.status()["session_state"] == "DISCONNECTED"
    venue.session.store.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"name: x\nbegin_string: FIX.4.3\n", "Invalid enum value 'FIX.4.3'"),
        (b"name: x\nbegin_string: FIX.4.2\nordres: {}\n", "unknown field `ordres`"),
        (b"name: x\nbegin_string: FIX.4.2\norders: {time_in_force: {DAILY: '0'}}\n", "unknown key 'DAILY'"),
        (
            b"name: x\nbegin_string: FIX.4.2\norders: {static_fields: {abc: x}}\n",
            "key 'abc' is not a tag number",
        ),
        (b"name: x\nbegin_string: FIX.4.2\norders: {account: {source: map}}\n", "source 'map' needs a map"),
        (b'name: x\nbegin_string: FIX.4.2\nsender_comp_id: "A\\x01B"\n', "sender_comp_id: must be printable"),
        (b"name: [unclosed\n", "not valid YAML"),
    ],
)
def test_parse_dialect_when_invalid_then_dialect_error_names_file_and_problem(text: bytes, message: str) -> None:
    with pytest.raises(DialectError) as info:
        parse_dialect(text, "venues/x.yaml")
    assert str(info.value).startswith("venues/x.yaml: ")
    assert message in str(info.value)


def test_load_dialect_when_given_a_path_then_loaded_from_it(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nbegin_string: FIX.4.4\ntarget_comp_id: MINE\n")
    assert load_dialect(str(path)).target_comp_id == "MINE"
    assert load_dialect("mine", [tmp_path]).name == "mine"
    with pytest.raises(DialectError, match="not found"):
        load_dialect(str(tmp_path / "missing.yaml"))
