"""Steps 03–11 of the chart through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ccm_core.domain.errors import InvalidTransition, NotFound, PreconditionFailed, ValidationFailed
from ccm_core.service_layer import services, views
from tests.service.helpers import audit_actions, outbox, record, staff, to_informed


def test_justified_complaint_walks_the_whole_chart(uow, clock) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference

    clock.advance(hours=1)
    case = services.start_review(uow, lead, reference)
    assert case.status == "in_review" and case.timestamps["review_started_at"] == clock.now

    clock.advance(hours=5)
    case = services.decide_complaint(uow, lead, reference, justified=True, reason="Carrier damaged it")
    assert (case.status, case.decision, case.decided_by) == (
        "taking_action",
        "justified",
        "staff:elif.kaya@example.com",
    )
    case = services.add_action(
        uow,
        lead,
        reference,
        kind="corrective",
        description="Ship a replacement",
        owner_email="lukas.schmidt@example.com",
    )
    case = services.add_action(
        uow, lead, reference, kind="preventive", description="Padding for fragile items"
    )
    assert [(a.kind, a.owner) for a in case.actions] == [
        ("corrective", "lukas.schmidt@example.com"),
        ("preventive", None),
    ]
    for action in case.actions:
        clock.advance(hours=2)
        case = services.complete_action(uow, lead, reference, action_id=action.id, outcome="Done")
    assert all(a.done_at is not None for a in case.actions)

    case = services.inform_customer(uow, lead, reference, summary="Yeni ürün gönderildi.")
    assert case.status == "customer_informed"
    case = services.send_survey(uow, lead, reference)
    assert case.status == "survey_sent"
    case = services.record_survey_answer(uow, lead, reference, score=5, comment="Teşekkürler")
    assert (case.status, case.close_reason, case.survey_scores) == ("closed", "satisfied", [5])
    for step in (
        "received_at",
        "review_started_at",
        "decided_at",
        "informed_at",
        "survey_sent_at",
        "closed_at",
    ):
        assert case.timestamps[step] is not None, step

    assert audit_actions(uow, reference) == [
        "record",
        "start_review",
        "decide_justified",
        "add_action",
        "add_action",
        "complete_action",
        "complete_action",
        "inform_customer",
        "send_survey",
        "answer_satisfied",
    ]
    messages = outbox(uow, reference)
    assert [m.kind for m in messages] == ["acknowledgement", "interim_notice", "action_summary", "survey"]
    assert all(m.language == "tr" for m in messages)
    assert "Lojistik" in messages[1].body and "inceleme süreci başlatıldı" in messages[1].body
    assert "Yeni ürün gönderildi." in messages[2].body
    assert [c["score"] for c in messages[3].payload["choices"]] == [1, 2, 3, 4, 5]


def test_unjustified_complaint_tells_the_customer_why_and_closes(uow) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow, language="de").reference
    services.start_review(uow, lead, reference)
    with pytest.raises(ValidationFailed) as missing:
        services.decide_complaint(uow, lead, reference, justified=False, reason="Delivered intact")
    assert missing.value.field == "customer_explanation"
    case = services.decide_complaint(
        uow,
        lead,
        reference,
        justified=False,
        reason="Photo at delivery shows an intact parcel",
        customer_explanation="Das Foto bei der Zustellung zeigt ein unbeschädigtes Paket.",
    )
    assert (case.status, case.close_reason, case.decision) == ("closed", "unjustified", "unjustified")
    explanation = outbox(uow, reference)[-1]
    assert explanation.kind == "unjustified_explanation"
    assert "Das Foto bei der Zustellung" in explanation.body and "nicht berechtigt" in explanation.body
    with pytest.raises(PreconditionFailed) as reopen:
        services.start_follow_up(uow, lead, reference)
    assert reopen.value.code == "reopen_needs_justified"


def test_dissatisfied_customer_starts_a_follow_up_round(uow) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow, language="en").reference
    to_informed(uow, lead, reference)
    services.send_survey(uow, lead, reference)
    case = services.record_survey_answer(uow, lead, reference, score=2, comment="Still broken")
    assert (case.status, case.follow_up_round) == ("follow_up", 1)
    assert outbox(uow, reference)[-1].kind == "follow_up_notice"

    case = services.add_action(uow, lead, reference, kind="corrective", description="Refund instead")
    assert case.actions[-1].follow_up_round == 1
    services.complete_action(uow, lead, reference, action_id=case.actions[-1].id, outcome="Refunded")
    services.inform_customer(uow, lead, reference, summary="We refunded you.")
    services.send_survey(uow, lead, reference)
    case = services.record_survey_answer(uow, lead, reference, score=4)
    assert (case.status, case.close_reason, case.survey_scores) == ("closed", "satisfied", [2, 4])
    assert [m.kind for m in outbox(uow, reference)].count("survey") == 2


def test_unanswered_survey_expires_as_no_response(uow) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference
    to_informed(uow, lead, reference)
    services.send_survey(uow, lead, reference)
    case = services.expire_survey(uow, lead, reference)
    assert (case.status, case.close_reason) == ("closed", "no_response")


def test_closed_justified_case_can_be_reopened_for_follow_up(uow) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference
    to_informed(uow, lead, reference)
    services.close_complaint(uow, lead, reference)
    case = services.start_follow_up(uow, lead, reference)
    assert (case.status, case.follow_up_round, case.close_reason) == ("follow_up", 1, None)


def test_invalid_transition_names_the_step_and_what_is_possible(uow) -> None:
    agent = staff(uow, "lukas.schmidt@example.com")
    reference = record(uow).reference
    with pytest.raises(InvalidTransition) as refused:
        services.send_survey(uow, agent, reference)
    assert refused.value.current == "received"
    assert "start_review" in refused.value.allowed
    assert "Creating a complaint record" in str(refused.value)
    assert "incelemeyi başlatmak" in refused.value.message("tr")
    assert audit_actions(uow, reference) == ["record"]
    assert views.get_complaint(uow, agent, reference).status == "received"


def test_customer_cannot_be_informed_while_actions_are_open(uow) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference
    services.start_review(uow, lead, reference)
    services.decide_complaint(uow, lead, reference, justified=True, reason="Yes")
    with pytest.raises(PreconditionFailed) as no_action:
        services.inform_customer(uow, lead, reference, summary="Nothing yet")
    assert no_action.value.code == "no_actions"
    case = services.add_action(uow, lead, reference, kind="corrective", description="Replace")
    with pytest.raises(PreconditionFailed) as still_open:
        services.inform_customer(uow, lead, reference, summary="Almost")
    assert still_open.value.code == "open_actions" and "1" in str(still_open.value)
    services.complete_action(uow, lead, reference, action_id=case.actions[0].id, outcome="Replaced")
    with pytest.raises(PreconditionFailed) as twice:
        services.complete_action(uow, lead, reference, action_id=case.actions[0].id, outcome="Again")
    assert twice.value.code == "action_already_done"
    with pytest.raises(NotFound):
        services.complete_action(uow, lead, reference, action_id=9999, outcome="?")


def test_survey_score_must_be_one_to_five(uow) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference
    to_informed(uow, lead, reference)
    services.send_survey(uow, lead, reference)
    for score in (0, 6):
        with pytest.raises(ValidationFailed):
            services.record_survey_answer(uow, lead, reference, score=score)
    assert views.get_complaint(uow, lead, reference).status == "survey_sent"


def test_customer_messages_and_withdrawal(uow) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference
    services.add_customer_message(uow, lead, reference, body="Customer called: the box was wet too.")
    case = services.withdraw_complaint(uow, lead, reference)
    assert (case.status, case.close_reason) == ("closed", "withdrawn")
    timeline = views.complaint_timeline(uow, lead, reference)
    assert [e.what for e in timeline if e.kind == "customer_message"] == [
        "Customer called: the box was wet too."
    ]
    with pytest.raises(InvalidTransition):
        services.add_customer_message(uow, lead, reference, body="Too late")


def test_reassign_moves_the_case_to_another_department(uow) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference
    case = services.reassign_complaint(uow, lead, reference, department="quality")
    assert case.department == "quality"
    with pytest.raises(ValidationFailed):
        services.reassign_complaint(uow, staff(uow, "admin@example.com"), reference, department="weather")


def test_unknown_reference_is_not_found(uow) -> None:
    with pytest.raises(NotFound) as missing:
        services.start_review(uow, staff(uow, "elif.kaya@example.com"), "CMP-2026-999999")
    assert "CMP-2026-999999" in missing.value.message("de")
