"""The organisation a complaint is routed in: departments, staff, categories, SLA rules, API tokens.

Seeded from the organisation file and changed by admins; the complaint aggregate only reads it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ccm_core.domain.base import Base
from ccm_core.domain.policy import Actor
from ccm_core.domain.working_time import SlaCalendar, calendar_for


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    names: Mapped[dict[str, Any]]  # language -> display name
    slack_channel: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the department works, for SLA deadlines in working hours: country (holiday calendar),
    # time zone, working days and hours. Seeded from the organisation file.
    working_time: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("en") or self.code

    def calendar(self) -> SlaCalendar:
        """The working time its SLA deadlines count in; round the clock when none is set."""
        return calendar_for(self.working_time)


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # the admin console's sign-in

    department: Mapped[Department | None] = relationship()

    def as_actor(self) -> Actor:
        return Actor.staff(
            email=self.email, role=self.role, staff_id=self.id, department_id=self.department_id
        )


class Category(Base):
    """A complaint category and the department it routes to."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    labels: Mapped[dict[str, Any]]  # language -> label
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    needs_reference: Mapped[str | None] = mapped_column(String(32))  # "order", "account" or none
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[Department] = relationship()


class SlaRule(Base):
    __tablename__ = "sla_rules"
    __table_args__ = (UniqueConstraint("priority", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    priority: Mapped[str] = mapped_column(String(16))  # a priority or "*"
    step: Mapped[str] = mapped_column(String(32))
    hours: Mapped[float] = mapped_column(Float)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]

    staff: Mapped[Staff | None] = relationship()


class ReferenceCounter(Base):
    """Last complaint number handed out per year: references are never reused."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0)
