"""Read models' SQL: the monthly report's figures and the month figures staff see at home.

Every figure is aggregated in SQL, on SQLite and PostgreSQL alike; the query objects return
plain values for the service layer to assemble. Percentiles are linearly interpolated between
the two nearest ranks (PostgreSQL's ``percentile_cont``, "PERCENTILE.INC"): ``percentile_cont``
on PostgreSQL, a ranked window query on SQLite, so both engines give the same figures.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, distinct, extract, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ccm_core.domain.base import UTCDateTime
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.lifecycle import Decision, Status
from ccm_core.domain.organisation import Category, Department
from ccm_core.domain.records import AuditEvent, CorrectiveAction, SurveyResponse
from ccm_core.domain.sla import STEP_COLUMNS

# (cases counted, median hours, 90th percentile hours)
DurationRow = tuple[int, float | None, float | None]


class Figures:
    """Opens the read models' query objects on the unit of work's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def monthly_report(
        self,
        department_id: int | None,
        month: tuple[dt.datetime, dt.datetime],
        previous_start: dt.datetime,
        now: dt.datetime,
    ) -> MonthlyReportQueries:
        return MonthlyReportQueries(self.session, department_id, month, previous_start, now)

    def staff_month(
        self, department_id: int | None, month: tuple[dt.datetime, dt.datetime]
    ) -> StaffMonthQueries:
        return StaffMonthQueries(self.session, department_id, month)


class _Scoped:
    """Queries over complaints limited to a month [start, end) and a department (None: every one)."""

    def __init__(
        self, session: Session, department_id: int | None, month: tuple[dt.datetime, dt.datetime]
    ) -> None:
        self.session = session
        self.department_id = department_id
        self.start, self.end = month

    def in_month(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)

    def scoped(self, query: Any) -> Any:
        """``query`` (over complaints) limited to the reader's department."""
        return (
            query
            if self.department_id is None
            else query.where(Complaint.department_id == self.department_id)
        )

    def rows(self, query: Any) -> list[Any]:
        return list(self.session.execute(query).all())


class MonthlyReportQueries(_Scoped):
    """The monthly report's SQL, one method per figure."""

    def __init__(
        self,
        session: Session,
        department_id: int | None,
        month: tuple[dt.datetime, dt.datetime],
        previous_start: dt.datetime,
        now: dt.datetime,
    ) -> None:
        super().__init__(session, department_id, month)
        self.previous_start = previous_start
        self.now = now
        self.dialect = session.get_bind().dialect.name

    # -- building blocks --

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

    def to_acknowledge(self) -> DurationRow:
        """Receipt to acknowledgement, over the cases received in the month."""
        return self._durations(Complaint.acknowledged_at, Complaint.received_at)

    def to_decide(self) -> DurationRow:
        """Receipt to decision, over the cases decided in the month."""
        return self._durations(Complaint.decided_at, Complaint.decided_at)

    def to_close(self) -> DurationRow:
        """Receipt to closing, over the cases closed in the month."""
        return self._durations(Complaint.closed_at, Complaint.closed_at)

    def _durations(self, reached: Any, counted_by: Any) -> DurationRow:
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
            return count, median, p90
        return self._interpolated_durations(hours, cases)

    def _interpolated_durations(self, hours: ColumnElement[float], cases: tuple[Any, ...]) -> DurationRow:
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
            return 0, None, None
        by_position = {position: value for position, value, _ in rows}
        total = rows[0].total
        return total, _interpolate(by_position, total, 0.5), _interpolate(by_position, total, 0.9)

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

    def sla_outcomes(self) -> list[tuple[str, int, int]]:
        """Per SLA step (an SlaStep value): deadlines in the month met in time, and breached."""
        sums = []
        for due_name, met_name in STEP_COLUMNS.values():
            met_in_time, breached = self.step_outcomes(due_name, met_name)
            sums += [func.sum(case((met_in_time, 1), else_=0)), func.sum(case((breached, 1), else_=0))]
        totals = self.session.execute(self.scoped(select(*sums).where(self.deadline_in_month()))).one()
        return [
            (str(step), int(totals[2 * index] or 0), int(totals[2 * index + 1] or 0))
            for index, step in enumerate(STEP_COLUMNS)
        ]

    def most_breached(self, limit: int) -> list[tuple[str, str, str, int, float | None]]:
        """The cases with most breached steps in the month, then the longest overrun among them:
        (reference, department, category, breached steps, hours over)."""
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
            .limit(limit)
        )
        return [
            (reference, department, category, steps, hours)
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

    def nps_answers(self) -> tuple[int, int, int]:
        """Answers that gave an NPS score, and of those the promoters (9–10) and detractors (0–6)."""
        answers, promoters, detractors = self.session.execute(
            self.answers(
                func.count(SurveyResponse.nps),
                func.sum(case((SurveyResponse.nps >= 9, 1), else_=0)),
                func.sum(case((SurveyResponse.nps <= 6, 1), else_=0)),
            )
        ).one()
        return answers, int(promoters or 0), int(detractors or 0)

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

    def recurring_categories(self) -> list[tuple[str, int, int, int]]:
        """Categories with complaints this month and last: (code, this month, last month, actions
        completed on them last month)."""
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
        return [(code, int(this), int(last), actions.get(code, 0)) for code, this, last in counts]

    def names(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        """Every category's label and department's name in every language, for the renderer."""
        labels = {code: dict(texts) for code, texts in self.rows(select(Category.code, Category.labels))}
        names = {code: dict(texts) for code, texts in self.rows(select(Department.code, Department.names))}
        return labels, names


class StaffMonthQueries(_Scoped):
    """The counts behind the month figures of a staff member's home."""

    def count(self, *conditions: Any) -> int:
        return self.session.scalar(self.scoped(select(func.count(Complaint.id)).where(*conditions))) or 0

    def received(self) -> int:
        return self.count(self.in_month(Complaint.received_at))

    def closed(self) -> int:
        return self.count(self.in_month(Complaint.closed_at))

    def open_now(self) -> int:
        return self.count(Complaint.status != Status.CLOSED)

    def decisions(self) -> list[tuple[Decision | None, dt.datetime, dt.datetime]]:
        """(decision, received at, decided at) of the cases decided in the month."""
        decided = self.scoped(
            select(Complaint.decision, Complaint.received_at, Complaint.decided_at).where(
                Complaint.decided_at >= self.start, Complaint.decided_at < self.end
            )
        )
        return [(decision, received, decided_at) for decision, received, decided_at in self.rows(decided)]

    def answers(self) -> tuple[int, float | None]:
        """Survey answers given in the month, and their mean score."""
        answers = self.session.execute(
            self.scoped(
                select(func.count(SurveyResponse.id), func.avg(SurveyResponse.score))
                .join(Complaint, SurveyResponse.complaint_id == Complaint.id)
                .where(SurveyResponse.answered_at >= self.start, SurveyResponse.answered_at < self.end)
            )
        ).one()
        return answers[0] or 0, float(answers[1]) if answers[1] is not None else None

    def dissatisfied(self) -> int:
        """Survey answers given in the month that were not satisfied."""
        dissatisfied = self.session.scalar(
            self.scoped(
                select(func.count(SurveyResponse.id))
                .join(Complaint, SurveyResponse.complaint_id == Complaint.id)
                .where(
                    SurveyResponse.answered_at >= self.start,
                    SurveyResponse.answered_at < self.end,
                    SurveyResponse.satisfied.is_(False),
                )
            )
        )
        return dissatisfied or 0


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
