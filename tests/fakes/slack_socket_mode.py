"""A local stand-in for Slack's Socket Mode server, spoken over a real WebSocket so slack-sdk runs unchanged.

As on Slack: ``apps.connections.open`` (answered by ``tests/fakes/slack.py`` with ``issue_url``)
hands out a URL with a one-time ticket; the app connects to it and is greeted with ``hello``.
The test then pushes envelopes (``{"envelope_id", "type", "payload", "accepts_response_payload"}``)
and waits for the app's acknowledgement (``{"envelope_id"}``, with ``"payload"`` when it answers
with one, a modal's errors say). Every connection is kept, so a test sees when the app hung up.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.fakes.slack import FakeSlack
from tests.http_server import serving

APP_ID = "A0CCMAPP1"


@dataclass
class Connection:
    """One WebSocket the app opened, and what it sent that was not an acknowledgement."""

    ticket: str
    socket: WebSocket
    loop: asyncio.AbstractEventLoop
    close_code: int | None = None  # set when the app closed it
    other: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.close_code is None


class FakeSocketMode:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._tickets: set[str] = set()
        self.connections: list[Connection] = []
        self.refused: list[str] = []  # tickets that were unknown or used before
        self.acks: dict[str, dict[str, Any]] = {}  # envelope id → the app's acknowledgement
        self.url = ""

    # --- what apps.connections.open answers ---

    def issue_url(self) -> str:
        ticket = uuid.uuid4().hex
        with self._changed:
            self._tickets.add(ticket)
        return f"{self.url.replace('http://', 'ws://')}/link/?ticket={ticket}&app_id={APP_ID}"

    # --- what tests do ---

    def until(self, found: Callable[[], Any], seconds: float = 10) -> Any:
        """Waits (up to ``seconds``) until ``found()`` is truthy and returns it."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while not (value := found()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("what the test waited for did not happen on the Socket Mode server")
                self._changed.wait(left)
            return value

    def connected(self, seconds: float = 10) -> Connection:
        return self.until(lambda: next((c for c in self.connections if c.open), None), seconds)

    def closed(self, seconds: float = 10) -> list[Connection]:
        """Waits until the app had a connection and has none open now; returns them all."""

        def all_closed() -> list[Connection] | None:
            if self.connections and not any(c.open for c in self.connections):
                return list(self.connections)
            return None

        return self.until(all_closed, seconds)

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool) -> str:
        """Pushes an envelope to the app over its open connection; returns its id."""
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        connection = self.connected()
        sending = connection.socket.send_text(json.dumps(envelope))
        asyncio.run_coroutine_threadsafe(sending, connection.loop).result(timeout=5)
        return envelope_id

    def interactive(self, payload: dict[str, Any]) -> str:
        """A button, a modal's submission…: Slack takes an answer with a submission's acknowledgement."""
        accepts = payload.get("type") in ("view_submission", "block_suggestion")
        return self.send("interactive", payload, accepts_response_payload=accepts)

    def slash_command(self, fields: dict[str, str]) -> str:
        return self.send("slash_commands", fields, accepts_response_payload=True)

    def event(self, callback: dict[str, Any]) -> str:
        return self.send("events_api", callback, accepts_response_payload=False)

    def ack(self, envelope_id: str, seconds: float = 10) -> dict[str, Any]:
        """Waits for the app's acknowledgement of an envelope."""
        return self.until(lambda: self.acks.get(envelope_id), seconds)

    # --- the server ---

    async def link(self, websocket: WebSocket) -> None:
        ticket = websocket.query_params.get("ticket", "")
        with self._changed:
            known = ticket in self._tickets
            self._tickets.discard(ticket)
            if not known:
                self.refused.append(ticket)
        if not known:
            await websocket.close(code=1008)  # before accepting: the handshake is refused
            return
        await websocket.accept()
        connection = Connection(ticket, websocket, asyncio.get_running_loop())
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        await websocket.send_text(json.dumps(hello))
        with self._changed:
            self.connections.append(connection)
            self._changed.notify_all()
        code = 1006
        try:
            while True:
                text = await websocket.receive_text()
                message = json.loads(text) if text.startswith("{") else {}
                with self._changed:
                    if message.get("envelope_id"):
                        self.acks[message["envelope_id"]] = message
                    else:
                        connection.other.append(text)
                    self._changed.notify_all()
        except WebSocketDisconnect as gone:
            code = gone.code
        finally:
            with self._changed:
                connection.close_code = code
                self._changed.notify_all()

    def asgi(self) -> Starlette:
        return Starlette(routes=[WebSocketRoute("/link/", self.link)])


@contextmanager
def fake_socket_mode(slack: FakeSlack) -> Iterator[FakeSocketMode]:
    """A Socket Mode server whose URLs ``slack`` hands out for ``apps.connections.open``."""
    server = FakeSocketMode()
    with serving(server.asgi()) as url:
        server.url = url
        slack.open_connection = server.issue_url
        try:
            yield server
        finally:
            slack.open_connection = None
