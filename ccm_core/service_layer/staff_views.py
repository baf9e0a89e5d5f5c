"""What staff see of their own work: who they are to a staff tool, their home, the month's figures."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any

from ccm_core.domain import policy
from ccm_core.domain.errors import NotFound
from ccm_core.domain.lifecycle import Decision, Status
from ccm_core.domain.policy import Actor
from ccm_core.domain.search import ComplaintFilter
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.service_layer.views import CaseSummary, SlaAlert, list_complaints, sla_watchlist


@dataclass(frozen=True)
class StaffMember:
    """A staff member as a staff tool knows them: who acts, by which name, reading which language."""

    actor: Actor
    name: str
    locale: str
    department: str | None


def staff_member(uow: UnitOfWork, *, slack_user_id: str) -> StaffMember:
    """The active staff member with this Slack user id; ``NotFound`` for anybody else."""
    with uow:
        staff = uow.organisation.staff_by_slack_id(slack_user_id)
        if staff is None or not staff.active:
            raise NotFound(kind="staff", key=slack_user_id)
        department = staff.department.code if staff.department else None
        return StaffMember(staff.as_actor(), staff.name, staff.locale, department)


def signed_in_staff(uow: UnitOfWork, actor: Actor) -> StaffMember:
    """The staff member a signed-in actor stands for (the admin console reads their name and locale)."""
    with uow:
        staff = uow.organisation.staff(actor.staff_id) if actor.staff_id is not None else None
        if staff is None or not staff.active:
            raise NotFound(kind="staff", key=actor.label)
        department = staff.department.code if staff.department else None
        return StaffMember(staff.as_actor(), staff.name, staff.locale, department)


@dataclass(frozen=True)
class StaffHome:
    """What a staff member sees first: their cases, the department's queue, deadlines, follow-ups."""

    mine: list[CaseSummary]
    queue: list[CaseSummary]  # open and taken by nobody yet
    due: list[SlaAlert]  # breached and soon-due steps
    follow_ups: list[CaseSummary]  # 11: waiting for a new action or proposal


def staff_home(uow: UnitOfWork, actor: Actor, limit: int = 10) -> StaffHome:
    def cases(**criteria: Any) -> list[CaseSummary]:
        return list_complaints(uow, actor, ComplaintFilter(limit=limit, **criteria))[0]

    return StaffHome(
        mine=cases(assignee_id=actor.staff_id or -1, open_only=True),
        queue=cases(unassigned=True, open_only=True),
        due=sla_watchlist(uow, actor)[:limit],
        follow_ups=cases(status=Status.FOLLOW_UP),
    )


@dataclass(frozen=True)
class MonthFigures:
    """This month's figures for a department (or every department, for admins)."""

    month: str  # 2026-10
    received: int
    closed: int
    open_now: int
    justified: int
    unjustified: int
    median_hours_to_decide: float | None
    overdue_now: int
    surveys_answered: int
    average_score: float | None
    dissatisfied: int

    @property
    def justified_rate(self) -> float | None:
        decided = self.justified + self.unjustified
        return self.justified / decided if decided else None


def month_figures(uow: UnitOfWork, actor: Actor, year: int, month: int) -> MonthFigures:
    policy.ensure_allowed(actor, policy.VIEW)
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
    department_id = None if actor.department_wide else (actor.department_id or -1)
    with uow:
        now = uow.now()
        figures = uow.figures.staff_month(department_id, (start, end))
        decisions = figures.decisions()
        hours = sorted(
            (decided_at - received_at).total_seconds() / 3600 for _, received_at, decided_at in decisions
        )
        answered, average_score = figures.answers()
        dissatisfied = figures.dissatisfied()
        overdue_cases = ComplaintFilter(overdue_at=now, limit=1, department_id=department_id)
        overdue = uow.complaints.list(overdue_cases)[1]
        return MonthFigures(
            month=f"{year:04d}-{month:02d}",
            received=figures.received(),
            closed=figures.closed(),
            open_now=figures.open_now(),
            justified=sum(1 for decision, _, _ in decisions if decision == Decision.JUSTIFIED),
            unjustified=sum(1 for decision, _, _ in decisions if decision == Decision.UNJUSTIFIED),
            median_hours_to_decide=statistics.median(hours) if hours else None,
            overdue_now=overdue,
            surveys_answered=answered,
            average_score=average_score,
            dissatisfied=dissatisfied,
        )
