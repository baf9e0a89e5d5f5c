"""The Telegram channel with the real assistant, over real HTTP on both sides.

Telegram's updates (recorded shapes, in ``tests/fixtures/telegram``) are posted to the product's
webhook served by uvicorn; python-telegram-bot sends the answers to a local Bot API server
(``tests/fakes/telegram.py``) that records them. The tests check what the customer sees in
their chat: texts in their language and the buttons under them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from actions.conversation import text
from ccm.settings import Settings
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.survey import load_survey
from ccm_core.i18n import translate
from ccm_core.service_layer import access, chat, services, views
from ccm_core.service_layer.survey_schedule import run_survey_schedule
from channels import telegram
from channels.delivery import DeliveryWorker
from channels.messages import Button, Reply
from channels.sending import DeliveryFailed, Notice
from channels.settings import AssistantSettings, ChannelSettings
from tests.conftest import Assistant
from tests.fakes.telegram import BLOCKED, CHAT_NOT_FOUND, FakeTelegram, fake_telegram, flood
from tests.harness import context, product_settings, with_channels
from tests.http_server import free_port, serving

# PTB 22 warns inside its own RetryAfter that the int becomes a timedelta; the sender reads either.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "telegram"
SECRET = "kP3x-9vQw_2LmZr7TnYb"
LANGUAGES = ["tr", "de"]
REFERENCE = re.compile(r"CMP-\d{4}-\d{6}")
DELIVERY = {
    "tr": "Kargom iki haftadır gelmedi ve kargo firması telefonlara hiç cevap vermiyor",
    "de": "Mein Paket ist nach zwei Wochen noch nicht angekommen und der Paketdienst geht nie ans Telefon",
}
DELIVERY_LABEL = {"tr": "Teslimat", "de": "Lieferung"}
LOGISTICS = {"tr": "Lojistik", "de": "Logistik"}
ORDER = {"tr": "sipariş numaram 4711-2233", "de": "Bestellnummer 4711-2233"}
YES = {"tr": "evet", "de": "ja"}
FIRST_NAMES = {"tr": "Ayşe", "de": "Jana"}
_update_ids = itertools.count(random.randrange(100_000, 900_000) * 1000)


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def conversation(chat_id: int) -> str:
    return f"telegram:{chat_id}"


@dataclass
class TelegramCustomer:
    """A customer in a private chat with the bot: what they send reaches the webhook as Telegram posts it."""

    fake: FakeTelegram
    webhook: str
    language: str
    chat_id: int = field(default_factory=lambda: random.randrange(5_000_000_000, 7_000_000_000))

    def __post_init__(self) -> None:
        self.fake.remember_chat(self.chat)

    @property
    def user(self) -> dict[str, Any]:
        return {
            "id": self.chat_id,
            "is_bot": False,
            "first_name": FIRST_NAMES[self.language],
            "language_code": self.language,
        }

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.chat_id, "first_name": FIRST_NAMES[self.language], "type": "private"}

    def message_update(self, words: str) -> dict[str, Any]:
        update = recorded("text_message_private")
        update["update_id"] = next(_update_ids)
        update["message"].update(
            message_id=random.randrange(1000, 9000), date=int(time.time()), text=words, chat=self.chat
        )
        update["message"]["from"] = self.user
        return update

    def tap_update(self, title: str) -> dict[str, Any]:
        """A tap on the button titled ``title`` under the newest message that still has buttons."""
        with_buttons = [m for m in self.fake.messages(self.chat_id) if m.get("reply_markup")]
        assert with_buttons, "no message in the chat has buttons"
        message = with_buttons[-1]
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        found = [b for b in buttons if b["text"] == title]
        assert found, f"no button {title!r} among {[b['text'] for b in buttons]}"
        update = recorded("callback_query")
        update["update_id"] = next(_update_ids)
        query = update["callback_query"]
        query.update(
            id=str(random.randrange(10**18, 10**19)), message=message, data=found[0]["callback_data"]
        )
        query["from"] = self.user
        return update

    def post(
        self, update: dict[str, Any], secret: str | None = SECRET, webhook: str | None = None
    ) -> httpx.Response:
        headers = {telegram.SECRET_HEADER: secret} if secret is not None else {}
        return httpx.post(webhook or self.webhook, json=update, headers=headers, timeout=60)

    def sends(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        """Posts the update and returns the messages the bot sent to this chat because of it."""
        before = len(self.fake.sent_to(self.chat_id))
        response = self.post(update)
        assert response.status_code == 200, response.text
        return self.fake.sent_to(self.chat_id)[before:]

    def says(self, words: str) -> list[dict[str, Any]]:
        return self.sends(self.message_update(words))

    def taps(self, title: str) -> list[dict[str, Any]]:
        return self.sends(self.tap_update(title))

    def expects(self, key: str, **params: Any) -> str:
        return text(self.language, key, **params)


def shown(messages: list[dict[str, Any]]) -> str:
    return "\n".join(message["text"] for message in messages)


def keyboard(message: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """The buttons under a message, row by row, as (what it says, what it sends)."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [[(button["text"], button["callback_data"]) for button in row] for row in rows]


def stored(core: Core, reference: str) -> Complaint:
    with core.unit_of_work() as uow:
        complaint = uow.complaints.get(reference)
        assert complaint is not None
        uow.session.expunge_all()
        return complaint


def file_complaint(customer: TelegramCustomer) -> str:
    """The delivery complaint, confirmed by taps as a Telegram customer does; returns the reference."""
    language = customer.language
    category = DELIVERY_LABEL[language]
    customer.says(DELIVERY[language])
    customer.taps(customer.expects("yes_category", category=category))
    customer.says(ORDER[language])
    customer.taps(customer.expects("button_yes"))
    found = REFERENCE.search(shown(customer.taps(customer.expects("button_yes"))))
    assert found
    return found.group(0)


def survey_open_in_chat(core: Core, settings: Settings, customer: TelegramCustomer, summary: str) -> str:
    """A complaint filed in the chat, walked by the logistics lead to 09 with every message delivered.

    The survey form is open in the customer's chat; returns the complaint's reference.
    """
    reference = file_complaint(customer)
    lead = access.staff_actor(core.unit_of_work(), email="elif.kaya@example.com")
    services.start_review(core.unit_of_work(), lead, reference)
    services.decide_complaint(core.unit_of_work(), lead, reference, justified=True, reason="Damaged")
    case = services.add_action(core.unit_of_work(), lead, reference, kind="corrective", description="Resend")
    services.complete_action(
        core.unit_of_work(), lead, reference, action_id=case.actions[0].id, outcome="Sent"
    )
    services.inform_customer(core.unit_of_work(), lead, reference, summary=summary)
    services.send_survey(core.unit_of_work(), lead, reference)
    while deliver_due(core, settings):  # one message per conversation a run, in order
        pass
    return reference


def score_keyboard(core: Core, language: str) -> tuple[list[str], list[list[tuple[str, str]]]]:
    """The survey's score labels in ``language`` and the inline keyboard a survey message carries."""
    labels = [choice.title for choice in load_survey(core.settings.survey_file).csat.choices(language)]
    return labels, [[(label, f'/give_score{{"score":"{n}"}}')] for n, label in enumerate(labels, start=1)]


# --- fixtures ---


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    with fake_telegram() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_fake(fake: FakeTelegram) -> None:
    fake.reset()


@pytest.fixture(scope="module")
def bot_settings(fake: FakeTelegram) -> ChannelSettings:
    return ChannelSettings(
        telegram_bot_token=fake.token,
        telegram_webhook_secret=SECRET,
        telegram_api_url=fake.api_url,
        telegram_mode="webhook",
        telegram_webhook_url="",
    )


@pytest.fixture(scope="module")
def settings(core: Core, assistant: Assistant, bot_settings: Settings) -> Settings:
    """The product's settings with the Telegram channel on, the assistant the real one."""
    return product_settings(core, assistant.rasa.url).model_copy(update={"channels": bot_settings})


@pytest.fixture(scope="module")
def core(assistant: Assistant) -> Iterator[Core]:
    core = bootstrap(assistant.settings)
    yield core
    core.engine.dispose()


@contextmanager
def served_webhook(core: Core, settings: Settings) -> Iterator[str]:
    """The product's Telegram webhook in a FastAPI app, served for real; yields its URL."""
    app = FastAPI()
    app.include_router(telegram.routes(context(core, settings)))
    with serving(app) as url:
        yield url + telegram.WEBHOOK_PATH


@pytest.fixture(scope="module")
def webhook(core: Core, settings: Settings) -> Iterator[str]:
    with served_webhook(core, settings) as url:
        yield url


def deliver_due(core: Core, settings: Settings) -> int:
    """One run of the delivery worker with the Telegram sender, as ``ccm worker`` runs it."""

    async def run() -> int:
        ctx = context(core, settings)
        try:
            return await DeliveryWorker(ctx, {"telegram": telegram.sender(ctx)}, "telegram-test").run_once()
        finally:
            await ctx.rasa.aclose()

    return asyncio.run(run())


# --- conversations through the webhook ---


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_customer_files_a_complaint_in_their_telegram_language(
    fake: FakeTelegram, webhook: str, core: Core, language: str
) -> None:
    customer = TelegramCustomer(fake, webhook, language)
    category = DELIVERY_LABEL[language]

    [question] = customer.says(DELIVERY[language])
    assert question["text"] == customer.expects("category_question", category=category)
    rows = keyboard(question)
    assert rows[0] == [(customer.expects("yes_category", category=category), "/affirm")]
    assert all(len(row) == 1 for row in rows)  # long labels: one button per row
    every_category = views.categories(core.unit_of_work())
    assert len(rows) == len(every_category)  # every other topic offered too: no payload too long to send

    [asked] = customer.taps(customer.expects("yes_category", category=category))
    assert asked["text"] == customer.expects("ask_order_number")
    [tap] = fake.calls("answerCallbackQuery")
    assert tap.params["callback_query_id"]
    assert "reply_markup" not in fake.messages(customer.chat_id)[0]  # the tapped keyboard is gone

    [consent] = customer.says(ORDER[language])  # no contact asked: the chat reaches the customer
    assert consent["text"] == customer.expects("ask_consent")
    assert keyboard(consent) == [
        [(customer.expects("button_yes"), "/affirm"), (customer.expects("button_no"), "/deny")]
    ]  # short labels share a row
    summary = shown(customer.taps(customer.expects("button_yes")))
    assert DELIVERY[language] in summary and "4711-2233" in summary
    answer = shown(customer.says(YES[language]))
    reference = REFERENCE.search(answer).group(0)

    complaint = stored(core, reference)
    assert (complaint.channel, complaint.language, complaint.status) == ("telegram", language, "received")
    assert complaint.customer.identity("telegram") == conversation(customer.chat_id)
    assert complaint.description == DELIVERY[language]
    with core.unit_of_work() as uow:
        [acknowledgement] = uow.outbox.for_complaint(uow.complaints.get(reference))
        assert acknowledgement.status == "delivered"  # shown in this turn, never sent again
        assert acknowledgement.body in answer


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_chat_opened_with_start_is_greeted_in_the_customers_language(
    fake: FakeTelegram, webhook: str, language: str
) -> None:
    customer = TelegramCustomer(fake, webhook, language)
    start = customer.message_update("/start")
    start["message"]["entities"] = [{"offset": 0, "length": 6, "type": "bot_command"}]

    assert [m["text"] for m in customer.sends(start)] == [greeting(language)]


def greeting(language: str) -> str:
    """The assistant's greeting in ``language``, as its domain words it."""
    domain = yaml.safe_load((ROOT / "rasa_project" / "domain" / "core.yml").read_text(encoding="utf-8"))
    variants = domain["responses"]["utter_greet"]
    return next(v["text"] for v in variants if v.get("condition", [{}])[0].get("value") == language)


def test_an_update_delivered_twice_is_answered_once(fake: FakeTelegram, webhook: str) -> None:
    customer = TelegramCustomer(fake, webhook, "tr")
    update = customer.message_update(DELIVERY["tr"])
    first = customer.sends(update)
    assert [m["text"] for m in first] == [customer.expects("category_question", category="Teslimat")]
    assert customer.sends(update) == []

    tap = customer.tap_update(customer.expects("yes_category", category="Teslimat"))
    assert [m["text"] for m in customer.sends(tap)] == [customer.expects("ask_order_number")]
    assert customer.sends(tap) == []
    assert len(fake.sent_to(customer.chat_id)) == 2


def test_buttons_that_name_a_complaint_reach_telegram_and_work(fake: FakeTelegram, webhook: str) -> None:
    customer = TelegramCustomer(fake, webhook, "tr")
    first, second = file_complaint(customer), file_complaint(customer)

    [choice] = customer.says("şikayetimi geri çekmek istiyorum")
    titles = [title for row in keyboard(choice) for title, _ in row]
    assert sorted(titles) == sorted(
        customer.expects("complaint_button", reference=r, step=translate("tr", "status.received"))
        for r in (first, second)
    )  # the longest payloads the assistant makes fit Telegram's 64 bytes: none was left out
    chosen = customer.expects("complaint_button", reference=second, step=translate("tr", "status.received"))
    assert shown(customer.taps(chosen)) == customer.expects("ask_withdraw_confirmed", reference=second)


@pytest.mark.parametrize(
    ("secret", "status"), [(None, 401), ("not-the-secret", 403), ("", 403), (SECRET + "x", 403)]
)
def test_without_the_webhook_secret_nothing_is_read_or_written(
    fake: FakeTelegram, webhook: str, core: Core, secret: str | None, status: int
) -> None:
    customer = TelegramCustomer(fake, webhook, "de")
    response = customer.post(customer.message_update(DELIVERY["de"]), secret=secret)

    assert response.status_code == status
    assert fake.calls() == []
    assert chat.last_customer_contact(core.unit_of_work(), conversation(customer.chat_id)) is None


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"message": {"text": "hi"}}', b'{"update_id": "7"}'])
def test_a_body_that_is_not_an_update_is_refused(fake: FakeTelegram, webhook: str, body: bytes) -> None:
    response = httpx.post(
        webhook, content=body, headers={telegram.SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert fake.calls() == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_photo_without_words_is_answered_that_only_text_is_read(
    fake: FakeTelegram, webhook: str, language: str
) -> None:
    customer = TelegramCustomer(fake, webhook, language)
    photo = recorded("photo_message")
    photo["update_id"] = next(_update_ids)
    photo["message"].update(chat=customer.chat)
    photo["message"]["from"] = customer.user

    assert [m["text"] for m in customer.sends(photo)] == [translate(language, "chat.text_only")]
    assert customer.sends(photo) == []  # delivered again: answered once


def test_group_chats_and_edited_messages_are_ignored(fake: FakeTelegram, webhook: str, core: Core) -> None:
    customer = TelegramCustomer(fake, webhook, "tr")
    group = recorded("group_message")
    group["update_id"] = next(_update_ids)
    group["message"]["from"] = customer.user
    edited = recorded("edited_message")
    edited["update_id"] = next(_update_ids)
    edited["edited_message"].update(chat=customer.chat)

    assert customer.post(group).status_code == 200
    assert customer.post(edited).status_code == 200
    assert fake.calls() == []
    group_conversation = conversation(group["message"]["chat"]["id"])
    assert chat.last_customer_contact(core.unit_of_work(), group_conversation) is None
    assert chat.last_customer_contact(core.unit_of_work(), conversation(customer.chat_id)) is None


def test_while_the_assistant_is_down_the_webhook_asks_telegram_to_retry(
    fake: FakeTelegram, webhook: str, core: Core, settings: Settings
) -> None:
    down = settings.model_copy(
        update={"assistant": AssistantSettings(rasa_url=f"http://127.0.0.1:{free_port()}")}
    )
    customer = TelegramCustomer(fake, webhook, "de")
    update = customer.message_update(DELIVERY["de"])
    with served_webhook(core, down) as unready:
        assert customer.post(update, webhook=unready).status_code == 503
    assert fake.sent_to(customer.chat_id) == []

    retried = customer.sends(update)  # Telegram delivers the same update again once we are back
    assert [m["text"] for m in retried] == [customer.expects("category_question", category="Lieferung")]


def test_while_redis_is_down_the_webhook_asks_telegram_to_retry(
    fake: FakeTelegram, webhook: str, core: Core, settings: Settings
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # Redis restarting: nothing listens
    without_redis = bootstrap(core.settings.model_copy(update={"redis_url": nowhere}))
    customer = TelegramCustomer(fake, webhook, "tr")
    update = customer.message_update(DELIVERY["tr"])
    with served_webhook(without_redis, settings) as unready:
        assert customer.post(update, webhook=unready).status_code == 503
    without_redis.engine.dispose()
    assert fake.sent_to(customer.chat_id) == []

    retried = customer.sends(update)  # delivered again once Redis is back
    assert [m["text"] for m in retried] == [customer.expects("category_question", category="Teslimat")]


def test_an_update_whose_replica_died_while_handling_it_is_refused_until_it_can_be_answered(
    fake: FakeTelegram, webhook: str, core: Core
) -> None:
    customer = TelegramCustomer(fake, webhook, "tr")
    update = customer.message_update(DELIVERY["tr"])
    # A replica took the update and was killed: its claim stands until its lease runs out.
    assert core.guard().claim(f"telegram:{update['update_id']}", lease_seconds=2)

    assert customer.post(update).status_code == 503  # not "done": Telegram delivers it again
    assert fake.sent_to(customer.chat_id) == []
    deadline = time.monotonic() + 30
    while (status := customer.post(update).status_code) == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 200
    assert [m["text"] for m in fake.sent_to(customer.chat_id)] == [
        customer.expects("category_question", category="Teslimat")
    ]
    assert customer.sends(update) == []  # answered once; later copies are ignored


# --- the process reaching the chat, through the delivery worker ---


@pytest.mark.parametrize("language", LANGUAGES)
def test_notices_reach_the_chat_and_the_survey_is_answered_with_a_tap(
    fake: FakeTelegram, webhook: str, core: Core, settings: Settings, language: str
) -> None:
    customer = TelegramCustomer(fake, webhook, language)
    reference = file_complaint(customer)
    lead = access.staff_actor(core.unit_of_work(), email="elif.kaya@example.com")

    def delivered() -> list[dict[str, Any]]:
        before = len(fake.sent_to(customer.chat_id))
        assert deliver_due(core, settings) >= 1
        return fake.sent_to(customer.chat_id)[before:]

    services.start_review(core.unit_of_work(), lead, reference)
    interim = translate(
        language, "outbox.interim_notice", reference=reference, department=LOGISTICS[language]
    )
    assert [m["text"] for m in delivered()] == [interim]

    services.decide_complaint(core.unit_of_work(), lead, reference, justified=True, reason="Damaged")
    case = services.add_action(core.unit_of_work(), lead, reference, kind="corrective", description="Resend")
    services.complete_action(
        core.unit_of_work(), lead, reference, action_id=case.actions[0].id, outcome="Sent"
    )
    services.inform_customer(core.unit_of_work(), lead, reference, summary="A new item was sent.")
    assert "A new item was sent." in shown(delivered())

    services.send_survey(core.unit_of_work(), lead, reference)
    survey = delivered()
    assert reference in shown(survey)
    labels, scores = score_keyboard(core, language)
    assert keyboard(survey[-1]) == scores

    thanks = customer.taps(labels[4])
    assert shown(thanks) == customer.expects("survey_thanks", reference=reference)
    complaint = stored(core, reference)
    assert complaint.status == "closed"
    [response] = complaint.survey_responses
    assert (response.score, response.satisfied) == (5, True)
    with core.unit_of_work() as uow:
        assert {m.status for m in uow.outbox.for_complaint(uow.complaints.get(reference))} == {"delivered"}


def test_an_unanswered_survey_is_reminded_once_in_the_chat_and_a_tap_on_the_reminder_answers_it(
    fake: FakeTelegram, webhook: str, core: Core, settings: Settings
) -> None:
    customer = TelegramCustomer(fake, webhook, "tr")
    reference = survey_open_in_chat(core, settings, customer, summary="Yeni ürün gönderildi.")
    before = len(fake.sent_to(customer.chat_id))

    with core.unit_of_work() as uow:  # the customer lets the reminder time pass without answering
        uow.complaints.get(reference).survey_remind_at = uow.now() - dt.timedelta(minutes=1)
        uow.session.commit()
    assert run_survey_schedule(core.unit_of_work()).reminded == 1
    assert run_survey_schedule(core.unit_of_work()).reminded == 0  # once, however often the worker looks
    assert deliver_due(core, settings) >= 1
    reminder = fake.sent_to(customer.chat_id)[before:]
    assert "henüz sizden yanıt alamadık" in shown(reminder) and f"/survey/{reference}.0." in shown(reminder)
    labels, scores = score_keyboard(core, "tr")
    assert keyboard(reminder[-1]) == scores

    customer.taps(labels[1])  # 2: not satisfied, so the form asks for a comment
    customer.says("Yeni gelen ürün de kırık")
    complaint = stored(core, reference)
    assert (complaint.status, complaint.follow_up_round) == ("follow_up", 1)
    assert [(r.score, r.comment, r.source) for r in complaint.survey_responses] == [
        (2, "Yeni gelen ürün de kırık", "chat")
    ]


def test_another_cases_notice_during_an_open_survey_is_shown_and_the_survey_asked_again(
    fake: FakeTelegram, webhook: str, core: Core, settings: Settings
) -> None:
    customer = TelegramCustomer(fake, webhook, "de")
    reference = survey_open_in_chat(core, settings, customer, summary="Neue Ware verschickt.")
    lead = access.staff_actor(core.unit_of_work(), email="elif.kaya@example.com")
    # The same customer's second case, taken by phone, reaches review while the survey is open.
    other = services.record_complaint(
        core.unit_of_work(),
        lead,
        channel="telegram",
        language="de",
        category="delivery",
        description="Die zweite Lieferung fehlt auch.",
        customer=services.CustomerDetails(channel_identity=conversation(customer.chat_id)),
    ).case.reference
    services.start_review(core.unit_of_work(), lead, other)
    before = len(fake.sent_to(customer.chat_id))
    while deliver_due(core, settings):
        pass

    shown_now = shown(fake.sent_to(customer.chat_id)[before:])
    assert translate("de", "outbox.interim_notice", reference=other, department=LOGISTICS["de"]) in shown_now
    assert customer.expects("invalid_score") not in shown_now  # the notice was not taken for a score
    labels, scores = score_keyboard(core, "de")
    assert keyboard(fake.sent_to(customer.chat_id)[-1]) == scores  # the survey is asked again
    customer.taps(labels[4])
    assert stored(core, reference).close_reason == "satisfied"
    assert stored(core, other).status == "in_review"


def test_a_notice_reaching_the_chat_while_the_customer_files_a_complaint_is_shown_and_filing_goes_on(
    fake: FakeTelegram, webhook: str, core: Core, settings: Settings
) -> None:
    customer = TelegramCustomer(fake, webhook, "tr")
    lead = access.staff_actor(core.unit_of_work(), email="elif.kaya@example.com")
    earlier = services.record_complaint(  # taken by phone last week, for the same Telegram customer
        core.unit_of_work(),
        lead,
        channel="telegram",
        language="tr",
        category="delivery",
        description="Önceki kargom da gelmemişti.",
        customer=services.CustomerDetails(channel_identity=conversation(customer.chat_id)),
    ).case.reference
    while deliver_due(core, settings):
        pass

    customer.says(DELIVERY["tr"])  # filing a new complaint: the topic question is open
    services.start_review(core.unit_of_work(), lead, earlier)
    before = len(fake.sent_to(customer.chat_id))
    while deliver_due(core, settings):
        pass
    interim = translate("tr", "outbox.interim_notice", reference=earlier, department=LOGISTICS["tr"])
    assert shown(fake.sent_to(customer.chat_id)[before:]).startswith(interim)

    customer.taps(customer.expects("yes_category", category=DELIVERY_LABEL["tr"]))
    customer.says(ORDER["tr"])
    customer.taps(customer.expects("button_yes"))
    found = REFERENCE.search(shown(customer.taps(customer.expects("button_yes"))))
    assert found and found.group(0) != earlier
    filed = stored(core, found.group(0))
    assert filed.description == DELIVERY["tr"] and "4711-2233" in (filed.external_reference or "")
    assert stored(core, earlier).status == "in_review"


# --- long polling and webhook registration ---


def test_long_polling_answers_queued_updates_until_stopped(
    fake: FakeTelegram, core: Core, settings: Settings
) -> None:
    customer = TelegramCustomer(fake, "", "tr")
    fake.webhook = {"url": "https://ccm.example.com/channels/telegram/webhook"}  # left from a deployment
    fake.queue_update(customer.message_update(DELIVERY["tr"]))
    edited = recorded("edited_message")
    edited["update_id"] = next(_update_ids)
    edited["edited_message"].update(chat=customer.chat)
    fake.queue_update(edited)  # not asked for: Telegram does not deliver it

    async def until(condition: Any) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, "the poller did not get there in time"
            await asyncio.sleep(0.05)

    async def run() -> float:
        ctx = context(core, settings)
        stop = asyncio.Event()
        poller = asyncio.create_task(telegram.poll(ctx, stop, long_poll_seconds=2))
        try:
            await until(lambda: len(fake.sent_to(customer.chat_id)) == 1)
            tap = customer.tap_update(customer.expects("yes_category", category="Teslimat"))
            fake.queue_update(tap)
            await until(lambda: len(fake.sent_to(customer.chat_id)) == 2)
            await until(lambda: fake.pending_updates() == [])  # the next getUpdates confirmed them
            stop.set()
            stopped = time.monotonic()
            await asyncio.wait_for(poller, timeout=10)
            return time.monotonic() - stopped
        finally:
            stop.set()
            await ctx.rasa.aclose()

    took = asyncio.run(run())

    assert took < 1.5  # a long poll in flight does not hold up the stop
    [question, asked] = fake.sent_to(customer.chat_id)
    assert question["text"] == customer.expects("category_question", category="Teslimat")
    assert asked["text"] == customer.expects("ask_order_number")
    methods = [call.method for call in fake.calls()]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")
    assert "answerCallbackQuery" in methods
    polls = fake.calls("getUpdates")
    assert all(call.params["allowed_updates"] == ["message", "callback_query"] for call in polls)


def test_the_webhook_is_registered_with_its_secret_when_a_url_is_set(
    fake: FakeTelegram, core: Core, settings: Settings
) -> None:
    async def register(url: str) -> bool:
        ctx = context(core, with_channels(settings, telegram_webhook_url=url))
        try:
            return await telegram.register_webhook(ctx)
        finally:
            await ctx.rasa.aclose()

    assert asyncio.run(register("")) is False
    assert fake.calls() == []

    url = "https://ccm.example.com/channels/telegram/webhook"
    assert asyncio.run(register(url)) is True
    assert fake.webhook == {
        "url": url,
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
    }


# --- the sender on its own ---


def test_the_sender_shows_buttons_and_splits_what_telegram_cannot_take_at_once(
    fake: FakeTelegram, bot_settings: Settings
) -> None:
    chat_id = "6120000001"
    long_payload = '/inform{"category":"' + "x" * 60 + '"}'
    reply = Reply(
        "Erste Zeile\n" + "z" * 4100,
        (Button("Ja", "/affirm"), Button("Nein", "/deny"), Button("Zu lang", long_payload)),
    )

    asyncio.run(telegram.TelegramSender(bot_settings).send(chat_id, reply.as_json(), key="outbox:1:0"))

    sent = fake.sent_to(chat_id)
    assert [m["text"] for m in sent] == ["Erste Zeile", "z" * 4096, "z" * 4]  # at a line end where it can
    assert [keyboard(m) for m in fake.messages(chat_id)] == [[], [], [[("Ja", "/affirm"), ("Nein", "/deny")]]]


def test_a_notice_without_the_assistants_words_is_sent_as_its_body(bot_settings: Settings) -> None:
    notice = Notice(
        7, "interim_notice", "tr", "CMP-2026-000007", "Şikayetiniz inceleniyor.", "telegram:61", None
    )
    sender = telegram.TelegramSender(bot_settings)
    now = dt.datetime.now(dt.UTC)
    assert sender.prepare(notice, [], now) == [{"text": "Şikayetiniz inceleniyor.", "buttons": []}]
    words = [Reply("Merhaba", (Button("1", "/give_score"),))]
    assert sender.prepare(notice, words, now) == [r.as_json() for r in words]


def test_telegram_refusals_become_delivery_failures(fake: FakeTelegram, bot_settings: Settings) -> None:
    part = Reply("Ihre Beschwerde wird geprüft.").as_json()

    def failure(channels: ChannelSettings = bot_settings) -> DeliveryFailed:
        with pytest.raises(DeliveryFailed) as caught:
            asyncio.run(telegram.TelegramSender(channels).send("6120000002", part))
        return caught.value

    fake.fail("sendMessage", flood(7))
    flooded = failure()
    assert (flooded.permanent, flooded.retry_after) == (False, 7.0)

    fake.fail("sendMessage", BLOCKED)
    blocked = failure()
    assert blocked.permanent and "blocked" in blocked.reason

    fake.fail("sendMessage", CHAT_NOT_FOUND)
    assert failure().permanent

    unreachable = failure(
        bot_settings.model_copy(update={"telegram_api_url": f"http://127.0.0.1:{free_port()}/bot"})
    )
    assert (unreachable.permanent, unreachable.retry_after) == (False, None)
    assert fake.messages("6120000002") == []  # nothing reached the chat
