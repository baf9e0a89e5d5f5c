"""A customer's message from any channel, on its way to the assistant and back.

Every channel (web chat, Telegram, WhatsApp) hands its messages here: a repeated
delivery is answered once, a customer who floods the conversation is asked to slow
down, and the assistant's replies come back for the channel to render. While staff have
taken the conversation over (a handoff), the customer's words go to them instead. When the
assistant cannot be reached the delivery is released, and a copy of a delivery another replica
holds (or held when it died) is refused, so the platform's own retry (or the customer's next
attempt) brings it back: nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from ccm_core.bootstrap import Core
from ccm_core.domain.errors import CCMError
from ccm_core.domain.policy import Actor
from ccm_core.i18n import normalise_language, translate
from ccm_core.service_layer import chat, services
from ccm_core.service_layer.ports import Guard, GuardUnavailable
from channels.messages import Reply, conversation_id, replies_from_rasa

log = logging.getLogger(__name__)
TOPIC_PREFIX = "complaint_"  # the intents that name a complaint's topic: complaint_billing is "billing"
PARSED_CHARACTERS = 2000  # of a long text, what the topic is read from: the start says what it is about


class AssistantUnreachable(RuntimeError):
    """Rasa did not answer; the message was not handled and may be delivered again."""


class DeliveryInProgress(AssistantUnreachable):
    """Another replica took this delivery and has not finished it, and may have died doing so.

    It is not answered here, so the channel refuses it as when the assistant is down: the platform
    delivers it again, and a later copy finds it handled or, once the lease ran out, takes it over.
    """


class GuardUnreachable(AssistantUnreachable):
    """Redis, which de-duplicates deliveries, cannot be reached (restarting, say): the message is not
    handled, as it could not be kept to once, and the platform delivers it again."""


class AsyncRasa:
    """Rasa's customer channel (REST format) and external-event API, for async adapters and the worker."""

    def __init__(self, url: str, token: str = "", timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.params = {"token": token} if token else {}
        self.http = httpx.AsyncClient(timeout=timeout)

    async def say(self, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            response = await self.http.post(
                f"{self.url}/webhooks/customer/webhook",
                json={"sender": sender, "message": text, "metadata": metadata},
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise AssistantUnreachable(_described(error)) from error
        return response.json()

    async def trigger(self, sender: str, intent: str, entities: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            response = await self.http.post(
                f"{self.url}/conversations/{sender}/trigger_intent",
                params={**self.params, "include_events": "NONE"},  # only what was said, not the session back
                json={"name": intent, "entities": entities},
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise AssistantUnreachable(_described(error)) from error
        return response.json().get("messages") or []

    async def slot(self, sender: str, name: str) -> Any:
        """A slot of the conversation (its language, for a platform that does not say); None if unknown."""
        try:
            response = await self.http.get(
                f"{self.url}/conversations/{sender}/tracker",
                params={**self.params, "include_events": "NONE"},
            )
            response.raise_for_status()
            return (response.json().get("slots") or {}).get(name)
        except (httpx.HTTPError, ValueError):
            return None

    async def topic(self, text: str) -> str | None:
        """The complaint topic the assistant's NLU reads in ``text``: its likeliest ``complaint_*`` intent.

        For a complaint that came without a conversation (a mail): the same model as the chat's.
        """
        try:
            response = await self.http.post(
                f"{self.url}/model/parse", params=self.params, json={"text": text[:PARSED_CHARACTERS]}
            )
            response.raise_for_status()
            ranking = response.json().get("intent_ranking") or []
        except (httpx.HTTPError, ValueError) as error:
            raise AssistantUnreachable(type(error).__name__) from error
        topics = [r for r in ranking if str(r.get("name")).startswith(TOPIC_PREFIX)]
        best = max(topics, key=lambda r: float(r.get("confidence") or 0), default=None)
        return str(best["name"]).removeprefix(TOPIC_PREFIX) if best else None

    async def erase(self, sender: str) -> None:
        """Erase the conversation from the assistant's tracker store (``rasa_project/server/erasure.py``)."""
        try:
            response = await self.http.post(
                f"{self.url}/webhooks/customer/erase", params=self.params, json={"sender": sender}
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise AssistantUnreachable(_described(error)) from error

    async def aclose(self) -> None:
        await self.http.aclose()


def _described(error: httpx.HTTPError) -> str:
    """The error without its URL: that names the customer's conversation (a chat id, a number)."""
    if isinstance(error, httpx.HTTPStatusError):
        return f"Rasa answered HTTP {error.response.status_code}"
    return f"Rasa not reachable ({type(error).__name__})"


@dataclass(frozen=True)
class CustomerMessage:
    """One message as a channel received it. ``text`` may be a button's payload (``/affirm``)."""

    channel: str
    address: str  # Telegram chat id, WhatsApp number, web session id
    text: str
    language: str | None = None  # what the platform knows (Telegram's language_code, the page's language)
    delivery_id: str | None = None  # the platform's id for de-duplication (update_id, wamid)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def conversation_id(self) -> str:
        return conversation_id(self.channel, self.address)


class Inbound:
    """Hands customer messages to the assistant, once each, within the rate limit."""

    def __init__(self, core: Core, rasa: AsyncRasa, guard: Guard, rate_limit: int) -> None:
        self.core = core
        self.rasa = rasa
        self.guard = guard
        self.rate_limit = rate_limit

    async def handle(self, message: CustomerMessage) -> list[Reply] | None:
        """The assistant's replies; ``None`` when this delivery was already handled.

        Raises ``AssistantUnreachable`` when Rasa is down (or answers 503), ``GuardUnreachable`` when
        Redis is, and ``DeliveryInProgress`` while another replica holds the delivery: each time it
        stays unhandled here, for the platform to deliver again.
        """
        key = f"{message.channel}:{message.delivery_id}" if message.delivery_id else None
        if key and not await self.take(key):
            return None
        try:
            replies = await self._answer(message)
        except BaseException as failed:
            if key:
                await self._release(key)
            if isinstance(failed, GuardUnavailable):
                raise GuardUnreachable(str(failed)) from failed
            raise
        if key:
            try:
                await asyncio.to_thread(self.guard.finish, key)
            except GuardUnavailable as down:  # answered all the same; only a redelivery would repeat it
                log.warning("a handled %s delivery could not be marked done: %s", message.channel, down)
        return replies

    async def _release(self, key: str) -> None:
        try:
            await asyncio.to_thread(self.guard.release, key)
        except GuardUnavailable as down:  # the claim's lease runs out by itself
            log.warning("a delivery could not be released: %s", down)

    async def take(self, key: str) -> bool:
        """Claim a delivery: False when it was handled; ``DeliveryInProgress`` while another holds it."""
        try:
            if await asyncio.to_thread(self.guard.claim, key):
                return True
            if await asyncio.to_thread(self.guard.done, key):
                return False
        except GuardUnavailable as down:
            raise GuardUnreachable(str(down)) from down
        raise DeliveryInProgress("another replica holds this delivery")

    async def _answer(self, message: CustomerMessage) -> list[Reply]:
        sender = message.conversation_id
        await asyncio.to_thread(chat.note_customer_contact, self.core.unit_of_work(), message.channel, sender)
        if not await asyncio.to_thread(self.guard.allow, f"rate:{sender}", self.rate_limit):
            log.info("rate limit reached on a %s conversation", message.channel)
            return [Reply(translate(normalise_language(message.language), "chat.rate_limited"))]
        if reference := await asyncio.to_thread(
            chat.handed_over_case, self.core.unit_of_work(), message.channel, sender
        ):
            try:
                await self._to_staff(message, reference)
                return []
            except CCMError:  # the case closed a moment ago: the assistant answers after all
                log.info("a handed-over case no longer takes messages; the assistant answers")
        metadata = {**message.metadata, "channel": message.channel}
        if message.language:
            metadata["language"] = message.language
        return replies_from_rasa(await self.rasa.say(sender, message.text, metadata))

    async def _to_staff(self, message: CustomerMessage, reference: str) -> None:
        """A person has the conversation: the words go into the case, and from there to the staff's thread."""
        actor = Actor.customer(channel=message.channel, external_id=message.conversation_id)
        await asyncio.to_thread(
            services.add_customer_message,
            self.core.unit_of_work(),
            actor,
            reference,
            body=message.text,
            channel=message.channel,
        )


def unavailable_reply(language: str | None) -> Reply:
    return Reply(translate(normalise_language(language), "chat.unavailable"))
