"""Complaint or not: decided on the complaint topics together, with a grievance read as a complaint."""

from __future__ import annotations

from typing import Any

import pytest
from components.complaint_decision import ComplaintDecision, reads_like_grievance
from rasa.shared.nlu.training_data.message import Message

CONFIG = {
    **ComplaintDecision.get_default_config(),
    "threshold": 0.45,
    "ambiguity_threshold": 0.05,
    "complaint_threshold": 0.5,
}


def parsed(text: str, **confidences: float) -> Message:
    """A message as the intent classifier leaves it: every intent ranked."""
    ranking = [
        {"name": name, "confidence": confidence}
        for name, confidence in sorted(confidences.items(), key=lambda item: -item[1])
    ]
    return Message(data={"text": text, "intent": dict(ranking[0]), "intent_ranking": ranking})


def decide(message: Message) -> dict[str, Any]:
    """What the parse result says after the decision."""
    ComplaintDecision(CONFIG).process([message])
    keys = ("intent", "intent_ranking", "complaint", "describes_a_problem")
    return {key: message.get(key) for key in keys if message.get(key) is not None}


def test_complaint_topics_are_summed_and_the_likeliest_topic_is_chosen() -> None:
    # No single intent reaches the threshold, but together the complaint topics are sure.
    result = decide(
        parsed(
            "the app charged me twice and now my card is blocked",
            out_of_scope=0.36,
            complaint_billing=0.34,
            complaint_technical_issue=0.30,
        )
    )
    assert result["intent"] == {"name": "complaint_billing", "confidence": 0.34}
    assert result["intent_ranking"][0]["name"] == "complaint_billing"
    assert result["complaint"] == {"probability": 0.64, "by": "topics"}


def test_close_topics_are_no_reason_to_fall_back() -> None:
    # Rasa's ambiguity rule would fall back; the customer confirms the topic with one tap anyway.
    result = decide(
        parsed("broken and late", complaint_delivery=0.41, complaint_product_defect=0.40, greet=0.19)
    )
    assert result["intent"]["name"] == "complaint_delivery"


def test_a_complaint_topic_alone_below_the_sum_threshold_falls_back() -> None:
    result = decide(parsed("hmm the card", complaint_billing=0.46, out_of_scope=0.30, greet=0.24))
    assert result["intent"]["name"] == "nlu_fallback"
    assert "complaint" not in result


@pytest.mark.parametrize(
    "text",
    [
        "Siparişim iki haftadır gelmedi ve müşteri hizmetleri hiç ilgilenmiyor, çok mağdur oldum",
        "Mein Paket ist beschädigt angekommen und seit Tagen antwortet niemand vom Kundenservice",
        "I am Janet Roebuck and my parcel arrived with a smashed teapot, nobody answers the phone",
    ],
)
def test_a_grievance_the_model_cannot_place_is_a_complaint_under_its_likeliest_topic(text: str) -> None:
    result = decide(
        parsed(text, out_of_scope=0.40, file_complaint=0.12, complaint_delivery=0.11, check_status=0.37)
    )
    assert result["intent"]["name"] == "complaint_delivery"  # a description, not an announcement
    assert result["complaint"]["by"] == "grievance"


def test_a_complaint_announced_with_what_went_wrong_is_filed_under_its_topic() -> None:
    text = "Mein Paket ist beschädigt angekommen und ich möchte mich beschweren"
    result = decide(parsed(text, file_complaint=0.62, complaint_delivery=0.19, withdraw_complaint=0.19))
    assert result["intent"]["name"] == "complaint_delivery"  # the dialogue keeps its text as the description
    assert result["describes_a_problem"] is True


def test_a_bare_announcement_stays_one() -> None:
    result = decide(parsed("I would like to make a complaint please", file_complaint=0.9, greet=0.1))
    assert result["intent"]["name"] == "file_complaint"
    assert result["describes_a_problem"] is False


def test_a_short_unclear_message_still_falls_back() -> None:
    result = decide(parsed("kargo?", out_of_scope=0.40, complaint_delivery=0.30, check_status=0.30))
    assert result["intent"]["name"] == "nlu_fallback"


def test_a_long_message_without_a_grievance_is_no_complaint() -> None:
    text = "Could you tell me which flights go from Istanbul to Berlin next Friday morning please"
    assert not reads_like_grievance(text, 8)
    result = decide(parsed(text, out_of_scope=0.40, complaint_delivery=0.25, check_status=0.35))
    assert result["intent"]["name"] == "nlu_fallback"


def test_what_is_not_a_complaint_keeps_rasas_fallback_rules() -> None:
    assert decide(parsed("hello there", greet=0.9, out_of_scope=0.1))["intent"]["name"] == "greet"
    ambiguous = decide(parsed("ok bye", goodbye=0.5, thank=0.48, greet=0.02))
    assert ambiguous["intent"]["name"] == "nlu_fallback"


@pytest.mark.parametrize(
    ("text", "grievance"),
    [
        ("The ATM swallowed my card and nobody at the branch could help for an hour", True),
        ("PERSONEL ÇOK KABA, BİR SAAT BEKLEDİM", False),  # 6 words: too short to file unasked
        ("Şubedeki personel çok kaba davrandı ve bir saat boyunca bekletildim", True),  # Turkish İ folded
        ("Das Essen war kalt und der Kellner hat uns eine falsche Rechnung gebracht", True),
        ("see you later, I will order the food for the party tonight please", False),  # "later" is not "late"
    ],
)
def test_grievance_cues(text: str, grievance: bool) -> None:
    assert reads_like_grievance(text, 8) is grievance
