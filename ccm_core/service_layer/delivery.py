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
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased

from ccm_core.adapters.db import rows_changed
from ccm_core.domain.errors import NotFound
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import DeliveryStatus, OutboxKind, OutboxMessage, StaffNotice
from ccm_core.service_layer.unit_of_work import UnitOfWork

Q = TypeVar("Q", OutboxMessage, StaffNotice)


@dataclass(frozen=True)
class Claim:
    """An outbox message a worker holds, with what it needs to deliver it."""

    outbox_id: int
    token: int
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


def claim_outbox_messages(
    uow: UnitOfWork, worker: str, channels: Collection[str], *, limit: int, lease_seconds: int
) -> list[Claim]:
    """Take up to ``limit`` due messages for ``channels``, the oldest per recipient only."""
    with uow:
        rows = claim_due(
            uow,
            OutboxMessage,
            worker,
            same_queue=(OutboxMessage.channel, OutboxMessage.recipient),
            where=(OutboxMessage.channel.in_(list(channels)), OutboxMessage.recipient.is_not(None)),
            limit=limit,
            lease_seconds=lease_seconds,
        )
        return [
            Claim(
                outbox_id=row.id,
                token=row.claim_token,
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
            )
            for row in rows
        ]


def claim_due(
    uow: UnitOfWork,
    model: type[Q],
    worker: str,
    *,
    same_queue: Sequence[Any],
    where: Sequence[Any],
    limit: int,
    lease_seconds: int,
) -> Sequence[Q]:
    """Lease up to ``limit`` due rows of a queue table (the outbox, staff notices) to ``worker``.

    A row waits while an older pending row of the same queue (same values of the
    ``same_queue`` columns) exists, so one recipient's messages go out in order. On
    PostgreSQL rows are locked with ``SKIP LOCKED``; on SQLite the conditional update
    decides which worker gets a row. Call inside ``with uow``.
    """
    now = uow.now()
    older = aliased(model)
    waiting_behind_older = exists().where(
        older.status == model.PENDING,
        *(getattr(older, column.key) == column for column in same_queue),
        older.id < model.id,
    )
    free = or_(model.lease_until.is_(None), model.lease_until < now)
    due = (
        select(model.id)
        .where(model.status == model.PENDING, model.available_at <= now, free, *where, ~waiting_behind_older)
        .order_by(model.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=model)
    )
    lease = now + dt.timedelta(seconds=lease_seconds)
    claimed: list[int] = []
    try:
        for row_id in uow.session.scalars(due).all():
            taken = uow.session.execute(
                update(model)
                .where(model.id == row_id, model.status == model.PENDING, free)
                .values(claim_token=model.claim_token + 1, claimed_by=worker[:64], lease_until=lease)
            )
            if rows_changed(taken) == 1:
                claimed.append(row_id)
        uow.session.commit()
    except OperationalError:  # SQLite: another worker wrote first; its claims win this round
        uow.session.rollback()
        return []
    return uow.session.scalars(select(model).where(model.id.in_(claimed)).order_by(model.id)).all()


def write_if_held(uow: UnitOfWork, model: type[Q], row_id: int, token: int, **values: Any) -> bool:
    """Write ``values`` to a queue row if the worker still holds it (``token``); False after a takeover."""
    with uow:
        changed = uow.session.execute(
            update(model)
            .where(model.id == row_id, model.claim_token == token, model.status == model.PENDING)
            .values(**values)
        )
        uow.session.commit()
        return rows_changed(changed) == 1


def _fenced(uow: UnitOfWork, claim: Claim, **values: Any) -> bool:
    return write_if_held(uow, OutboxMessage, claim.outbox_id, claim.token, **values)


def save_rendering(uow: UnitOfWork, claim: Claim, parts: list[dict[str, Any]]) -> bool:
    """Store the parts before the first send, so a restart sends the same words without asking again."""
    return _fenced(uow, claim, rendering=parts, parts_sent=0, part_in_flight=None)


def begin_part(uow: UnitOfWork, claim: Claim, index: int) -> bool:
    return _fenced(uow, claim, part_in_flight=index)


def end_part(uow: UnitOfWork, claim: Claim, index: int) -> bool:
    return _fenced(uow, claim, parts_sent=index + 1, part_in_flight=None)


def finish_delivery(uow: UnitOfWork, claim: Claim, actor: Actor) -> None:
    """Every part went out: the message is delivered (an acknowledgement meets its deadline)."""
    if _fenced(uow, claim, lease_until=None):
        mark_outbox_delivered(uow, actor, claim.outbox_id)


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
        message = uow.repo.outbox_message(message_id)
        if message is None:
            raise NotFound(kind="outbox_message", key=str(message_id))
        if message.status == DeliveryStatus.DELIVERED:
            return
        now = uow.now()
        message.status = DeliveryStatus.DELIVERED
        message.delivered_at = now
        message.attempts += 1
        if message.kind == OutboxKind.ACKNOWLEDGEMENT:
            complaint = uow.repo.get(message.complaint.reference)
            assert complaint is not None
            complaint.mark_acknowledged(actor, now)
        uow.commit()


def mark_outbox_failed(uow: UnitOfWork, message_id: int, *, error: str, retry_at: dt.datetime | None) -> None:
    """Delivery failed: try again at ``retry_at``, or give up (``None``) with the reason kept."""
    with uow:
        message = uow.repo.outbox_message(message_id)
        if message is None:
            raise NotFound(kind="outbox_message", key=str(message_id))
        message.attempts += 1
        message.last_error = error[:2000]
        if retry_at is None:
            message.status = DeliveryStatus.FAILED
        else:
            message.available_at = retry_at
        uow.commit()
