"""The ``ccm`` command line: what an operator runs to migrate, seed and inspect CCM.

The product's `ccm` command (`ccm.cli`) adds the processes: the web server and the worker.

The CLI is the operator (``Actor.system("cli")``), so it sees every department's cases.
Whatever goes wrong reaches the operator as one sentence on stderr and a non-zero exit
code, never as a traceback. Customer contact details appear only in ``complaints show``,
where the operator asked for that one case.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import make_url

from ccm_core.adapters.db import DatabaseUnavailable, check_connection
from ccm_core.adapters.migrations import alembic_config, upgrade
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.errors import CCMError
from ccm_core.domain.lifecycle import Channel, Role, Status
from ccm_core.domain.policy import Actor
from ccm_core.domain.search import ComplaintFilter
from ccm_core.i18n import translate
from ccm_core.service_layer import access, views
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.views import CaseView, TimelineEntry
from ccm_core.settings import CoreSettings, settings_problem

OPERATOR = Actor.system("cli")

# The core's operator commands; the product's ``ccm`` command (``ccm.cli``) includes them.
core_app = typer.Typer(no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens for the HTTP API.", no_args_is_help=True)
complaints_app = typer.Typer(help="Look at complaints as the operator.", no_args_is_help=True)
core_app.add_typer(db_app, name="db")
core_app.add_typer(tokens_app, name="tokens")
core_app.add_typer(complaints_app, name="complaints")


# --- plumbing shared by the commands ---


def _fail(message: str, exit_code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(exit_code)


@contextmanager
def reported(exit_code: int = 1) -> Iterator[None]:
    """Turn the core's errors into their one sentence: an operator needs the reason, not a traceback."""
    try:
        yield
    except CCMError as err:
        _fail(err.message("en"), exit_code)
    except DatabaseUnavailable as err:
        _fail(str(err))
    except ValidationError as wrong:  # a CCM_* variable that cannot be read
        _fail(settings_problem(wrong))


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def configured_core(settings: CoreSettings | None = None) -> Iterator[Core]:
    """The configured core on a reachable database with the current schema, disposed afterwards."""
    core = bootstrap(settings)
    try:
        check_connection(core.engine)
        head = ScriptDirectory.from_config(alembic_config(core.settings.database_url)).get_current_head()
        with core.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current != head:
            _fail(
                f"The database at {_shown(core.settings.database_url)} does not have the current schema; "
                "run `ccm db upgrade` first."
            )
        yield core
    finally:
        core.engine.dispose()


def _json_value(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, default=_json_value, ensure_ascii=False, indent=2))


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _size(size: int) -> str:
    """Whole KB under a megabyte, else MB to one decimal; decimal units, as the refusal notice's limit."""
    return f"{math.ceil(size / 1000)} KB" if size < 1_000_000 else f"{size / 1_000_000:.1f} MB"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    widths = [max(len(row[column]) for row in [headers, *rows]) for column in range(len(headers))]
    return "\n".join(
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )


# --- db, seed, tokens ---


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations to CCM_DATABASE_URL; running it again changes nothing."""
    with reported():
        core = bootstrap()
        try:
            check_connection(core.engine)
        finally:
            core.engine.dispose()
        upgrade(core.settings.database_url)
    typer.echo(f"The database at {_shown(core.settings.database_url)} has the current schema.")


@core_app.command()
def seed(
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Organisation YAML file (default: CCM_ORGANISATION_FILE, the demo)."),
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when departments are already loaded.")
    ] = False,
) -> None:
    """Load departments, staff, category routing and the SLA policy; rows are updated, never deleted."""
    with reported(), configured_core() as core:
        path = file or core.settings.organisation_file
        if if_empty:
            with core.unit_of_work() as uow:
                loaded = len(uow.organisation.departments())
            if loaded:
                typer.echo(f"The organisation is already loaded ({loaded} departments); nothing to do.")
                return
        if not path.is_file():
            _fail(f"The organisation file {path} does not exist; give --file or set CCM_ORGANISATION_FILE.")
        try:
            report = seed_organisation(core.unit_of_work(), path)
        except yaml.YAMLError as exc:
            _fail(f"The organisation file {path} is not valid YAML: {' '.join(str(exc).split())}")
    typer.echo(
        f"Loaded from {path}: {report.departments} departments, {report.staff} staff, "
        f"{report.categories} categories (routing), {report.sla_rules} SLA rules."
    )


@tokens_app.command("create")
def create_token(
    role: Annotated[Role, typer.Option(help="What the token may do.")],
    staff: Annotated[
        str | None, typer.Option(help="E-mail of the staff member it acts as (required unless admin).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label to recognise the token by.")] = None,
) -> None:
    """Print a new API token alone on the last line; only its hash is stored, so copy it now."""
    with reported(exit_code=2), configured_core() as core:
        token = access.create_api_token(core.unit_of_work(), role=role, staff_email=staff, name=name)
    typer.echo(f"New {role} token for {staff or name or 'an integration'} (shown only this once):")
    typer.echo(token)


# --- complaints ---


@complaints_app.command("list")
def list_complaints(
    status: Annotated[Status | None, typer.Option(help="Only cases at this step.")] = None,
    department: Annotated[str | None, typer.Option(help="Department code, e.g. logistics.")] = None,
    channel: Annotated[Channel | None, typer.Option(help="Channel the complaint came in by.")] = None,
    category: Annotated[str | None, typer.Option(help="Category code, e.g. delivery.")] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only open cases with a missed deadline.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """List complaints, newest first, without customer details."""
    criteria = ComplaintFilter(
        status=status.value if status else None,
        department=department.strip().lower() if department else None,
        channel=channel.value if channel else None,
        category=category.strip().lower() if category else None,
        overdue_at=dt.datetime.now(dt.UTC) if overdue else None,
        limit=limit,
    )
    with reported(), configured_core() as core:
        cases, total = views.list_complaints(core.unit_of_work(), OPERATOR, criteria)
    if as_json:
        _print_json({"items": [case.as_dict() for case in cases], "total": total})
        return
    if not cases:
        typer.echo("No complaints match.")
        return
    headers = ("REFERENCE", "STATUS", "DEPARTMENT", "CATEGORY", "CHANNEL", "PRIORITY", "RECEIVED (UTC)", "")
    rows = [
        (
            case.reference,
            case.status,
            case.department,
            case.category,
            case.channel,
            case.priority,
            _when(case.received_at),
            "OVERDUE" if case.overdue else "",
        )
        for case in cases
    ]
    typer.echo(_table(headers, rows))
    typer.echo(f"{len(cases)} of {total} shown.")


@complaints_app.command("show")
def show_complaint(
    reference: Annotated[str, typer.Argument(help="The complaint's reference, e.g. CMP-2026-000042.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
    timeline: Annotated[bool, typer.Option("--timeline", help="Add everything that happened to it.")] = False,
) -> None:
    """Show one complaint in full, customer contact details included."""
    with reported(), configured_core() as core:
        case = views.get_complaint(core.unit_of_work(), OPERATOR, reference)
        entries = views.complaint_timeline(core.unit_of_work(), OPERATOR, reference) if timeline else None
    if as_json:
        data = case.as_dict()
        if entries is not None:
            data["timeline"] = [entry.as_dict() for entry in entries]
        _print_json(data)
        return
    typer.echo(_case_text(case))
    if entries is not None:
        typer.echo("\nTimeline")
        typer.echo(
            _table(("AT (UTC)", "KIND", "BY", "STEP", "WHAT"), [_timeline_row(e) for e in entries], "  ")
        )


def _case_text(case: CaseView) -> str:
    customer = case.customer
    contact = ", ".join(str(customer[key]) for key in ("name", "email", "phone") if customer[key])
    decision = None
    if case.decision:
        decision = f"{case.decision} by {case.decided_by}: {case.decision_reason}"
    fields = [
        ("Status", f"{case.status_label} ({case.status})"),
        ("Department", case.department),
        ("Category", case.category),
        ("Channel", case.channel),
        ("Language", case.language),
        ("Priority", case.priority),
        ("Received", f"{_when(case.timestamps['received_at'])} UTC"),
        ("Customer", "erased" if customer["erased"] else contact or "-"),
        ("External ref.", case.external_reference),
        ("Description", case.description),
        ("Decision", decision),
        ("Explanation", case.customer_explanation),
        ("Follow-up", f"round {case.follow_up_round}" if case.follow_up_round else None),
        ("Closed as", case.close_reason),
        ("Survey scores", ", ".join(map(str, case.survey_scores)) or None),
        ("Possible now", "; ".join(translate("en", f"command.{command}") for command in case.allowed) or "-"),
    ]
    width = max(len(label) for label, _ in fields)
    lines = [case.reference]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in fields if value is not None]
    if case.actions:
        lines.append("\nActions")
        action_rows = [
            (
                f"#{action.id}",
                action.kind,
                f"done {_when(action.done_at)}" if action.done_at else "open",
                _when(action.due_date),
                action.owner or "-",
                action.description + (f" → {action.outcome}" if action.outcome else ""),
            )
            for action in case.actions
        ]
        lines.append(_table(("ID", "KIND", "STATE", "DUE", "OWNER", "WHAT"), action_rows, "  "))
    if case.attachments:
        lines.append("\nFiles the customer sent")
        lines += [
            f"  • {file.name} ({file.content_type}, {_size(file.size)})"
            + (f" — refused ({file.refused})" if file.refused else "")
            for file in case.attachments
        ]
    deadline_rows = [
        (step.step, _when(step.due_at), _when(step.met_at), "BREACHED" if step.breached else "")
        for step in case.sla
        if step.due_at or step.met_at
    ]
    if deadline_rows:
        lines.append("\nDeadlines")
        lines.append(_table(("STEP", "DUE (UTC)", "MET (UTC)", ""), deadline_rows, "  "))
    return "\n".join(lines)


def _timeline_row(entry: TimelineEntry) -> tuple[str, ...]:
    step = ""
    if entry.status_before != entry.status_after:
        step = f"{entry.status_before or '-'} → {entry.status_after or '-'}"
    what = entry.what
    if entry.kind == "outbox":
        what = f"{entry.what} ({entry.details.get('status')}, {entry.details.get('channel')})"
    return (_when(entry.at), entry.kind, entry.actor or "-", step, what)
