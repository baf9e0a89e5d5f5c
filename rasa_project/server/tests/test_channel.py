"""The customer channel answers the assistant's replies, or 503 when the turn did not complete."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import LockError
from server.channel import answer
from server.tracker_store import TrackerConflict, TrackerUnavailable

WORDS = "Kargom iki haftadır gelmedi"


def message() -> UserMessage:
    return UserMessage(WORDS, CollectingOutputChannel(), "telegram:42", input_channel="customer")


def test_the_assistants_replies_are_the_answer() -> None:
    async def replied(incoming: UserMessage) -> None:
        await incoming.output_channel.send_text_message(incoming.sender_id, "Üzgünüz, hemen bakıyoruz.")

    answered = asyncio.run(answer(replied, message()))
    assert answered.status == 200
    assert json.loads(answered.body) == [{"recipient_id": "telegram:42", "text": "Üzgünüz, hemen bakıyoruz."}]


@pytest.mark.parametrize(
    "failure",
    [
        LockError("Could not queue for the conversation's lock (ConnectionError)."),
        TrackerUnavailable("ConnectionError"),
        TrackerConflict("STALE read at 12 events, 14 stored now"),
    ],
    ids=["lock not taken", "Redis down", "stale tracker"],
)
def test_a_turn_that_did_not_complete_is_refused_with_503_and_the_words_stay_out_of_the_log(
    failure: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    async def failed(incoming: UserMessage) -> None:
        await incoming.output_channel.send_text_message(incoming.sender_id, "half a turn's reply")
        raise failure

    with caplog.at_level(logging.DEBUG):
        answered = asyncio.run(answer(failed, message()))
    assert answered.status == 503
    assert "half a turn" not in answered.body.decode()  # nothing of a turn that did not count
    assert type(failure).__name__ in caplog.text
    assert WORDS not in caplog.text
