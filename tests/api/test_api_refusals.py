"""Bad input and impossible steps: a 4xx JSON error the user can act on, and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import API, DELIVERY_COMPLAINT

Headers = dict[str, str]
Counts = Callable[[], dict[str, int]]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["error"]


@pytest.mark.parametrize(
    ("field", "value", "choices"),
    [
        ("channel", "pigeon", "email, phone, call_centre, survey, operational_visit, social_media"),
        ("category", "weather", "billing, delivery, other, privacy, product_defect, refund"),
        ("language", "fr", "tr, en, de"),
        ("priority", "whenever", "low, normal, high, urgent"),
    ],
)
def test_an_unknown_choice_is_refused_naming_the_choices(
    client: TestClient, agent: Headers, stored: Counts, field: str, value: str, choices: str
) -> None:
    before = stored()

    response = client.post(f"{API}/complaints", json={**DELIVERY_COMPLAINT, field: value}, headers=agent)

    error = error_of(response, 422)
    assert (error["code"], error["field"], error["problem"]) == ("validation_failed", field, "unknown_choice")
    assert f"'{value}' is not known" in error["message"]
    assert choices in error["message"]
    assert stored() == before


def test_a_description_over_the_limit_is_refused_and_one_at_the_limit_accepted(
    client: TestClient, agent: Headers, stored: Counts
) -> None:
    before = stored()

    too_long = client.post(
        f"{API}/complaints", json={**DELIVERY_COMPLAINT, "description": "x" * 5001}, headers=agent
    )

    error = error_of(too_long, 422)
    assert (error["field"], error["problem"]) == ("description", "too_long")
    assert (
        error["message"] == "description is too long: at most 5000 characters are accepted, 5001 were sent."
    )
    assert stored() == before
    at_limit = client.post(
        f"{API}/complaints", json={**DELIVERY_COMPLAINT, "description": "x" * 5000}, headers=agent
    )
    assert at_limit.status_code == 201


@pytest.mark.parametrize(
    ("customer", "field", "problem"),
    [
        ({"email": "ali at example"}, "email", "invalid_email"),
        ({"phone": "call me"}, "phone", "invalid_phone"),
        ({"name": "A" * 201}, "name", "too_long"),
    ],
)
def test_unusable_contact_details_are_refused(
    client: TestClient, agent: Headers, stored: Counts, customer: dict[str, str], field: str, problem: str
) -> None:
    before = stored()

    response = client.post(
        f"{API}/complaints", json={**DELIVERY_COMPLAINT, "customer": customer}, headers=agent
    )

    error = error_of(response, 422)
    assert (error["field"], error["problem"]) == (field, problem)
    assert stored() == before


@pytest.mark.parametrize(
    ("answer", "field", "problem"),
    [
        ({"score": 9}, "score", "out_of_range"),
        ({"score": 0}, "score", "out_of_range"),
        ({"score": True}, "score", "invalid_value"),
        ({"score": 5, "nps": 11}, "nps", "out_of_range"),
    ],
)
def test_a_survey_score_outside_one_to_five_or_an_nps_outside_zero_to_ten_is_refused(
    client: TestClient,
    agent: Headers,
    case_at: Callable[[str], str],
    stored: Counts,
    answer: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    reference = case_at("survey_sent")
    before = stored()

    response = client.post(f"{API}/complaints/{reference}/survey-answer", json=answer, headers=agent)

    error = error_of(response, 422)
    assert (error["field"], error["problem"]) == (field, problem)
    if field == "score" and problem == "out_of_range":
        assert error["message"] == "score must be between 1 and 5."
    assert stored() == before
    assert client.get(f"{API}/complaints/{reference}", headers=agent).json()["status"] == "survey_sent"


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({**DELIVERY_COMPLAINT, "description": 123}, "description", "invalid_value"),
        ({**DELIVERY_COMPLAINT, "channel": ["phone"]}, "channel", "invalid_value"),
        ({**DELIVERY_COMPLAINT, "customer": "Ali Veli"}, "customer", "invalid_value"),
        ({**DELIVERY_COMPLAINT, "customer": {"email": 42}}, "customer.email", "invalid_value"),
        (
            {key: value for key, value in DELIVERY_COMPLAINT.items() if key != "category"},
            "category",
            "required",
        ),
        (["not", "an", "object"], "body", "invalid_value"),
        (None, "body", "required"),
    ],
    ids=["number", "list", "customer-text", "email-number", "missing", "array", "no-body"],
)
def test_a_body_of_the_wrong_shape_gets_a_422_json_error(
    client: TestClient, agent: Headers, stored: Counts, body: Any, field: str, problem: str
) -> None:
    before = stored()

    response = client.post(f"{API}/complaints", json=body, headers=agent)

    error = error_of(response, 422)
    assert (error["code"], error["field"], error["problem"]) == ("validation_failed", field, problem)
    assert error["message"].startswith(field)
    assert error["problems"][0] == {"field": field, "problem": problem, "message": error["message"]}
    assert stored() == before


def test_malformed_json_gets_a_422_json_error_in_the_readers_language(
    client: TestClient, agent: Headers, stored: Counts
) -> None:
    before = stored()

    response = client.post(
        f"{API}/complaints",
        content=b'{"channel": "phone", "description": ',
        headers={**agent, "Content-Type": "application/json", "Accept-Language": "de"},
    )

    error = error_of(response, 422)
    assert (error["field"], error["problem"]) == ("body", "invalid_value")
    assert error["message"].startswith("body ist ungültig:")
    assert stored() == before


def test_a_missing_field_is_named_in_the_readers_language(
    client: TestClient, agent: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("in_review")

    response = client.post(
        f"{API}/complaints/{reference}/decision",
        json={"justified": True},
        headers={**agent, "Accept-Language": "tr"},
    )

    error = error_of(response, 422)
    assert error["message"] == "reason alanı zorunludur."


@pytest.mark.parametrize(
    "raw_description", [r'"Kargo \u0000 hasarli"', r'"Kargo \ud800 hasarli"'], ids=["nul", "lone-surrogate"]
)
def test_text_no_database_can_store_is_refused_before_it_reaches_one(
    client: TestClient, agent: Headers, stored: Counts, raw_description: str
) -> None:
    before = stored()
    body = (
        f'{{"channel": "phone", "language": "tr", "category": "delivery", "description": {raw_description}}}'
    )

    response = client.post(
        f"{API}/complaints", content=body.encode(), headers={**agent, "Content-Type": "application/json"}
    )

    error = error_of(response, 422)
    assert (error["field"], error["problem"]) == ("description", "invalid_value")
    assert stored() == before


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=100000", "limit=ten", "offset=-1", "offset=99999999999999999999", "overdue=maybe"],
)
def test_listing_parameters_out_of_range_are_refused(client: TestClient, agent: Headers, query: str) -> None:
    error = error_of(client.get(f"{API}/complaints?{query}", headers=agent), 422)
    assert error["field"] == query.split("=")[0]


@pytest.mark.parametrize("soon_hours", ["-1", "nan", "inf", "1e308", "soon"])
def test_an_sla_horizon_that_is_not_a_sensible_number_of_hours_is_refused(
    client: TestClient, agent: Headers, soon_hours: str
) -> None:
    error = error_of(client.get(f"{API}/sla", params={"soon_hours": soon_hours}, headers=agent), 422)
    assert error["field"] == "soon_hours"


def test_a_step_the_process_does_not_allow_now_gets_409_with_the_current_step_and_what_is_possible(
    client: TestClient, agent: Headers, case_at: Callable[[str], str], stored: Counts
) -> None:
    reference = case_at("received")
    before = stored()

    response = client.post(f"{API}/complaints/{reference}/survey", headers=agent)

    error = error_of(response, 409)
    assert error["code"] == "invalid_transition"
    assert error["current"] == "received"
    assert error["allowed"] == [
        "start_review",
        "withdraw",
        "add_customer_message",
        "reassign",
        "request_human",
        "take",
    ]
    assert error["message"] == (
        f"Complaint {reference} is at step 'Creating a complaint record', where 'send the satisfaction "
        "survey (09)' is not possible. Possible now: start the review (03), withdraw the complaint, "
        "add information, reassign to another department, hand the conversation to a person, take the case."
    )
    assert stored() == before


@pytest.mark.parametrize(
    ("accept_language", "step_name"),
    [
        ("tr", "Şikayet İnceleme Süreci"),
        ("de-DE,de;q=0.9,en;q=0.5", "Beschwerdeprüfungsprozess"),
        ("fr-FR, de;q=0.7", "Beschwerdeprüfungsprozess"),
        ("fr", "Complaint Review Process"),
        (None, "Complaint Review Process"),
    ],
)
def test_the_refusal_names_the_charts_step_in_the_readers_language(
    client: TestClient,
    agent: Headers,
    case_at: Callable[[str], str],
    accept_language: str | None,
    step_name: str,
) -> None:
    reference = case_at("in_review")
    headers = {**agent, "Accept-Language": accept_language} if accept_language else agent

    response = client.post(f"{API}/complaints/{reference}/survey", headers=headers)

    error = error_of(response, 409)
    assert f"'{step_name}'" in error["message"]
    assert error["current"] == "in_review"


def test_informing_the_customer_before_any_action_is_refused(
    client: TestClient, agent: Headers, case_at: Callable[[str], str], stored: Counts
) -> None:
    reference = case_at("taking_action")
    before = stored()

    response = client.post(f"{API}/complaints/{reference}/inform", json={"summary": "Done"}, headers=agent)

    error = error_of(response, 409)
    assert error["code"] == "no_actions"
    assert stored() == before


def test_unknown_complaints_actions_staff_and_paths_get_404(
    client: TestClient, agent: Headers, case_at: Callable[[str], str], stored: Counts
) -> None:
    reference = case_at("taking_action")
    before = stored()

    missing_case = client.get(f"{API}/complaints/CMP-2026-999999", headers=agent)
    missing_action = client.post(
        f"{API}/complaints/{reference}/actions/424242/complete", json={"outcome": "Done"}, headers=agent
    )
    missing_owner = client.post(
        f"{API}/complaints/{reference}/actions",
        json={"kind": "corrective", "description": "Call back", "owner_email": "nobody@example.com"},
        headers=agent,
    )
    missing_path = client.get(f"{API}/complaints/{reference}/history", headers=agent)

    assert error_of(missing_case, 404)["message"] == "Complaint 'CMP-2026-999999' was not found."
    assert error_of(missing_action, 404)["code"] == "not_found"
    assert error_of(missing_owner, 404)["message"] == "Staff member 'nobody@example.com' was not found."
    assert error_of(missing_path, 404)["code"] == "not_found"
    assert stored() == before


def test_a_method_a_path_does_not_take_gets_405_json(client: TestClient, agent: Headers) -> None:
    error = error_of(client.get(f"{API}/complaints/CMP-2026-000001/review", headers=agent), 405)
    assert error["code"] == "http_error"


def test_a_reference_no_database_can_look_up_is_refused(client: TestClient, agent: Headers) -> None:
    error = error_of(client.get(f"{API}/complaints/CMP%00", headers=agent), 422)
    assert error["field"] == "reference"


def test_an_action_of_an_unknown_kind_is_refused(
    client: TestClient, agent: Headers, case_at: Callable[[str], str], stored: Counts
) -> None:
    reference = case_at("taking_action")
    before = stored()

    response = client.post(
        f"{API}/complaints/{reference}/actions",
        json={"kind": "cosmetic", "description": "Paint"},
        headers=agent,
    )

    error = error_of(response, 422)
    assert (error["field"], error["problem"]) == ("kind", "unknown_choice")
    assert "corrective, preventive" in error["message"]
    assert stored() == before


def test_contact_details_and_texts_are_never_logged(
    client: TestClient, agent: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")

    client.post(f"{API}/complaints", json=DELIVERY_COMPLAINT, headers=agent)
    client.post(f"{API}/complaints", json={**DELIVERY_COMPLAINT, "channel": "pigeon"}, headers=agent)

    logged = caplog.text
    for secret in ("ali.veli@example.com", "532", "Ali Veli", "Kargom"):
        assert secret not in logged
