"""A sub-command given an argument it does not know shows its own usage, not the top-level one (rev46ops).

argparse hands a sub-command's unknown arguments up to the top-level parser, which printed ``usage: gateway
[-h] [--log-level ...] COMMAND ...`` for ``gateway status --bogus``: no word of ``status``'s own options.
"""

from __future__ import annotations

import pytest

from gateway.cli import build_parser


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["metrics"],
        ["metrics", "serve"],
        ["kill"],
        ["resume"],
        ["doctor"],
        ["risk", "reload"],
        ["venue", "reconnect", "OUCH"],
        ["run"],
        ["launch"],
    ],
)
def test_subcommand_when_given_an_unknown_argument_then_exits_2_with_its_own_usage(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args([*command, "--bogus"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    name = " ".join(word for word in command if word != "OUCH")
    assert err.startswith(f"usage: gateway {name} [-h]"), err
    assert err.endswith(f"gateway {name}: error: unrecognized arguments: --bogus\n"), err
    assert "COMMAND ..." not in err  # not the top-level usage


def test_top_level_when_given_an_unknown_option_then_the_top_level_usage() -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["--bogus", "status"])
    assert stopped.value.code == 2


def test_subcommand_when_its_arguments_are_known_then_parsed_as_before() -> None:
    args = build_parser().parse_args(["metrics", "serve", "--listen", "127.0.0.1:9464", "--timeout", "3"])
    assert (args.listen, args.timeout) == ("127.0.0.1:9464", 3.0)
    args = build_parser().parse_args(["launch", "--dry-run", "--", "--config", "x.yaml"])
    assert args.dry_run
