"""The API over HTTP (ASGI, in process) on a seeded database of each kind, with the test clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ccm_core.bootstrap import Core
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.queues import OutboxMessage
from ccm_core.domain.records import AuditEvent
from ccm_core.entrypoints.api import create_app
from ccm_core.service_layer import access
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import CoreSettings
from tests.api.helpers import API, DELIVERY_COMPLAINT

DEMO_ROLES = {
    "admin@example.com": "admin",
    "ayse.yilmaz@example.com": "lead",
    "mehmet.demir@example.com": "agent",
    "emma.clarke@example.com": "agent",
    "elif.kaya@example.com": "lead",
    "lukas.schmidt@example.com": "agent",
}
Headers = dict[str, str]


@pytest.fixture
def core(uow: UnitOfWork, settings: CoreSettings, engine: Engine, make_uow: Callable[[], UnitOfWork]) -> Core:
    """The core on the seeded test database, its units of work on the test clock."""
    return Core(settings, engine, make_uow)


@pytest.fixture
def client(core: Core) -> Iterator[TestClient]:
    with TestClient(create_app(core)) as client:
        yield client


@pytest.fixture
def as_staff(make_uow: Callable[[], UnitOfWork], uow: UnitOfWork) -> Callable[[str], Headers]:
    """Authorization headers for a demo staff member, with a token of their role."""

    def headers(email: str) -> Headers:
        token = access.create_api_token(make_uow(), role=DEMO_ROLES[email], staff_email=email)
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def agent(as_staff: Callable[[str], Headers]) -> Headers:
    """Lukas Schmidt, agent in logistics, where delivery complaints go."""
    return as_staff("lukas.schmidt@example.com")


@pytest.fixture
def lead(as_staff: Callable[[str], Headers]) -> Headers:
    """Elif Kaya, lead of logistics."""
    return as_staff("elif.kaya@example.com")


@pytest.fixture
def admin(as_staff: Callable[[str], Headers]) -> Headers:
    return as_staff("admin@example.com")


@pytest.fixture
def record(client: TestClient, agent: Headers) -> Callable[..., dict[str, Any]]:
    """Record a complaint over HTTP (a delivery complaint unless told otherwise); returns the case."""

    def record(**changes: Any) -> dict[str, Any]:
        response = client.post(f"{API}/complaints", json={**DELIVERY_COMPLAINT, **changes}, headers=agent)
        assert response.status_code == 201, response.text
        return response.json()

    return record


@pytest.fixture
def case_at(
    client: TestClient, agent: Headers, record: Callable[..., dict[str, Any]]
) -> Callable[[str], str]:
    """A new delivery complaint walked over HTTP to ``status``; returns its reference."""
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        ("in_review", "review", None),
        ("taking_action", "decision", {"justified": True, "reason": "Carrier damaged the parcel"}),
        ("taking_action", "actions", {"kind": "corrective", "description": "Send a replacement"}),
        ("taking_action", "actions/{action}/complete", {"outcome": "Replacement delivered"}),
        ("customer_informed", "inform", {"summary": "A replacement was sent."}),
        ("survey_sent", "survey", None),
    ]

    def walk(status: str) -> str:
        case = record()
        reference = case["reference"]
        for reached, path, body in steps:
            if case["status"] == status:
                break
            action = case["actions"][-1]["id"] if case["actions"] else None
            response = client.post(
                f"{API}/complaints/{reference}/{path.format(action=action)}", json=body, headers=agent
            )
            assert response.status_code == 200, response.text
            case = response.json()
            assert case["status"] == reached
        assert case["status"] == status
        return reference

    return walk


@pytest.fixture
def stored(make_uow: Callable[[], UnitOfWork]) -> Callable[[], dict[str, int]]:
    """How many complaints, audit events and outbox messages the database holds."""

    def counts() -> dict[str, int]:
        with make_uow() as unit:
            return {
                model.__tablename__: unit.session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Complaint, AuditEvent, OutboxMessage)
            }

    return counts
