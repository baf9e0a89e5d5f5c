"""Files a customer mailed, opened by staff over HTTP: the bytes as sent, to save and never to run,
for staff who may see the case only, and every opening in the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ccm_core.domain.errors import NotFound, PermissionDenied
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import views
from ccm_core.service_layer.mail_intake import MailFile
from ccm_core.service_layer.unit_of_work import UnitOfWork
from tests.api.helpers import API
from tests.service.helpers import mailed_case

Headers = dict[str, str]
CUSTOMER = "ayse.demir@example.com.tr"
INVOICE = MailFile(
    "Şubat faturası.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\n%%EOF\n"
)
VIDEO = MailFile("video kaydı.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42" + b"x" * 5000)
TEXT = "Merhaba, siparişim hasarlı geldi. Fatura ve video ekte."


@pytest.fixture
def mailed(make_uow: Callable[[], UnitOfWork], uow: UnitOfWork) -> Callable[..., str]:
    """A delivery complaint mailed by the customer with ``files`` (kept up to 1,000 bytes); its reference."""

    def mail(*files: MailFile) -> str:
        return mailed_case(make_uow(), *files, text=TEXT, max_file_bytes=1000)

    return mail


def files_of(client: TestClient, reference: str, headers: Headers) -> dict[str, dict[str, Any]]:
    """The case's files as ``GET`` lists them, by name."""
    case = client.get(f"{API}/complaints/{reference}", headers=headers).json()
    return {file["name"]: file for file in case["attachments"]}


def openings(client: TestClient, reference: str, headers: Headers) -> list[tuple[str | None, dict[str, Any]]]:
    """The audit trail's openings of the case's files: who, and the details kept."""
    timeline = client.get(f"{API}/complaints/{reference}/timeline", headers=headers).json()["items"]
    return [(e["actor"], e["details"]) for e in timeline if e["what"] == "open_attachment"]


def test_the_lead_saves_the_pdf_as_sent_under_its_turkish_name_and_the_opening_is_audited(
    client: TestClient, lead: Headers, mailed: Callable[..., str]
) -> None:
    reference = mailed(INVOICE, VIDEO)
    files = files_of(client, reference, lead)
    invoice = files[INVOICE.name]
    assert invoice["kept"] and invoice["size"] == len(INVOICE.content)

    response = client.get(f"{API}/complaints/{reference}/attachments/{invoice['id']}", headers=lead)

    assert response.status_code == 200
    assert response.content == INVOICE.content
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''%C5%9Eubat%20faturas%C4%B1.pdf"
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Who opened which file; not its name, which is the customer's words.
    assert openings(client, reference, lead) == [
        ("staff:elif.kaya@example.com", {"attachment_id": invoice["id"]})
    ]


def test_a_file_refused_as_too_large_is_not_found_and_says_so_in_the_readers_language(
    client: TestClient, lead: Headers, mailed: Callable[..., str]
) -> None:
    reference = mailed(INVOICE, VIDEO)
    video = files_of(client, reference, lead)[VIDEO.name]
    assert (video["kept"], video["refused"]) == (False, "too_large")

    response = client.get(
        f"{API}/complaints/{reference}/attachments/{video['id']}",
        headers={**lead, "Accept-Language": "tr"},
    )

    assert response.status_code == 404
    error = response.json()["error"]
    assert error == {
        "code": "not_found",
        "message": NotFound(kind="attachment", key=str(video["id"])).message("tr"),
    }
    assert error["message"] == f"Dosya '{video['id']}' bulunamadı."
    assert openings(client, reference, lead) == []  # nothing was opened


def test_a_file_of_another_case_is_not_found_on_this_one(
    client: TestClient, lead: Headers, mailed: Callable[..., str]
) -> None:
    with_invoice, without = mailed(INVOICE), mailed()
    invoice = files_of(client, with_invoice, lead)[INVOICE.name]

    response = client.get(f"{API}/complaints/{without}/attachments/{invoice['id']}", headers=lead)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("name", "sent_as"),
    [
        ("fiyat listesi.html", "text/html"),
        ("logo.svg", "image/svg+xml"),
        ("makro.docm", "application/vnd.ms-word.document.macroEnabled.12"),
        ("foto.jpg", "IMAGE/JPEG"),
    ],
)
def test_only_passive_types_keep_their_type_and_anything_that_could_run_is_sent_as_bytes(
    client: TestClient, admin: Headers, mailed: Callable[..., str], name: str, sent_as: str
) -> None:
    reference = mailed(MailFile(name, sent_as, b"<script>alert(document.cookie)</script>"))
    file_id = files_of(client, reference, admin)[name]["id"]

    response = client.get(f"{API}/complaints/{reference}/attachments/{file_id}", headers=admin)

    assert response.status_code == 200
    expected = "image/jpeg" if sent_as == "IMAGE/JPEG" else "application/octet-stream"
    assert response.headers["Content-Type"] == expected
    assert response.headers["Content-Disposition"].startswith("attachment; ")


def test_staff_of_another_department_are_refused_and_see_nothing_of_the_file(
    client: TestClient, lead: Headers, as_staff: Callable[[str], Headers], mailed: Callable[..., str]
) -> None:
    reference = mailed(INVOICE)
    invoice = files_of(client, reference, lead)[INVOICE.name]
    customer_care_agent = as_staff("mehmet.demir@example.com")

    response = client.get(
        f"{API}/complaints/{reference}/attachments/{invoice['id']}", headers=customer_care_agent
    )

    assert response.status_code == 403
    assert response.json()["error"]["why"] == "other_department"
    assert INVOICE.content not in response.content and "fatura" not in response.text
    assert openings(client, reference, lead) == []


def test_a_customer_cannot_open_files_even_of_their_own_case(
    client: TestClient, lead: Headers, mailed: Callable[..., str], make_uow: Callable[[], UnitOfWork]
) -> None:
    """API tokens are staff's; the customer's actor (their e-mail conversation) is refused by the core."""
    reference = mailed(INVOICE)
    invoice = files_of(client, reference, lead)[INVOICE.name]
    customer = Actor.customer(channel="email", external_id=CUSTOMER)
    assert views.get_complaint(make_uow(), customer, reference).reference == reference  # their own case

    with pytest.raises(PermissionDenied) as refused:
        views.attachment_file(make_uow(), customer, reference, invoice["id"])

    assert refused.value.why == "role"
    assert openings(client, reference, lead) == []
