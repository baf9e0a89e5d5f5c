"""One transaction per use case, with the aggregate's pending records stored in it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from ccm_core.adapters.repository import Repository
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.errors import ConcurrentUpdate
from ccm_core.domain.records import AuditEvent
from ccm_core.settings import Settings


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UnitOfWork:
    """Opens a session on ``with``; nothing is written unless ``commit`` is called."""

    session: Session
    repo: Repository

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings or Settings()
        self.clock = clock

    def now(self) -> dt.datetime:
        return self.clock()

    def __enter__(self) -> UnitOfWork:
        self.session = self.session_factory()
        self.repo = Repository(self.session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        """Store the changed complaints with their audit events and outbox messages, or nothing."""
        touched = [complaint for complaint in self.repo.seen if complaint.pending]
        references = [complaint.reference for complaint in self.repo.seen]
        for complaint in touched:
            self.session.add_all(complaint.pending)
        try:
            self.session.commit()
        except StaleDataError:
            self.session.rollback()
            raise self._conflict(references) from None
        for complaint in touched:
            complaint.pending.clear()

    def _conflict(self, references: list[str]) -> ConcurrentUpdate:
        """Describe who changed which case underneath us, read fresh from the database."""
        for reference in references:
            row = self.session.execute(
                select(Complaint.status, AuditEvent.actor)
                .join(AuditEvent, AuditEvent.complaint_id == Complaint.id)
                .where(Complaint.reference == reference)
                .order_by(AuditEvent.id.desc())
                .limit(1)
            ).first()
            if row is not None:
                return ConcurrentUpdate(reference=reference, by=row.actor, current=row.status)
        return ConcurrentUpdate(reference=", ".join(references), by="-", current="-")
