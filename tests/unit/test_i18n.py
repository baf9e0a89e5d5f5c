"""Every text a customer or staff member reads exists in Turkish, English and German."""

from __future__ import annotations

import pytest

from ccm_core.domain.errors import InvalidTransition, PermissionDenied, ValidationFailed
from ccm_core.domain.lifecycle import CloseReason, Command, Status
from ccm_core.domain.policy import ERASE_CUSTOMER_DATA, RECORD, VIEW
from ccm_core.i18n import LANGUAGES, best_language, catalogue, normalise_language, translate


def test_catalogues_have_the_same_keys() -> None:
    english = set(catalogue("en"))
    for language in LANGUAGES:
        assert set(catalogue(language)) == english, language


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_status_command_and_close_reason_has_a_text(language: str) -> None:
    texts = catalogue(language)
    for status in Status:
        assert f"status.{status}" in texts
        assert f"status_detail.{status}" in texts
    for command in [*Command, RECORD, VIEW, ERASE_CUSTOMER_DATA]:
        assert f"command.{command}" in texts
    for reason in CloseReason:
        assert f"close_reason.{reason}" in texts


@pytest.mark.parametrize(
    ("language", "review", "follow_up"),
    [
        ("tr", "Şikayet İnceleme Süreci", "Takip Süreci"),
        ("en", "Complaint Review Process", "Follow-up Process"),
        ("de", "Beschwerdeprüfungsprozess", "Folgeprozess"),
    ],
)
def test_step_names_use_the_charts_wording(language: str, review: str, follow_up: str) -> None:
    assert translate(language, "status.in_review") == review
    assert translate(language, "status.follow_up") == follow_up


def test_invalid_transition_reads_in_the_readers_language() -> None:
    error = InvalidTransition(
        reference="CMP-2026-000001",
        current="in_review",
        command="send_survey",
        allowed=["decide_justified", "decide_unjustified"],
    )
    assert "Şikayet İnceleme Süreci" in error.message("tr")
    assert "Müşteri Haklı" in error.message("tr")
    assert "Beschwerdeprüfungsprozess" in error.message("de")
    assert "Kunde hat nicht recht" in error.message("de")
    assert str(error) == error.message("en")
    assert "Complaint Review Process" in str(error)


def test_validation_and_permission_messages_carry_their_details() -> None:
    too_long = ValidationFailed(field="description", problem="too_long", max=5000, length=5001)
    assert "5000" in too_long.message("de") and "5001" in too_long.message("de")
    refused = PermissionDenied(why="role", role="agent", command="close")
    assert "kaydı kapatmak" in refused.message("tr")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-FR, tr;q=0.5, en;q=0.4", "tr"),
        ("fr", "en"),
        (None, "en"),
        ("en;q=0.2, de;q=0.7", "de"),
        ("tr;q=abc", "tr"),
    ],
)
def test_accept_language(header: str | None, expected: str) -> None:
    assert best_language(header) == expected


def test_language_codes_are_normalised() -> None:
    assert normalise_language("TR-tr") == "tr"
    assert normalise_language("de_AT") == "de"
    assert normalise_language("fr") == "en"
