"""02/04: creating the complaint record, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.customer import Customer
from ccm_core.domain.errors import ValidationFailed
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer import services
from ccm_core.service_layer.services import CustomerDetails
from tests.service.helpers import audit_actions, count, outbox, record


def test_record_routes_to_the_categorys_department_and_queues_the_acknowledgement(uow) -> None:
    case = record(uow)
    assert case.reference == "CMP-2026-000001"
    assert case.status == "received"
    assert (case.channel, case.language, case.category, case.department) == (
        "phone",
        "tr",
        "delivery",
        "logistics",
    )
    assert case.timestamps["received_at"] is not None
    deadlines = {step.step: step.due_at for step in case.sla}
    assert deadlines["acknowledge"] and deadlines["interim_notice"] and deadlines["decision"]
    assert audit_actions(uow, case.reference) == ["record"]
    [ack] = outbox(uow, case.reference)
    assert ack.kind == "acknowledgement" and ack.language == "tr" and ack.status == "pending"
    assert case.reference in ack.body and "kaydettik" in ack.body
    # a phone intake is answered where the customer can read it: the e-mail address given
    assert (ack.channel, ack.recipient) == ("email", "ali@example.com")


def test_references_are_sequential_per_year(uow, clock) -> None:
    first, second = record(uow), record(uow)
    assert (first.reference, second.reference) == ("CMP-2026-000001", "CMP-2026-000002")
    clock.now = clock.now.replace(year=2027, month=1, day=1)
    assert record(uow).reference == "CMP-2027-000001"


def test_concurrent_intakes_get_distinct_consecutive_references(make_uow, uow) -> None:
    start = threading.Barrier(8)

    def intake(n: int) -> str:
        start.wait()
        return record(make_uow(), description=f"Complaint number {n}").reference

    with ThreadPoolExecutor(8) as pool:
        references = sorted(pool.map(intake, range(8)))
    assert references == [f"CMP-2026-{n:06d}" for n in range(1, 9)]


def test_same_idempotency_key_returns_the_same_complaint(uow) -> None:
    first = record(uow, idempotency_key="call-4711")
    again = record(uow, idempotency_key="call-4711", description="Sent twice by the telephony system")
    assert again.reference == first.reference
    assert again.description == first.description
    assert count(uow, Complaint) == 1
    assert count(uow, OutboxMessage) == 1


def test_concurrent_deliveries_of_one_intake_create_one_complaint(make_uow, uow) -> None:
    start = threading.Barrier(4)

    def deliver(_: int) -> str:
        start.wait()
        return record(make_uow(), idempotency_key="webhook-99").reference

    with ThreadPoolExecutor(4) as pool:
        references = set(pool.map(deliver, range(4)))
    assert len(references) == 1
    assert count(uow, Complaint) == 1


def test_chat_identity_finds_the_same_customer(uow) -> None:
    customer = Actor.customer(channel="telegram", external_id="555001")
    first = services.record_complaint(
        uow, customer, channel="telegram", language="de", category="billing", description="Doppelt abgebucht"
    ).case
    second = services.record_complaint(
        uow, customer, channel="telegram", language="de", category="refund", description="Keine Erstattung"
    ).case
    assert first.department == "finance"
    assert count(uow, Customer) == 1
    messages = outbox(uow, first.reference) + outbox(uow, second.reference)
    assert {(m.channel, m.recipient, m.language) for m in messages} == {("telegram", "555001", "de")}
    assert "Beschwerde" in messages[0].body


@pytest.mark.parametrize(
    ("overrides", "field", "problem"),
    [
        ({"channel": "fax"}, "channel", "unknown_choice"),
        ({"language": "fr"}, "language", "unknown_choice"),
        ({"category": "weather"}, "category", "unknown_choice"),
        ({"priority": "asap"}, "priority", "unknown_choice"),
        ({"description": "   "}, "description", "required"),
        ({"description": "x" * 5001}, "description", "too_long"),
        ({"description": "Kargo \x00 hasarlı"}, "description", "invalid_characters"),
        ({"description": "Kargo \ud800 hasarlı"}, "description", "invalid_characters"),
        ({"customer": CustomerDetails(email="not-an-address")}, "email", "invalid_email"),
        ({"customer": CustomerDetails(phone="call me")}, "phone", "invalid_phone"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(uow, overrides, field, problem) -> None:
    with pytest.raises(ValidationFailed) as refused:
        record(uow, **overrides)
    assert (refused.value.field, refused.value.problem) == (field, problem)
    assert refused.value.message("tr") != refused.value.message("en")
    assert count(uow, Complaint) == 0
    assert count(uow, Customer) == 0
    assert count(uow, AuditEvent) == 1  # only the seeding of the organisation


def test_unknown_category_lists_the_valid_ones(uow) -> None:
    with pytest.raises(ValidationFailed) as refused:
        record(uow, category="weather")
    assert "delivery" in str(refused.value) and "billing" in str(refused.value)


def test_description_of_exactly_the_limit_is_accepted(uow) -> None:
    assert len(record(uow, description="x" * 5000).description) == 5000
