"""A local stand-in for the Telegram Bot API, spoken over real HTTP so PTB runs unchanged against it.

It answers ``POST /bot<token>/<method>`` as Telegram does: ``{"ok": true, "result": ...}`` with
Message objects like the real ones, or ``{"ok": false, "error_code", "description"}`` (plus
``parameters.retry_after`` on 429) when a test asks for a failure. Form-encoded parameters (what PTB
sends; objects such as ``reply_markup`` arrive as JSON strings) and JSON bodies are both read. Every
call is recorded for assertions; updates queued by a test are served by getUpdates, honouring
``offset`` the way Telegram does (an offset confirms every update before it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.http_server import serving

TOKEN = "7012345678:AAHk3vQeR5fX0Zq2w9mB1sL8cT4yU6iPoJa"
BOT_USER = {
    "id": 7012345678,
    "is_bot": True,
    "first_name": "CCM Şikayet",
    "username": "ccm_complaints_bot",
}
# Parameters that carry JSON objects or arrays, and numbers and flags, in a form-encoded call.
JSON_PARAMS = {"reply_markup", "allowed_updates", "entities", "link_preview_options", "reply_parameters"}
INT_PARAMS = {"offset", "limit", "timeout", "message_id", "cache_time", "max_connections"}
BOOL_PARAMS = {"drop_pending_updates", "show_alert", "disable_notification", "protect_content"}
CALLBACK_DATA_BYTES = 64
TEXT_LIMIT = 4096
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    status: int
    description: str
    retry_after: int | None = None


BLOCKED = Failure(403, "Forbidden: bot was blocked by the user")
CHAT_NOT_FOUND = Failure(400, "Bad Request: chat not found")


def flood(retry_after: int) -> Failure:
    return Failure(429, f"Too Many Requests: retry after {retry_after}", retry_after)


class FakeTelegram:
    """The Bot API methods CCM uses, with switchable failures and a record of every call."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._failures: dict[str, list[Failure]] = {}
        self._updates: list[dict[str, Any]] = []
        self._messages: dict[tuple[str, int], dict[str, Any]] = {}
        self._chats: dict[str, dict[str, Any]] = {}
        self._message_ids = itertools.count(5001)
        self.webhook: dict[str, Any] | None = None
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])
        self.url = ""

    # --- what tests use ---

    @property
    def api_url(self) -> str:
        """The ``base_url`` for PTB: it appends the token, then ``/<method>``."""
        return f"{self.url}/bot"

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [call for call in self._calls if method is None or call.method == method]

    def sent_to(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The sendMessage calls to one chat, oldest first."""
        return [
            call.params for call in self.calls("sendMessage") if str(call.params["chat_id"]) == str(chat_id)
        ]

    def messages(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The bot's messages in one chat as Telegram holds them now (a tapped keyboard may be gone)."""
        with self._lock:
            found = [message for (chat, _), message in sorted(self._messages.items()) if chat == str(chat_id)]
            return json.loads(json.dumps(found))

    def remember_chat(self, chat: dict[str, Any]) -> None:
        """The chat object Telegram returns in messages to this chat (taken from an update)."""
        with self._lock:
            self._chats[str(chat["id"])] = dict(chat)

    def fail(self, method: str, failure: Failure, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` fail as described."""
        with self._lock:
            self._failures.setdefault(method, []).extend([failure] * times)

    def queue_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self._updates.append(update)

    def pending_updates(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._updates)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._failures.clear()
            self._updates.clear()
            self.webhook = None

    # --- the wire ---

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(Failure(401, "Unauthorized"))
        method = request.path_params["method"]
        try:
            params = await _params(request)
        except ValueError as error:
            return _error(Failure(400, f"Bad Request: {error}"))
        with self._lock:
            self._calls.append(Call(method, params))
            planned = self._failures.get(method)
            failure = planned.pop(0) if planned else None
        if failure:
            return _error(failure)
        handler = getattr(self, f"_method_{method.lower()}", None)
        if handler is None:
            return _error(Failure(404, "Not Found"))
        outcome = await handler(params)
        return (
            _error(outcome) if isinstance(outcome, Failure) else JSONResponse({"ok": True, "result": outcome})
        )

    async def _method_getme(self, params: dict[str, Any]) -> Any:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False}

    async def _method_sendmessage(self, params: dict[str, Any]) -> Any:
        text = str(params.get("text") or "")
        if not text.strip():
            return Failure(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            return Failure(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if markup and not _buttons_valid(markup):
            return Failure(400, "Bad Request: BUTTON_DATA_INVALID")
        chat_id = str(params["chat_id"])
        with self._lock:
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "from": BOT_USER,
                "chat": self._chats.get(chat_id, {"id": int(chat_id), "type": "private"}),
                "date": int(time.time()),
                "text": text,
            }
            if markup and markup.get("inline_keyboard"):
                message["reply_markup"] = markup
            self._messages[(chat_id, message["message_id"])] = message
        return message

    async def _method_answercallbackquery(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            return Failure(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        return True

    async def _method_editmessagereplymarkup(self, params: dict[str, Any]) -> Any:
        key = (str(params.get("chat_id")), int(params.get("message_id") or 0))
        markup = params.get("reply_markup") or None
        with self._lock:
            message = self._messages.get(key)
            if message is None:
                return Failure(400, "Bad Request: message to edit not found")
            if message.get("reply_markup") == markup:
                return Failure(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup "
                    "are exactly the same as a current content and reply markup of the message",
                )
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            message["edit_date"] = int(time.time())
            return dict(message)

    async def _method_setwebhook(self, params: dict[str, Any]) -> Any:
        if not params.get("url"):
            return Failure(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        self.webhook = {key: params.get(key) for key in ("url", "secret_token", "allowed_updates")}
        return True

    async def _method_deletewebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            with self._lock:
                self._updates.clear()
        return True

    async def _method_getwebhookinfo(self, params: dict[str, Any]) -> Any:
        with self._lock:
            pending = len(self._updates)
        webhook = self.webhook or {}
        return {
            "url": webhook.get("url") or "",
            "has_custom_certificate": False,
            "pending_update_count": pending,
        }

    async def _method_getupdates(self, params: dict[str, Any]) -> Any:
        if self.webhook:
            return Failure(409, WEBHOOK_CONFLICT)
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        allowed = params.get("allowed_updates") or None
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            with self._lock:
                # An offset confirms every earlier update; types not asked for are never delivered.
                self._updates = [
                    update
                    for update in self._updates
                    if update["update_id"] >= offset and (allowed is None or set(update) & set(allowed))
                ]
                batch = self._updates[:limit]
            if batch or time.monotonic() >= deadline:
                return batch
            await asyncio.sleep(0.05)


async def _params(request: Request) -> dict[str, Any]:
    """The call's parameters from the query, a form body (PTB) or a JSON body (other clients)."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json") and body:
        params.update(json.loads(body))
    elif kind.startswith("application/x-www-form-urlencoded"):
        for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            params[key] = _form_value(key, value)
    elif body:
        raise ValueError(f"the fake Bot API reads form or JSON bodies, not {kind!r} (file uploads)")
    return params


def _form_value(key: str, value: str) -> Any:
    if key in JSON_PARAMS:
        return json.loads(value)
    if key in INT_PARAMS:
        return int(value)
    if key in BOOL_PARAMS:
        return value.lower() == "true"
    return value


def _buttons_valid(markup: dict[str, Any]) -> bool:
    for row in markup.get("inline_keyboard") or ():
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_BYTES:
                return False
    return True


def _error(failure: Failure) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
    if failure.retry_after is not None:
        body["parameters"] = {"retry_after": failure.retry_after}
    return JSONResponse(body, status_code=failure.status)


@contextmanager
def fake_telegram(token: str = TOKEN) -> Iterator[FakeTelegram]:
    fake = FakeTelegram(token)
    with serving(fake.app) as url:
        fake.url = url
        yield fake
