"""Who may do what over HTTP: tokens, roles and departments, as the refused user sees it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import API, DELIVERY_COMPLAINT

Headers = dict[str, str]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ccm_not-a-token", "Basic bHVrYXM6c2VjcmV0", "Bearer"],
    ids=["missing", "unknown", "not-bearer", "empty"],
)
def test_a_request_without_a_valid_token_gets_401_and_writes_nothing(
    client: TestClient, authorization: str | None, stored: Callable[[], dict[str, int]]
) -> None:
    before = stored()
    headers = {"Authorization": authorization} if authorization else {}

    response = client.post(f"{API}/complaints", json=DELIVERY_COMPLAINT, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "error": {"code": "unauthenticated", "message": "A valid bearer token is required."}
    }
    assert stored() == before


def test_the_401_message_is_in_the_readers_language(client: TestClient) -> None:
    response = client.get(f"{API}/complaints", headers={"Accept-Language": "tr-TR,tr;q=0.9"})

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Geçerli bir bearer token gerekli."


def test_an_agent_of_another_department_is_told_whose_case_it_is(
    client: TestClient,
    as_staff: Callable[[str], Headers],
    case_at: Callable[[str], str],
    stored: Callable[[], dict[str, int]],
) -> None:
    reference = case_at("received")
    finance_agent = as_staff("emma.clarke@example.com")
    before = stored()

    refusals = [
        client.post(f"{API}/complaints/{reference}/review", headers=finance_agent),
        client.get(f"{API}/complaints/{reference}", headers=finance_agent),
        client.get(f"{API}/complaints/{reference}/timeline", headers=finance_agent),
    ]

    for response in refusals:
        assert response.status_code == 403
        error = response.json()["error"]
        assert (error["code"], error["why"]) == ("permission_denied", "other_department")
        assert error["message"] == (
            f"Complaint {reference} belongs to the Logistics department; "
            "you may only act on your own department's complaints."
        )
    assert stored() == before


def test_an_agent_may_not_close_a_case_but_the_lead_may(
    client: TestClient, agent: Headers, lead: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("customer_informed")

    refused = client.post(f"{API}/complaints/{reference}/close", headers=agent)
    closed = client.post(f"{API}/complaints/{reference}/close", headers=lead)

    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Your role (agent) may not close the record."
    assert closed.status_code == 200
    assert (closed.json()["status"], closed.json()["close_reason"]) == ("closed", "resolved")


def test_a_lead_may_not_act_on_another_departments_case(
    client: TestClient, as_staff: Callable[[str], Headers], case_at: Callable[[str], str]
) -> None:
    reference = case_at("customer_informed")
    customer_care_lead = as_staff("ayse.yilmaz@example.com")

    response = client.post(
        f"{API}/complaints/{reference}/close", headers={**customer_care_lead, "Accept-Language": "tr"}
    )

    assert response.status_code == 403
    assert "Lojistik departmanına ait" in response.json()["error"]["message"]


def test_only_an_admin_may_erase_a_customers_personal_data(
    client: TestClient, agent: Headers, lead: Headers, admin: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("in_review")
    path = f"{API}/complaints/{reference}/customer/erase"

    refusals = [client.post(path, headers=agent), client.post(path, headers=lead)]
    erased = client.post(path, headers=admin)
    again = client.post(path, headers=admin)

    assert [response.status_code for response in refusals] == [403, 403]
    assert (
        refusals[1].json()["error"]["message"]
        == "Your role (lead) may not erase the customer's personal data."
    )
    assert erased.status_code == 200
    assert erased.json() == {"erased_complaints": 1}
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "customer_erased"
    case = client.get(f"{API}/complaints/{reference}", headers=admin).json()
    assert case["customer"] == {"name": None, "email": None, "phone": None, "erased": True}
    assert case["description"] == "[erased]"
    timeline = client.get(f"{API}/complaints/{reference}/timeline", headers=admin).json()["items"]
    notices = [entry["details"] for entry in timeline if entry["kind"] == "outbox"]
    assert {notice["text"] for notice in notices} == {"[erased]"}
    assert {notice["status"] for notice in notices} == {"cancelled"}


def test_an_admin_sees_and_acts_on_every_department(
    client: TestClient, admin: Headers, case_at: Callable[[str], str]
) -> None:
    reference = case_at("received")

    response = client.post(f"{API}/complaints/{reference}/review", headers=admin)

    assert response.status_code == 200
    assert response.json()["status"] == "in_review"
