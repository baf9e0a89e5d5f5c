"""A customer misunderstood once is never stuck: whole conversations with the real assistant.

A complaint told in the customer's own words is filed with those words; a guess is confirmed by
typing yes as well as by tapping; after the second miss the complaint form or a person is offered;
a question about a complaint when there is none offers to file one, with the message kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from ccm_core.adapters.tables import UnrecognisedMessage
from tests.assistant.test_conversations import DELIVERY_LABEL, LANGUAGES, ORDER, REFERENCE, YES, Chat, stored
from tests.conftest import Assistant

DOMAIN = Path(__file__).resolve().parents[2] / "rasa_project" / "domain"
NO = {"tr": "hayır", "en": "no", "de": "nein"}
EMAIL = "kim.lee@example.org"
SERVICE_QUALITY = '/inform{"category":"service_quality"}'
# Said once, with the problem and the wish to complain in one breath.
IN_THEIR_WORDS = {
    "tr": "Paketim hasarlı geldi, şikayet etmek istiyorum",
    "en": "My parcel arrived with a smashed porcelain teapot, I am Janet Roebuck and I want to complain",
    "de": "Mein Paket ist beschädigt angekommen und ich möchte mich beschweren",
}
# Too short for the model to be sure; its best guess is a complaint topic.
UNSURE = {"tr": "kargo nerde", "en": "bill question", "de": "Zusteller"}
GUESSED = {"tr": "complaint_delivery", "en": "complaint_billing", "de": "complaint_delivery"}
NONSENSE = ["qwrtz pflk", "xkcd vvbn mmrt"]
STATUS_WITH_A_PROBLEM = {
    "tr": "kırık çamaşır makinesi şikayetim ne durumda?",
    "en": "what's the status of my complaint about the broken washing machine?",
    "de": "wie ist der Stand meiner Beschwerde über das beschädigte Paket?",
}
WITHDRAW_WITH_A_PROBLEM = {
    "tr": "şikayetimi geri çekmek istiyorum, ürün zaten bozuk geldi",
    "en": "I want to withdraw my complaint, the parcel came broken anyway",
    "de": "ich möchte meine Beschwerde zurückziehen, das Paket kam kaputt an",
}
ADD_INFORMATION = {
    "tr": "şikayetime bir bilgi eklemek istiyorum",
    "en": "I'd like to add something about the parcel",
    "de": "ich möchte ergänzen, dass das Paket beschädigt ankam",
}


def domain_response(name: str, language: str) -> str:
    """A response of the assistant's domain in ``language`` (its variants are conditioned on the slot)."""
    for path in DOMAIN.glob("*.yml"):
        variants = (yaml.safe_load(path.read_text(encoding="utf-8")).get("responses") or {}).get(name)
        for variant in variants or []:
            conditions = variant.get("condition") or [{"value": "en"}]
            if conditions[0]["value"] == language:
                return variant["text"]
    raise KeyError(name)


def topic_buttons(chat: Chat) -> list[str]:
    return [payload for payload in chat.buttons() if payload.startswith('/inform{"category"')]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_complaint_in_the_customers_own_words_is_filed_with_them_and_typed_yes_works(
    assistant: Assistant, language: str
) -> None:
    chat = Chat(assistant, language)
    said = IN_THEIR_WORDS[language]

    answer = chat.say(said)
    assert answer == chat.expects("category_question", category=DELIVERY_LABEL[language])
    assert chat.buttons()[0] == "/affirm" and len(topic_buttons(chat)) >= 7
    assert chat.say(YES[language]) == chat.expects("ask_order_number")  # typed, not tapped
    assert chat.say(ORDER[language]) == chat.expects("ask_contact")
    assert chat.say(EMAIL) == chat.expects("ask_consent")
    summary = chat.say(YES[language])
    assert said in summary and "4711-2233" in summary
    reference = REFERENCE.search(chat.say(YES[language])).group(0)

    complaint = stored(assistant, reference)
    assert complaint.description == said
    assert complaint.category.code == "delivery"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_guess_confirmed_by_typing_yes_goes_on_as_if_the_message_had_been_understood(
    assistant: Assistant, language: str
) -> None:
    chat = Chat(assistant, language, metadata={"language": language})

    answer = chat.say(UNSURE[language])
    assert answer == chat.expects("did_you_mean", intent=chat.expects(f"intent.{GUESSED[language]}"))
    assert chat.buttons() == ["/affirm", "/deny"]
    assert chat.say(YES[language]) == chat.expects("ask_description")  # a complaint form, as guessed
    described = {
        "tr": "Kargom iki haftadır dağıtım şubesinde bekliyor",
        "en": "The invoice charges me twice for the same month",
        "de": "Der Zusteller wirft meine Pakete einfach vor die Haustür",
    }[language]
    answer = chat.say(described)
    label = {"complaint_delivery": DELIVERY_LABEL[language], "complaint_billing": "Billing"}[
        GUESSED[language]
    ]
    assert answer == chat.expects("category_question", category=label)  # the guessed topic first


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_guess_declined_asks_to_rephrase_and_a_second_miss_offers_the_form_or_a_person(
    assistant: Assistant, language: str
) -> None:
    chat = Chat(assistant, language, metadata={"language": language})

    chat.say(UNSURE[language])
    assert chat.say(NO[language]) == chat.expects("ask_rephrase")
    assert chat.say(NONSENSE[0]) == chat.expects("offer_ways_on")
    assert chat.buttons() == ["/file_complaint", "/request_human"]
    assert chat.say(YES[language]) == chat.expects("ask_description")  # yes: the complaint form

    with assistant.unit_of_work() as uow:
        kept = uow.session.scalars(
            select(UnrecognisedMessage.text).where(UnrecognisedMessage.conversation_id == chat.sender)
        ).all()
    assert sorted(kept) == sorted([UNSURE[language], NONSENSE[0]])


@pytest.mark.parametrize("language", LANGUAGES)
def test_nonsense_never_ends_in_repeated_fallbacks(assistant: Assistant, language: str) -> None:
    chat = Chat(assistant, language, metadata={"language": language})
    assert chat.say(NONSENSE[0]) == chat.expects("ask_rephrase")
    for _ in range(3):  # the second miss and every one after it: the same two ways on
        assert chat.say(NONSENSE[1]) == chat.expects("offer_ways_on")
        assert chat.buttons() == ["/file_complaint", "/request_human"]
    assert chat.say("/request_human").startswith(chat.expects("human_needs_case"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_status_asked_with_no_complaint_offers_to_file_one_with_the_message_as_its_description(
    assistant: Assistant, language: str
) -> None:
    chat = Chat(assistant, language)
    said = STATUS_WITH_A_PROBLEM[language]

    answer = chat.say(said)
    assert answer == f"{chat.expects('no_complaints')} {chat.expects('offer_keeps_description')}"
    assert chat.buttons() == ["/affirm", "/deny"]
    chat.say(YES[language])
    assert chat.buttons()[0] == "/affirm" and len(topic_buttons(chat)) >= 7  # the topic question
    assert chat.say(SERVICE_QUALITY) == chat.expects("ask_contact")
    assert chat.say(EMAIL) == chat.expects("ask_consent")
    assert said in chat.say(YES[language])
    reference = REFERENCE.search(chat.say(YES[language])).group(0)
    assert stored(assistant, reference).description == said


@pytest.mark.parametrize("language", LANGUAGES)
def test_withdrawing_with_no_complaint_offers_to_file_one_and_yes_opens_the_form(
    assistant: Assistant, language: str
) -> None:
    chat = Chat(assistant, language)

    answer = chat.say(WITHDRAW_WITH_A_PROBLEM[language])
    assert answer == f"{chat.expects('no_open_complaint')} {chat.expects('offer_keeps_description')}"
    chat.say(YES[language])
    assert len(topic_buttons(chat)) >= 7  # the description is kept: the form asks the topic


@pytest.mark.parametrize("language", LANGUAGES)
def test_adding_information_with_no_complaint_offers_to_file_one_and_no_is_respected(
    assistant: Assistant, language: str
) -> None:
    chat = Chat(assistant, language)

    assert chat.say(ADD_INFORMATION[language]).startswith(chat.expects("no_open_complaint"))
    assert chat.buttons() == ["/affirm", "/deny"]
    assert chat.say(NO[language]) == chat.expects("offer_declined")
    assert chat.say(YES[language]) == chat.expects("offer_declined")  # the offer lasted one turn


@pytest.mark.parametrize("language", LANGUAGES)
def test_yes_after_an_out_of_scope_answer_starts_the_complaint(assistant: Assistant, language: str) -> None:
    chat = Chat(assistant, language)
    asked = {
        "tr": "bugün hava nasıl olacak",
        "en": "who won the football match last night",
        "de": "erzähl mir mal was Lustiges",
    }[language]
    assert chat.say(asked) == domain_response("utter_out_of_scope", language)
    assert chat.say(YES[language]) == chat.expects("ask_description")
