"""The Complaint aggregate: loading it, numbering it, and the questions asked across cases."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, lazyload

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.customer import Customer, CustomerIdentity
from ccm_core.domain.lifecycle import Status
from ccm_core.domain.organisation import Category, Department, ReferenceCounter
from ccm_core.domain.records import AuditEvent, SurveyResponse
from ccm_core.domain.search import ComplaintFilter
from ccm_core.domain.sla import STEP_COLUMNS, SlaStep


class ComplaintRepository:
    """Complaints by reference; ``seen`` holds every one loaded, for the unit of work to store its records."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: set[Complaint] = set()

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

    def alone(self, complaint_id: int) -> Complaint | None:
        """The case without its actions, messages and survey answers, for a change that reads none of them
        (the worker's, on every delivered acknowledgement): three queries fewer than ``get``."""
        complaint = self.session.scalars(
            select(Complaint)
            .where(Complaint.id == complaint_id)
            .options(
                lazyload(Complaint.actions),
                lazyload(Complaint.messages),
                lazyload(Complaint.survey_responses),
            )
        ).one_or_none()
        if complaint is not None:
            self.seen.add(complaint)
        return complaint

    def by_idempotency_key(self, key: str) -> Complaint | None:
        return self.session.scalars(select(Complaint).where(Complaint.idempotency_key == key)).one_or_none()

    def of_customer(self, customer: Customer) -> Sequence[Complaint]:
        complaints = self.session.scalars(select(Complaint).where(Complaint.customer_id == customer.id)).all()
        self.seen.update(complaints)
        return complaints

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

    def last_change(self, reference: str) -> tuple[Status, str] | None:
        """The case's status and who wrote its latest audit event, read fresh (after a lost race)."""
        row = self.session.execute(
            select(Complaint.status, AuditEvent.actor)
            .join(AuditEvent, AuditEvent.complaint_id == Complaint.id)
            .where(Complaint.reference == reference)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).first()
        return None if row is None else (row.status, row.actor)

    # -- searching --

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

    def handed_over(self, channel: str, address: str) -> str | None:
        """The newest open case of this conversation that staff have taken over, if any."""
        return self.session.scalars(
            select(Complaint.reference)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Complaint.customer_id)
            .where(
                CustomerIdentity.channel == channel,
                CustomerIdentity.external_id == address,
                Complaint.needs_human.is_(True),
                Complaint.status != Status.CLOSED,
            )
            .order_by(Complaint.id.desc())
            .limit(1)
        ).first()

    # -- deadlines --

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

    # -- surveys (the (status, time) indexes of migration 0006 answer these) --

    def surveys_to_send(self, now: dt.datetime, limit: int) -> builtins.list[str]:
        """Informed cases whose survey is due, oldest first."""
        return self._due(
            Complaint.status == Status.CUSTOMER_INFORMED, Complaint.survey_send_at <= now, limit=limit
        )

    def surveys_to_remind(self, now: dt.datetime, limit: int) -> builtins.list[str]:
        """Cases whose survey is due its one reminder and still open, oldest first."""
        return self._due(
            Complaint.status == Status.SURVEY_SENT,
            Complaint.survey_remind_at <= now,
            Complaint.survey_reminded_at.is_(None),
            Complaint.survey_expires_at > now,
            limit=limit,
        )

    def surveys_to_expire(self, now: dt.datetime, limit: int) -> builtins.list[str]:
        """Cases whose survey went unanswered past its expiry, oldest first."""
        return self._due(
            Complaint.status == Status.SURVEY_SENT, Complaint.survey_expires_at <= now, limit=limit
        )

    def _due(self, *conditions: ColumnElement[bool], limit: int) -> builtins.list[str]:
        query = select(Complaint.reference).where(*conditions).order_by(Complaint.id).limit(limit)
        return builtins.list(self.session.scalars(query))

    def survey_comment(self, reference: str, round_: int) -> str | None:
        """The customer's comment on a round's survey (the latest answer's)."""
        return self.session.scalars(
            select(SurveyResponse.comment)
            .join(Complaint, SurveyResponse.complaint_id == Complaint.id)
            .where(Complaint.reference == reference, SurveyResponse.round == round_)
            .order_by(SurveyResponse.id.desc())
        ).first()


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
