"""The API as a running service: health check, OpenAPI, docs, and the factory uvicorn calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ccm_core.bootstrap import Core, bootstrap
from ccm_core.entrypoints.api import create_app
from ccm_core.settings import CoreSettings
from tests.api.helpers import API

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/ccm"


def test_healthz_reports_the_database_without_a_token(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[Core]:
    """A core whose database refuses connections (nothing listens on port 1)."""
    core = bootstrap(CoreSettings(data_dir=tmp_path, database_url=UNREACHABLE_DATABASE))
    yield core
    core.engine.dispose()


def test_healthz_is_503_when_the_database_is_unreachable(unreachable: Core) -> None:
    with TestClient(create_app(unreachable)) as client:
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
    assert "postgres" not in response.text


def test_a_request_while_the_database_is_unreachable_gets_503_json(unreachable: Core) -> None:
    with TestClient(create_app(unreachable)) as client:
        response = client.get(f"{API}/complaints", headers={"Authorization": "Bearer ccm_anything"})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


def test_without_a_core_the_app_runs_on_the_environments_settings(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCM_DATABASE_URL", database_url)

    with TestClient(create_app()) as client:
        response = client.get("/healthz")

    assert response.json() == {"status": "ok", "database": "ok"}


def test_openapi_lists_every_path_of_the_process(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    assert schema["info"]["title"] == "CCM — customer complaint management"
    assert set(schema["paths"]) == {
        "/healthz",
        f"{API}/complaints",
        f"{API}/complaints/{{reference}}",
        f"{API}/complaints/{{reference}}/timeline",
        f"{API}/complaints/{{reference}}/review",
        f"{API}/complaints/{{reference}}/decision",
        f"{API}/complaints/{{reference}}/actions",
        f"{API}/complaints/{{reference}}/actions/{{action_id}}/complete",
        f"{API}/complaints/{{reference}}/inform",
        f"{API}/complaints/{{reference}}/survey",
        f"{API}/complaints/{{reference}}/survey-answer",
        f"{API}/complaints/{{reference}}/survey/expire",
        f"{API}/complaints/{{reference}}/follow-up",
        f"{API}/complaints/{{reference}}/close",
        f"{API}/complaints/{{reference}}/withdraw",
        f"{API}/complaints/{{reference}}/messages",
        f"{API}/complaints/{{reference}}/reassign",
        f"{API}/complaints/{{reference}}/customer/erase",
        f"{API}/complaints/{{reference}}/customer/export",
        f"{API}/complaints/{{reference}}/attachments/{{attachment_id}}",
        f"{API}/sla",
    }
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_the_interactive_docs_are_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()
