"""The worker process: delivers the outbox to every customer channel that is on, tells staff in Slack,
erases customers' conversations from the assistant (on request and after the retention period),
runs the process's timers (surveys, reminders and expiries; the customer's notice when a review runs
long; the monthly management report) and the retrain requests admins queue in the console (where the
Rasa environment is installed). Every timer's state is in the database, so any number of workers share
them and a restart repeats nothing."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from slack_sdk.web.async_client import AsyncWebClient

from admin.training import TrainingSettings, run_queued_retrain
from ccm.settings import Settings
from ccm_core.bootstrap import Core
from ccm_core.service_layer import services
from channels import email, telegram, web, whatsapp
from channels.context import ChannelContext, channel_context
from channels.customer_data import ConversationEraser, run_retention_forever
from channels.delivery import DeliveryWorker
from channels.loops import run_every
from channels.mail_intake.intake import MailIntake
from channels.sending import Sender
from channels.slack import SlackNotifier
from reports.schedule import run_monthly_reports_forever
from surveys.scheduler import run_survey_schedule_forever

log = logging.getLogger("ccm.worker")
RETRAIN_POLL_SECONDS = 10.0
TIMER_SECONDS = 60.0


def senders_for(ctx: ChannelContext) -> dict[str, Sender]:
    """The channels this deployment delivers to; messages for the others wait, never dropped."""
    senders: dict[str, Sender] = {"web": web.sender(ctx)}
    if ctx.settings.telegram_on:
        senders["telegram"] = telegram.sender(ctx)
    if ctx.settings.whatsapp_on:
        senders["whatsapp"] = whatsapp.sender(ctx)
    if ctx.settings.email_on:
        senders["email"] = email.sender(ctx)
    return senders


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_review_delay_notices_forever(
    core: Core, stop: asyncio.Event, every_seconds: float = TIMER_SECONDS
) -> None:
    """Tell customers, once per case, when the review runs past (or close to) its deadline."""

    async def send_notices() -> None:
        told = await asyncio.to_thread(services.send_review_delay_notices, core.unit_of_work())
        if told:
            log.info("review delay notices sent: %s", told)

    def failed(error: Exception) -> None:  # the loop must outlive a database outage; the next run catches up
        log.warning(
            "review delay notices failed (%s); trying again in %s s", type(error).__name__, every_seconds
        )

    await run_every(stop, every_seconds, send_notices, on_error=failed)


async def run_retrain_requests(
    core: Core,
    training: TrainingSettings,
    worker_id: str,
    stop: asyncio.Event,
    poll_seconds: float = RETRAIN_POLL_SECONDS,
) -> None:
    """Run queued retrain requests one at a time, in a thread: deliveries go on meanwhile.

    A retrain in hand is finished before the worker stops (it takes minutes; its lease lets another
    worker take it over if this process is killed).
    """

    async def retrain() -> bool:
        return await asyncio.to_thread(run_queued_retrain, core, training, worker_id) is not None

    await run_every(stop, poll_seconds, retrain)


async def run_worker(core: Core, product: Settings, worker_id: str) -> None:
    """Deliver until SIGTERM or SIGINT; the batch in hand is finished first."""
    settings, training = product.channels, product.training
    ctx = channel_context(core, settings, product.assistant)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    senders = senders_for(ctx)
    log.info("worker %s delivering to: %s", worker_id, ", ".join(sorted(senders)))
    jobs = [
        DeliveryWorker(ctx, senders, worker_id).run_forever(stop),
        ConversationEraser(ctx, worker_id).run_forever(stop),
        run_retention_forever(core, stop),
        run_survey_schedule_forever(core, stop),
        run_review_delay_notices_forever(core, stop),
    ]
    if settings.mail_intake_on:
        jobs.append(MailIntake(ctx, worker_id).run_forever(stop))
        log.info("worker %s taking in mail from %s", worker_id, ", ".join(settings.imap_folders))
    client = None
    if settings.slack_on:
        client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        jobs.append(SlackNotifier(ctx, client, worker_id).run_forever(stop))
        log.info("worker %s telling staff in Slack and raising SLA alerts", worker_id)
    management = settings.slack_management_channel or None
    jobs.append(
        run_monthly_reports_forever(core, client if management else None, management, worker_id, stop)
    )
    log.info(
        "worker %s running surveys, review delay notices and the monthly report (%s)",
        worker_id,
        f"posted to Slack {management}"
        if client and management
        else "files only: no Slack management channel",
    )
    if training.rasa_available:
        jobs.append(run_retrain_requests(core, training, worker_id, stop))
        log.info(
            "worker %s running retrain requests: Rasa at %s, models in %s",
            worker_id,
            training.assistant.rasa_url,
            training.models,
        )
    else:
        log.info("worker %s not running retrain requests: CCM_RASA_BIN is not set (make sets it)", worker_id)
    try:
        await asyncio.gather(*jobs)
    finally:
        await ctx.rasa.aclose()
