"""Is this a complaint? Decided over all complaint topics together, before the fallback.

The classifier spreads a complaint's probability over the topics it resembles: "the app
charged me twice and now my card is blocked" is part billing, part technical issue, and
neither alone clears a threshold, though together they say "complaint" clearly. So the
probabilities of every complaint intent (the topics and ``file_complaint``) are summed, and a
sum of at least ``complaint_threshold`` is a complaint, filed under its most likely topic
(first in the ranking, with its own probability); the customer confirms the topic with one
tap anyway. Below it, a complaint topic is never taken on its own confidence.

Every other message gets Rasa's ``FallbackClassifier`` rules (``threshold``,
``ambiguity_threshold``), with one exception, "complaint first": a message the model cannot
place, long enough and worded like a grievance (something went wrong, and it concerns an order,
a product, a service, money or a wait; the cues are ``grievance_cues.yml``), is a complaint too.
Filing it costs the customer one confirmation; asking them to rephrase a long account of what
went wrong loses it. For the same reason a complaint announced together with what went wrong
("my parcel came damaged and I want to complain") is filed under its likeliest topic rather
than as a bare announcement: the dialogue keeps a topic's message as the description.

The parse result says what was decided, under ``complaint``: the summed probability and
whether the topics or the grievance cues decided it; and for every message whether it
describes a problem (``describes_a_problem``), which the dialogue uses when it offers to file
a complaint after a wrong turn.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from components.folding_tokenizer import fold

CUES = Path(__file__).with_name("grievance_cues.yml")
ANNOUNCEMENT = "file_complaint"  # a complaint announced, no topic yet
TOPIC_PREFIX = "complaint_"
COMPLAINT_KEY = "complaint"
DESCRIBES_KEY = "describes_a_problem"
_WORD = re.compile(r"\w+")


def is_complaint_intent(name: str | None) -> bool:
    return bool(name) and (name == ANNOUNCEMENT or name.startswith(TOPIC_PREFIX))


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text).replace("'", "").replace("\u2019", ""))


@cache
def grievance_cues(path: Path = CUES) -> dict[str, re.Pattern[str]]:
    """One pattern per kind of cue: ``trouble`` (what went wrong) and ``subject`` (what it concerns)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))

    def pattern(cues: list[str]) -> re.Pattern[str]:
        folded = {" ".join(_words(cue)) + (" " if cue.endswith(" ") else "") for cue in cues}
        return re.compile(r"\b(?:" + "|".join(re.escape(cue) for cue in sorted(folded)) + ")")

    return {kind: pattern(raw[kind]) for kind in ("trouble", "subject")}


def reads_like_grievance(text: str, min_words: int) -> bool:
    """Long enough, says something went wrong, and says about what."""
    words = _words(text)
    if len(words) < min_words:
        return False
    joined = " ".join(words) + " "
    return all(cue.search(joined) for cue in grievance_cues().values())


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class ComplaintDecision(FallbackClassifier):
    """``FallbackClassifier`` that decides complaints on the topics' summed probability (see module)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **FallbackClassifier.get_default_config(),
            "complaint_threshold": 0.5,
            "grievance_min_words": 8,  # to file a message the model cannot place
            "grievance_min_probability": 0.15,
            "description_min_words": 5,  # to call a message a description of the problem
        }

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._decide(message)
        return super().process(messages)

    def _decide(self, message: Message) -> None:
        text = message.get(TEXT) or ""
        describes = reads_like_grievance(text, self.component_config["description_min_words"])
        message.set(DESCRIBES_KEY, describes, add_to_output=True)
        ranking = message.get(INTENT_RANKING_KEY) or []
        complaints = [r for r in ranking if is_complaint_intent(r.get(INTENT_NAME_KEY))]
        if not complaints:
            return
        summed = sum(float(r[PREDICTED_CONFIDENCE_KEY]) for r in complaints)
        decided_by = None
        if summed >= self.component_config["complaint_threshold"]:
            decided_by = "topics"
        elif (
            summed >= self.component_config["grievance_min_probability"]
            and self._would_fall_back(message)
            and reads_like_grievance(text, self.component_config["grievance_min_words"])
        ):
            decided_by = "grievance"
        if decided_by is None:
            return
        best = complaints[0]
        if best[INTENT_NAME_KEY] == ANNOUNCEMENT and describes:
            # A description, not a bare announcement: filed under its likeliest topic.
            best = next((r for r in complaints if r[INTENT_NAME_KEY] != ANNOUNCEMENT), best)
        message.set(INTENT, dict(best), add_to_output=True)
        message.set(INTENT_RANKING_KEY, [best, *(r for r in ranking if r is not best)], add_to_output=True)
        message.set(COMPLAINT_KEY, {"probability": round(summed, 4), "by": decided_by}, add_to_output=True)

    def _would_fall_back(self, message: Message) -> bool:
        return super()._should_fallback(message)

    def _should_fallback(self, message: Message) -> bool:
        if message.get(COMPLAINT_KEY):
            return False  # decided above: the topic is confirmed by the customer, not by a threshold
        if is_complaint_intent(message.get(INTENT, {}).get(INTENT_NAME_KEY)):
            return True  # a complaint topic on top, but the topics together are not sure enough
        return super()._should_fallback(message)
