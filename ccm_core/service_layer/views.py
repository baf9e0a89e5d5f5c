"""Read models: what adapters show of a case, built inside the transaction that loaded it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ccm_core.domain import policy
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.errors import NotFound, PermissionDenied
from ccm_core.domain.lifecycle import Status
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.domain.records import AuditEvent
from ccm_core.domain.search import ComplaintFilter
from ccm_core.domain.sla import STEP_COLUMNS, SlaStep
from ccm_core.i18n import translate
from ccm_core.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ActionView:
    id: int
    kind: str
    description: str
    owner: str | None
    due_date: dt.date | None
    done_at: dt.datetime | None
    outcome: str | None
    follow_up_round: int


@dataclass(frozen=True)
class AttachmentView:
    """A file the customer sent: listed always; ``kept`` is False when it was refused or erased."""

    id: int
    name: str
    content_type: str
    size: int
    kept: bool
    refused: str | None


@dataclass(frozen=True)
class AttachmentFile:
    """A kept file the customer sent, as it was sent: what staff open."""

    name: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class SlaStepView:
    step: str
    due_at: dt.datetime | None
    met_at: dt.datetime | None
    breached: bool


@dataclass(frozen=True)
class CaseView:
    reference: str
    status: str
    status_label: str
    category_label: str
    department_name: str
    channel: str
    language: str
    category: str
    department: str
    priority: str
    description: str
    external_reference: str | None
    customer: dict[str, Any]
    decision: str | None
    decision_reason: str | None
    customer_explanation: str | None
    decided_by: str | None
    close_reason: str | None
    follow_up_round: int
    needs_human: bool
    assignee: str | None
    timestamps: dict[str, dt.datetime | None]
    sla: list[SlaStepView]
    actions: list[ActionView]
    survey_scores: list[int]
    attachments: list[AttachmentView]
    allowed: list[str]
    version: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CaseSummary:
    reference: str
    status: str
    channel: str
    language: str
    category: str
    department: str
    priority: str
    received_at: dt.datetime
    overdue: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # audit, customer_message, outbox
    what: str
    actor: str | None = None
    status_before: str | None = None
    status_after: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SlaAlert:
    reference: str
    department: str
    step: str
    due_at: dt.datetime
    breached: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NoticeView:
    """A customer-facing message of the outbox, as a channel or the assistant shows it."""

    id: int
    reference: str
    kind: str
    language: str
    channel: str
    body: str
    payload: dict[str, Any]
    status: str
    created_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_TIMESTAMPS = (
    "received_at",
    "acknowledged_at",
    "review_started_at",
    "decided_at",
    "informed_at",
    "survey_sent_at",
    "survey_answered_at",
    "follow_up_started_at",
    "closed_at",
    "updated_at",
)


def case_view(complaint: Complaint, now: dt.datetime, language: str = "en") -> CaseView:
    customer = complaint.customer
    return CaseView(
        reference=complaint.reference,
        status=complaint.status,
        status_label=translate(language, f"status.{complaint.status}"),
        category_label=complaint.category.labels.get(language) or complaint.category.code,
        department_name=complaint.department.name(language),
        channel=complaint.channel,
        language=complaint.language,
        category=complaint.category.code,
        department=complaint.department.code,
        priority=complaint.priority,
        description=complaint.description,
        external_reference=complaint.external_reference,
        customer={
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "erased": customer.erased_at is not None,
        },
        decision=complaint.decision,
        decision_reason=complaint.decision_reason,
        customer_explanation=complaint.customer_explanation,
        decided_by=complaint.decided_by,
        close_reason=complaint.close_reason,
        follow_up_round=complaint.follow_up_round,
        needs_human=complaint.needs_human,
        assignee=complaint.assignee.name if complaint.assignee else None,
        timestamps={name: getattr(complaint, name) for name in _TIMESTAMPS},
        sla=[_sla_step(complaint, step, now) for step in SlaStep],
        actions=[
            ActionView(
                id=action.id,
                kind=action.kind,
                description=action.description,
                owner=action.owner.email if action.owner else None,
                due_date=action.due_date,
                done_at=action.done_at,
                outcome=action.outcome,
                follow_up_round=action.follow_up_round,
            )
            for action in complaint.actions
        ],
        survey_scores=[response.score for response in complaint.survey_responses],
        attachments=[
            AttachmentView(
                id=file.id,
                name=file.name,
                content_type=file.content_type,
                size=file.size,
                kept=file.storage_key is not None,
                refused=file.refused,
            )
            for file in complaint.attachments
        ],
        allowed=[str(command) for command in complaint.allowed()],
        version=complaint.version,
    )


def _sla_step(complaint: Complaint, step: SlaStep, now: dt.datetime) -> SlaStepView:
    due_name, met_name = STEP_COLUMNS[step]
    due, met = getattr(complaint, due_name), getattr(complaint, met_name)
    breached = due is not None and ((met is None and due < now) or (met is not None and met > due))
    return SlaStepView(step=str(step), due_at=due, met_at=met, breached=breached)


def summary(complaint: Complaint, now: dt.datetime) -> CaseSummary:
    return CaseSummary(
        reference=complaint.reference,
        status=complaint.status,
        channel=complaint.channel,
        language=complaint.language,
        category=complaint.category.code,
        department=complaint.department.code,
        priority=complaint.priority,
        received_at=complaint.received_at,
        overdue=is_overdue(complaint, now),
    )


def is_overdue(complaint: Complaint, now: dt.datetime) -> bool:
    """An open case with a step whose deadline has passed before it was done."""
    if complaint.status == Status.CLOSED:
        return False
    for due_name, met_name in STEP_COLUMNS.values():
        due = getattr(complaint, due_name)
        if due is not None and getattr(complaint, met_name) is None and due < now:
            return True
    return False


def load_for(uow: UnitOfWork, actor: Actor, reference: str, use_case: str) -> Complaint:
    """The case named ``reference``, if it exists and ``actor`` may run ``use_case`` on it."""
    complaint = uow.complaints.get(reference)
    if complaint is None:
        raise NotFound(kind="complaint", key=reference)
    policy.ensure_allowed(actor, use_case, complaint)
    return complaint


def get_complaint(uow: UnitOfWork, actor: Actor, reference: str, language: str = "en") -> CaseView:
    with uow:
        return case_view(load_for(uow, actor, reference, policy.VIEW), uow.now(), language)


OPEN_ATTACHMENT = "open_attachment"


def attachment_file(uow: UnitOfWork, actor: Actor, reference: str, attachment_id: int) -> AttachmentFile:
    """A kept file the customer sent with ``reference``, for staff who may see the case.

    Reading it is an access to the customer's personal data, so it is audited, as taking their copy
    is. Customers are refused although they may view their own case: they have the files they sent,
    no chat channel can hand a download over, and a conversation's identity is a weaker credential
    than a staff token; their data reaches them through the audited copy (``export_customer_data``).
    A file refused or erased is not found, as one of another case is.
    """
    if actor.kind == "customer":
        raise PermissionDenied(why="role", role="customer", command=OPEN_ATTACHMENT)
    with uow:
        complaint = load_for(uow, actor, reference, policy.VIEW)
        kept = next((file for file in complaint.attachments if file.id == attachment_id), None)
        if kept is None or kept.storage_key is None:
            raise NotFound(kind="attachment", key=str(attachment_id))
        try:
            content = uow.attachments.read(kept.storage_key)
        except FileNotFoundError:  # an erasure not yet committed: it removes the files before its commit
            raise NotFound(kind="attachment", key=str(attachment_id)) from None
        opened = AttachmentFile(name=kept.name, content_type=kept.content_type, content=content)
        uow.audit.add(
            AuditEvent(
                complaint=complaint,
                actor=actor.label,
                action=OPEN_ATTACHMENT,
                at=uow.now(),
                status_before=str(complaint.status),
                status_after=str(complaint.status),
                details={"attachment_id": attachment_id},  # not the name: the audit outlives erasure
            )
        )
        uow.commit()
        return opened


def list_complaints(
    uow: UnitOfWork, actor: Actor, criteria: ComplaintFilter
) -> tuple[list[CaseSummary], int]:
    """Cases matching ``criteria`` that ``actor`` may see: own department, or own conversation."""
    policy.ensure_allowed(actor, policy.VIEW)
    restricted = criteria
    if actor.kind == "customer":
        restricted = replace(criteria, customer_channel=actor.channel, customer_external_id=actor.external_id)
    elif not actor.department_wide:
        restricted = replace(criteria, department_id=actor.department_id if actor.department_id else -1)
    with uow:
        rows, total = uow.complaints.list(restricted)
        now = uow.now()
        return [summary(row, now) for row in rows], total


def complaint_timeline(uow: UnitOfWork, actor: Actor, reference: str) -> list[TimelineEntry]:
    """Everything that happened to a case, in order: changes, customer messages and notices."""
    with uow:
        complaint = load_for(uow, actor, reference, policy.VIEW)
        entries = [
            TimelineEntry(
                at=event.at,
                kind="audit",
                what=event.action,
                actor=event.actor,
                status_before=event.status_before,
                status_after=event.status_after,
                details=dict(event.details),
            )
            for event in uow.audit.trail(complaint)
        ]
        entries += [
            TimelineEntry(at=m.created_at, kind="customer_message", what=m.body, actor=m.author)
            for m in complaint.messages
        ]
        entries += [
            TimelineEntry(
                at=m.created_at,
                kind="outbox",
                what=m.kind,
                details={"status": m.status, "channel": m.channel, "language": m.language, "text": m.body},
            )
            for m in uow.outbox.for_complaint(complaint)
        ]
        return sorted(entries, key=lambda entry: entry.at)


@dataclass(frozen=True)
class CategoryView:
    code: str
    labels: dict[str, str]
    needs_reference: str | None  # "order", "account" or None

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels.get("en") or self.code


@dataclass(frozen=True)
class DepartmentView:
    code: str
    names: dict[str, str]

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("en") or self.code


def departments(uow: UnitOfWork) -> list[DepartmentView]:
    """The active departments, with their names in every language."""
    with uow:
        return [DepartmentView(d.code, dict(d.names)) for d in uow.organisation.departments() if d.active]


def categories(uow: UnitOfWork) -> list[CategoryView]:
    """The active complaint categories, with their labels in every language."""
    with uow:
        return [
            CategoryView(c.code, dict(c.labels), c.needs_reference) for c in uow.organisation.categories()
        ]


def _notice(message: OutboxMessage) -> NoticeView:
    return NoticeView(
        id=message.id,
        reference=message.complaint.reference,
        kind=message.kind,
        language=message.language,
        channel=message.channel,
        body=message.body,
        payload=dict(message.payload),
        status=message.status,
        created_at=message.created_at,
    )


def customer_notices(uow: UnitOfWork, actor: Actor, reference: str) -> list[NoticeView]:
    """The messages the process owes or owed the customer of ``reference``, oldest first."""
    with uow:
        complaint = load_for(uow, actor, reference, policy.VIEW)
        return [_notice(message) for message in uow.outbox.for_complaint(complaint)]


def get_notice(uow: UnitOfWork, actor: Actor, message_id: int) -> NoticeView:
    """One outbox message, if ``actor`` may see its case (a customer: only their own conversation's)."""
    with uow:
        message = uow.outbox.get(message_id)
        if message is None:
            raise NotFound(kind="outbox_message", key=str(message_id))
        # Rasa asks for every message it delivers: its case without the case's collections, which
        # the message then finds in the session (three queries fewer).
        complaint = uow.complaints.alone(message.complaint_id)
        policy.ensure_allowed(actor, policy.VIEW, complaint)
        return _notice(message)


def sla_watchlist(uow: UnitOfWork, actor: Actor, soon_hours: float | None = None) -> list[SlaAlert]:
    """Breached and soon-due steps of open cases the actor may see, most urgent first."""
    policy.ensure_allowed(actor, policy.VIEW)
    with uow:
        now = uow.now()
        hours = uow.settings.sla_soon_hours if soon_hours is None else soon_hours
        department_id = None if actor.department_wide else (actor.department_id or -1)
        rows = uow.complaints.sla_watch(now, now + dt.timedelta(hours=hours), department_id)
        return [
            SlaAlert(
                reference=complaint.reference,
                department=complaint.department.code,
                step=str(step),
                due_at=due_at,
                breached=due_at < now,
            )
            for complaint, step, due_at in rows
        ]
