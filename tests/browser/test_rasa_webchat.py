"""rasa-webchat 1.0.1 from npm, embedded in a company's page on another origin, talks to our server.

The widget is the reference client of Rasa's socket.io protocol: if it opens, sends, and shows
our answers and their buttons, our endpoint speaks the protocol as Rasa does.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from actions.conversation import text
from tests.assistant.test_conversations import DELIVERY, DELIVERY_LABEL
from tests.browser.servers import web_chat
from tests.conftest import Assistant

LANGUAGE = "de"
ANSWER_MS = 30_000


def test_the_rasa_webchat_widget_opens_sends_and_shows_answers_with_buttons(
    browser: Browser, shop_site: str, assistant: Assistant, artefacts: Path
) -> None:
    with web_chat(assistant) as server:
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        page = context.new_page()
        page.goto(f"{shop_site}/webchat.html?socket={server.url}&lang={LANGUAGE}")

        page.locator(".rw-launcher").click()  # shown once the widget's socket is connected
        message = page.locator(".rw-new-message")
        expect(message).to_be_visible()
        message.fill(DELIVERY["en"])  # written in English; the page's customData says German
        message.press("Enter")

        topic = text(LANGUAGE, "category_question", category=DELIVERY_LABEL[LANGUAGE])
        expect(page.locator(".rw-response").last).to_have_text(topic, timeout=ANSWER_MS)
        replies = page.locator(".rw-replies .rw-reply")
        expect(replies.first).to_have_text(text(LANGUAGE, "yes_category", category=DELIVERY_LABEL[LANGUAGE]))
        assert replies.count() > 2  # yes, and the other topics to choose from

        replies.first.click()
        expect(page.locator(".rw-response").last).to_have_text(
            text(LANGUAGE, "ask_order_number"), timeout=ANSWER_MS
        )
        screenshot = artefacts / "rasa-webchat.png"
        page.screenshot(path=screenshot)
        print(f"screenshot of rasa-webchat: {screenshot}")
        context.close()
