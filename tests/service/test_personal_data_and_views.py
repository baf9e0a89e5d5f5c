"""Erasure, SLA watch, listings and who may see what, on SQLite and PostgreSQL."""

from __future__ import annotations

import gc

import pytest

from ccm_core.adapters.tables import UnrecognisedMessage
from ccm_core.domain.complaint import ERASED
from ccm_core.domain.errors import PermissionDenied, PreconditionFailed
from ccm_core.domain.policy import Actor
from ccm_core.domain.search import ComplaintFilter
from ccm_core.service_layer import customer_data, services, staff_views, teaching, views
from ccm_core.service_layer.services import CustomerDetails
from tests.service.helpers import audit_actions, outbox, record, staff, to_informed


def test_erasure_anonymises_every_complaint_of_the_customer_and_keeps_the_figures(uow) -> None:
    admin, lead = staff(uow, "admin@example.com"), staff(uow, "elif.kaya@example.com")
    customer = Actor.customer(channel="telegram", external_id="777")
    first = services.record_complaint(
        uow, customer, channel="telegram", language="tr", category="delivery", description="Paket kırık, Ali"
    ).case.reference
    second = services.record_complaint(
        uow,
        customer,
        channel="telegram",
        language="tr",
        category="delivery",
        description="Yine geç geldi",
        customer=CustomerDetails(name="Ali Veli", email="ali@example.com"),
    ).case.reference
    to_informed(uow, lead, first)
    services.send_survey(uow, lead, first)
    services.record_survey_answer(uow, lead, first, score=3, comment="Ali Veli burada")
    services.add_customer_message(uow, customer, second, body="Telefonum 0532 000 00 00")
    other = record(uow).reference

    with pytest.raises(PermissionDenied):
        customer_data.erase_customer_data(uow, lead, first)
    assert customer_data.erase_customer_data(uow, admin, first) == 2

    for reference in (first, second):
        case = views.get_complaint(uow, admin, reference)
        assert case.description == ERASED
        assert case.customer == {"name": None, "email": None, "phone": None, "erased": True}
        assert case.category == "delivery" and case.timestamps["received_at"] is not None
        assert "erase_customer_data" in audit_actions(uow, reference)
        for message in outbox(uow, reference):
            assert message.recipient is None and message.body == ERASED
            assert message.status in ("cancelled", "delivered")
        timeline = views.complaint_timeline(uow, admin, reference)
        assert all(
            "Ali" not in str(entry.as_dict()) and "0532" not in str(entry.as_dict()) for entry in timeline
        )
    first_case = views.get_complaint(uow, admin, first)
    assert (first_case.survey_scores, first_case.status) == ([3], "follow_up")
    assert views.get_complaint(uow, admin, other).customer["name"] == "Ali Veli"  # another customer's case
    with pytest.raises(PreconditionFailed):
        customer_data.erase_customer_data(uow, admin, first)
    # the conversation no longer identifies anyone
    assert views.list_complaints(uow, customer, ComplaintFilter())[1] == 0


def test_sla_watchlist_shows_breached_and_soon_due_steps(uow, clock) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    urgent = record(uow, priority="urgent").reference
    normal = record(uow).reference
    clock.advance(hours=3)  # urgent: interim notice due after 4 h, acknowledge after 0.5 h
    alerts = views.sla_watchlist(uow, lead, soon_hours=2)
    by_case = {(a.reference, a.step): a.breached for a in alerts}
    assert by_case[(urgent, "acknowledge")] is True
    assert by_case[(urgent, "interim_notice")] is False  # due within the next two hours
    assert by_case[(normal, "acknowledge")] is True
    assert (normal, "interim_notice") not in by_case
    services.start_review(uow, lead, urgent)
    assert (urgent, "interim_notice") not in {
        (a.reference, a.step) for a in views.sla_watchlist(uow, lead, 2)
    }
    overdue, total = views.list_complaints(uow, lead, ComplaintFilter(overdue_at=clock.now))
    assert total == 2 and all(case.overdue for case in overdue)


def test_staff_see_their_own_department_only(uow) -> None:
    record(uow, category="delivery")
    billing = record(uow, category="billing").reference
    logistics_agent = staff(uow, "lukas.schmidt@example.com")
    cases, total = views.list_complaints(uow, logistics_agent, ComplaintFilter())
    assert total == 1 and cases[0].department == "logistics"
    with pytest.raises(PermissionDenied) as refused:
        views.get_complaint(uow, logistics_agent, billing)
    assert "the Finance department" in str(refused.value)
    _, everything = views.list_complaints(uow, staff(uow, "admin@example.com"), ComplaintFilter())
    assert everything == 2


def test_listing_filters(uow) -> None:
    admin = staff(uow, "admin@example.com")
    record(uow, category="delivery", channel="phone")
    record(uow, category="billing", channel="email")
    reviewed = record(uow, category="billing", channel="social_media").reference
    services.start_review(uow, admin, reviewed)

    def references(**criteria) -> list[str]:
        return [c.reference for c in views.list_complaints(uow, admin, ComplaintFilter(**criteria))[0]]

    assert len(references(department="finance")) == 2
    assert references(status="in_review") == [reviewed]
    assert len(references(channel="email")) == 1
    assert len(references(category="delivery")) == 1
    assert references(limit=1) == [reviewed]  # newest first


def test_agents_may_not_close_or_erase_but_leads_may_close(uow) -> None:
    agent, lead = staff(uow, "lukas.schmidt@example.com"), staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference
    to_informed(uow, agent, reference)
    with pytest.raises(PermissionDenied) as refused:
        services.close_complaint(uow, agent, reference)
    assert refused.value.why == "role"
    assert services.close_complaint(uow, lead, reference).status == "closed"


def test_a_customer_sees_only_the_cases_of_their_own_conversation(uow) -> None:
    mine = Actor.customer(channel="whatsapp", external_id="+905320000001")
    stranger = Actor.customer(channel="whatsapp", external_id="+905320000002")
    reference = services.record_complaint(
        uow, mine, channel="whatsapp", language="en", category="billing", description="Charged twice"
    ).case.reference
    assert views.get_complaint(uow, mine, reference).status == "received"
    with pytest.raises(PermissionDenied):
        views.get_complaint(uow, stranger, reference)
    with pytest.raises(PermissionDenied):
        services.withdraw_complaint(uow, stranger, reference)
    with pytest.raises(PermissionDenied):
        services.start_review(uow, mine, reference)
    assert views.list_complaints(uow, stranger, ComplaintFilter())[1] == 0
    assert services.withdraw_complaint(uow, mine, reference).close_reason == "withdrawn"


def test_unrecognised_messages_are_kept_masked(uow) -> None:
    kept = teaching.keep_unrecognised_message(
        uow,
        channel="telegram",
        conversation_id="555001",
        language="tr",
        text="Benim adım Ali Veli, numaram 0532 123 45 67, mail ali.veli@example.com, CMP-2026-000042 blorf",
        predicted_intent="inform",
        confidence=0.21,
        reason="low_confidence",
    )
    with uow:
        item = uow.session.get(UnrecognisedMessage, kept)
        assert item.text == "Benim adım <name>, numaram <phone>, mail <email>, <reference> blorf"
        assert (item.status, item.predicted_intent, item.language) == ("open", "inform", "tr")


def test_this_months_figures_count_the_departments_cases_and_leave_no_connection_open(
    uow, engine, clock
) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    first = record(uow, category="delivery").reference
    record(uow, category="delivery")
    record(uow, category="billing")  # another department's
    services.start_review(uow, lead, first)
    clock.advance(hours=5)
    services.decide_complaint(uow, lead, first, justified=True, reason="Late")
    clock.advance(days=5)  # the other delivery case is overdue by now

    gc.disable()  # a session left open must not be rescued by the garbage collector
    try:
        figures = staff_views.month_figures(uow, lead, clock.now.year, clock.now.month)
        assert engine.pool.checkedout() == 0  # every session it opened was closed
    finally:
        gc.enable()

    assert (figures.received, figures.justified, figures.unjustified, figures.open_now) == (2, 1, 0, 2)
    assert figures.median_hours_to_decide == 5 and figures.justified_rate == 1
    assert figures.overdue_now == 2
