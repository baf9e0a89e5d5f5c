"""Our chat page in a real browser: a customer files a complaint, reloads, leaves, and comes back to news."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect

from actions.conversation import text
from ccm_core.i18n import translate
from ccm_core.service_layer import access, chat, services, views
from channels.messages import Reply, conversation_id
from tests.assistant.test_conversations import DELIVERY, DELIVERY_LABEL, ORDER, REFERENCE
from tests.browser.servers import deliver_outbox, web_chat
from tests.conftest import Assistant
from tests.http_server import free_port

LANGUAGE = "tr"
ANSWER_SECONDS = 30_000  # ms: the assistant's answer, and a notice the server's check shows


def chat_page(page: Page, url: str) -> tuple[Locator, Locator]:
    """Opens the page; returns its transcript (the ARIA log) and message box, found by their labels."""
    page.goto(f"{url}/chat")
    expect(page.locator("html")).to_have_attribute("lang", LANGUAGE)
    transcript = page.get_by_role("log", name=translate(LANGUAGE, "chat.web.transcript"))
    message = page.get_by_role("textbox", name=translate(LANGUAGE, "chat.web.message_label"))
    expect(page.get_by_role("status")).to_have_text("", timeout=10_000)  # connected
    return transcript, message


def choice(transcript: Locator, title: str) -> Locator:
    return transcript.get_by_role("group", name=translate(LANGUAGE, "chat.web.choices")).get_by_role(
        "button", name=title, exact=True
    )


def test_a_customer_files_a_complaint_reloads_and_finds_a_notice_sent_while_away(
    browser: Browser, assistant: Assistant, artefacts: Path
) -> None:
    with web_chat(assistant) as server:
        context = browser.new_context(locale="tr-TR", viewport={"width": 960, "height": 1400})
        elsewhere: list[str] = []
        context.on("request", lambda r: None if r.url.startswith(server.url) else elsewhere.append(r.url))
        page = context.new_page()
        transcript, message = chat_page(page, server.url)
        expect(page).to_have_title(translate(LANGUAGE, "chat.web.title"))

        message.fill(DELIVERY[LANGUAGE])
        message.press("Enter")
        topic = text(LANGUAGE, "category_question", category=DELIVERY_LABEL[LANGUAGE])
        expect(transcript).to_contain_text(topic, timeout=ANSWER_SECONDS)
        yes = text(LANGUAGE, "button_yes")
        first_choice = transcript.get_by_role("group").get_by_role("button").first
        expect(first_choice).to_be_visible()
        first_choice.focus()
        page.keyboard.press("Enter")  # a keyboard user confirms the topic
        expect(transcript).to_contain_text(text(LANGUAGE, "ask_order_number"), timeout=ANSWER_SECONDS)
        expect(transcript.get_by_role("group")).to_have_count(0)  # answered choices go away
        expect(message).to_be_focused()

        message.fill(ORDER[LANGUAGE])
        message.press("Enter")
        expect(transcript).to_contain_text(text(LANGUAGE, "ask_contact"), timeout=ANSWER_SECONDS)
        message.fill("jane.doe@example.com")
        page.get_by_role("button", name=translate(LANGUAGE, "chat.web.send")).click()
        expect(transcript).to_contain_text(text(LANGUAGE, "ask_consent"), timeout=ANSWER_SECONDS)
        expect(choice(transcript, text(LANGUAGE, "button_no"))).to_be_visible()
        page.screenshot(path=artefacts / "web-chat-choices.png")
        choice(transcript, yes).click()  # consent
        expect(transcript).to_contain_text("4711-2233", timeout=ANSWER_SECONDS)  # the summary
        choice(transcript, yes).click()  # record it
        expect(transcript).to_contain_text(REFERENCE, timeout=ANSWER_SECONDS)
        reference = REFERENCE.search(transcript.inner_text()).group(0)

        page.reload()
        expect(transcript).to_contain_text(DELIVERY[LANGUAGE])  # kept in localStorage
        expect(transcript).to_contain_text(reference)
        page.close()

        lead = access.staff_actor(assistant.unit_of_work(), email="elif.kaya@example.com")
        services.start_review(assistant.unit_of_work(), lead, reference)
        interim = next(
            n
            for n in views.customer_notices(assistant.unit_of_work(), lead, reference)
            if n.kind == "interim_notice"
        )
        deliver_outbox(assistant, interim.id)  # while the page is closed

        page = context.new_page()
        transcript, _ = chat_page(page, server.url)
        notice = translate(LANGUAGE, "outbox.interim_notice", reference=reference, department="Lojistik")
        expect(transcript).to_contain_text(notice, timeout=ANSWER_SECONDS)
        expect(transcript).to_contain_text(DELIVERY[LANGUAGE])
        assert transcript.inner_text().count(notice) == 1
        screenshot = artefacts / "web-chat.png"
        page.screenshot(path=screenshot, full_page=True)
        print(f"screenshot of the web chat: {screenshot}")
        context.close()
    assert elsewhere == [], f"the page fetched from elsewhere: {elsewhere}"


def test_the_page_reconnects_when_the_server_is_back_and_shows_what_came_meanwhile(
    browser: Browser, assistant: Assistant
) -> None:
    port = free_port()
    context = browser.new_context(locale="tr-TR")
    page = context.new_page()
    status = page.get_by_role("status")
    with web_chat(assistant, port=port) as server:
        transcript, _ = chat_page(page, server.url)
        session_id = page.evaluate("JSON.parse(localStorage.getItem('ccm.chat.session'))")
    expect(status).to_have_text(translate(LANGUAGE, "chat.web.reconnecting"))

    notice = Reply(
        translate(LANGUAGE, "outbox.interim_notice", reference="CMP-2026-999999", department="Lojistik")
    )
    key = f"test:{uuid.uuid4().hex}"
    chat.store_chat_message(
        assistant.unit_of_work(), conversation_id("web", session_id), key, notice.as_json()
    )
    with web_chat(assistant, port=port):  # the server is back (a deploy, say)
        expect(transcript).to_contain_text(notice.text, timeout=ANSWER_SECONDS)
        expect(status).to_have_text("")
    context.close()
