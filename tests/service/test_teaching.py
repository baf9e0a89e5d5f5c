"""Teaching the assistant (SQLite and PostgreSQL): review queue, labelling, sign-in, models, retrains."""

from __future__ import annotations

import pytest

from ccm_core.adapters.tables import UnrecognisedMessage
from ccm_core.domain.errors import NotFound, PermissionDenied, PreconditionFailed, ValidationFailed
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import sessions, teaching
from ccm_core.service_layer.sessions import SignInFailed
from ccm_core.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Clock
from tests.service.helpers import staff

KNOWN = {"greet", "check_status", "complaint_delivery"}
PASSWORD = "correct horse battery staple"


def missed(
    uow: UnitOfWork, text: str, language: str = "en", intent: str | None = "greet", confidence=0.3
) -> int:
    return teaching.keep_unrecognised_message(
        uow,
        channel="web",
        conversation_id=f"web:{abs(hash(text)) % 10**8:08d}",
        language=language,
        text=text,
        predicted_intent=intent,
        confidence=confidence,
        reason="low_confidence",
    )


def admin(uow: UnitOfWork) -> Actor:
    return staff(uow, "admin@example.com")


def test_the_queue_groups_repeats_by_language_most_frequent_first(uow: UnitOfWork, clock: Clock) -> None:
    for _ in range(3):
        clock.advance(minutes=1)
        missed(uow, "When are you open on Sundays?", intent="check_status", confidence=0.4)
    missed(uow, "when are you OPEN   on sundays?", intent="greet", confidence=0.2)
    missed(uow, "Pazar günü açık mısınız?", language="tr")
    missed(uow, "Mein Name ist Jana Berg, wann habt ihr offen?", language="de")

    queue = teaching.review_queue(uow, admin(uow))
    assert [(g.language, g.count) for g in queue] == [("en", 4), ("de", 1), ("tr", 1)]
    top = queue[0]
    assert top.predicted_intent == "check_status" and top.confidence == pytest.approx(0.35)
    assert len(top.item_ids) == 4
    assert [g.text for g in teaching.review_queue(uow, admin(uow), language="de")] == [
        "Mein Name ist <name>, wann habt ihr offen?"
    ]


def test_assigning_and_dismissing_take_messages_out_of_the_queue_once(uow: UnitOfWork) -> None:
    first, second = missed(uow, "hiya folks"), missed(uow, "hiya folks")
    noise = missed(uow, "asdf qwer")
    assert (
        teaching.assign_review_items(uow, admin(uow), [first, second], intent="greet", known_intents=KNOWN)
        == 2
    )
    assert teaching.dismiss_review_items(uow, admin(uow), [noise]) == 1
    assert teaching.review_queue(uow, admin(uow)) == []
    assert [(e.language, e.intent, e.text) for e in teaching.examples_to_write(uow)] == [
        ("en", "greet", "hiya folks"),
        ("en", "greet", "hiya folks"),
    ]
    assert teaching.assigned_counts(uow) == {("greet", "en"): 2}
    with pytest.raises(PreconditionFailed) as twice:
        teaching.dismiss_review_items(uow, admin(uow), [first])
    assert str(first) in twice.value.message("en")
    with uow:
        item = uow.session.get(UnrecognisedMessage, first)
        assert (item.status, item.assigned_intent, item.reviewed_by) == (
            "assigned",
            "greet",
            "staff:admin@example.com",
        )

    teaching.mark_written(uow, [first, second])
    assert teaching.examples_to_write(uow) == []


def test_an_intent_must_exist_or_be_created_with_answers_in_three_languages(uow: UnitOfWork) -> None:
    item = missed(uow, "what are your opening hours?")
    with pytest.raises(ValidationFailed) as unknown:
        teaching.assign_review_items(uow, admin(uow), [item], intent="opening_hours", known_intents=KNOWN)
    assert unknown.value.field == "intent"
    with pytest.raises(ValidationFailed) as bad_name:
        teaching.create_intent(uow, admin(uow), name="Opening Hours!", responses={}, known_intents=KNOWN)
    assert "Opening Hours!" in bad_name.value.message("en")
    with pytest.raises(ValidationFailed) as missing:
        teaching.create_intent(
            uow,
            admin(uow),
            name="opening_hours",
            responses={"en": "9 to 6", "tr": "9-18"},
            known_intents=KNOWN,
        )
    assert missing.value.field == "response_de"
    with pytest.raises(PreconditionFailed):
        teaching.create_intent(
            uow,
            admin(uow),
            name="greet",
            responses={"en": "Hi", "tr": "Selam", "de": "Hallo"},
            known_intents=KNOWN,
        )

    answers = {
        "en": "We are open 9 to 6.",
        "tr": "9-18 arası açığız.",
        "de": "Wir haben von 9 bis 18 Uhr offen.",
    }
    teaching.create_intent(uow, admin(uow), name="opening_hours", responses=answers, known_intents=KNOWN)
    assert teaching.learned_intents(uow) == [teaching.IntentView("opening_hours", answers)]
    assert (
        teaching.assign_review_items(uow, admin(uow), [item], intent="opening_hours", known_intents=KNOWN)
        == 1
    )


def test_only_admins_teach_the_assistant(uow: UnitOfWork) -> None:
    item = missed(uow, "hiya")
    lead = staff(uow, "elif.kaya@example.com")
    for attempt in (
        lambda: teaching.review_queue(uow, lead),
        lambda: teaching.assign_review_items(uow, lead, [item], intent="greet", known_intents=KNOWN),
        lambda: teaching.dismiss_review_items(uow, lead, [item]),
        lambda: teaching.request_retrain(uow, lead),
        lambda: teaching.models(uow, lead),
        lambda: teaching.review_queue(uow, Actor.customer(channel="web", external_id="web:x")),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert len(teaching.review_queue(uow, admin(uow))) == 1


def test_admins_sign_in_with_their_password_and_nobody_else_does(uow: UnitOfWork, clock: Clock) -> None:
    sessions.set_password(uow, "admin@example.com", PASSWORD)
    sessions.set_password(uow, "elif.kaya@example.com", PASSWORD)
    with pytest.raises(ValidationFailed):
        sessions.set_password(uow, "admin@example.com", "short")

    for email, password in (
        ("admin@example.com", "wrong password, long enough"),
        ("elif.kaya@example.com", PASSWORD),  # a lead: no console
        ("nobody@example.com", PASSWORD),
        ("", ""),
    ):
        with pytest.raises(SignInFailed) as refused:
            sessions.sign_in(uow, email, password)
        assert refused.value.message("de").startswith("Die E-Mail-Adresse oder das Passwort ist falsch")

    token = sessions.sign_in(uow, "admin@example.com", PASSWORD)
    signed_in = sessions.session_actor(uow, token)
    assert signed_in is not None and signed_in.label == "staff:admin@example.com"
    assert sessions.session_actor(uow, token + "x") is None
    clock.advance(hours=sessions.SESSION_HOURS, minutes=1)
    assert sessions.session_actor(uow, token) is None

    token = sessions.sign_in(uow, "admin@example.com", PASSWORD)
    sessions.sign_out(uow, token)
    assert sessions.session_actor(uow, token) is None


def test_a_retrain_request_is_queued_once_and_run_by_one_worker(uow: UnitOfWork, clock: Clock) -> None:
    first = teaching.request_retrain(uow, admin(uow))
    assert teaching.request_retrain(uow, admin(uow)).id == first.id  # the button pressed twice
    job = teaching.claim_retrain(uow, "worker-a", lease_seconds=600)
    assert job is not None and job.id == first.id and job.status == "running"
    assert teaching.claim_retrain(uow, "worker-b", lease_seconds=600) is None
    clock.advance(seconds=601)  # worker-a died: its lease ran out
    again = teaching.claim_retrain(uow, "worker-b", lease_seconds=600)
    assert again is not None and again.id == first.id
    teaching.finish_retrain(uow, again.id, outcome="refused: de 0.71 < 0.88", model_id=None, failed=False)
    assert teaching.claim_retrain(uow, "worker-b", lease_seconds=600) is None
    assert [(j.status, j.outcome) for j in teaching.retrain_requests(uow, admin(uow))] == [
        ("done", "refused: de 0.71 < 0.88")
    ]


def test_deployed_models_are_kept_with_their_figures_for_a_roll_back(uow: UnitOfWork) -> None:
    figures = {"en": {"intent_macro_f1": 0.93}, "tr": {"intent_macro_f1": 0.95}}
    first = teaching.record_model(
        uow, admin(uow), name="m1", path="/models/m1.tar.gz", deployed=True,
        evaluation=figures, baseline={}, reason=None, examples_added=4,
    )  # fmt: skip
    refused = teaching.record_model(
        uow, admin(uow), name="m2", path="/models/m2.tar.gz", deployed=False,
        evaluation={"en": {"intent_macro_f1": 0.61}}, baseline=figures, reason="en: 0.61 < 0.93 - 0.02",
        examples_added=30,
    )  # fmt: skip
    second = teaching.record_model(
        uow, admin(uow), name="m3", path="/models/m3.tar.gz", deployed=True,
        evaluation=figures, baseline=figures, reason=None, examples_added=2,
    )  # fmt: skip
    assert [(m.name, m.status) for m in teaching.models(uow, admin(uow))] == [
        ("m3", "deployed"),
        ("m2", "refused"),
        ("m1", "retired"),
    ]
    with pytest.raises(PreconditionFailed):
        teaching.rolled_back(uow, admin(uow), refused.id)
    with pytest.raises(NotFound):
        teaching.rolled_back(uow, admin(uow), 999)
    assert teaching.rolled_back(uow, admin(uow), first.id).status == "deployed"
    assert teaching.model(uow, admin(uow), second.id).status == "retired"
    assert teaching.model(uow, admin(uow), first.id).evaluation == figures


def test_a_batch_waiting_for_a_retrain_can_go_back_to_the_queue_but_written_examples_stay(
    uow: UnitOfWork,
) -> None:
    wrong = [missed(uow, "hallo zusammen", language="de") for _ in range(3)]
    kept = missed(uow, "servus", language="de")
    teaching.assign_review_items(uow, admin(uow), [*wrong, kept], intent="greet", known_intents=KNOWN)
    teaching.mark_written(uow, [kept])
    assert teaching.reopen_review_items(uow, admin(uow), intent="greet") == 3
    assert [(g.text, g.count) for g in teaching.review_queue(uow, admin(uow))] == [("hallo zusammen", 3)]
    assert teaching.examples_to_write(uow) == []
