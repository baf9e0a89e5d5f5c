"""Any channel's customer message on its way to the real assistant: once each, within the rate limit."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ccm_core.adapters.db import session_factory
from ccm_core.adapters.guard import DatabaseGuard
from ccm_core.bootstrap import bootstrap
from ccm_core.i18n import translate
from ccm_core.service_layer import chat
from channels.inbound import AssistantUnreachable, AsyncRasa, CustomerMessage, Inbound
from tests.conftest import Assistant


def inbound_on(assistant: Assistant, rasa_url: str, rate_limit: int = 20) -> Inbound:
    core = bootstrap(assistant.settings)
    return Inbound(core, AsyncRasa(rasa_url), DatabaseGuard(session_factory(core.engine)), rate_limit)


def handle(inbound: Inbound, message: CustomerMessage):
    async def run():
        try:
            return await inbound.handle(message)
        finally:
            await inbound.rasa.aclose()

    return asyncio.run(run())


def test_a_repeated_delivery_is_answered_once(assistant: Assistant) -> None:
    chat_id = str(uuid.uuid4().int)[:9]
    message = CustomerMessage("telegram", chat_id, "Merhaba", language="tr", delivery_id=f"u{chat_id}")

    first = handle(inbound_on(assistant, assistant.rasa.url), message)
    again = handle(inbound_on(assistant, assistant.rasa.url), message)

    assert first and first[0].text  # the assistant greeted, in Turkish
    assert again is None
    contact = chat.last_customer_contact(assistant.unit_of_work(), f"telegram:{chat_id}")
    assert contact is not None


def test_a_customer_who_floods_the_chat_is_asked_to_slow_down_in_their_language(assistant: Assistant) -> None:
    session = uuid.uuid4().hex
    answers = [
        handle(
            inbound_on(assistant, assistant.rasa.url, rate_limit=2),
            CustomerMessage("web", session, "Hallo", language="de", delivery_id=f"{session}-{n}"),
        )
        for n in range(3)
    ]
    assert [len(a or []) > 0 for a in answers] == [True, True, True]
    assert answers[2][0].text == translate("de", "chat.rate_limited")
    assert answers[0][0].text != translate("de", "chat.rate_limited")


def test_when_the_assistant_is_down_the_delivery_is_left_for_the_platform_to_retry(
    assistant: Assistant,
) -> None:
    chat_id = str(uuid.uuid4().int)[:9]
    message = CustomerMessage("telegram", chat_id, "Hello", language="en", delivery_id=f"down{chat_id}")

    with pytest.raises(AssistantUnreachable):
        handle(inbound_on(assistant, "http://127.0.0.1:9"), message)  # nothing listens there

    retried = handle(inbound_on(assistant, assistant.rasa.url), message)
    assert retried and retried[0].text
