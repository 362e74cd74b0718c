"""``gateway status``, ``kill``, ``resume``, ``venue reconnect`` and ``venue set-seq`` over the admin socket."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from gateway.admin import AdminError, AdminNoAnswerError, admin_request, fetch_status
from gateway.commands.output import write_stdout
from gateway.config import ConfigError, load_config
from gateway.ops.onload_env import MISSING, EfSetting, describe_settings
from model.operator_text import operator_text_problem
from obs import native

DEFAULT_CONFIG = "deploy/gateway.yaml"
EXIT_REFUSED = 1
"""Refused, or the gateway could not be reached: nothing was changed."""
EXIT_KILL_PENDING = 3
"""``gateway kill``: HALTED in memory, but its journal record and cancels wait for the journal (disk full)."""
EXIT_NO_ANSWER = 4
"""The request was sent but the gateway did not answer (hung, frozen, stopping): it may still apply it."""
EXIT_STILL_STOPPED = 5
"""``gateway resume``: the scope's own run-time halt (if any) is lifted, but the limits file, or for an account a
firm-wide halt, keeps it HALTED or REDUCING."""
COMMAND_NAMES = {
    "risk_adjust_position": "gateway risk adjust-position",
    "risk_reload": "gateway risk reload",
    "venue_reconnect": "gateway venue reconnect",
    "venue_set_seq": "gateway venue set-seq",
}
"""The command as typed, by admin request (messages name what the user ran)."""


NO_ANSWER_HELP = (
    f" Exit {EXIT_NO_ANSWER}: the request was sent but no answer came within 10 s (a hung or stopping gateway): "
    "it may still apply; check `gateway status`."
)


def add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"gateway config naming the admin socket (default {DEFAULT_CONFIG})",
    )
    parser.add_argument("--admin-socket", help="admin socket path (overrides the config)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status``, ``kill``, ``resume`` and ``venue``."""
    status = subparsers.add_parser("status", help="show a running gateway's state")
    add_target(status)
    status.add_argument("--json", action="store_true", help="print the whole status document as JSON")
    status.add_argument(
        "--all-accounts",
        action="store_true",
        help=f"list every risk account (by default, above {ACCOUNT_LINES} accounts, only those with open orders, "
        "trades today, a halt or a run-time state, and a count of the rest)",
    )
    status.set_defaults(func=run_status)

    kill = subparsers.add_parser(
        "kill",
        help="kill switch: halt trading and cancel every open order (of one account with --account)",
        description="Halt trading and cancel every open order, firm-wide or for one account. An account the "
        "gateway does not know is refused (exit 1, nothing changed), and the refusal lists the known accounts. "
        f"Never refused for a journal that cannot be written: exit {EXIT_KILL_PENDING} says the halt is in effect "
        "but its journal record and the cancels are pending until the journal can be written again."
        f"{NO_ANSWER_HELP}",
    )
    add_target(kill)
    kill.add_argument("--account", type=_account, help="only this account (default: the whole gateway)")
    kill.add_argument("--reason", default="", type=operator_text, help="free text recorded in the audit log")
    kill.set_defaults(func=run_kill)

    resume = subparsers.add_parser(
        "resume",
        help="set trading back to ACTIVE after a kill (globally or --account)",
        description="Lift a run-time halt, firm-wide or for one account (a HALTED in the limits file stays). "
        "An account the gateway does not know is refused (exit 1, nothing changed), and so is a resume while "
        "the journal cannot be written (exit 1, nothing changed: trading stays as it was). "
        f"Exit {EXIT_STILL_STOPPED}: the scope's run-time halt (if it had one) is lifted, but the limits file "
        "keeps the scope HALTED or REDUCING (edit the file to lift it) or, for --account, a firm-wide halt does "
        "(resume without --account); without --account, also when accounts stay HALTED or REDUCING by a kill of "
        "their own (named on stderr: resume each with --account)."
        f"{NO_ANSWER_HELP}",
    )
    add_target(resume)
    resume.add_argument("--account", type=_account, help="only this account (default: the whole gateway)")
    resume.add_argument("--reason", default="", type=operator_text, help="free text recorded in the audit log")
    resume.set_defaults(func=run_resume)

    venue = subparsers.add_parser("venue", help="act on one venue session (reconnect, set-seq)")
    venue_commands = venue.add_subparsers(dest="venue_command", metavar="ACTION")
    venue_commands.required = True
    reconnect = venue_commands.add_parser(
        "reconnect",
        help="connect a venue that stopped after refused logins (state LOGIN_REFUSED) again now",
        description="Clear the refused-login count of a venue in state LOGIN_REFUSED and connect it now, with the "
        "venue config read at start: for a refusal fixed at the venue (the venue desk unlocked or enabled the "
        "account; a FIX venue that refused our MsgSeqNum as too low: the numbers agreed with the venue desk, or set "
        "with `gateway venue set-seq`). A wrong username, password or other venue setting needs the venue config "
        "corrected and the gateway restarted instead: this command would log in with the old one, and the venue "
        "counts each refused login. A venue the gateway does not have, or one in "
        "any other state, is refused (exit 1, nothing changed)."
        f"{NO_ANSWER_HELP}",
    )
    add_target(reconnect)
    reconnect.add_argument("name", help="venue name (as in the config and `gateway status`)")
    reconnect.add_argument("--reason", default="", type=operator_text, help="free text recorded in the audit log")
    reconnect.set_defaults(func=run_venue_reconnect)

    set_seq = venue_commands.add_parser(
        "set-seq",
        help="set a FIX venue's next outgoing (and expected) MsgSeqNum while it is not logged on",
        description="Set the MsgSeqNum the gateway's next message to a FIX venue carries (--next-sender), and/or "
        "the one it expects next from the venue (--next-target), as agreed with the venue desk (a Logon refused "
        "as numbered too low: the venue says which number it expects). Written to the venue's message store (a "
        "restart keeps it) and logged with the caller. Only while the venue is not logged on (LOGIN_REFUSED, "
        "DISCONNECTED or ENDED); then `gateway venue reconnect NAME` logs on with it. Refused (exit 1, nothing "
        "changed): a venue the gateway does not have or not FIX, a session logged on, a number below the current "
        "one (never taken back), a next Logon that is a new session day under the schedule (both numbers restart "
        "at 1 then). A raised --next-target skips the venue's messages in between: every open order is asked "
        "about at the next logon. A --next-target below the expected number only with --allow-lower-target: the "
        "venue's numbering restarted (its Logon refused as numbered too low); its messages from there are then a "
        "new numbering, taken as new ones, and what it sent under the old numbering may be lost: every open order "
        f"and request unanswered is asked about at the next logon.{NO_ANSWER_HELP}",
    )
    add_target(set_seq)
    set_seq.add_argument("name", help="venue name (as in the config and `gateway status`)")
    set_seq.add_argument(
        "--next-sender", type=_seq_num, default=0, metavar="N", help="MsgSeqNum of our next message (our Logon)"
    )
    set_seq.add_argument(
        "--next-target", type=_seq_num, default=0, metavar="M", help="MsgSeqNum expected next from the venue"
    )
    set_seq.add_argument(
        "--allow-lower-target",
        action="store_true",
        help="allow --next-target below the number expected now: the venue's numbering restarted (its Logon was "
        "refused as numbered too low; agree it with the venue desk): its messages from M are taken as new ones, "
        "not as repeats (a fill it sends again is recognised by its ExecID); what it sent under the old numbering "
        "and never resent is lost with it: the next logon asks the venue about every open order and request "
        "unanswered; recorded in the audit log",
    )
    set_seq.add_argument("--reason", default="", type=operator_text, help="free text recorded in the audit log")
    set_seq.set_defaults(func=run_venue_set_seq)


def _seq_num(text: str) -> int:
    """Accept a MsgSeqNum: a whole number from 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1, got {text!r}") from None
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1, got {text!r}")
    return value


def operator_text(text: str) -> str:
    """Parse ``--reason``: at most 500 printable characters on one line (argparse exits 2 otherwise)."""
    problem = operator_text_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _account(text: str) -> str:
    """Accept an account name; refuse an empty one (it would otherwise mean the whole gateway)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name an account; leave --account out to act on the whole gateway")
    return text


def admin_socket_path(args: argparse.Namespace) -> Path:
    """Return the admin socket from ``--admin-socket`` or the config file."""
    if args.admin_socket:
        return Path(args.admin_socket)
    config = load_config(args.config)
    return config.path(config.admin_socket)


def who() -> str:
    """Describe the operator for audit records."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user} (cli pid {os.getpid()})"


def call(args: argparse.Namespace, request: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any] | int:
    """Send a request that changes state; return the reply, or the exit code after printing the problem.

    ``EXIT_REFUSED`` (1): refused, or the gateway could not be reached; nothing was changed.
    ``EXIT_NO_ANSWER`` (4): the request was sent but no answer came within ``timeout_s``; the gateway may
    still carry it out.
    """
    name = COMMAND_NAMES.get(request["cmd"], f"gateway {request['cmd'].replace('_', ' ')}")
    try:
        reply = admin_request(admin_socket_path(args), request, timeout_s)
    except AdminNoAnswerError as exc:
        print(
            f"{name}: {exc}: the request was sent and MAY STILL BE APPLIED when the gateway gets to it; "
            "check `gateway status` before repeating or undoing it",
            file=sys.stderr,
        )
        return EXIT_NO_ANSWER
    except (AdminError, ConfigError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if not reply.get("ok"):
        print(f"{name}: refused: {reply.get('error')}", file=sys.stderr)
        return EXIT_REFUSED
    return reply


def run_kill(args: argparse.Namespace) -> int:
    """Trigger the kill switch."""
    reply = call(args, {"cmd": "kill", "account": args.account, "who": who(), "reason": args.reason})
    if isinstance(reply, int):
        return reply
    scope = f"account {args.account}" if args.account else "the whole gateway"
    count = reply.get("orders_canceled", 0)
    pending = reply.get("journal_pending")
    if pending:
        again = "gateway kill" + (f" --account {args.account}" if args.account else "")
        audit = (
            "the risk audit log could NOT be written either (the kill's audit record is kept in memory, written "
            "late when it can be): a stop or crash before one of the two is written LOSES the kill, nothing on disk "
            f"holds it and the next start trades: free space, or run `{again}` again as soon as the gateway is "
            "started"
            if reply.get("audit_late")
            else "a stop or crash before that drops the journal's record: the next start re-applies the kill from "
            "the risk audit log, which holds it (the start reads that file and the ones two rotations leave, <log>.1 "
            "and <log>.2; a stop that drops it says how many rotations it stands)"
        )
        print(
            f"kill switch: {scope} HALTED in memory now (new orders are refused); the journal cannot be written "
            f"({pending}): the HALTED record and the cancels of {count} open orders are PENDING, written and then "
            f"sent as soon as the journal can be written again (free space on its disk); {audit}"
        )
        return EXIT_KILL_PENDING
    print(f"kill switch: {scope} HALTED; cancels sent or queued for {count} open orders")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    """Set trading back to ACTIVE."""
    reply = call(args, {"cmd": "resume", "account": args.account, "who": who(), "reason": args.reason})
    if isinstance(reply, int):
        return reply
    state = reply.get("state", "ACTIVE")
    scope = f"account {args.account}" if args.account else "the whole gateway"
    print(f"trading state: {state} for {args.account or 'the whole gateway'}")
    halted = reply.get("accounts_halted")
    own = _own_halts(halted) if not args.account and isinstance(halted, list) else ""
    if state != "ACTIVE":
        held_by = reply.get("held_by")
        holders = held_by if isinstance(held_by, list) else ["file"]  # a gateway of before held_by: the file
        lifted = reply.get("lifted", True) is not False  # a gateway of before "lifted": as it said then
        nothing = f"{scope} had no run-time halt to lift"  # the firm's halt, or the file's, only
        if "firm" in holders:
            done = f"the run-time halt of {scope} is lifted" if lifted else nothing
            print(
                f"gateway resume: {done}, but a firm-wide halt (`gateway kill` without --account) keeps it "
                f"{state}: `gateway resume` without --account lifts that",
                file=sys.stderr,
            )
        if "file" in holders or not holders:
            done = "the run-time halt is lifted" if lifted else nothing
            print(
                f"gateway resume: {done}, but the limits file keeps {scope} {state} "
                "(`trading_state` in the file; `gateway status` names the scope): edit the file to lift it",
                file=sys.stderr,
            )
        if own:  # once the file lets the firm trade, these stay stopped too (ops59b: not named before)
            print(f"gateway resume: also, {own}", file=sys.stderr)
        return EXIT_STILL_STOPPED
    if own:
        lifted = reply.get("lifted", True) is not False
        done = "the firm-wide run-time halt is lifted" if lifted else "the whole gateway had no run-time halt to lift"
        print(f"gateway resume: {done}, but {own}", file=sys.stderr)
        return EXIT_STILL_STOPPED
    return 0


def _own_halts(halted: list[Any]) -> str:
    """Word the accounts a firm-wide resume leaves stopped by a run-time state of their own ("": none), by how each
    was set: ``gateway kill --account``, or a halt after a fault of the gateway's own (trigger ``internal_error``;
    ops59b: it was called a kill). ``halted``: the reply's ``accounts_halted`` (``[account, state, trigger]``; a
    gateway of before the trigger: a kill)."""
    kills: list[str] = []
    faults: list[str] = []
    for item in halted:
        if isinstance(item, list) and len(item) >= 2:
            trigger = item[2] if len(item) > 2 else "kill"
            (faults if trigger == "internal_error" else kills).append(f"{item[0]} {item[1]}")
    parts = []
    for names, how in (
        (kills, "stopped by a kill of their own (`gateway kill --account`)"),
        (
            faults,
            "halted by the gateway after an internal error of its own (trigger internal_error; its ERROR says why)",
        ),
    ):
        if names:
            shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
            parts.append(f"{len(names)} account(s) stay {how}: {shown}")
    if not parts:
        return ""
    return "; ".join(parts) + "; `gateway resume --account A` lifts each (`gateway status` names them)"


def run_venue_reconnect(args: argparse.Namespace) -> int:
    """Take a LOGIN_REFUSED venue out of that state and connect it now."""
    request = {"cmd": "venue_reconnect", "venue": args.name, "who": who(), "reason": args.reason}
    reply = call(args, request)
    if isinstance(reply, int):
        return reply
    print(
        f"venue {args.name}: {reply.get('state', '?')}; logging in again now, with the venue config read at start "
        "(see `gateway status`)"
    )
    return 0


def run_venue_set_seq(args: argparse.Namespace) -> int:
    """Set a FIX venue's next outgoing / expected MsgSeqNum while it is not logged on."""
    if not args.next_sender and not args.next_target:
        print(
            "gateway venue set-seq: error: give --next-sender N and/or --next-target M (nothing was sent)",
            file=sys.stderr,
        )
        return 2
    request = {
        "cmd": "venue_set_seq",
        "venue": args.name,
        "next_sender": args.next_sender,
        "next_target": args.next_target,
        "allow_lower_target": args.allow_lower_target,
        "who": who(),
        "reason": args.reason,
    }
    reply = call(args, request)
    if isinstance(reply, int):
        return reply
    state = reply.get("state", "?")
    print(
        f"venue {args.name}: next MsgSeqNum sent {reply.get('next_sender_seq', '?')}, expected "
        f"{reply.get('next_target_seq', '?')} (written to its message store); state {state}"
        + (f": run `gateway venue reconnect {args.name}` to log on with it" if state == "LOGIN_REFUSED" else "")
    )
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Print the gateway's status (percentiles computed here, from the histogram counts it sends)."""
    try:
        status = fetch_status(admin_socket_path(args))
    except (AdminError, ConfigError) as exc:
        print(f"gateway status: {exc}", file=sys.stderr)
        return 1
    text = (
        json.dumps(status, indent=2, default=str)
        if args.json
        else format_status(status, all_accounts=getattr(args, "all_accounts", False))
    )
    write_stdout(text + "\n")  # a reader that stopped early (| head) took what it wanted: exit 0, quietly
    return 0


_RUNTIME_TRIGGERS = {"kill": "kill switch", "admin": "set", "internal_error": "halted after an internal error"}
"""How a run-time state was set (the audit trigger) in words, for the text status."""


ACCOUNT_LINES = 50
"""Up to this many risk accounts the text status lists every one; above it, those worth a look (``--all-accounts``)."""


def _worth_a_line(account: dict[str, Any]) -> bool:
    """Return True for an account with open orders, trades today, a halt, a run-time state, or not in the file."""
    return bool(
        account.get("open_orders")
        or account.get("traded_notional")
        or account.get("trading_state", "ACTIVE") != "ACTIVE"
        or account.get("runtime_state", "ACTIVE") != "ACTIVE"
        or account.get("configured") is False
    )


def _risk_lines(risk: dict[str, Any], all_accounts: bool = False) -> list[str]:
    """Render the risk section: firm state and limits, one line per account, the last reload (text status).

    Above ``ACCOUNT_LINES`` accounts (and without ``all_accounts``) only those ``_worth_a_line`` are listed, then a
    count of the others: a limits file of 40,000 accounts made 40,000 lines (rev55ops).
    """
    accounts: dict[str, dict[str, Any]] = risk.get("accounts") or {}
    not_active = sum(1 for v in accounts.values() if v.get("trading_state") != "ACTIVE")
    firm = (risk.get("trading_state") or {}).get("firm", "?")
    lines = [
        f"risk: firm {firm}, {len(accounts)} accounts ({not_active} not ACTIVE), "
        f"limits sha256 {str(risk.get('sha256', ''))[:12]} loaded {risk.get('loaded_at', '?')}"
    ]
    listed = accounts
    if not all_accounts and len(accounts) > ACCOUNT_LINES:
        listed = {name: account for name, account in accounts.items() if _worth_a_line(account)}
    if listed:
        lines.append("risk accounts (notional in the instrument's currency):")
    for name, account in listed.items():
        line = (
            f"  {name:<10} {account.get('trading_state', '?'):<9} {account.get('open_orders', 0)} open orders, "
            f"open notional {account.get('open_notional', '?')}, "
            f"traded notional today {account.get('traded_notional', '?')}"
        )
        runtime = account.get("runtime_state", "ACTIVE")
        if runtime != "ACTIVE":
            by = account.get("runtime_by")
            if by:
                trigger = _RUNTIME_TRIGGERS.get(account.get("runtime_trigger", ""), "set")
                reason = account.get("runtime_reason") or ""
                line += f"; {runtime} at run time ({trigger} by {by})" + (f": {reason}" if reason else "")
            else:
                line += f"; {runtime} at run time (kill switch or admin)"
        if account.get("configured") is False:
            line += "; not in the limits file"
        lines.append(line)
    if len(listed) < len(accounts):
        lines.append(
            f"  ({len(accounts) - len(listed):,} more accounts: ACTIVE, no open orders, no trades today; "
            "`gateway status --all-accounts` lists every one)"
        )
    return lines + _risk_reload_lines(risk)


def _risk_reload_lines(risk: dict[str, Any]) -> list[str]:
    """Say how the last risk reload went and which edited files are not applied (text status)."""
    lines: list[str] = []
    last = risk.get("last_reload")
    if last:
        if last.get("ok"):
            outcome = f"applied, {last.get('changes', 0)} change(s), sha256 {str(last.get('sha256', ''))[:12]}"
            if last.get("copy_problem"):
                outcome += (
                    f"; its copy in the state directory is NOT kept ({last['copy_problem']}): a restart while a "
                    "limits file is NOT APPLIED refuses to start where the copy left is stale or missing, and knows "
                    "the limits in force only from the risk audit log (rotate it at most twice before the restart, "
                    "and keep the rotated files uncompressed: a compressed one is not read): make it writable again "
                    "(free space, a read-only mount, permissions, an immutable flag) and reload again"
                )
        else:
            outcome = f"REFUSED, {last.get('errors', 0)} error(s); the limits in force are unchanged"
            errors, first = int(last.get("errors") or 0), last.get("reason") or last.get("first_error")
            if first:  # the reason in full (the audit log, or the file's first problem), a count of the rest
                more = f" (and {errors - 1} more: `gateway risk check` lists them)" if errors > 1 else ""
                outcome += f": {first}{more}"
            if last.get("retry"):  # a reader process gave no verdict: the file watch reads the file again (risk56)
                outcome += f"; {last['retry']}"
        when = f"{last.get('time', '?')} {last.get('trigger', '?')} by {last.get('who', '?')}"
        lines.append(f"risk last reload: {when}: {outcome}")
    else:
        lines.append("risk last reload: none since start-up")
    for item in risk.get("not_applied") or []:
        lines.append(
            f"risk NOT APPLIED: {item.get('file', '?')} was modified in place (since {item.get('since', '?')}): "
            + item.get("advice", "write a copy and mv it over, or run `gateway risk reload` when the write is complete")
        )
    notice = risk.get("start_positions")
    if isinstance(notice, dict):
        lines.append(f"risk start-of-day positions NOT the day's first start's: {notice.get('warning', '?')}")
    return lines


def _request_counts(counts: dict[str, int]) -> str:
    """Word the admin request counts as ``status 2, metrics 5`` (``none`` before the first)."""
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"


def _refnum_store_text(line: str, venue: dict[str, Any]) -> str:
    """Return a venue's status ``line`` with its OUCH UserRefNum store's trouble, if any (fixouch51)."""
    error, failures = venue.get("user_ref_num_store_error"), venue.get("user_ref_num_store_failures") or 0
    if error:
        return (
            f"{line.rstrip()} USERREFNUM STORE FAILING ({error}): new orders and replaces refused OUCH_REFNUM_STORE "
            f"until it can be written; {failures} failed writes since start"
        )
    if failures:
        return f"{line.rstrip()} (UserRefNum store: {failures} failed writes since start, writing again now)"
    return line


def format_status(status: dict[str, Any], all_accounts: bool = False) -> str:
    """Render the status JSON as a short human report (every risk account with ``all_accounts``)."""
    lines = [f"gateway {status.get('gateway_id', '?')}  pid {status.get('pid', '?')}  up {status.get('uptime_s', 0)} s"]
    hot_path = status.get("hot_path") or {}
    if hot_path:
        modules = hot_path.get("modules") or []
        compiled = hot_path.get("modules_compiled") or len(modules)
        detail = native.loaded_text(modules, compiled) if modules else hot_path.get("why", "")
        lines.append(f"hot path: {hot_path.get('path', '?')} ({detail})")
    accel = status.get("acceleration", {})
    sockets = {s.get("venue"): s for s in accel.get("sockets", [])}
    if accel:
        verdict = accel.get("all_venue_sockets_accelerated")
        every = {True: "yes", False: "no", None: "not yet"}.get(verdict, "?")
        why = f" ({accel['verdict']})" if accel.get("verdict") and verdict is not True else ""
        mode, reason = accel.get("mode", "?"), accel.get("reason", "")
        lines.append(f"acceleration: {mode} ({reason}); all venue sockets accelerated: {every}{why}")
        try:
            settings = msgspec.convert(accel.get("onload_env") or [], list[EfSetting])
        except msgspec.ValidationError:
            settings = []
        present = [s for s in settings if s.source != MISSING]  # planned for a stack the kernel path has not got
        if mode == "onload":
            lines.append(f"onload environment: {describe_settings(settings)}")
        elif present:
            lines.append(f"onload environment: ignored on the kernel path: {describe_settings(present)}")
        else:
            lines.append("onload environment: not used (kernel path)")
    io_uring = status.get("io_uring") or {}
    if io_uring:
        state = "blocked" if io_uring.get("blocked") else "not blocked"
        lines.append(f"io_uring guard: {io_uring.get('guard', '?')} ({state}: {io_uring.get('detail', '')})")
    spinner = status.get("spinner") or {}
    if spinner:
        lines.append(f"loop spin: {spinner.get('mode')}, {spinner.get('iterations', 0)} spin iterations")
    lines.append("venues:")
    for name, venue in status.get("venues", {}).items():
        sock = sockets.get(name, {})
        path = f"socket {sock.get('path')} ({sock.get('reason')})" if sock else ""
        line = f"  {name:<10} {venue.get('state', '?'):<12} {path}"
        if venue.get("state") == "LOGIN_REFUSED":
            fix = venue.get("login_refused_fix") or (
                "if the username or password in the venue config is wrong, correct it and restart the gateway (the "
                "config is read at start); if they are right, have the venue unlock the account, then run "
                f"`gateway venue reconnect {name}`"
            )
            line = (
                f"{line.rstrip()} last refusal: {venue.get('last_login_refusal') or '?'}, "
                f"{venue.get('login_refusals', '?')} in a row; not reconnecting: {fix}"
            )
        elif venue.get("login_refusals"):
            refusals, last = venue["login_refusals"], venue.get("last_login_refusal")
            line = f"{line.rstrip()} (login refused {refusals} in a row: {last})"
        line = _refnum_store_text(line, venue)
        lines.append(line)
    lines.append("strategies:")
    for sid, st in status.get("strategies", {}).items():
        conn = f"connected pid {st.get('pid')}" if st.get("connected") else "disconnected"
        lines.append(f"  {sid:<10} {conn:<22} orders {st.get('orders')} open {st.get('open_orders')}")
    counters = status.get("counters", {})
    interesting = (
        "orders_received",
        "orders_sent",
        "accepted",
        "filled",
        "canceled",
        "rejected_risk",
        "rejected_venue",
    )
    lines.append("orders: " + ", ".join(f"{k} {counters.get(k, 0)}" for k in interesting))
    lines.append(f"open orders: {status.get('orders_open', 0)}")
    rejects = status.get("rejects") or []
    if rejects:
        lines.append("rejects: " + ", ".join(f"{source}:{code} {count}" for source, code, count in rejects))
    risk = status.get("risk", {})
    if risk:
        lines += _risk_lines(risk, all_accounts)
    gc_info = status.get("gc", {})
    if gc_info:
        lines.append(
            f"gc: automatic by generation {gc_info.get('automatic_by_generation')}, "
            f"full collections on the hot path {gc_info.get('hot_path_full_collections')}"
        )
    journal = status.get("journal", {})
    journal_error = status.get("journal_error")
    if journal or journal_error:
        lag = journal.get("bytes_written", 0) - journal.get("bytes_synced", 0)
        line = (
            f"journal: {journal.get('records_written', 0)} records, {journal.get('bytes_written', 0)} bytes, "
            f"{lag} bytes not yet synced, {journal.get('fsyncs', 0)} fsyncs"
        )
        write_failures = journal.get("write_failures", 0)
        if write_failures:
            line += f", {write_failures} failed writes since start"
        fsync_failures = journal.get("fsync_failures", 0)
        if fsync_failures:
            line += f", {fsync_failures} failed fsyncs since start"
        pages_ahead = journal.get("pages_ahead", "")
        if pages_ahead and not pages_ahead[0].isdigit():  # not prepared: say why (docs/performance.md, stop 44)
            line += f", pages ahead not prepared ({pages_ahead})"
        if journal_error:  # the counts above stop moving: say why first (docs/reliability.md 2.3a)
            line = (
                f"journal: WRITE FAILING ({journal_error}): nothing is sent, new orders are refused "
                f"(JOURNAL_UNAVAILABLE) until it can be written; {line.removeprefix('journal: ')}"
            )
        lines.append(line)
    journal_file = status.get("journal_file") or {}
    if journal_file.get("problem"):
        lines.append(
            f"journal file: MISSING ({journal_file['problem']}): new orders are refused (JOURNAL_UNAVAILABLE), "
            "nothing is sent until it is back"
        )
    elif journal_file.get("restores"):
        lines.append(
            f"journal file: restored {journal_file['restores']} times after it was deleted while open "
            f"(last: {journal_file.get('last_problem')})"
        )
    lock_restores, marker_restores = journal_file.get("lock_restores", 0), journal_file.get("marker_restores", 0)
    if lock_restores or marker_restores:
        lines.append(
            f"journal directory: gateway.lock put back {lock_restores} times, .open marker {marker_restores} times "
            "after they were deleted while running (find out what deletes them)"
        )
    disks = [d for d in status.get("disks") or [] if isinstance(d.get("free_bytes"), int) and d["free_bytes"] >= 0]
    if disks:  # the least free first: the one that fills first (ops55)
        least = min(disks, key=lambda d: d["free_bytes"])
        short = status.get("disk_short_growths", 0)
        lines.append(
            f"disks: least free {least['free_bytes'] >> 20} MiB ({least.get('setting')} {least.get('path')})"
            + (f", {short} short growths: the disk is nearly full" if short else "")
        )
    unreadable = [d for d in status.get("disks") or [] if d.get("error")]
    if unreadable:  # free space unknown, not low (texts56)
        first = unreadable[0]
        lines.append(
            f"disks: the free space of {len(unreadable)} cannot be read ({first.get('setting')} {first.get('path')}: "
            f"{first.get('error')}" + (", ..." if len(unreadable) > 1 else "") + ")"
        )
    released = (status.get("memory") or {}).get("released_ids") or {}
    if released:
        lines.append(
            f"released cl_ord_ids: {released.get('used', 0)} of capacity {released.get('capacity', 0)} "
            f"({released.get('bytes', 0) >> 20} MiB, grown {released.get('grown', 0)} times)"
        )
    lookups = status.get("journal_lookups") or {}
    rebuild_failures = lookups.get("order_rebuild_failures", 0)
    if any(lookups.get(key) for key in ("ref_lookups", "ref_lookup_failures", "order_rebuilds")) or rebuild_failures:
        failures = lookups.get("ref_lookup_failures", 0)
        lines.append(
            f"journal look-ups: {lookups.get('ref_lookups', 0)} venue references no longer mapped "
            f"({lookups.get('ref_lookups_found', 0)} found, {lookups.get('ref_lookup_records', 0)} records read"
            + (f", {failures} FAILED: reconcile with the venue" if failures else "")
            + f"), {lookups.get('order_rebuilds', 0)} released orders read back "
            f"({lookups.get('order_rebuild_records', 0)} records"
            + (f", {rebuild_failures} reads FAILED: see the ERROR lines" if rebuild_failures else "")
            + ")"
        )
    admin = status.get("admin", {})
    if admin:
        lines.append(
            f"admin: event-loop time per request {admin.get('last_loop_us', 0):.0f} us last, "
            f"{admin.get('max_loop_us', 0):.0f} us max, requests {_request_counts(admin.get('requests') or {})}"
        )
    lines.append("latency (us, since start or latency_reset)  p50      p99    p99.9      max   count")
    for stage, lat in status.get("latency_us", {}).items():
        if lat.get("count"):
            lines.append(
                f"  {stage:<40} {lat['p50']:>7.1f} {lat['p99']:>8.1f} {lat['p99.9']:>8.1f} "
                f"{lat['max']:>8.1f} {int(lat['count']):>7}"
            )
    return "\n".join(lines)
