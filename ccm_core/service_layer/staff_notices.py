"""Telling department staff: the queue of staff notices and where each case is shown to its department.

The aggregate queues notices in the transaction of their cause (a new case, any change,
a customer asking for a person, a customer's words during a handoff, a dissatisfied
survey answer); the worker raises SLA alerts once each. A staff app (the Slack app)
claims them in order per case under a lease, as the outbox's workers do, and records
where it showed each case so later changes update that message in place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from ccm_core.domain.organisation import Department
from ccm_core.domain.queues import NoticeKind, NoticeStatus, StaffMessage, StaffNotice, StaffPost
from ccm_core.service_layer.delivery import commit_claims
from ccm_core.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class StaffContact:
    name: str
    email: str
    slack_user_id: str | None
    locale: str


@dataclass(frozen=True)
class NoticeClaim:
    """A staff notice a worker holds, with what it needs to show it."""

    id: int
    token: int
    kind: str
    reference: str | None
    department: str | None
    department_channel: str | None
    leads: list[StaffContact]
    payload: dict[str, Any]
    message_text: str | None
    attempts: int


def claim_staff_notices(uow: UnitOfWork, worker: str, *, limit: int, lease_seconds: int) -> list[NoticeClaim]:
    """Take up to ``limit`` due notices, the oldest per case only: a case is posted before its updates."""
    with uow:
        now = uow.now()
        claimed = commit_claims(
            uow, lambda: uow.notices.claim_due(worker, now=now, limit=limit, lease_seconds=lease_seconds)
        )
        return [_claim(uow, row) for row in uow.notices.held(claimed)]


def _claim(uow: UnitOfWork, row: StaffNotice) -> NoticeClaim:
    complaint = row.complaint
    department = complaint.department if complaint else None
    return NoticeClaim(
        id=row.id,
        token=row.claim_token,
        kind=row.kind,
        reference=complaint.reference if complaint else None,
        department=department.code if department else None,
        department_channel=department.slack_channel if department else None,
        leads=department_leads(uow, department) if department else [],
        payload=dict(row.payload),
        message_text=row.message.body if row.message else None,
        attempts=row.attempts,
    )


def department_leads(uow: UnitOfWork, department: Department) -> list[StaffContact]:
    """Who is alerted when something goes wrong on the department's cases: its active leads."""
    rows = uow.organisation.leads_of(department)
    return [StaffContact(s.name, s.email, s.slack_user_id, s.locale) for s in rows]


def _fenced(uow: UnitOfWork, claim: NoticeClaim, **values: Any) -> bool:
    """Write ``values`` if the worker still holds the notice; False after a takeover."""
    with uow:
        held = uow.notices.write_if_held(claim.id, claim.token, **values)
        uow.commit()
        return held


def finish_staff_notice(uow: UnitOfWork, claim: NoticeClaim) -> bool:
    return _fenced(
        uow,
        claim,
        status=NoticeStatus.DONE,
        done_at=uow.clock(),
        lease_until=None,
        attempts=claim.attempts + 1,
    )


def retry_staff_notice(uow: UnitOfWork, claim: NoticeClaim, *, error: str, retry_at: dt.datetime) -> bool:
    return _fenced(
        uow,
        claim,
        attempts=claim.attempts + 1,
        last_error=error[:2000],
        available_at=retry_at,
        lease_until=None,
    )


def fail_staff_notice(uow: UnitOfWork, claim: NoticeClaim, *, error: str) -> bool:
    """Give up on the notice and keep the reason (a channel the app was removed from, say)."""
    return _fenced(
        uow,
        claim,
        status=NoticeStatus.FAILED,
        attempts=claim.attempts + 1,
        last_error=error[:2000],
        lease_until=None,
    )


# --- SLA alerts ---


def raise_sla_alerts(uow: UnitOfWork, *, soon_hours: float | None = None) -> int:
    """Queue an alert for every breached and soon-due step of an open case, once per step and deadline.

    Several workers may run this at once: the alert's key is unique, so each alert exists once.
    Returns how many alerts were raised now.
    """
    with uow:
        now = uow.now()
        hours = uow.settings.sla_soon_hours if soon_hours is None else soon_hours
        rows = uow.complaints.sla_watch(now, now + dt.timedelta(hours=hours))
        candidates = []
        for complaint, step, due_at in rows:
            kind = NoticeKind.SLA_BREACH if due_at < now else NoticeKind.SLA_SOON
            key = f"{kind}:{complaint.id}:{step}:{due_at.isoformat(timespec='minutes')}"
            candidates.append((complaint.id, kind, key, str(step), due_at))
    raised = 0
    for complaint_id, kind, key, step_name, due_at in candidates:
        with uow:
            if uow.notices.raised(key):
                continue
            uow.notices.add(
                StaffNotice(
                    complaint_id=complaint_id,
                    kind=kind,
                    payload={"step": step_name, "due_at": due_at.isoformat(timespec="minutes")},
                    dedupe_key=key,
                    status=NoticeStatus.PENDING,
                    attempts=0,
                    created_at=now,
                    available_at=now,
                )
            )
            try:
                uow.commit()
                raised += 1
            except IntegrityError:  # another worker raised the same alert a moment ago
                uow.rollback()
    return raised


# --- where a case is shown to its department ---


@dataclass(frozen=True)
class PostView:
    reference: str
    channel_ref: str
    message_ref: str
    in_current_department: bool  # False after a reassignment: the new department gets a message of its own


def staff_post(uow: UnitOfWork, reference: str) -> PostView | None:
    with uow:
        row = uow.notices.post_by_reference(reference)
        return _post(row) if row else None


def _post(row: StaffPost) -> PostView:
    current = row.department_id == row.complaint.department_id
    return PostView(row.complaint.reference, row.channel_ref, row.message_ref, current)


def save_staff_post(uow: UnitOfWork, reference: str, *, channel_ref: str, message_ref: str) -> None:
    """Remember where the case is shown now (a reassigned case gets a new message in its new department)."""
    with uow:
        complaint = uow.complaints.get(reference)
        if complaint is None:
            return
        row = uow.notices.post_of(complaint)
        if row is None:
            row = StaffPost(complaint_id=complaint.id, created_at=uow.now())
            uow.notices.add_post(row)
        else:  # the old department's message stays there, no longer updated: erasure must still find it
            _remember(uow, complaint.id, row.channel_ref, row.message_ref)
        row.department_id = complaint.department_id
        row.channel_ref = channel_ref
        row.message_ref = message_ref
        uow.commit()


def case_of_post(uow: UnitOfWork, channel_ref: str, message_ref: str) -> str | None:
    """The case shown by this message (a staff reply in its thread belongs to that case)."""
    with uow:
        return uow.notices.reference_of_post(channel_ref, message_ref)


# --- the staff tool's messages that quote the customer (redacted on erasure) ---


@dataclass(frozen=True)
class StaffMessageView:
    id: int
    channel_ref: str
    message_ref: str


def record_staff_message(uow: UnitOfWork, reference: str, *, channel_ref: str, message_ref: str) -> None:
    """The staff tool shows the customer's words here (a thread reply, an alert): erasure redacts it."""
    with uow:
        complaint = uow.complaints.get(reference)
        if complaint is not None:
            _remember(uow, complaint.id, channel_ref, message_ref)
            uow.commit()


def _remember(uow: UnitOfWork, complaint_id: int, channel_ref: str, message_ref: str) -> None:
    uow.notices.add_message(
        StaffMessage(
            complaint_id=complaint_id, channel_ref=channel_ref, message_ref=message_ref, created_at=uow.now()
        )
    )


def staff_messages_to_redact(uow: UnitOfWork, reference: str) -> list[StaffMessageView]:
    with uow:
        complaint = uow.complaints.get(reference)
        if complaint is None:
            return []
        rows = uow.notices.messages_to_redact(complaint.id)
        return [StaffMessageView(row.id, row.channel_ref, row.message_ref) for row in rows]


def staff_message_redacted(uow: UnitOfWork, message_id: int) -> None:
    with uow:
        uow.notices.message_redacted(message_id, uow.now())
        uow.commit()
