"""The product's web server: the core's HTTP API with the customer channels mounted on it.

``/api/v1`` is the core's API; ``/chat`` the web chat page with its socket.io endpoint;
``/channels/telegram/webhook`` and ``/channels/whatsapp/webhook`` receive the platforms'
webhooks when their secrets are configured. Every replica serves all of them: the state
they share lives in the database or Redis.
"""

from __future__ import annotations

import logging

from ccm_core.bootstrap import Core
from ccm_core.entrypoints import api
from channels import telegram, web, whatsapp
from channels.context import ChannelContext, channel_context
from channels.settings import ChannelSettings

log = logging.getLogger("ccm")


def report_channels(settings: ChannelSettings) -> list[str]:
    """One line per customer channel: on, or off with the settings it lacks."""
    missing = settings.missing()
    lines = ["web chat: on at /chat"]
    for channel in ("telegram", "whatsapp"):
        if channel in missing:
            lines.append(f"{channel}: off (set {', '.join(missing[channel])} to turn it on)")
        else:
            lines.append(f"{channel}: on")
    return lines


def quiet_http_clients() -> None:
    """httpx logs every request's URL at INFO: Telegram's carry the bot token, Rasa's the conversation id."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


def create_app(core: Core | None = None, settings: ChannelSettings | None = None):
    """The whole web server; without a core, on the settings of the environment (``uvicorn --factory``)."""
    quiet_http_clients()
    app = api.create_app(core)
    settings = settings or ChannelSettings()
    ctx: ChannelContext = channel_context(app.state.core, settings)
    for line in report_channels(settings):
        log.info(line)
    if settings.telegram_on and settings.telegram_mode == "webhook":
        app.include_router(telegram.routes(ctx))
    if settings.whatsapp_on:
        app.include_router(whatsapp.routes(ctx))
    return web.mount(app, ctx)
