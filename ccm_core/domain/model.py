"""Entities of the complaint process, mapped with SQLAlchemy 2 typed declarations.

``Complaint`` is the aggregate: every change to a case goes through one of its
methods, which checks the lifecycle table, stamps the step's time, and leaves
the audit event and any customer-facing outbox message in ``pending`` for the
unit of work to store in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    orm,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ccm_core.domain import validation
from ccm_core.domain.errors import InvalidTransition, NotFound, PreconditionFailed, ValidationFailed
from ccm_core.domain.lifecycle import (
    CHAT_CHANNELS,
    ActionKind,
    CloseReason,
    Command,
    Decision,
    Status,
    allowed_commands,
    target_status,
)
from ccm_core.domain.policy import Actor
from ccm_core.domain.sla import SlaPolicy, SlaStep
from ccm_core.domain.survey import REMIND_SURVEY, SurveyDefinition, answer_source, nps_score
from ccm_core.domain.working_time import SlaCalendar, calendar_for
from ccm_core.i18n import translate

ERASED = "[erased]"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the core stores UTC times only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


# --- organisation: departments, staff, categories, SLA policy (seeded from YAML) ---


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    names: Mapped[dict[str, Any]]  # language -> display name
    slack_channel: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the department works, for SLA deadlines in working hours: country (holiday calendar),
    # time zone, working days and hours. Seeded from the organisation file.
    working_time: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("en") or self.code

    def calendar(self) -> SlaCalendar:
        """The working time its SLA deadlines count in; round the clock when none is set."""
        return calendar_for(self.working_time)


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # the admin console's sign-in

    department: Mapped[Department | None] = relationship()

    def as_actor(self) -> Actor:
        return Actor.staff(
            email=self.email, role=self.role, staff_id=self.id, department_id=self.department_id
        )


class Category(Base):
    """A complaint category and the department it routes to."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    labels: Mapped[dict[str, Any]]  # language -> label
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    needs_reference: Mapped[str | None] = mapped_column(String(32))  # "order", "account" or none
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[Department] = relationship()


class SlaRule(Base):
    __tablename__ = "sla_rules"
    __table_args__ = (UniqueConstraint("priority", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    priority: Mapped[str] = mapped_column(String(16))  # a priority or "*"
    step: Mapped[str] = mapped_column(String(32))
    hours: Mapped[float] = mapped_column(Float)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]

    staff: Mapped[Staff | None] = relationship()


class ReferenceCounter(Base):
    """Last complaint number handed out per year: references are never reused."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


# --- customers ---


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    erased_at: Mapped[dt.datetime | None]

    identities: Mapped[list[CustomerIdentity]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )

    def identity(self, channel: str) -> str | None:
        return next((i.external_id for i in self.identities if i.channel == channel), None)

    def address_for(self, channel: str) -> tuple[str, str | None]:
        """Where a message for a case taken on ``channel`` goes: (channel, recipient)."""
        if channel in CHAT_CHANNELS and (chat_id := self.identity(channel)):
            return channel, chat_id
        if self.email:
            return "email", self.email
        if self.phone:
            return "phone", self.phone
        return channel, self.identity(channel)

    def erase(self, now: dt.datetime) -> None:
        self.name = self.email = self.phone = None
        self.identities.clear()
        self.erased_at = now


class CustomerIdentity(Base):
    """A customer's identity on a chat channel (Telegram chat id, WhatsApp number, web session)."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))

    customer: Mapped[Customer] = relationship(back_populates="identities")


# --- the complaint aggregate ---


class Complaint(Base):
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
    status: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str | None] = mapped_column(String(16))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    customer_explanation: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(300))
    close_reason: Mapped[str | None] = mapped_column(String(32))
    follow_up_round: Mapped[int] = mapped_column(Integer, default=0)
    needs_human: Mapped[bool] = mapped_column(Boolean, default=False)

    received_at: Mapped[dt.datetime]
    acknowledged_at: Mapped[dt.datetime | None]
    review_started_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    informed_at: Mapped[dt.datetime | None]
    survey_sent_at: Mapped[dt.datetime | None]
    survey_answered_at: Mapped[dt.datetime | None]
    follow_up_started_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]

    ack_due_at: Mapped[dt.datetime | None]
    interim_due_at: Mapped[dt.datetime | None]
    decision_due_at: Mapped[dt.datetime | None]
    action_due_at: Mapped[dt.datetime | None]
    survey_due_at: Mapped[dt.datetime | None]
    # The survey's own schedule (09/10), run by the worker: when to send it, remind once, give up.
    survey_send_at: Mapped[dt.datetime | None]
    survey_remind_at: Mapped[dt.datetime | None]
    survey_reminded_at: Mapped[dt.datetime | None]
    survey_expires_at: Mapped[dt.datetime | None]
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

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        self.pending: list[AuditEvent | OutboxMessage] = []

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
        complaint._queue("acknowledgement", now, answered_by=actor)
        complaint._notify_staff("new_case", now)
        return complaint

    # -- lifecycle commands --

    def start_review(self, actor: Actor, now: dt.datetime) -> None:
        """03: the department starts its review; 05: the customer's interim notice is queued."""
        before = self._require(Command.START_REVIEW)
        self.status = Status.IN_REVIEW
        self.review_started_at = now
        self._audit(actor, now, Command.START_REVIEW, before)
        self._queue("interim_notice", now)

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
            self._queue("unjustified_explanation", now, explanation=self.customer_explanation)

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
        self._queue("action_summary", now, summary=summary.strip())

    def send_survey(
        self,
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
        self._queue_survey("survey", now, survey, link)

    def remind_survey(self, actor: Actor, now: dt.datetime, *, survey: SurveyDefinition, link: str) -> None:
        """No answer yet: ask once more, with the same choices and link. A round is reminded once."""
        before = Status(self.status)
        if before != Status.SURVEY_SENT:
            raise InvalidTransition(
                reference=self.reference,
                current=before,
                command=REMIND_SURVEY,
                allowed=[str(c) for c in allowed_commands(before)],
            )
        if self.survey_reminded_at is not None:
            raise PreconditionFailed(
                "survey_already_reminded",
                reference=self.reference,
                reminded_at=self.survey_reminded_at.isoformat(timespec="minutes"),
            )
        self.survey_reminded_at = now
        self._audit(actor, now, REMIND_SURVEY, before, {"round": self.follow_up_round})
        self._queue_survey("survey_reminder", now, survey, link)

    def _queue_survey(self, kind: str, now: dt.datetime, survey: SurveyDefinition, link: str) -> None:
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
        self,
        actor: Actor,
        now: dt.datetime,
        *,
        score: int,
        comment: str | None,
        satisfied_from: int,
        sla: SlaPolicy,
        max_rounds: int,
        nps: int | None = None,
        source: str = "staff",
    ) -> SurveyResponse:
        """10: satisfied closes the case; not satisfied starts a follow-up round (11).

        A round that reaches ``max_rounds`` also alerts the department's leads.
        """
        score = validation.survey_score(score)
        nps = nps_score(nps)
        source = answer_source(source)
        satisfied = score >= satisfied_from
        command = Command.ANSWER_SATISFIED if satisfied else Command.ANSWER_DISSATISFIED
        before = self._require(command)
        response = SurveyResponse(
            round=self.follow_up_round,
            score=score,
            comment=comment.strip() if comment and comment.strip() else None,
            satisfied=satisfied,
            nps=nps,
            source=source,
            answered_at=now,
        )
        self.survey_responses.append(response)
        self.survey_answered_at = now
        details = {"score": score, "round": self.follow_up_round, "source": source}
        if satisfied:
            self._close(CloseReason.SATISFIED, now)
            self._audit(actor, now, command, before, details)
        else:
            self._open_follow_up(now, sla)
            self._audit(actor, now, command, before, details)
            self._queue("follow_up_notice", now, answered_by=actor)
            self._notify_staff("survey_dissatisfied", now, payload={"score": score, "round": response.round})
            if self.follow_up_round >= max_rounds:
                payload = {"round": self.follow_up_round, "limit": max_rounds}
                self._notify_staff("follow_up_rounds_exceeded", now, payload=payload)
        return response

    def expire_survey(self, actor: Actor, now: dt.datetime) -> None:
        """An unanswered survey closes the case as "no response"; the silent customer is not written to."""
        before = self._require(Command.EXPIRE_SURVEY)
        self._close(CloseReason.NO_RESPONSE, now)
        self._audit(actor, now, Command.EXPIRE_SURVEY, before, {"round": self.follow_up_round})

    def start_follow_up(self, actor: Actor, now: dt.datetime, *, sla: SlaPolicy) -> None:
        """11: staff reopen the case for a new action or proposal."""
        before = self._require(Command.START_FOLLOW_UP)
        if before == Status.CLOSED and self.decision != Decision.JUSTIFIED:
            raise PreconditionFailed(
                "reopen_needs_justified", reference=self.reference, close_reason=self.close_reason
            )
        self._open_follow_up(now, sla)
        self._audit(actor, now, Command.START_FOLLOW_UP, before, {"round": self.follow_up_round})
        self._queue("follow_up_notice", now)

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
            self._notify_staff("customer_message", now, message=message)
        return message

    def request_human(self, actor: Actor, now: dt.datetime) -> None:
        """The customer asked for a person: staff of the department take the conversation over."""
        before = self._require(Command.REQUEST_HUMAN)
        already = self.needs_human
        self.needs_human = True
        self._audit(actor, now, Command.REQUEST_HUMAN, before)
        if not already:
            self._notify_staff("human_requested", now)

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
        self._queue("staff_reply", now, staff=staff_name, text=text.strip())

    def hand_back(self, actor: Actor, now: dt.datetime) -> None:
        """Staff end the handoff: the assistant answers the customer again."""
        before = self._require_handoff(Command.HAND_BACK)
        self.needs_human = False
        self._audit(actor, now, Command.HAND_BACK, before)
        self._queue("handed_back", now)

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
        self._audit(actor, now, "review_delay_notice", Status(self.status), {"decision_due_at": due})
        self._queue("review_delayed", now)
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
        self.updated_at = now
        self._audit(actor, now, "erase_customer_data", self.status)

    # -- queries --

    def allowed(self) -> list[Command]:
        return allowed_commands(Status(self.status))

    def belongs_to(self, channel: str | None, external_id: str | None) -> bool:
        return bool(channel and external_id) and self.customer.identity(channel) == external_id

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
        current = Status(self.status)
        if current == Status.CLOSED:
            raise InvalidTransition(
                reference=self.reference,
                current=current,
                command=command,
                allowed=[str(c) for c in allowed_commands(current)],
            )
        if not self.needs_human:
            raise PreconditionFailed("no_handoff", reference=self.reference)
        return current

    def _require(self, command: Command) -> Status:
        """The current state, if ``command`` may run in it; the typed refusal otherwise."""
        current = Status(self.status)
        if target_status(current, command) is None:
            raise InvalidTransition(
                reference=self.reference,
                current=current,
                command=command,
                allowed=[str(c) for c in allowed_commands(current)],
            )
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
            self._notify_staff("case_changed", now)

    def _notify_staff(
        self,
        kind: str,
        now: dt.datetime,
        payload: dict[str, Any] | None = None,
        message: CustomerMessage | None = None,
    ) -> None:
        """Queue something the department's staff must see (posted to their channel by the staff app)."""
        self.pending.append(
            StaffNotice(
                complaint=self,
                kind=kind,
                payload=payload or {},
                message=message,
                status="pending",
                attempts=0,
                created_at=now,
                available_at=now,
            )
        )

    def _queue(
        self,
        kind: str,
        now: dt.datetime,
        extra_payload: dict[str, Any] | None = None,
        answered_by: Actor | None = None,
        **params: Any,
    ) -> None:
        """Queue a customer message; one caused by the customer's own chat turn is that turn's answer.

        The assistant shows such a message in the reply itself, so it is stored as delivered
        and no channel sends it a second time.
        """
        in_conversation = answered_by is not None and answered_by.kind == "customer"
        channel, recipient = self.customer.address_for(self.channel)
        text = translate(
            self.language,
            f"outbox.{kind}",
            reference=self.reference,
            department=self.department.name(self.language),
            **params,
        )
        self.pending.append(
            OutboxMessage(
                complaint=self,
                kind=kind,
                language=self.language,
                channel=channel,
                recipient=recipient,
                body=text,
                payload={"reference": self.reference, "status": str(self.status), **(extra_payload or {})},
                status="delivered" if in_conversation else "pending",
                attempts=1 if in_conversation else 0,
                created_at=now,
                available_at=now,
                delivered_at=now if in_conversation else None,
            )
        )
        if in_conversation and kind == "acknowledgement":
            self.acknowledged_at = now


def _require_text(field: str, value: str | None) -> None:
    if value is None or not value.strip():
        raise ValidationFailed(field=field, problem="required")


class CorrectiveAction(Base):
    """07: a corrective or preventive action taken on a justified complaint."""

    __tablename__ = "complaint_actions"
    __table_args__ = (Index("ix_complaint_actions_done_at", "done_at"),)  # the monthly report

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    done_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    follow_up_round: Mapped[int] = mapped_column(Integer, default=0)

    complaint: Mapped[Complaint] = relationship(back_populates="actions")
    owner: Mapped[Staff | None] = relationship(lazy="joined")


class CustomerMessage(Base):
    __tablename__ = "customer_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # "customer" or "staff"
    body: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]

    complaint: Mapped[Complaint] = relationship(back_populates="messages")


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_answered_at", "answered_at"),)  # the monthly report

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    satisfied: Mapped[bool] = mapped_column(Boolean)
    nps: Mapped[int | None] = mapped_column(Integer)  # 0–10, when the NPS question is on
    source: Mapped[str | None] = mapped_column(String(16))  # "chat", "link" or "staff"
    answered_at: Mapped[dt.datetime]

    complaint: Mapped[Complaint] = relationship(back_populates="survey_responses")


class OutboxMessage(Base):
    """A customer-facing message written in the same transaction as the change that requires it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_available_at", "status", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2))
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str | None] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed, cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    available_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Delivery bookkeeping: a worker holds the message until ``lease_until``; ``claim_token``
    # fences out a worker whose lease ran out. ``rendering`` is what the channel sends,
    # part by part; ``part_in_flight`` marks a send whose outcome a crash left unknown.
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    rendering: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    part_in_flight: Mapped[int | None] = mapped_column(Integer)

    complaint: Mapped[Complaint] = relationship()


class StaffNotice(Base):
    """Something the department's staff must hear about, written in the same transaction as its cause.

    Kinds: ``new_case``, ``case_changed``, ``human_requested``, ``customer_message`` (a
    customer's words during a handoff), ``survey_dissatisfied`` and SLA alerts. The staff
    app (Slack) delivers them in order per case, under a lease like the outbox's.
    ``dedupe_key`` lets an alert that several workers raise exist only once.
    """

    __tablename__ = "staff_notices"
    __table_args__ = (Index("ix_staff_notices_status_available_at", "status", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("customer_messages.id"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # pending, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    available_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]

    complaint: Mapped[Complaint | None] = relationship()
    message: Mapped[CustomerMessage | None] = relationship()


class StaffPost(Base):
    """Where a case is shown to its department in the staff tool: a channel and a message there.

    The message is updated in place as the case moves, and its thread carries a handoff
    conversation. The references are the staff tool's own (a Slack channel id and ``ts``).
    """

    __tablename__ = "staff_posts"
    __table_args__ = (
        UniqueConstraint("complaint_id"),
        Index("ix_staff_posts_channel_ref_message_ref", "channel_ref", "message_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    channel_ref: Mapped[str] = mapped_column(String(64))
    message_ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]

    complaint: Mapped[Complaint] = relationship()


class AuditEvent(Base):
    """Who did what, when, and how the status moved. Rows are append-only (database triggers)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)  # the monthly report

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]
    status_before: Mapped[str | None] = mapped_column(String(32))
    status_after: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]]

    complaint: Mapped[Complaint | None] = relationship()


class UnrecognisedMessage(Base):
    """A customer message the assistant did not understand, masked, waiting for an admin to teach it."""

    __tablename__ = "nlu_review_items"
    __table_args__ = (Index("ix_nlu_review_items_status_language", "status", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime]
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)  # personal data masked before it is stored
    predicted_intent: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(32))  # low_confidence or out_of_scope
    status: Mapped[str] = mapped_column(String(16))  # open, assigned, dismissed
    assigned_intent: Mapped[str | None] = mapped_column(String(100))
    reviewed_by: Mapped[str | None] = mapped_column(String(300))
    reviewed_at: Mapped[dt.datetime | None]
    written_at: Mapped[dt.datetime | None]  # when a retrain wrote it into the training data


class ChatMessage(Base):
    """A message the process sent to a web chat; kept until the customer's page has shown it."""

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_conversation_id_shown_at", "conversation_id", "shown_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(160))
    delivery_key: Mapped[str] = mapped_column(String(64), unique=True)  # one row per outbox part
    content: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    shown_at: Mapped[dt.datetime | None]


class ChatContact(Base):
    """When the customer last wrote on a conversation (WhatsApp's 24-hour service window)."""

    __tablename__ = "chat_contacts"

    conversation_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    last_inbound_at: Mapped[dt.datetime]


class LearnedIntent(Base):
    """An intent admins created from messages the assistant missed, with its answer in every language."""

    __tablename__ = "learned_intents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    responses: Mapped[dict[str, Any]]  # language → the assistant's answer
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime]


class AssistantModel(Base):
    """A trained model of the assistant, with its evaluation; deployed ones can be rolled back to."""

    __tablename__ = "assistant_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # deployed, refused, retired, failed
    evaluation: Mapped[dict[str, Any]]  # language → figures on the held-out set
    baseline: Mapped[dict[str, Any]]  # the model in service then, on the same set
    reason: Mapped[str | None] = mapped_column(Text)
    examples_added: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime]
    deployed_at: Mapped[dt.datetime | None]


class AdminSession(Base):
    """A signed-in admin console session; only the token's hash is stored."""

    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]

    staff: Mapped[Staff] = relationship(lazy="joined")


class RetrainRequest(Base):
    """An admin asked for a retrain; a worker takes it under a lease, so it runs once, on one machine."""

    __tablename__ = "retrain_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(300))
    requested_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16))  # queued, running, done, failed
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    model_id: Mapped[int | None] = mapped_column(ForeignKey("assistant_models.id"))
    outcome: Mapped[str | None] = mapped_column(Text)  # what happened, for the console


class ReportRun(Base):
    """A monthly management report: produced once per month by one worker, under a lease, then posted."""

    __tablename__ = "report_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # "2026-10"
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16))  # queued, running, done, failed
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    # Fencing token, raised by every claim: a worker whose lease ran out can no longer write.
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    posted_at: Mapped[dt.datetime | None]
    files: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # kind ("pdf", "html", "csv") → path
    outcome: Mapped[str | None] = mapped_column(Text)
