"""The monthly management report's figures ("every month the cases are analysed and reported").

Every figure is aggregated in SQL, on SQLite and PostgreSQL alike (``ccm_core.adapters.figures``);
this module only assembles the few result rows. Codes (channels, categories, departments, steps)
are kept as codes: the renderer names them in the reader's language.

Percentiles are linearly interpolated between the two nearest ranks ("PERCENTILE.INC": the
median of 2, 5, 9 and 10 hours is 7). Hours are rounded to two decimals (SQLite's julianday
arithmetic carries floating-point noise that PostgreSQL's exact epoch arithmetic does not).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ccm_core.domain import policy
from ccm_core.domain.lifecycle import Decision
from ccm_core.domain.policy import Actor
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
    previous_start = month_bounds(year - (month == 1), (month - 2) % 12 + 1)[0]
    with uow:
        now = uow.now()
        figures = uow.figures.monthly_report(department_id, month_bounds(year, month), previous_start, now)
        by_channel, by_category, by_department = figures.received()
        decisions = figures.decisions()
        csat = figures.csat_distribution()
        answered = sum(csat.values())
        nps_answers, nps = _nps(*figures.nps_answers())
        follow_up_cases, follow_up_rounds = figures.follow_ups()
        repeat_complainers, repeat_complaints = figures.repeat_complainers()
        category_labels, department_names = figures.names()
        return MonthlyReport(
            month=f"{year:04d}-{month:02d}",
            generated_at=now,
            received=sum(by_channel.values()),
            by_channel=by_channel,
            by_category=by_category,
            by_department=by_department,
            decided=sum(decisions.values()),
            justified=decisions.get(Decision.JUSTIFIED, 0),
            unjustified=decisions.get(Decision.UNJUSTIFIED, 0),
            to_acknowledge=_durations(*figures.to_acknowledge()),
            to_decide=_durations(*figures.to_decide()),
            to_close=_durations(*figures.to_close()),
            sla=[
                StepCompliance(step=step, due=met + missed, met_in_time=met, breached=missed)
                for step, met, missed in figures.sla_outcomes()
            ],
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
            recurring=_trends(figures.recurring_categories()),
            most_breached=_breached(figures.most_breached(MOST_BREACHED_LIMIT)),
            category_labels=category_labels,
            department_names=department_names,
        )


def _durations(count: int, median: float | None, p90: float | None) -> Durations:
    return Durations(count, _rounded(median), _rounded(p90))


def _trends(rows: list[tuple[str, int, int, int]]) -> list[CategoryTrend]:
    """The recurring categories, the most complained about first."""
    trends = [CategoryTrend(*row) for row in rows]
    return sorted(trends, key=lambda trend: (-trend.this_month, trend.category))


def _breached(rows: list[tuple[str, str, str, int, float | None]]) -> list[BreachedCase]:
    return [
        BreachedCase(reference, department, category, steps, _rounded(hours) or 0.0)
        for reference, department, category, steps, hours in rows
    ]


def _nps(answers: int, promoters: int, detractors: int) -> tuple[int, float | None]:
    """Net promoter score: % of 9–10 minus % of 0–6, over the answers that gave one."""
    if not answers:
        return 0, None
    return answers, round(100 * (promoters - detractors) / answers, 1)


def _rounded(hours: float | None) -> float | None:
    return None if hours is None else round(float(hours), HOURS_DECIMALS)
