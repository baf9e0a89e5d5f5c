"""Delivering the outbox: workers claim due messages, record what they send, and never send a part twice.

A message is held by one worker at a time through a lease (``lease_until``) and a
fencing token (``claim_token``): a worker whose lease ran out can no longer write,
because every write names the token it claimed with. The parts a channel sends are
stored before the first one goes; each part is marked in flight before its send
and sent after it, so a worker killed mid-batch resumes where it stopped. A part
left in flight by a crash on a channel that cannot de-duplicate is not sent again:
the message is recorded as failed with that reason, for staff to see.

Messages to one conversation go out in order: a message waits while an older one
to the same recipient is still pending.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import OperationalError

from ccm_core.domain.errors import ConcurrentUpdate, NotFound
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import DeliveryStatus, OutboxKind
from ccm_core.service_layer.unit_of_work import UnitOfWork

FINISH_ATTEMPTS = 3


@dataclass(frozen=True)
class Claim:
    """An outbox message a worker holds, with what it needs to deliver it."""

    outbox_id: int
    token: int
    complaint_id: int
    kind: str
    language: str
    channel: str
    recipient: str
    reference: str
    body: str
    attempts: int
    rendering: list[dict[str, Any]] | None
    parts_sent: int
    part_in_flight: int | None
    last_customer_contact: dt.datetime | None  # when the customer last wrote, as the claim was taken


def claim_outbox_messages(
    uow: UnitOfWork, worker: str, channels: Collection[str], *, limit: int, lease_seconds: int
) -> list[Claim]:
    """Take up to ``limit`` due messages for ``channels``, the oldest per recipient only.

    Each claim says when its customer last wrote (WhatsApp's 24-hour window), read here for the whole
    batch rather than by each delivery. A customer who writes after this only widens the window, so
    the value read here never lets a free-form message out when a template is due.
    """
    with uow:
        now = uow.now()
        claimed = commit_claims(
            uow,
            lambda: uow.outbox.claim_due(worker, channels, now=now, limit=limit, lease_seconds=lease_seconds),
        )
        if not claimed:
            return []
        rows = uow.outbox.held(claimed)
        last_inbound = uow.chat.last_inbound({row.recipient for row in rows if row.recipient})
        return [
            Claim(
                outbox_id=row.id,
                token=row.claim_token,
                complaint_id=row.complaint_id,
                kind=row.kind,
                language=row.language,
                channel=row.channel,
                recipient=row.recipient or "",
                reference=str(row.payload.get("reference", "")),
                body=row.body,
                attempts=row.attempts,
                rendering=row.rendering,
                parts_sent=row.parts_sent,
                part_in_flight=row.part_in_flight,
                last_customer_contact=last_inbound.get(row.recipient or ""),
            )
            for row in rows
        ]


def commit_claims(uow: UnitOfWork, claim: Callable[[], list[int]]) -> list[int]:
    """Commit the leases ``claim`` takes on a queue (the outbox, staff notices); the ids taken.

    On SQLite a worker that wrote first makes this one's writes fail: its claims win this round
    and this worker gets none. Call inside ``with uow``.
    """
    try:
        claimed = claim()
        uow.commit()
    except OperationalError:
        uow.rollback()
        return []
    return claimed


def _fenced(uow: UnitOfWork, claim: Claim, **values: Any) -> bool:
    """Write ``values`` if the worker still holds the message; False after a takeover."""
    with uow:
        held = uow.outbox.write_if_held(claim.outbox_id, claim.token, **values)
        uow.commit()
        return held


def save_rendering(uow: UnitOfWork, claim: Claim, parts: list[dict[str, Any]]) -> bool:
    """Store the parts before the first send, so a restart sends the same words without asking again.

    The first part is marked in flight in the same commit (``begin_part`` for it), as it is sent next.
    """
    return _fenced(uow, claim, rendering=parts, parts_sent=0, part_in_flight=0 if parts else None)


def begin_part(uow: UnitOfWork, claim: Claim, index: int) -> bool:
    return _fenced(uow, claim, part_in_flight=index)


def end_part(uow: UnitOfWork, claim: Claim, index: int) -> bool:
    return _fenced(uow, claim, parts_sent=index + 1, part_in_flight=None)


def finish_delivery(uow: UnitOfWork, claim: Claim, actor: Actor, *, parts_sent: int | None = None) -> None:
    """Every part went out: the message is delivered (an acknowledgement meets its deadline).

    One transaction gives the lease back, marks the message delivered and, with ``parts_sent``,
    records the last part as sent: a worker delivering many messages saves two commits on each, and
    no crash can leave a message sent in full but not delivered. The message's row is written by one
    fenced update, and only an acknowledgement reads its case (without the case's collections). A
    case staff changed meanwhile (its version moved on) is read again and the transaction repeated.
    """
    values: dict[str, Any] = {"status": DeliveryStatus.DELIVERED, "lease_until": None}
    values["attempts"] = claim.attempts + 1
    if parts_sent is not None:
        values.update(parts_sent=parts_sent, part_in_flight=None)
    for attempt in range(1, FINISH_ATTEMPTS + 1):
        with uow:
            now = uow.now()
            if not uow.outbox.write_if_held(claim.outbox_id, claim.token, delivered_at=now, **values):
                return  # the lease ran out and another worker holds the message now
            try:
                if claim.kind == OutboxKind.ACKNOWLEDGEMENT:
                    _acknowledged(uow, actor, claim.complaint_id, now)
                uow.commit()
                return
            except ConcurrentUpdate:
                if attempt == FINISH_ATTEMPTS:
                    raise


def retry_delivery(uow: UnitOfWork, claim: Claim, *, error: str, retry_at: dt.datetime) -> None:
    """Not sent this time (the assistant or the platform was down): try again from ``retry_at``."""
    _fenced(
        uow,
        claim,
        attempts=claim.attempts + 1,
        last_error=error[:2000],
        available_at=retry_at,
        lease_until=None,
        part_in_flight=None,
    )


def fail_delivery(uow: UnitOfWork, claim: Claim, *, error: str) -> None:
    """Give up on the message and keep the reason; it is never dropped silently."""
    _fenced(
        uow,
        claim,
        status=DeliveryStatus.FAILED,
        attempts=claim.attempts + 1,
        last_error=error[:2000],
        lease_until=None,
    )


# --- outbox delivery contract ---


def mark_outbox_delivered(uow: UnitOfWork, actor: Actor, message_id: int) -> None:
    """A channel delivered the message; an acknowledgement meets the acknowledge deadline."""
    with uow:
        _mark_delivered(uow, actor, message_id)
        uow.commit()


def _mark_delivered(uow: UnitOfWork, actor: Actor, message_id: int) -> None:
    """Inside ``with uow``; the caller commits."""
    message = uow.outbox.get(message_id)
    if message is None:
        raise NotFound(kind="outbox_message", key=str(message_id))
    if message.status == DeliveryStatus.DELIVERED:
        return
    now = uow.now()
    message.status = DeliveryStatus.DELIVERED
    message.delivered_at = now
    message.attempts += 1
    if message.kind == OutboxKind.ACKNOWLEDGEMENT:
        _acknowledged(uow, actor, message.complaint_id, now)


def _acknowledged(uow: UnitOfWork, actor: Actor, complaint_id: int, now: dt.datetime) -> None:
    """The acknowledgement reached the customer: its case records that (the acknowledge step's deadline)."""
    complaint = uow.complaints.alone(complaint_id)
    assert complaint is not None
    complaint.mark_acknowledged(actor, now)


def mark_outbox_failed(uow: UnitOfWork, message_id: int, *, error: str, retry_at: dt.datetime | None) -> None:
    """Delivery failed: try again at ``retry_at``, or give up (``None``) with the reason kept."""
    with uow:
        message = uow.outbox.get(message_id)
        if message is None:
            raise NotFound(kind="outbox_message", key=str(message_id))
        message.attempts += 1
        message.last_error = error[:2000]
        if retry_at is None:
            message.status = DeliveryStatus.FAILED
        else:
            message.available_at = retry_at
        uow.commit()
