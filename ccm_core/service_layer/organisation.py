"""Loading the organisation file (departments, working time, staff, routing, SLA) into the database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ccm_core.domain import validation
from ccm_core.domain.errors import ValidationFailed
from ccm_core.domain.lifecycle import Priority, Role
from ccm_core.domain.organisation import Category, Department, SlaRule, Staff
from ccm_core.domain.records import AuditEvent
from ccm_core.domain.sla import ANY_PRIORITY, SlaStep
from ccm_core.domain.working_time import validated_working_time
from ccm_core.i18n import LANGUAGES
from ccm_core.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class SeedReport:
    departments: int
    staff: int
    categories: int
    sla_rules: int


def seed_organisation(uow: UnitOfWork, path: Path) -> SeedReport:
    """Insert or update everything in the file; rows missing from it are left alone."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    default_working_time = data.get("working_time")
    if default_working_time is not None:
        validated_working_time(default_working_time, "working_time")
    with uow:
        repo = uow.organisation
        departments: dict[str, Department] = {d.code: d for d in repo.departments()}
        for entry in data.get("departments", []):
            code = _code(entry, "department")
            department = departments.get(code) or Department(code=code)
            department.names = _per_language(entry.get("names"), code)
            department.slack_channel = entry.get("slack_channel")
            department.working_time = _working_time(entry, default_working_time, code)
            department.active = bool(entry.get("active", True))
            repo.add(department)
            departments[code] = department

        staff_count = 0
        for entry in data.get("staff", []):
            email = validation.email(entry.get("email"))
            if email is None:
                raise ValidationFailed(field="staff.email", problem="required")
            staff = repo.staff_by_email(email) or Staff(email=email)
            staff.name = entry.get("name") or email
            staff.role = validation.choice("staff.role", entry.get("role", "agent"), Role)
            staff.department = _department(departments, entry.get("department"))
            staff.slack_user_id = entry.get("slack_user_id")
            staff.locale = entry.get("locale", "en")
            staff.active = bool(entry.get("active", True))
            if staff.role != Role.ADMIN and staff.department is None:
                raise ValidationFailed(field=f"staff {email}: department", problem="required")
            repo.add(staff)
            staff_count += 1

        category_count = 0
        for entry in data.get("categories", []):
            code = _code(entry, "category")
            category = repo.category(code) or Category(code=code)
            category.labels = _per_language(entry.get("labels"), code)
            routed_to = _department(departments, entry.get("department"))
            if routed_to is None:
                raise ValidationFailed(field=f"category {code}: department", problem="required")
            category.department = routed_to
            category.needs_reference = entry.get("needs_reference")
            category.active = bool(entry.get("active", True))
            repo.add(category)
            category_count += 1

        rules = {(rule.priority, rule.step): rule for rule in repo.sla_rules()}
        rule_count = 0
        for priority, steps in (data.get("sla") or {}).items():
            if priority != ANY_PRIORITY:
                validation.choice("sla priority", priority, Priority)
            for step, hours in (steps or {}).items():
                step = validation.choice("sla step", step, SlaStep)
                rule = rules.get((priority, step)) or SlaRule(priority=priority, step=step)
                rule.hours = float(hours)
                repo.add(rule)
                rule_count += 1

        report = SeedReport(len(data.get("departments", [])), staff_count, category_count, rule_count)
        uow.audit.add(
            AuditEvent(
                actor="system:seed",
                action="seed_organisation",
                at=uow.now(),
                details={"file": path.name, **report.__dict__},
            )
        )
        uow.commit()
        return report


def _code(entry: dict[str, Any], kind: str) -> str:
    code = str(entry.get("code") or "").strip().lower()
    if not code:
        raise ValidationFailed(field=f"{kind}.code", problem="required")
    return code


def _per_language(texts: dict[str, str] | None, fallback: str) -> dict[str, str]:
    texts = texts or {}
    return {language: texts.get(language) or texts.get("en") or fallback for language in LANGUAGES}


def _working_time(entry: dict[str, Any], default: dict[str, Any] | None, code: str) -> dict[str, Any] | None:
    """The file's default working time with the department's own keys over it.

    ``working_time: null`` on a department, or no working time anywhere, means round the clock.
    """
    if "working_time" in entry and entry["working_time"] is None:
        return None
    override = entry.get("working_time") or {}
    if not isinstance(override, dict):
        raise ValidationFailed(
            field=f"department {code}: working_time", problem="invalid_value", detail="expected a mapping"
        )
    if default is None and not override:
        return None
    return validated_working_time({**(default or {}), **override}, f"department {code}: working_time")


def _department(departments: dict[str, Department], code: str | None) -> Department | None:
    if not code:
        return None
    if code not in departments:
        raise ValidationFailed(
            field="department", problem="unknown_choice", value=code, choices=", ".join(sorted(departments))
        )
    return departments[code]
