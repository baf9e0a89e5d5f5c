"""The web chat as a browser uses it: Rasa's socket.io protocol, against the real assistant.

The server is ``channels.web.mount(FastAPI(), ctx)`` under uvicorn; the customer is
python-socketio's client (long-polling transport; the browser tests use websockets).
Messages the process sends while the customer is away go through the real delivery worker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import socketio

from actions.conversation import text
from ccm_core.bootstrap import bootstrap
from ccm_core.i18n import translate
from ccm_core.service_layer import access, chat, services, views
from channels import web
from channels.messages import Button, Reply, conversation_id
from channels.sending import DeliveryFailed, Notice
from channels.web.server import WebChatServer, socketio_messages
from tests.assistant.test_conversations import DELIVERY, DELIVERY_LABEL, ORDER, REFERENCE, YES
from tests.browser.servers import WebChat, deliver_outbox, web_chat
from tests.conftest import Assistant
from tests.harness import context, product_settings
from tests.http_server import free_port

LANGUAGES = ["tr", "en", "de"]
LOGISTICS = {"tr": "Lojistik", "en": "Logistics", "de": "Logistik"}
SESSION = re.compile(r"[0-9a-f]{32}")
REDIS_URL = "redis://127.0.0.1:6379/8"  # the server .ci/run starts; the Redis store tests use /7
QUIET_SECONDS = 0.6  # a turn's bot_uttered messages follow each other closely; this much silence ends it


class Customer:
    """One browser tab: a socket.io client that speaks as rasa-webchat does."""

    def __init__(self, url: str, language: str = "en") -> None:
        self.url = url
        self.language = language
        self.session_id: str | None = None
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        for event in ("session_confirm", "bot_uttered"):
            self.client.on(event, lambda data, event=event: self.events.put((event, data)))

    def connect(self, session_id: str | None = None) -> str:
        # requests' long polling: websocket-client is not installed, and the browsers test websockets
        self.client.connect(self.url, transports=["polling"], socketio_path="socket.io", wait_timeout=10)
        return self.request_session(session_id)

    def request_session(self, session_id: str | None) -> str:
        self.client.emit("session_request", {"session_id": session_id})
        event, confirmed = self.events.get(timeout=10)
        assert event == "session_confirm", (event, confirmed)
        self.session_id = confirmed
        return confirmed

    def utter(self, message: str, **extra: Any) -> None:
        data = {"message": message, "customData": {"language": self.language}, "session_id": self.session_id}
        self.client.emit("user_uttered", {**data, **extra})

    def messages(self, first_within: float = 30, quiet: float = QUIET_SECONDS) -> list[dict[str, Any]]:
        """The bot_uttered messages of one turn: the first within ``first_within`` s, the rest until quiet."""
        found: list[dict[str, Any]] = []
        timeout = first_within
        while True:
            try:
                event, data = self.events.get(timeout=timeout)
            except queue.Empty:
                return found
            assert event == "bot_uttered", (event, data)
            found.append(data)
            timeout = quiet

    def say(self, message: str) -> list[dict[str, Any]]:
        self.utter(message)
        answer = self.messages()
        assert answer, f"no answer to {message!r}"
        return answer

    def close(self) -> None:
        """Leaves as a closing tab does. The client then waits for its last long poll (up to the server's
        ping interval): that wait runs on in the background."""
        leaving = threading.Thread(target=self.client.disconnect, daemon=True)
        leaving.start()
        leaving.join(timeout=0.5)


def texts(messages: list[dict[str, Any]]) -> str:
    """What the customer reads; Rasa sends each paragraph of a reply as its own message."""
    return "\n\n".join(m["text"] for m in messages)


def payloads(messages: list[dict[str, Any]]) -> list[str]:
    return [r["payload"] for m in messages for r in m.get("quick_replies", [])]


@pytest.fixture(scope="module")
def server(assistant: Assistant) -> Iterator[WebChat]:
    with web_chat(assistant) as running:
        yield running


@pytest.fixture
def customers(server: WebChat) -> Iterator[list[Customer]]:
    opened: list[Customer] = []
    yield opened
    for customer in opened:
        customer.close()


def open_tab(customers: list[Customer], url: str, language: str = "en") -> Customer:
    customer = Customer(url, language)
    customers.append(customer)
    return customer


def file_complaint(customer: Customer) -> str:
    """The standard delivery complaint, told in the customer's language; returns the reference."""
    language = customer.language
    answer = customer.say(DELIVERY[language])
    assert texts(answer) == text(language, "category_question", category=DELIVERY_LABEL[language])
    assert all(set(m) == {"text", "quick_replies"} for m in answer)  # exactly Rasa's button message
    confirm, *topics = answer[-1]["quick_replies"]
    yes = text(language, "yes_category", category=DELIVERY_LABEL[language])
    assert confirm == {"content_type": "text", "title": yes, "payload": "/affirm"}
    assert topics and all(r["title"] and '"category"' in r["payload"] for r in topics)
    assert texts(customer.say("/affirm")) == text(language, "ask_order_number")
    assert texts(customer.say(ORDER[language])) == text(language, "ask_contact")
    consent = customer.say("jane.doe@example.com")
    assert texts(consent) == text(language, "ask_consent")
    assert payloads(consent) == ["/affirm", "/deny"]
    summary = texts(customer.say(YES[language]))
    assert DELIVERY[language] in summary and "4711-2233" in summary
    recorded = texts(customer.say(YES[language]))
    found = REFERENCE.search(recorded)
    assert found, recorded
    return found.group(0)


def test_a_session_is_confirmed_and_a_returning_page_keeps_its_own(
    server: WebChat, customers: list[Customer]
) -> None:
    first = open_tab(customers, server.url)
    session_id = first.connect()
    assert SESSION.fullmatch(session_id)
    first.close()

    returning = open_tab(customers, server.url)
    assert returning.connect(session_id) == session_id
    assert returning.request_session(None) != session_id  # no id asked for: a new conversation


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "web:12345", "short", "x" * 65, "<script>alert(1)</script>", 42]
)
def test_a_session_id_that_is_not_short_and_url_safe_is_refused(
    server: WebChat, customers: list[Customer], bad: Any
) -> None:
    confirmed = open_tab(customers, server.url).connect(bad)
    assert confirmed != bad
    assert SESSION.fullmatch(confirmed)


def test_a_socket_speaks_only_for_the_session_it_requested(
    server: WebChat, customers: list[Customer]
) -> None:
    owner = open_tab(customers, server.url)
    owner_session = owner.connect()
    intruder = open_tab(customers, server.url)
    intruder.connect()

    intruder.utter(DELIVERY["en"], session_id=owner_session)  # a copied session id
    assert intruder.messages(first_within=2) == []
    assert owner.messages(first_within=0.5) == []

    silent = open_tab(customers, server.url)
    silent.client.connect(server.url, transports=["polling"], wait_timeout=10)
    silent.session_id = owner_session
    silent.utter(DELIVERY["en"])  # no session_request first: ignored, as Rasa does
    assert silent.messages(first_within=2) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_whole_complaint_in_the_customers_language_with_buttons_as_quick_replies(
    assistant: Assistant, server: WebChat, customers: list[Customer], language: str
) -> None:
    customer = open_tab(customers, server.url, language)
    session_id = customer.connect()
    reference = file_complaint(customer)

    with assistant.unit_of_work() as uow:
        complaint = uow.complaints.get(reference)
        assert (complaint.channel, complaint.language, complaint.status) == ("web", language, "received")
        assert complaint.customer.identity("web") == conversation_id("web", session_id)
        assert complaint.description == DELIVERY[language]


@pytest.mark.parametrize(
    ("language", "key"), [("tr", "customData"), ("en", "metadata"), ("de", "customData")]
)
def test_the_language_the_page_sends_is_the_conversations_language(
    server: WebChat, customers: list[Customer], language: str, key: str
) -> None:
    """rasa-webchat sends ``customData``, Rasa's own default is ``metadata``: both are read."""
    other = {"tr": "en", "en": "de", "de": "tr"}[language]
    customer = open_tab(customers, server.url, language)
    customer.connect()
    sent_along: dict[str, Any] = {"customData": None, key: {"language": language}}
    customer.utter(DELIVERY[other], **sent_along)
    answer = customer.messages()  # written in another language: the page's language wins
    assert texts(answer) == text(language, "category_question", category=DELIVERY_LABEL[language])


def test_when_the_assistant_is_down_the_customer_is_told_in_their_language(
    assistant: Assistant, customers: list[Customer]
) -> None:
    with web_chat(assistant, rasa_url=f"http://127.0.0.1:{free_port()}") as down:
        customer = open_tab(customers, down.url, "de")
        customer.connect()
        assert texts(customer.say("Hallo")) == translate("de", "chat.unavailable")


def notice_id(assistant: Assistant, reference: str, kind: str) -> int:
    lead = access.staff_actor(assistant.unit_of_work(), email="elif.kaya@example.com")
    notices = views.customer_notices(assistant.unit_of_work(), lead, reference)
    return next(n.id for n in notices if n.kind == kind)


def waiting(assistant: Assistant, session_id: str) -> list[chat.ChatLine]:
    return chat.unshown_chat_messages(assistant.unit_of_work(), conversation_id("web", session_id))


def test_notices_sent_while_away_are_shown_once_on_return_and_at_once_while_connected(
    assistant: Assistant, server: WebChat, customers: list[Customer]
) -> None:
    customer = open_tab(customers, server.url, "en")
    session_id = customer.connect()
    reference = file_complaint(customer)
    customer.close()
    lead = access.staff_actor(assistant.unit_of_work(), email="elif.kaya@example.com")

    services.start_review(assistant.unit_of_work(), lead, reference)  # 05: the interim notice is owed
    deliver_outbox(assistant, notice_id(assistant, reference, "interim_notice"))
    interim = translate("en", "outbox.interim_notice", reference=reference, department=LOGISTICS["en"])
    assert [line.content["text"] for line in waiting(assistant, session_id)] == [interim]

    back = open_tab(customers, server.url, "en")
    assert back.connect(session_id) == session_id
    on_return = back.messages(first_within=5, quiet=2.5)  # the server's check runs each second meanwhile
    assert texts(on_return) == interim  # once
    assert waiting(assistant, session_id) == []

    explanation = "The parcel was delivered to your neighbour, as the signature shows."
    services.decide_complaint(
        assistant.unit_of_work(),
        lead,
        reference,
        justified=False,
        reason="Delivered",
        customer_explanation=explanation,
    )
    started = time.monotonic()
    deliver_outbox(assistant, notice_id(assistant, reference, "unjustified_explanation"))
    decision = back.messages(first_within=5, quiet=2.5)  # no request: the server's check shows it
    assert explanation in texts(decision) and reference in texts(decision)
    assert time.monotonic() - started < 8

    again = open_tab(customers, server.url, "en")
    again.connect(session_id)
    assert again.messages(first_within=2.5) == []  # shown is shown


def test_every_replica_shows_stored_messages_to_the_tabs_connected_to_it(
    assistant: Assistant, server: WebChat, customers: list[Customer]
) -> None:
    stored = Reply("Your complaint is being reviewed.", (Button("OK", "/affirm"),))

    def store(session_id: str) -> None:
        key = f"test:{uuid.uuid4().hex}"
        chat.store_chat_message(
            assistant.unit_of_work(), conversation_id("web", session_id), key, stored.as_json()
        )

    with web_chat(assistant) as other_replica:
        open_tab(customers, server.url).connect()  # someone else, on the first replica
        customer = open_tab(customers, other_replica.url)
        session_id = customer.connect()
        store(session_id)
        assert customer.messages(first_within=5, quiet=2.5) == socketio_messages(stored)

        second_tab = open_tab(customers, server.url)
        second_tab.connect(session_id)  # the same customer in a second tab, served by the other replica
        store(session_id)
        shown = [customer.messages(first_within=5, quiet=2.5), second_tab.messages(first_within=0.5)]
    assert socketio_messages(stored) in shown  # one replica showed it, and only once in any tab
    assert [] in shown
    assert waiting(assistant, session_id) == []


@pytest.mark.redis
def test_with_redis_a_reply_reaches_the_sessions_tabs_on_every_replica_and_stored_ones_show_once(
    assistant: Assistant, customers: list[Customer]
) -> None:
    with web_chat(assistant, redis_url=REDIS_URL) as one, web_chat(assistant, redis_url=REDIS_URL) as two:
        speaking = open_tab(customers, one.url)
        session_id = speaking.connect()
        listening = open_tab(customers, two.url)
        listening.connect(session_id)

        answer = speaking.say(DELIVERY["en"])
        assert listening.messages(first_within=5) == answer  # through Redis, as Rasa's workers share it

        stored = Reply("Your complaint is being reviewed.")
        key = f"test:{uuid.uuid4().hex}"
        chat.store_chat_message(
            assistant.unit_of_work(), conversation_id("web", session_id), key, stored.as_json()
        )
        shown = [speaking.messages(first_within=5, quiet=2.5), listening.messages(first_within=0.5)]
    assert socketio_messages(stored) in shown and [] in shown  # one replica showed it, once


def test_replies_for_a_page_closed_while_the_assistant_thought_wait_for_its_return(
    assistant: Assistant,
) -> None:
    core = bootstrap(assistant.settings)
    server = WebChatServer(context(core, product_settings(core, assistant.rasa.url)))
    session_id = uuid.uuid4().hex  # no tab of it is connected
    reply = Reply(text("en", "ask_order_number"))
    asyncio.run(server.answer(session_id, [reply]))
    assert [line.content for line in waiting(assistant, session_id)] == [reply.as_json()]
    core.engine.dispose()


def test_the_web_sender_keeps_each_part_once_for_the_customers_page(assistant: Assistant) -> None:
    core = bootstrap(assistant.settings)
    ctx = context(core, product_settings(core, assistant.rasa.url))
    sender = web.sender(ctx)
    assert (sender.channel, sender.idempotent) == ("web", True)
    notice = Notice(1, "interim_notice", "en", "CMP-2026-000001", "The notice's own words.", "web:x", None)
    now = dt.datetime.now(dt.UTC)
    survey = Reply("How satisfied are you?", (Button("1", "/give_score"),))
    assert sender.prepare(notice, [survey], now) == [survey.as_json()]
    assert sender.prepare(notice, [], now) == [Reply("The notice's own words.").as_json()]

    session_id = uuid.uuid4().hex
    for _ in range(2):  # a worker that crashed after sending sends again: shown once
        asyncio.run(sender.send(session_id, survey.as_json(), key="outbox:999999:0"))
    assert [line.content for line in waiting(assistant, session_id)] == [survey.as_json()]
    with pytest.raises(DeliveryFailed) as refused:
        asyncio.run(sender.send("not a session", survey.as_json(), key="outbox:999999:1"))
    assert refused.value.permanent
    core.engine.dispose()


@pytest.mark.parametrize(
    ("query", "accept_language", "language"),
    [("?lang=de", "tr-TR,tr;q=0.9", "de"), ("", "tr-TR,tr;q=0.9,en;q=0.5", "tr"), ("", "fr", "en")],
)
def test_the_chat_page_is_served_in_the_customers_language_with_nothing_from_elsewhere(
    server: WebChat, query: str, accept_language: str, language: str
) -> None:
    page = httpx.get(f"{server.url}/chat{query}", headers={"Accept-Language": accept_language})
    assert page.status_code == 200
    assert f'<html lang="{language}">' in page.text
    assert f"<title>{translate(language, 'chat.web.title')}</title>" in page.text
    assert f">{translate(language, 'chat.web.send')}</button>" in page.text
    assert f'placeholder="{translate(language, "chat.web.placeholder")}"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page.text)  # every asset from this server
    for asset, kind in (("chat.js", "javascript"), ("chat.css", "text/css")):
        response = httpx.get(f"{server.url}/chat/assets/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
