"""What the queues (the outbox, staff notices, erasure tasks) share: rows leased to one worker at a time.

A worker holds a row through a lease (``lease_until``) and a fencing token (``claim_token``,
raised by every claim): a worker whose lease ran out can no longer write, because every write
names the token it claimed with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from ccm_core.adapters.db import rows_changed
from ccm_core.domain.queues import ErasureTask, OutboxMessage, StaffNotice

Q = TypeVar("Q", OutboxMessage, StaffNotice, ErasureTask)


class LeasedQueue(Generic[Q]):
    def __init__(self, session: Session, model: type[Q]) -> None:
        self.session = session
        self.model: type[Q] = model

    def _claim_due(
        self,
        worker: str,
        *,
        now: dt.datetime,
        same_queue: Sequence[Any],
        where: Sequence[Any],
        limit: int,
        lease_seconds: int,
    ) -> list[int]:
        """Lease up to ``limit`` due rows to ``worker``; the ids it got, to be committed by the caller.

        A row waits while an older pending row of the same queue (same values of the
        ``same_queue`` columns) exists, so one recipient's messages go out in order. On
        PostgreSQL rows are locked with ``SKIP LOCKED``; on SQLite the conditional update
        decides which worker gets a row (a worker that wrote first makes the commit fail).
        """
        model = self.model
        older = aliased(model)
        waiting_behind_older = exists().where(
            older.status == model.PENDING,
            *(getattr(older, column.key) == column for column in same_queue),
            older.id < model.id,
        )
        free = or_(model.lease_until.is_(None), model.lease_until < now)
        due = (
            select(model.id)
            .where(
                model.status == model.PENDING, model.available_at <= now, free, *where, ~waiting_behind_older
            )
            .order_by(model.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=model)
        )
        due_ids = self.session.scalars(due).all()
        if not due_ids:
            return []
        lease = now + dt.timedelta(seconds=lease_seconds)
        # One statement for the batch: on SQLite its condition is what keeps two workers apart.
        taken = self.session.scalars(
            update(model)
            .where(model.id.in_(due_ids), model.status == model.PENDING, free)
            .values(claim_token=model.claim_token + 1, claimed_by=worker[:64], lease_until=lease)
            .returning(model.id)
            .execution_options(synchronize_session=False)  # no row of the queue is in the session yet
        ).all()
        return sorted(taken)

    def held(self, ids: Collection[int]) -> Sequence[Q]:
        """The rows a claim took, read after its commit, oldest first."""
        model = self.model
        return self.session.scalars(select(model).where(model.id.in_(ids)).order_by(model.id)).all()

    def write_if_held(self, row_id: int, token: int, **values: Any) -> bool:
        """Write ``values`` to a row if the worker still holds it (``token``); False after a takeover."""
        model = self.model
        changed = self.session.execute(
            update(model)
            .where(model.id == row_id, model.claim_token == token, model.status == model.PENDING)
            .values(**values)
        )
        return rows_changed(changed) == 1
