"""The survey's schedule (09/10), run by the worker: send it, remind once, close it as "no response".

The times live on the complaint (``survey_send_at``, ``survey_remind_at``, ``survey_expires_at``),
set by the aggregate when the customer is informed and when the survey goes out. Each step
changes one case in its own short transaction that writes the step's time together with its
outbox message, so a restarted worker repeats nothing and loses nothing. Two workers may run
this at once: the one that commits second meets the complaint's version check
(``ConcurrentUpdate``) or a case that is no longer due, and skips it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.errors import ConcurrentUpdate, InvalidTransition, PreconditionFailed
from ccm_core.domain.lifecycle import Status
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import services
from ccm_core.service_layer.unit_of_work import UnitOfWork

SURVEYS = Actor.system("surveys")


@dataclass(frozen=True)
class SurveyRun:
    """What one run of the schedule did."""

    sent: int = 0
    reminded: int = 0
    expired: int = 0
    skipped: int = 0  # changed by someone else meanwhile (answered, sent by hand, another worker)


def _send_due(complaint: Complaint, now: dt.datetime) -> bool:
    return (
        complaint.status == Status.CUSTOMER_INFORMED
        and complaint.survey_send_at is not None
        and complaint.survey_send_at <= now
    )


def _expiry_due(complaint: Complaint, now: dt.datetime) -> bool:
    return (
        complaint.status == Status.SURVEY_SENT
        and complaint.survey_expires_at is not None
        and complaint.survey_expires_at <= now
    )


def _reminder_due(complaint: Complaint, now: dt.datetime) -> bool:
    return (
        complaint.status == Status.SURVEY_SENT
        and complaint.survey_reminded_at is None
        and complaint.survey_remind_at is not None
        and complaint.survey_remind_at <= now
        and not _expiry_due(complaint, now)
    )


def run_survey_schedule(uow: UnitOfWork, *, limit: int = 500) -> SurveyRun:
    """Do every due step once: expire unanswered surveys, remind once, send the surveys due.

    Expiry goes first, so a survey both due a reminder and expired is closed without a reminder.
    At most ``limit`` cases per step are taken; the next run takes the rest.
    """
    with uow:
        now = uow.now()
        to_expire = uow.complaints.surveys_to_expire(now, limit)
        to_remind = uow.complaints.surveys_to_remind(now, limit)
        to_send = uow.complaints.surveys_to_send(now, limit)

    def expire(complaint: Complaint, now: dt.datetime) -> None:
        complaint.expire_survey(SURVEYS, now)

    def remind(complaint: Complaint, now: dt.datetime) -> None:
        services.queue_survey_reminder(uow, complaint, SURVEYS, now)

    def send(complaint: Complaint, now: dt.datetime) -> None:
        services.queue_survey(uow, complaint, SURVEYS, now)

    expired = sum(_step(uow, reference, _expiry_due, expire) for reference in to_expire)
    reminded = sum(_step(uow, reference, _reminder_due, remind) for reference in to_remind)
    sent = sum(_step(uow, reference, _send_due, send) for reference in to_send)
    found = len(to_expire) + len(to_remind) + len(to_send)
    return SurveyRun(sent=sent, reminded=reminded, expired=expired, skipped=found - sent - reminded - expired)


def _step(
    uow: UnitOfWork,
    reference: str,
    due: Callable[[Complaint, dt.datetime], bool],
    change: Callable[[Complaint, dt.datetime], None],
) -> bool:
    """Change one case if it is still due when read again; False when someone else got there first."""
    try:
        with uow:
            complaint = uow.complaints.get(reference)
            now = uow.now()
            if complaint is None or not due(complaint, now):
                return False
            change(complaint, now)
            uow.commit()
            return True
    except (ConcurrentUpdate, InvalidTransition, PreconditionFailed):
        return False


def survey_comment(uow: UnitOfWork, reference: str, round_: int) -> str | None:
    """The customer's comment on a round's survey, read when staff are shown it (erasure clears it)."""
    with uow:
        return uow.complaints.survey_comment(reference, round_)
