"""Queries the service layer needs, in one place and free of business rules."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.customer import Customer, CustomerIdentity
from ccm_core.domain.lifecycle import Status
from ccm_core.domain.organisation import ApiToken, Category, Department, ReferenceCounter, SlaRule, Staff
from ccm_core.domain.queues import DeliveryStatus, OutboxMessage
from ccm_core.domain.records import AuditEvent
from ccm_core.domain.search import ComplaintFilter
from ccm_core.domain.sla import STEP_COLUMNS, SlaPolicy, SlaStep


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: set[Complaint] = set()

    # -- complaints --

    def add(self, complaint: Complaint) -> None:
        self.session.add(complaint)
        self.seen.add(complaint)

    def get(self, reference: str) -> Complaint | None:
        complaint = self.session.scalars(
            select(Complaint).where(Complaint.reference == reference.strip().upper())
        ).one_or_none()
        if complaint is not None:
            self.seen.add(complaint)
        return complaint

    def by_idempotency_key(self, key: str) -> Complaint | None:
        return self.session.scalars(select(Complaint).where(Complaint.idempotency_key == key)).one_or_none()

    def next_reference_number(self, year: int) -> int:
        """Take the next number of ``year``; the counter row's lock serialises concurrent intakes."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.session.execute(
            insert(ReferenceCounter)
            .values(year=year, last_value=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
        return self.session.execute(
            update(ReferenceCounter)
            .where(ReferenceCounter.year == year)
            .values(last_value=ReferenceCounter.last_value + 1)
            .returning(ReferenceCounter.last_value)
        ).scalar_one()

    def list(self, criteria: ComplaintFilter) -> tuple[Sequence[Complaint], int]:
        query = self._filtered(select(Complaint), criteria)
        total = self.session.scalar(self._filtered(select(func.count(Complaint.id)), criteria)) or 0
        rows = self.session.scalars(
            query.order_by(Complaint.received_at.desc(), Complaint.id.desc())
            .limit(criteria.limit)
            .offset(criteria.offset)
        ).all()
        return rows, total

    def _filtered(self, query: Select[Any], criteria: ComplaintFilter) -> Select[Any]:
        if criteria.status:  # a status that does not exist matches no case
            known = criteria.status in set(Status)
            query = query.where(Complaint.status == criteria.status if known else false())
        if criteria.channel:
            query = query.where(Complaint.channel == criteria.channel)
        if criteria.department:
            query = query.where(
                Complaint.department_id.in_(
                    select(Department.id).where(Department.code == criteria.department)
                )
            )
        if criteria.category:
            query = query.where(
                Complaint.category_id.in_(select(Category.id).where(Category.code == criteria.category))
            )
        if criteria.department_id is not None:
            query = query.where(Complaint.department_id == criteria.department_id)
        if criteria.customer_channel and criteria.customer_external_id:
            query = query.where(
                Complaint.customer_id.in_(
                    select(CustomerIdentity.customer_id).where(
                        CustomerIdentity.channel == criteria.customer_channel,
                        CustomerIdentity.external_id == criteria.customer_external_id,
                    )
                )
            )
        if criteria.overdue_at is not None:
            query = query.where(Complaint.status != Status.CLOSED, _any_breached(criteria.overdue_at))
        if criteria.assignee_id is not None:
            query = query.where(Complaint.assignee_id == criteria.assignee_id)
        if criteria.unassigned:
            query = query.where(Complaint.assignee_id.is_(None))
        if criteria.open_only:
            query = query.where(Complaint.status != Status.CLOSED)
        return query

    def sla_watch(
        self, now: dt.datetime, soon_until: dt.datetime, department_id: int | None = None
    ) -> builtins.list[tuple[Complaint, SlaStep, dt.datetime]]:
        """Open cases with a step whose deadline is past or before ``soon_until`` and not met."""
        found: builtins.list[tuple[Complaint, SlaStep, dt.datetime]] = []
        for step, (due_name, met_name) in STEP_COLUMNS.items():
            due, met = getattr(Complaint, due_name), getattr(Complaint, met_name)
            query = select(Complaint, due).where(
                Complaint.status != Status.CLOSED, due.is_not(None), met.is_(None), due < soon_until
            )
            if department_id is not None:
                query = query.where(Complaint.department_id == department_id)
            found.extend((complaint, step, due_at) for complaint, due_at in self.session.execute(query))
        return sorted(found, key=lambda row: row[2])

    def reviews_running_long(self, soon_until: dt.datetime) -> Sequence[str]:
        """References of undecided cases whose decision is due before ``soon_until`` and whose
        customer was not told yet that the review runs long, most overdue first."""
        return self.session.scalars(
            select(Complaint.reference)
            .where(
                Complaint.status.in_((Status.RECEIVED, Status.IN_REVIEW)),
                Complaint.decided_at.is_(None),
                Complaint.delay_notice_at.is_(None),
                Complaint.decision_due_at < soon_until,
            )
            .order_by(Complaint.decision_due_at, Complaint.id)
        ).all()

    def audit_trail(self, complaint: Complaint) -> Sequence[AuditEvent]:
        return self.session.scalars(
            select(AuditEvent).where(AuditEvent.complaint_id == complaint.id).order_by(AuditEvent.id)
        ).all()

    def outbox_for(self, complaint: Complaint) -> Sequence[OutboxMessage]:
        return self.session.scalars(
            select(OutboxMessage).where(OutboxMessage.complaint_id == complaint.id).order_by(OutboxMessage.id)
        ).all()

    def complaints_of(self, customer: Customer) -> Sequence[Complaint]:
        complaints = self.session.scalars(select(Complaint).where(Complaint.customer_id == customer.id)).all()
        self.seen.update(complaints)
        return complaints

    def pending_outbox(self, now: dt.datetime, limit: int) -> Sequence[OutboxMessage]:
        return self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == DeliveryStatus.PENDING, OutboxMessage.available_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()

    def outbox_message(self, message_id: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, message_id)

    # -- organisation --

    def department(self, code: str) -> Department | None:
        return self.session.scalars(select(Department).where(Department.code == code)).one_or_none()

    def departments(self) -> Sequence[Department]:
        return self.session.scalars(select(Department).order_by(Department.code)).all()

    def category(self, code: str) -> Category | None:
        return self.session.scalars(select(Category).where(Category.code == code)).one_or_none()

    def categories(self, active_only: bool = True) -> Sequence[Category]:
        query = select(Category).order_by(Category.code)
        if active_only:
            query = query.where(Category.active.is_(True))
        return self.session.scalars(query).all()

    def staff_by_email(self, email: str) -> Staff | None:
        return self.session.scalars(
            select(Staff).where(func.lower(Staff.email) == email.lower())
        ).one_or_none()

    def staff_by_slack_id(self, slack_user_id: str) -> Staff | None:
        return self.session.scalars(select(Staff).where(Staff.slack_user_id == slack_user_id)).one_or_none()

    def all_staff(self) -> Sequence[Staff]:
        return self.session.scalars(select(Staff).order_by(Staff.email)).all()

    def sla_policy(self) -> SlaPolicy:
        rules = self.session.scalars(select(SlaRule)).all()
        return SlaPolicy({(rule.priority, SlaStep(rule.step)): rule.hours for rule in rules})

    # -- customers and tokens --

    def customer_by_identity(self, channel: str, external_id: str) -> Customer | None:
        return self.session.scalars(
            select(Customer)
            .join(CustomerIdentity)
            .where(CustomerIdentity.channel == channel, CustomerIdentity.external_id == external_id)
        ).one_or_none()

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        return self.session.scalars(
            select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
        ).one_or_none()


def _any_breached(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        *(
            and_(
                getattr(Complaint, due).is_not(None),
                getattr(Complaint, met).is_(None),
                getattr(Complaint, due) < now,
            )
            for due, met in STEP_COLUMNS.values()
        )
    )
