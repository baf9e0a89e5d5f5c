"""Settings, read from the environment (``CCM_*``) with embedded defaults.

The defaults run the product on one machine with nothing to configure: a SQLite
file under ``var/`` and the demo organisation shipped with the package.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_ORGANISATION = PACKAGE_DIR / "data" / "organisation.yaml"
DEMO_SURVEY = PACKAGE_DIR / "data" / "survey.yaml"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("CCM_DATA_DIR", "var")))
    database_url: str = ""
    organisation_file: Path = field(
        default_factory=lambda: Path(os.environ.get("CCM_ORGANISATION_FILE", str(DEMO_ORGANISATION)))
    )
    host: str = field(default_factory=lambda: os.environ.get("CCM_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int("CCM_PORT", 8000))
    survey_satisfied_from: int = field(default_factory=lambda: _int("CCM_SURVEY_SATISFIED_FROM", 4))
    # The survey's schedule: sent this long after the customer was informed (08), reminded once,
    # then closed as "no response"; after this many follow-up rounds the department lead is alerted.
    survey_delay_hours: float = field(default_factory=lambda: _float("CCM_SURVEY_DELAY_HOURS", 24))
    survey_reminder_hours: float = field(default_factory=lambda: _float("CCM_SURVEY_REMINDER_HOURS", 48))
    survey_expiry_hours: float = field(default_factory=lambda: _float("CCM_SURVEY_EXPIRY_HOURS", 168))
    survey_max_rounds: int = field(default_factory=lambda: _int("CCM_SURVEY_MAX_ROUNDS", 2))
    survey_nps: bool = field(default_factory=lambda: _flag("CCM_SURVEY_NPS"))
    survey_file: Path = field(
        default_factory=lambda: Path(os.environ.get("CCM_SURVEY_FILE", str(DEMO_SURVEY)))
    )
    # Where customers reach the product's own pages (the survey link); and the key that signs them.
    public_url: str = field(default_factory=lambda: os.environ.get("CCM_PUBLIC_URL", ""))
    secret_key: str = field(default_factory=lambda: os.environ.get("CCM_SECRET_KEY", ""))
    report_language: str = field(default_factory=lambda: os.environ.get("CCM_REPORT_LANGUAGE", "tr"))
    sla_soon_hours: int = field(default_factory=lambda: _int("CCM_SLA_SOON_HOURS", 4))
    max_text_length: int = field(default_factory=lambda: _int("CCM_MAX_TEXT_LENGTH", 5000))
    log_level: str = field(default_factory=lambda: os.environ.get("CCM_LOG_LEVEL", "INFO"))
    timezone: str = field(default_factory=lambda: os.environ.get("CCM_TIMEZONE", "Europe/Istanbul"))

    def __post_init__(self) -> None:
        if not self.database_url:
            url = os.environ.get("CCM_DATABASE_URL") or f"sqlite:///{(self.data_dir / 'ccm.db').as_posix()}"
            object.__setattr__(self, "database_url", url)
        if not self.public_url:
            object.__setattr__(self, "public_url", f"http://{self.host}:{self.port}")
        if not self.secret_key:
            object.__setattr__(self, "secret_key", _local_secret(self.data_dir))


def _local_secret(data_dir: Path) -> str:
    """A key kept in the data directory, made on first use: enough for one machine.

    Several replicas must share one key: set ``CCM_SECRET_KEY`` for them.
    """
    path = data_dir / "secret.key"
    if not path.exists():
        # Written aside, then linked into place: processes starting together all read one key.
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".secret.key.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


def load_settings() -> Settings:
    return Settings()
