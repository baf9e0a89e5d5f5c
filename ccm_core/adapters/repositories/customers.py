"""Customers, known by their identities on the chat channels."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ccm_core.domain.customer import Customer, CustomerIdentity


class CustomerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, customer: Customer) -> None:
        self.session.add(customer)

    def by_identity(self, channel: str, external_id: str) -> Customer | None:
        return self.session.scalars(
            select(Customer)
            .join(CustomerIdentity)
            .where(CustomerIdentity.channel == channel, CustomerIdentity.external_id == external_id)
        ).one_or_none()
