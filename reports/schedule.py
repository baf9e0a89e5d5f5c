"""The worker's monthly run: from the first of a month, last month's report is produced once and posted once.

The state lives in the ``report_runs`` table (``ccm_core.service_layer.report_runs``): one run
per month, held by one worker at a time under a lease with a fencing token. So two workers
produce one report, and a restart resumes where the last one stopped: rendered but not posted
→ posted; posted → nothing. The month is over once it is over both in ``Settings.timezone``
(the first of the month there) and in UTC (the report's figures count UTC months).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ccm_core.bootstrap import Core
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import report_runs
from ccm_core.service_layer.report import month_bounds, monthly_report
from ccm_core.service_layer.report_runs import ReportJob
from channels.loops import run_every
from reports.texts import Texts

log = logging.getLogger(__name__)
LEASE_SECONDS = 900  # rendering takes seconds; a worker killed mid-run is taken over after this


def due_month(now: dt.datetime, timezone: str) -> str | None:
    """The month whose report is due at ``now`` (``2026-10``), or None while that month is not over."""
    local = now.astimezone(ZoneInfo(timezone)).date()
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    if now < month_bounds(year, month)[1]:
        return None
    return f"{year:04d}-{month:02d}"


def report_directory(core: Core) -> Path:
    return core.settings.data_dir / "reports"


async def run_monthly_reports_forever(
    core: Core,
    slack: AsyncWebClient | None,
    channel: str | None,
    worker_id: str,
    stop: asyncio.Event,
    every_seconds: float = 300,
) -> None:
    """Make sure last month's report exists (and, with Slack, was posted), every ``every_seconds``."""

    async def one_round() -> None:  # the job it returns is dropped: even a round that did work waits
        await run_monthly_report_once(core, slack, channel, worker_id)

    # A database hiccup must not end the worker; the next round tries again.
    def failed(error: Exception) -> None:
        log.exception("monthly report: the round failed; trying again in %s s", every_seconds)

    await run_every(stop, every_seconds, one_round, on_error=failed)


async def run_monthly_report_once(
    core: Core, slack: AsyncWebClient | None, channel: str | None, worker_id: str
) -> ReportJob | None:
    """One round: claim the due month's run if there is work on it, render it, post it; the job, if any."""
    month = due_month(core.unit_of_work().now(), core.settings.timezone)
    if month is None:
        return None
    posting = slack is not None and bool(channel)
    job = await asyncio.to_thread(
        report_runs.claim_report_run, core.unit_of_work(), month, worker_id, LEASE_SECONDS, can_post=posting
    )
    if job is None:
        return None
    actor = Actor.system(f"reports:{worker_id}")
    if not job.rendered:
        try:
            files = await asyncio.to_thread(_render, core, actor, job)
        except Exception as exc:
            log.exception("monthly report %s: rendering failed", month)
            report_runs.fail_report_run(core.unit_of_work(), job, error=f"{type(exc).__name__}: {exc}")
            return job
        if not report_runs.finish_report_run(core.unit_of_work(), actor, job, files, posting_next=posting):
            log.warning("monthly report %s: taken over by another worker; its files are kept", month)
            return job
        job = ReportJob(job.id, job.month, job.language, job.token, files)
        log.info("monthly report %s written: %s", month, ", ".join(files.values()))
    if not posting or job.files is None:
        return job
    assert slack is not None and channel
    try:
        await _post(slack, channel, job, job.files)
    except SlackApiError as err:
        reason = str(err.response.get("error", "unknown"))
        log.error("monthly report %s: Slack refused the upload (%s); trying again next round", month, reason)
        report_runs.fail_report_run(core.unit_of_work(), job, error=f"slack: {reason}")
        return job
    report_runs.mark_report_posted(core.unit_of_work(), actor, job, where=channel)
    log.info("monthly report %s posted to %s", month, channel)
    return job


def _render(core: Core, actor: Actor, job: ReportJob) -> dict[str, str]:
    # Imported here: the charts and the PDF (matplotlib, reportlab) are needed once a month, and
    # loading them took a worker's start a second longer before it delivered anything.
    from reports.render import write_monthly_report

    year, month = (int(part) for part in job.month.split("-"))
    report = monthly_report(core.unit_of_work(), actor, year, month)
    return write_monthly_report(report, job.language, report_directory(core)).as_dict()


async def _post(slack: AsyncWebClient, channel: str, job: ReportJob, files: dict[str, str]) -> None:
    """The PDF first, then the HTML and the CSV, with a message giving the month's key figures."""
    texts = Texts(job.language)
    uploads = [
        {"file": files[kind], "filename": Path(files[kind]).name, "title": _title(texts, job, kind)}
        for kind in ("pdf", "html", "csv")
        if kind in files
    ]
    await slack.files_upload_v2(
        channel=channel, file_uploads=uploads, initial_comment=summary(texts, job.month, Path(files["csv"]))
    )


def _title(texts: Texts, job: ReportJob, kind: str) -> str:
    return f"{texts('title')}: {texts.month(job.month)} ({kind.upper()})"


def summary(texts: Texts, month: str, figures_csv: Path) -> str:
    """The Slack message, from the CSV that was posted with it: the figures agree with the files."""
    with figures_csv.open(encoding="utf-8", newline="") as handle:
        figures = {(row["section"], row["item"]): row["value"] for row in csv.DictReader(handle)}

    def share(section: str, item: str) -> str:
        value = figures.get((section, item))
        return texts.percent(float(value)) if value else "–"

    csat = figures.get(("surveys", "csat_average"))
    return texts(
        "slack.message",
        month=texts.month(month),
        received=texts.number(int(figures[("volume", "received")])),
        justified_rate=share("decisions", "justified_rate"),
        sla=share("sla", "all.compliance"),
        csat=texts.decimal(float(csat), 2) if csat else "–",
    )
