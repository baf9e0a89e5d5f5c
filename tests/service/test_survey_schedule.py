"""The survey's schedule (09/10) with a controllable clock, on SQLite and PostgreSQL.

The worker's ``run_survey_schedule`` sends the survey a set time after the customer was informed,
reminds once, and closes an unanswered survey as "no response"; answers close the case or open a
follow-up round, and too many rounds alert the department's leads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ccm_core.adapters.db import session_factory
from ccm_core.bootstrap import Core
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.errors import ValidationFailed
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import StaffNotice
from ccm_core.domain.survey import InvalidSurveyDefinition, load_survey
from ccm_core.domain.survey_link import read_survey_token
from ccm_core.i18n import translate
from ccm_core.service_layer import services
from ccm_core.service_layer.survey_schedule import SurveyRun, run_survey_schedule
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_SURVEY
from surveys.scheduler import run_survey_schedule_forever
from tests.conftest import Clock
from tests.service.helpers import audit_actions, outbox, record, staff, to_informed

LEAD = "elif.kaya@example.com"
SURVEY = load_survey(DEMO_SURVEY)


def kinds(uow: UnitOfWork, reference: str) -> list[str]:
    return [message.kind for message in outbox(uow, reference)]


def stored(uow: UnitOfWork, reference: str) -> Complaint:
    with uow:
        complaint = uow.complaints.get(reference)
        assert complaint is not None
        uow.session.expunge_all()
        return complaint


def staff_notices(uow: UnitOfWork, reference: str, kind: str) -> list[StaffNotice]:
    with uow:
        rows = list(
            uow.session.scalars(
                select(StaffNotice)
                .join(Complaint, StaffNotice.complaint_id == Complaint.id)
                .where(Complaint.reference == reference, StaffNotice.kind == kind)
                .order_by(StaffNotice.id)
            )
        )
        uow.session.expunge_all()
        return rows


def informed_case(uow: UnitOfWork, **record_fields: object) -> str:
    reference = record(uow, **record_fields).reference
    to_informed(uow, staff(uow, LEAD), reference)
    return reference


def surveyed_case(uow: UnitOfWork, clock: Clock, **record_fields: object) -> str:
    """A case whose survey the schedule has just sent (the delay after 08 has passed)."""
    reference = informed_case(uow, **record_fields)
    clock.advance(hours=uow.settings.survey_delay_hours)
    assert run_survey_schedule(uow).sent == 1
    return reference


@pytest.fixture
def uow_with(uow: UnitOfWork, engine: Engine, clock: Clock) -> Callable[..., UnitOfWork]:
    """A unit of work on the same seeded database with some settings changed (a threshold, a limit)."""
    factory = session_factory(engine)

    def configured(**changes: object) -> UnitOfWork:
        return UnitOfWork(factory, settings=uow.settings.model_copy(update=changes), clock=clock)

    return configured


# --- sending ---


def test_the_survey_goes_out_exactly_the_delay_after_the_customer_was_informed(
    uow: UnitOfWork, clock: Clock
) -> None:
    reference = informed_case(uow)
    assert uow.settings.survey_delay_hours == 24

    clock.advance(hours=24, minutes=-1)
    assert run_survey_schedule(uow) == SurveyRun()
    assert "survey" not in kinds(uow, reference)
    assert stored(uow, reference).status == "customer_informed"

    clock.advance(minutes=1)
    assert run_survey_schedule(uow) == SurveyRun(sent=1)
    assert run_survey_schedule(uow) == SurveyRun()  # nothing twice
    [survey] = [m for m in outbox(uow, reference) if m.kind == "survey"]
    assert stored(uow, reference).status == "survey_sent"
    assert audit_actions(uow, reference)[-1] == "send_survey"
    assert survey.created_at == clock.now and survey.status == "pending"

    link = survey.payload["link"]
    assert link.startswith(f"{uow.settings.public_url}/survey/")
    assert read_survey_token(uow.settings.secret_key, link.rsplit("/", 1)[1]) == (reference, 0)
    assert survey.body == translate(
        "tr",
        "outbox.survey",
        question=SURVEY.csat_question("tr", reference),
        comment=SURVEY.comment_question("tr"),
        link=link,
    )
    assert link in survey.body and "Lütfen 1 (hiç memnun değilim) ile 5 (çok memnunum)" in survey.body


@pytest.mark.parametrize(
    ("language", "question", "labels"),
    [
        ("en", "How satisfied are you", ["1 - Not at all satisfied", "5 - Very satisfied"]),
        ("de", "Wie zufrieden sind Sie", ["1 - Gar nicht zufrieden", "5 - Sehr zufrieden"]),
        ("tr", "ne kadar memnunsunuz", ["1 - Hiç memnun değilim", "5 - Çok memnunum"]),
    ],
)
def test_the_survey_text_and_buttons_come_from_the_definition_in_the_customers_language(
    uow: UnitOfWork, clock: Clock, language: str, question: str, labels: list[str]
) -> None:
    reference = surveyed_case(uow, clock, language=language)
    [survey] = [m for m in outbox(uow, reference) if m.kind == "survey"]
    assert survey.language == language
    assert question in survey.body and reference in survey.body
    titles = [choice["title"] for choice in survey.payload["choices"]]
    assert [choice["score"] for choice in survey.payload["choices"]] == [1, 2, 3, 4, 5]
    assert [titles[0], titles[-1]] == labels
    assert titles == [choice.title for choice in SURVEY.csat.choices(language)]


def test_staff_may_send_the_survey_before_the_schedule_and_it_is_not_sent_twice(
    uow: UnitOfWork, clock: Clock
) -> None:
    reference = informed_case(uow)
    clock.advance(hours=2)
    services.send_survey(uow, staff(uow, LEAD), reference)
    clock.advance(hours=30)
    assert run_survey_schedule(uow).sent == 0
    assert kinds(uow, reference).count("survey") == 1


# --- the reminder ---


def test_one_reminder_after_the_reminder_time_never_two(uow: UnitOfWork, clock: Clock) -> None:
    reference = surveyed_case(uow, clock)
    clock.advance(hours=48, minutes=-1)
    assert run_survey_schedule(uow) == SurveyRun()
    assert "survey_reminder" not in kinds(uow, reference)

    clock.advance(minutes=1)
    assert run_survey_schedule(uow) == SurveyRun(reminded=1)
    for _ in range(3):
        clock.advance(hours=10)
        assert run_survey_schedule(uow) == SurveyRun()
    [reminder] = [m for m in outbox(uow, reference) if m.kind == "survey_reminder"]
    [survey] = [m for m in outbox(uow, reference) if m.kind == "survey"]
    assert reminder.payload["link"] == survey.payload["link"]
    assert reminder.payload["choices"] == survey.payload["choices"]
    assert reminder.body.startswith(f"{reference} numaralı şikayetiniz için henüz sizden yanıt alamadık.")
    assert survey.payload["link"] in reminder.body
    assert audit_actions(uow, reference).count("remind_survey") == 1
    assert stored(uow, reference).status == "survey_sent"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_racing_remind_each_case_once(
    make_uow: Callable[[], UnitOfWork], uow: UnitOfWork, clock: Clock
) -> None:
    references = [informed_case(uow) for _ in range(6)]
    clock.advance(hours=24)
    assert run_survey_schedule(uow).sent == 6
    clock.advance(hours=48)

    start = threading.Barrier(2)
    runs: list[SurveyRun] = []

    def worker() -> None:
        start.wait()
        runs.append(run_survey_schedule(make_uow()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(run.reminded for run in runs) == 6
    for reference in references:
        assert kinds(uow, reference).count("survey_reminder") == 1
        assert audit_actions(uow, reference).count("remind_survey") == 1


def test_an_answer_before_the_reminder_cancels_it(uow: UnitOfWork, clock: Clock) -> None:
    happy = surveyed_case(uow, clock)
    unhappy = surveyed_case(uow, clock)
    clock.advance(hours=1)
    services.record_survey_answer(uow, staff(uow, LEAD), happy, score=5)
    services.record_survey_answer(uow, staff(uow, LEAD), unhappy, score=1, comment="Still broken")
    clock.advance(hours=200)
    assert run_survey_schedule(uow) == SurveyRun()
    for reference in (happy, unhappy):
        assert "survey_reminder" not in kinds(uow, reference)
    assert (stored(uow, happy).status, stored(uow, happy).close_reason) == ("closed", "satisfied")
    assert stored(uow, unhappy).status == "follow_up"


# --- expiry ---


def test_expiry_closes_as_no_response_and_later_runs_do_nothing(uow: UnitOfWork, clock: Clock) -> None:
    reference = surveyed_case(uow, clock)
    clock.advance(hours=48)
    assert run_survey_schedule(uow).reminded == 1
    sent_before = kinds(uow, reference)

    clock.advance(hours=168 - 48, minutes=-1)
    assert run_survey_schedule(uow) == SurveyRun()
    clock.advance(minutes=1)
    assert run_survey_schedule(uow) == SurveyRun(expired=1)
    complaint = stored(uow, reference)
    assert (complaint.status, complaint.close_reason) == ("closed", "no_response")
    assert audit_actions(uow, reference)[-1] == "expire_survey"
    assert kinds(uow, reference) == sent_before  # the silent customer gets no closing message

    clock.advance(days=30)
    assert run_survey_schedule(uow) == SurveyRun()
    assert stored(uow, reference).status == "closed"


def test_a_survey_both_due_a_reminder_and_expired_is_closed_without_a_reminder(
    uow: UnitOfWork, clock: Clock
) -> None:
    reference = surveyed_case(uow, clock)
    clock.advance(hours=400)  # the worker was down the whole time
    assert run_survey_schedule(uow) == SurveyRun(expired=1)
    assert "survey_reminder" not in kinds(uow, reference)


def test_the_audit_names_the_schedule_as_who_sent_reminded_and_expired(uow: UnitOfWork, clock: Clock) -> None:
    reference = surveyed_case(uow, clock)
    clock.advance(hours=48)
    run_survey_schedule(uow)
    clock.advance(hours=120)
    run_survey_schedule(uow)
    with uow:
        complaint = uow.complaints.get(reference)
        assert complaint is not None
        by_action = {e.action: e.actor for e in uow.audit.trail(complaint)}
    assert (
        by_action["send_survey"]
        == by_action["remind_survey"]
        == by_action["expire_survey"]
        == "system:surveys"
    )


# --- answers: threshold, NPS, source ---


@pytest.mark.parametrize(
    ("satisfied_from", "score", "status"),
    [(4, 3, "follow_up"), (4, 4, "closed"), (3, 3, "closed"), (3, 2, "follow_up")],
)
def test_the_threshold_decides_between_closing_and_a_follow_up_round(
    uow: UnitOfWork,
    uow_with: Callable[..., UnitOfWork],
    clock: Clock,
    satisfied_from: int,
    score: int,
    status: str,
) -> None:
    reference = surveyed_case(uow, clock)
    configured = uow_with(survey_satisfied_from=satisfied_from)
    case = services.record_survey_answer(configured, staff(configured, LEAD), reference, score=score)
    assert case.status == status
    assert ("follow_up_notice" in kinds(uow, reference)) == (status == "follow_up")


def test_nps_and_the_source_are_stored_and_nps_outside_0_to_10_is_refused(
    uow: UnitOfWork, clock: Clock
) -> None:
    reference = surveyed_case(uow, clock)
    customer_page = Actor.system("survey-page")
    for wrong in (11, -1):
        with pytest.raises(ValidationFailed) as refused:
            services.record_survey_answer(uow, customer_page, reference, score=5, nps=wrong, source="link")
        assert refused.value.field == "nps"
        assert refused.value.message("en") == "nps must be between 0 and 10."
    assert stored(uow, reference).survey_responses == []
    assert stored(uow, reference).status == "survey_sent"

    services.record_survey_answer(uow, customer_page, reference, score=5, nps=9, source="link")
    [response] = stored(uow, reference).survey_responses
    assert (response.score, response.nps, response.source) == (5, 9, "link")


def test_an_answer_without_nps_is_kept_and_its_source_follows_who_gave_it(
    uow: UnitOfWork, clock: Clock
) -> None:
    reference = surveyed_case(uow, clock)
    services.record_survey_answer(uow, staff(uow, LEAD), reference, score=2, comment="Taken by phone")
    [response] = stored(uow, reference).survey_responses
    assert (response.nps, response.source, response.comment) == (None, "staff", "Taken by phone")
    with pytest.raises(ValidationFailed) as refused:
        services.record_survey_answer(uow, staff(uow, LEAD), reference, score=2, source="fax")
    assert refused.value.field == "source"


# --- follow-up rounds ---


def work_the_round(uow: UnitOfWork, reference: str) -> None:
    """11: a new action, done, and the customer informed again."""
    lead = staff(uow, LEAD)
    case = services.add_action(uow, lead, reference, kind="corrective", description="Second replacement")
    services.complete_action(uow, lead, reference, action_id=case.actions[-1].id, outcome="Sent again")
    services.inform_customer(uow, lead, reference, summary="A second replacement was sent.")


def test_a_full_second_round_is_informed_again_and_surveyed_again_by_the_schedule(
    uow: UnitOfWork, clock: Clock
) -> None:
    reference = surveyed_case(uow, clock)
    services.record_survey_answer(uow, staff(uow, LEAD), reference, score=2, comment="Broken again")
    assert stored(uow, reference).follow_up_round == 1

    work_the_round(uow, reference)
    assert stored(uow, reference).status == "customer_informed"
    clock.advance(hours=23)
    assert run_survey_schedule(uow).sent == 0
    clock.advance(hours=1)
    assert run_survey_schedule(uow) == SurveyRun(sent=1)

    first, second = [m for m in outbox(uow, reference) if m.kind == "survey"]
    assert (first.payload["round"], second.payload["round"]) == (0, 1)
    assert read_survey_token(uow.settings.secret_key, second.payload["link"].rsplit("/", 1)[1]) == (
        reference,
        1,
    )
    clock.advance(hours=48)
    assert run_survey_schedule(uow).reminded == 1  # the new round has its own reminder
    services.record_survey_answer(uow, staff(uow, LEAD), reference, score=5)
    complaint = stored(uow, reference)
    assert (complaint.status, complaint.close_reason) == ("closed", "satisfied")
    assert [(r.round, r.score) for r in complaint.survey_responses] == [(0, 2), (1, 5)]


def test_dissatisfied_twice_with_two_rounds_allowed_alerts_the_leads_once(
    uow_with: Callable[..., UnitOfWork], clock: Clock
) -> None:
    uow = uow_with(survey_max_rounds=2)
    reference = surveyed_case(uow, clock)
    services.record_survey_answer(uow, staff(uow, LEAD), reference, score=1, comment="No")
    assert staff_notices(uow, reference, "follow_up_rounds_exceeded") == []

    work_the_round(uow, reference)
    clock.advance(hours=24)
    assert run_survey_schedule(uow).sent == 1
    services.record_survey_answer(uow, staff(uow, LEAD), reference, score=2, comment="Still no")

    [alert] = staff_notices(uow, reference, "follow_up_rounds_exceeded")
    assert alert.payload == {"round": 2, "limit": 2}
    assert len(staff_notices(uow, reference, "survey_dissatisfied")) == 2
    assert stored(uow, reference).follow_up_round == 2


def test_the_dissatisfied_notice_does_not_copy_the_comment(uow: UnitOfWork, clock: Clock) -> None:
    reference = surveyed_case(uow, clock)
    services.record_survey_answer(uow, staff(uow, LEAD), reference, score=1, comment="Ali Veli, 0532 000")
    [notice] = staff_notices(uow, reference, "survey_dissatisfied")
    assert notice.payload == {"score": 1, "round": 0}


# --- the definition file ---


def test_a_broken_definition_file_is_refused_naming_what_is_missing(
    uow_with: Callable[..., UnitOfWork], clock: Clock, tmp_path: Path
) -> None:
    broken = tmp_path / "survey.yaml"
    text = DEMO_SURVEY.read_text(encoding="utf-8")
    text = text.replace('      de: "3 - Neutral"\n', "")
    text = text.replace('    tr: "Bizi bir arkadaşınıza', '    xx: "Bizi bir arkadaşınıza')
    broken.write_text(
        text.replace('    5:\n      tr: "5 - Çok', '    6:\n      tr: "5 - Çok'), encoding="utf-8"
    )

    with pytest.raises(InvalidSurveyDefinition) as refused:
        load_survey(broken)
    message = str(refused.value)
    assert str(broken) in message
    assert "csat.scale.3.de is missing" in message
    assert "nps.question.tr is missing" in message
    assert "csat.scale.5 is missing" in message and "points outside 1–5: 6" in message

    uow = uow_with(survey_file=broken)
    reference = informed_case(uow)
    with pytest.raises(InvalidSurveyDefinition):
        services.send_survey(uow, staff(uow, LEAD), reference)
    assert stored(uow, reference).status == "customer_informed"
    assert "survey" not in kinds(uow, reference)


def test_a_missing_definition_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidSurveyDefinition, match=r"survey\.yaml cannot be read"):
        load_survey(tmp_path / "survey.yaml")


def test_the_outbox_keeps_the_survey_with_its_step_time(uow: UnitOfWork, clock: Clock) -> None:
    """A restart loses nothing: the survey's time and its message are written together."""
    reference = surveyed_case(uow, clock)
    complaint = stored(uow, reference)
    survey_times = [m.created_at for m in outbox(uow, reference) if m.kind == "survey"]
    assert survey_times == [complaint.survey_sent_at]
    assert complaint.survey_remind_at is not None and complaint.survey_expires_at is not None
    assert (complaint.survey_remind_at - complaint.survey_sent_at).total_seconds() == 48 * 3600
    assert (complaint.survey_expires_at - complaint.survey_sent_at).total_seconds() == 168 * 3600


# --- the worker's loop ---


def test_the_worker_loop_runs_the_schedule_and_logs_counts_only(
    uow: UnitOfWork, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    reference = informed_case(uow)  # informed on the test clock's day, long before the real now
    core = Core(uow.settings, engine, lambda: UnitOfWork(session_factory(engine), settings=uow.settings))

    async def until_sent() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(run_survey_schedule_forever(core, stop, every_seconds=0.05))
        for _ in range(200):
            if "survey" in kinds(uow, reference):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop, 5)

    with caplog.at_level(logging.INFO, logger="surveys.scheduler"):
        asyncio.run(until_sent())
    assert kinds(uow, reference).count("survey") == 1
    assert [r.getMessage() for r in caplog.records] == ["surveys: 1 sent, 0 reminded, 0 expired, 0 skipped"]
