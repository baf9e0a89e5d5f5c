"""Staff actors of the demo organisation and a shortcut to walk a case forward."""

from __future__ import annotations

import itertools

from sqlalchemy import func, select

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer import access, mail_intake, services
from ccm_core.service_layer.mail_intake import IncomingMail, MailFile
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.service_layer.views import CaseView


def staff(uow: UnitOfWork, email: str) -> Actor:
    return access.staff_actor(uow, email=email)


def record(uow: UnitOfWork, **overrides: object) -> CaseView:
    fields: dict[str, object] = {
        "channel": "phone",
        "language": "tr",
        "category": "delivery",
        "description": "Kargom hasarlı geldi, kimse telefona cevap vermiyor.",
        "customer": CustomerDetails(name="Ali Veli", phone="+90 532 000 00 00", email="ali@example.com"),
    }
    fields.update(overrides)
    return services.record_complaint(uow, Actor.system("intake"), **fields).case  # type: ignore[arg-type]


def to_informed(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    """03 → 06 justified → 07 one corrective action done → 08 informed."""
    services.start_review(uow, actor, reference)
    services.decide_complaint(uow, actor, reference, justified=True, reason="Damaged in transit")
    case = services.add_action(uow, actor, reference, kind="corrective", description="Send a new item")
    services.complete_action(uow, actor, reference, action_id=case.actions[-1].id, outcome="Delivered")
    return services.inform_customer(uow, actor, reference, summary="A new item was delivered.")


def audit_actions(uow: UnitOfWork, reference: str) -> list[str]:
    with uow:
        return list(
            uow.session.scalars(
                select(AuditEvent.action)
                .join(Complaint, AuditEvent.complaint_id == Complaint.id)
                .where(Complaint.reference == reference)
                .order_by(AuditEvent.id)
            )
        )


def outbox(uow: UnitOfWork, reference: str) -> list[OutboxMessage]:
    with uow:
        messages = list(
            uow.session.scalars(
                select(OutboxMessage)
                .join(Complaint, OutboxMessage.complaint_id == Complaint.id)
                .where(Complaint.reference == reference)
                .order_by(OutboxMessage.id)
            )
        )
        uow.session.expunge_all()  # keep the loaded rows readable after the unit of work ends
        return messages


def count(uow: UnitOfWork, entity: type) -> int:
    with uow:
        return uow.session.scalar(select(func.count()).select_from(entity)) or 0


_MAIL_UIDS = itertools.count(1)


def mailed_case(uow: UnitOfWork, *files: MailFile, text: str, max_file_bytes: int = 3_000_000) -> str:
    """A delivery complaint Ayşe mailed with ``files`` (kept up to ``max_file_bytes``); its reference."""
    claim = mail_intake.claim_mail(uow, "worker-1", folder="INBOX", uidvalidity=1, uid=next(_MAIL_UIDS))
    assert claim is not None
    mail = IncomingMail(
        message_id=None,
        thread=(),
        sender="ayse.demir@example.com.tr",
        sender_name="Ayşe Demir",
        subject="Kargom hasarlı geldi",
        text=text,
        files=files,
    )
    taken = mail_intake.take_in_mail(
        uow, claim, mail, category="delivery", sender_limit=10, max_file_bytes=max_file_bytes
    )
    assert taken.reference is not None
    return taken.reference
