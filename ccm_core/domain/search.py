"""What a list of cases is narrowed by: the reader's filters and the restrictions policy adds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ComplaintFilter:
    status: str | None = None
    department: str | None = None
    channel: str | None = None
    category: str | None = None
    overdue_at: dt.datetime | None = None  # only cases with a deadline passed before this time
    department_id: int | None = None  # restriction from the reader's own department
    customer_channel: str | None = None  # restriction to one customer's conversation
    customer_external_id: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    open_only: bool = False
    limit: int = 50
    offset: int = 0
