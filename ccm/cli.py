"""The ``ccm`` command: the core's operator commands, plus the product's processes.

``ccm serve`` runs the web server (API, web chat, webhooks), ``ccm worker`` delivers
the outbox, ``ccm telegram poll`` talks to Telegram by long polling on a machine that
Telegram cannot reach with webhooks (local development), ``ccm cluster run`` runs replicas
of every process behind nginx (``make run-cluster``), ``ccm customers export`` gives a customer
their copy of what we hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Annotated, NoReturn
from zoneinfo import ZoneInfo

import typer
import uvicorn

from admin.cli import admin_app, nlu_app
from ccm import cluster
from ccm.settings import load_settings
from ccm.web import report_channels
from ccm.worker import default_worker_id, run_worker
from ccm_core.entrypoints.cli import OPERATOR, configured_core, core_app, reported
from ccm_core.entrypoints.customer_copy import render_customer_copy
from ccm_core.logs import configure_logging
from ccm_core.service_layer import customer_data
from ccm_core.service_layer.report import monthly_report
from channels import telegram
from channels.context import channel_context
from channels.customer_data import RasaTranscripts
from channels.settings import AssistantSettings
from reports.schedule import report_directory
from reports.texts import LANGUAGES

app = typer.Typer(
    help="CCM, customer complaint management: set up the database, load the organisation, issue API "
    "tokens, look at complaints, and run the web server and the delivery worker.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(core_app)
telegram_app = typer.Typer(help="The Telegram channel.", no_args_is_help=True)
app.add_typer(telegram_app, name="telegram")
app.add_typer(admin_app, name="admin")
app.add_typer(nlu_app, name="nlu")
report_app = typer.Typer(help="The monthly management report.", no_args_is_help=True)
app.add_typer(report_app, name="report")
customers_app = typer.Typer(help="A customer's personal data (KVKK, GDPR).", no_args_is_help=True)
app.add_typer(customers_app, name="customers")
cluster_app = typer.Typer(
    help="Replicas of every process behind nginx on this machine (make run-cluster).", no_args_is_help=True
)
app.add_typer(cluster_app, name="cluster")
CLUSTER_DIR = Path("var/cluster")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: CCM_HOST, 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (default: CCM_PORT, 8000).")
    ] = None,
) -> None:
    """Run the web server until Ctrl-C: the API (docs at /docs), the web chat (/chat) and the webhooks."""
    with reported():
        settings = load_settings()
    with reported(), configured_core(settings.core) as core:
        channels = settings.channels
        for line in report_channels(channels):
            typer.echo(line)
        if channels.telegram_on and channels.telegram_mode == "webhook" and channels.telegram_webhook_url:
            asyncio.run(telegram.register_webhook(channel_context(core, channels, settings.assistant)))
            typer.echo("telegram: webhook registered")
    configure_logging(settings.core.log_level)
    uvicorn.run(
        "ccm.web:create_app",
        factory=True,
        host=host or settings.core.host,
        port=port or settings.core.port,
        log_level=settings.core.log_level.lower(),
    )


@app.command()
def worker(
    worker_id: Annotated[str | None, typer.Option("--id", help="Name in the outbox's claims.")] = None,
) -> None:
    """Deliver the messages the process owes customers, until Ctrl-C or SIGTERM."""
    with reported():
        settings = load_settings()
    with reported(), configured_core(settings.core) as core:
        configure_logging(core.settings.log_level)
        for line in report_channels(settings.channels):
            typer.echo(line)
        asyncio.run(run_worker(core, settings, worker_id or default_worker_id()))


@telegram_app.command("poll")
def telegram_poll() -> None:
    """Receive Telegram updates by long polling (local development) until Ctrl-C."""
    with reported():
        settings = load_settings()
    with reported(), configured_core(settings.core) as core:
        configure_logging(core.settings.log_level)
        channels = settings.channels
        if not channels.telegram_bot_token:
            typer.echo("Telegram is off: set CCM_TELEGRAM_BOT_TOKEN.", err=True)
            raise typer.Exit(1)

        async def polling() -> None:
            ctx = channel_context(core, channels, settings.assistant)
            stop = asyncio.Event()
            try:
                await telegram.poll(ctx, stop)
            finally:
                await ctx.rasa.aclose()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(polling())


@cluster_app.command("run")
def cluster_run(
    replicas: Annotated[int, typer.Option(min=1, max=50, help="Replicas of each process.")] = 2,
    host: Annotated[str, typer.Option(help="Address nginx takes the product's requests on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="nginx's port for the product.")] = 8080,
    rasa_balancer_port: Annotated[
        int | None, typer.Option(help="nginx's loopback port for the Rasa servers (default: --port + 1).")
    ] = None,
    actions_balancer_port: Annotated[
        int | None, typer.Option(help="nginx's loopback port for the action servers (default: --port + 2).")
    ] = None,
    web_port: Annotated[int, typer.Option(help="The first web server's port; the others follow.")] = 8000,
    rasa_port: Annotated[int, typer.Option(help="The first Rasa server's port; the others follow.")] = 5005,
    actions_port: Annotated[
        int, typer.Option(help="The first action server's port; the others follow.")
    ] = 5055,
    directory: Annotated[
        Path, typer.Option("--dir", help="Configurations, logs and the signing key.")
    ] = CLUSTER_DIR,
    pin: Annotated[
        bool,
        typer.Option(
            "--pin", help="Run replica i's processes on core i (taskset), as the cluster benchmark does."
        ),
    ] = False,
) -> None:
    """Migrate and seed the database, write nginx's and supervisord's configurations, then run supervisord
    (every replica and nginx) in the foreground until Ctrl-C."""
    layout = cluster.Layout(
        directory=directory.resolve(),
        replicas=replicas,
        host=host,
        port=port,
        rasa_balancer_port=rasa_balancer_port or port + 1,
        actions_balancer_port=actions_balancer_port or port + 2,
        web_port=web_port,
        rasa_port=rasa_port,
        actions_port=actions_port,
        pin=pin,
    )
    try:
        environment = cluster.prepare(layout, os.environ, typer.echo)
    except cluster.ClusterError as error:
        _refuse(str(error), exit_code=1)
    typer.echo(
        f"==> Starting {replicas} replicas of the web server, worker, Rasa server and action server behind "
        f"nginx on {layout.url} (chat at /chat, API under /api/v1, admin console at /admin). Rasa takes "
        f"about a minute to load its model; `make cluster-status` shows each replica's health, the logs are "
        f"in {layout.log_dir}. Ctrl-C stops everything."
    )
    supervisord = cluster.BIN / "supervisord"
    os.execve(supervisord, [str(supervisord), "-c", str(layout.directory / "supervisord.conf")], environment)


@cluster_app.command("status")
def cluster_status(
    directory: Annotated[Path, typer.Option("--dir", help="The cluster's directory.")] = CLUSTER_DIR,
) -> None:
    """Each replica's state in supervisord and the answer of its health endpoint; exit code 1 unless all are
    healthy."""
    try:
        layout = cluster.Layout.load(directory.resolve())
        found = cluster.cluster_health(layout, AssistantSettings().rasa_token)
    except cluster.ClusterError as error:
        _refuse(str(error), exit_code=1)
    rows = [
        [health.name, health.state, str(health.pid or "-"), health.address, health.detail] for health in found
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if not all(health.healthy for health in found):
        raise typer.Exit(1)


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option(help="The month to report on, as YYYY-MM (e.g. 2026-10).")],
    language: Annotated[
        str | None, typer.Option(help="tr, en or de (default: CCM_REPORT_LANGUAGE, tr).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory for the files (default: <CCM_DATA_DIR>/reports).")
    ] = None,
) -> None:
    """Write the month's report as PDF and HTML with charts, and its figures as CSV; print the three paths."""
    with reported(), configured_core() as core:
        year, number = _report_month(month, core.unit_of_work().now(), core.settings.timezone)
        language = language or core.settings.report_language
        if language not in LANGUAGES:
            _refuse(f"The report is written in {', '.join(LANGUAGES)}, not {language!r}.")
        report = monthly_report(core.unit_of_work(), OPERATOR, year, number)
        from reports.render import write_monthly_report  # matplotlib and reportlab: only for this command

        files = write_monthly_report(report, language, out or report_directory(core))
    for path in (files.pdf, files.html, files.csv):
        typer.echo(str(path))


@customers_app.command("export")
def customers_export(
    reference: Annotated[str, typer.Argument(help="A complaint of the customer, e.g. CMP-2026-000123.")],
    html: Annotated[
        Path | None, typer.Option(help="Also write the copy as a page in the customer's language here.")
    ] = None,
) -> None:
    """Print everything held about the customer of REFERENCE as JSON: the customer's copy (audited)."""
    with reported(), configured_core() as core:
        transcripts = RasaTranscripts(AssistantSettings())
        copy = customer_data.export_customer_data(core.unit_of_work(), OPERATOR, reference, transcripts)
    if html is not None:
        html.write_text(render_customer_copy(copy), encoding="utf-8")
    typer.echo(json.dumps(copy, ensure_ascii=False, indent=2))


def _report_month(text: str, now: dt.datetime, timezone: str) -> tuple[int, int]:
    """``2026-10`` as (2026, 10); a malformed month or one that has not begun is refused in one line."""
    found = MONTH.match(text.strip())
    if not found or not 1 <= int(found[2]) <= 12:
        _refuse(f"--month must be a month as YYYY-MM (e.g. 2026-10), not {text!r}.")
    year, number = int(found[1]), int(found[2])
    today = now.astimezone(ZoneInfo(timezone)).date()
    if (year, number) > (today.year, today.month):
        _refuse(f"{text} has not begun yet; there is nothing to report.")
    return year, number


def _refuse(message: str, exit_code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(exit_code)
