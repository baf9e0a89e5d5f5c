"""KVKK/GDPR: a customer's personal data erased everywhere we keep it, on request or after the
retention period, and the customer's copy of everything we hold (KVKK Art. 7 and 11, GDPR Art. 15
and 17).

Erasure happens in one transaction in the database: the record, the web chat's stored messages,
the outbox, the review queue's items from the customer's conversations. What lives elsewhere is
queued in the same transaction and done by the worker until it is done: the conversations in the
assistant's tracker store (erasure tasks) and the staff tool's messages quoting the customer (a
``customer_erased`` staff notice). Dates, channels, categories, decisions and scores stay, so
the statistics and the monthly reports do too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from ccm_core.domain import policy
from ccm_core.domain.complaint import ERASED, Complaint
from ccm_core.domain.customer import Customer
from ccm_core.domain.errors import PreconditionFailed
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import DeliveryStatus, ErasureTask, NoticeStatus
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer.delivery import commit_claims
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.service_layer.views import load_for

RETENTION = Actor.system("retention")


class TranscriptUnavailable(RuntimeError):
    """The assistant could not give the conversation now."""


class Transcripts(Protocol):
    """The assistant's conversations, read for the customer's copy."""

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's lines (``at``, ``from``, ``text``), oldest first; empty if there is none.

        Raises ``TranscriptUnavailable`` when the assistant cannot be asked.
        """


# --- erasure ---


def erase_customer_data(uow: UnitOfWork, actor: Actor, reference: str) -> int:
    """Erase the customer of ``reference`` everywhere; returns the number of complaints anonymised."""
    with uow:
        customer = load_for(uow, actor, reference, policy.ERASE_CUSTOMER_DATA).customer
        if customer.erased_at is not None:
            raise PreconditionFailed(
                "customer_erased", erased_at=customer.erased_at.isoformat(timespec="minutes")
            )
        erased = _erase(uow, actor, customer)
        if erased is None:  # another request erased them between our read and our write
            raise PreconditionFailed("customer_erased", erased_at=uow.now().isoformat(timespec="minutes"))
        uow.commit()
        return erased


def erase_expired_customers(uow: UnitOfWork, *, limit: int = 100) -> int:
    """Retention: erase the customers whose complaints all closed more than ``CCM_RETENTION_DAYS`` ago.

    Several workers may run it at once: each customer is taken by one of them (``_erase`` claims
    the row first), in a transaction of its own. Returns how many customers were erased.
    """
    days = uow.settings.retention_days
    if days <= 0:
        return 0
    with uow:
        expired = uow.customers.expired(uow.now() - dt.timedelta(days=days), limit)
    erased = 0
    for customer_id in expired:
        with uow:
            customer = uow.customers.get(customer_id)
            if customer is None or _erase(uow, RETENTION, customer) is None:
                continue
            uow.commit()
            erased += 1
    return erased


def _erase(uow: UnitOfWork, actor: Actor, customer: Customer) -> int | None:
    """Every copy of ``customer`` in this transaction, and the tasks for the others; None when taken."""
    now = uow.now()
    if not uow.customers.take_for_erasure(customer.id, now):
        return None
    conversations = sorted({identity.external_id for identity in customer.identities})
    complaints = uow.complaints.of_customer(customer)
    for case in complaints:
        case.erase_personal_data(actor, now)
        for message in uow.outbox.for_complaint(case):
            message.body = ERASED
            message.recipient = None
            message.rendering = None
            if message.status == DeliveryStatus.PENDING:
                message.status = DeliveryStatus.CANCELLED
                message.last_error = "customer data erased"
    uow.inbound_mails.forget([case.id for case in complaints])
    for case in complaints:  # before the commit: a failed commit leaves an erasure to do again, not files
        uow.attachments.delete_case(case.reference)
    if conversations:
        uow.chat.forget(conversations)
        uow.teaching.forget_conversations(conversations)
    for conversation_id in conversations:
        uow.erasure.add(
            ErasureTask(
                conversation_id=conversation_id,
                status=NoticeStatus.PENDING,
                attempts=0,
                created_at=now,
                available_at=now,
            )
        )
    customer.erase(now)
    return len(complaints)


# --- the erasure tasks the worker runs ---


@dataclass(frozen=True)
class ErasureClaim:
    id: int
    token: int
    conversation_id: str
    attempts: int


def claim_erasure_tasks(
    uow: UnitOfWork, worker: str, *, limit: int, lease_seconds: int
) -> list[ErasureClaim]:
    with uow:
        now = uow.now()
        claimed = commit_claims(
            uow, lambda: uow.erasure.claim_due(worker, now=now, limit=limit, lease_seconds=lease_seconds)
        )
        return [
            ErasureClaim(row.id, row.claim_token, row.conversation_id or "", row.attempts)
            for row in uow.erasure.held(claimed)
        ]


def finish_erasure_task(uow: UnitOfWork, claim: ErasureClaim) -> bool:
    """The conversation is gone; so is its id."""
    with uow:
        held = uow.erasure.write_if_held(
            claim.id,
            claim.token,
            status=NoticeStatus.DONE,
            conversation_id=None,
            done_at=uow.now(),
            attempts=claim.attempts + 1,
            lease_until=None,
        )
        uow.commit()
        return held


def retry_erasure_task(uow: UnitOfWork, claim: ErasureClaim, *, error: str, retry_at: dt.datetime) -> bool:
    """Erasure is never given up: the task waits and is tried again."""
    with uow:
        held = uow.erasure.write_if_held(
            claim.id,
            claim.token,
            attempts=claim.attempts + 1,
            last_error=error[:2000],
            available_at=retry_at,
            lease_until=None,
        )
        uow.commit()
        return held


# --- the customer's copy ---


def export_customer_data(
    uow: UnitOfWork, actor: Actor, reference: str, transcripts: Transcripts | None = None
) -> dict[str, Any]:
    """Everything held about the customer of ``reference``, and an audit event saying who took it.

    The conversations are read from the assistant (``transcripts``) after the database's part; a
    conversation it cannot give is listed with ``"available": false``, never left out silently.
    """
    with uow:
        complaint = load_for(uow, actor, reference, policy.EXPORT_CUSTOMER_DATA)
        customer = complaint.customer
        now = uow.now()
        cases = uow.complaints.of_customer(customer)
        copy: dict[str, Any] = {
            "exported_at": now.isoformat(timespec="seconds"),
            "language": complaint.language,
            "customer": {
                "name": customer.name,
                "email": customer.email,
                "phone": customer.phone,
                "created_at": customer.created_at.isoformat(timespec="seconds"),
                "erased_at": customer.erased_at.isoformat(timespec="seconds") if customer.erased_at else None,
                "channels": [{"channel": i.channel, "id": i.external_id} for i in customer.identities],
            },
            "complaints": [_case_copy(uow, case) for case in cases],
        }
        conversations = [i.external_id for i in customer.identities]
        uow.audit.add(
            AuditEvent(
                complaint=complaint,
                actor=actor.label,
                action="export_customer_data",
                at=now,
                status_before=str(complaint.status),
                status_after=str(complaint.status),
                details={"complaints": len(cases), "conversations": len(conversations)},
            )
        )
        uow.commit()
    copy["conversations"] = [_conversation(transcripts, conversation) for conversation in conversations]
    return copy


def _case_copy(uow: UnitOfWork, case: Complaint) -> dict[str, Any]:
    language = case.language
    return {
        "reference": case.reference,
        "channel": case.channel,
        "language": language,
        "category": case.category.labels.get(language) or case.category.code,
        "department": case.department.name(language),
        "description": case.description,
        "order_or_account": case.external_reference,
        "status": str(case.status),
        "decision": str(case.decision) if case.decision else None,
        "explanation": case.customer_explanation,
        "received_at": _when(case.received_at),
        "closed_at": _when(case.closed_at),
        "actions": [
            {
                "kind": str(action.kind),
                "description": action.description,
                "done_at": _when(action.done_at),
                "outcome": action.outcome,
            }
            for action in case.actions
        ],
        "messages": [
            {"from": m.author, "channel": m.channel, "at": _when(m.created_at), "text": m.body}
            for m in case.messages
        ],
        "survey_answers": [
            {
                "round": s.round + 1,
                "score": s.score,
                "nps": s.nps,
                "comment": s.comment,
                "at": _when(s.answered_at),
            }
            for s in case.survey_responses
        ],
        "sent_to_customer": [
            {
                "kind": str(m.kind),
                "channel": m.channel,
                "at": _when(m.created_at),
                "text": m.body,
                "status": str(m.status),
            }
            for m in uow.outbox.for_complaint(case)
        ],
    }


def _conversation(transcripts: Transcripts | None, conversation_id: str) -> dict[str, Any]:
    if transcripts is None:
        return {"id": conversation_id, "available": False, "lines": []}
    try:
        lines = transcripts.transcript(conversation_id)
    except TranscriptUnavailable:  # the assistant down must not withhold the rest of the copy
        return {"id": conversation_id, "available": False, "lines": []}
    return {"id": conversation_id, "available": True, "lines": lines}


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
