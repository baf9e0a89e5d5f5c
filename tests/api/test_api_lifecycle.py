"""Whole cases driven over HTTP, as staff see them: statuses, timestamps, timeline, customer notices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import API, DELIVERY_COMPLAINT
from tests.conftest import Clock

Headers = dict[str, str]


def test_a_justified_case_runs_from_intake_through_a_follow_up_to_a_satisfied_customer(
    client: TestClient, agent: Headers, clock: Clock
) -> None:
    created = client.post(f"{API}/complaints", json=DELIVERY_COMPLAINT, headers=agent)
    assert created.status_code == 201
    case = created.json()
    reference = case["reference"]
    assert reference == "CMP-2026-000001"
    assert (case["status"], case["department"], case["language"]) == ("received", "logistics", "tr")
    assert "start_review" in case["allowed"]

    def step(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        clock.advance(hours=1)
        response = client.post(f"{API}/complaints/{reference}/{path}", json=body, headers=agent)
        assert response.status_code == 200, response.text
        return response.json()

    assert step("review")["status"] == "in_review"
    case = step("decision", {"justified": True, "reason": "The carrier damaged the parcel."})
    assert (case["status"], case["decision"]) == ("taking_action", "justified")
    assert case["decided_by"] == "staff:lukas.schmidt@example.com"
    step(
        "actions",
        {
            "kind": "corrective",
            "description": "Send a replacement",
            "owner_email": "lukas.schmidt@example.com",
            "due_date": "2026-10-09",
        },
    )
    case = step("actions", {"kind": "preventive", "description": "Pad fragile parcels"})
    corrective, preventive = case["actions"]
    assert (corrective["kind"], corrective["owner"], corrective["due_date"]) == (
        "corrective",
        "lukas.schmidt@example.com",
        "2026-10-09",
    )
    assert preventive["kind"] == "preventive"
    step(f"actions/{corrective['id']}/complete", {"outcome": "Replacement delivered"})
    step(f"actions/{preventive['id']}/complete", {"outcome": "Packing instructions updated"})
    assert step("inform", {"summary": "Yeni ürün gönderildi."})["status"] == "customer_informed"
    assert step("survey")["status"] == "survey_sent"

    case = step("survey-answer", {"score": 2, "comment": "Yeni ürün de geç geldi."})
    assert (case["status"], case["follow_up_round"]) == ("follow_up", 1)
    case = step("actions", {"kind": "corrective", "description": "Refund the shipping cost"})
    step(f"actions/{case['actions'][-1]['id']}/complete", {"outcome": "Refunded"})
    assert step("inform", {"summary": "Kargo ücreti iade edildi."})["status"] == "customer_informed"
    step("survey")
    case = step("survey-answer", {"score": 5})
    assert (case["status"], case["close_reason"]) == ("closed", "satisfied")

    shown = client.get(f"{API}/complaints/{reference}", headers={**agent, "Accept-Language": "tr"}).json()
    assert (shown["status"], shown["status_label"]) == ("closed", "Kapatıldı")
    assert shown["survey_scores"] == [2, 5]
    assert [action["outcome"] for action in shown["actions"]] == [
        "Replacement delivered",
        "Packing instructions updated",
        "Refunded",
    ]
    assert [action["follow_up_round"] for action in shown["actions"]] == [0, 0, 1]
    assert shown["timestamps"]["received_at"] == "2026-10-05T09:00:00Z"
    assert shown["timestamps"]["review_started_at"] == "2026-10-05T10:00:00Z"
    assert shown["timestamps"]["decided_at"] == "2026-10-05T11:00:00Z"
    assert shown["timestamps"]["follow_up_started_at"] == "2026-10-05T18:00:00Z"
    assert shown["timestamps"]["closed_at"] == "2026-10-05T23:00:00Z"
    assert shown["allowed"] == ["start_follow_up"]

    timeline = client.get(f"{API}/complaints/{reference}/timeline", headers=agent).json()["items"]
    assert [entry["what"] for entry in timeline if entry["kind"] == "audit"] == [
        "record",
        "start_review",
        "decide_justified",
        "add_action",
        "add_action",
        "complete_action",
        "complete_action",
        "inform_customer",
        "send_survey",
        "answer_dissatisfied",
        "add_action",
        "complete_action",
        "inform_customer",
        "send_survey",
        "answer_satisfied",
    ]
    notices = [entry for entry in timeline if entry["kind"] == "outbox"]
    assert [notice["what"] for notice in notices] == [
        "acknowledgement",
        "interim_notice",
        "action_summary",
        "survey",
        "follow_up_notice",
        "action_summary",
        "survey",
    ]
    assert {notice["details"]["language"] for notice in notices} == {"tr"}
    texts = [notice["details"]["text"] for notice in notices]
    assert f"Şikayetinizi {reference} referans numarasıyla kaydettik" in texts[0]
    assert "Lojistik departmanına ulaştı ve inceleme süreci başlatıldı" in texts[1]
    assert "Yeni ürün gönderildi." in texts[2]
    assert "1 (hiç memnun değilim) ile 5 (çok memnunum)" in texts[3]
    assert "Takip süreci başlatıldı" in texts[4]
    assert "Kargo ücreti iade edildi." in texts[5]


def test_an_unjustified_case_closes_with_the_explanation_queued_and_cannot_be_reopened(
    client: TestClient, agent: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("in_review")

    response = client.post(
        f"{API}/complaints/{reference}/decision",
        json={
            "justified": False,
            "reason": "Delivered on time according to the carrier's scan",
            "customer_explanation": "Kargo zamanında teslim edilmiş görünüyor.",
        },
        headers=agent,
    )

    assert response.status_code == 200
    case = response.json()
    assert (case["status"], case["decision"], case["close_reason"]) == (
        "closed",
        "unjustified",
        "unjustified",
    )
    timeline = client.get(f"{API}/complaints/{reference}/timeline", headers=agent).json()["items"]
    explanation = next(entry for entry in timeline if entry["what"] == "unjustified_explanation")
    assert "Kargo zamanında teslim edilmiş görünüyor." in explanation["details"]["text"]
    assert explanation["details"]["status"] == "pending"
    reopened = client.post(f"{API}/complaints/{reference}/follow-up", headers=agent)
    assert reopened.status_code == 409
    assert reopened.json()["error"]["code"] == "reopen_needs_justified"


def test_an_unjustified_decision_without_an_explanation_for_the_customer_is_refused(
    client: TestClient, agent: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("in_review")

    response = client.post(
        f"{API}/complaints/{reference}/decision",
        json={"justified": False, "reason": "Late claim"},
        headers=agent,
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "customer_explanation"
    assert client.get(f"{API}/complaints/{reference}", headers=agent).json()["status"] == "in_review"


def test_a_second_decision_is_told_who_already_decided(
    client: TestClient, agent: Headers, lead: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("in_review")
    decision = {"justified": True, "reason": "Parcel damaged"}
    assert (
        client.post(f"{API}/complaints/{reference}/decision", json=decision, headers=lead).status_code == 200
    )

    response = client.post(
        f"{API}/complaints/{reference}/decision",
        json={"justified": False, "reason": "No damage visible", "customer_explanation": "Hasar görülmedi."},
        headers=agent,
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "already_decided"
    assert "staff:elif.kaya@example.com" in error["message"]
    assert "Customer Justified" in error["message"]


def test_staff_can_start_a_follow_up_after_informing_the_customer(
    client: TestClient, agent: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("customer_informed")

    response = client.post(f"{API}/complaints/{reference}/follow-up", headers=agent)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["follow_up_round"]) == ("follow_up", 1)
    timeline = client.get(f"{API}/complaints/{reference}/timeline", headers=agent).json()["items"]
    assert timeline[-1]["what"] == "follow_up_notice"


def test_a_lead_expires_an_unanswered_survey(
    client: TestClient, agent: Headers, lead: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("survey_sent")

    assert client.post(f"{API}/complaints/{reference}/survey/expire", headers=agent).status_code == 403
    response = client.post(f"{API}/complaints/{reference}/survey/expire", headers=lead)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["close_reason"]) == ("closed", "no_response")


def test_messages_taken_by_staff_appear_in_the_timeline(
    client: TestClient, agent: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("in_review")

    response = client.post(
        f"{API}/complaints/{reference}/messages", json={"body": "Müşteri fotoğraf gönderdi."}, headers=agent
    )

    assert response.status_code == 200
    timeline = client.get(f"{API}/complaints/{reference}/timeline", headers=agent).json()["items"]
    message = next(entry for entry in timeline if entry["kind"] == "customer_message")
    assert (message["what"], message["actor"]) == ("Müşteri fotoğraf gönderdi.", "staff")


def test_a_lead_reassigns_a_case_to_another_department(
    client: TestClient, lead: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("received")

    unknown = client.post(
        f"{API}/complaints/{reference}/reassign", json={"department": "marketing"}, headers=lead
    )
    response = client.post(
        f"{API}/complaints/{reference}/reassign", json={"department": "quality"}, headers=lead
    )

    assert unknown.status_code == 422
    assert "technical_support" in unknown.json()["error"]["message"]
    assert response.status_code == 200
    assert response.json()["department"] == "quality"
    assert client.get(f"{API}/complaints/{reference}", headers=lead).status_code == 403


def test_a_complaint_is_withdrawn_on_the_customers_behalf(
    client: TestClient, agent: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("taking_action")

    response = client.post(f"{API}/complaints/{reference}/withdraw", headers=agent)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["close_reason"]) == ("closed", "withdrawn")


def test_answers_come_with_the_step_name_in_the_readers_language(
    client: TestClient, agent: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("received")

    response = client.post(f"{API}/complaints/{reference}/review", headers={**agent, "Accept-Language": "de"})

    assert response.json()["status_label"] == "Beschwerdeprüfungsprozess"
