"""The complaint process as a state machine.

The states and commands follow the complaint process chart (steps 02–11). The
table below is the single source of truth for which command is allowed in which
state; the entities, the service layer and the tests all ask it.
"""

from __future__ import annotations

from enum import StrEnum

from ccm_core.domain.errors import InvalidTransition


class Status(StrEnum):
    RECEIVED = "received"  # 02/04 record created
    IN_REVIEW = "in_review"  # 03 review by the department, 05 interim notice queued
    TAKING_ACTION = "taking_action"  # 06 justified → 07 corrective / preventive actions
    CUSTOMER_INFORMED = "customer_informed"  # 08 customer told what was done
    SURVEY_SENT = "survey_sent"  # 09 satisfaction survey sent
    FOLLOW_UP = "follow_up"  # 11 follow-up round after a dissatisfied answer
    CLOSED = "closed"


class Command(StrEnum):
    START_REVIEW = "start_review"
    DECIDE_JUSTIFIED = "decide_justified"
    DECIDE_UNJUSTIFIED = "decide_unjustified"
    ADD_ACTION = "add_action"
    COMPLETE_ACTION = "complete_action"
    INFORM_CUSTOMER = "inform_customer"
    SEND_SURVEY = "send_survey"
    ANSWER_SATISFIED = "answer_satisfied"
    ANSWER_DISSATISFIED = "answer_dissatisfied"
    EXPIRE_SURVEY = "expire_survey"
    START_FOLLOW_UP = "start_follow_up"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    ADD_CUSTOMER_MESSAGE = "add_customer_message"
    REASSIGN = "reassign"
    REQUEST_HUMAN = "request_human"
    TAKE = "take"  # a staff member takes the case as theirs
    # During a handoff only (``needs_human``), so not in the table: staff write to the customer's
    # chat, then hand the conversation back to the assistant.
    REPLY_TO_CUSTOMER = "reply_to_customer"
    HAND_BACK = "hand_back"


class Decision(StrEnum):
    JUSTIFIED = "justified"
    UNJUSTIFIED = "unjustified"


class CloseReason(StrEnum):
    SATISFIED = "satisfied"  # 10: customer satisfied, process ends
    UNJUSTIFIED = "unjustified"  # 07: customer told why, record closed
    NO_RESPONSE = "no_response"  # survey expired unanswered
    WITHDRAWN = "withdrawn"  # customer withdrew the complaint
    RESOLVED = "resolved"  # closed by staff after informing the customer


class Channel(StrEnum):
    WEB = "web"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    PHONE = "phone"
    CALL_CENTRE = "call_centre"
    SURVEY = "survey"
    OPERATIONAL_VISIT = "operational_visit"
    SOCIAL_MEDIA = "social_media"


CHAT_CHANNELS = frozenset({Channel.WEB, Channel.TELEGRAM, Channel.WHATSAPP})


class Language(StrEnum):
    TR = "tr"
    EN = "en"
    DE = "de"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class ActionKind(StrEnum):
    CORRECTIVE = "corrective"
    PREVENTIVE = "preventive"


class Role(StrEnum):
    AGENT = "agent"
    LEAD = "lead"
    ADMIN = "admin"


S, C = Status, Command
_OPEN = (S.RECEIVED, S.IN_REVIEW, S.TAKING_ACTION, S.CUSTOMER_INFORMED, S.SURVEY_SENT, S.FOLLOW_UP)

TRANSITIONS: dict[tuple[Status, Command], Status] = {
    (S.RECEIVED, C.START_REVIEW): S.IN_REVIEW,
    (S.IN_REVIEW, C.DECIDE_JUSTIFIED): S.TAKING_ACTION,
    (S.IN_REVIEW, C.DECIDE_UNJUSTIFIED): S.CLOSED,
    (S.TAKING_ACTION, C.ADD_ACTION): S.TAKING_ACTION,
    (S.TAKING_ACTION, C.COMPLETE_ACTION): S.TAKING_ACTION,
    (S.TAKING_ACTION, C.INFORM_CUSTOMER): S.CUSTOMER_INFORMED,
    (S.CUSTOMER_INFORMED, C.SEND_SURVEY): S.SURVEY_SENT,
    (S.CUSTOMER_INFORMED, C.CLOSE): S.CLOSED,
    (S.CUSTOMER_INFORMED, C.START_FOLLOW_UP): S.FOLLOW_UP,
    (S.SURVEY_SENT, C.ANSWER_SATISFIED): S.CLOSED,
    (S.SURVEY_SENT, C.ANSWER_DISSATISFIED): S.FOLLOW_UP,
    (S.SURVEY_SENT, C.EXPIRE_SURVEY): S.CLOSED,
    (S.SURVEY_SENT, C.START_FOLLOW_UP): S.FOLLOW_UP,
    (S.SURVEY_SENT, C.CLOSE): S.CLOSED,
    (S.FOLLOW_UP, C.ADD_ACTION): S.FOLLOW_UP,
    (S.FOLLOW_UP, C.COMPLETE_ACTION): S.FOLLOW_UP,
    (S.FOLLOW_UP, C.INFORM_CUSTOMER): S.CUSTOMER_INFORMED,
    (S.FOLLOW_UP, C.CLOSE): S.CLOSED,
    (S.CLOSED, C.START_FOLLOW_UP): S.FOLLOW_UP,  # reopen; guarded: justified cases only
    **{(state, C.WITHDRAW): S.CLOSED for state in _OPEN},
    **{(state, C.ADD_CUSTOMER_MESSAGE): state for state in _OPEN},
    **{(state, C.REQUEST_HUMAN): state for state in _OPEN},
    **{(state, C.TAKE): state for state in _OPEN},
    **{(state, C.REASSIGN): state for state in (S.RECEIVED, S.IN_REVIEW, S.TAKING_ACTION, S.FOLLOW_UP)},
}


def allowed_commands(status: Status) -> list[Command]:
    """Commands the process allows in ``status``, in a stable order."""
    return [command for command in Command if (status, command) in TRANSITIONS]


def target_status(status: Status, command: Command) -> Status | None:
    """The state ``command`` leads to from ``status``, or None when not allowed."""
    return TRANSITIONS.get((status, command))


def refusal(reference: str, current: Status, command: str) -> InvalidTransition:
    """The typed refusal of ``command`` in ``current``, naming the commands allowed instead."""
    return InvalidTransition(
        reference=reference,
        current=current,
        command=command,
        allowed=[str(c) for c in allowed_commands(current)],
    )
