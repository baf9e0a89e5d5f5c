"""Erasure tasks: customers' conversations to erase from the assistant's store, under a lease."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ccm_core.adapters.repositories.queues import LeasedQueue
from ccm_core.domain.queues import ErasureTask


class ErasureRepository(LeasedQueue[ErasureTask]):
    def __init__(self, session: Session) -> None:
        super().__init__(session, ErasureTask)

    def add(self, task: ErasureTask) -> None:
        self.session.add(task)

    def claim_due(self, worker: str, *, now: dt.datetime, limit: int, lease_seconds: int) -> list[int]:
        return self._claim_due(
            worker, now=now, same_queue=(), where=(), limit=limit, lease_seconds=lease_seconds
        )
