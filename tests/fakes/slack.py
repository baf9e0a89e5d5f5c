"""A local stand-in for Slack's Web API, spoken over real HTTP so slack-sdk runs unchanged against it.

It answers ``POST /api/<method>`` as Slack does (``{"ok": true, ...}`` or ``{"ok": false,
"error": ...}``, 429 with ``Retry-After`` when asked to), records every call, keeps the
messages of each channel (so a test reads what staff see there, updates included) and the
views opened and published. ``POST /respond/<id>`` is a response URL for slash commands.
``apps.connections.open`` (Socket Mode) takes the app-level token, and no other method does;
it answers with a new WebSocket URL from ``open_connection`` (``tests/fakes/slack_socket_mode.py``).
Channel names (``#ccm-logistics``) resolve to stable ids, and a user id as a channel is
that user's DM with the app, as on Slack.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from tests.http_server import serving

BOT_TOKEN = "xoxb-1234567890-0987654321-Zq8Lm2Xn4Vb6Cc8Dd0Ee2Ff4"
APP_TOKEN = "xapp-1-A0CCMAPP1-1234567890-5f3c9a0d7e2b4c6a8e1f0d3b5a7c9e2f4b6d8a0c1e3f5a7b9d2c4e6f8a0b1c3d"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0CCM0001"
BOT_USER = "U0CCMBOT1"


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    token: str = BOT_TOKEN  # the bearer token it was made with


def channel_id(name: str) -> str:
    """A stable channel id for a channel name, as Slack answers with ids."""
    if not name.startswith("#"):
        return name
    return "C" + hashlib.sha256(name.encode()).hexdigest()[:9].upper()


class FakeSlack:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []  # what slash commands sent to their response URL
        self.locales: dict[str, str] = {}  # users.info locales of people who are not staff
        self._failures: dict[str, list[tuple[int, str]]] = {}
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self.channels: dict[str, list[dict[str, Any]]] = {}  # channel id → messages, in order
        self.url = ""
        self.open_connection: Callable[[], str] | None = None  # a Socket Mode URL for apps.connections.open
        self._file_ids = itertools.count(1)
        self._uploads: dict[str, dict[str, Any]] = {}  # file id → name, bytes received
        self.shared: dict[str, list[dict[str, Any]]] = {}  # channel id → files shared there, in order

    # --- what tests read ---

    def called(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [call.params for call in self.calls if call.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self.channels.get(channel_id(channel), []) if "thread_ts" not in m]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self.channels.get(channel_id(channel), []) if m.get("thread_ts") == ts]

    def dms(self, user: str) -> list[dict[str, Any]]:
        return self.messages(f"D{user}")

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        return [p for p in self.called("chat.postEphemeral") if p.get("user") == user]

    def last_view(self, method: str) -> dict[str, Any]:
        found = self.called(method)
        assert found, f"no {method} call was made"
        return found[-1]["view"]

    def files(self, channel: str) -> list[dict[str, Any]]:
        """The files shared into ``channel`` (``name``, ``title``, ``content`` bytes, ``initial_comment``)."""
        with self._lock:
            return [dict(f) for f in self.shared.get(channel_id(channel), [])]

    def fail(self, method: str, status: int, error: str, times: int = 1) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, error)] * times)

    # --- the API ---

    async def api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        raw = (await request.body()).decode("utf-8")
        if request.method == "GET":  # slack-sdk reads users.info and the like with GET
            params: dict[str, Any] = dict(request.query_params)
        elif request.headers.get("content-type", "").startswith("application/json"):
            params = json.loads(raw or "{}")
        else:
            params = dict(parse_qsl(raw))
        if request.method == "POST" and request.query_params:  # the async client sends some in the URL
            params = {**dict(request.query_params), **params}
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        sent = request.headers.get("authorization")
        token = next((known for known in (BOT_TOKEN, APP_TOKEN) if sent == f"Bearer {known}"), None)
        if token is None:
            return JSONResponse({"ok": False, "error": "not_authed"})
        if (token == APP_TOKEN) != (method == "apps.connections.open"):
            return JSONResponse({"ok": False, "error": "not_allowed_token_type"})
        with self._lock:
            self.calls.append(Call(method, params, token))
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
        if failure is not None:
            status, error = failure
            headers = {"Retry-After": "1"} if status == 429 else {}
            return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)
        return JSONResponse(self.answer(method, params))

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://ccm.slack.com/",
                "team": "CCM",
                "user": "ccm",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": "B0CCMBOT1",
                "is_enterprise_install": False,
            }
        if method in ("chat.postMessage", "chat.update"):
            channel = str(params.get("channel", ""))
            channel = f"D{channel}" if channel.startswith("U") else channel_id(channel)
            with self._lock:
                messages = self.channels.setdefault(channel, [])
                if method == "chat.update":
                    target = next((m for m in messages if m["ts"] == params.get("ts")), None)
                    if target is None:
                        return {"ok": False, "error": "message_not_found"}
                    target.update(text=params.get("text"), blocks=params.get("blocks"))
                    return {"ok": True, "channel": channel, "ts": target["ts"], "text": params.get("text")}
                ts = f"{int(time.time())}.{next(self._ts):06d}"
                message = {"ts": ts, "text": params.get("text"), "blocks": params.get("blocks")}
                if params.get("thread_ts"):
                    message["thread_ts"] = params["thread_ts"]
                messages.append(message)
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{int(time.time())}.{next(self._ts):06d}"}
        if method in ("views.open", "views.push", "views.update", "views.publish"):
            view = dict(params.get("view") or {})
            view_id = params.get("view_id") or f"V{next(self._views):08d}"
            return {"ok": True, "view": {**view, "id": view_id}}
        if method == "users.info":
            user = params.get("user", "")
            return {
                "ok": True,
                "user": {"id": user, "name": user.lower(), "locale": self.locales.get(user, "en-US")},
            }
        if method == "apps.connections.open":
            if self.open_connection is None:
                return {"ok": False, "error": "socket_mode_not_enabled"}  # no Socket Mode server here
            return {"ok": True, "url": self.open_connection()}
        if method == "files.getUploadURLExternal":
            return self._upload_url(params)
        if method == "files.completeUploadExternal":
            return self._complete_upload(params)
        return {"ok": False, "error": "unknown_method"}

    def _upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        """Step 1 of Slack's file upload: a file id and the URL to send its bytes to (served here)."""
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):08d}"
        with self._lock:
            self._uploads[file_id] = {"name": params["filename"], "content": None}
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    async def receive_upload(self, request: Request) -> PlainTextResponse:
        """Step 2: the file's bytes, posted to the upload URL (no token, as on files.slack.com)."""
        file_id = request.path_params["file_id"]
        content = await request.body()
        with self._lock:
            upload = self._uploads.get(file_id)
            if upload is None:
                return PlainTextResponse("unknown upload", status_code=404)
            upload["content"] = content
        return PlainTextResponse(f"OK - {len(content)}")

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        """Step 3: share the uploaded files into a channel (given by id) with an optional comment."""
        declared = json.loads(params.get("files") or "[]")
        channel = str(params.get("channel_id") or "")
        with self._lock:
            uploads = [self._uploads.get(str(item.get("id"))) for item in declared]
            if not declared or any(u is None or u["content"] is None for u in uploads):
                return {"ok": False, "error": "file_not_found"}
            if channel and not channel.startswith("C"):
                return {"ok": False, "error": "channel_not_found"}  # files are shared by channel id only
            shared = [
                {
                    "id": item["id"],
                    "name": upload["name"],
                    "title": item.get("title") or upload["name"],
                    "content": upload["content"],
                    "initial_comment": params.get("initial_comment") if index == 0 else None,
                }
                for index, (item, upload) in enumerate(zip(declared, uploads, strict=True))
                if upload is not None
            ]
            if channel:
                self.shared.setdefault(channel, []).extend(shared)
        files = [{"id": f["id"], "name": f["name"], "title": f["title"]} for f in shared]
        return {"ok": True, "files": files}

    async def respond(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self._lock:
            self.responses.append(body)
        return JSONResponse({"ok": True})

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method}", self.api, methods=["GET", "POST"]),
                Route("/respond/{id}", self.respond, methods=["POST"]),
                Route("/upload/{file_id}", self.receive_upload, methods=["POST"]),
            ]
        )


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    with serving(fake.asgi()) as url:
        fake.url = url
        yield fake


def signed(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and the HMAC-SHA256 signature of the body."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def form(payload: dict[str, Any]) -> str:
    """An interactivity request's body: the payload as JSON in a form field, as Slack posts it."""
    return urlencode({"payload": json.dumps(payload)})
