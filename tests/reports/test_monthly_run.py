"""The worker's monthly run, on SQLite and PostgreSQL: produced once, posted once, resumed after a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from ccm_core.bootstrap import Core
from ccm_core.domain.policy import Actor
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer import report_runs
from reports.schedule import LEASE_SECONDS, run_monthly_report_once, run_monthly_reports_forever
from tests.fakes.slack import BOT_TOKEN, FakeSlack, channel_id, fake_slack
from tests.service.helpers import record

MANAGEMENT = channel_id("#ccm-management")
NOVEMBER_MORNING = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)  # 09:00 in Istanbul


@pytest.fixture
def core(uow, make_uow, settings, engine, clock) -> Core:
    """The demo organisation with three complaints received in October, and the clock on 1 November."""
    clock.now = dt.datetime(2026, 10, 12, 9, 0, tzinfo=dt.UTC)
    record(uow, channel="web", category="delivery")
    record(uow, channel="phone", category="billing")
    clock.advance(days=10)
    record(uow, channel="email", category="delivery")
    clock.now = NOVEMBER_MORNING
    return Core(settings, engine, make_uow)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake.url}/api/")


def audited(core: Core, action: str) -> int:
    with core.unit_of_work() as uow:
        return uow.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action))


def test_two_workers_racing_produce_and_post_one_report(core, slack):
    async def race() -> None:
        await asyncio.gather(
            run_monthly_report_once(core, client(slack), MANAGEMENT, "worker-a"),
            run_monthly_report_once(core, client(slack), MANAGEMENT, "worker-b"),
        )
        await asyncio.gather(  # the next round finds nothing left to do
            run_monthly_report_once(core, client(slack), MANAGEMENT, "worker-a"),
            run_monthly_report_once(core, client(slack), MANAGEMENT, "worker-b"),
        )

    asyncio.run(race())

    shared = slack.files(MANAGEMENT)
    pdfs = [f for f in shared if f["name"].endswith(".pdf")]
    assert len(pdfs) == 1
    assert pdfs[0]["name"] == "ccm-report-2026-10-tr.pdf"
    assert pdfs[0]["content"].startswith(b"%PDF-")
    written = core.settings.data_dir / "reports" / "ccm-report-2026-10-tr.pdf"
    assert pdfs[0]["content"] == written.read_bytes()
    assert sorted(f["name"] for f in shared) == [
        "ccm-report-2026-10-tr.csv",
        "ccm-report-2026-10-tr.html",
        "ccm-report-2026-10-tr.pdf",
    ]
    assert shared[0]["initial_comment"].startswith("Ekim 2026 aylık şikayet raporu: 3 şikayet alındı")
    assert len(slack.called("files.completeUploadExternal")) == 1
    run = report_runs.report_run(core.unit_of_work(), "2026-10")
    assert run.status == "done" and run.posted_at == NOVEMBER_MORNING
    assert audited(core, "report_rendered") == 1
    assert audited(core, "report_posted") == 1


def test_a_restart_after_rendering_posts_the_same_files_once(core, slack, clock):
    # A worker rendered the report and stopped (killed) before posting it; its lease still holds.
    held = report_runs.claim_report_run(core.unit_of_work(), "2026-10", "crashed", LEASE_SECONDS)
    assert held is not None
    pdf = core.settings.data_dir / "reports" / "ccm-report-2026-10-tr.pdf"
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.4 rendered before the restart")
    files = {"pdf": str(pdf), "html": str(pdf.with_suffix(".html")), "csv": str(pdf.with_suffix(".csv"))}
    Path(files["html"]).write_text("<!doctype html>", encoding="utf-8")
    Path(files["csv"]).write_text(
        "section,item,value\nvolume,received,3\ndecisions,justified_rate,\nsla,all.compliance,0.5\n",
        encoding="utf-8",
    )
    assert report_runs.finish_report_run(
        core.unit_of_work(), Actor.system("reports:crashed"), held, files, posting_next=True
    )

    assert asyncio.run(run_monthly_report_once(core, client(slack), MANAGEMENT, "restarted")) is None
    clock.advance(seconds=LEASE_SECONDS + 1)
    asyncio.run(run_monthly_report_once(core, client(slack), MANAGEMENT, "restarted"))
    asyncio.run(run_monthly_report_once(core, client(slack), MANAGEMENT, "restarted"))

    pdfs = [f for f in slack.files(MANAGEMENT) if f["name"].endswith(".pdf")]
    assert [f["content"] for f in pdfs] == [b"%PDF-1.4 rendered before the restart"]  # not rendered again
    assert slack.files(MANAGEMENT)[0]["initial_comment"] == (
        "Ekim 2026 aylık şikayet raporu: 3 şikayet alındı, haklı bulunma oranı –, SLA uyumu %50,0, "
        "memnuniyet –."
    )
    assert audited(core, "report_rendered") == 1
    assert audited(core, "report_posted") == 1


def test_before_the_month_is_over_nothing_runs(core, slack, clock):
    september = report_runs.claim_report_run(core.unit_of_work(), "2026-09", "last-month", LEASE_SECONDS)
    actor = Actor.system("reports:last-month")
    report_runs.finish_report_run(core.unit_of_work(), actor, september, {"pdf": "x.pdf"}, posting_next=True)
    report_runs.mark_report_posted(core.unit_of_work(), actor, september, where=MANAGEMENT)

    for moment in (
        dt.datetime(2026, 10, 31, 20, 59, tzinfo=dt.UTC),  # 23:59 on 31 October in Istanbul
        dt.datetime(2026, 10, 31, 21, 30, tzinfo=dt.UTC),  # 00:30 on 1 November there, October in UTC
    ):
        clock.now = moment
        assert asyncio.run(run_monthly_report_once(core, client(slack), MANAGEMENT, "early")) is None
        assert report_runs.report_run(core.unit_of_work(), "2026-10") is None

    assert slack.calls == []
    clock.now = dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC)
    asyncio.run(run_monthly_report_once(core, client(slack), MANAGEMENT, "on-time"))
    assert [f["name"] for f in slack.files(MANAGEMENT) if f["name"].endswith(".pdf")] == [
        "ccm-report-2026-10-tr.pdf"
    ]


def test_without_slack_the_files_are_written_and_a_worker_with_slack_posts_them_later(core, slack, caplog):
    caplog.set_level("INFO", logger="reports.schedule")

    asyncio.run(run_monthly_report_once(core, None, None, "no-slack"))

    reports = core.settings.data_dir / "reports"
    assert sorted(path.name for path in reports.iterdir()) == [
        "ccm-report-2026-10-tr.csv",
        "ccm-report-2026-10-tr.html",
        "ccm-report-2026-10-tr.pdf",
    ]
    assert str(reports / "ccm-report-2026-10-tr.pdf") in caplog.text
    assert report_runs.report_run(core.unit_of_work(), "2026-10").posted_at is None
    assert asyncio.run(run_monthly_report_once(core, None, None, "no-slack")) is None

    asyncio.run(run_monthly_report_once(core, client(slack), MANAGEMENT, "with-slack"))

    assert len([f for f in slack.files(MANAGEMENT) if f["name"].endswith(".pdf")]) == 1
    assert audited(core, "report_rendered") == 1


def test_a_refused_upload_is_kept_and_tried_again_next_round(core, slack):
    slack.fail("files.completeUploadExternal", 200, "not_in_channel")

    asyncio.run(run_monthly_report_once(core, client(slack), MANAGEMENT, "worker"))
    refused = report_runs.report_run(core.unit_of_work(), "2026-10")
    asyncio.run(run_monthly_report_once(core, client(slack), MANAGEMENT, "worker"))

    assert refused.posted_at is None and refused.outcome == "slack: not_in_channel"
    assert len([f for f in slack.files(MANAGEMENT) if f["name"].endswith(".pdf")]) == 1
    assert report_runs.report_run(core.unit_of_work(), "2026-10").posted_at == NOVEMBER_MORNING


def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_new_holder(core, clock):
    slow = report_runs.claim_report_run(core.unit_of_work(), "2026-10", "slow", LEASE_SECONDS)
    assert report_runs.claim_report_run(core.unit_of_work(), "2026-10", "other", LEASE_SECONDS) is None
    clock.advance(seconds=LEASE_SECONDS + 1)
    taker = report_runs.claim_report_run(core.unit_of_work(), "2026-10", "taker", LEASE_SECONDS)

    late = report_runs.finish_report_run(
        core.unit_of_work(), Actor.system("reports:slow"), slow, {"pdf": "slow.pdf"}, posting_next=True
    )
    on_time = report_runs.finish_report_run(
        core.unit_of_work(), Actor.system("reports:taker"), taker, {"pdf": "taker.pdf"}, posting_next=True
    )

    assert taker is not None and taker.token > slow.token
    assert (late, on_time) == (False, True)
    run = report_runs.report_run(core.unit_of_work(), "2026-10")
    assert run.files == {"pdf": "taker.pdf"} and run.claimed_by == "taker"


def test_the_loop_stops_when_asked(core, slack):
    async def run_then_stop() -> None:
        stop = asyncio.Event()
        forever = run_monthly_reports_forever(core, client(slack), MANAGEMENT, "w", stop, every_seconds=0.05)
        loop = asyncio.create_task(forever)
        for _ in range(400):
            if slack.files(MANAGEMENT):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop, 5)

    asyncio.run(run_then_stop())

    assert len([f for f in slack.files(MANAGEMENT) if f["name"].endswith(".pdf")]) == 1
