"""The worker process: delivers the outbox to every customer channel that is on, and tells staff in Slack."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from slack_sdk.web.async_client import AsyncWebClient

from ccm_core.bootstrap import Core
from channels import telegram, web, whatsapp
from channels.context import ChannelContext, channel_context
from channels.delivery import DeliveryWorker
from channels.sending import Sender
from channels.settings import ChannelSettings
from channels.slack import SlackNotifier

log = logging.getLogger("ccm.worker")


def senders_for(ctx: ChannelContext) -> dict[str, Sender]:
    """The channels this deployment delivers to; messages for the others wait, never dropped."""
    senders: dict[str, Sender] = {"web": web.sender(ctx)}
    if ctx.settings.telegram_on:
        senders["telegram"] = telegram.sender(ctx)
    if ctx.settings.whatsapp_on:
        senders["whatsapp"] = whatsapp.sender(ctx)
    return senders


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_worker(core: Core, settings: ChannelSettings, worker_id: str) -> None:
    """Deliver until SIGTERM or SIGINT; the batch in hand is finished first."""
    ctx = channel_context(core, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    senders = senders_for(ctx)
    log.info("worker %s delivering to: %s", worker_id, ", ".join(sorted(senders)))
    jobs = [DeliveryWorker(ctx, senders, worker_id).run_forever(stop)]
    if settings.slack_on:
        client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        jobs.append(SlackNotifier(ctx, client, worker_id).run_forever(stop))
        log.info("worker %s telling staff in Slack and raising SLA alerts", worker_id)
    try:
        await asyncio.gather(*jobs)
    finally:
        await ctx.rasa.aclose()
