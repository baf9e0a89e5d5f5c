"""Staff notices (what a department must hear) and staff posts (where a case is shown to it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ccm_core.adapters.repositories.queues import LeasedQueue
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.queues import StaffMessage, StaffNotice, StaffPost


class NoticeRepository(LeasedQueue[StaffNotice]):
    def __init__(self, session: Session) -> None:
        super().__init__(session, StaffNotice)

    def add(self, notice: StaffNotice) -> None:
        self.session.add(notice)

    def claim_due(self, worker: str, *, now: dt.datetime, limit: int, lease_seconds: int) -> list[int]:
        """Lease due notices, the oldest per case only: a case is posted before its updates."""
        return self._claim_due(
            worker,
            now=now,
            same_queue=(StaffNotice.complaint_id,),
            where=(),
            limit=limit,
            lease_seconds=lease_seconds,
        )

    def raised(self, dedupe_key: str) -> bool:
        """Whether the alert with this key exists already."""
        return (
            self.session.scalar(select(StaffNotice.id).where(StaffNotice.dedupe_key == dedupe_key))
            is not None
        )

    # -- staff posts --

    def add_post(self, post: StaffPost) -> None:
        self.session.add(post)

    def post_of(self, complaint: Complaint) -> StaffPost | None:
        return self.session.scalars(select(StaffPost).where(StaffPost.complaint_id == complaint.id)).first()

    def post_by_reference(self, reference: str) -> StaffPost | None:
        return self.session.scalars(
            select(StaffPost)
            .join(Complaint, StaffPost.complaint_id == Complaint.id)
            .where(Complaint.reference == reference)
        ).first()

    def reference_of_post(self, channel_ref: str, message_ref: str) -> str | None:
        """The case shown by this message."""
        return self.session.scalars(
            select(Complaint.reference)
            .join(StaffPost, StaffPost.complaint_id == Complaint.id)
            .where(StaffPost.channel_ref == channel_ref, StaffPost.message_ref == message_ref)
        ).first()

    # -- messages holding the customer's words --

    def add_message(self, message: StaffMessage) -> None:
        self.session.add(message)

    def messages_to_redact(self, complaint_id: int) -> Sequence[StaffMessage]:
        return self.session.scalars(
            select(StaffMessage)
            .where(StaffMessage.complaint_id == complaint_id, StaffMessage.redacted_at.is_(None))
            .order_by(StaffMessage.id)
        ).all()

    def message_redacted(self, message_id: int, now: dt.datetime) -> None:
        self.session.execute(
            update(StaffMessage).where(StaffMessage.id == message_id).values(redacted_at=now)
        )
