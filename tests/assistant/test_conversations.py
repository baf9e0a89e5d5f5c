"""Whole conversations with the real assistant, in Turkish, English and German.

Each test talks to the Rasa server over its customer channel (our action server behind it)
and checks what the customer reads and what the core recorded.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from actions.conversation import text
from ccm_core.adapters.tables import UnrecognisedMessage
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.queues import OutboxMessage
from ccm_core.i18n import translate
from ccm_core.service_layer import access, delivery, services, views
from tests.conftest import Assistant

LANGUAGES = ["tr", "en", "de"]
REFERENCE = re.compile(r"CMP-\d{4}-\d{6}")
DELIVERY = {
    "tr": "Kargom iki haftadır gelmedi ve kargo firması telefonlara hiç cevap vermiyor",
    "en": "My parcel still hasn't arrived after two weeks and the courier never answers the phone",
    "de": "Mein Paket ist nach zwei Wochen noch nicht angekommen und der Paketdienst geht nie ans Telefon",
}
DELIVERY_LABEL = {"tr": "Teslimat", "en": "Delivery", "de": "Lieferung"}
ORDER = {"tr": "sipariş numaram 4711-2233", "en": "order number 4711-2233", "de": "Bestellnummer 4711-2233"}
YES = {"tr": "evet", "en": "yes", "de": "ja"}
LOW_SCORE = {"tr": "iki", "en": "two", "de": "zwei"}
STILL_WRONG = {
    "tr": "Yeni gelen ürün de kırık çıktı",
    "en": "The replacement arrived broken as well",
    "de": "Der Ersatz kam auch kaputt an",
}


@dataclass
class Chat:
    """One customer's conversation; ``say`` returns what the assistant answered, as text and buttons."""

    assistant: Assistant
    language: str
    metadata: dict[str, Any] = field(default_factory=dict)
    sender: str = field(default_factory=lambda: f"customer-{uuid.uuid4().hex[:12]}")
    replies: list[dict[str, Any]] = field(default_factory=list)

    def say(self, message: str) -> str:
        self.replies = self.assistant.rasa.say(self.sender, message, self.metadata)
        return "\n".join(reply.get("text", "") for reply in self.replies)

    def buttons(self) -> list[str]:
        return [button["payload"] for reply in self.replies for button in reply.get("buttons", [])]

    def expects(self, key: str, **params: Any) -> str:
        return text(self.language, key, **params)

    def file_delivery_complaint(self, contact: str | None = "jane.doe@example.com") -> str:
        """Files the standard delivery complaint; returns the reference the assistant gave."""
        answer = self.say(DELIVERY[self.language])
        assert self.buttons()[0] == "/affirm", answer  # the predicted topic comes first, to confirm
        assert self.say("/affirm") == self.expects("ask_order_number")
        answer = self.say(ORDER[self.language])
        if contact:
            assert answer == self.expects("ask_contact")
            answer = self.say(contact)
        assert answer == self.expects("ask_consent")
        assert self.buttons() == ["/affirm", "/deny"]
        summary = self.say(YES[self.language])
        assert DELIVERY[self.language] in summary and "4711-2233" in summary
        recorded = self.say(YES[self.language])
        found = REFERENCE.search(recorded)
        assert found, recorded
        return found.group(0)


def stored(assistant: Assistant, reference: str) -> Complaint:
    with assistant.unit_of_work() as uow:
        complaint = uow.complaints.get(reference)
        assert complaint is not None
        uow.session.expunge_all()
        return complaint


def outbox(assistant: Assistant, reference: str) -> list[OutboxMessage]:
    with assistant.unit_of_work() as uow:
        complaint = uow.complaints.get(reference)
        messages = list(uow.outbox.for_complaint(complaint))
        uow.session.expunge_all()
        return messages


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_complaint_told_in_one_message_is_recorded_on_the_web(assistant: Assistant, language: str) -> None:
    chat = Chat(assistant, language)
    reference = chat.file_delivery_complaint()

    complaint = stored(assistant, reference)
    assert (complaint.channel, complaint.language, complaint.status) == ("web", language, "received")
    assert complaint.category.code == "delivery" and complaint.department.code == "logistics"
    assert complaint.description == DELIVERY[language]
    assert complaint.external_reference == "4711-2233"
    assert complaint.customer.email == "jane.doe@example.com"
    [acknowledgement] = outbox(assistant, reference)
    assert acknowledgement.kind == "acknowledgement" and acknowledgement.status == "delivered"
    assert acknowledgement.body in "\n".join(r.get("text", "") for r in chat.replies)


@pytest.mark.parametrize("language", LANGUAGES)
def test_on_telegram_the_chat_identity_is_enough_and_the_channel_sets_the_language(
    assistant: Assistant, language: str
) -> None:
    other = {"tr": "en", "en": "de", "de": "tr"}[language]
    chat = Chat(assistant, language, metadata={"channel": "telegram", "language": language})
    asked = chat.say(DELIVERY[other])  # written in another language: the customer's Telegram language wins
    assert asked == chat.expects("category_question", category=DELIVERY_LABEL[language])
    assert chat.say("/affirm") == chat.expects("ask_order_number")
    assert chat.say(ORDER[other]) == chat.expects("ask_consent")  # no contact question: Telegram reaches them
    assert DELIVERY[other] in chat.say(YES[language])
    reference = REFERENCE.search(chat.say(YES[language])).group(0)

    complaint = stored(assistant, reference)
    assert (complaint.channel, complaint.language) == ("telegram", language)
    assert complaint.customer.identity("telegram") == chat.sender
    assert complaint.customer.email is None
    [acknowledgement] = outbox(assistant, reference)
    assert (acknowledgement.channel, acknowledgement.recipient) == ("telegram", chat.sender)


@pytest.mark.parametrize("language", LANGUAGES)
def test_status_in_plain_words_and_never_another_customers_case(assistant: Assistant, language: str) -> None:
    chat = Chat(assistant, language)
    reference = chat.file_delivery_complaint()

    answer = chat.say(
        {
            "tr": f"{reference} ne durumda?",
            "en": f"what is the status of {reference}?",
            "de": f"wie ist der Stand von {reference}?",
        }[language]
    )
    assert translate(language, "status.received") in answer
    assert translate(language, "status_detail.received") in answer

    stranger = Chat(assistant, language)
    answer = stranger.say(
        {
            "tr": f"{reference} ne durumda?",
            "en": f"what is the status of {reference}?",
            "de": f"wie ist der Stand von {reference}?",
        }[language]
    )
    assert answer == stranger.expects("complaint_not_found", reference=reference)
    assert DELIVERY[language] not in answer


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_process_reaches_the_conversation_and_a_low_score_starts_a_follow_up(
    assistant: Assistant, language: str
) -> None:
    chat = Chat(assistant, language)
    reference = chat.file_delivery_complaint()
    lead = access.staff_actor(assistant.unit_of_work(), email="elif.kaya@example.com")

    def deliver(kind: str) -> str:
        notice = next(
            n for n in views.customer_notices(assistant.unit_of_work(), lead, reference) if n.kind == kind
        )
        intent = "EXTERNAL_survey" if kind == "survey" else "EXTERNAL_notice"
        chat.replies = assistant.rasa.trigger(chat.sender, intent, {"outbox_id": notice.id})
        delivery.mark_outbox_delivered(assistant.unit_of_work(), lead, notice.id)
        return "\n".join(reply.get("text", "") for reply in chat.replies)

    services.start_review(assistant.unit_of_work(), lead, reference)
    logistics = {"tr": "Lojistik", "en": "Logistics", "de": "Logistik"}[language]
    expected = translate(language, "outbox.interim_notice", reference=reference, department=logistics)
    assert deliver("interim_notice") == expected
    services.decide_complaint(assistant.unit_of_work(), lead, reference, justified=True, reason="Damaged")
    case = services.add_action(
        assistant.unit_of_work(), lead, reference, kind="corrective", description="Resend"
    )
    services.complete_action(
        assistant.unit_of_work(), lead, reference, action_id=case.actions[0].id, outcome="Sent"
    )
    services.inform_customer(assistant.unit_of_work(), lead, reference, summary="A new item was sent.")
    assert "A new item was sent." in deliver("action_summary")
    services.send_survey(assistant.unit_of_work(), lead, reference)
    survey = deliver("survey")
    assert reference in survey
    assert chat.buttons() == [f'/give_score{{"score":"{score}"}}' for score in range(1, 6)]

    assert chat.say(LOW_SCORE[language]) == chat.expects("ask_survey_comment")
    follow_up = chat.say(STILL_WRONG[language])
    assert reference in follow_up

    complaint = stored(assistant, reference)
    assert (complaint.status, complaint.follow_up_round) == ("follow_up", 1)
    [response] = complaint.survey_responses
    assert (response.score, response.comment, response.satisfied) == (2, STILL_WRONG[language], False)
    assert outbox(assistant, reference)[-1].kind == "follow_up_notice"
    assert outbox(assistant, reference)[-1].status == "delivered"  # shown in the chat, never sent twice


@pytest.mark.parametrize("language", LANGUAGES)
def test_information_added_a_person_asked_for_and_the_complaint_withdrawn(
    assistant: Assistant, language: str
) -> None:
    chat = Chat(assistant, language)
    reference = chat.file_delivery_complaint()

    asked = chat.say(
        {
            "tr": "şikayetime bir bilgi eklemek istiyorum",
            "en": "I want to add something to my complaint",
            "de": "ich möchte meiner Beschwerde etwas hinzufügen",
        }[language]
    )
    assert asked == chat.expects("ask_information", reference=reference)
    detail = {"tr": "Kutu da ıslaktı", "en": "The box was soaking wet too", "de": "Der Karton war auch nass"}
    assert chat.say(detail[language]) == chat.expects("information_added", reference=reference)

    answer = chat.say(
        {
            "tr": "bir temsilciyle görüşmek istiyorum",
            "en": "let me talk to a real person",
            "de": "ich möchte mit einem Menschen sprechen",
        }[language]
    )
    assert answer == chat.expects("human_requested", reference=reference)
    assert stored(assistant, reference).needs_human is True

    answer = chat.say(
        {
            "tr": "şikayetimi geri çekmek istiyorum",
            "en": "I want to withdraw my complaint",
            "de": "ich möchte meine Beschwerde zurückziehen",
        }[language]
    )
    assert answer == chat.expects("ask_withdraw_confirmed", reference=reference)
    assert chat.say(YES[language]) == chat.expects("withdrawn", reference=reference)

    complaint = stored(assistant, reference)
    assert (complaint.status, complaint.close_reason) == ("closed", "withdrawn")
    assert [m.body for m in complaint.messages] == [detail[language]]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_bad_email_is_asked_again_with_an_example(assistant: Assistant, language: str) -> None:
    chat = Chat(assistant, language)
    chat.say(DELIVERY[language])
    chat.say("/affirm")
    assert chat.say(ORDER[language]) == chat.expects("ask_contact")
    answer = chat.say("jane.doe@example")
    assert chat.expects("invalid_contact") in answer and chat.expects("ask_contact") in answer
    assert chat.say("jane.doe@example.com") == chat.expects("ask_consent")


def test_switching_language_mid_conversation(assistant: Assistant) -> None:
    chat = Chat(assistant, "en")
    chat.say("hello")
    assert chat.say("Türkçe konuşalım") == "Tamam, bundan sonra Türkçe devam ediyorum."
    chat.language = "tr"
    answer = chat.say("Faturama iki kez ücret yansıtılmış, param hala iade edilmedi")
    assert translate("tr", "command.record") not in answer
    assert "Doğru mu?" in answer  # the topic question, now in Turkish


def test_what_the_assistant_did_not_understand_is_asked_about_and_kept_for_review(
    assistant: Assistant,
) -> None:
    chat = Chat(assistant, "en")
    chat.say("hello")
    assert chat.say("qwrtz pflk") == chat.expects("ask_rephrase")  # no guess worth offering
    with assistant.unit_of_work() as uow:
        kept = uow.session.scalars(
            select(UnrecognisedMessage).where(UnrecognisedMessage.conversation_id == chat.sender)
        ).all()
        assert [(k.text, k.language, k.channel, k.reason) for k in kept] == [
            ("qwrtz pflk", "en", "web", "low_confidence")
        ]
