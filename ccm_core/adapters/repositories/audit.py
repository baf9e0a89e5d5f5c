"""The append-only audit trail (the database refuses updates and deletes on it)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.records import AuditEvent


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, event: AuditEvent) -> None:
        """Record a change outside a complaint (a complaint's own events come with the aggregate)."""
        self.session.add(event)

    def trail(self, complaint: Complaint) -> Sequence[AuditEvent]:
        return self.session.scalars(
            select(AuditEvent).where(AuditEvent.complaint_id == complaint.id).order_by(AuditEvent.id)
        ).all()
