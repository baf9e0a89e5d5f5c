"""KVKK/GDPR: what the product does with a customer's personal data on request."""

from __future__ import annotations

from ccm_core.domain import policy
from ccm_core.domain.complaint import ERASED
from ccm_core.domain.errors import PreconditionFailed
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import DeliveryStatus
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.service_layer.views import load_for


def erase_customer_data(uow: UnitOfWork, actor: Actor, reference: str) -> int:
    """KVKK/GDPR erasure: anonymise the customer of ``reference`` across all their complaints.

    Dates, channels, categories, decisions and scores stay, so the statistics do
    too. Messages still waiting in the outbox are cancelled. Returns the number of
    complaints anonymised.
    """
    with uow:
        complaint = load_for(uow, actor, reference, policy.ERASE_CUSTOMER_DATA)
        customer = complaint.customer
        if customer.erased_at is not None:
            raise PreconditionFailed(
                "customer_erased", erased_at=customer.erased_at.isoformat(timespec="minutes")
            )
        now = uow.now()
        complaints = uow.complaints.of_customer(customer)
        for case in complaints:
            case.erase_personal_data(actor, now)
            for message in uow.outbox.for_complaint(case):
                message.body = ERASED
                message.recipient = None
                if message.status == DeliveryStatus.PENDING:
                    message.status = DeliveryStatus.CANCELLED
                    message.last_error = "customer data erased"
        customer.erase(now)
        uow.commit()
        return len(complaints)
