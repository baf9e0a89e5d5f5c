"""With ``CCM_SURVEY_NPS=on`` the chat's survey asks the recommendation score (0–10) after the score.

The action server decides the form's questions from its settings, so this module starts its own
assistant (Rasa server and action server) with the setting on, on a database of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.domain.survey import load_survey
from ccm_core.service_layer import access, services, views
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.assistant.test_conversations import Chat, stored
from tests.conftest import Assistant, fresh_postgres_database
from tests.harness import AssistantUnavailable, running_assistant

pytestmark = [pytest.mark.postgres, pytest.mark.rasa]

NPS_TYPED = {"tr": "sekiz", "en": "eight", "de": "acht"}


@pytest.fixture(scope="module")
def nps_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    workdir = tmp_path_factory.mktemp("assistant-nps")
    with fresh_postgres_database("nps") as database_url:
        settings = CoreSettings(data_dir=workdir, database_url=database_url, survey_nps=True)
        engine = create_db_engine(database_url)
        seed_organisation(UnitOfWork(session_factory(engine), settings=settings), DEMO_ORGANISATION)
        try:
            with running_assistant(database_url, workdir, env={"CCM_SURVEY_NPS": "on"}) as rasa:
                yield Assistant(rasa, settings, engine)
        except AssistantUnavailable as missing:
            pytest.fail(str(missing), pytrace=False)
        finally:
            engine.dispose()


@pytest.mark.parametrize("language", ["tr", "en", "de"])
def test_the_survey_asks_the_recommendation_score_after_the_score(
    nps_assistant: Assistant, language: str
) -> None:
    assistant = nps_assistant
    chat = Chat(assistant, language)
    reference = chat.file_delivery_complaint()
    lead = access.staff_actor(assistant.unit_of_work(), email="elif.kaya@example.com")
    services.start_review(assistant.unit_of_work(), lead, reference)
    services.decide_complaint(assistant.unit_of_work(), lead, reference, justified=True, reason="Damaged")
    case = services.add_action(
        assistant.unit_of_work(), lead, reference, kind="corrective", description="Resend"
    )
    services.complete_action(
        assistant.unit_of_work(), lead, reference, action_id=case.actions[0].id, outcome="Sent"
    )
    services.inform_customer(assistant.unit_of_work(), lead, reference, summary="A new item was sent.")
    services.send_survey(assistant.unit_of_work(), lead, reference)
    survey = next(
        n for n in views.customer_notices(assistant.unit_of_work(), lead, reference) if n.kind == "survey"
    )
    chat.replies = assistant.rasa.trigger(chat.sender, "EXTERNAL_survey", {"outbox_id": survey.id})
    assert chat.buttons() == [f'/give_score{{"score":"{score}"}}' for score in range(1, 6)]

    definition = load_survey(assistant.settings.survey_file)
    assert chat.say('/give_score{"score":"5"}') == definition.nps_question(language)
    assert chat.buttons() == [f'/give_score{{"nps":"{n}"}}' for n in range(11)]
    assert chat.say("twelve out of ten") == chat.expects("invalid_nps") + "\n" + definition.nps_question(
        language
    )
    assert chat.say(NPS_TYPED[language]) == chat.expects("survey_thanks", reference=reference)

    complaint = stored(assistant, reference)
    assert (complaint.status, complaint.close_reason) == ("closed", "satisfied")
    [response] = complaint.survey_responses
    assert (response.score, response.nps, response.source) == (5, 8, "chat")
