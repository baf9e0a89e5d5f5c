"""The door the product's customer channels use into Rasa: a turn is answered whole, or refused.

Rasa's REST channel catches every error of a turn, logs the customer's words with it and answers
200 with whatever replies were collected, often none: a web chat, Telegram or WhatsApp message
would count as handled while its turn failed half-way, and its text would sit in Rasa's log.
This channel speaks the same JSON (``sender``, ``message``, ``metadata`` in; the replies out) at
``/webhooks/customer/webhook`` but answers 503 when the turn did not complete, so the product
releases the delivery and the platform (or the customer's next attempt) brings it again, and it
logs the error's type only. ``/webhooks/customer/erase`` erases a conversation (``server.erasure``).
The tracker store refuses a turn it cannot record the same way
(``server.tracker_store.TurnRefused``), so a retried message is taken from where the
conversation really stood.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from server import erasure
from server.tracker_store import TurnRefused

logger = logging.getLogger(__name__)


Handler = Callable[[UserMessage], Awaitable[Any]]


class CustomerChannel(InputChannel):
    """Rasa's REST format, without its silent failures (see the module's notes)."""

    @classmethod
    def name(cls) -> str:
        return "customer"

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        module = inspect.getmodule(self)
        webhook = Blueprint(f"customer_webhook_{type(self).__name__}", module.__name__ if module else None)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.json if isinstance(request.json, dict) else {}
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not sender or not isinstance(text, str):
                return response.json({"error": "'sender' and 'message' are required strings"}, status=400)
            message = UserMessage(
                text,
                CollectingOutputChannel(),
                sender,
                input_channel=body.get("input_channel") or self.name(),
                metadata=body.get("metadata") or None,
            )
            return await answer(on_new_message, message)

        webhook.add_route(erasure.erase, "/erase", methods=["POST"])
        return webhook


async def answer(on_new_message: Handler, message: UserMessage) -> HTTPResponse:
    """The assistant's replies (200) once the turn completed; 503 when it did not."""
    try:
        await on_new_message(message)
    except (Exception, TurnRefused) as failed:
        logger.error("A customer's turn failed and was refused with 503: %s", type(failed).__name__)
        return response.json({"error": "the turn did not complete; send the message again"}, status=503)
    assert isinstance(message.output_channel, CollectingOutputChannel)
    return response.json(message.output_channel.messages)
