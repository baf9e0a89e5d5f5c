"""The settings: read from ``CCM_*`` once, nothing written when they are built, clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccm.cli import app
from ccm.settings import load_settings
from ccm_core.bootstrap import bootstrap
from ccm_core.settings import CoreSettings
from channels.settings import RASA_URL, ChannelSettings


def test_building_the_settings_reads_the_environment_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("CCM_DATA_DIR", "CCM_DATABASE_URL", "CCM_PUBLIC_URL", "CCM_SECRET_KEY", "CCM_RASA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CCM_PORT", "8123")
    monkeypatch.setenv("CCM_SURVEY_DELAY_HOURS", "")  # empty counts as unset
    monkeypatch.setenv("CCM_SURVEY_NPS", "yes")

    settings = load_settings()

    assert list(tmp_path.iterdir()) == []
    assert settings.core.port == 8123 and settings.core.survey_delay_hours == 24 and settings.core.survey_nps
    assert settings.core.database_url == "sqlite:///var/ccm.db"
    assert settings.core.public_url == "http://127.0.0.1:8123"
    assert settings.core.secret_key == ""
    assert settings.assistant.rasa_url == RASA_URL
    assert settings.training.assistant is settings.assistant  # training deploys to the Rasa the chat uses


def test_the_core_makes_one_signing_key_when_none_is_set_and_keeps_it(tmp_path: Path) -> None:
    settings = CoreSettings(data_dir=tmp_path, secret_key="")
    first, second = bootstrap(settings), bootstrap(settings)
    try:
        key = tmp_path / "secret.key"
        assert first.settings.secret_key == second.settings.secret_key == key.read_text().strip()
        assert len(first.settings.secret_key) >= 40
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert [path.name for path in tmp_path.iterdir()] == ["secret.key"]  # no draft left behind
    finally:
        first.engine.dispose()
        second.engine.dispose()
    given = bootstrap(CoreSettings(data_dir=tmp_path / "other", secret_key="shared-by-replicas"))
    given.engine.dispose()
    assert given.settings.secret_key == "shared-by-replicas"
    assert not (tmp_path / "other" / "secret.key").exists()


def test_secrets_never_show_in_a_settings_repr() -> None:
    channels = ChannelSettings(slack_bot_token="xoxb-secret-1", smtp_password="secret-2")
    core = CoreSettings(database_url="postgresql://ccm:secret-3@db/ccm", secret_key="secret-4")
    shown = repr(channels) + str(channels) + repr(core)
    assert "secret-" not in shown
    assert "smtp_port=587" in shown  # the rest is there to read


def test_a_setting_that_cannot_be_read_is_named_with_the_reason(tmp_path: Path) -> None:
    env = {"CCM_DATA_DIR": str(tmp_path), "CCM_PORT": "eighty"}
    result = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 1
    assert "CCM_PORT: Input should be a valid integer" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
