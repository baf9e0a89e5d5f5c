"""WhatsApp (Cloud API): the webhook customers' messages arrive on, and the sender of replies and notices.

Meta calls ``/channels/whatsapp/webhook``: a GET once to verify the subscription, then a
POST per event, signed with the app secret (``X-Hub-Signature-256``). Text, the id of a
tapped reply button or list row, and the payload of a template's quick-reply button go
to the assistant as the customer's words; pictures, voice notes and the like get a
"text only, please" answer; delivery receipts (``statuses``) are not needed and ignored.
When the assistant is down the webhook answers 503 and Meta delivers the event again.

We talk to the Graph API with httpx rather than pywa. pywa's ``GraphAPI`` sets the base
URL of the httpx client it is given to ``https://graph.facebook.com/v{version}`` in its
constructor, so it cannot be pointed at another endpoint (a proxy, a test server;
``CCM_WHATSAPP_API_URL``) without resetting the client's ``base_url`` behind it, and at
DEBUG level it logs every request body and response, numbers and texts included. What
we send is five small JSON shapes; they are here, in the Graph API's own wire format.

Replies follow WhatsApp's limits: up to 3 choices are reply buttons (titles up to 20
characters), 4 to 10 a list (rows up to 24, the full title in the row's description),
more than 10 a text with numbered options. A button's id is the assistant's payload.

Outside the 24-hour customer-service window (counted from the customer's last message)
only approved templates may be sent. Each notice kind needs its own template, named in
``CCM_WHATSAPP_TEMPLATES`` (``interim_notice=ccm_interim_notice,survey=ccm_survey,...``)
and approved in each language (codes ``tr``, ``en``, ``de``) with two body parameters:
``{{1}}`` the case reference, ``{{2}}`` the notice's own text in the case's language, on
one line and cut at a word after 700 characters. The survey's and its reminder's templates
(``survey``, ``survey_reminder``) also have five quick-reply buttons, 1 to 5 in that order,
whose payloads we set so a tap answers the survey. A notice without a template is recorded as
failed with that reason, never dropped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import PlainTextResponse

from ccm_core.i18n import normalise_language, translate
from ccm_core.service_layer import chat
from channels.context import ChannelContext
from channels.inbound import AssistantUnreachable, CustomerMessage
from channels.messages import Button, Reply, conversation_id
from channels.sending import DeliveryFailed, Notice
from channels.settings import ChannelSettings

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
WEBHOOK_PATH = "/channels/whatsapp/webhook"

# WhatsApp's limits for what we send.
TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
REPLY_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
LIST_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
LIST_BUTTON_LIMIT = 20
CHOICE_ID_LIMIT = 256
TEMPLATE_TEXT_LIMIT = 700
TEMPLATE_QUICK_REPLIES = 10

SERVICE_WINDOW = dt.timedelta(hours=24)
# A free-form part prepared in the window's last minutes could reach Meta after it closed.
WINDOW_MARGIN = dt.timedelta(minutes=10)
TEMPLATE_BUTTON_KINDS = frozenset({"survey", "survey_reminder"})

# Graph API error codes (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
RATE_LIMITED = frozenset({4, 80007, 130429, 131048, 131056})
TRANSIENT = frozenset({1, 2, 131000, 131016, 131057, 133004})
# Our token or app setup is wrong: staff can fix it, so the message waits rather than fails.
ACCOUNT_PROBLEMS = frozenset({0, 3, 10, 190, *range(200, 300)})

IGNORED_TYPES = frozenset({"reaction", "system", "request_welcome", "ephemeral"})
REPLY_ATTEMPTS = 3
REPLY_RETRY_LIMIT_SECONDS = 10.0
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
LONG_NUMBER = re.compile(r"\+?\d[\d ]{6,}\d")


# --- what goes over the wire ---


def render(address: str, part: dict[str, Any]) -> list[dict[str, Any]]:
    """The Graph API messages for one part: a template, or a reply as text, reply buttons or a list."""
    if "template" in part:
        return [_addressed(address, _template(part))]
    language = normalise_language(part.get("language"))
    return [_addressed(address, content) for content in _reply_contents(Reply.from_json(part), language)]


def read_receipt(message_id: str) -> dict[str, Any]:
    """Shows the customer's message as read (blue ticks)."""
    return {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}


def _addressed(address: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": address, **content}


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"preview_url": False, "body": body}}


def _reply_contents(reply: Reply, language: str) -> list[dict[str, Any]]:
    buttons = reply.buttons
    if not buttons:
        return [_text(chunk) for chunk in _chunks(reply.text, TEXT_LIMIT)]
    if len(buttons) > LIST_ROWS or any(len(b.payload) > CHOICE_ID_LIMIT for b in buttons):
        return [_text(chunk) for chunk in _chunks(_numbered(reply), TEXT_LIMIT)]
    leading, body = _split_tail(reply.text or "…", INTERACTIVE_BODY_LIMIT)
    choices = (
        _reply_buttons(body, buttons) if len(buttons) <= REPLY_BUTTONS else _list(body, buttons, language)
    )
    return [*(_text(chunk) for chunk in _chunks(leading, TEXT_LIMIT) if chunk), choices]


def _reply_buttons(body: str, buttons: tuple[Button, ...]) -> dict[str, Any]:
    titles = _unique(_shorten(b.title, BUTTON_TITLE_LIMIT) for b in buttons)
    action = {
        "buttons": [
            {"type": "reply", "reply": {"id": b.payload, "title": title}}
            for b, title in zip(buttons, titles, strict=True)
        ]
    }
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": body}, "action": action},
    }


def _list(body: str, buttons: tuple[Button, ...], language: str) -> dict[str, Any]:
    titles = _unique(_shorten(b.title, ROW_TITLE_LIMIT) for b in buttons)
    rows = []
    for button, title in zip(buttons, titles, strict=True):
        row = {"id": button.payload, "title": title}
        if title != " ".join(button.title.split()):  # shortened: the whole title goes underneath
            row["description"] = _shorten(button.title, ROW_DESCRIPTION_LIMIT)
        rows.append(row)
    action = {
        "button": _shorten(translate(language, "chat.choose"), LIST_BUTTON_LIMIT),
        "sections": [{"rows": rows}],
    }
    return {"type": "interactive", "interactive": {"type": "list", "body": {"text": body}, "action": action}}


def _numbered(reply: Reply) -> str:
    options = "\n".join(f"{number}. {b.title}" for number, b in enumerate(reply.buttons, start=1))
    return f"{reply.text}\n\n{options}" if reply.text else options


def _template(part: dict[str, Any]) -> dict[str, Any]:
    components: list[dict[str, Any]] = [
        {"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in part.get("parameters", [])]}
    ]
    components += [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(index),
            "parameters": [{"type": "payload", "payload": payload}],
        }
        for index, payload in enumerate(part.get("quick_replies") or [])
    ]
    template = {"name": part["template"], "language": {"code": part["language"]}, "components": components}
    return {"type": "template", "template": template}


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word where one is near, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _unique(titles: Iterator[str]) -> list[str]:
    """WhatsApp refuses two choices with the same title; shortening can make them equal."""
    seen: list[str] = []
    for title in titles:
        candidate, number = title, 2
        while candidate in seen:
            suffix = f" {number}"
            candidate = title[: len(title) - len(suffix)] + suffix if len(title) > len(suffix) else suffix
            number += 1
        seen.append(candidate)
    return seen


def _chunks(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, split between paragraphs, lines or words."""
    pieces = []
    while len(text) > limit:
        cut = next(
            (at for separator in ("\n\n", "\n", " ") if (at := text.rfind(separator, 0, limit)) > limit // 2),
            limit,
        )
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    pieces.append(text)
    return pieces


def _split_tail(text: str, limit: int) -> tuple[str, str]:
    """``(head, tail)`` with a tail of at most ``limit`` characters, starting at a paragraph, line or word."""
    if len(text) <= limit:
        return "", text
    earliest = len(text) - limit
    window_end = earliest + limit // 2
    start = next(
        (
            at + len(separator)
            for separator in ("\n\n", "\n", " ")
            if 0 <= (at := text.find(separator, earliest, window_end)) < window_end
        ),
        earliest,
    )
    return text[:start].rstrip(), text[start:].lstrip()


def _redacted(text: str) -> str:
    """Error texts go to logs and the outbox record: no phone numbers in them."""
    return LONG_NUMBER.sub("[number]", text)


# --- the Graph API ---


class CloudApi:
    """``POST /v{version}/{phone_number_id}/messages`` with our token; failures as ``DeliveryFailed``."""

    def __init__(self, settings: ChannelSettings) -> None:
        base = f"{settings.whatsapp_api_url.rstrip('/')}/v{settings.whatsapp_api_version}"
        self.messages_url = f"{base}/{settings.whatsapp_phone_number_id}/messages"
        self.http = httpx.AsyncClient(
            timeout=HTTP_TIMEOUT, headers={"Authorization": f"Bearer {settings.whatsapp_token}"}
        )

    async def post(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.http.post(self.messages_url, json=message)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"WhatsApp could not be reached: {type(error).__name__}") from error
        if response.is_success:
            return response.json()
        raise failure_of(response)

    async def aclose(self) -> None:
        await self.http.aclose()


def failure_of(response: httpx.Response) -> DeliveryFailed:
    """Meta's error as a ``DeliveryFailed``: permanent unless waiting can help."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    details = (
        error.get("error_data", {}).get("details") if isinstance(error.get("error_data"), dict) else None
    )
    reason = f"WhatsApp refused the message (HTTP {response.status_code}, error {code}): "
    reason += str(error.get("message") or response.reason_phrase) + (f" ({details})" if details else "")
    reason = _redacted(reason)
    if response.status_code == 429 or code in RATE_LIMITED:
        return DeliveryFailed(reason, retry_after=_retry_after(response))
    if response.status_code >= 500 or code in TRANSIENT or error.get("is_transient"):
        return DeliveryFailed(reason, retry_after=_retry_after(response))
    if response.status_code == 401 or code in ACCOUNT_PROBLEMS:
        return DeliveryFailed(reason)
    return DeliveryFailed(reason, permanent=True)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


# --- sending notices from the outbox ---


class WhatsAppSender:
    """The outbox's WhatsApp side: free-form inside the 24-hour window, an approved template outside it.

    Not idempotent: WhatsApp has no de-duplication key for sends, so a part interrupted
    mid-send is not sent again.
    """

    channel = CHANNEL
    idempotent = False

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.api = CloudApi(ctx.settings)

    def prepare(self, notice: Notice, replies: list[Reply], now: dt.datetime) -> list[dict[str, Any]]:
        last = notice.last_customer_contact
        if last is not None and now - _aware(last) < SERVICE_WINDOW - WINDOW_MARGIN:
            return [{**reply.as_json(), "language": notice.language} for reply in replies]
        template = self.ctx.settings.whatsapp_templates.get(notice.kind)
        if not template:
            raise DeliveryFailed(
                f"outside the 24-hour window and no template configured for {notice.kind}", permanent=True
            )
        part: dict[str, Any] = {
            "template": template,
            "language": notice.language,
            # _shorten also joins lines: template parameters may not hold line breaks, tabs or runs of spaces.
            "parameters": [notice.reference, _shorten(notice.body, TEMPLATE_TEXT_LIMIT)],
        }
        if notice.kind in TEMPLATE_BUTTON_KINDS:
            payloads = [button.payload for reply in replies for button in reply.buttons]
            part["quick_replies"] = payloads[:TEMPLATE_QUICK_REPLIES]
        return [part]

    async def send(self, address: str, part: dict[str, Any], *, key: str | None = None) -> None:
        # A long text can take more than one message; a retry after a failure part-way repeats the first.
        for message in render(address, part):
            await self.api.post(message)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive times; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def sender(ctx: ChannelContext) -> WhatsAppSender:
    return WhatsAppSender(ctx)


# --- receiving: the webhook ---


@dataclass(frozen=True)
class Incoming:
    """One customer message of a webhook; ``text`` is None for what we cannot read (a picture, say)."""

    address: str  # the customer's WhatsApp id (wa_id)
    message_id: str  # wamid..., Meta's id: a redelivery carries the same one
    text: str | None


def signature_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    """``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with the app secret>``."""
    if not header or not app_secret or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256=").strip().lower(), expected)


def incoming_messages(payload: dict[str, Any], phone_number_id: str) -> list[Incoming]:
    """The customer messages to our number of a webhook (statuses and other numbers' events left out)."""
    found = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") != "messages":
                continue
            if (value.get("metadata") or {}).get("phone_number_id") != phone_number_id:
                # Another number of the same app; if it is ours, CCM_WHATSAPP_PHONE_NUMBER_ID is wrong.
                log.warning("a WhatsApp event for another phone number id was ignored")
                continue
            for message in value.get("messages") or []:
                if message.get("type") in IGNORED_TYPES or not message.get("from") or not message.get("id"):
                    continue
                found.append(Incoming(str(message["from"]), str(message["id"]), _words(message)))
    return found


def _words(message: dict[str, Any]) -> str | None:
    """What the customer said: the text, or the chosen button's or row's id (the assistant's payload)."""
    kind = message.get("type")
    if kind == "text":
        return (message.get("text") or {}).get("body") or None
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        chosen = interactive.get(interactive.get("type") or "") or {}
        return chosen.get("id") or None
    if kind == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        return button.get("payload") or button.get("text") or None
    return None


class Webhook:
    """Hands customer messages to the assistant and sends its replies after answering Meta."""

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.api = CloudApi(ctx.settings)

    async def replies_to(self, incoming: Incoming) -> list[Reply] | None:
        """The replies to one message; None when this delivery was handled before."""
        if incoming.text is not None:
            message = CustomerMessage(
                CHANNEL, incoming.address, incoming.text, delivery_id=incoming.message_id
            )
            return await self.ctx.inbound.handle(message)
        key = f"{CHANNEL}:{incoming.message_id}"  # the key Inbound uses for the same message id
        if not await self.ctx.inbound.take(key):
            return None
        sender_id = conversation_id(CHANNEL, incoming.address)
        try:  # a picture opens the 24-hour window too
            await asyncio.to_thread(
                chat.note_customer_contact, self.ctx.core.unit_of_work(), CHANNEL, sender_id
            )
        except BaseException:
            await asyncio.to_thread(self.ctx.guard.release, key)
            raise
        await asyncio.to_thread(self.ctx.guard.finish, key)
        return [Reply(translate(await self.conversation_language(sender_id), "chat.text_only"))]

    async def conversation_language(self, sender_id: str) -> str:
        """The language the assistant speaks with this customer (WhatsApp does not say); else English."""
        return normalise_language(await self.ctx.rasa.slot(sender_id, "language"))

    async def deliver(self, incoming: Incoming, replies: list[Reply]) -> None:
        """Mark the message read and send the replies; runs after Meta has its 200."""
        parts = [reply.as_json() for reply in replies]
        if any(REPLY_BUTTONS < len(reply.buttons) <= LIST_ROWS for reply in replies):
            language = await self.conversation_language(conversation_id(CHANNEL, incoming.address))
            parts = [{**part, "language": language} for part in parts]
        try:
            await self.api.post(read_receipt(incoming.message_id))
        except DeliveryFailed as failure:
            log.info("a WhatsApp read receipt was not accepted: %s", failure.reason)
        for part in parts:
            for message in render(incoming.address, part):
                await self._post_with_retries(message)

    async def _post_with_retries(self, message: dict[str, Any]) -> None:
        for attempt in range(1, REPLY_ATTEMPTS + 1):
            try:
                await self.api.post(message)
                return
            except DeliveryFailed as failure:
                if failure.permanent or attempt == REPLY_ATTEMPTS:
                    log.warning("a WhatsApp reply was not delivered: %s", failure.reason)
                    return
                await asyncio.sleep(min(failure.retry_after or 2.0**attempt, REPLY_RETRY_LIMIT_SECONDS))


def routes(ctx: ChannelContext) -> APIRouter:
    """The webhook: GET for Meta's verification handshake, POST for events."""
    router = APIRouter()
    webhook = Webhook(ctx)
    settings = ctx.settings

    @router.get(WEBHOOK_PATH, response_class=PlainTextResponse, include_in_schema=False)
    async def verify(
        mode: str = Query("", alias="hub.mode"),
        token: str = Query("", alias="hub.verify_token"),
        challenge: str = Query("", alias="hub.challenge"),
    ) -> PlainTextResponse:
        expected = settings.whatsapp_verify_token
        if mode == "subscribe" and expected and hmac.compare_digest(token.encode(), expected.encode()):
            return PlainTextResponse(challenge)
        return PlainTextResponse("verification failed", status_code=403)

    @router.post(WEBHOOK_PATH, include_in_schema=False)
    async def receive(request: Request, background: BackgroundTasks) -> Response:
        body = await request.body()
        if not signature_valid(
            body, request.headers.get("x-hub-signature-256"), settings.whatsapp_app_secret
        ):
            log.warning("a WhatsApp webhook call without a valid signature was refused")
            return Response(status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return Response(status_code=400)
        if not isinstance(payload, dict):
            return Response(status_code=400)
        for incoming in incoming_messages(payload, settings.whatsapp_phone_number_id):
            try:
                replies = await webhook.replies_to(incoming)
            except AssistantUnreachable:
                # Earlier messages of this call are answered; Meta redelivers and they are not handled twice.
                log.warning("the assistant is unreachable; WhatsApp will deliver the event again")
                return Response(status_code=503)
            if replies is not None:
                background.add_task(webhook.deliver, incoming, replies)
        return Response(status_code=200)

    return router
