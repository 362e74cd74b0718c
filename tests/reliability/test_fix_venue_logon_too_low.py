"""The venue's Logon numbered too low, through ``gateway run`` and the CLI (fixlogon56).

``gateway run`` logs on to ``gateway sim fix`` (a real QuickFIX acceptor, memory store) and stops cleanly: the venue's
Logon 1 and Logout 2 taken, 3 expected. The venue restarts without its store (a new simulator process): its Logon is
numbered 1 again, without ResetSeqNumFlag. Before fixlogon56 the gateway answered Logout "MsgSeqNum too low" and
reconnected on its backoff for ever (WARNING lines only, ``DISCONNECTED`` with no reason), and ``gateway venue set-seq
EQX --next-target 1`` was refused with no way round. Now: LOGIN_REFUSED with the reason in ``gateway status``; the
set-seq below the expected number is refused without ``--allow-lower-target`` (the message names it) and accepted
with it, logged and audited as lowered; ``gateway venue reconnect`` logs on, and the logon reads the lowering from
the message store (fixlogon56b: the open orders are asked about; none here, which its line says).
"""

from __future__ import annotations

import pytest

from risk.audit import read_audit_log
from tests.e2e.support import short_tmp
from tests.reliability.support import spawn_listening, wait_until
from tests.reliability.test_fix_logon_seq_too_low import _cli, _state, _stop
from tests.reliability.test_fix_recovery import FixGateway, _write_config


@pytest.mark.slow
def test_venue_logon_when_numbered_too_low_then_login_refused_and_set_seq_lower_target_then_reconnect_up() -> None:
    workdir = short_tmp()
    venue_args = ["--begin-string", "FIX.4.2", "--reference-price", "AAPL=230.10"]
    port, sim = spawn_listening(["sim", "fix"], venue_args, workdir / "sim.log", "the FIX simulator")
    gateway = FixGateway(workdir, _write_config(workdir, port))
    try:
        gateway.start()
        assert gateway.stop() == 0  # the venue's Logon 1 and Logout 2: 3 expected from it
        _stop(sim)
        port, sim = spawn_listening(["sim", "fix"], venue_args, workdir / "sim2.log", "the restarted simulator")
        _write_config(workdir, port)  # the venue restarted without its store: its numbers start at 1 again
        gateway.start(wait_up=False)
        wait_until(lambda: _state(gateway) == "LOGIN_REFUSED", 15, "LOGIN_REFUSED")  # before: DISCONNECTED, retried
        venue = gateway.status()["venues"]["EQX"]
        assert venue["login_refused_by"] == "gateway"
        assert (venue["login_refused_logon_seq"], venue["login_refused_expected_seq"]) == (1, 3)
        assert "the venue's Logon carried MsgSeqNum 1, below the 3 expected from it" in venue["reason"]
        assert "gateway venue set-seq EQX --next-target 1 --allow-lower-target" in venue["login_refused_fix"]
        assert venue["session_venue_logons_too_low"] == 1
        (line,) = [line for line in _cli(gateway, "status").stdout.splitlines() if line.startswith("  EQX ")]
        assert "LOGIN_REFUSED" in line and "last refusal: the venue's Logon carried MsgSeqNum 1" in line, line

        refused = _cli(gateway, "venue", "set-seq", "EQX", "--next-target", "1")
        assert refused.returncode == 1, refused
        assert "--allow-lower-target" in refused.stderr and "Nothing was changed" in refused.stderr
        assert gateway.status()["venues"]["EQX"]["next_target_seq"] == 3
        lowered = _cli(
            gateway, "venue", "set-seq", "EQX", "--next-target", "1", "--allow-lower-target", "--reason", "desk"
        )
        assert lowered.returncode == 0, lowered.stderr
        assert "expected 1" in lowered.stdout and "gateway venue reconnect EQX" in lowered.stdout
        log = gateway.log_text()
        (warning,) = [line for line in log.splitlines() if "MsgSeqNums set by" in line]
        assert "next expected 3 -> 1" in warning and "expected number LOWERED" in warning
        assert "the next logon asks the venue about every open order" in warning  # fixlogon56b
        (record,) = [r for r in read_audit_log(workdir / "audit.jsonl") if r["event"] == "venue_set_seq"]
        assert (record["next_target_seq_before"], record["next_target_seq_after"]) == (3, 1)
        assert record["lowered_target"] is True and record["reason"] == "desk"

        reconnect = _cli(gateway, "venue", "reconnect", "EQX", "--reason", "numbers agreed")
        assert reconnect.returncode == 0, reconnect.stderr
        wait_until(lambda: _state(gateway) == "UP", 15, "UP after the reconnect")
        assert gateway.log_text().count("LOGON REFUSED: the venue's Logon carried") == 1
        # the core's after_replay at UP read the store's mark (fixlogon56b): no order open here, nothing asked
        wait_until(lambda: "nothing to ask about" in gateway.log_text(), 15, "the lowering's line at the logon")
        (asked,) = [line for line in gateway.log_text().splitlines() if "lowered the MsgSeqNum expected" in line]
        assert "from 3 to 1: no order open" in asked, asked
    finally:
        gateway.stop()
        _stop(sim)
