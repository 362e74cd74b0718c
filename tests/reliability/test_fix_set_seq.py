"""``gateway venue set-seq``: ops set the FIX session's next MsgSeqNum the venue desk asks for (fix53).

``gateway run`` logs on to ``gateway sim fix`` (a real QuickFIX acceptor), stops cleanly, and its FIX message store
is lost: started again, its Logon carries MsgSeqNum 1 and the acceptor answers "MsgSeqNum too low, expecting 3 but
received 1": LOGIN_REFUSED (fixfix52). Before fix53 the only remedy on our side was editing the store file. Now the
venue desk's "send 3" is `gateway venue set-seq EQX --next-sender 3`: refused (exit 1, nothing changed) for a number
below ours, for a venue the gateway does not have, and while the venue is logged on; accepted while LOGIN_REFUSED,
audited in the log, written to the message store, so the gateway restarted logs on with it (and `gateway venue
reconnect` would, without the restart: tests/fix/test_loopback_set_seq.py).
"""

from __future__ import annotations

import shutil

import pytest

from risk.audit import read_audit_log
from tests.e2e.support import short_tmp
from tests.reliability.support import spawn_listening, wait_until
from tests.reliability.test_fix_logon_seq_too_low import _cli, _state, _stop
from tests.reliability.test_fix_recovery import FixGateway, _write_config


@pytest.mark.slow
def test_set_seq_when_venue_refused_our_logon_as_too_low_then_next_logon_carries_the_number_after_a_restart() -> None:
    workdir = short_tmp()
    venue_args = ["--begin-string", "FIX.4.2", "--reference-price", "AAPL=230.10"]
    port, sim = spawn_listening(["sim", "fix"], venue_args, workdir / "sim.log", "the FIX simulator")
    gateway = FixGateway(workdir, _write_config(workdir, port))
    try:
        gateway.start()
        assert gateway.stop() == 0  # Logon 1, Logout 2: the venue expects 3 next
        shutil.rmtree(workdir / "fix")  # the gateway's FIX store lost; the venue keeps its numbers
        gateway.start(wait_up=False)
        wait_until(lambda: _state(gateway) == "LOGIN_REFUSED", 15, "LOGIN_REFUSED")
        venue = gateway.status()["venues"]["EQX"]
        assert venue["next_sender_seq"] == 2 and venue["login_refused_expected_seq"] == 3
        assert "gateway venue set-seq EQX --next-sender 3" in venue["login_refused_fix"]

        below = _cli(gateway, "venue", "set-seq", "EQX", "--next-sender", "1")
        assert below.returncode == 1, below
        assert "refused" in below.stderr and "below our next MsgSeqNum 2" in below.stderr
        unknown = _cli(gateway, "venue", "set-seq", "NOPE", "--next-sender", "3")
        assert unknown.returncode == 1 and "unknown venue 'NOPE'" in unknown.stderr, unknown
        bad = _cli(gateway, "venue", "set-seq", "EQX", "--next-sender", "0")
        assert bad.returncode == 2 and "whole number from 1" in bad.stderr, bad
        neither = _cli(gateway, "venue", "set-seq", "EQX")
        assert neither.returncode == 2 and "--next-sender" in neither.stderr, neither
        assert gateway.status()["venues"]["EQX"]["next_sender_seq"] == 2  # nothing changed

        done = _cli(gateway, "venue", "set-seq", "EQX", "--next-sender", "3", "--reason", "venue desk: send 3")
        assert done.returncode == 0, done.stderr
        assert "next MsgSeqNum sent 3" in done.stdout and "gateway venue reconnect EQX" in done.stdout
        assert gateway.status()["venues"]["EQX"]["next_sender_seq"] == 3
        log = gateway.log_text()
        assert "admin: venue_set_seq from pid " in log
        audit = [line for line in log.splitlines() if "MsgSeqNums set by" in line]
        assert len(audit) == 1 and "WARNING" in audit[0] and "venue desk: send 3" in audit[0], audit
        assert "next sent 2 -> 3" in audit[0]
        # and a record in the audit log, with the --reason, as the command's help says (fixfix54b: before, none)
        records = [r for r in read_audit_log(workdir / "audit.jsonl") if r["event"] == "venue_set_seq"]
        assert len(records) == 1, records
        record = records[0]
        assert (record["venue"], record["reason"], record["trigger"]) == ("EQX", "venue desk: send 3", "admin")
        assert (record["next_sender_seq_before"], record["next_sender_seq_after"]) == (2, 3)

        # the number is in the message store: the gateway restarted logs on with it, no LOGIN_REFUSED
        assert gateway.stop() == 0
        gateway.start()
        assert gateway.status()["venues"]["EQX"]["state"] == "UP"

        logged_on = _cli(gateway, "venue", "set-seq", "EQX", "--next-sender", "50")
        assert logged_on.returncode == 1, logged_on
        assert "only while the venue is not logged on" in logged_on.stderr and "nothing was changed" in logged_on.stderr
    finally:
        gateway.stop()
        _stop(sim)
