"""The monthly report's durable run: one row per month, produced by one worker, posted once.

A run moves ``queued`` → ``running`` (a worker renders it) → ``done`` (its files are stored)
and is then posted; ``posted_at`` marks that. A worker holds the run through a lease
(``lease_until``) and a fencing token (``claim_token``, raised by every claim): a worker whose
lease ran out and was taken over cannot overwrite what the new holder writes. A restart
resumes where the last holder stopped: a run rendered but not posted is claimed to be posted,
a posted run is left alone. Rendering that failed is kept as ``failed`` with the reason, for
the operator (``ccm report monthly`` renders it by hand); a failed post is retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from ccm_core.adapters.tables import JobStatus, ReportRun
from ccm_core.domain.policy import Actor
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ReportJob:
    """A month's report run as the worker holding it sees it."""

    id: int
    month: str
    language: str
    token: int
    files: dict[str, str] | None  # kind ("pdf", "html", "csv") → path, once rendered

    @property
    def rendered(self) -> bool:
        return self.files is not None


def claim_report_run(
    uow: UnitOfWork, month: str, worker_id: str, lease_seconds: int, *, can_post: bool = True
) -> ReportJob | None:
    """Hold ``month``'s run if there is work on it: to render it, or (``can_post``) to post it.

    The run is created first if missing, in the language of ``Settings.report_language``; the
    month is unique, so of two workers only one inserts and both then race for the claim, which
    only one wins. None when another worker holds it or nothing is left to do.
    """
    _create_run(uow, month)
    with uow:
        try:
            held = uow.report_runs.claim(
                month, worker_id, now=uow.now(), lease_seconds=lease_seconds, can_post=can_post
            )
            uow.commit()
        except OperationalError:  # SQLite: another worker wrote first; its claim wins this round
            uow.rollback()
            return None
        if held is None:
            return None
        return ReportJob(held.id, held.month, held.language, held.claim_token, dict(held.files or {}) or None)


def finish_report_run(
    uow: UnitOfWork, actor: Actor, job: ReportJob, files: dict[str, str], *, posting_next: bool
) -> bool:
    """Store the rendered files. The holder keeps its lease when it goes on to post them (``posting_next``),
    else lets go so a worker with Slack can post them. False if the run was taken over meanwhile.
    """
    values: dict[str, Any] = {
        "status": JobStatus.DONE,
        "files": files,
        "finished_at": uow.now(),
        "outcome": None,
    }
    if not posting_next:
        values["lease_until"] = None
    details = {"month": job.month, "language": job.language, "files": len(files)}
    return _fenced(uow, job, values, audit=("report_rendered", actor, details))


def mark_report_posted(uow: UnitOfWork, actor: Actor, job: ReportJob, *, where: str) -> bool:
    """The report reached management (``where``: the Slack channel); it is never posted again."""
    return _fenced(
        uow,
        job,
        {"posted_at": uow.now(), "lease_until": None},
        audit=("report_posted", actor, {"month": job.month, "channel": where}),
    )


def fail_report_run(uow: UnitOfWork, job: ReportJob, *, error: str) -> bool:
    """Keep the reason. A rendered run stays ``done`` and is posted on a later round; else ``failed``."""
    values: dict[str, Any] = {"outcome": error[:4000], "lease_until": None}
    if not job.rendered:
        values["status"] = JobStatus.FAILED
    return _fenced(uow, job, values)


def report_run(uow: UnitOfWork, month: str) -> ReportRun | None:
    """The month's run as stored (for the operator and for tests), detached from the session."""
    with uow:
        return uow.report_runs.by_month(month)


def _create_run(uow: UnitOfWork, month: str) -> None:
    with uow:
        if uow.report_runs.exists(month):
            return
        uow.report_runs.add(
            ReportRun(
                month=month,
                language=uow.settings.report_language,
                status=JobStatus.QUEUED,
                claim_token=0,
                created_at=uow.now(),
            )
        )
        try:
            uow.commit()
        except (IntegrityError, OperationalError):  # the other worker inserted it first (or holds the lock)
            uow.rollback()


def _fenced(
    uow: UnitOfWork,
    job: ReportJob,
    values: dict[str, Any],
    audit: tuple[str, Actor, dict[str, Any]] | None = None,
) -> bool:
    """Write ``values`` if ``job``'s holder still holds the run; its audit event in the same transaction."""
    with uow:
        if not uow.report_runs.write_if_held(job.id, job.token, **values):
            uow.rollback()
            return False
        if audit is not None:
            action, actor, details = audit
            uow.audit.add(AuditEvent(actor=actor.label, action=action, at=uow.now(), details=details))
        uow.commit()
        return True
