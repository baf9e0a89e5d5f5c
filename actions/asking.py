"""The forms' questions, from the actions' catalogue in the conversation's language."""

from __future__ import annotations

import abc

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import core, language_of, say, yes_no
from ccm_core.domain.survey import SurveyDefinition, load_survey


def survey_definition() -> SurveyDefinition:
    """The survey as this deployment defines it (``CCM_SURVEY_FILE``)."""
    return load_survey(core().settings.survey_file)


class AskFromCatalogue(Action, abc.ABC):
    """Asks with the catalogue text ``key``; each question below names itself after its slot."""

    key: str
    answered_with_yes_no = False

    @abc.abstractmethod
    def name(self) -> str: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        buttons = yes_no(language_of(tracker)) if self.answered_with_yes_no else None
        say(dispatcher, tracker, self.key, buttons=buttons, reference=tracker.get_slot("reference"))
        return []


class AskDescription(AskFromCatalogue):
    key = "ask_description"

    def name(self) -> str:
        return "action_ask_description"


class AskContact(AskFromCatalogue):
    key = "ask_contact"

    def name(self) -> str:
        return "action_ask_contact"


class AskConsent(AskFromCatalogue):
    key = "ask_consent"
    answered_with_yes_no = True

    def name(self) -> str:
        return "action_ask_consent"


class AskInformation(AskFromCatalogue):
    key = "ask_information"

    def name(self) -> str:
        return "action_ask_information"


class AskWithdrawConfirmed(AskFromCatalogue):
    key = "ask_withdraw_confirmed"
    answered_with_yes_no = True

    def name(self) -> str:
        return "action_ask_withdraw_confirmed"


class AskSurveyComment(AskFromCatalogue):
    key = "ask_survey_comment"

    def name(self) -> str:
        return "action_ask_survey_comment"


class AskSurveyScore(Action):
    """1–5 as buttons, labelled as in the survey the core sends (the survey definition)."""

    def name(self) -> str:
        return "action_ask_survey_score"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        choices = survey_definition().csat.choices(language_of(tracker))
        buttons = [
            {"title": choice.title, "payload": f'/give_score{{"score":"{choice.value}"}}'}
            for choice in choices
        ]
        say(dispatcher, tracker, "ask_survey_score", buttons=buttons)
        return []


class AskSurveyNps(Action):
    """The NPS question of the survey definition, 0–10 as buttons (asked when ``CCM_SURVEY_NPS`` is on)."""

    def name(self) -> str:
        return "action_ask_survey_nps"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        survey = survey_definition()
        buttons = [
            {"title": choice.title, "payload": f'/give_score{{"nps":"{choice.value}"}}'}
            for choice in survey.nps.choices(language)
        ]
        dispatcher.utter_message(text=survey.nps_question(language), buttons=buttons)
        return []
