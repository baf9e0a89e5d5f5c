"""An action that fails unexpectedly still answers the customer, in their language, and loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from actions import conversation
from actions.conversation import text
from actions.server import AnsweringActionExecutor


@pytest.fixture
def database_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CCM_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/unreachable")
    conversation.core.cache_clear()
    yield
    conversation.core.cache_clear()


def call(action: str, language: str, message: str, **slots: Any) -> dict[str, Any]:
    return {
        "next_action": action,
        "sender_id": "customer-1",
        "tracker": {
            "sender_id": "customer-1",
            "slots": {"language": language, **slots},
            "latest_message": {"text": message, "intent": {"name": "inform"}, "entities": []},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": "complaint_form"} if slots else {},
            "latest_action_name": "action_listen",
        },
        "domain": {},
    }


def run(action_call: dict[str, Any]) -> Any:
    executor = AnsweringActionExecutor()
    executor.register_package("actions")
    return asyncio.run(executor.run(action_call))


def test_a_status_question_while_the_database_is_down_gets_an_answer(database_down: None) -> None:
    result = run(call("action_check_status", "de", "wo ist CMP-2026-000001?"))
    assert [r["text"] for r in result.responses] == [text("de", "something_went_wrong")]
    assert result.events == []


def test_a_failed_validation_asks_again_instead_of_keeping_the_answer(database_down: None) -> None:
    result = run(
        call("validate_complaint_form", "tr", "Teslimat", requested_slot="category", category="Teslimat")
    )
    assert [r["text"] for r in result.responses] == [text("tr", "something_went_wrong")]
    assert result.events == [{"event": "slot", "timestamp": None, "name": "category", "value": None}]
