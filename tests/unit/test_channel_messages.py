"""Replies as channels render them, conversation ids, and which channels are on."""

from __future__ import annotations

import pytest

from channels.messages import Button, Reply, conversation_id, replies_from_rasa, split_conversation_id
from channels.settings import ChannelSettings


def test_buttons_sent_without_text_join_the_text_before_them() -> None:
    replies = replies_from_rasa(
        [
            {"recipient_id": "web:a", "text": "Memnun kaldınız mı?"},
            {"recipient_id": "web:a", "buttons": [{"title": "5", "payload": '/survey_score{"score": 5}'}]},
            {"recipient_id": "web:a", "text": "Teşekkürler"},
        ]
    )
    assert replies == [
        Reply("Memnun kaldınız mı?", (Button("5", '/survey_score{"score": 5}'),)),
        Reply("Teşekkürler"),
    ]
    assert Reply.from_json(replies[0].as_json()) == replies[0]


def test_a_conversation_id_names_channel_and_address() -> None:
    assert conversation_id("telegram", "12345") == "telegram:12345"
    assert split_conversation_id("whatsapp:905321112233") == ("whatsapp", "905321112233")
    with pytest.raises(ValueError):
        split_conversation_id("12345")


def test_a_channel_without_its_secrets_stays_off_and_says_what_is_missing(monkeypatch) -> None:
    for name in ("CCM_TELEGRAM_BOT_TOKEN", "CCM_TELEGRAM_WEBHOOK_SECRET", "CCM_WHATSAPP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CCM_TELEGRAM_BOT_TOKEN", "123:abc")
    settings = ChannelSettings()
    assert not settings.telegram_on
    assert settings.missing()["telegram"] == ["CCM_TELEGRAM_WEBHOOK_SECRET"]
    assert not settings.whatsapp_on
    monkeypatch.setenv("CCM_TELEGRAM_MODE", "polling")
    assert ChannelSettings().telegram_on  # long polling needs no webhook secret


def test_whatsapp_templates_come_from_one_setting(monkeypatch) -> None:
    monkeypatch.setenv("CCM_WHATSAPP_TEMPLATES", "interim_notice=ccm_interim, survey = ccm_survey ,broken")
    assert ChannelSettings().whatsapp_templates == {"interim_notice": "ccm_interim", "survey": "ccm_survey"}
