"""The customer's copy over HTTP: JSON for systems, a page in the customer's language for the customer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import API

Headers = dict[str, str]


def test_a_lead_gets_the_customers_copy_as_json(
    client: TestClient, lead: Headers, record: Callable[..., dict[str, Any]]
) -> None:
    reference = record()["reference"]

    response = client.get(f"{API}/complaints/{reference}/customer/export", headers=lead)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    copy = response.json()
    assert copy["customer"]["name"] == "Ali Veli" and copy["customer"]["email"] == "ali.veli@example.com"
    assert [c["reference"] for c in copy["complaints"]] == [reference]
    assert copy["complaints"][0]["description"] == "Kargom hasarlı geldi, kimse telefona cevap vermiyor."
    assert copy["conversations"] == []  # recorded by phone: no chat
    timeline = client.get(f"{API}/complaints/{reference}/timeline", headers=lead).json()
    exports = [e for e in timeline["items"] if e["what"] == "export_customer_data"]
    assert [e["actor"] for e in exports] == ["staff:elif.kaya@example.com"]


def test_the_page_is_in_the_customers_language_escaped_and_locked_down(
    client: TestClient, admin: Headers, record: Callable[..., dict[str, Any]]
) -> None:
    reference = record(language="de", description="Paket kaputt <script>alert(1)</script>")["reference"]

    response = client.get(f"{API}/complaints/{reference}/customer/export?format=html", headers=admin)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="de">' in page
    assert "Ihre bei uns gespeicherten personenbezogenen Daten" in page
    assert f"Beschwerde {reference}" in page and "Ali Veli" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_an_agent_may_not_take_the_customers_copy(
    client: TestClient, agent: Headers, record: Callable[..., dict[str, Any]]
) -> None:
    reference = record()["reference"]

    response = client.get(f"{API}/complaints/{reference}/customer/export", headers=agent)

    assert response.status_code == 403
    assert "Ali Veli" not in response.text
