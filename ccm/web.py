"""The product's web server: the core's HTTP API with the customer channels mounted on it.

``/api/v1`` is the core's API; ``/chat`` the web chat page with its socket.io endpoint;
``/channels/telegram/webhook`` and ``/channels/whatsapp/webhook`` receive the platforms'
webhooks when their secrets are configured; ``/slack/events`` is the staff's Slack app;
``/admin`` is the admins' console; ``/survey/{token}`` the survey page of a signed link.
Every replica serves all of them: the state they share lives in the database or Redis.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from admin import console
from ccm.settings import Settings, load_settings
from ccm_core.bootstrap import Core
from ccm_core.entrypoints import api
from ccm_core.logs import quiet_libraries
from channels import slack, telegram, web, whatsapp
from channels.context import ChannelContext, channel_context
from channels.customer_data import RasaTranscripts
from channels.settings import ChannelSettings
from surveys import page as survey_page

log = logging.getLogger("ccm")


def report_channels(settings: ChannelSettings) -> list[str]:
    """One line per customer channel: on, or off with the settings it lacks."""
    missing = settings.missing()
    lines = ["web chat: on at /chat"]
    for channel in ("telegram", "whatsapp", "email", "mail_intake", "slack"):
        name = channel.replace("_", " ")
        if channel in missing:
            lines.append(f"{name}: off (set {', '.join(missing[channel])} to turn it on)")
        else:
            lines.append(f"{name}: on" + (" (read by `ccm worker`)" if channel == "mail_intake" else ""))
    return lines


def create_app(core: Core | None = None, product: Settings | None = None) -> FastAPI:
    """The whole web server; without arguments, on the environment's settings (``uvicorn --factory``)."""
    product = product or load_settings()
    quiet_libraries(product.core.log_level)
    app = api.create_app(core, product.core)
    settings = product.channels
    ctx: ChannelContext = channel_context(app.state.core, settings, product.assistant)
    app.state.transcripts = RasaTranscripts(product.assistant)  # for the customer's copy
    for line in report_channels(settings):
        log.info(line)
    if settings.telegram_on and settings.telegram_mode == "webhook":
        app.include_router(telegram.routes(ctx))
    if settings.whatsapp_on:
        app.include_router(whatsapp.routes(ctx))
    if settings.slack_on:
        staff_app = slack.StaffApp(ctx)
        if settings.slack_mode == "socket":
            keep_connected(app, lambda: slack.socket_mode(staff_app, settings.slack_app_token))
        else:
            app.include_router(slack.routes(staff_app))
    app.include_router(console.routes(app.state.core, product.assistant, product.training))
    app.mount(console.STATIC_PATH, console.static_files(), name="admin-static")
    app.include_router(survey_page.routes(app.state.core))
    return web.mount(app, ctx)


def keep_connected(app: FastAPI, connection: Callable[[], AbstractAsyncContextManager[None]]) -> None:
    """Hold ``connection`` open while the server runs (Slack's Socket Mode)."""
    app_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running_app: Any) -> AsyncIterator[Any]:
        async with app_lifespan(running_app) as state, connection():
            yield state

    app.router.lifespan_context = lifespan
