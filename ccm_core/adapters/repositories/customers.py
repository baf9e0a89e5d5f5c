"""Customers, known by their identities on the chat channels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ccm_core.adapters.db import rows_changed
from ccm_core.domain.complaint import Complaint
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

    def get(self, customer_id: int) -> Customer | None:
        return self.session.get(Customer, customer_id)

    def take_for_erasure(self, customer_id: int, now: dt.datetime) -> bool:
        """Mark the customer erased unless someone did already: of two erasures at once, one goes on."""
        changed = self.session.execute(
            update(Customer)
            .where(Customer.id == customer_id, Customer.erased_at.is_(None))
            .values(erased_at=now)
            .execution_options(synchronize_session=False)
        )
        return rows_changed(changed) == 1

    def expired(self, closed_before: dt.datetime, limit: int) -> Sequence[int]:
        """Customers not erased yet whose complaints are all closed, the last before ``closed_before``."""
        return self.session.scalars(
            select(Customer.id)
            .join(Complaint, Complaint.customer_id == Customer.id)
            .where(Customer.erased_at.is_(None))
            .group_by(Customer.id)
            .having(func.count(Complaint.closed_at) == func.count(Complaint.id))
            .having(func.max(Complaint.closed_at) < closed_before)
            .order_by(Customer.id)
            .limit(limit)
        ).all()
