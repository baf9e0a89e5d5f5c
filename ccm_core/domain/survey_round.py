"""Steps 09–11 of the complaint aggregate: the satisfaction survey, its answer and the follow-up.

A part of ``Complaint`` (it inherits these methods), kept apart because the survey round has
its own schedule, texts and rules; the methods change the case only through its own helpers.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Mapped

from ccm_core.domain.errors import PreconditionFailed
from ccm_core.domain.lifecycle import CloseReason, Command, Decision, Status, refusal
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import NoticeKind, OutboxKind
from ccm_core.domain.records import SurveyResponse
from ccm_core.domain.sla import SlaPolicy
from ccm_core.domain.survey import REMIND_SURVEY, SurveyAnswer, SurveyDefinition

if TYPE_CHECKING:
    from ccm_core.domain.organisation import Department
    from ccm_core.domain.records import CustomerMessage


class _Case(Protocol):
    """What the survey round reads and writes of the complaint it is part of."""

    reference: str
    language: str
    priority: str
    status: Status
    decision: Decision | None
    close_reason: CloseReason | None
    follow_up_round: int
    updated_at: dt.datetime
    informed_at: dt.datetime | None
    closed_at: dt.datetime | None
    action_due_at: dt.datetime | None
    follow_up_started_at: dt.datetime | None
    survey_due_at: dt.datetime | None
    survey_send_at: dt.datetime | None
    survey_sent_at: dt.datetime | None
    survey_remind_at: dt.datetime | None
    survey_reminded_at: dt.datetime | None
    survey_expires_at: dt.datetime | None
    survey_answered_at: dt.datetime | None
    survey_responses: list[SurveyResponse]

    @property
    def department(self) -> Department: ...

    def _require(self, command: Command) -> Status: ...
    def _close(self, reason: CloseReason, now: dt.datetime) -> None: ...
    def _open_follow_up(self, now: dt.datetime, sla: SlaPolicy) -> None: ...
    def _queue_survey(
        self, kind: OutboxKind, now: dt.datetime, survey: SurveyDefinition, link: str
    ) -> None: ...
    def _audit(
        self,
        actor: Actor,
        now: dt.datetime,
        action: str,
        before: Status | None,
        details: dict[str, Any] | None = None,
    ) -> None: ...
    def _queue(
        self,
        kind: OutboxKind,
        now: dt.datetime,
        extra_payload: dict[str, Any] | None = None,
        answered_by: Actor | None = None,
        **params: Any,
    ) -> None: ...
    def _notify_staff(
        self,
        kind: NoticeKind,
        now: dt.datetime,
        payload: dict[str, Any] | None = None,
        message: CustomerMessage | None = None,
    ) -> None: ...


class SurveyRound:
    """The survey round's schedule and commands; ``Complaint`` supplies the rest of the case."""

    survey_due_at: Mapped[dt.datetime | None]  # the survey step's SLA deadline
    # The round's own schedule, run by the worker: when to send it, remind once, give up.
    survey_send_at: Mapped[dt.datetime | None]
    survey_sent_at: Mapped[dt.datetime | None]
    survey_remind_at: Mapped[dt.datetime | None]
    survey_reminded_at: Mapped[dt.datetime | None]
    survey_expires_at: Mapped[dt.datetime | None]
    survey_answered_at: Mapped[dt.datetime | None]

    def send_survey(
        self: _Case,
        actor: Actor,
        now: dt.datetime,
        *,
        survey: SurveyDefinition,
        link: str,
        reminder_hours: float,
        expiry_hours: float,
    ) -> None:
        """09: the satisfaction survey, its 1–5 choices as buttons and the signed link to the survey page.

        Sending it also sets the round's reminder and expiry times, which the worker's schedule acts on.
        """
        before = self._require(Command.SEND_SURVEY)
        self.status = Status.SURVEY_SENT
        self.survey_sent_at = now
        self.survey_send_at = None
        self.survey_remind_at = now + dt.timedelta(hours=reminder_hours)
        self.survey_expires_at = now + dt.timedelta(hours=expiry_hours)
        self.survey_reminded_at = None
        self._audit(actor, now, Command.SEND_SURVEY, before, {"round": self.follow_up_round})
        self._queue_survey(OutboxKind.SURVEY, now, survey, link)

    def remind_survey(
        self: _Case, actor: Actor, now: dt.datetime, *, survey: SurveyDefinition, link: str
    ) -> None:
        """No answer yet: ask once more, with the same choices and link. A round is reminded once."""
        before = self.status
        if before != Status.SURVEY_SENT:
            raise refusal(self.reference, before, REMIND_SURVEY)
        if self.survey_reminded_at is not None:
            raise PreconditionFailed(
                "survey_already_reminded",
                reference=self.reference,
                reminded_at=self.survey_reminded_at.isoformat(timespec="minutes"),
            )
        self.survey_reminded_at = now
        self._audit(actor, now, REMIND_SURVEY, before, {"round": self.follow_up_round})
        self._queue_survey(OutboxKind.SURVEY_REMINDER, now, survey, link)

    def _queue_survey(
        self: _Case, kind: OutboxKind, now: dt.datetime, survey: SurveyDefinition, link: str
    ) -> None:
        """The survey or its reminder: texts from the survey definition, in the customer's language."""
        choices = [{"score": c.value, "title": c.title} for c in survey.csat.choices(self.language)]
        self._queue(
            kind,
            now,
            extra_payload={"choices": choices, "round": self.follow_up_round, "link": link},
            question=survey.csat_question(self.language, self.reference),
            comment=survey.comment_question(self.language),
            link=link,
        )

    def record_survey_answer(
        self: _Case,
        actor: Actor,
        now: dt.datetime,
        *,
        answer: SurveyAnswer,
        comment: str | None,
        sla: SlaPolicy,
        max_rounds: int,
    ) -> SurveyResponse:
        """10: satisfied closes the case; not satisfied starts a follow-up round (11).

        A round that reaches ``max_rounds`` also alerts the department's leads.
        """
        command = answer.command
        before = self._require(command)
        response = SurveyResponse(
            round=self.follow_up_round,
            score=answer.score,
            comment=comment.strip() if comment and comment.strip() else None,
            satisfied=answer.satisfied,
            nps=answer.nps,
            source=answer.source,
            answered_at=now,
        )
        self.survey_responses.append(response)
        self.survey_answered_at = now
        details = {"score": answer.score, "round": self.follow_up_round, "source": answer.source}
        if answer.satisfied:
            self._close(CloseReason.SATISFIED, now)
            self._audit(actor, now, command, before, details)
        else:
            self._open_follow_up(now, sla)
            self._audit(actor, now, command, before, details)
            self._queue(OutboxKind.FOLLOW_UP_NOTICE, now, answered_by=actor)
            self._notify_staff(
                NoticeKind.SURVEY_DISSATISFIED, now, payload={"score": answer.score, "round": response.round}
            )
            if self.follow_up_round >= max_rounds:
                payload = {"round": self.follow_up_round, "limit": max_rounds}
                self._notify_staff(NoticeKind.FOLLOW_UP_ROUNDS_EXCEEDED, now, payload=payload)
        return response

    def expire_survey(self: _Case, actor: Actor, now: dt.datetime) -> None:
        """An unanswered survey closes the case as "no response"; the silent customer is not written to."""
        before = self._require(Command.EXPIRE_SURVEY)
        self._close(CloseReason.NO_RESPONSE, now)
        self._audit(actor, now, Command.EXPIRE_SURVEY, before, {"round": self.follow_up_round})

    def start_follow_up(self: _Case, actor: Actor, now: dt.datetime, *, sla: SlaPolicy) -> None:
        """11: staff reopen the case for a new action or proposal."""
        before = self._require(Command.START_FOLLOW_UP)
        if before == Status.CLOSED and self.decision != Decision.JUSTIFIED:
            raise PreconditionFailed(
                "reopen_needs_justified", reference=self.reference, close_reason=self.close_reason
            )
        self._open_follow_up(now, sla)
        self._audit(actor, now, Command.START_FOLLOW_UP, before, {"round": self.follow_up_round})
        self._queue(OutboxKind.FOLLOW_UP_NOTICE, now)
