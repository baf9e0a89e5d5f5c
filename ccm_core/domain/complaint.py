"""The complaint aggregate: every change to a case goes through one of its methods.

Each method checks the lifecycle table, stamps the step's time, and leaves the audit event
and any customer message or staff notice in ``pending`` for the unit of work to store in the
same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, orm
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ccm_core.domain.base import Base, EnumText
from ccm_core.domain.customer import Customer
from ccm_core.domain.errors import NotFound, PreconditionFailed, ValidationFailed
from ccm_core.domain.lifecycle import (
    ActionKind,
    Channel,
    CloseReason,
    Command,
    Decision,
    Status,
    allowed_commands,
    refusal,
    target_status,
)
from ccm_core.domain.organisation import Category, Department, Staff
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import NoticeKind, OutboxKind, OutboxMessage, StaffNotice
from ccm_core.domain.records import (
    AuditEvent,
    CaseAttachment,
    CorrectiveAction,
    CustomerMessage,
    SurveyResponse,
)
from ccm_core.domain.sla import SlaPolicy, SlaStep
from ccm_core.domain.survey_round import SurveyRound

ERASED = "[erased]"


class Complaint(Base, SurveyRound):
    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_status_department", "status", "department_id"),
        Index("ix_complaints_received_at", "received_at"),
        # The worker's survey schedule finds due cases by status and time (migration 0006).
        Index("ix_complaints_status_survey_send_at", "status", "survey_send_at"),
        Index("ix_complaints_status_survey_remind_at", "status", "survey_remind_at"),
        Index("ix_complaints_status_survey_expires_at", "status", "survey_expires_at"),
        # The monthly report counts decisions and closings by month (migration 0006).
        Index("ix_complaints_decided_at", "decided_at"),
        Index("ix_complaints_closed_at", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    description: Mapped[str] = mapped_column(Text)
    external_reference: Mapped[str | None] = mapped_column(String(100))  # order or account number
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[Status] = mapped_column(EnumText(Status, 32))
    decision: Mapped[Decision | None] = mapped_column(EnumText(Decision, 16))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    customer_explanation: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(300))
    close_reason: Mapped[CloseReason | None] = mapped_column(EnumText(CloseReason, 32))
    follow_up_round: Mapped[int] = mapped_column(Integer, default=0)
    needs_human: Mapped[bool] = mapped_column(Boolean, default=False)

    received_at: Mapped[dt.datetime]
    acknowledged_at: Mapped[dt.datetime | None]
    review_started_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    informed_at: Mapped[dt.datetime | None]
    follow_up_started_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]

    ack_due_at: Mapped[dt.datetime | None]
    interim_due_at: Mapped[dt.datetime | None]
    decision_due_at: Mapped[dt.datetime | None]
    action_due_at: Mapped[dt.datetime | None]
    # When the customer was told, unasked, that the review runs long (05, sent once per case).
    delay_notice_at: Mapped[dt.datetime | None]

    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it from the class

    category: Mapped[Category] = relationship(lazy="joined")
    department: Mapped[Department] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")
    assignee: Mapped[Staff | None] = relationship()
    actions: Mapped[list[CorrectiveAction]] = relationship(
        back_populates="complaint", order_by="CorrectiveAction.id", lazy="selectin"
    )
    messages: Mapped[list[CustomerMessage]] = relationship(
        back_populates="complaint", order_by="CustomerMessage.id", lazy="selectin"
    )
    survey_responses: Mapped[list[SurveyResponse]] = relationship(
        back_populates="complaint", order_by="SurveyResponse.id", lazy="selectin"
    )
    attachments: Mapped[list[CaseAttachment]] = relationship(
        back_populates="complaint", order_by="CaseAttachment.id", lazy="selectin"
    )

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        self.pending: list[AuditEvent | OutboxMessage | StaffNotice] = []

    @orm.reconstructor
    def _init_on_load(self) -> None:
        self.pending = []

    # -- creation --

    @classmethod
    def record(
        cls,
        *,
        actor: Actor,
        now: dt.datetime,
        reference: str,
        channel: str,
        language: str,
        category: Category,
        description: str,
        customer: Customer,
        priority: str,
        sla: SlaPolicy,
        idempotency_key: str | None = None,
        external_reference: str | None = None,
    ) -> Complaint:
        """02/04: create the record, route it, set its first deadlines and queue the acknowledgement."""
        calendar = category.department.calendar()
        complaint = cls(
            reference=reference,
            idempotency_key=idempotency_key,
            channel=channel,
            language=language,
            category=category,
            description=description,
            external_reference=external_reference,
            customer=customer,
            department=category.department,
            priority=priority,
            status=Status.RECEIVED,
            follow_up_round=0,
            needs_human=False,
            received_at=now,
            updated_at=now,
            ack_due_at=sla.due(SlaStep.ACKNOWLEDGE, priority, now, calendar),
            interim_due_at=sla.due(SlaStep.INTERIM_NOTICE, priority, now, calendar),
            decision_due_at=sla.due(SlaStep.DECISION, priority, now, calendar),
        )
        complaint._audit(actor, now, "record", None, {"channel": channel, "category": category.code})
        complaint._queue(OutboxKind.ACKNOWLEDGEMENT, now, answered_by=actor)
        complaint._notify_staff(NoticeKind.NEW_CASE, now)
        return complaint

    # -- lifecycle commands --

    def start_review(self, actor: Actor, now: dt.datetime) -> None:
        """03: the department starts its review; 05: the customer's interim notice is queued."""
        before = self._require(Command.START_REVIEW)
        self.status = Status.IN_REVIEW
        self.review_started_at = now
        self._audit(actor, now, Command.START_REVIEW, before)
        self._queue(OutboxKind.INTERIM_NOTICE, now)

    def decide(
        self,
        actor: Actor,
        now: dt.datetime,
        *,
        decision: Decision,
        reason: str,
        customer_explanation: str | None,
        sla: SlaPolicy,
    ) -> None:
        """06: justified opens the action step (07); unjustified tells the customer why and closes."""
        if self.decision is not None and self.status != Status.IN_REVIEW:
            raise self.already_decided_error()
        command = Command.DECIDE_JUSTIFIED if decision == Decision.JUSTIFIED else Command.DECIDE_UNJUSTIFIED
        before = self._require(command)
        _require_text("reason", reason)
        if decision == Decision.UNJUSTIFIED:
            _require_text("customer_explanation", customer_explanation)
        self.decision = decision
        self.decision_reason = reason.strip()
        self.customer_explanation = customer_explanation.strip() if customer_explanation else None
        self.decided_by = actor.label
        self.decided_at = now
        if decision == Decision.JUSTIFIED:
            self.status = Status.TAKING_ACTION
            self.action_due_at = sla.due(
                SlaStep.ACTION_COMPLETION, self.priority, now, self.department.calendar()
            )
            self._audit(actor, now, command, before)
        else:
            self._close(CloseReason.UNJUSTIFIED, now)
            self._audit(actor, now, command, before)
            self._queue(OutboxKind.UNJUSTIFIED_EXPLANATION, now, explanation=self.customer_explanation)

    def add_action(
        self,
        actor: Actor,
        now: dt.datetime,
        *,
        kind: ActionKind,
        description: str,
        owner: Staff | None,
        due_date: dt.date | None,
    ) -> CorrectiveAction:
        """07: a corrective or preventive action with its owner and due date."""
        before = self._require(Command.ADD_ACTION)
        _require_text("description", description)
        action = CorrectiveAction(
            kind=kind,
            description=description.strip(),
            owner=owner,
            due_date=due_date,
            created_at=now,
            follow_up_round=self.follow_up_round,
        )
        self.actions.append(action)
        self.updated_at = now
        self._audit(actor, now, Command.ADD_ACTION, before, {"kind": str(kind), "number": len(self.actions)})
        return action

    def complete_action(self, actor: Actor, now: dt.datetime, *, action_id: int, outcome: str) -> None:
        before = self._require(Command.COMPLETE_ACTION)
        action = next((a for a in self.actions if a.id == action_id), None)
        if action is None:
            raise NotFound(kind="action", key=f"{self.reference}/{action_id}")
        if action.done_at is not None:
            raise PreconditionFailed(
                "action_already_done",
                reference=self.reference,
                action_id=action_id,
                done_at=action.done_at.isoformat(timespec="minutes"),
            )
        _require_text("outcome", outcome)
        action.done_at = now
        action.outcome = outcome.strip()
        self.updated_at = now
        self._audit(actor, now, Command.COMPLETE_ACTION, before, {"action_id": action_id})

    def inform_customer(
        self, actor: Actor, now: dt.datetime, *, summary: str, sla: SlaPolicy, survey_delay_hours: float
    ) -> None:
        """08: tell the customer what was done; every action must be complete. The survey follows later."""
        before = self._require(Command.INFORM_CUSTOMER)
        if not self.actions:
            raise PreconditionFailed("no_actions", reference=self.reference)
        open_actions = [a for a in self.actions if a.done_at is None]
        if open_actions:
            raise PreconditionFailed("open_actions", reference=self.reference, count=len(open_actions))
        _require_text("summary", summary)
        self.status = Status.CUSTOMER_INFORMED
        self.informed_at = now
        self.survey_send_at = now + dt.timedelta(hours=survey_delay_hours)  # run by the worker's schedule
        self.survey_due_at = sla.due(SlaStep.SURVEY, self.priority, now, self.department.calendar())
        self._audit(actor, now, Command.INFORM_CUSTOMER, before)
        self._queue(OutboxKind.ACTION_SUMMARY, now, summary=summary.strip())

    def close(self, actor: Actor, now: dt.datetime) -> None:
        before = self._require(Command.CLOSE)
        self._close(CloseReason.RESOLVED, now)
        self._audit(actor, now, Command.CLOSE, before)

    def withdraw(self, actor: Actor, now: dt.datetime) -> None:
        before = self._require(Command.WITHDRAW)
        self._close(CloseReason.WITHDRAWN, now)
        self._audit(actor, now, Command.WITHDRAW, before)

    def add_customer_message(
        self, actor: Actor, now: dt.datetime, *, body: str, author: str, channel: str
    ) -> CustomerMessage:
        """Information added to an open case, by the customer or by staff on the customer's behalf."""
        before = self._require(Command.ADD_CUSTOMER_MESSAGE)
        _require_text("body", body)
        message = CustomerMessage(author=author, body=body.strip(), channel=channel, created_at=now)
        self.messages.append(message)
        self.updated_at = now
        self._audit(actor, now, Command.ADD_CUSTOMER_MESSAGE, before, {"author": author})
        if author == "customer":
            self._notify_staff(NoticeKind.CUSTOMER_MESSAGE, now, message=message)
        return message

    def attach_files(
        self, actor: Actor, now: dt.datetime, files: list[CaseAttachment], *, max_bytes: int
    ) -> None:
        """Files the customer sent with the case; those refused are named to the customer, in one message."""
        for file in files:
            file.created_at = now
            self.attachments.append(file)
        self._audit(actor, now, "attach_files", self.status, {"files": len(files)})
        refused = [file.name for file in files if file.refused]
        if refused:
            limit = f"{max_bytes / 1_000_000:g} MB"
            self._queue(OutboxKind.ATTACHMENT_REFUSED, now, names=", ".join(refused), limit=limit)

    def request_human(self, actor: Actor, now: dt.datetime) -> None:
        """The customer asked for a person: staff of the department take the conversation over."""
        before = self._require(Command.REQUEST_HUMAN)
        already = self.needs_human
        self.needs_human = True
        self._audit(actor, now, Command.REQUEST_HUMAN, before)
        if not already:
            self._notify_staff(NoticeKind.HUMAN_REQUESTED, now)

    def take(self, actor: Actor, now: dt.datetime, *, staff: Staff) -> None:
        """A staff member of the department takes the case as theirs."""
        before = self._require(Command.TAKE)
        previous = self.assignee.email if self.assignee else None
        self.assignee = staff
        self._audit(actor, now, Command.TAKE, before, {"from": previous, "to": staff.email})

    def reply_to_customer(self, actor: Actor, now: dt.datetime, *, text: str, staff_name: str) -> None:
        """During a handoff, staff words go to the customer's chat (and into the case's messages)."""
        before = self._require_handoff(Command.REPLY_TO_CUSTOMER)
        _require_text("text", text)
        self.messages.append(
            CustomerMessage(author="staff", body=text.strip(), channel=self.channel, created_at=now)
        )
        self._audit(actor, now, Command.REPLY_TO_CUSTOMER, before)
        self._queue(OutboxKind.STAFF_REPLY, now, staff=staff_name, text=text.strip())

    def hand_back(self, actor: Actor, now: dt.datetime) -> None:
        """Staff end the handoff: the assistant answers the customer again."""
        before = self._require_handoff(Command.HAND_BACK)
        self.needs_human = False
        self._audit(actor, now, Command.HAND_BACK, before)
        self._queue(OutboxKind.HANDED_BACK, now)

    def reassign(self, actor: Actor, now: dt.datetime, *, department: Department) -> None:
        before = self._require(Command.REASSIGN)
        previous = self.department.code
        self.department = department
        self.assignee = None
        self.updated_at = now
        self._audit(actor, now, Command.REASSIGN, before, {"from": previous, "to": department.code})

    def mark_acknowledged(self, actor: Actor, now: dt.datetime) -> None:
        """The acknowledgement reached the customer: the acknowledge step's deadline is met."""
        if self.acknowledged_at is None:
            self.acknowledged_at = now
            self.updated_at = now
            self._audit(actor, now, "acknowledged", self.status)

    def tell_customer_review_runs_long(self, actor: Actor, now: dt.datetime) -> bool:
        """05: tell the customer, once per case, that the review takes longer than planned.

        Only an undecided case in review (or not yet picked up) gets it; returns whether it was queued.
        """
        undecided = self.status in (Status.RECEIVED, Status.IN_REVIEW) and self.decision is None
        if not undecided or self.delay_notice_at is not None:
            return False
        self.delay_notice_at = now
        due = self.decision_due_at.isoformat(timespec="minutes") if self.decision_due_at else None
        self._audit(actor, now, "review_delay_notice", self.status, {"decision_due_at": due})
        self._queue(OutboxKind.REVIEW_DELAYED, now)
        return True

    def erase_personal_data(self, actor: Actor, now: dt.datetime) -> None:
        """KVKK/GDPR erasure of this case's personal data; dates, categories and scores stay."""
        self.description = ERASED
        self.external_reference = None
        self.customer_explanation = ERASED if self.customer_explanation else None
        for message in self.messages:
            message.body = ERASED
        for response in self.survey_responses:
            response.comment = None
        for file in self.attachments:
            file.name = ERASED
            file.storage_key = None
        self.updated_at = now
        self._audit(actor, now, "erase_customer_data", self.status)
        # After the change notice that redraws the case's post: the staff tool redacts the messages
        # that quote the customer, once the notices before it have been shown.
        self._notify_staff(NoticeKind.CUSTOMER_ERASED, now)

    # -- queries --

    def allowed(self) -> list[Command]:
        return allowed_commands(self.status)

    def belongs_to(self, channel: str | None, external_id: str | None) -> bool:
        return bool(channel and external_id) and self.customer.identity(channel or "") == external_id

    def already_decided_error(self) -> PreconditionFailed:
        return PreconditionFailed(
            "already_decided",
            reference=self.reference,
            decision=self.decision,
            by=self.decided_by,
            decided_at=self.decided_at.isoformat(timespec="minutes") if self.decided_at else "-",
        )

    # -- internals --

    def _require_handoff(self, command: Command) -> Status:
        """The current state, if the conversation is with a person: handoff commands need one."""
        current = self.status
        if current == Status.CLOSED:
            raise refusal(self.reference, current, command)
        if not self.needs_human:
            raise PreconditionFailed("no_handoff", reference=self.reference)
        return current

    def _require(self, command: Command) -> Status:
        """The current state, if ``command`` may run in it; the typed refusal otherwise."""
        current = self.status
        if target_status(current, command) is None:
            raise refusal(self.reference, current, command)
        return current

    def _close(self, reason: CloseReason, now: dt.datetime) -> None:
        self.status = Status.CLOSED
        self.close_reason = reason
        self.closed_at = now
        self.updated_at = now

    def _open_follow_up(self, now: dt.datetime, sla: SlaPolicy) -> None:
        self.status = Status.FOLLOW_UP
        self.follow_up_round += 1
        self.follow_up_started_at = now
        self.close_reason = None
        self.closed_at = None
        self.informed_at = None
        self.survey_sent_at = None
        self.survey_due_at = None
        self.action_due_at = sla.due(
            SlaStep.ACTION_COMPLETION, self.priority, now, self.department.calendar()
        )
        self.updated_at = now

    def _audit(
        self,
        actor: Actor,
        now: dt.datetime,
        action: str,
        before: Status | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.updated_at = now
        self.pending.append(
            AuditEvent(
                complaint=self,
                actor=actor.label,
                action=str(action),
                at=now,
                status_before=str(before) if before else None,
                status_after=str(self.status),
                details=details or {},
            )
        )
        if action != "record":
            self._notify_staff(NoticeKind.CASE_CHANGED, now)

    def _notify_staff(
        self,
        kind: NoticeKind,
        now: dt.datetime,
        payload: dict[str, Any] | None = None,
        message: CustomerMessage | None = None,
    ) -> None:
        """Queue something the department's staff must see (posted to their channel by the staff app)."""
        self.pending.append(StaffNotice.about(self, kind, now, payload, message))

    def _queue(
        self,
        kind: OutboxKind,
        now: dt.datetime,
        extra_payload: dict[str, Any] | None = None,
        answered_by: Actor | None = None,
        **params: Any,
    ) -> None:
        """Queue a customer message; one caused by the customer's own chat turn is that turn's answer."""
        # A mail is answered by mail: only a chat turn (or the survey page) shows the answer in place.
        in_conversation = (
            answered_by is not None
            and answered_by.kind == "customer"
            and answered_by.channel != Channel.EMAIL
        )
        self.pending.append(
            OutboxMessage.to_customer(
                self, kind, now, in_conversation=in_conversation, extra_payload=extra_payload, **params
            )
        )
        if in_conversation and kind == OutboxKind.ACKNOWLEDGEMENT:
            self.acknowledged_at = now


def _require_text(field: str, value: str | None) -> None:
    if value is None or not value.strip():
        raise ValidationFailed(field=field, problem="required")
