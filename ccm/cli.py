"""The ``ccm`` command: the core's operator commands, plus the product's processes.

``ccm serve`` runs the web server (API, web chat, webhooks), ``ccm worker`` delivers
the outbox, ``ccm telegram poll`` talks to Telegram by long polling on a machine that
Telegram cannot reach with webhooks (local development).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

import typer
import uvicorn

from admin.cli import admin_app, nlu_app
from ccm.web import quiet_http_clients, report_channels
from ccm.worker import default_worker_id, run_worker
from ccm_core.entrypoints.cli import app, configured_core, reported
from channels import telegram
from channels.context import channel_context
from channels.settings import ChannelSettings

telegram_app = typer.Typer(help="The Telegram channel.", no_args_is_help=True)
app.add_typer(telegram_app, name="telegram")
app.add_typer(admin_app, name="admin")
app.add_typer(nlu_app, name="nlu")
app.info.help = (
    "CCM, customer complaint management: set up the database, load the organisation, issue API tokens, "
    "look at complaints, and run the web server and the delivery worker."
)


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_http_clients()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: CCM_HOST, 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (default: CCM_PORT, 8000).")
    ] = None,
) -> None:
    """Run the web server until Ctrl-C: the API (docs at /docs), the web chat (/chat) and the webhooks."""
    with reported(), configured_core() as core:
        settings = core.settings
        channels = ChannelSettings()
        for line in report_channels(channels):
            typer.echo(line)
        if channels.telegram_on and channels.telegram_mode == "webhook" and channels.telegram_webhook_url:
            asyncio.run(telegram.register_webhook(channel_context(core, channels)))
            typer.echo("telegram: webhook registered")
    uvicorn.run(
        "ccm.web:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
    )


@app.command()
def worker(
    worker_id: Annotated[str | None, typer.Option("--id", help="Name in the outbox's claims.")] = None,
) -> None:
    """Deliver the messages the process owes customers, until Ctrl-C or SIGTERM."""
    with reported(), configured_core() as core:
        _logging(core.settings.log_level)
        channels = ChannelSettings()
        for line in report_channels(channels):
            typer.echo(line)
        asyncio.run(run_worker(core, channels, worker_id or default_worker_id()))


@telegram_app.command("poll")
def telegram_poll() -> None:
    """Receive Telegram updates by long polling (local development) until Ctrl-C."""
    with reported(), configured_core() as core:
        _logging(core.settings.log_level)
        channels = ChannelSettings()
        if not channels.telegram_token:
            typer.echo("Telegram is off: set CCM_TELEGRAM_BOT_TOKEN.", err=True)
            raise typer.Exit(1)

        async def polling() -> None:
            ctx = channel_context(core, channels)
            stop = asyncio.Event()
            try:
                await telegram.poll(ctx, stop)
            finally:
                await ctx.rasa.aclose()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(polling())
