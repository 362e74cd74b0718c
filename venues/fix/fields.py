"""FIX tag numbers and enumerated values used by the session layer and the venue mapping.

Tags are kept as the ASCII bytes they appear as on the wire (``b"35"``), because the
decoder keys its field dictionary by the raw tag bytes: no int conversion per field.
Values are bytes for the same reason.
"""

from __future__ import annotations

from typing import Final

SOH: Final = b"\x01"

# ---- standard header / trailer ------------------------------------------------------------
BEGIN_STRING: Final = b"8"
BODY_LENGTH: Final = b"9"
MSG_TYPE: Final = b"35"
SENDER_COMP_ID: Final = b"49"
TARGET_COMP_ID: Final = b"56"
MSG_SEQ_NUM: Final = b"34"
SENDING_TIME: Final = b"52"
POSS_DUP_FLAG: Final = b"43"
POSS_RESEND: Final = b"97"
ORIG_SENDING_TIME: Final = b"122"
CHECKSUM: Final = b"10"

HEADER_TAGS: Final = frozenset(
    {BEGIN_STRING, BODY_LENGTH, MSG_TYPE, SENDER_COMP_ID, TARGET_COMP_ID, MSG_SEQ_NUM, SENDING_TIME}
    | {POSS_DUP_FLAG, POSS_RESEND, ORIG_SENDING_TIME}
    | {b"50", b"57", b"115", b"128", b"116", b"129", b"142", b"143", b"144", b"145", b"369"}
)
"""Header tags a resend keeps in the header (the common ones; others stay where they were)."""

# ---- session (admin) messages -------------------------------------------------------------
ENCRYPT_METHOD: Final = b"98"
HEART_BT_INT: Final = b"108"
RESET_SEQ_NUM_FLAG: Final = b"141"
USERNAME: Final = b"553"
PASSWORD: Final = b"554"
TEST_REQ_ID: Final = b"112"
BEGIN_SEQ_NO: Final = b"7"
END_SEQ_NO: Final = b"16"
NEW_SEQ_NO: Final = b"36"
GAP_FILL_FLAG: Final = b"123"
REF_SEQ_NUM: Final = b"45"
REF_TAG_ID: Final = b"371"
REF_MSG_TYPE: Final = b"372"
SESSION_REJECT_REASON: Final = b"373"
BUSINESS_REJECT_REF_ID: Final = b"379"
BUSINESS_REJECT_REASON: Final = b"380"
TEXT: Final = b"58"
NEXT_EXPECTED_MSG_SEQ_NUM: Final = b"789"

# ---- application messages -----------------------------------------------------------------
ACCOUNT: Final = b"1"
AVG_PX: Final = b"6"
CL_ORD_ID: Final = b"11"
CUM_QTY: Final = b"14"
EXEC_ID: Final = b"17"
EXEC_REF_ID: Final = b"19"
EXEC_TRANS_TYPE: Final = b"20"
HANDL_INST: Final = b"21"
LAST_PX: Final = b"31"
LAST_QTY: Final = b"32"
ORDER_ID: Final = b"37"
ORDER_QTY: Final = b"38"
ORD_STATUS: Final = b"39"
ORD_TYPE: Final = b"40"
ORIG_CL_ORD_ID: Final = b"41"
PRICE: Final = b"44"
SIDE: Final = b"54"
SYMBOL: Final = b"55"
TIME_IN_FORCE: Final = b"59"
TRANSACT_TIME: Final = b"60"
EX_DESTINATION: Final = b"100"
CXL_REJ_REASON: Final = b"102"
ORD_REJ_REASON: Final = b"103"
EXEC_TYPE: Final = b"150"
LEAVES_QTY: Final = b"151"
EXEC_RESTATEMENT_REASON: Final = b"378"
CXL_REJ_RESPONSE_TO: Final = b"434"


class MsgType:
    """MsgType (35) values."""

    HEARTBEAT: Final = b"0"
    TEST_REQUEST: Final = b"1"
    RESEND_REQUEST: Final = b"2"
    REJECT: Final = b"3"
    SEQUENCE_RESET: Final = b"4"
    LOGOUT: Final = b"5"
    LOGON: Final = b"A"
    EXECUTION_REPORT: Final = b"8"
    ORDER_CANCEL_REJECT: Final = b"9"
    NEW_ORDER_SINGLE: Final = b"D"
    ORDER_CANCEL_REQUEST: Final = b"F"
    ORDER_CANCEL_REPLACE_REQUEST: Final = b"G"
    ORDER_STATUS_REQUEST: Final = b"H"
    BUSINESS_MESSAGE_REJECT: Final = b"j"


ADMIN_MSG_TYPES: Final = frozenset(
    {
        MsgType.HEARTBEAT,
        MsgType.TEST_REQUEST,
        MsgType.RESEND_REQUEST,
        MsgType.REJECT,
        MsgType.SEQUENCE_RESET,
        MsgType.LOGOUT,
        MsgType.LOGON,
    }
)


class ExecType:
    """ExecType (150) values (FIX 4.2 and 4.4; ``TRADE`` is 4.4, 1/2 are 4.2)."""

    NEW: Final = b"0"
    PARTIAL_FILL: Final = b"1"
    FILL: Final = b"2"
    DONE_FOR_DAY: Final = b"3"
    CANCELED: Final = b"4"
    REPLACED: Final = b"5"
    PENDING_CANCEL: Final = b"6"
    REJECTED: Final = b"8"
    PENDING_NEW: Final = b"A"
    EXPIRED: Final = b"C"
    RESTATED: Final = b"D"
    PENDING_REPLACE: Final = b"E"
    TRADE: Final = b"F"
    ORDER_STATUS: Final = b"I"


class SessionRejectReason:
    """SessionRejectReason (373) values."""

    INVALID_TAG_NUMBER: Final = 0
    REQUIRED_TAG_MISSING: Final = 1
    TAG_NOT_DEFINED_FOR_MESSAGE: Final = 2
    UNDEFINED_TAG: Final = 3
    TAG_WITHOUT_VALUE: Final = 4
    VALUE_INCORRECT: Final = 5
    INCORRECT_DATA_FORMAT: Final = 6
    COMP_ID_PROBLEM: Final = 9
    SENDING_TIME_ACCURACY: Final = 10
    INVALID_MSG_TYPE: Final = 11
