"""Finding cases over HTTP: filters, departments, deadlines, and intake that is safe to repeat."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import API, DELIVERY_COMPLAINT
from tests.conftest import Clock

Headers = dict[str, str]


def listed(client: TestClient, headers: Headers, **query: Any) -> tuple[set[str], int]:
    response = client.get(f"{API}/complaints", params=query, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return {item["reference"] for item in body["items"]}, body["total"]


def test_the_listing_filters_by_status_department_channel_and_category(
    client: TestClient, agent: Headers, admin: Headers, record: Callable[..., dict[str, Any]]
) -> None:
    by_phone = record()["reference"]
    billing = record(channel="email", language="en", category="billing", description="Charged twice")[
        "reference"
    ]
    on_the_web = record(channel="web", description="Kargo kayboldu")["reference"]
    assert client.post(f"{API}/complaints/{on_the_web}/review", headers=agent).status_code == 200

    assert listed(client, admin) == ({by_phone, billing, on_the_web}, 3)
    assert listed(client, admin, status="in_review") == ({on_the_web}, 1)
    assert listed(client, admin, department="finance") == ({billing}, 1)
    assert listed(client, admin, channel="phone") == ({by_phone}, 1)
    assert listed(client, admin, category="delivery") == ({by_phone, on_the_web}, 2)
    assert listed(client, admin, category="delivery", status="received") == ({by_phone}, 1)
    first_page, total = listed(client, admin, limit=2)
    second_page, _ = listed(client, admin, limit=2, offset=2)
    assert (len(first_page), len(second_page), total) == (2, 1, 3)
    assert first_page | second_page == {by_phone, billing, on_the_web}


def test_the_listing_shows_a_summary_of_each_case(
    client: TestClient, admin: Headers, record: Callable[..., dict[str, Any]]
) -> None:
    reference = record()["reference"]

    item = client.get(f"{API}/complaints", headers=admin).json()["items"][0]

    assert item == {
        "reference": reference,
        "status": "received",
        "channel": "phone",
        "language": "tr",
        "category": "delivery",
        "department": "logistics",
        "priority": "normal",
        "received_at": "2026-10-05T09:00:00Z",
        "overdue": False,
    }


def test_overdue_lists_the_open_cases_with_a_deadline_passed(
    client: TestClient, agent: Headers, record: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    late = record()["reference"]
    clock.advance(hours=2)
    on_time = record()["reference"]

    assert listed(client, agent, overdue=True) == ({late}, 1)
    assert listed(client, agent, overdue=False) == ({late, on_time}, 2)
    summaries = client.get(f"{API}/complaints", headers=agent).json()["items"]
    assert {item["reference"]: item["overdue"] for item in summaries} == {late: True, on_time: False}


def test_an_agent_only_sees_their_own_departments_cases(
    client: TestClient,
    agent: Headers,
    as_staff: Callable[[str], Headers],
    record: Callable[..., dict[str, Any]],
) -> None:
    delivery = record()["reference"]
    billing = record(category="billing")["reference"]
    finance_agent = as_staff("emma.clarke@example.com")

    assert listed(client, agent) == ({delivery}, 1)
    assert listed(client, finance_agent) == ({billing}, 1)
    assert listed(client, agent, department="finance") == (set(), 0)


def test_the_sla_watchlist_shows_breached_and_soon_due_steps_of_the_readers_department(
    client: TestClient,
    agent: Headers,
    as_staff: Callable[[str], Headers],
    record: Callable[..., dict[str, Any]],
    clock: Clock,
) -> None:
    late = record()["reference"]
    clock.advance(hours=2)
    due_soon = record()["reference"]

    alerts = client.get(f"{API}/sla", headers=agent).json()["items"]
    breached_only = client.get(f"{API}/sla", params={"soon_hours": 0}, headers=agent).json()["items"]
    finance_view = client.get(f"{API}/sla", headers=as_staff("emma.clarke@example.com")).json()["items"]

    assert alerts == [
        {
            "reference": late,
            "department": "logistics",
            "step": "acknowledge",
            "due_at": "2026-10-05T10:00:00Z",
            "breached": True,
        },
        {
            "reference": due_soon,
            "department": "logistics",
            "step": "acknowledge",
            "due_at": "2026-10-05T12:00:00Z",
            "breached": False,
        },
    ]
    assert [alert["reference"] for alert in breached_only] == [late]
    assert finance_view == []


def test_the_same_idempotency_key_twice_records_one_complaint(
    client: TestClient, agent: Headers, admin: Headers, stored: Callable[[], dict[str, int]]
) -> None:
    headers = {**agent, "Idempotency-Key": "call-centre-4711"}
    first = client.post(f"{API}/complaints", json=DELIVERY_COMPLAINT, headers=headers)
    after_first = stored()

    replay = client.post(f"{API}/complaints", json=DELIVERY_COMPLAINT, headers=headers)

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json()["reference"] == first.json()["reference"]
    assert stored() == after_first
    assert listed(client, admin)[1] == 1


def test_the_idempotency_key_may_come_in_the_body(client: TestClient, agent: Headers, admin: Headers) -> None:
    body = {**DELIVERY_COMPLAINT, "idempotency_key": "web-form-0042"}
    first = client.post(f"{API}/complaints", json=body, headers=agent)

    replay = client.post(f"{API}/complaints", json=body, headers=agent)
    other = client.post(f"{API}/complaints", json={**body, "idempotency_key": "web-form-0043"}, headers=agent)

    assert (first.status_code, replay.status_code, other.status_code) == (201, 200, 201)
    assert replay.json()["reference"] == first.json()["reference"] != other.json()["reference"]
    assert listed(client, admin)[1] == 2
