"""An ExecID that is not UTF-8: the fill still reaches the core, once, under an id that tells it apart (rev56diff).

Before, the fill path decoded the ExecID strictly: a fill whose ExecID held a byte that is not UTF-8 was refused as
undecodable (a session Reject) and never reached the strategy, while the other paths decoded it with replacement
characters (two different such ids became equal). Every path now keeps such bytes as ``\\xNN`` escapes.
"""

from __future__ import annotations

from model.order import mark_sent
from model.venue_events import VenueAccepted, VenueExecuted
from tests.fix.helpers import make_order
from tests.fix.test_adapter import Rig
from tests.harness import sent_ref


def test_fill_when_exec_id_is_not_utf8_then_applied_and_two_such_ids_stay_apart() -> None:
    rig = Rig().up()
    order = make_order(7)
    mark_sent(order, sent_ref(rig.adapter.send_new(order)))
    rig.applying(order)
    rig.feed(
        rig.peer.execution_report(b"Q6rj7", b"0"),
        rig.peer.execution_report(
            b"Q6rj7", b"1", ord_status=b"1", leaves=60, cum=40, last_qty=40, last_px=b"150.2", exec_id=b"E\xff1"
        ),
        rig.peer.execution_report(
            b"Q6rj7", b"1", ord_status=b"1", leaves=30, cum=70, last_qty=30, last_px=b"150.2", exec_id=b"E\xfe1"
        ),
    )
    assert rig.events() == [
        VenueAccepted(2, 7, "OID1", 100, 1_502_500),
        VenueExecuted(3, 7, 40, 1_502_000, "", "E\\xff1"),
        VenueExecuted(4, 7, 30, 1_502_000, "", "E\\xfe1"),
    ]
