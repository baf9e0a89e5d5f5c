"""Telegram: customers complain to the bot in a private chat, and the chat id is who they are.

Updates reach us by webhook in production and by long polling on a developer's machine; both
hand each update to the same code. A text (or a photo's caption) or a tapped button goes to
the assistant once per ``update_id``; a photo or sticker without words is answered that only
text is read, and ``/start``, which Telegram sends when a chat is opened, is a greeting.
Messages from groups and channels are ignored without an answer: complaints carry personal
data, a group would read the conversation, and with privacy mode on a group shows the bot only
commands anyway. Edited messages are ignored too (a turn cannot be taken back), so setWebhook
and getUpdates ask for messages and button taps only.

Replies go out as plain text (no parse mode: a customer's own ``*`` or ``<`` stays as written)
with the assistant's buttons as an inline keyboard whose ``callback_data`` is the payload. The
assistant's payloads fit Telegram's 64 bytes (the longest, a reference button, takes 57); one
that does not, such as a category code over 44 characters, is left out with a warning rather
than have Telegram refuse the whole message. The Bot API's address is a setting, so a
self-hosted Bot API server or a test server stands in for Telegram's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from ccm_core.i18n import normalise_language, translate
from channels.context import ChannelContext
from channels.inbound import AssistantUnreachable, CustomerMessage
from channels.loops import pause, run_every
from channels.messages import Button, Reply
from channels.sending import DeliveryFailed, Notice
from channels.settings import ChannelSettings

log = logging.getLogger(__name__)  # PTB's own loggers stay at INFO (``ccm_core.logs``)

CHANNEL = "telegram"
WEBHOOK_PATH = "/channels/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
CALLBACK_DATA_BYTES = 64  # Telegram refuses a button whose callback_data is longer
TEXT_LIMIT = 4096  # characters in one message
SHORT_LABEL = 12  # buttons with labels this short share a row, up to BUTTONS_PER_ROW
BUTTONS_PER_ROW = 3
LONG_POLL_SECONDS = 25
RETRY_SECONDS = 5.0  # pause before polling again after Telegram or the assistant failed
GREETING = "/greet"  # the assistant's greet intent, as a button would send it


def make_bot(settings: ChannelSettings) -> Bot:
    """A bot on the configured Bot API server; PTB appends the token to ``base_url``."""
    return Bot(settings.telegram_bot_token, base_url=settings.telegram_api_url)


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """The buttons as an inline keyboard: one per row, or rows of three when every label is short."""
    usable = [button for button in buttons if fits_callback_data(button.payload)]
    if len(usable) < len(buttons):
        log.warning(
            "left out %d button(s) with a payload over Telegram's 64 bytes", len(buttons) - len(usable)
        )
    if not usable:
        return None
    width = BUTTONS_PER_ROW if all(len(button.title) <= SHORT_LABEL for button in usable) else 1
    rows = [usable[start : start + width] for start in range(0, len(usable), width)]
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(button.title, callback_data=button.payload) for button in row] for row in rows]
    )


def fits_callback_data(payload: str) -> bool:
    return 1 <= len(payload.encode("utf-8")) <= CALLBACK_DATA_BYTES


def message_texts(text: str) -> list[str]:
    """The text in pieces Telegram accepts; a long summary is split at line ends where it can be."""
    pieces: list[str] = []
    while len(text) > TEXT_LIMIT:
        cut = text.rfind("\n", 0, TEXT_LIMIT)
        cut = cut if cut > 0 else TEXT_LIMIT
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


def assistant_text(typed: str) -> str:
    """What the assistant is told: Telegram sends ``/start`` when a customer opens the chat, a greeting."""
    words = typed.split(maxsplit=1)
    command = words[0].split("@", 1)[0] if words else ""
    return GREETING if command == "/start" else typed


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int will become a timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)


class TelegramSender:
    """Sends the assistant's replies and the process's notices to a Telegram chat."""

    channel = CHANNEL
    idempotent = False  # Telegram has no idempotency key: a repeated sendMessage shows twice

    def __init__(self, settings: ChannelSettings) -> None:
        self.bot = make_bot(settings)

    def prepare(self, notice: Notice, replies: list[Reply], now: dt.datetime) -> list[dict[str, Any]]:
        if replies:
            return [reply.as_json() for reply in replies]
        return [Reply(notice.body).as_json()]

    async def send(self, address: str, part: dict[str, Any], *, key: str | None = None) -> None:
        reply = Reply.from_json(part)
        texts = message_texts(reply.text)
        try:
            for number, text in enumerate(texts, start=1):
                markup = keyboard(reply.buttons) if number == len(texts) else None
                await self.bot.send_message(chat_id=address, text=text, reply_markup=markup)
        except RetryAfter as error:
            raise DeliveryFailed("Telegram flood control", retry_after=_seconds(error)) from error
        except (Forbidden, BadRequest, ChatMigrated) as error:  # blocked, chat not found: sending again fails
            raise DeliveryFailed(f"{type(error).__name__}: {error.message}", permanent=True) from error
        except TelegramError as error:  # network, timeouts, 5xx; a wrong token is fixed by the operator
            raise DeliveryFailed(f"{type(error).__name__}: {error.message}") from error


class TelegramUpdates:
    """One update, from the webhook or from polling, turned into the customer's turn and its answers."""

    def __init__(self, ctx: ChannelContext, sender: TelegramSender) -> None:
        self.ctx = ctx
        self.sender = sender

    @property
    def bot(self) -> Bot:
        return self.sender.bot

    async def handle(self, update: Update) -> None:
        """Raises ``AssistantUnreachable`` when Rasa is down; the update may then be delivered again."""
        if update.callback_query:
            await self._button_tapped(update)
        elif update.message:
            await self._message(update.update_id, update.message)

    async def _message(self, update_id: int, message: Message) -> None:
        if message.chat.type != ChatType.PRIVATE:
            log.info("ignored a message from a %s chat", message.chat.type)
            return
        address = str(message.chat.id)
        language = message.from_user.language_code if message.from_user else None
        words = message.text or message.caption  # a photo's caption is what the customer wrote
        if not words:
            await self._text_only(update_id, address, language)
            return
        replies = await self.ctx.inbound.handle(
            CustomerMessage(
                CHANNEL, address, assistant_text(words), language=language, delivery_id=str(update_id)
            )
        )
        await self._send_all(address, replies or [])

    async def _text_only(self, update_id: int, address: str, language: str | None) -> None:
        """A photo, sticker or voice message: say once that only words can be read."""
        key = f"{CHANNEL}:{update_id}"  # the same key Inbound uses, so one update is one answer
        if not await self.ctx.inbound.take(key):
            return
        await self._send_all(address, [Reply(translate(normalise_language(language), "chat.text_only"))])
        await asyncio.to_thread(self.ctx.guard.finish, key)

    async def _button_tapped(self, update: Update) -> None:
        query = update.callback_query
        try:  # stops the spinner on the button; a repeated delivery finds the query answered already
            await self.bot.answer_callback_query(query.id)
        except TelegramError as error:
            log.info("a button tap could not be answered: %s", type(error).__name__)
        message = query.message
        if message is None or message.chat.type != ChatType.PRIVATE or not query.data:
            return
        address = str(message.chat.id)
        replies = await self.ctx.inbound.handle(
            CustomerMessage(
                CHANNEL,
                address,
                query.data,
                language=query.from_user.language_code,
                delivery_id=str(update.update_id),
            )
        )
        if replies is None:
            return
        try:  # the buttons have done their work: a second tap would answer an old question
            await self.bot.edit_message_reply_markup(chat_id=message.chat.id, message_id=message.message_id)
        except TelegramError as error:
            log.info("the keyboard of a tapped message stayed: %s", type(error).__name__)
        await self._send_all(address, replies)

    async def _send_all(self, address: str, replies: list[Reply]) -> None:
        """The turn is recorded whatever happens here, so a failed send is logged, not retried."""
        for reply in replies:
            try:
                await self.sender.send(address, reply.as_json())
            except DeliveryFailed as failed:
                log.warning("a reply to a Telegram chat was not sent: %s", failed.reason)
                if failed.permanent:
                    return


def routes(ctx: ChannelContext) -> APIRouter:
    """The webhook Telegram posts updates to; only requests carrying our secret token are read."""
    router = APIRouter()
    updates = TelegramUpdates(ctx, TelegramSender(ctx.settings))
    secret = ctx.settings.telegram_webhook_secret.encode("utf-8")

    @router.post(WEBHOOK_PATH, include_in_schema=False)
    async def telegram_webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return Response(status_code=401)
        if not secret or not hmac.compare_digest(given.encode("utf-8"), secret):
            return Response(status_code=403)
        update = _parse_update(await request.body(), updates.bot)
        if update is None:
            return Response(status_code=400)
        try:
            await updates.handle(update)
        except AssistantUnreachable as error:
            log.warning(
                "assistant unreachable, Telegram will deliver update %d again: %s", update.update_id, error
            )
            return Response(status_code=503)
        return Response(status_code=200)

    return router


def _parse_update(body: bytes, bot: Bot) -> Update | None:
    """The update in a webhook body, or None when it is not JSON or not an update."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return None
        return Update.de_json(data, bot)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def sender(ctx: ChannelContext) -> TelegramSender:
    return TelegramSender(ctx.settings)


async def register_webhook(ctx: ChannelContext) -> bool:
    """Point Telegram at ``CCM_TELEGRAM_WEBHOOK_URL`` (the public URL of the webhook path); False if unset."""
    url = ctx.settings.telegram_webhook_url
    if not url:
        return False
    async with make_bot(ctx.settings) as bot:  # getMe first: a wrong token fails here, loudly
        await bot.set_webhook(
            url, secret_token=ctx.settings.telegram_webhook_secret, allowed_updates=list(ALLOWED_UPDATES)
        )
    return True


async def poll(
    ctx: ChannelContext, stop: asyncio.Event, *, long_poll_seconds: int = LONG_POLL_SECONDS
) -> None:
    """Long polling until ``stop`` is set: for a machine Telegram cannot reach with a webhook.

    An update is confirmed (the next offset) only after it was handled, so while the assistant
    is down the same update is fetched again, as Telegram redelivers a webhook answered with 503.
    """
    updates = TelegramUpdates(ctx, TelegramSender(ctx.settings))
    async with updates.bot as bot:
        await bot.delete_webhook()  # getUpdates is refused while a webhook is set
        offset: int | None = None

        async def fetch_and_handle() -> bool:
            """False when Telegram or the assistant failed, so the loop pauses before polling again."""
            nonlocal offset
            try:
                batch = await _until_stopped(
                    bot.get_updates(
                        offset=offset, timeout=long_poll_seconds, allowed_updates=list(ALLOWED_UPDATES)
                    ),
                    stop,
                )
            except RetryAfter as error:
                await pause(stop, _seconds(error))  # as long as Telegram asks, then straight on
                return True
            except TelegramError as error:
                log.warning("getUpdates failed: %s", type(error).__name__)
                return False
            for update in batch or ():
                try:
                    await updates.handle(update)
                except AssistantUnreachable as error:
                    log.warning(
                        "assistant unreachable, update %d is fetched again: %s", update.update_id, error
                    )
                    return False
                offset = update.update_id + 1
            return True

        await run_every(stop, RETRY_SECONDS, fetch_and_handle)


async def _until_stopped(call: Any, stop: asyncio.Event) -> Any:
    """The call's result, or None as soon as ``stop`` is set (the call is cancelled)."""
    task = asyncio.ensure_future(call)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return None
    return task.result()
