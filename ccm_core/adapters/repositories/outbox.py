"""The outbox: what the customer must be told, delivered by the channels' workers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ccm_core.adapters.repositories.queues import LeasedQueue
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.queues import OutboxMessage


class OutboxRepository(LeasedQueue[OutboxMessage]):
    def __init__(self, session: Session) -> None:
        super().__init__(session, OutboxMessage)

    def get(self, message_id: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, message_id)

    def for_complaint(self, complaint: Complaint) -> Sequence[OutboxMessage]:
        return self.session.scalars(
            select(OutboxMessage).where(OutboxMessage.complaint_id == complaint.id).order_by(OutboxMessage.id)
        ).all()

    def claim_due(
        self, worker: str, channels: Collection[str], *, now: dt.datetime, limit: int, lease_seconds: int
    ) -> list[int]:
        """Lease due messages for ``channels`` with a recipient, the oldest per recipient only."""
        return self._claim_due(
            worker,
            now=now,
            same_queue=(OutboxMessage.channel, OutboxMessage.recipient),
            where=(OutboxMessage.channel.in_(list(channels)), OutboxMessage.recipient.is_not(None)),
            limit=limit,
            lease_seconds=lease_seconds,
        )
