"""The web chat: our own page at ``/chat`` and Rasa's socket.io protocol at ``/socket.io/``.

``mount`` wraps the product's FastAPI app so one server serves the API, the page and the
chat endpoint (which rasa-webchat on the company's own sites may use as well); ``sender``
is the web chat's side of the delivery worker: it keeps a notice in the database, and the
web server shows it to the customer's page, now or when they come back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import socketio
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from ccm_core.bootstrap import Core
from ccm_core.service_layer import chat
from channels.context import ChannelContext
from channels.messages import Reply, conversation_id
from channels.sending import DeliveryFailed, Notice
from channels.web.page import ASSETS_PATH, assets, page_routes
from channels.web.server import CHANNEL, WebChatServer, valid_session_id

__all__ = ["WebSender", "mount", "sender"]


def mount(app: FastAPI, ctx: ChannelContext) -> socketio.ASGIApp:
    """``app`` with the chat page and its assets, inside the socket.io server (the ASGI app to run)."""
    server = WebChatServer(ctx)
    app.include_router(page_routes())
    app.mount(ASSETS_PATH, assets(), name="web-chat-assets")
    app_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running_app: Any) -> AsyncIterator[Any]:
        # The app's own start-up and shutdown stay as they were; the check for waiting messages runs inside.
        async with app_lifespan(running_app) as state, server.running():
            yield state

    app.router.lifespan_context = lifespan
    return socketio.ASGIApp(server.sio, other_asgi_app=app, socketio_path="socket.io")


class WebSender:
    """Keeps each part for the customer's page; the same key twice shows once."""

    channel = CHANNEL
    idempotent = True

    def __init__(self, core: Core) -> None:
        self.core = core

    def prepare(self, notice: Notice, replies: list[Reply], now: dt.datetime) -> list[dict[str, Any]]:
        return [reply.as_json() for reply in replies] or [Reply(notice.body).as_json()]

    async def send(self, address: str, part: dict[str, Any], *, key: str | None = None) -> None:
        if not valid_session_id(address):
            raise DeliveryFailed("not a web chat session id", permanent=True)
        try:
            await asyncio.to_thread(
                chat.store_chat_message,
                self.core.unit_of_work(),
                conversation_id(CHANNEL, address),
                key or f"web:{uuid.uuid4().hex}",
                part,
            )
        except SQLAlchemyError as error:
            raise DeliveryFailed(f"database: {type(error).__name__}") from error


def sender(ctx: ChannelContext) -> WebSender:
    return WebSender(ctx.core)
