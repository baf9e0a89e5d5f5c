"""Mail read from the product's mailbox: one row per mail in a folder, taken under a lease."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ccm_core.adapters.db import rows_changed
from ccm_core.domain.inbound_mail import HANDLED, InboundMail
from ccm_core.domain.queues import OutboxMessage


class InboundMailRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, folder: str, uidvalidity: int, uid: int) -> InboundMail | None:
        return self.session.scalars(
            select(InboundMail).where(
                InboundMail.folder == folder, InboundMail.uidvalidity == uidvalidity, InboundMail.uid == uid
            )
        ).one_or_none()

    def find_by_id(self, row_id: int) -> InboundMail | None:
        return self.session.get(InboundMail, row_id)

    def add(self, row: InboundMail) -> None:
        self.session.add(row)

    def take(self, row_id: int, worker: str, now: dt.datetime, lease_seconds: int) -> bool:
        """Lease an unfinished mail to ``worker``; False while another worker's lease runs."""
        changed = self.session.execute(
            update(InboundMail)
            .where(
                InboundMail.id == row_id,
                InboundMail.outcome.is_(None),
                or_(InboundMail.lease_until.is_(None), InboundMail.lease_until < now),
            )
            .values(
                claim_token=InboundMail.claim_token + 1,
                claimed_by=worker[:64],
                lease_until=now + dt.timedelta(seconds=lease_seconds),
                attempts=InboundMail.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        return rows_changed(changed) == 1

    def held(self, row_id: int, token: int) -> InboundMail | None:
        """The row, if the worker with ``token`` still holds it, locked until the transaction ends."""
        return self.session.scalars(
            select(InboundMail)
            .where(InboundMail.id == row_id, InboundMail.claim_token == token, InboundMail.outcome.is_(None))
            .with_for_update()
        ).one_or_none()

    def write(self, row_id: int, **values: Any) -> None:
        self.session.execute(update(InboundMail).where(InboundMail.id == row_id).values(**values))

    def handled_copy(self, message_key: str, other_than: int) -> InboundMail | None:
        """Another copy of the same mail that already became a complaint, message or answer."""
        return self.session.scalars(
            select(InboundMail)
            .where(
                InboundMail.message_key == message_key,
                InboundMail.id != other_than,
                InboundMail.outcome.in_(HANDLED),
            )
            .limit(1)
        ).one_or_none()

    def handled_from(self, sender_key: str, since: dt.datetime) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(InboundMail)
                .where(
                    InboundMail.sender_key == sender_key,
                    InboundMail.received_at >= since,
                    InboundMail.outcome.in_(HANDLED),
                )
            )
            or 0
        )

    def case_of(self, message_ids: Collection[str]) -> int | None:
        """The case a mail with one of these Message-IDs joined, the latest first."""
        if not message_ids:
            return None
        return self.session.scalars(
            select(InboundMail.complaint_id)
            .where(InboundMail.message_id.in_(list(message_ids)), InboundMail.complaint_id.is_not(None))
            .order_by(InboundMail.id.desc())
            .limit(1)
        ).one_or_none()

    def case_of_outbox(self, outbox_ids: Collection[int]) -> int | None:
        if not outbox_ids:
            return None
        return self.session.scalars(
            select(OutboxMessage.complaint_id)
            .where(OutboxMessage.id.in_(list(outbox_ids)))
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        ).one_or_none()

    def thread(self, complaint_id: int) -> list[str]:
        """The Message-IDs of the customer's mails on a case, oldest first."""
        found = self.session.scalars(
            select(InboundMail.message_id)
            .where(InboundMail.complaint_id == complaint_id, InboundMail.message_id.is_not(None))
            .order_by(InboundMail.id)
        ).all()
        return [message_id for message_id in found if message_id]

    def forget(self, complaint_ids: Collection[int]) -> None:
        """Erasure: nothing left that leads back to the customer's mails."""
        if complaint_ids:
            self.session.execute(
                update(InboundMail)
                .where(InboundMail.complaint_id.in_(list(complaint_ids)))
                .values(message_id=None, message_key=None, sender_key=None)
            )
