"""The monthly management report's figures ("every month the cases are analysed and reported").

Every figure is aggregated in SQL, on SQLite and PostgreSQL alike; Python only assembles the
few result rows. Codes (channels, categories, departments, steps) are kept as codes: the
renderer names them in the reader's language.

Percentiles are linearly interpolated between the two nearest ranks (PostgreSQL's
``percentile_cont``, "PERCENTILE.INC": the median of 2, 5, 9 and 10 hours is 7), computed by
``percentile_cont`` on PostgreSQL and by a ranked window query on SQLite, so both engines give
the same figures. Hours are rounded to two decimals (SQLite's julianday arithmetic carries
floating-point noise that PostgreSQL's exact epoch arithmetic does not).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, distinct, extract, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ccm_core.domain import policy
from ccm_core.domain.base import UTCDateTime
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.lifecycle import Decision
from ccm_core.domain.organisation import Category, Department
from ccm_core.domain.policy import Actor
from ccm_core.domain.records import AuditEvent, CorrectiveAction, SurveyResponse
from ccm_core.domain.sla import STEP_COLUMNS
from ccm_core.service_layer.unit_of_work import UnitOfWork

MOST_BREACHED_LIMIT = 10
HOURS_DECIMALS = 2


@dataclass(frozen=True)
class Durations:
    """Hours from one step to another over the cases that reached it in the month."""

    count: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class StepCompliance:
    """One SLA step: of the deadlines that fell in the month, how many were met in time."""

    step: str  # an SlaStep value
    due: int
    met_in_time: int
    breached: int

    @property
    def compliance(self) -> float | None:
        return self.met_in_time / self.due if self.due else None


@dataclass(frozen=True)
class CategoryTrend:
    """A category that recurs: this month against last, and the corrective actions done in between."""

    category: str
    this_month: int
    last_month: int
    actions_completed_last_month: int

    @property
    def change(self) -> int:
        return self.this_month - self.last_month

    @property
    def reduced(self) -> bool:
        return self.this_month < self.last_month


@dataclass(frozen=True)
class BreachedCase:
    reference: str
    department: str
    category: str
    breached_steps: int
    hours_over: float  # the longest overrun of its breached steps


@dataclass(frozen=True)
class MonthlyReport:
    month: str  # "2026-10"
    generated_at: dt.datetime
    received: int
    by_channel: dict[str, int]
    by_category: dict[str, int]
    by_department: dict[str, int]
    decided: int
    justified: int
    unjustified: int
    to_acknowledge: Durations
    to_decide: Durations
    to_close: Durations
    sla: list[StepCompliance]
    surveys_sent: int
    surveys_answered: int
    csat_distribution: dict[int, int]  # score 1–5 → answers
    csat_average: float | None
    nps_answers: int
    nps: float | None  # -100 … 100
    follow_up_cases: int  # cases a dissatisfied answer sent to a follow-up round in the month
    follow_up_rounds: dict[int, int]  # round number → cases that reached it in the month
    closed: int
    repeat_complainers: int  # customers with more than one complaint received in the month
    repeat_complaints: int  # the complaints those customers made in the month
    recurring: list[CategoryTrend]
    most_breached: list[BreachedCase]
    category_labels: dict[str, dict[str, str]]  # code → language → label
    department_names: dict[str, dict[str, str]]  # code → language → name

    @property
    def justified_rate(self) -> float | None:
        return self.justified / self.decided if self.decided else None

    @property
    def response_rate(self) -> float | None:
        return self.surveys_answered / self.surveys_sent if self.surveys_sent else None

    @property
    def follow_up_rate(self) -> float | None:
        return self.follow_up_cases / self.surveys_answered if self.surveys_answered else None


def month_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month [start, end) in UTC."""
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    return start, dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)


def monthly_report(uow: UnitOfWork, actor: Actor, year: int, month: int) -> MonthlyReport:
    """The month's figures for management: a lead's department, or every department for an admin."""
    policy.ensure_allowed(actor, policy.VIEW)
    department_id = None if actor.department_wide else (actor.department_id or -1)
    with uow:
        figures = _MonthQueries(uow.session, department_id, year, month, uow.now())
        by_channel, by_category, by_department = figures.received()
        decisions = figures.decisions()
        csat = figures.csat_distribution()
        answered = sum(csat.values())
        nps_answers, nps = figures.nps()
        follow_up_cases, follow_up_rounds = figures.follow_ups()
        repeat_complainers, repeat_complaints = figures.repeat_complainers()
        category_labels, department_names = figures.names()
        return MonthlyReport(
            month=f"{year:04d}-{month:02d}",
            generated_at=figures.now,
            received=sum(by_channel.values()),
            by_channel=by_channel,
            by_category=by_category,
            by_department=by_department,
            decided=sum(decisions.values()),
            justified=decisions.get(Decision.JUSTIFIED, 0),
            unjustified=decisions.get(Decision.UNJUSTIFIED, 0),
            to_acknowledge=figures.durations(Complaint.acknowledged_at, Complaint.received_at),
            to_decide=figures.durations(Complaint.decided_at, Complaint.decided_at),
            to_close=figures.durations(Complaint.closed_at, Complaint.closed_at),
            sla=figures.sla_compliance(),
            surveys_sent=figures.surveys_sent(),
            surveys_answered=answered,
            csat_distribution=csat,
            csat_average=(
                round(sum(score * count for score, count in csat.items()) / answered, HOURS_DECIMALS)
                if answered
                else None
            ),
            nps_answers=nps_answers,
            nps=nps,
            follow_up_cases=follow_up_cases,
            follow_up_rounds=follow_up_rounds,
            closed=figures.closed(),
            repeat_complainers=repeat_complainers,
            repeat_complaints=repeat_complaints,
            recurring=figures.recurring_categories(),
            most_breached=figures.most_breached(),
            category_labels=category_labels,
            department_names=department_names,
        )


class _MonthQueries:
    """The report's SQL, one method per figure, restricted to the month and the reader's department."""

    def __init__(
        self, session: Session, department_id: int | None, year: int, month: int, now: dt.datetime
    ) -> None:
        self.session = session
        self.department_id = department_id
        self.start, self.end = month_bounds(year, month)
        self.previous_start = month_bounds(year - (month == 1), (month - 2) % 12 + 1)[0]
        self.now = now
        self.dialect = session.get_bind().dialect.name

    # -- building blocks --

    def in_month(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)

    def scoped(self, query: Any) -> Any:
        """``query`` (over complaints) limited to the reader's department."""
        return (
            query
            if self.department_id is None
            else query.where(Complaint.department_id == self.department_id)
        )

    def scoped_via(self, query: Any, complaint_id: Any) -> Any:
        """``query`` over a table of a case's rows, joined to its case only when a department is set."""
        if self.department_id is None:
            return query
        return query.join(Complaint, Complaint.id == complaint_id).where(
            Complaint.department_id == self.department_id
        )

    def hours(self, later: Any, earlier: Any) -> ColumnElement[float]:
        """Hours from ``earlier`` to ``later``: each engine has its own date arithmetic."""
        if self.dialect == "postgresql":
            return cast(extract("epoch", later - earlier), Float(asdecimal=False)) / 3600
        return (func.julianday(later) - func.julianday(earlier)) * 24

    def now_value(self) -> ColumnElement[dt.datetime]:
        return literal(self.now, UTCDateTime())

    def rows(self, query: Any) -> list[Any]:
        return list(self.session.execute(query).all())

    # -- figures --

    def received(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """Complaints received in the month by channel, category and department (one GROUP BY)."""
        query = self.scoped(
            select(Complaint.channel, Category.code, Department.code, func.count(Complaint.id))
            .join(Category, Category.id == Complaint.category_id)
            .join(Department, Department.id == Complaint.department_id)
            .where(self.in_month(Complaint.received_at))
            .group_by(Complaint.channel, Category.code, Department.code)
        )
        by_channel: dict[str, int] = {}
        by_category: dict[str, int] = {}
        by_department: dict[str, int] = {}
        for channel, category, department, count in self.rows(query):
            by_channel[channel] = by_channel.get(channel, 0) + count
            by_category[category] = by_category.get(category, 0) + count
            by_department[department] = by_department.get(department, 0) + count
        return _by_count(by_channel), _by_count(by_category), _by_count(by_department)

    def decisions(self) -> dict[str, int]:
        query = self.scoped(
            select(Complaint.decision, func.count(Complaint.id))
            .where(self.in_month(Complaint.decided_at))
            .group_by(Complaint.decision)
        )
        return {decision: count for decision, count in self.rows(query)}

    def durations(self, reached: Any, counted_by: Any) -> Durations:
        """Hours from receipt to ``reached`` for the cases whose ``counted_by`` falls in the month."""
        hours = self.hours(reached, Complaint.received_at)
        cases = (self.in_month(counted_by), reached.is_not(None))
        if self.dialect == "postgresql":
            count, median, p90 = self.session.execute(
                self.scoped(
                    select(
                        func.count(),
                        func.percentile_cont(0.5).within_group(hours),
                        func.percentile_cont(0.9).within_group(hours),
                    ).where(*cases)
                )
            ).one()
            return Durations(count, _rounded(median), _rounded(p90))
        return self._interpolated_durations(hours, cases)

    def _interpolated_durations(self, hours: ColumnElement[float], cases: tuple[Any, ...]) -> Durations:
        """SQLite has no percentile_cont: rank the hours and read the ranks each percentile needs."""
        ranked = self.scoped(
            select(
                hours.label("hours"),
                (func.row_number().over(order_by=hours) - 1).label("position"),
                func.count().over().label("total"),
            ).where(*cases)
        ).subquery()
        needed = [
            cast((ranked.c.total - 1) * fraction, Integer) + offset
            for fraction in (0.5, 0.9)
            for offset in (0, 1)
        ]
        rows = self.rows(
            select(ranked.c.position, ranked.c.hours, ranked.c.total).where(ranked.c.position.in_(needed))
        )
        if not rows:
            return Durations(0, None, None)
        by_position = {position: value for position, value, _ in rows}
        total = rows[0].total
        return Durations(
            total,
            _rounded(_interpolate(by_position, total, 0.5)),
            _rounded(_interpolate(by_position, total, 0.9)),
        )

    def deadline_in_month(self) -> ColumnElement[bool]:
        return or_(*(self.in_month(getattr(Complaint, due)) for due, _ in STEP_COLUMNS.values()))

    def step_outcomes(self, due_name: str, met_name: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """(met in time, breached) for one step whose deadline fell in the month.

        Breached: met after the deadline, or not met and the deadline has passed by now. A deadline
        not met and not yet passed has no outcome yet and counts in neither.
        """
        due, met = getattr(Complaint, due_name), getattr(Complaint, met_name)
        in_month = self.in_month(due)
        met_in_time = and_(in_month, met.is_not(None), met <= due)
        breached = and_(in_month, or_(met > due, and_(met.is_(None), due < self.now_value())))
        return met_in_time, breached

    def sla_compliance(self) -> list[StepCompliance]:
        sums = []
        for due_name, met_name in STEP_COLUMNS.values():
            met_in_time, breached = self.step_outcomes(due_name, met_name)
            sums += [func.sum(case((met_in_time, 1), else_=0)), func.sum(case((breached, 1), else_=0))]
        totals = self.session.execute(self.scoped(select(*sums).where(self.deadline_in_month()))).one()
        steps = []
        for index, step in enumerate(STEP_COLUMNS):
            met, missed = int(totals[2 * index] or 0), int(totals[2 * index + 1] or 0)
            steps.append(StepCompliance(step=str(step), due=met + missed, met_in_time=met, breached=missed))
        return steps

    def most_breached(self) -> list[BreachedCase]:
        """The cases with most breached steps in the month, then the longest overrun among them."""
        counts, overruns = [], []
        for due_name, met_name in STEP_COLUMNS.values():
            due, met = getattr(Complaint, due_name), getattr(Complaint, met_name)
            breached = self.step_outcomes(due_name, met_name)[1]
            counts.append(case((breached, 1), else_=0))
            overruns.append(
                case((breached, self.hours(func.coalesce(met, self.now_value()), due)), else_=0.0)
            )
        longest = func.greatest(*overruns) if self.dialect == "postgresql" else func.max(*overruns)
        per_case = (
            self.scoped(
                select(
                    Complaint.reference,
                    Complaint.department_id,
                    Complaint.category_id,
                    sum(counts[1:], counts[0]).label("breached_steps"),
                    longest.label("hours_over"),
                ).where(self.deadline_in_month())
            )
        ).subquery()
        query = (
            select(
                per_case.c.reference,
                Department.code,
                Category.code,
                per_case.c.breached_steps,
                per_case.c.hours_over,
            )
            .join(Department, Department.id == per_case.c.department_id)
            .join(Category, Category.id == per_case.c.category_id)
            .where(per_case.c.breached_steps > 0)
            .order_by(per_case.c.breached_steps.desc(), per_case.c.hours_over.desc(), per_case.c.reference)
            .limit(MOST_BREACHED_LIMIT)
        )
        return [
            BreachedCase(reference, department, category, steps, _rounded(hours) or 0.0)
            for reference, department, category, steps, hours in self.rows(query)
        ]

    def surveys_sent(self) -> int:
        """Surveys sent in the month: a case surveyed again in a follow-up round counts once per round."""
        query = self.scoped_via(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == "send_survey", self.in_month(AuditEvent.at)
            ),
            AuditEvent.complaint_id,
        )
        return self.session.scalar(query) or 0

    def answers(self, *columns: Any) -> Any:
        return self.scoped_via(
            select(*columns).where(self.in_month(SurveyResponse.answered_at)), SurveyResponse.complaint_id
        )

    def csat_distribution(self) -> dict[int, int]:
        """Answers per score 1–5, every score present (zero when nobody gave it)."""
        counts = dict(
            self.rows(
                self.answers(SurveyResponse.score, func.count(SurveyResponse.id)).group_by(
                    SurveyResponse.score
                )
            )
        )
        return {score: counts.get(score, 0) for score in range(1, 6)}

    def nps(self) -> tuple[int, float | None]:
        """Net promoter score: % of 9–10 minus % of 0–6, over the answers that gave one."""
        answers, promoters, detractors = self.session.execute(
            self.answers(
                func.count(SurveyResponse.nps),
                func.sum(case((SurveyResponse.nps >= 9, 1), else_=0)),
                func.sum(case((SurveyResponse.nps <= 6, 1), else_=0)),
            )
        ).one()
        if not answers:
            return 0, None
        return answers, round(100 * (int(promoters) - int(detractors)) / answers, 1)

    def follow_ups(self) -> tuple[int, dict[int, int]]:
        """Cases a dissatisfied answer sent to a follow-up round, and the round each reached."""
        dissatisfied = SurveyResponse.satisfied.is_(False)
        cases = self.session.scalar(
            self.answers(func.count(distinct(SurveyResponse.complaint_id))).where(dissatisfied)
        )
        reached = SurveyResponse.round + 1  # the answer was given in round N, the case goes to round N + 1
        rounds = self.rows(
            self.answers(reached, func.count(distinct(SurveyResponse.complaint_id)))
            .where(dissatisfied)
            .group_by(reached)
        )
        return cases or 0, dict(sorted(rounds))

    def closed(self) -> int:
        query = self.scoped(select(func.count(Complaint.id)).where(self.in_month(Complaint.closed_at)))
        return self.session.scalar(query) or 0

    def repeat_complainers(self) -> tuple[int, int]:
        """Customers with more than one complaint received in the month, and those complaints."""
        per_customer = (
            self.scoped(
                select(func.count(Complaint.id).label("complaints"))
                .where(self.in_month(Complaint.received_at))
                .group_by(Complaint.customer_id)
                .having(func.count(Complaint.id) > 1)
            )
        ).subquery()
        customers, complaints = self.session.execute(
            select(func.count(), func.sum(per_customer.c.complaints))
        ).one()
        return customers or 0, int(complaints or 0)

    def recurring_categories(self) -> list[CategoryTrend]:
        """Categories with complaints this month and last, and last month's completed actions on them."""
        this_month = func.sum(case((Complaint.received_at >= self.start, 1), else_=0))
        last_month = func.sum(case((Complaint.received_at < self.start, 1), else_=0))
        counts = self.rows(
            self.scoped(
                select(Category.code, this_month, last_month)
                .join(Category, Category.id == Complaint.category_id)
                .where(Complaint.received_at >= self.previous_start, Complaint.received_at < self.end)
                .group_by(Category.code)
                .having(and_(this_month > 0, last_month > 0))
            )
        )
        actions = dict(
            self.rows(
                self.scoped(
                    select(Category.code, func.count(CorrectiveAction.id))
                    .join(Complaint, Complaint.id == CorrectiveAction.complaint_id)
                    .join(Category, Category.id == Complaint.category_id)
                    .where(
                        CorrectiveAction.done_at >= self.previous_start, CorrectiveAction.done_at < self.start
                    )
                    .group_by(Category.code)
                )
            )
        )
        trends = [
            CategoryTrend(code, int(this), int(last), actions.get(code, 0)) for code, this, last in counts
        ]
        return sorted(trends, key=lambda trend: (-trend.this_month, trend.category))

    def names(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        """Every category's label and department's name in every language, for the renderer."""
        labels = {code: dict(texts) for code, texts in self.rows(select(Category.code, Category.labels))}
        names = {code: dict(texts) for code, texts in self.rows(select(Department.code, Department.names))}
        return labels, names


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    """Largest first, then by code, so the report reads the same on every engine."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _interpolate(by_position: dict[int, float], total: int, fraction: float) -> float:
    """percentile_cont's rule: between the ranks around (total − 1) × fraction, linearly."""
    position = (total - 1) * fraction
    lower = int(position)
    low = by_position[lower]
    high = by_position.get(lower + 1, low)
    return low + (high - low) * (position - lower)


def _rounded(hours: float | None) -> float | None:
    return None if hours is None else round(float(hours), HOURS_DECIMALS)
