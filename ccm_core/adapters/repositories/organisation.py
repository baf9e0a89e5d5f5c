"""The organisation: departments, categories, staff, SLA rules and the API tokens staff act with."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ccm_core.domain.lifecycle import Role
from ccm_core.domain.organisation import ApiToken, Category, Department, SlaRule, Staff
from ccm_core.domain.sla import SlaPolicy, SlaStep


class OrganisationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Department | Staff | Category | SlaRule | ApiToken) -> None:
        self.session.add(row)

    def department(self, code: str) -> Department | None:
        return self.session.scalars(select(Department).where(Department.code == code)).one_or_none()

    def departments(self) -> Sequence[Department]:
        return self.session.scalars(select(Department).order_by(Department.code)).all()

    def category(self, code: str) -> Category | None:
        return self.session.scalars(select(Category).where(Category.code == code)).one_or_none()

    def categories(self, active_only: bool = True) -> Sequence[Category]:
        query = select(Category).order_by(Category.code)
        if active_only:
            query = query.where(Category.active.is_(True))
        return self.session.scalars(query).all()

    def staff(self, staff_id: int) -> Staff | None:
        return self.session.get(Staff, staff_id)

    def staff_by_email(self, email: str) -> Staff | None:
        return self.session.scalars(
            select(Staff).where(func.lower(Staff.email) == email.lower())
        ).one_or_none()

    def staff_by_slack_id(self, slack_user_id: str) -> Staff | None:
        return self.session.scalars(select(Staff).where(Staff.slack_user_id == slack_user_id)).one_or_none()

    def leads_of(self, department: Department) -> Sequence[Staff]:
        """The department's active leads, in the order they were added."""
        return self.session.scalars(
            select(Staff)
            .where(Staff.department_id == department.id, Staff.role == Role.LEAD, Staff.active.is_(True))
            .order_by(Staff.id)
        ).all()

    def sla_rules(self) -> Sequence[SlaRule]:
        return self.session.scalars(select(SlaRule)).all()

    def sla_policy(self) -> SlaPolicy:
        return SlaPolicy({(rule.priority, SlaStep(rule.step)): rule.hours for rule in self.sla_rules()})

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The unrevoked token with this hash."""
        return self.session.scalars(
            select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
        ).one_or_none()
