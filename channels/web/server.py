"""The web chat's socket.io endpoint, speaking Rasa's ``SocketIOInput`` protocol.

A page (ours at ``/chat``, or the ``rasa-webchat`` widget on a customer's site) asks for a
session with ``session_request`` and gets ``session_confirm``; each ``user_uttered`` goes to the
assistant and its replies come back as ``bot_uttered`` exactly as Rasa's own socket.io channel
sends them. Messages the process sends while the customer is away (interim notice, decision,
survey) wait in the database: every replica shows them to the sessions connected to it, at
``session_request`` and by a check about every second, and marks them shown. Nothing that
matters lives in a replica's memory: it only knows which of its own sockets belong to which
session.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import socketio
from sqlalchemy.exc import SQLAlchemyError

from ccm_core.i18n import LANGUAGES
from ccm_core.service_layer import chat
from ccm_core.service_layer.unit_of_work import UnitOfWork
from channels.context import ChannelContext
from channels.inbound import AssistantUnreachable, CustomerMessage, unavailable_reply
from channels.messages import Reply, conversation_id, split_conversation_id

log = logging.getLogger(__name__)

CHANNEL = "web"
# Rasa makes session ids with uuid4().hex; anything short and url-safe is taken, the rest refused.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
METADATA_LIMIT = 2048  # bytes of JSON; the page sends its language, a site may add a little more
MESSAGE_LIMIT = 64 * 1024  # bytes per socket.io message: a long complaint fits, a flood does not
CHECK_BATCH = 500  # sessions per database query when looking for waiting messages


def valid_session_id(value: Any) -> bool:
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


def supported_language(value: Any) -> str | None:
    """``tr``, ``en`` or ``de`` from ``de-AT`` and the like; None for others (the assistant detects then)."""
    if not isinstance(value, str):
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else None


def socketio_messages(reply: Reply) -> list[dict[str, Any]]:
    """A reply as Rasa 3.6's ``SocketIOOutput`` emits it: one message per paragraph, buttons on the last.

    rasa-webchat tells a text from a button message by these exact keys, so none are added.
    """
    paragraphs = reply.text.strip().split("\n\n")
    if not reply.buttons:
        return [{"text": paragraph} for paragraph in paragraphs]
    messages: list[dict[str, Any]] = [{"text": paragraph, "quick_replies": []} for paragraph in paragraphs]
    messages[-1]["quick_replies"] = [
        {"content_type": "text", "title": button.title, "payload": button.payload} for button in reply.buttons
    ]
    return messages


def customer_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """What the page sent along (rasa-webchat's ``customData``, Rasa's ``metadata``), if a small object."""
    found: dict[str, Any] = {}
    for key in ("metadata", "customData"):
        value = data.get(key)
        if isinstance(value, str):  # Rasa accepts it as a JSON string too
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if isinstance(value, dict):
            found.update(value)
    if len(json.dumps(found, ensure_ascii=False).encode()) > METADATA_LIMIT:
        return {}
    return found


def session_room(session_id: str) -> str:
    # Prefixed, so a chosen session id can never be another socket's own room (its sid).
    return conversation_id(CHANNEL, session_id)


class WebChatServer:
    """One replica's socket.io server for the web chat."""

    def __init__(self, ctx: ChannelContext, check_seconds: float = 1.0) -> None:
        self.ctx = ctx
        self.check_seconds = check_seconds
        # With Redis, a reply reaches the session's tabs on every replica, as in Rasa with several workers.
        manager = (
            socketio.AsyncRedisManager(ctx.core.settings.redis_url) if ctx.core.settings.redis_url else None
        )
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins="*",  # the widget runs on the company's own sites, as with Rasa
            max_http_buffer_size=MESSAGE_LIMIT,
        )
        self.session_of: dict[str, str] = {}  # this replica's sockets: sid -> session id
        self.sockets: dict[str, set[str]] = {}  # session id -> this replica's sids
        self.showing: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.sio.on("disconnect", self.disconnect)
        self.sio.on("session_request", self.session_request)
        self.sio.on("user_uttered", self.user_uttered)

    def uow(self) -> UnitOfWork:
        return self.ctx.core.unit_of_work()

    async def disconnect(self, sid: str, *_reason: Any) -> None:
        self._forget(sid)

    async def session_request(self, sid: str, data: Any) -> None:
        requested = data.get("session_id") if isinstance(data, dict) else None
        if requested is not None and not valid_session_id(requested):
            log.info("web chat: refused a session id that is not short and url-safe; a new one is given")
        session_id = requested if valid_session_id(requested) else uuid.uuid4().hex
        if self.session_of.get(sid) != session_id:
            if sid in self.session_of:
                await self.sio.leave_room(sid, session_room(self.session_of[sid]))
                self._forget(sid)
            await self.sio.enter_room(sid, session_room(session_id))
            self.session_of[sid] = session_id
            self.sockets.setdefault(session_id, set()).add(sid)
        await self.sio.emit("session_confirm", session_id, to=sid)
        await self.show_waiting(session_id)

    async def user_uttered(self, sid: str, data: Any) -> None:
        session_id = self.session_of.get(sid)
        if not isinstance(data, dict) or session_id is None or data.get("session_id") != session_id:
            # Rasa ignores a message without its session; a socket may also speak only for its own.
            log.info("web chat: refused a message for a session this socket did not request")
            return
        text = data.get("message")
        if not isinstance(text, str) or not text.strip():
            return
        metadata = customer_metadata(data)
        language = supported_language(metadata.get("language"))
        message = CustomerMessage(CHANNEL, session_id, text, language=language, metadata=metadata)
        try:
            replies = await self.ctx.inbound.handle(message) or []
        except (AssistantUnreachable, SQLAlchemyError) as down:
            log.warning("web chat: %s; the customer was asked to write again", type(down).__name__)
            replies = [unavailable_reply(language)]
        await self.answer(session_id, replies)

    async def answer(self, session_id: str, replies: list[Reply]) -> None:
        """The replies go to the session's tabs; if the customer left meanwhile, they wait for their return.

        Waiting replies reach a tab of the same session on another replica by that replica's check.
        """
        if not self.sockets.get(session_id):
            for reply in replies:
                await asyncio.to_thread(
                    chat.store_chat_message,
                    self.uow(),
                    conversation_id(CHANNEL, session_id),
                    f"reply:{uuid.uuid4().hex}",
                    reply.as_json(),
                )
            return
        for reply in replies:
            for message in socketio_messages(reply):
                await self.sio.emit("bot_uttered", message, room=session_room(session_id))

    async def show_waiting(self, session_id: str) -> None:
        """Shows the session's stored messages to its sockets here, once (one showing per session at once)."""
        lock = self.showing.setdefault(session_id, asyncio.Lock())
        async with lock:
            if not self.sockets.get(session_id):
                return
            lines = await asyncio.to_thread(
                chat.take_chat_messages_to_show, self.uow(), conversation_id(CHANNEL, session_id)
            )
            for line in lines:
                for message in socketio_messages(Reply.from_json(line.content)):
                    # Only to this replica's sockets: every replica shows stored messages to its own.
                    await self.sio.emit(
                        "bot_uttered", message, room=session_room(session_id), ignore_queue=True
                    )

    async def check_waiting(self) -> None:
        """One round: which sessions connected here have messages waiting, and show them."""
        sessions = list(self.sockets)
        for start in range(0, len(sessions), CHECK_BATCH):
            batch = [conversation_id(CHANNEL, s) for s in sessions[start : start + CHECK_BATCH]]
            waiting = await asyncio.to_thread(chat.conversations_with_unshown, self.uow(), batch)
            for conversation in waiting:
                await self.show_waiting(split_conversation_id(conversation)[1])

    async def keep_checking(self) -> None:
        """Runs for the life of the server process."""
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check_waiting()
            except SQLAlchemyError as error:  # the database away for a moment: the next round tries again
                log.warning("web chat: could not look for waiting messages (%s)", type(error).__name__)
            except Exception:  # a fault must not end the showing of messages for everyone
                log.exception("web chat: looking for waiting messages failed")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The background check, for as long as the web server runs."""
        task = asyncio.create_task(self.keep_checking())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    def _forget(self, sid: str) -> None:
        session_id = self.session_of.pop(sid, None)
        if session_id is None:
            return
        sids = self.sockets.get(session_id, set())
        sids.discard(sid)
        if not sids:
            self.sockets.pop(session_id, None)
