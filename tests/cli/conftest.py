"""What the command-line tests share: ``ccm`` pointed at the test database, in process or as a program."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ccm.cli import app
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import services
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION

CCM = Path(sys.executable).parent / "ccm"
CONTACT = services.CustomerDetails(name="Ali Veli", email="ali.veli@example.org", phone="+90 532 000 00 00")

Invoke = Callable[..., Result]
RunProgram = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def contact_traces() -> tuple[str, ...]:
    """How the recorded customer's contact details may show up in output, as given or normalised."""
    return ("Ali Veli", "ali.veli@example.org", "532 000 00 00", "5320000000")


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """Settings that keep ``ccm`` inside this test's directory, whatever the outer environment says."""
    return {
        "CCM_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ccm.db'}",
        "CCM_DATA_DIR": str(tmp_path / "var"),
        "CCM_ORGANISATION_FILE": str(DEMO_ORGANISATION),
    }


@pytest.fixture
def cli_env(base_env: dict[str, str], database_url: str) -> dict[str, str]:
    """The settings that point ``ccm`` at this test's database (SQLite or PostgreSQL)."""
    return {**base_env, "CCM_DATABASE_URL": database_url}


def _invoker(env: dict[str, str]) -> Invoke:
    def invoke(*args: str, env_overrides: dict[str, str] | None = None) -> Result:
        result = CliRunner().invoke(app, list(args), env={**env, **(env_overrides or {})})
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        return result

    return invoke


def _program(env: dict[str, str], cwd: Path) -> RunProgram:
    def run(*args: str, env_overrides: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CCM), *args],
            env={**os.environ, **env, **(env_overrides or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def invoke(cli_env: dict[str, str]) -> Invoke:
    """Run ``ccm`` in process on the test database; an escaped exception (a traceback) fails the test."""
    return _invoker(cli_env)


@pytest.fixture
def invoke_alone(base_env: dict[str, str]) -> Invoke:
    """Like ``invoke`` for tests that bring their own database URL."""
    return _invoker(base_env)


@pytest.fixture
def run_ccm(cli_env: dict[str, str], tmp_path: Path) -> RunProgram:
    """Run the installed ``ccm`` program on the test database, as an operator would."""
    return _program(cli_env, tmp_path)


@pytest.fixture
def run_ccm_alone(base_env: dict[str, str], tmp_path: Path) -> RunProgram:
    """Like ``run_ccm`` for tests that bring their own database URL."""
    return _program(base_env, tmp_path)


@pytest.fixture
def recorded(uow: UnitOfWork, clock) -> dict[str, str]:
    """Three cases: one long overdue with contact details, two recent of which one is in review."""
    actor = Actor.system("test")
    clock.now = dt.datetime(2020, 3, 2, 9, 0, tzinfo=dt.UTC)
    late = services.record_complaint(
        uow,
        actor,
        channel="phone",
        language="tr",
        category="delivery",
        description="Kargom hasarlı geldi",
        customer=CONTACT,
    ).case
    clock.now = dt.datetime(2100, 3, 1, 9, 0, tzinfo=dt.UTC)
    billing = services.record_complaint(
        uow, actor, channel="email", language="en", category="billing", description="Charged twice"
    ).case
    clock.advance(minutes=5)
    refund = services.record_complaint(
        uow, actor, channel="web", language="de", category="refund", description="Keine Erstattung"
    ).case
    services.start_review(uow, actor, refund.reference)
    return {"late": late.reference, "billing": billing.reference, "refund": refund.reference}
