"""Service-level deadlines per process step.

The hours per step (and optionally per priority) are configuration, seeded from
the organisation file into the database so every replica uses the same policy.
They are working hours of the case's department (``working_time.py``); a department
without working time counts every hour.
Each step has the complaint column holding its deadline and the column that
shows it was met; the breach query and the monthly figures use the same pairs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from ccm_core.domain.working_time import SlaCalendar


class SlaStep(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    INTERIM_NOTICE = "interim_notice"
    DECISION = "decision"
    ACTION_COMPLETION = "action_completion"
    SURVEY = "survey"


# step -> (deadline column, column set when the step is done)
STEP_COLUMNS: dict[SlaStep, tuple[str, str]] = {
    SlaStep.ACKNOWLEDGE: ("ack_due_at", "acknowledged_at"),
    SlaStep.INTERIM_NOTICE: ("interim_due_at", "review_started_at"),
    SlaStep.DECISION: ("decision_due_at", "decided_at"),
    SlaStep.ACTION_COMPLETION: ("action_due_at", "informed_at"),
    SlaStep.SURVEY: ("survey_due_at", "survey_sent_at"),
}

DEFAULT_HOURS: dict[SlaStep, float] = {
    SlaStep.ACKNOWLEDGE: 1,
    SlaStep.INTERIM_NOTICE: 24,
    SlaStep.DECISION: 72,
    SlaStep.ACTION_COMPLETION: 168,
    SlaStep.SURVEY: 48,
}

ANY_PRIORITY = "*"


@dataclass(frozen=True)
class SlaPolicy:
    """Hours allowed per (priority, step); ``*`` rows apply to every priority."""

    hours: dict[tuple[str, SlaStep], float] = field(default_factory=dict)

    def allowance(self, step: SlaStep, priority: str) -> float:
        """Hours allowed for the step: the priority's own rule, else the ``*`` rule, else the default."""
        return self.hours.get((priority, step), self.hours.get((ANY_PRIORITY, step), DEFAULT_HOURS[step]))

    def due(self, step: SlaStep, priority: str, start: dt.datetime, calendar: SlaCalendar) -> dt.datetime:
        """The step's deadline: its hours counted in the working time of the case's department."""
        return calendar.add_working_hours(start, self.allowance(step, priority))
