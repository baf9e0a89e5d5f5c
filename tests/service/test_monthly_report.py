"""The monthly report's figures against a small data set computed by hand.

The data set (September and October 2026) is made through the real use cases with the clock
set to hand-picked times. Deadlines are then pinned to plain hours after their start (ack 1 h,
interim notice 24 h, decision 72 h, action completion 168 h, survey 48 h) so the arithmetic below
does not depend on the departments' working-time calendars. The report is asked for October
on Monday 2026-11-02 09:00 UTC.

    S1 delivery     rec 09-07 09:00  justified, action done 09-10, surveyed, satisfied 09-12
    S2 delivery     rec 09-14 09:00  justified, action done 09-17, score 1 on 09-19 → round 1;
                                     action done 10-02, surveyed 10-05, score 2 (nps 7) 10-06 → round 2
    S3 billing      rec 09-28 09:00  ack 09:30, review 09-29 09:00, unjustified 10-01 09:00 (72 h)
    S4 defect       rec 09-15 09:00  acknowledged only
    S5 billing      rec 09-21 09:00  unjustified 09-22
    S6 other        rec 09-24 09:00  justified, action done 09-28, informed 09-28 10:00, surveyed 10-26
    O1 delivery     rec 10-05 09:00  customer A (web); ack 0.5 h; justified 10-06 09:00 (24 h);
                                     score 2 (nps 3) 10-09 → round 1; score 5 (nps 9) 10-14 11:00, closed
    O2 billing      rec 10-06 09:00  customer A (web); ack 1.5 h (late); unjustified 10-08 09:00 (48 h)
    O3 billing      rec 10-07 14:00  email; never acknowledged nor reviewed
    O4 refund       rec 10-20 09:00  call centre; ack 0.25 h; justified 10-21 09:00; action still open
    O5 defect       rec 10-30 09:00  phone; ack 0.5 h; never reviewed
    O6 service      rec 10-12 09:00  social media; ack 1 h; justified 10-13 09:00; score 4 (nps 10) 10-16
    O8 conduct      rec 10-19 09:00  phone; ack 1 h; unjustified 10-23 09:00 (96 h, a day late)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from benchmarks.generate_complaints import generate
from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.policy import Actor
from ccm_core.domain.records import AuditEvent, SurveyResponse
from ccm_core.service_layer import delivery, services
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.report import (
    BreachedCase,
    CategoryTrend,
    Durations,
    MonthlyReport,
    StepCompliance,
    month_bounds,
    monthly_report,
)
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.conftest import Clock, empty_database
from tests.service.helpers import outbox, record, staff

REPORTED_AT = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
CUSTOMER_A = CustomerDetails(name="Aylin Demir", channel_identity="web-session-customer-a")
PINNED_HOURS = {"ack": 1, "interim": 24, "decision": 72, "action": 168, "survey": 48}


def when(text: str) -> dt.datetime:
    """'10-05 09:30' → 2026-10-05 09:30 UTC."""
    return dt.datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)


class Story:
    """Walks cases through the real use cases, each step at the time the data set gives it."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow, self.clock = uow, clock
        self.admin = staff(uow, "admin@example.com")

    def at(self, text: str) -> Story:
        self.clock.now = when(text)
        return self

    def record(self, time: str, category: str, channel: str, customer: CustomerDetails | None = None) -> str:
        self.at(time)
        details = customer or CustomerDetails(name="Customer", phone="+90 532 000 00 00")
        return record(self.uow, category=category, channel=channel, customer=details).reference

    def acknowledge(self, reference: str, time: str) -> None:
        """The acknowledgement reached the customer (as a channel reports it)."""
        self.at(time)
        message = next(m for m in outbox(self.uow, reference) if m.kind == "acknowledgement")
        delivery.mark_outbox_delivered(self.uow, Actor.system("worker"), message.id)

    def review(self, reference: str, time: str) -> None:
        services.start_review(self.at(time).uow, self.admin, reference)

    def unjustified(self, reference: str, time: str) -> None:
        services.decide_complaint(
            self.at(time).uow,
            self.admin,
            reference,
            justified=False,
            reason="Charged as agreed",
            customer_explanation="The charge matches your contract.",
        )

    def justified(self, reference: str, time: str) -> None:
        services.decide_complaint(
            self.at(time).uow, self.admin, reference, justified=True, reason="Our fault"
        )

    def add_action(self, reference: str, time: str) -> int:
        case = services.add_action(
            self.at(time).uow, self.admin, reference, kind="corrective", description="Fix it"
        )
        return case.actions[-1].id

    def act(self, reference: str, added: str, done: str, informed: str) -> None:
        """07 one corrective action, completed; 08 the customer informed."""
        action_id = self.add_action(reference, added)
        services.complete_action(
            self.at(done).uow, self.admin, reference, action_id=action_id, outcome="Done"
        )
        services.inform_customer(self.at(informed).uow, self.admin, reference, summary="We fixed it.")

    def survey(self, reference: str, time: str) -> None:
        services.send_survey(self.at(time).uow, self.admin, reference)

    def answer(self, reference: str, time: str, score: int, nps: int | None = None) -> None:
        services.record_survey_answer(self.at(time).uow, self.admin, reference, score=score, nps=nps)

    def handled(self, time: str, category: str, ack: str, review: str, decided: str) -> str:
        """Recorded by phone, acknowledged, reviewed and decided justified."""
        reference = self.record(time, category, "phone")
        self.acknowledge(reference, ack)
        self.review(reference, review)
        self.justified(reference, decided)
        return reference

    def pin_deadlines(self) -> None:
        """Deadlines as plain hours after their start, so the figures below are computed by hand."""
        hours = {name: dt.timedelta(hours=value) for name, value in PINNED_HOURS.items()}
        with self.uow:
            for complaint in self.uow.session.scalars(select(Complaint)):
                complaint.ack_due_at = complaint.received_at + hours["ack"]
                complaint.interim_due_at = complaint.received_at + hours["interim"]
                complaint.decision_due_at = complaint.received_at + hours["decision"]
                action_start = complaint.follow_up_started_at or complaint.decided_at
                justified = complaint.decision == "justified"
                complaint.action_due_at = action_start + hours["action"] if justified else None
                informed = complaint.informed_at
                complaint.survey_due_at = informed + hours["survey"] if informed else None
            self.uow.session.commit()


def build_data_set(uow: UnitOfWork, clock: Clock) -> dict[str, str]:
    """The cases of the module docstring; returns their references by name."""
    story = Story(uow, clock)
    cases: dict[str, str] = {}

    cases["S1"] = s1 = story.handled("09-07 09:00", "delivery", "09-07 09:30", "09-07 10:00", "09-08 09:00")
    story.act(s1, "09-08 09:00", "09-10 09:00", "09-10 10:00")
    story.survey(s1, "09-11 10:00")
    story.answer(s1, "09-12 10:00", 5)

    cases["S2"] = s2 = story.handled("09-14 09:00", "delivery", "09-14 09:20", "09-14 10:00", "09-15 09:00")
    story.act(s2, "09-15 09:00", "09-17 09:00", "09-17 10:00")
    story.survey(s2, "09-18 10:00")
    story.answer(s2, "09-19 10:00", 1)
    story.act(s2, "10-01 09:00", "10-02 09:00", "10-02 10:00")
    story.survey(s2, "10-05 10:00")
    story.answer(s2, "10-06 10:00", 2, nps=7)

    cases["S3"] = s3 = story.record("09-28 09:00", "billing", "email")
    story.acknowledge(s3, "09-28 09:30")
    story.review(s3, "09-29 09:00")
    story.unjustified(s3, "10-01 09:00")

    cases["S4"] = s4 = story.record("09-15 09:00", "product_defect", "phone")
    story.acknowledge(s4, "09-15 09:10")

    cases["S5"] = s5 = story.record("09-21 09:00", "billing", "phone")
    story.acknowledge(s5, "09-21 09:40")
    story.review(s5, "09-21 12:00")
    story.unjustified(s5, "09-22 09:00")

    cases["S6"] = s6 = story.handled("09-24 09:00", "other", "09-24 09:30", "09-24 10:00", "09-25 09:00")
    story.act(s6, "09-25 09:00", "09-28 09:00", "09-28 10:00")
    story.survey(s6, "10-26 10:00")

    cases["O1"] = o1 = story.record("10-05 09:00", "delivery", "web", CUSTOMER_A)
    story.acknowledge(o1, "10-05 09:30")
    story.review(o1, "10-05 10:00")
    story.justified(o1, "10-06 09:00")
    story.act(o1, "10-06 09:00", "10-07 09:00", "10-07 10:00")
    story.survey(o1, "10-08 10:00")
    story.answer(o1, "10-09 10:00", 2, nps=3)
    story.act(o1, "10-09 11:00", "10-12 10:00", "10-12 11:00")
    story.survey(o1, "10-13 11:00")
    story.answer(o1, "10-14 11:00", 5, nps=9)

    cases["O2"] = o2 = story.record("10-06 09:00", "billing", "web", CUSTOMER_A)
    story.acknowledge(o2, "10-06 10:30")
    story.review(o2, "10-06 12:00")
    story.unjustified(o2, "10-08 09:00")

    cases["O3"] = story.record("10-07 14:00", "billing", "email")

    cases["O4"] = o4 = story.record("10-20 09:00", "refund", "call_centre")
    story.acknowledge(o4, "10-20 09:15")
    story.review(o4, "10-20 10:00")
    story.justified(o4, "10-21 09:00")
    story.add_action(o4, "10-21 10:00")

    cases["O5"] = o5 = story.record("10-30 09:00", "product_defect", "phone")
    story.acknowledge(o5, "10-30 09:30")

    cases["O6"] = o6 = story.record("10-12 09:00", "service_quality", "social_media")
    story.acknowledge(o6, "10-12 10:00")
    story.review(o6, "10-12 10:00")
    story.justified(o6, "10-13 09:00")
    story.act(o6, "10-14 09:00", "10-14 09:00", "10-14 10:00")
    story.survey(o6, "10-15 10:00")
    story.answer(o6, "10-16 10:00", 4, nps=10)

    cases["O8"] = o8 = story.record("10-19 09:00", "staff_conduct", "phone")
    story.acknowledge(o8, "10-19 10:00")
    story.review(o8, "10-19 10:00")
    story.unjustified(o8, "10-23 09:00")

    story.pin_deadlines()
    clock.now = REPORTED_AT
    return cases


@pytest.fixture
def cases(uow: UnitOfWork, clock: Clock) -> dict[str, str]:
    return build_data_set(uow, clock)


def test_every_figure_of_october_matches_the_hand_computed_values(
    uow: UnitOfWork, cases: dict[str, str]
) -> None:
    report = monthly_report(uow, Actor.system("report"), 2026, 10)

    assert report.month == "2026-10"
    assert report.generated_at == REPORTED_AT
    # Received in October: O1 O2 O3 O4 O5 O6 O8 (S1–S6 were received in September).
    assert report.received == 7
    assert report.by_channel == {"phone": 2, "web": 2, "call_centre": 1, "email": 1, "social_media": 1}
    assert report.by_category == {
        "billing": 2,  # O2, O3
        "delivery": 1,
        "product_defect": 1,
        "refund": 1,
        "service_quality": 1,
        "staff_conduct": 1,
    }
    # finance = billing O2 O3 + refund O4; customer_care = service_quality O6 + staff_conduct O8
    assert report.by_department == {"finance": 3, "customer_care": 2, "logistics": 1, "quality": 1}
    # Decided in October: S3 (received in September) U, O1 J, O2 U, O4 J, O6 J, O8 U.
    assert (report.decided, report.justified, report.unjustified) == (6, 3, 3)
    assert report.justified_rate == 0.5
    # Acknowledged, received in October: O4 0.25, O1 0.5, O5 0.5, O6 1, O8 1, O2 1.5 hours (O3 never).
    # Median between ranks 2 and 3 of 0..5: (0.5 + 1) / 2 = 0.75;
    # p90 at rank 5 × 0.9 = 4.5: 1 + 0.5 × (1.5 − 1) = 1.25.
    assert report.to_acknowledge == Durations(count=6, median_hours=0.75, p90_hours=1.25)
    # Decided in October: 24 (O1), 24 (O4), 24 (O6), 48 (O2), 72 (S3), 96 (O8) hours after receipt.
    # Median (24 + 48) / 2 = 36; p90 at rank 4.5: 72 + 0.5 × (96 − 72) = 84.
    assert report.to_decide == Durations(count=6, median_hours=36.0, p90_hours=84.0)
    # Closed in October: O2 48, S3 72, O8 96, O6 97 (10-12 09:00 → 10-16 10:00),
    # O1 218 (10-05 09:00 → 10-14 11:00) hours after receipt.
    # Median = rank 2 = 96; p90 at rank 4 × 0.9 = 3.6: 97 + 0.6 × (218 − 97) = 169.6.
    assert report.to_close == Durations(count=5, median_hours=96.0, p90_hours=169.6)
    assert report.closed == 5
    assert report.sla == [
        # ack due in October: O1 O2 O3 O4 O5 O6 O8; O2 acknowledged 30 minutes late, O3 never.
        # (O6 and O8 were acknowledged exactly at their deadline: in time.)
        StepCompliance(step="acknowledge", due=7, met_in_time=5, breached=2),
        # interim due (received + 24 h) in October: O1 O2 O3 O4 O5 O6 O8; O3 and O5 never reviewed.
        StepCompliance(step="interim_notice", due=7, met_in_time=5, breached=2),
        # decision due (received + 72 h) in October: S3 (met exactly 10-01 09:00) O1 O2 O3 O4 O6 O8;
        # O3 never decided, O8 a day late; O5's falls on 11-02.
        StepCompliance(step="decision", due=7, met_in_time=5, breached=2),
        # action completion due in October: S6 10-02 (informed 09-28), O1 10-16 (informed 10-12),
        # O6 10-20 (informed 10-14); S2 10-13 (round 2, not informed) and O4 10-28 (action open) breached.
        StepCompliance(step="action_completion", due=5, met_in_time=3, breached=2),
        # survey due in October: O1 10-14 (sent 10-13), O6 10-16 (sent 10-15); S6's was 09-30.
        StepCompliance(step="survey", due=2, met_in_time=2, breached=0),
    ]
    assert [step.compliance for step in report.sla] == [5 / 7, 5 / 7, 5 / 7, 3 / 5, 1.0]
    # Sent in October: S2 round 1 (10-05), O1 rounds 0 and 1 (10-08, 10-13), O6 (10-15), S6 (10-26).
    assert report.surveys_sent == 5
    # Answered in October: S2 2, O1 2, O1 5, O6 4; S6 has not answered.
    assert report.surveys_answered == 4
    assert report.response_rate == 0.8  # 4 / 5
    assert report.csat_distribution == {1: 0, 2: 2, 3: 0, 4: 1, 5: 1}
    assert report.csat_average == 3.25  # (2 + 2 + 4 + 5) / 4
    # NPS answers 7, 3, 9, 10: promoters 9 and 10 (2), detractor 3 (1): (2 − 1) / 4 = 25 %.
    assert (report.nps_answers, report.nps) == (4, 25.0)
    # Dissatisfied in October: O1 in round 0 (→ round 1), S2 in round 1 (→ round 2).
    assert report.follow_up_cases == 2
    assert report.follow_up_rounds == {1: 1, 2: 1}
    assert report.follow_up_rate == 0.5  # 2 / 4 answers
    # Customer A: O1 and O2; every other complaint has its own customer.
    assert (report.repeat_complainers, report.repeat_complaints) == (1, 2)
    assert report.recurring == [
        CategoryTrend("billing", this_month=2, last_month=2, actions_completed_last_month=0),  # S3 S5 → O2 O3
        # S1 S2 → O1, after S1's (09-10) and S2's (09-17) actions were completed.
        CategoryTrend("delivery", this_month=1, last_month=2, actions_completed_last_month=2),
        CategoryTrend("product_defect", this_month=1, last_month=1, actions_completed_last_month=0),
    ]
    assert [trend.reduced for trend in report.recurring] == [False, True, False]
    assert report.most_breached == [
        # O3: ack 10-07 15:00, interim 10-08 14:00, decision 10-10 14:00, none met by 11-02 09:00:
        # 25 d 18 h = 618, 24 d 19 h = 595 and 22 d 19 h = 547 hours over; the longest is 618.
        BreachedCase(cases["O3"], "finance", "billing", breached_steps=3, hours_over=618.0),
        # S2: action due 10-13 10:00, not met by 11-02 09:00 = 19 days 23 hours.
        BreachedCase(cases["S2"], "logistics", "delivery", breached_steps=1, hours_over=479.0),
        BreachedCase(cases["O4"], "finance", "refund", breached_steps=1, hours_over=120.0),  # 10-28 09:00
        BreachedCase(cases["O5"], "quality", "product_defect", breached_steps=1, hours_over=48.0),  # 10-31
        BreachedCase(cases["O8"], "customer_care", "staff_conduct", breached_steps=1, hours_over=24.0),
        BreachedCase(cases["O2"], "finance", "billing", breached_steps=1, hours_over=0.5),  # ack 10:30
    ]
    assert report.category_labels["delivery"] == {"tr": "Teslimat", "en": "Delivery", "de": "Lieferung"}
    assert report.department_names["finance"] == {"tr": "Finans", "en": "Finance", "de": "Finanzen"}


def test_a_lead_sees_only_their_departments_figures(uow: UnitOfWork, cases: dict[str, str]) -> None:
    report = monthly_report(uow, staff(uow, "elif.kaya@example.com"), 2026, 10)  # logistics: delivery cases

    assert (report.received, report.by_department, report.by_channel) == (1, {"logistics": 1}, {"web": 1})
    assert (report.decided, report.justified) == (1, 1)  # O1
    assert report.to_close == Durations(count=1, median_hours=218.0, p90_hours=218.0)
    assert report.sla[3] == StepCompliance("action_completion", due=2, met_in_time=1, breached=1)  # O1, S2
    assert (report.surveys_sent, report.surveys_answered) == (3, 3)  # S2 round 1, O1 rounds 0 and 1
    assert report.csat_distribution == {1: 0, 2: 2, 3: 0, 4: 0, 5: 1}
    assert (report.repeat_complainers, report.repeat_complaints) == (0, 0)  # customer A's O2 is finance's
    assert report.recurring == [CategoryTrend("delivery", 1, 2, 2)]
    assert [case.reference for case in report.most_breached] == [cases["S2"]]


def test_an_empty_month_gives_zeros_and_no_rates(uow: UnitOfWork, cases: dict[str, str]) -> None:
    report = monthly_report(uow, Actor.system("report"), 2026, 3)

    nothing = Durations(count=0, median_hours=None, p90_hours=None)
    assert (report.received, report.decided, report.closed, report.surveys_sent) == (0, 0, 0, 0)
    assert report.by_channel == report.by_category == report.by_department == {}
    assert (report.to_acknowledge, report.to_decide, report.to_close) == (nothing, nothing, nothing)
    assert all((step.due, step.compliance) == (0, None) for step in report.sla)
    assert report.csat_distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    assert (report.csat_average, report.nps, report.nps_answers) == (None, None, 0)
    assert (report.justified_rate, report.response_rate, report.follow_up_rate) == (None, None, None)
    assert (report.follow_up_cases, report.follow_up_rounds) == (0, {})
    assert (report.repeat_complainers, report.recurring, report.most_breached) == (0, [], [])


def test_the_year_boundary_compares_january_with_december(uow: UnitOfWork, clock: Clock) -> None:
    story = Story(uow, clock)
    story.record("12-30 09:00", "refund", "phone")
    clock.now = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)
    record(uow, category="refund")

    report = monthly_report(uow, Actor.system("report"), 2027, 1)

    assert month_bounds(2026, 12) == (when("12-01 00:00"), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert report.recurring == [
        CategoryTrend("refund", this_month=1, last_month=1, actions_completed_last_month=0)
    ]


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_identical_reports(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    reports: list[MonthlyReport] = []
    for kind in ("sqlite", "postgresql"):
        url = empty_database(request, kind, tmp_path)
        engine = create_db_engine(url)
        try:
            clock = Clock()
            uow = UnitOfWork(
                session_factory(engine),
                settings=CoreSettings(data_dir=tmp_path, database_url=url),
                clock=clock,
            )
            seed_organisation(uow, DEMO_ORGANISATION)
            build_data_set(uow, clock)
            reports.append(monthly_report(uow, Actor.system("report"), 2026, 10))
        finally:
            engine.dispose()

    sqlite_report, postgresql_report = reports
    assert sqlite_report == postgresql_report
    assert sqlite_report.received == 7  # not two empty reports


def test_the_generator_fills_a_month_the_report_counts_exactly(
    uow: UnitOfWork, make_uow: Callable[[], UnitOfWork], clock: Clock, database_url: str
) -> None:
    clock.now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    counts = generate(database_url, complaints=300, months=3, until=clock.now, seed=6)

    report = monthly_report(make_uow(), Actor.system("report"), 2026, 10)

    start, end = month_bounds(2026, 10)
    with make_uow() as check:

        def scalar(query: object) -> int:
            return check.session.scalar(query) or 0  # type: ignore[arg-type]

        received = scalar(
            select(func.count()).where(Complaint.received_at >= start, Complaint.received_at < end)
        )
        decided = scalar(
            select(func.count()).where(Complaint.decided_at >= start, Complaint.decided_at < end)
        )
        closed = scalar(select(func.count()).where(Complaint.closed_at >= start, Complaint.closed_at < end))
        sent = scalar(
            select(func.count()).where(
                AuditEvent.action == "send_survey", AuditEvent.at >= start, AuditEvent.at < end
            )
        )
        answered = scalar(
            select(func.count()).where(SurveyResponse.answered_at >= start, SurveyResponse.answered_at < end)
        )
        total = scalar(select(func.count()).select_from(Complaint))
    assert counts["complaints"] == total == 300
    assert 70 <= received <= 130  # a third of 300, give or take the month's length and chance
    assert (report.received, report.decided, report.closed) == (received, decided, closed)
    assert (report.surveys_sent, report.surveys_answered) == (sent, answered)
    assert sum(report.by_category.values()) == sum(report.by_department.values()) == received
    assert report.justified + report.unjustified == decided
    assert 0 < report.justified < decided
    assert sent > 0 and answered > 0 and report.follow_up_cases > 0
    assert any(step.breached for step in report.sla)
    # The generated rows suit the real use cases: the next recorded complaint takes the next number.
    assert record(make_uow()).reference == "CMP-2026-000301"
