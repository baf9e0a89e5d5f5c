"""After an external event the action server is not asked to validate slot mappings; after a customer's
message it is, as before. A local HTTP server stands in for the action server and records each call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from rasa.core.actions.action import ActionExtractSlots
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from server import external_events

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, EXTERNAL_notice]
entities: [outbox_id]
slots:
  language:
    type: text
    influence_conversation: false
    mappings:
      - type: custom
  outbox:
    type: text
    influence_conversation: false
    mappings:
      - type: from_entity
        entity: outbox_id
actions: [action_validate_slot_mappings]
"""
)


async def extracted(message: UserUttered) -> tuple[list[Event], list[str]]:
    """The slot events Rasa extracts after ``message``, and the actions it asked the action server for."""
    called: list[str] = []

    async def action_server(request: web.Request) -> web.Response:
        called.append((await request.json())["next_action"])
        return web.json_response({"events": [{"event": "slot", "name": "language", "value": "tr"}]})

    app = web.Application()
    app.router.add_post("/webhook", action_server)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        tracker = DialogueStateTracker.from_events("customer-1", [message], slots=DOMAIN.slots)
        events = await ActionExtractSlots(EndpointConfig(f"http://127.0.0.1:{port}/webhook")).run(
            CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}), tracker, DOMAIN
        )
    finally:
        await runner.cleanup()
    return events, called


def notice() -> UserUttered:
    return UserUttered.create_external("EXTERNAL_notice", [{"entity": "outbox_id", "value": "7"}])


def greeting() -> UserUttered:
    return UserUttered("merhaba", intent={"name": "greet", "confidence": 1.0})


@pytest.fixture
def installed() -> Iterator[None]:
    original = ActionExtractSlots._execute_validation_action
    external_events.install()
    yield
    ActionExtractSlots._execute_validation_action = original  # type: ignore[method-assign]


def slots(events: list[Any]) -> dict[str, Any]:
    return {event.key: event.value for event in events if isinstance(event, SlotSet)}


def test_rasa_alone_asks_the_action_server_after_an_external_event() -> None:
    events, called = asyncio.run(extracted(notice()))
    assert called == ["action_validate_slot_mappings"]
    assert slots(events) == {"outbox": "7", "language": "tr"}


def test_an_external_event_fills_its_entities_slots_without_the_action_server(installed: None) -> None:
    events, called = asyncio.run(extracted(notice()))
    assert called == []
    assert slots(events) == {"outbox": "7"}


def test_a_customers_message_is_still_validated_by_the_action_server(installed: None) -> None:
    events, called = asyncio.run(extracted(greeting()))
    assert called == ["action_validate_slot_mappings"]
    assert slots(events) == {"language": "tr"}
