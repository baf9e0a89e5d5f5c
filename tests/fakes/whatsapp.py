"""A local stand-in for the WhatsApp Cloud API (Graph API), spoken over real HTTP.

It answers ``POST /v{version}/{phone_number_id}/messages`` as Meta does: text, interactive
reply buttons and lists, templates and read receipts (``status: read``), with
``{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}``
(``{"success": true}`` for a read receipt). It checks the bearer token and WhatsApp's
limits on what is sent (titles, ids, body lengths, numbers of buttons and rows), answering
a violation with Meta's error shape (``{"error": {"message", "type": "OAuthException",
"code", "error_data": {"messaging_product", "details"}, "fbtrace_id"}}``), and returns any
error a test queues. Every call is recorded.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.http_server import serving

TOKEN = "EAAJB3yZCzq0kBO7xZA2mZCvQe5ZBt4fL1ZCWqZA9sZBk8uRmZCp0ZD"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "15550783881"
API_VERSION = "22.0"


@dataclass(frozen=True)
class Call:
    path: str
    authorization: str | None
    body: dict[str, Any]
    status: int  # what the fake answered: 200, or the error's status


@dataclass(frozen=True)
class Failure:
    """An error Meta answers with; ``headers`` such as ``Retry-After``."""

    code: int
    message: str
    status: int = 400
    details: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Invalid(Exception):
    """What Meta answers a malformed message with: code 131009 (or 100) and the details."""

    def __init__(self, details: str, code: int = 131009) -> None:
        super().__init__(details)
        self.details = details
        self.code = code


class FakeWhatsApp:
    def __init__(
        self, token: str = TOKEN, phone_number_id: str = PHONE_NUMBER_ID, version: str = API_VERSION
    ) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.version = version
        self.url = ""  # set once served
        self._calls: list[Call] = []
        self._failures: deque[Failure] = deque()
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[Route("/v{version}/{phone_number_id}/messages", self._messages, methods=["POST"])]
        )

    # --- for tests ---

    def calls(self) -> list[Call]:
        with self._changed:
            return list(self._calls)

    def sent_to(self, wa_id: str) -> list[dict[str, Any]]:
        """Messages (not read receipts) to ``wa_id`` that were accepted, in order."""
        return [c.body for c in self.calls() if c.status == 200 and c.body.get("to") == wa_id]

    def read_receipts(self) -> list[str]:
        return [
            c.body["message_id"] for c in self.calls() if c.status == 200 and c.body.get("status") == "read"
        ]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        """Block until ``condition()`` holds (checked on every call), or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"the WhatsApp fake did not see the expected calls: {self._calls!r}")
                self._changed.wait(remaining)

    def fail_next(self, failure: Failure, *, times: int = 1) -> None:
        with self._changed:
            self._failures.extend([failure] * times)

    def reset(self) -> None:
        with self._changed:
            self._calls.clear()
            self._failures.clear()

    # --- the Graph API ---

    async def _messages(self, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        response = self._answer(request, body)
        with self._changed:
            self._calls.append(
                Call(request.url.path, request.headers.get("authorization"), body, response.status_code)
            )
            self._changed.notify_all()
        return response

    def _answer(self, request: Request, body: dict[str, Any]) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, 190, "Error validating access token: The session is invalid.", None)
        path = request.path_params
        if (path["version"], path["phone_number_id"]) != (self.version, self.phone_number_id):
            return _error(
                400,
                100,
                f"Unsupported post request. Object with ID '{path['phone_number_id']}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation.",
                None,
            )
        with self._changed:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return _error(failure.status, failure.code, failure.message, failure.details, failure.headers)
        try:
            return JSONResponse(self._accept(body))
        except Invalid as invalid:
            return _error(400, invalid.code, f"(#{invalid.code}) Invalid parameter", invalid.details)

    def _accept(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("messaging_product") != "whatsapp":
            raise Invalid("messaging_product must be whatsapp", code=100)
        if body.get("status") == "read":
            if not str(body.get("message_id", "")).startswith("wamid."):
                raise Invalid("message_id is not a valid WhatsApp message id", code=100)
            return {"success": True}
        to = str(body.get("to") or "")
        if not to.isdigit():
            raise Invalid("Parameter 'to' must be a phone number or WhatsApp id", code=100)
        kind = body.get("type")
        checks = {"text": _check_text, "interactive": _check_interactive, "template": _check_template}
        if kind not in checks:
            raise Invalid(f"Unsupported message type '{kind}'", code=100)
        checks[kind](body.get(kind) or {})
        message: dict[str, Any] = {"id": self._message_id()}
        if kind == "template":
            message["message_status"] = "accepted"
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [message],
        }

    def _message_id(self) -> str:
        raw = f"\x15\x02\x00\x11\x18\x12{next(self._ids):020d}{uuid.uuid4().hex[:12].upper()}\x00"
        return "wamid." + base64.b64encode(raw.encode("latin-1")).decode("ascii")


def _check_text(text: dict[str, Any]) -> None:
    body = text.get("body") or ""
    if not body.strip() or len(body) > 4096:
        raise Invalid("text.body must be 1 to 4096 characters")


def _check_interactive(interactive: dict[str, Any]) -> None:
    body = (interactive.get("body") or {}).get("text") or ""
    if not body or len(body) > 1024:
        raise Invalid("interactive.body.text must be 1 to 1024 characters")
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            raise Invalid("an interactive button message has 1 to 3 buttons")
        choices = [b.get("reply") or {} for b in buttons]
        _check_choices(choices, title_limit=20)
    elif interactive.get("type") == "list":
        label = action.get("button") or ""
        if not 1 <= len(label) <= 20:
            raise Invalid("action.button must be 1 to 20 characters")
        rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        if not 1 <= len(rows) <= 10:
            raise Invalid("a list message has 1 to 10 rows in all")
        if any(len(row.get("description") or "") > 72 for row in rows):
            raise Invalid("row description must be at most 72 characters")
        _check_choices(rows, title_limit=24)
    else:
        raise Invalid(f"Unsupported interactive type '{interactive.get('type')}'", code=100)


def _check_choices(choices: list[dict[str, Any]], title_limit: int) -> None:
    titles = [c.get("title") or "" for c in choices]
    ids = [c.get("id") or "" for c in choices]
    if any(not 1 <= len(t) <= title_limit for t in titles):
        raise Invalid(f"titles must be 1 to {title_limit} characters")
    if any(not 1 <= len(i) <= 256 for i in ids):
        raise Invalid("ids must be 1 to 256 characters")
    if len(set(titles)) != len(titles) or len(set(ids)) != len(ids):
        raise Invalid("titles and ids must be unique")


def _check_template(template: dict[str, Any]) -> None:
    if not template.get("name") or not (template.get("language") or {}).get("code"):
        raise Invalid("template.name and template.language.code are required", code=100)
    for component in template.get("components") or []:
        for parameter in component.get("parameters") or []:
            text = parameter.get("text")
            if text is not None and ("\n" in text or "\t" in text or "     " in text):
                raise Invalid(
                    "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
                )


def _error(
    status: int, code: int, message: str, details: str | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "A" + uuid.uuid4().hex[:22]
    return JSONResponse({"error": error}, status_code=status, headers=headers)


@contextmanager
def fake_whatsapp(**options: Any) -> Iterator[FakeWhatsApp]:
    fake = FakeWhatsApp(**options)
    with serving(fake.app) as url:
        fake.url = url
        yield fake
