"""WhatsApp with the real assistant: Meta's signed webhooks in, the Cloud API (a local fake over HTTP) out.

The router runs in a FastAPI app (Starlette's TestClient, which also runs the reply sends
queued after the 200); the payloads are recorded webhooks in Meta's shape; notices go
through the real delivery worker. Each test is one customer with their own WhatsApp id.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from actions.conversation import text
from ccm_core.adapters.tables import ChatContact
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.queues import OutboxMessage
from ccm_core.domain.survey import load_survey
from ccm_core.i18n import translate
from ccm_core.service_layer import access, chat, services
from channels import whatsapp
from channels.context import ChannelContext
from channels.delivery import DeliveryWorker
from channels.messages import Button, Reply
from channels.sending import DeliveryFailed
from tests.assistant.test_conversations import DELIVERY, DELIVERY_LABEL, ORDER, REFERENCE
from tests.conftest import Assistant
from tests.fakes.whatsapp import API_VERSION, PHONE_NUMBER_ID, TOKEN, Failure, FakeWhatsApp, fake_whatsapp
from tests.harness import context, product_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
APP_SECRET = "9f3c2b7d41e85a60c1b9d2e7f4a3c8b5"
VERIFY_TOKEN = "ccm-verify-3d1f9a"
TEMPLATES = {"interim_notice": "ccm_interim_notice", "survey": "ccm_survey"}
LEAD = "elif.kaya@example.com"
COUNTRY = {"tr": "90", "en": "44", "de": "49"}
LOGISTICS = {"tr": "Lojistik", "en": "Logistics", "de": "Logistik"}


# --- the pieces: the fake Cloud API, the served router, a worker on its own event loop ---


class Loop:
    """One event loop in a thread for the worker and the sender: their HTTP clients stay on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def whatsapp_context(
    core: Core,
    assistant: Assistant,
    api_url: str,
    *,
    templates: dict[str, str] = TEMPLATES,
    rasa_url: str = "",
) -> ChannelContext:
    return context(
        core,
        product_settings(
            core,
            rasa_url or assistant.rasa.url,
            whatsapp_token=TOKEN,
            whatsapp_phone_number_id=PHONE_NUMBER_ID,
            whatsapp_app_secret=APP_SECRET,
            whatsapp_verify_token=VERIFY_TOKEN,
            whatsapp_api_url=api_url,
            whatsapp_api_version=API_VERSION,
            whatsapp_templates=templates,
        ),
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWhatsApp]:
    with fake_whatsapp() as server:
        yield server


@pytest.fixture(scope="module")
def core(assistant: Assistant) -> Iterator[Core]:
    configured = bootstrap(assistant.settings)
    yield configured
    configured.engine.dispose()


def serve_router(ctx: ChannelContext) -> TestClient:
    app = FastAPI()
    app.include_router(whatsapp.routes(ctx))
    return TestClient(app)


@pytest.fixture(scope="module")
def webhook(assistant: Assistant, fake: FakeWhatsApp, core: Core) -> Iterator[TestClient]:
    """The WhatsApp router, served; one event loop for all its requests (``with``)."""
    with serve_router(whatsapp_context(core, assistant, fake.url)) as client:
        yield client


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.close()


@dataclass
class Delivery:
    """The delivery worker with the WhatsApp sender, as ``ccm worker`` runs it."""

    ctx: ChannelContext
    loop: Loop

    def until_done(self, outbox_id: int, assistant: Assistant) -> OutboxMessage:
        worker = DeliveryWorker(self.ctx, {"whatsapp": whatsapp.sender(self.ctx)}, "test")
        for _ in range(5):
            self.loop.run(worker.run_once())
            message = outbox_message(assistant, outbox_id)
            if message.status != "pending":
                return message
        raise AssertionError(f"outbox message {outbox_id} is still pending: {message.last_error}")


@pytest.fixture(scope="module")
def worker(assistant: Assistant, fake: FakeWhatsApp, core: Core, loop: Loop) -> Delivery:
    return Delivery(whatsapp_context(core, assistant, fake.url), loop)


@pytest.fixture(autouse=True)
def clean_fake(fake: FakeWhatsApp) -> None:
    fake.reset()


# --- a customer on WhatsApp: Meta's webhooks for what they do, the fake's calls for what they see ---


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


def new_message_id() -> str:
    return "wamid.HBgM" + secrets.token_urlsafe(36).replace("-", "A").replace("_", "B") + "AA=="


@dataclass
class Customer:
    client: TestClient
    fake: FakeWhatsApp
    language: str

    def __post_init__(self) -> None:
        self.wa_id = COUNTRY[self.language] + str(secrets.randbelow(10**10)).zfill(10)
        self.sent_ids: list[str] = []

    @property
    def conversation_id(self) -> str:
        return f"whatsapp:{self.wa_id}"

    def event(self, fixture: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A recorded webhook, as this customer's, with a new message id; and its message."""
        payload = copy.deepcopy(json.loads((FIXTURES / f"{fixture}.json").read_text(encoding="utf-8")))
        value = payload["entry"][0]["changes"][0]["value"]
        for contact in value.get("contacts", []):
            contact["wa_id"] = self.wa_id
        for status in value.get("statuses", []):
            status["recipient_id"] = self.wa_id
        message = (value.get("messages") or [{}])[0]
        if "from" in message:
            message.update({"from": self.wa_id, "id": new_message_id()})
        return payload, message

    def post(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        body = json.dumps(payload).encode()
        return self.client.post(
            whatsapp.WEBHOOK_PATH, content=body, headers=signed(body) if headers is None else headers
        )

    def deliver(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Meta delivers ``payload``; what reached the customer because of it."""
        before = len(self.fake.sent_to(self.wa_id))
        response = self.post(payload)
        assert response.status_code == 200, response.text
        messages = payload["entry"][0]["changes"][0]["value"].get("messages") or []
        self.sent_ids += [m["id"] for m in messages]
        return self.fake.sent_to(self.wa_id)[before:]

    def says(self, words: str) -> list[dict[str, Any]]:
        payload, message = self.event("text_message")
        message["text"]["body"] = words
        return self.deliver(payload)

    def taps(self, choice: dict[str, Any]) -> list[dict[str, Any]]:
        """Taps a reply button, or a row of a list, that the customer received."""
        kind = "list_reply" if choice.get("row") else "button_reply"
        payload, message = self.event(kind)
        message["interactive"][kind] = {"id": choice["id"], "title": choice["title"]}
        return self.deliver(payload)

    def taps_template_button(self, payload_text: str, label: str) -> list[dict[str, Any]]:
        payload, message = self.event("template_button_reply")
        message["button"] = {"payload": payload_text, "text": label}
        return self.deliver(payload)


def shown(messages: list[dict[str, Any]]) -> str:
    """The texts the customer reads, in order."""
    texts = []
    for message in messages:
        if message["type"] == "text":
            texts.append(message["text"]["body"])
        elif message["type"] == "interactive":
            texts.append(message["interactive"]["body"]["text"])
    return "\n".join(texts)


def choices(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The reply buttons or list rows of an interactive message (rows marked ``row``)."""
    interactive = message["interactive"]
    if interactive["type"] == "button":
        return [button["reply"] for button in interactive["action"]["buttons"]]
    return [{**row, "row": True} for section in interactive["action"]["sections"] for row in section["rows"]]


def file_complaint(customer: Customer) -> str:
    """The standard delivery complaint, told and confirmed on WhatsApp; returns the reference given."""
    language = customer.language
    [question] = customer.says(DELIVERY[language])
    customer.taps(choices(question)[0])
    [consent] = customer.says(ORDER[language])
    [summary] = customer.taps(choices(consent)[0])
    found = REFERENCE.search(shown(customer.taps(choices(summary)[0])))
    assert found
    return found.group(0)


def outbox_message(assistant: Assistant, outbox_id: int) -> OutboxMessage:
    with assistant.unit_of_work() as uow:
        message = uow.outbox.get(outbox_id)
        uow.session.expunge_all()
        return message


def pending_notice(assistant: Assistant, reference: str, kind: str) -> int:
    with assistant.unit_of_work() as uow:
        complaint = uow.complaints.get(reference)
        return next(
            m.id for m in uow.outbox.for_complaint(complaint) if m.kind == kind and m.status == "pending"
        )


def stored(assistant: Assistant, reference: str) -> Complaint:
    with assistant.unit_of_work() as uow:
        complaint = uow.complaints.get(reference)
        assert complaint is not None
        uow.session.expunge_all()
        return complaint


def window_closed(assistant: Assistant, customer: Customer) -> None:
    """The customer last wrote 25 hours ago."""
    with assistant.unit_of_work() as uow:
        uow.session.execute(
            update(ChatContact)
            .where(ChatContact.conversation_id == customer.conversation_id)
            .values(last_inbound_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
        )
        uow.session.commit()


def user_turns(assistant: Assistant, conversation: str) -> list[str]:
    """What the assistant heard from this customer, from Rasa's tracker."""
    tracker = assistant.rasa.http.get(f"{assistant.rasa.url}/conversations/{conversation}/tracker").json()
    return [event.get("text") for event in tracker.get("events") or [] if event.get("event") == "user"]


# --- the webhook ---


def test_meta_verifies_the_webhook_with_our_verify_token(webhook: TestClient) -> None:
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    answer = webhook.get(whatsapp.WEBHOOK_PATH, params=good)
    assert (answer.status_code, answer.text) == (200, "1158201444")
    assert answer.headers["content-type"].startswith("text/plain")

    assert webhook.get(whatsapp.WEBHOOK_PATH, params={**good, "hub.verify_token": "guess"}).status_code == 403
    assert webhook.get(whatsapp.WEBHOOK_PATH, params={**good, "hub.mode": "unsubscribe"}).status_code == 403
    assert webhook.get(whatsapp.WEBHOOK_PATH).status_code == 403


@pytest.mark.parametrize("language", ["tr", "en", "de"])
def test_a_complaint_filed_on_whatsapp_with_a_list_and_reply_buttons(
    assistant: Assistant, webhook: TestClient, fake: FakeWhatsApp, language: str
) -> None:
    customer = Customer(webhook, fake, language)

    [question] = customer.says(DELIVERY[language])
    assert question["interactive"]["type"] == "list"  # the topic and the other topics: 4 to 10 choices
    assert shown([question]) == text(language, "category_question", category=DELIVERY_LABEL[language])
    assert question["interactive"]["action"]["button"] == translate(language, "chat.choose")
    topics = choices(question)
    assert 4 <= len(topics) <= 10
    assert (topics[0]["id"], topics[0]["title"]) == (
        "/affirm",
        text(language, "yes_category", category=DELIVERY_LABEL[language]),
    )
    assert all(row["id"].startswith('/inform{"category":') for row in topics[1:])

    [asked] = customer.taps(topics[0])
    assert shown([asked]) == text(language, "ask_order_number")  # no contact question: WhatsApp reaches them

    [consent] = customer.says(ORDER[language])
    assert consent["interactive"]["type"] == "button"
    assert shown([consent]) == text(language, "ask_consent")
    assert [(b["id"], b["title"]) for b in choices(consent)] == [
        ("/affirm", text(language, "button_yes")),
        ("/deny", text(language, "button_no")),
    ]

    [summary] = customer.taps(choices(consent)[0])
    assert DELIVERY[language] in shown([summary]) and "4711-2233" in shown([summary])
    recorded = shown(customer.taps(choices(summary)[0]))
    reference = REFERENCE.search(recorded).group(0)

    complaint = stored(assistant, reference)
    assert (complaint.channel, complaint.language, complaint.status) == ("whatsapp", language, "received")
    assert complaint.customer.identity("whatsapp") == customer.conversation_id
    assert complaint.description == DELIVERY[language]
    assert set(customer.sent_ids) <= set(fake.read_receipts())  # every message shown as read


def test_the_same_message_delivered_twice_is_handled_once(
    assistant: Assistant, webhook: TestClient, fake: FakeWhatsApp
) -> None:
    customer = Customer(webhook, fake, "en")
    payload, _ = customer.event("text_message")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = DELIVERY["en"]

    first = customer.deliver(payload)
    again = customer.deliver(payload)  # Meta did not see our 200 in time and delivers it again

    assert first and again == []
    assert user_turns(assistant, customer.conversation_id) == [DELIVERY["en"]]


def test_a_call_without_a_valid_signature_is_refused_and_nothing_is_written(
    assistant: Assistant, webhook: TestClient, fake: FakeWhatsApp
) -> None:
    customer = Customer(webhook, fake, "tr")
    payload, message = customer.event("text_message")
    message["text"]["body"] = DELIVERY["tr"]
    body = json.dumps(payload).encode()

    wrong_secret = customer.post(payload, headers=signed(body, secret="not-the-app-secret"))
    missing = customer.post(payload, headers={"Content-Type": "application/json"})
    other_body = customer.post(payload, headers=signed(body + b" "))
    malformed = customer.post(payload, headers={"X-Hub-Signature-256": "md5=abc"})

    assert [r.status_code for r in (wrong_secret, missing, other_body, malformed)] == [401, 401, 401, 401]
    assert fake.calls() == []
    assert chat.last_customer_contact(assistant.unit_of_work(), customer.conversation_id) is None
    assert user_turns(assistant, customer.conversation_id) == []


def test_a_picture_is_answered_in_the_conversations_language_and_receipts_are_ignored(
    assistant: Assistant, webhook: TestClient, fake: FakeWhatsApp
) -> None:
    customer = Customer(webhook, fake, "de")
    customer.says(DELIVERY["de"])

    picture, _ = customer.event("image_message")
    [answer] = customer.deliver(picture)
    assert answer["type"] == "text" and answer["text"]["body"] == translate("de", "chat.text_only")
    assert user_turns(assistant, customer.conversation_id) == [DELIVERY["de"]]  # the picture is not a turn

    receipt, _ = customer.event("status_delivered")
    calls = len(fake.calls())
    assert customer.deliver(receipt) == []
    assert len(fake.calls()) == calls


def test_when_the_assistant_is_down_meta_is_told_to_retry_and_the_retry_is_answered(
    assistant: Assistant, core: Core, webhook: TestClient, fake: FakeWhatsApp
) -> None:
    customer = Customer(webhook, fake, "en")
    payload, _ = customer.event("text_message")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = DELIVERY["en"]
    body = json.dumps(payload).encode()
    down = whatsapp_context(core, assistant, fake.url, rasa_url="http://127.0.0.1:9")

    with serve_router(down) as unavailable:
        refused = unavailable.post(whatsapp.WEBHOOK_PATH, content=body, headers=signed(body))
    assert refused.status_code == 503
    assert fake.sent_to(customer.wa_id) == []

    [question] = customer.deliver(payload)  # Meta's retry reaches a replica whose assistant is up
    assert shown([question]) == text("en", "category_question", category=DELIVERY_LABEL["en"])


# --- notices from the process, through the delivery worker ---


def test_inside_the_24_hour_window_the_interim_notice_goes_as_a_free_form_message(
    assistant: Assistant, webhook: TestClient, fake: FakeWhatsApp, worker: Delivery
) -> None:
    customer = Customer(webhook, fake, "tr")
    reference = file_complaint(customer)
    lead = access.staff_actor(assistant.unit_of_work(), email=LEAD)

    services.start_review(assistant.unit_of_work(), lead, reference)
    sent_before = len(fake.sent_to(customer.wa_id))
    notice = worker.until_done(pending_notice(assistant, reference, "interim_notice"), assistant)

    assert notice.status == "delivered"
    [message] = fake.sent_to(customer.wa_id)[sent_before:]
    assert message["type"] == "text"
    assert message["text"]["body"] == translate(
        "tr", "outbox.interim_notice", reference=reference, department=LOGISTICS["tr"]
    )


def test_outside_the_24_hour_window_the_interim_notice_goes_as_its_template(
    assistant: Assistant, webhook: TestClient, fake: FakeWhatsApp, worker: Delivery
) -> None:
    customer = Customer(webhook, fake, "de")
    reference = file_complaint(customer)
    lead = access.staff_actor(assistant.unit_of_work(), email=LEAD)
    window_closed(assistant, customer)

    services.start_review(assistant.unit_of_work(), lead, reference)
    sent_before = len(fake.sent_to(customer.wa_id))
    notice = worker.until_done(pending_notice(assistant, reference, "interim_notice"), assistant)

    assert notice.status == "delivered"
    [message] = fake.sent_to(customer.wa_id)[sent_before:]
    assert message["type"] == "template"
    template = message["template"]
    assert (template["name"], template["language"]) == ("ccm_interim_notice", {"code": "de"})
    [body] = template["components"]
    expected = translate("de", "outbox.interim_notice", reference=reference, department=LOGISTICS["de"])
    assert [p["text"] for p in body["parameters"]] == [reference, expected]


def test_outside_the_window_without_a_template_the_notice_is_recorded_failed_with_the_reason(
    assistant: Assistant, core: Core, webhook: TestClient, fake: FakeWhatsApp, loop: Loop
) -> None:
    customer = Customer(webhook, fake, "en")
    reference = file_complaint(customer)
    lead = access.staff_actor(assistant.unit_of_work(), email=LEAD)
    window_closed(assistant, customer)
    no_templates = whatsapp_context(core, assistant, fake.url, templates={})

    services.start_review(assistant.unit_of_work(), lead, reference)
    sent_before = len(fake.sent_to(customer.wa_id))
    notice = Delivery(no_templates, loop).until_done(
        pending_notice(assistant, reference, "interim_notice"), assistant
    )

    assert notice.status == "failed"
    assert notice.last_error == "outside the 24-hour window and no template configured for interim_notice"
    assert fake.sent_to(customer.wa_id)[sent_before:] == []


def deliver_up_to_the_survey(assistant: Assistant, worker: Delivery, reference: str) -> None:
    """Review, decision, action and the 08 summary, each notice delivered before the next."""
    lead = access.staff_actor(assistant.unit_of_work(), email=LEAD)
    services.start_review(assistant.unit_of_work(), lead, reference)
    worker.until_done(pending_notice(assistant, reference, "interim_notice"), assistant)
    services.decide_complaint(assistant.unit_of_work(), lead, reference, justified=True, reason="Lost parcel")
    case = services.add_action(
        assistant.unit_of_work(), lead, reference, kind="corrective", description="Resend"
    )
    services.complete_action(
        assistant.unit_of_work(), lead, reference, action_id=case.actions[0].id, outcome="Sent"
    )
    services.inform_customer(assistant.unit_of_work(), lead, reference, summary="A new parcel was sent.")
    worker.until_done(pending_notice(assistant, reference, "action_summary"), assistant)


@pytest.mark.parametrize("language", ["tr", "de"])
def test_the_survey_is_a_list_and_choosing_a_score_answers_it(
    assistant: Assistant, webhook: TestClient, fake: FakeWhatsApp, worker: Delivery, language: str
) -> None:
    customer = Customer(webhook, fake, language)
    reference = file_complaint(customer)
    deliver_up_to_the_survey(assistant, worker, reference)

    services.send_survey(
        assistant.unit_of_work(), access.staff_actor(assistant.unit_of_work(), email=LEAD), reference
    )
    sent_before = len(fake.sent_to(customer.wa_id))
    worker.until_done(pending_notice(assistant, reference, "survey"), assistant)
    survey = fake.sent_to(customer.wa_id)[sent_before:]

    assert reference in shown(survey)
    scores = choices(survey[-1])
    assert [row["id"] for row in scores] == [f'/give_score{{"score":"{n}"}}' for n in range(1, 6)]
    labels = [choice.title for choice in load_survey(assistant.settings.survey_file).csat.choices(language)]
    for row, label in zip(scores, labels, strict=True):
        assert row["title"] == label or (row["title"].endswith("…") and row["description"] == label)

    thanks = shown(customer.taps(scores[4]))
    assert text(language, "survey_thanks", reference=reference) in thanks
    complaint = stored(assistant, reference)
    assert (complaint.status, complaint.close_reason) == ("closed", "satisfied")
    assert [r.score for r in complaint.survey_responses] == [5]


def test_outside_the_window_the_survey_template_carries_the_scores_as_quick_replies(
    assistant: Assistant, webhook: TestClient, fake: FakeWhatsApp, worker: Delivery
) -> None:
    customer = Customer(webhook, fake, "en")
    reference = file_complaint(customer)
    deliver_up_to_the_survey(assistant, worker, reference)
    window_closed(assistant, customer)

    services.send_survey(
        assistant.unit_of_work(), access.staff_actor(assistant.unit_of_work(), email=LEAD), reference
    )
    sent_before = len(fake.sent_to(customer.wa_id))
    worker.until_done(pending_notice(assistant, reference, "survey"), assistant)
    [message] = fake.sent_to(customer.wa_id)[sent_before:]

    template = message["template"]
    assert (template["name"], template["language"]) == ("ccm_survey", {"code": "en"})
    body, *buttons = template["components"]
    survey = load_survey(assistant.settings.survey_file)
    assert [p["text"] for p in body["parameters"]] == [
        reference,
        translate(
            "en",
            "outbox.survey",
            question=survey.csat_question("en", reference),
            comment=survey.comment_question("en"),
            link=services.survey_link(assistant.settings, stored(assistant, reference)),
        ),
    ]
    assert [(b["sub_type"], b["index"], b["parameters"][0]["payload"]) for b in buttons] == [
        ("quick_reply", str(n - 1), f'/give_score{{"score":"{n}"}}') for n in range(1, 6)
    ]

    thanks = shown(customer.taps_template_button(buttons[3]["parameters"][0]["payload"], "4"))
    assert text("en", "survey_thanks", reference=reference) in thanks
    assert [r.score for r in stored(assistant, reference).survey_responses] == [4]


# --- the sender on its own: WhatsApp's limits and Meta's errors ---


def test_replies_are_shaped_to_whatsapps_limits(
    assistant: Assistant, core: Core, fake: FakeWhatsApp, loop: Loop
) -> None:
    sender = whatsapp.sender(whatsapp_context(core, assistant, fake.url))
    wa_id = "905320000001"
    long_titles = tuple(
        Button(f"Option number {n} with a long title", f'/choose{{"n":{n}}}') for n in range(3)
    )
    many = tuple(Button(f"Choice {n}", f'/pick{{"n":{n}}}') for n in range(12))
    long_text = " ".join(["Ein langer Absatz über die Lieferung."] * 150)  # ~5,500 characters

    loop.run(sender.send(wa_id, Reply("Which one?", long_titles).as_json()))
    loop.run(sender.send(wa_id, Reply("Pick one:", many).as_json()))
    loop.run(sender.send(wa_id, {**Reply(long_text, many[:5]).as_json(), "language": "de"}))

    buttons, numbered, *long_parts = fake.sent_to(wa_id)
    titles = [b["title"] for b in choices(buttons)]
    assert all(len(t) <= 20 and t.endswith("…") for t in titles) and len(set(titles)) == 3
    assert [b["id"] for b in choices(buttons)] == [b.payload for b in long_titles]
    assert numbered["type"] == "text"
    assert numbered["text"]["body"].splitlines()[2:] == [f"{n + 1}. Choice {n}" for n in range(12)]
    *texts, listed = long_parts
    assert [m["type"] for m in texts] == ["text"] * len(texts) and listed["interactive"]["type"] == "list"
    assert listed["interactive"]["action"]["button"] == translate("de", "chat.choose")
    assert " ".join([*(m["text"]["body"] for m in texts), shown([listed])]).split() == long_text.split()


@pytest.mark.parametrize(
    ("failure", "permanent", "retry_after"),
    [
        (Failure(131047, "Re-engagement message", details="More than 24 hours have passed"), True, None),
        (Failure(131026, "Message undeliverable to 905320000002"), True, None),
        (Failure(100, "Invalid parameter"), True, None),
        (Failure(131009, "Parameter value is not valid"), True, None),
        (Failure(130429, "Rate limit hit"), False, None),
        (Failure(131056, "(Business Account, Consumer Account) pair rate limit hit"), False, None),
        (
            Failure(4, "Application request limit reached", status=429, headers={"Retry-After": "30"}),
            False,
            30.0,
        ),
        (Failure(131000, "Something went wrong", status=500), False, None),
        (Failure(190, "Error validating access token", status=401), False, None),
    ],
)
def test_metas_errors_become_permanent_or_temporary_failures(
    assistant: Assistant,
    core: Core,
    fake: FakeWhatsApp,
    loop: Loop,
    failure: Failure,
    permanent: bool,
    retry_after: float | None,
) -> None:
    sender = whatsapp.sender(whatsapp_context(core, assistant, fake.url))
    fake.fail_next(failure)

    with pytest.raises(DeliveryFailed) as refused:
        loop.run(sender.send("905320000002", Reply("Merhaba").as_json()))

    assert (refused.value.permanent, refused.value.retry_after) == (permanent, retry_after)
    assert str(failure.code) in refused.value.reason
    assert "905320000002" not in refused.value.reason


def test_an_unreachable_cloud_api_is_a_temporary_failure(
    assistant: Assistant, core: Core, loop: Loop
) -> None:
    sender = whatsapp.sender(whatsapp_context(core, assistant, "http://127.0.0.1:9"))

    with pytest.raises(DeliveryFailed) as refused:
        loop.run(sender.send("905320000003", Reply("Hallo").as_json()))

    assert refused.value.permanent is False
