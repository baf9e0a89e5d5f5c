"""The monthly report's runs: one row per month, claimed under a lease and a fencing token."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, and_, case, or_, select, update
from sqlalchemy.orm import Session

from ccm_core.adapters.db import rows_changed
from ccm_core.adapters.tables import JobStatus, ReportRun


class ReportRunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, run: ReportRun) -> None:
        self.session.add(run)

    def exists(self, month: str) -> bool:
        return self.session.scalars(select(ReportRun.id).where(ReportRun.month == month)).first() is not None

    def by_month(self, month: str) -> ReportRun | None:
        """The month's run, detached from the session so it stays readable after the unit of work."""
        run = self.session.scalars(select(ReportRun).where(ReportRun.month == month)).one_or_none()
        if run is not None:
            self.session.expunge(run)
        return run

    def claim(
        self, month: str, worker: str, *, now: dt.datetime, lease_seconds: int, can_post: bool
    ) -> Row[tuple[int, str, str, int, dict[str, Any] | None]] | None:
        """Take ``month``'s run if it waits to be rendered or (``can_post``) posted; None when it does not.

        One conditional UPDATE: of two workers only one changes the row. What it took (id, month,
        language, claim_token, files) is returned, to be committed by the caller.
        """
        free = or_(ReportRun.lease_until.is_(None), ReportRun.lease_until < now)
        to_render = or_(
            ReportRun.status == JobStatus.QUEUED, and_(ReportRun.status == JobStatus.RUNNING, free)
        )
        to_post = and_(ReportRun.status == JobStatus.DONE, ReportRun.posted_at.is_(None), free)
        taken = self.session.execute(
            update(ReportRun)
            .where(ReportRun.month == month, or_(to_render, to_post) if can_post else to_render)
            .values(
                claim_token=ReportRun.claim_token + 1,
                claimed_by=worker[:64],
                lease_until=now + dt.timedelta(seconds=lease_seconds),
                # A run still to render is now running; a rendered one stays done, to be posted.
                status=case(
                    (ReportRun.status == JobStatus.DONE, JobStatus.DONE.value),
                    else_=JobStatus.RUNNING.value,
                ),
            )
            .returning(
                ReportRun.id, ReportRun.month, ReportRun.language, ReportRun.claim_token, ReportRun.files
            )
        )
        return taken.first()

    def write_if_held(self, run_id: int, token: int, **values: Any) -> bool:
        """Write ``values`` if the worker that claimed with ``token`` still holds the run."""
        held = and_(ReportRun.id == run_id, ReportRun.claim_token == token)
        changed = self.session.execute(update(ReportRun).where(held).values(**values))
        return rows_changed(changed) == 1
