"""``ccm admin`` (console accounts) and ``ccm nlu`` (retraining the assistant) commands."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from admin import training
from admin.training import TrainingSettings
from ccm_core.domain.policy import Actor
from ccm_core.entrypoints.cli import configured_core, reported
from ccm_core.service_layer import sessions, teaching

OPERATOR = Actor.system("cli")

admin_app = typer.Typer(help="Admin console accounts.", no_args_is_help=True)
nlu_app = typer.Typer(
    help="Teach the assistant: retrain, evaluate, deploy and roll back its model.", no_args_is_help=True
)


@admin_app.command("password")
def password(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail (an admin, to use the console).")],
) -> None:
    """Set a console password, asked for twice (never given on the command line)."""
    secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with reported(), configured_core() as core:
        sessions.set_password(core.unit_of_work(), email, secret)
    typer.echo(f"Password set for {email}.")


def _training_settings(tolerance: float | None = None) -> TrainingSettings:
    """The environment's training settings; a tolerance given on the command line wins."""
    return TrainingSettings(**({} if tolerance is None else {"nlu_tolerance": tolerance}))


@nlu_app.command("retrain")
def nlu_retrain(
    tolerance: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="How much worse the candidate's intent macro-F1 may be in a language, and with "
            "CCM_NLU_REALTEXT_DIR its complaint recall and false-complaint rate on real text "
            "(default: CCM_NLU_TOLERANCE, 0.02).",
        ),
    ] = None,
) -> None:
    """Write the reviewed examples into the assistant's data, validate, train a candidate and deploy it
    only if no language got worse; exit code 0 deployed, 3 refused, 1 error."""
    with reported(), configured_core() as core:
        try:
            outcome = training.retrain(core, _training_settings(tolerance), OPERATOR)
        except training.RetrainFailed as failed:
            typer.echo(f"FAILED: {failed}", err=True)
            typer.echo("The model in service and the assistant's data are unchanged.", err=True)
            raise typer.Exit(1) from None
    typer.echo(
        f"Candidate {outcome.model.name} against {outcome.in_service} (in service), on the held-out set"
        + (" and real text:" if any(v.gate.figure != training.METRIC for v in outcome.verdicts) else ":")
    )
    typer.echo(outcome.table)
    typer.echo(f"Examples added: {outcome.examples_added}. Time: {outcome.timings}.")
    typer.echo(outcome.summary)
    if not outcome.deployed:
        typer.echo(
            f"{outcome.in_service} stays in service; the data files are as they were and the "
            "reviewed examples stay assigned for the next retrain."
        )
        raise typer.Exit(3)


def _figures(evaluation: dict[str, Any]) -> str:
    shown = []
    for language, figures in sorted(evaluation.items()):
        value = figures.get(training.METRIC) if isinstance(figures, dict) else None
        shown.append(f"{language} {value:.3f}" if isinstance(value, int | float) else f"{language} -")
    return ", ".join(shown) or "-"


@nlu_app.command("models")
def nlu_models() -> None:
    """The models trained here, the newest first, with their intent macro-F1 per language."""
    with reported(), configured_core() as core:
        kept = teaching.models(core.unit_of_work(), OPERATOR)
    if not kept:
        typer.echo("No model recorded yet: `ccm nlu retrain` records the first one.")
        return
    for view in kept:
        when = view.created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
        typer.echo(
            f"{view.id:>4}  {view.status:<8}  {view.name}  ({when}, {view.examples_added} examples added)"
        )
        typer.echo(f"      macro-F1: {_figures(view.evaluation)}")
        if view.baseline:
            typer.echo(f"      then in service: {_figures(view.baseline)}")
        if view.reason:
            typer.echo(f"      {view.reason}")


@nlu_app.command("rollback")
def nlu_rollback(
    model_id: Annotated[int, typer.Argument(help="The model's number in `ccm nlu models`.")],
) -> None:
    """Put an earlier deployed model back into service in the running Rasa server."""
    with reported(), configured_core() as core:
        try:
            view = training.roll_back(core, _training_settings(), OPERATOR, model_id)
        except training.RetrainFailed as failed:
            typer.echo(f"FAILED: {failed}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"Rolled back: {view.name} (model {view.id}) is in service again.")


@nlu_app.command("serving-model")
def nlu_serving_model() -> None:
    """Print the model the Rasa server should start with (the Procfile's ``--model``): the deployed one,
    unless the model ``make`` built (CCM_RASA_MODEL) is newer."""
    with reported(), configured_core() as core:
        chosen = training.model_to_serve(core, _training_settings().rasa_model)
    if chosen is None:
        typer.echo("No model: run `make model`, or set CCM_RASA_MODEL.", err=True)
        raise typer.Exit(1)
    typer.echo(str(chosen))
