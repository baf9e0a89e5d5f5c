"""One transaction per use case: its repositories share a session, the aggregate's records go with it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from ccm_core.adapters.attachments import FileAttachmentStore
from ccm_core.adapters.figures import Figures
from ccm_core.adapters.repositories.admin_sessions import AdminSessionRepository
from ccm_core.adapters.repositories.audit import AuditRepository
from ccm_core.adapters.repositories.chat import ChatRepository
from ccm_core.adapters.repositories.complaints import ComplaintRepository
from ccm_core.adapters.repositories.customers import CustomerRepository
from ccm_core.adapters.repositories.erasure import ErasureRepository
from ccm_core.adapters.repositories.inbound_mails import InboundMailRepository
from ccm_core.adapters.repositories.notices import NoticeRepository
from ccm_core.adapters.repositories.organisation import OrganisationRepository
from ccm_core.adapters.repositories.outbox import OutboxRepository
from ccm_core.adapters.repositories.report_runs import ReportRunRepository
from ccm_core.adapters.repositories.teaching import TeachingRepository
from ccm_core.domain.errors import ConcurrentUpdate
from ccm_core.settings import CoreSettings


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UnitOfWork:
    """Opens a session and its repositories on ``with``; nothing is written unless ``commit`` is called."""

    session: Session  # the use cases reach it only through the repositories; tests read it directly
    complaints: ComplaintRepository
    customers: CustomerRepository
    organisation: OrganisationRepository
    outbox: OutboxRepository
    notices: NoticeRepository
    erasure: ErasureRepository
    inbound_mails: InboundMailRepository
    chat: ChatRepository
    teaching: TeachingRepository
    report_runs: ReportRunRepository
    admin_sessions: AdminSessionRepository
    audit: AuditRepository
    figures: Figures

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: CoreSettings,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.clock = clock
        self.attachments = FileAttachmentStore(settings.attachment_root)

    def now(self) -> dt.datetime:
        return self.clock()

    def __enter__(self) -> UnitOfWork:
        self.session = session = self.session_factory()
        self.complaints = ComplaintRepository(session)
        self.customers = CustomerRepository(session)
        self.organisation = OrganisationRepository(session)
        self.outbox = OutboxRepository(session)
        self.notices = NoticeRepository(session)
        self.erasure = ErasureRepository(session)
        self.inbound_mails = InboundMailRepository(session)
        self.chat = ChatRepository(session)
        self.teaching = TeachingRepository(session)
        self.report_runs = ReportRunRepository(session)
        self.admin_sessions = AdminSessionRepository(session)
        self.audit = AuditRepository(session)
        self.figures = Figures(session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        """Store the changed complaints with their audit events and outbox messages, or nothing."""
        touched = [complaint for complaint in self.complaints.seen if complaint.pending]
        references = [complaint.reference for complaint in self.complaints.seen]
        for complaint in touched:
            self.session.add_all(complaint.pending)
        try:
            self.session.commit()
        except StaleDataError:
            self.session.rollback()
            raise self._conflict(references) from None
        for complaint in touched:
            complaint.pending.clear()

    def rollback(self) -> None:
        """Drop what the transaction wrote so far: the use case lost a race it can live with."""
        self.session.rollback()

    def _conflict(self, references: list[str]) -> ConcurrentUpdate:
        """Describe who changed which case underneath us, read fresh from the database."""
        for reference in references:
            last = self.complaints.last_change(reference)
            if last is not None:
                status, actor = last
                return ConcurrentUpdate(reference=reference, by=actor, current=status)
        return ConcurrentUpdate(reference=", ".join(references), by="-", current="-")
