"""The limits loader: every bad file is refused with file, field path, line and column, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk.limitsfile import LimitsFileError, read_limits
from risk.loader import Problem, format_scaled, parse_text
from risk.model import LimitsDocument

VALID = """\
version: 1
defaults:
  max_qty: 10000
  max_notional: 1000000.00
  collar_pct: 5.0
  max_open_orders: 500
  max_open_notional: 25000000
  credit_limit: 100000000
  max_long_qty: 100000
  max_short_qty: 50000
  max_net_qty: 100000
  orders_per_s: {per_strategy: 500, per_account: 500, per_symbol: 200}
  cancels_per_s: {per_strategy: 1000, per_account: 1000, per_symbol: 400}
  duplicate_window_ms: 250
  tick_size: 0.01
  lot_size: 1
reference_prices:
  max_age_s: 300
accounts:
  ACC1:
    symbols:
      AAPL:
        max_qty: 500
"""


def _problems(tmp_path: Path, text: str, name: str = "limits.yaml") -> list[Problem]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LimitsFileError) as caught:
        read_limits(path)
    return caught.value.problems


def _one(tmp_path: Path, text: str) -> Problem:
    problems = _problems(tmp_path, text)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_read_limits_when_valid_then_amounts_are_exact_fixed_point(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(VALID.replace("1000000.00", "1000000.1234").replace("collar_pct: 5.0", "collar_pct: 2.5"))
    limits = read_limits(path)
    assert limits.document.defaults.max_notional == 10_000_001_234
    assert limits.document.defaults.collar_pct == 25_000
    assert limits.document.defaults.tick_size == 100
    assert limits.document.accounts["ACC1"].symbols["AAPL"].max_qty == 500
    assert limits.display["defaults"]["max_notional"] == "1000000.1234"


def test_read_limits_when_negative_qty_then_issue_style_message_with_line_and_column(tmp_path: Path) -> None:
    problem = _one(tmp_path, VALID.replace("max_qty: 500", "max_qty: -5"))
    assert problem.path == "accounts.ACC1.symbols.AAPL.max_qty"
    assert (problem.line, problem.column) == (23, 18)
    assert problem.message == "expected int > 0, got -5"
    assert (
        str(problem)
        == f"{tmp_path / 'limits.yaml'}:23:18: accounts.ACC1.symbols.AAPL.max_qty: expected int > 0, got -5"
    )


@pytest.mark.parametrize(
    ("old", "new", "where", "words"),
    [
        ("max_qty: 10000", "max_qty: 10000.5", ("defaults.max_qty", 3, 12), "expected int > 0, got 10000.5"),
        ("max_qty: 10000", "max_qty: '10000'", ("defaults.max_qty", 3, 12), "got '10000'"),
        ("max_qty: 10000", "max_qty: ten", ("defaults.max_qty", 3, 12), "got 'ten'"),
        ("max_qty: 10000", "max_qty:", ("defaults.max_qty", 3, 11), "got nothing (null)"),
        (
            "collar_pct: 5.0",
            "collar_pct: .nan",
            ("defaults.collar_pct", 5, 15),
            "NaN and infinity are refused",
        ),
        (
            "collar_pct: 5.0",
            "collar_pct: .inf",
            ("defaults.collar_pct", 5, 15),
            "NaN and infinity are refused",
        ),
        ("collar_pct: 5.0", "collar_pct: -1.0", ("defaults.collar_pct", 5, 15), "expected a percentage > 0"),
        ("tick_size: 0.01", "tick_size: 0.00001", ("defaults.tick_size", 15, 14), "at most 4 decimals"),
        (
            "max_notional: 1000000.00",
            "max_notional: 1e6",
            ("defaults.max_notional", 4, 17),
            "YAML reads this as text",
        ),
        (
            "max_open_orders: 500",
            "max_open_orders: -1",
            ("defaults.max_open_orders", 6, 20),
            "expected int >= 0",
        ),
        (
            "duplicate_window_ms: 250",
            "duplicate_window_ms: yes",
            ("defaults.duplicate_window_ms", 14, 24),
            "got yes",
        ),
        ("max_age_s: 300", "max_age_s: 0", ("reference_prices.max_age_s", 18, 14), "expected int > 0, got 0"),
        ("version: 1", "version: 2", ("version", 1, 10), "expected one of 1, got 2"),
        (
            "  lot_size: 1",
            "  lot_size: 1\n  trading_state: PAUSED",
            ("defaults.trading_state", 17, 18),
            "expected one of ACTIVE, HALTED, REDUCING, got 'PAUSED'",
        ),
        (
            "  lot_size: 1",
            "  lot_size: 1\n  allow_short_sales: maybe",
            ("defaults.allow_short_sales", 17, 22),
            "expected true or false, got 'maybe'",
        ),
        (
            "  lot_size: 1",
            "  lot_size: 1\n  lot_size: 2",
            ("defaults.lot_size", 17, 3),
            "duplicate key 'lot_size'",
        ),
        ("      AAPL:", "      aapl:", ("accounts.ACC1.symbols.aapl", 22, 7), "invalid key 'aapl'"),
        ("  ACC1:", "  'ACC 1':", ("accounts.ACC 1", 20, 3), "invalid key 'ACC 1'"),
        (
            "        max_qty: 500",
            "        max_quantity: 500",
            ("accounts.ACC1.symbols.AAPL.max_quantity", 23, 9),
            "did you mean 'max_qty'",
        ),
        (
            "        max_qty: 500",
            "        tick_size: 0.05",
            ("accounts.ACC1.symbols.AAPL.tick_size", 23, 9),
            "can only be set in `defaults` and `symbols`",
        ),
        (
            "  orders_per_s: {per_strategy: 500, per_account: 500, per_symbol: 200}",
            "  orders_per_s: {per_strategy: 500, per_account: 500, per_symbol: 200, per_venue: 9}",
            ("defaults.orders_per_s.per_venue", 12, 72),
            "unknown field 'per_venue'",
        ),
        ("  max_qty: 10000", "  max_qty: 10000\n  <<: {max_qty: 5}", ("defaults", 4, 3), "merge keys"),
        (  # rev45risk: YAML 1.1 reads 1_0_0_0_0 as 10000; the guide says to write numbers plainly
            "  max_qty: 10000",
            "  max_qty: 1_0_0_0_0",
            ("defaults.max_qty", 3, 12),
            "got 1_0_0_0_0 (YAML reads this as 10000: write plain decimal digits without underscores",
        ),
        (
            "max_notional: 1000000.00",
            "max_notional: 1_000_000.00_01",
            ("defaults.max_notional", 4, 17),
            "got 1_000_000.00_01 (write plain decimal digits without underscores)",
        ),
        (
            "max_notional: 1000000.00",
            "max_notional: 1_000_000",
            ("defaults.max_notional", 4, 17),
            "without underscores",
        ),
        (
            "    symbols:\n      AAPL:\n        max_qty: 500\n",
            "    symbols: [AAPL]\n",
            ("accounts.ACC1.symbols", 21, 14),
            "expected a mapping, got a list",
        ),
    ],
)
def test_read_limits_when_one_bad_value_then_refused_with_path_line_and_column(
    tmp_path: Path, old: str, new: str, where: tuple[str, int, int], words: str
) -> None:
    path, line, column = where
    assert old in VALID
    problem = _one(tmp_path, VALID.replace(old, new, 1))
    assert (problem.path, problem.line, problem.column) == (path, line, column), str(problem)
    assert words in problem.message


def test_read_limits_when_many_problems_then_every_one_is_listed_in_file_order(tmp_path: Path) -> None:
    text = (
        VALID.replace("max_qty: 10000", "max_qty: -1")
        .replace("collar_pct: 5.0", "collar_pct: .nan")
        .replace("  lot_size: 1\n", "")
        .replace("max_qty: 500", "max_qty: 0")
        .replace("  max_age_s: 300", "  max_age_s: 300\n  colour: red")
    )
    problems = _problems(tmp_path, text)
    assert [(p.path, p.line) for p in problems] == [
        ("defaults.lot_size", 3),  # missing: located at the defaults mapping
        ("defaults.max_qty", 3),
        ("defaults.collar_pct", 5),
        ("reference_prices.colour", 18),
        ("accounts.ACC1.symbols.AAPL.max_qty", 23),
    ]
    assert problems[0].message.startswith("missing")


def test_read_limits_when_defaults_miss_a_limit_then_refused_naming_each_missing_limit(
    tmp_path: Path,
) -> None:
    text = (
        VALID.replace("  credit_limit: 100000000\n", "")
        .replace(" per_symbol: 400", "")
        .replace("  collar_pct: 5.0\n", "")
    )
    problems = _problems(tmp_path, text)
    messages = {(p.path, p.message.split(":")[0]) for p in problems}
    assert ("defaults.credit_limit", "missing") in messages
    assert ("defaults.cancels_per_s.per_symbol", "missing") in messages
    assert any(p.path == "defaults" and "collar_pct or collar_ticks" in p.message for p in problems)
    assert all(p.line > 0 for p in problems)


def test_read_limits_when_top_level_key_misspelt_then_unknown_and_missing_both_reported(
    tmp_path: Path,
) -> None:
    problems = _problems(tmp_path, VALID.replace("accounts:", "acounts:"))
    assert {(p.path, p.line) for p in problems} == {("acounts", 19), ("accounts", 1)}
    assert any("did you mean 'accounts'" in p.message for p in problems)


def test_read_limits_when_required_section_missing_then_refused(tmp_path: Path) -> None:
    problem = _one(tmp_path, VALID.replace("reference_prices:\n  max_age_s: 300\n", ""))
    assert problem.path == "reference_prices"
    assert "required field 'reference_prices' is missing" in problem.message


def test_read_limits_when_symbol_in_both_restricted_lists_then_refused(tmp_path: Path) -> None:
    problem = _one(tmp_path, VALID + "restricted:\n  no_trade: [XYZ]\n  sell_only: [ABC, XYZ]\n")
    assert (problem.path, problem.line, problem.column) == ("restricted.sell_only[1]", 26, 20)


def test_read_limits_when_symbol_listed_twice_then_refused(tmp_path: Path) -> None:
    problem = _one(tmp_path, VALID + "restricted:\n  no_trade: [XYZ, ABC, XYZ]\n")
    assert problem.path == "restricted.no_trade[2]"
    assert "listed twice" in problem.message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "the file is empty"),
        ("# only a comment\n", 1, "the file is empty"),
        ("version: 1\ndefaults: [unclosed\n", 3, "not valid YAML"),
        ("version: 1\n\tdefaults: {}\n", 2, "not valid YAML"),
        ("version: 1\n---\nversion: 1\n", 3, "only one YAML document"),
        ("- just\n- a list\n", 1, "expected a mapping of fields, got a list"),
    ],
)
def test_read_limits_when_not_a_limits_document_then_refused_with_position(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    problems = _problems(tmp_path, text)
    assert any(words in p.message and p.line == line for p in problems), [str(p) for p in problems]


def test_read_limits_when_file_missing_or_binary_then_refused_not_crashed(tmp_path: Path) -> None:
    with pytest.raises(LimitsFileError, match="cannot read the file"):
        read_limits(tmp_path / "nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LimitsFileError, match="not UTF-8"):
        read_limits(tmp_path / "bin.yaml")


def test_read_limits_when_reference_file_invalid_then_its_problems_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "refs.yaml").write_text("as_of: yesterday\nprices:\n  AAPL: -1\n  MSFT: 1.00001\n")
    text = VALID.replace("  max_age_s: 300", "  max_age_s: 300\n  file: refs.yaml")
    problems = _problems(tmp_path, text)
    assert [(Path(p.file).name, p.path, p.line) for p in problems] == [
        ("refs.yaml", "as_of", 1),
        ("refs.yaml", "prices.AAPL", 3),
        ("refs.yaml", "prices.MSFT", 4),
    ]


def test_read_limits_when_reference_file_missing_then_refused_at_the_field_naming_it(tmp_path: Path) -> None:
    text = VALID.replace("  max_age_s: 300", "  max_age_s: 300\n  file: missing.yaml")
    problem = _one(tmp_path, text)
    assert (Path(problem.file).name, problem.line, problem.column, problem.path) == (
        "limits.yaml",
        19,
        9,
        "reference_prices.file",
    )
    assert problem.message.startswith(f"{tmp_path / 'missing.yaml'}: cannot read the file: ")
    assert str(problem).startswith(f"{tmp_path / 'limits.yaml'}:19:9: reference_prices.file: {tmp_path}/missing")


def test_read_limits_when_start_positions_file_missing_then_refused_at_start_up_only(tmp_path: Path) -> None:
    text = VALID + "start_positions_file: positions.yaml\n"
    problem = _one(tmp_path, text)
    assert (problem.line, problem.column, problem.path) == (text.count("\n"), 23, "start_positions_file")
    assert "positions.yaml: cannot read the file" in problem.message
    limits = read_limits(tmp_path / "limits.yaml", start_up=False)  # a reload: never read, only hashed
    assert limits.positions is None and limits.positions_sha256 == ""


def test_read_limits_when_reference_file_old_then_warns_but_loads(tmp_path: Path) -> None:
    (tmp_path / "refs.yaml").write_text("as_of: 2020-01-02T21:00:00Z\nprices:\n  AAPL: 150.25\n")
    path = tmp_path / "limits.yaml"
    path.write_text(VALID.replace("  max_age_s: 300", "  max_age_s: 300\n  file: refs.yaml"))
    limits = read_limits(path)
    assert limits.reference is not None and limits.reference.prices["AAPL"] == 1_502_500
    assert any("stale" in w for w in limits.warnings)


def test_read_limits_when_aliases_would_expand_to_billions_then_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "\n".join(lines) + "\nversion: 1\nreference_prices:\n  max_age_s: 1\n  allow_missing: *a8\n"
    problems = _problems(tmp_path, text)  # 10**9 leaves if expanded; pytest-timeout guards the bound
    assert len(problems) == 9 + 8 * 10 + 1  # each anchor and alias, nothing expanded
    assert problems[-1].line == 13 and problems[-1].message.startswith("YAML aliases ('*a8') are not supported")


def test_format_scaled_when_round_tripped_then_exact() -> None:
    assert format_scaled(1_502_500, 10_000) == "150.25"
    assert format_scaled(1, 10_000) == "0.0001"
    assert format_scaled(10_000_000_000, 10_000) == "1000000"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_parse_text_when_arbitrary_text_then_never_crashes(text: str) -> None:
    parsed = parse_text(text, "fuzz.yaml", LimitsDocument)
    assert parsed.value is not None or parsed.problems


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["ACTIVE", "HALTED", "AAPL", ".nan", "1e3", "0.00001"]),
)  # fmt: skip
_keys = st.sampled_from([
    "version", "defaults", "accounts", "symbols", "strategies", "restricted", "reference_prices", "max_qty",
    "collar_pct", "tick_size", "orders_per_s", "per_strategy", "ACC1", "AAPL", "no_trade", "max_age_s", "zzz",
])  # fmt: skip
_trees = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_keys, children, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _trees, max_size=7))
def test_parse_text_when_random_structured_yaml_then_value_or_located_problems(
    tree: dict[str, object],
) -> None:
    import yaml

    text = yaml.safe_dump(tree)
    parsed = parse_text(text, "fuzz.yaml", LimitsDocument)
    if parsed.value is None:
        assert parsed.problems
        assert all(p.file == "fuzz.yaml" for p in parsed.problems)
    else:
        assert not parsed.problems


def test_read_limits_when_flow_sequence_never_closed_then_both_the_noticed_and_the_opening_position(
    tmp_path: Path,
) -> None:
    text = VALID + "restricted:\n  no_trade: [XYZ, GME\n  sell_only: [BBBY]\n"  # `[` never closed
    opened = text.splitlines().index("  no_trade: [XYZ, GME") + 1
    problem = _one(tmp_path, text)
    assert problem.line == opened + 1  # PyYAML notices it on the next line ...
    assert f"(the flow sequence ('[') opened at line {opened}, column 13 is never closed)" in problem.message
    assert str(problem).startswith(f"{tmp_path / 'limits.yaml'}:{opened + 1}:12: not valid YAML: ")


def test_read_limits_when_quote_never_closed_then_names_where_it_opened(tmp_path: Path) -> None:
    problem = _one(tmp_path, "version: 1\ndefaults:\n  trading_state: 'ACTIVE\n  max_qty: 10\n")
    assert problem.line == 5
    assert "(the quoted text opened at line 3, column 18 is never closed)" in problem.message


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("  max_qty: 10000", "  max_qty: 010000", "defaults.max_qty"),  # YAML 1.1 octal: 4096
        ("  max_qty: 10000", "  max_qty: 0x2710", "defaults.max_qty"),  # hexadecimal
        ("  max_qty: 10000", "  max_qty: 0b10", "defaults.max_qty"),  # binary
        ("  max_qty: 10000", "  max_qty: 2:46:40", "defaults.max_qty"),  # sexagesimal: 10000
        ("  max_open_notional: 25000000", "  max_open_notional: 025000000", "defaults.max_open_notional"),
        ("        max_qty: 500", "        max_qty: 0764", "accounts.ACC1.symbols.AAPL.max_qty"),
    ],
)
def test_read_limits_when_integer_not_plain_decimal_then_refused_with_hint(
    tmp_path: Path, old: str, new: str, path: str
) -> None:
    # YAML 1.1 reads 010000 as 4096, 2:46:40 as 10000: a risk officer reading the file sees another number
    # than the one that would apply, so anything but plain decimal digits is refused, not guessed.
    assert old in VALID
    problem = _one(tmp_path, VALID.replace(old, new, 1))
    assert problem.path == path, str(problem)
    assert "plain decimal" in problem.message, str(problem)


def test_read_limits_when_plain_decimal_with_sign_or_zero_then_accepted(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(VALID.replace("  max_qty: 10000", "  max_qty: +10000").replace("1000000.00", "01000000.50"))
    limits = read_limits(path)
    assert limits.document.defaults.max_qty == 10_000
    assert limits.document.defaults.max_notional == 10_000_005_000


def test_read_limits_when_start_positions_name_an_account_the_file_does_not_list_then_warns_with_position(
    tmp_path: Path,
) -> None:
    # A misspelt account in the positions file left the real account flat without a word: its overnight
    # long was not counted against max_long_qty / max_net_qty.
    (tmp_path / "positions.yaml").write_text(
        "as_of: 2025-06-13T20:00:00Z\naccounts:\n  ACC1:\n    AAPL: 100\n  ACC9:\n    AAPL: 50000\n"
    )
    path = tmp_path / "limits.yaml"
    path.write_text(VALID.replace("accounts:\n", "start_positions_file: positions.yaml\naccounts:\n", 1))
    limits = read_limits(path)
    where = tmp_path / "positions.yaml"
    assert [w for w in limits.warnings if "ACC9" in w] == [
        f"{where}:5:3: accounts.ACC9: account ACC9 is not in {path}: its start-of-day positions apply to nothing"
    ]
    assert not [w for w in limits.warnings if "ACC1" in w]
